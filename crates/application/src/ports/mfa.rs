//! MFA state changes: enrollment, spending a second factor, disable, backup codes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{EncryptedSecret, ProofKind, Release, TotpStep, UserId};

use super::audit::AuditEvent;
use super::hashing::SecretDigest;
use super::outbox::Notice;
use super::passkey_use::PasskeyUse;
use super::sessions::SessionRecord;
use super::store_error::StoreResult;

/// Proof of possession, as storage spends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MfaProof {
    /// A TOTP code matched this step; it MUST be newer than the last accepted one.
    TotpStep(TotpStep),
    /// A backup code with this keyed digest; it MUST be stored for the user and unused.
    BackupCode(SecretDigest),
    /// A typed backup code that is either one of ours (its keyed digest) or one imported
    /// from SlugBase (its unsalted SHA-256): exactly as [`Self::BackupCode`], one
    /// conditional spend of the unused row of the user that holds either digest.
    AnyBackupCode {
        /// [`BackupCodeHasher::digest`](super::BackupCodeHasher::digest).
        keyed: SecretDigest,
        /// [`BackupCodeHasher::imported_digest`](super::BackupCodeHasher::imported_digest).
        imported: SecretDigest,
    },
    /// A verified assertion with one of the user's passkeys; spending it is the
    /// compare-and-set of [`PasskeyRepository::record_passkey_use`](super::PasskeyRepository::record_passkey_use):
    /// the passkey MUST be the user's and its counter MUST move forward (or stay 0 on both
    /// sides: an authenticator that keeps none).
    Passkey(PasskeyUse),
}

impl MfaProof {
    /// The digests a backup-code proof may match, or `None` for another kind of proof.
    #[must_use]
    pub fn backup_digests(&self) -> Option<Vec<&SecretDigest>> {
        match self {
            Self::BackupCode(digest) => Some(vec![digest]),
            Self::AnyBackupCode { keyed, imported } => Some(vec![keyed, imported]),
            Self::TotpStep(_) | Self::Passkey(_) => None,
        }
    }

    /// The kind of proof (for the audit log).
    #[must_use]
    pub const fn kind(&self) -> ProofKind {
        match self {
            Self::TotpStep(_) => ProofKind::Totp,
            Self::BackupCode(_) | Self::AnyBackupCode { .. } => ProofKind::BackupCode,
            Self::Passkey(_) => ProofKind::Passkey,
        }
    }
}

/// The effects committed with a change (an MFA change, a password change, a sign-in with a
/// second factor, an administrator reset). The storage applies all of it in the change's own
/// transaction (under the same lock), so a committed change always comes with its audit
/// event, the end of the other sessions and the settled attempt counters — and a refused or
/// failed one with none of them (ASVS 5.0 7.4.3: no window with the factor changed and the
/// other sessions alive, or unaudited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeEffects {
    /// The success event, stored as [`AuditLog::record`](super::AuditLog::record) stores it.
    pub audit: AuditEvent,
    /// Further events of the same change, stored after `audit` (a sign-in with a second
    /// factor records its verify and its login).
    pub also_audit: Vec<AuditEvent>,
    /// A session the change starts, stored as
    /// [`SessionRepository::create`](super::SessionRepository::create) stores it.
    pub start_session: Option<SessionRecord>,
    /// The user's sessions to end, if any.
    pub end_sessions: Option<EndSessions>,
    /// Reserved attempts given back, as
    /// [`AttemptRepository::release`](super::AttemptRepository::release) gives them back.
    pub releases: Vec<AttemptRelease>,
    /// Attempt counters forgotten, as [`AttemptRepository::clear`](super::AttemptRepository::clear)
    /// forgets them (administrator reset).
    pub cleared_attempts: Vec<String>,
    /// The e-mail notice reporting the change, stored in the outbox as
    /// [`OutboxRepository::enqueue`](super::OutboxRepository::enqueue) stores it: written
    /// only if the change commits.
    pub notice: Option<Notice>,
}

impl ChangeEffects {
    /// A change that records `audit` and nothing else.
    #[must_use]
    pub const fn audited(audit: AuditEvent) -> Self {
        Self {
            audit,
            also_audit: Vec::new(),
            start_session: None,
            end_sessions: None,
            releases: Vec::new(),
            cleared_attempts: Vec::new(),
            notice: None,
        }
    }

    /// The same effects, with `notice` reporting the change.
    #[must_use]
    pub fn with_notice(mut self, notice: Notice) -> Self {
        self.notice = Some(notice);
        self
    }
}

/// What [`MfaRepository::sign_in_with_proof`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofSignIn {
    /// The pending state ended, the proof was spent and the effects (the new session among
    /// them) were committed together.
    SignedIn,
    /// The proof could not be spent (wrong, used or replayed): nothing changed.
    ProofRefused,
    /// The pending state was gone (a concurrent verify won, or it was dropped): nothing
    /// changed, the proof is not spent.
    PendingGone,
}

/// Every session of the changed user ends but `keep` (the calling one, if it is a session),
/// as [`SessionRepository::delete_for_user`](super::SessionRepository::delete_for_user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndSessions {
    /// The session that stays.
    pub keep: Option<SecretDigest>,
}

