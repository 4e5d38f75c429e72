//! Passkey credentials in storage, and the WebAuthn ceremonies in progress.
//!
//! The credential itself is opaque here: the WebAuthn adapter serialises it
//! ([`PasskeyData`]) and storage keeps the text; the application reads only the fields it
//! shows or compares (name, times, sign count, backup flags).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{PasskeyId, UserId};

use super::hashing::SecretDigest;
use super::mfa::{ChangeEffects, MfaProof};
use super::passkey_use::{PasskeyData, PasskeyUse};
use super::store_error::{Listed, StoreResult};

/// One registered passkey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// Public id (what the API names it by).
    pub id: PasskeyId,
    /// Owner.
    pub user_id: UserId,
    /// The authenticator's credential id (raw bytes): unique among every user's passkeys.
    pub credential_id: Vec<u8>,
    /// The credential, as the WebAuthn adapter serialised it.
    pub passkey: PasskeyData,
    /// The name its owner gave it (a valid `PasskeyName`).
    pub name: String,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Last used to sign in or to prove possession.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The authenticator's signature counter as last seen (0: it keeps none).
    pub sign_count: u32,
    /// The credential may be backed up (synced) by its provider.
    pub backup_eligible: bool,
    /// The credential was backed up when last seen.
    pub backup_state: bool,
}

/// What [`PasskeyRepository::record_passkey_use`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasskeyUseOutcome {
    /// The counter moved forward (or both it and the stored one are 0): the use is stored.
    Recorded,
    /// The counter is not above the stored one (a cloned authenticator, or a replay):
    /// nothing was written.
    CounterRegressed,
    /// No such credential: nothing was written.
    NotFound,
}

/// What [`PasskeyRepository::remove_passkey`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasskeyRemoval {
    /// The proof was spent, the passkey removed and the effects committed, together.
    Removed,
    /// The proof could not be spent: nothing changed.
    ProofRefused,
    /// The user has no passkey with that id (any more): nothing changed, the proof is not
    /// spent.
    NotFound,
    /// It is the account's last second factor (MFA on, no TOTP secret, no other passkey):
    /// nothing changed, the proof is not spent. Turning MFA off is the disable route's job.
    LastFactor,
}

/// MFA turned on together with a passkey registration, when it was off (see
/// [`PasskeyRepository::create_first_passkey`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaTurnOn {
    /// The backup codes issued with it (stored exactly, replacing any).
    pub backup_codes: Vec<SecretDigest>,
    /// When MFA was turned on (`enrolled_at`, the codes' creation).
    pub at: DateTime<Utc>,
    /// The effects of turning MFA on (its audit event, its notice), applied after the
    /// registration's own.
    pub effects: ChangeEffects,
}

/// Which WebAuthn ceremony a stored state belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CeremonyKind {
    /// Registering a new passkey.
    Registration,
    /// Proving possession of a registered one.
    Authentication,
    /// Signing in with a discoverable passkey alone: no account is known until the answer
    /// names one.
    SignIn,
}

impl CeremonyKind {
    /// Stable name, as stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
            Self::SignIn => "sign_in",
        }
    }
}

/// The server's half of a ceremony in progress (the challenge among it), as the WebAuthn
/// adapter serialised it. Never shown, never logged: `Debug` prints its length only.
#[derive(Clone, PartialEq, Eq)]
pub struct CeremonyState(String);

impl CeremonyState {
    /// Wraps the adapter's output or a stored value.
    #[must_use]
    pub fn new(json: impl Into<String>) -> Self {
        Self(json.into())
    }

    /// The stored form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CeremonyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CeremonyState({} bytes)", self.0.len())
    }
}

/// A ceremony in progress, stored under the digest of the id only its client holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeremonyRecord {
    /// SHA-256 of the ceremony id.
    pub id_hash: SecretDigest,
    /// Whose ceremony it is: only they can take it. `None` for a [`CeremonyKind::SignIn`],
    /// which anyone holding its id may answer (the answer names the account).
    pub user_id: Option<UserId>,
    /// Registration or authentication.
    pub kind: CeremonyKind,
    /// The server's state.
    pub state: CeremonyState,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Dead after this.
    pub expires_at: DateTime<Utc>,
}

