//! `GET /api/auth/mfa/status`.

use std::fmt;

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use slugbase_domain::{MfaStanding, MfaState, User};

use crate::caller::Caller;
use crate::collaborators::mfa_policy::MfaPolicyCheck;
use crate::error::Unexpected;

/// `GET /api/auth/mfa/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaStatusView {
    /// MFA is on.
    pub enabled: bool,
    /// When it was turned on.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// Unused backup codes.
    pub backup_codes_remaining: u32,
    /// Where the caller stands with the MFA policy (grace period, days left).
    pub policy: MfaStanding,
}

/// `GET /api/auth/mfa/status`, answered from the caller alone: authentication already read
/// the account, its unused backup codes and its standing with the MFA policy, so the status
/// costs no storage round trip.
#[derive(Clone)]
pub struct MfaStatus {
    policy: MfaPolicyCheck,
}

impl fmt::Debug for MfaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaStatus").field("policy", &self.policy).finish()
    }
}

impl MfaStatus {
    /// The use case: standings under `policy`.
    #[must_use]
    pub const fn new(policy: MfaPolicyCheck) -> Self {
        Self { policy }
    }
}

/// What the web adapter calls for `GET /api/auth/mfa/status` (and the policy fields of every
/// user it shows); [`MfaStatus`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MfaStatusUseCase: Send + Sync {
    /// See [`MfaStatus::standing`].
    fn standing(&self, user: &User) -> MfaStanding;

    /// See [`MfaStatus::execute`].
    ///
    /// # Errors
    /// Storage failures.
    async fn execute(&self, caller: &Caller) -> Result<MfaStatusView, Unexpected>;
}

#[async_trait]
impl MfaStatusUseCase for MfaStatus {
    /// Where `user` stands with the MFA policy now (`security.require_mfa`,
    /// `security.grace_days`): what the web adapter shows with every user (`/api/auth/me`,
    /// login, the admin list).
    fn standing(&self, user: &User) -> MfaStanding {
        self.policy.standing(user)
    }

    /// The caller's MFA status and standing with the policy, from the caller alone (no
    /// storage call).
    ///
    /// # Errors
    /// None: the `Result` is the shape of [`MfaStatusUseCase::execute`], kept so the web
    /// adapter's handler and error mapping stay as they are.
    async fn execute(&self, caller: &Caller) -> Result<MfaStatusView, Unexpected> {
        let policy = caller.mfa_standing;
        Ok(match &caller.user.mfa {
            MfaState::Enabled { enrolled_at, .. } => MfaStatusView {
                enabled: true,
                enrolled_at: Some(*enrolled_at),
                backup_codes_remaining: caller.backup_codes_remaining,
                policy,
            },
            MfaState::Disabled | MfaState::Pending { .. } => MfaStatusView {
                enabled: false,
                enrolled_at: None,
                backup_codes_remaining: 0,
                policy,
            },
        })
    }
}
