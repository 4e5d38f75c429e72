//! `GET /api/auth/mfa/status`.

use std::fmt;

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use slugbase_domain::{MfaPolicy, MfaState, User};

use crate::caller::Caller;
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
}

/// `GET /api/auth/mfa/status`, answered from the caller alone: authentication already read
/// the account and its unused backup codes, so the status costs no storage round trip.
#[derive(Clone)]
pub struct MfaStatus {
    mfa_policy: MfaPolicy,
}

impl fmt::Debug for MfaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaStatus").field("mfa_policy", &self.mfa_policy).finish()
    }
}

impl MfaStatus {
    /// The use case: enrollment required by `mfa_policy`.
    #[must_use]
    pub const fn new(mfa_policy: MfaPolicy) -> Self {
        Self { mfa_policy }
    }
}

/// What the web adapter calls for `GET /api/auth/mfa/status` (and the policy flag of every
/// user it shows); [`MfaStatus`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MfaStatusUseCase: Send + Sync {
    /// See [`MfaStatus::enrollment_required`].
    fn enrollment_required(&self, user: &User) -> bool;

    /// See [`MfaStatus::execute`].
    ///
    /// # Errors
    /// Storage failures.
    async fn execute(&self, caller: &Caller) -> Result<MfaStatusView, Unexpected>;
}

#[async_trait]
impl MfaStatusUseCase for MfaStatus {
    /// Whether a configured policy (`require_mfa_for_admins`) requires this user to enroll
    /// and they have not: the web adapter tells the client so in `/api/auth/me`.
    fn enrollment_required(&self, user: &User) -> bool {
        self.mfa_policy.requires_mfa(user) && !user.mfa.is_enabled()
    }

    /// The caller's MFA status, from the caller alone (no storage call).
    ///
    /// # Errors
    /// None: the `Result` is the shape of [`MfaStatusUseCase::execute`], kept so the web
    /// adapter's handler and error mapping stay as they are.
    async fn execute(&self, caller: &Caller) -> Result<MfaStatusView, Unexpected> {
        Ok(match &caller.user.mfa {
            MfaState::Enabled { enrolled_at, .. } => MfaStatusView {
                enabled: true,
                enrolled_at: Some(*enrolled_at),
                backup_codes_remaining: caller.backup_codes_remaining,
            },
            MfaState::Disabled | MfaState::Pending { .. } => {
                MfaStatusView { enabled: false, enrolled_at: None, backup_codes_remaining: 0 }
            }
        })
    }
}