/// Passkeys and WebAuthn ceremonies in storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasskeyRepository: Send + Sync {
    /// Stores a new passkey and applies `effects` (its audit event, its notice), in one
    /// transaction.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`](super::StoreError::Conflict)`("passkeys.credential_id")`
    /// and store nothing (no effect either) when any user's passkey has the same credential
    /// id.
    async fn create_passkey(
        &self,
        record: PasskeyRecord,
        effects: &ChangeEffects,
    ) -> StoreResult<()>;

    /// Stores a new passkey as [`Self::create_passkey`] does and, in the same transaction,
    /// turns MFA on if it is off: a compare-and-set on the MFA flag sets it, records
    /// `turn_on.at` as the enrollment time, stores exactly `turn_on.backup_codes` and applies
    /// `turn_on.effects`. A TOTP enrollment in progress stays pending. Returns whether MFA
    /// was turned on; `false` when it was on already (a concurrent registration or TOTP
    /// confirm won): then only the passkey and `effects` are stored, and no code.
    ///
    /// # Errors
    /// As [`Self::create_passkey`]: a taken credential id stores nothing at all. MUST be
    /// all-or-nothing. Of concurrent calls for one user with MFA off exactly one returns
    /// `Ok(true)`.
    async fn create_first_passkey(
        &self,
        record: PasskeyRecord,
        effects: &ChangeEffects,
        turn_on: &MfaTurnOn,
    ) -> StoreResult<bool>;

    /// The user's passkeys, oldest first; a stored passkey that does not decode is logged and
    /// listed as [`Listed::Damaged`] in its place.
    ///
    /// # Errors
    /// Storage failures only.
    async fn passkeys_of(&self, user: UserId) -> StoreResult<Vec<Listed<PasskeyRecord>>>;

    /// The passkey with this credential id, whoever's it is.
    ///
    /// # Errors
    /// Storage failures, and a stored passkey that does not decode.
    async fn find_passkey(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRecord>>;

    /// Renames the user's passkey `id`; whether it exists (another user's is not found).
    ///
    /// # Errors
    /// Storage failures only.
    async fn rename_passkey(&self, user: UserId, id: PasskeyId, name: &str) -> StoreResult<bool>;

    /// Removes the user's passkey `id`, in one transaction with spending `proof` (as
    /// [`MfaRepository::spend_proof`](super::MfaRepository::spend_proof)) and applying
    /// `effects`. The passkey is checked first: when it is not the user's (or gone) the
    /// proof is not spent; then that it is not the last second factor (MFA on without a TOTP
    /// secret and no other passkey: [`PasskeyRemoval::LastFactor`], nothing spent), in the
    /// same transaction, so two concurrent removals of an account's last two passkeys never
    /// both succeed.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing: on [`PasskeyRemoval::Removed`] the
    /// spend, the removal and every one of `effects` are committed; otherwise none of them.
    async fn remove_passkey(
        &self,
        user: UserId,
        id: PasskeyId,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<PasskeyRemoval>;

    /// Records a use of a passkey with a compare-and-set on its counter: stores the new
    /// credential, counter, backup state and `last_used_at` only if the new counter is above
    /// the stored one, or both are 0 (an authenticator that keeps no counter).
    ///
    /// # Errors
    /// Storage failures only. MUST write nothing and return
    /// [`PasskeyUseOutcome::CounterRegressed`] for a counter at or below a stored non-zero
    /// one (or a 0 after a non-zero); of concurrent uses with one counter exactly one is
    /// recorded.
    async fn record_passkey_use(&self, used: &PasskeyUse) -> StoreResult<PasskeyUseOutcome>;

    /// Stores a ceremony in progress.
    ///
    /// # Errors
    /// Storage failures only.
    async fn put_ceremony(&self, ceremony: CeremonyRecord) -> StoreResult<()>;

    /// Removes and returns the state of `user`'s `kind` ceremony stored under `id_hash`, if
    /// it has not expired at `now` (`user` `None`: a ceremony stored for no user). Another
    /// user's ceremony, one stored for a user when `None` is asked for (or the other way
    /// round), or another kind, is neither returned nor removed.
    ///
    /// # Errors
    /// Storage failures only. MUST be single use: a second take, a take after expiry and
    /// all but one of concurrent takes get `None`.
    async fn take_ceremony(
        &self,
        id_hash: &SecretDigest,
        user: Option<UserId>,
        kind: CeremonyKind,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<CeremonyState>>;

    /// Deletes ceremonies that expired at or before `now`; returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_expired_ceremonies(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
