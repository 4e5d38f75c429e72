//! MFA state changes: enrollment, spending a second factor, disable, backup codes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{EncryptedSecret, ProofKind, TotpStep, UserId};

use super::hashing::SecretDigest;
use super::store_error::StoreResult;

/// Proof of possession, as storage spends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MfaProof {
    /// A TOTP code matched this step; it MUST be newer than the last accepted one.
    TotpStep(TotpStep),
    /// A backup code with this keyed digest; it MUST be stored for the user and unused.
    BackupCode(SecretDigest),
}

impl MfaProof {
    /// The kind of proof (for the audit log).
    #[must_use]
    pub const fn kind(&self) -> ProofKind {
        match self {
            Self::TotpStep(_) => ProofKind::Totp,
            Self::BackupCode(_) => ProofKind::BackupCode,
        }
    }
}

/// What cancelling an enrollment found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// A pending secret was dropped, or there was none (cancel is idempotent).
    Cancelled,
    /// MFA is enabled: nothing was changed.
    AlreadyEnabled,
}

/// MFA state changes. The state itself is read with the user
/// ([`User::mfa`](slugbase_domain::User::mfa)).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MfaRepository: Send + Sync {
    /// Stores a new pending secret, replacing any earlier pending one (whose codes then no
    /// longer confirm anything).
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` and change nothing if MFA is enabled.
    async fn begin_enrollment(&self, user: UserId, secret: EncryptedSecret) -> StoreResult<bool>;

    /// Drops a pending secret.
    ///
    /// # Errors
    /// Storage failures only.
    async fn cancel_enrollment(&self, user: UserId) -> StoreResult<CancelOutcome>;

    /// Turns MFA on, atomically, only if MFA is not enabled and the pending secret is still
    /// `pending`: sets `enrolled_at`, records `step` as the last accepted TOTP step and
    /// stores exactly `backup_codes` (replacing any). Concurrent confirms: exactly one wins.
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` and change nothing otherwise.
    async fn confirm_enrollment(
        &self,
        user: UserId,
        pending: &EncryptedSecret,
        step: TotpStep,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Spends a proof, atomically: advances the last accepted TOTP step, or marks the backup
    /// code used. Of concurrent spends of one proof exactly one returns `true`.
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` and change nothing if MFA is not
    /// enabled, the step is not newer than the last accepted one, or the backup code is not
    /// the user's or already used.
    async fn spend_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Spends a proof (as [`Self::spend_proof`]) and, in the same transaction, turns MFA off:
    /// flag off, secret erased, every backup code deleted, replay state reset.
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` and change nothing if the proof cannot
    /// be spent.
    async fn disable_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Spends a proof and, in the same transaction, replaces every backup code with
    /// `backup_codes`.
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` and change nothing if the proof cannot
    /// be spent.
    async fn regenerate_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Administrative reset: MFA off, secrets and codes erased, whatever the state, in one
    /// transaction. Returns whether MFA was enabled or pending.
    ///
    /// # Errors
    /// Storage failures only.
    async fn reset(&self, user: UserId) -> StoreResult<bool>;

    /// Unused backup codes left.
    ///
    /// # Errors
    /// Storage failures only.
    async fn backup_codes_remaining(&self, user: UserId) -> StoreResult<u32>;
}