/// One reserved attempt given back with the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRelease {
    /// The counter's key.
    pub key: String,
    /// The window the attempt was reserved in.
    pub reserved_in: DateTime<Utc>,
    /// How it is given back.
    pub outcome: Release,
}

/// What cancelling an enrollment found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// A pending secret was dropped, or there was none (cancel is idempotent).
    Cancelled,
    /// A TOTP secret is confirmed: nothing was changed.
    AlreadyEnabled,
}

/// MFA state changes. The state itself is read with the user
/// ([`User::mfa`](slugbase_domain::User::mfa)).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MfaRepository: Send + Sync {
    /// Stores a new pending secret, replacing any earlier pending one (whose codes then no
    /// longer confirm anything), apart from the MFA state: an account whose MFA is on with
    /// passkeys alone stays on.
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` and change nothing if a TOTP secret is
    /// confirmed.
    async fn begin_enrollment(&self, user: UserId, secret: EncryptedSecret) -> StoreResult<bool>;

    /// Drops a pending secret ([`CancelOutcome::AlreadyEnabled`] when a TOTP secret is
    /// confirmed; MFA on with passkeys alone is left on).
    ///
    /// # Errors
    /// Storage failures only.
    async fn cancel_enrollment(&self, user: UserId) -> StoreResult<CancelOutcome>;

    /// Confirms the pending TOTP secret, atomically, only if no TOTP secret is confirmed and
    /// the pending secret is still `pending`: it becomes the confirmed secret, `step` the
    /// last accepted TOTP step, exactly `backup_codes` are stored (replacing any) and
    /// `effects` applied, all in one transaction. MFA off: it turns on (`enrolled_at` set);
    /// on with passkeys alone: it stays on (`enrolled_at` kept). Concurrent confirms:
    /// exactly one wins.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing: on `Ok(true)` the change and every one
    /// of `effects` are committed; on `Ok(false)` or an error, none of them. MUST return
    /// `Ok(false)` when a TOTP secret is confirmed or `pending` is not the pending secret.
    async fn confirm_enrollment(
        &self,
        user: UserId,
        pending: &EncryptedSecret,
        step: TotpStep,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool>;

    /// Spends a proof, atomically: advances the last accepted TOTP step, or marks the backup
    /// code used. Of concurrent spends of one proof exactly one returns `true`.
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` and change nothing if MFA is not
    /// enabled, a TOTP step is spent without a confirmed TOTP secret (MFA on with passkeys
    /// alone) or is not newer than the last accepted one, or the backup code is not the
    /// user's or already used.
    async fn spend_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// The second step of a login, in one transaction: ends the pending-MFA state
    /// `pending` (which MUST still be stored as a pending state of `user`), spends `proof`
    /// (as [`Self::spend_proof`]) and applies `effects` (the new session, the audit events,
    /// the attempt counters given back). Of concurrent sign-ins with one pending state at
    /// most one returns [`ProofSignIn::SignedIn`].
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing: on [`ProofSignIn::SignedIn`] the end
    /// of the pending state, the spend and every one of `effects` are committed; otherwise
    /// none of them. The pending state is checked first: when it is gone the proof is not
    /// spent.
    async fn sign_in_with_proof(
        &self,
        user: UserId,
        pending: &SecretDigest,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<ProofSignIn>;

    /// Spends a proof (as [`Self::spend_proof`]) and applies `effects` in the same
    /// transaction: a sign-in with a passkey alone (the new session, its events, the attempt
    /// given back), where no pending state is ended.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing: on `Ok(true)` the spend and every one
    /// of `effects` are committed; on `Ok(false)` (the proof cannot be spent) or an error,
    /// none of them.
    async fn spend_proof_with(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool>;

    /// Spends a proof (as [`Self::spend_proof`]) and, in the same transaction, turns MFA off
    /// (flag off, secret and pending secret erased, every backup code and every passkey
    /// deleted, replay state reset) and applies `effects`. Passkeys are second factors beside TOTP here: MFA off
    /// leaves none of them.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing: on `Ok(true)` the spend, the change and
    /// every one of `effects` are committed; on `Ok(false)` or an error, none of them. MUST
    /// return `Ok(false)` if the proof cannot be spent.
    async fn disable_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool>;

    /// Spends a proof and, in the same transaction, replaces every backup code with
    /// `backup_codes` and applies `effects`.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing, as [`Self::disable_with_proof`]. MUST
    /// return `Ok(false)` if the proof cannot be spent.
    async fn regenerate_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool>;

    /// Administrative reset: MFA off, secrets, codes and passkeys erased, whatever the state, and
    /// `effects` applied, in one transaction. Returns whether MFA was enabled or pending.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing: on `Ok` the reset and every one of
    /// `effects` are committed (also when MFA was already off); on an error, none of them.
    async fn reset(&self, user: UserId, effects: &ChangeEffects) -> StoreResult<bool>;

    /// Unused backup codes left.
    ///
    /// # Errors
    /// Storage failures only.
    async fn backup_codes_remaining(&self, user: UserId) -> StoreResult<u32>;
}
