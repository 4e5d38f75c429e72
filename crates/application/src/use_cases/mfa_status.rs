//! `GET /api/auth/mfa/status`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use slugbase_domain::{MfaStanding, MfaState, User};

use crate::caller::Caller;
use crate::collaborators::mfa_policy::MfaPolicyCheck;
use crate::error::Unexpected;
use crate::ports::PasskeyRepository;

/// `GET /api/auth/mfa/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaStatusView {
    /// MFA is on (with TOTP, passkeys, or both).
    pub enabled: bool,
    /// A confirmed TOTP secret is one of the factors.
    pub totp: bool,
    /// Passkeys registered (each one a factor).
    pub passkeys: u32,
    /// When it was turned on.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// Unused backup codes.
    pub backup_codes_remaining: u32,
    /// Where the caller stands with the MFA policy (grace period, days left).
    pub policy: MfaStanding,
}

/// `GET /api/auth/mfa/status`, answered from the caller (authentication already read the
/// account, its unused backup codes and its standing with the MFA policy) and, while MFA is
/// on, one read of the caller's passkeys, so the status names every factor.
#[derive(Clone)]
pub struct MfaStatus {
    policy: MfaPolicyCheck,
    passkeys: Arc<dyn PasskeyRepository>,
}

impl fmt::Debug for MfaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaStatus").field("policy", &self.policy).finish()
    }
}

impl MfaStatus {
    /// The use case: standings under `policy`, passkeys counted in `passkeys`.
    #[must_use]
    pub fn new(policy: MfaPolicyCheck, passkeys: Arc<dyn PasskeyRepository>) -> Self {
        Self { policy, passkeys }
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

    /// The caller's MFA status, its factors and standing with the policy.
    ///
    /// # Errors
    /// When the passkeys cannot be read.
    async fn execute(&self, caller: &Caller) -> Result<MfaStatusView, Unexpected> {
        let policy = caller.mfa_standing;
        Ok(match &caller.user.mfa {
            MfaState::Enabled { enrolled_at, secret, .. } => {
                // A damaged row is a registered passkey still: counted.
                let held = self.passkeys.passkeys_of(caller.user.id).await?.len();
                MfaStatusView {
                    enabled: true,
                    totp: secret.is_some(),
                    passkeys: u32::try_from(held).unwrap_or(u32::MAX),
                    enrolled_at: Some(*enrolled_at),
                    backup_codes_remaining: caller.backup_codes_remaining,
                    policy,
                }
            }
            // MFA off leaves no passkey (turning it off removes them all).
            MfaState::Disabled | MfaState::Pending { .. } => MfaStatusView {
                enabled: false,
                totp: false,
                passkeys: 0,
                enrolled_at: None,
                backup_codes_remaining: 0,
                policy,
            },
        })
    }
}
