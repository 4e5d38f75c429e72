//! Ports: what the use cases need from the outside world.
//!
//! Every port is a `Send + Sync` trait; implementations are shared between request
//! threads. Each has a mockall mock (`MockUserRepository`, …) generated in tests and
//! behind the `mocks` feature, so other crates' test suites can drive the use cases.
//!
//! Storage ports state their contract with MUST; the port contract suite (feature
//! `contract`) checks every storage adapter against it. Anything that must be atomic is one
//! method, and the adapter runs it as one transaction or one conditional statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{
    ApiTokenId, AttemptCounter, AttemptPolicy, AuditEventKind, AuditOutcome, BackupCode,
    DisplayName, Email, EncryptedSecret, LoginMethod, Password, PasswordHash, ProofKind, Release,
    Throttle, TotpCode, TotpSecret, TotpStep, User, UserId,
};

/// Why a storage port failed. Never a client's mistake.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out; the request may succeed later (503).
    #[error("storage is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A uniqueness rule was violated (duplicate e-mail, …); names the rule.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Anything else: a bug or corrupt data (500).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Result of a storage port.
pub type StoreResult<T> = Result<T, StoreError>;

/// A lower-case hex SHA-256 (tokens, session ids) or HMAC-SHA-256 (backup codes) digest:
/// what storage holds instead of the secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretDigest(String);

impl SecretDigest {
    /// Wraps a hex digest.
    #[must_use]
    pub fn from_hex(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The hex text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

/// A user to be stored.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Id chosen by the caller.
    pub id: UserId,
    /// Normalised e-mail.
    pub email: Email,
    /// Display name.
    pub name: DisplayName,
    /// Password hash or OIDC-only.
    pub login: LoginMethod,
    /// Linked OIDC provider.
    pub oidc_provider: Option<String>,
    /// Administrator flag.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// User accounts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user with MFA disabled.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] if the e-mail is taken.
    async fn create(&self, user: NewUser) -> StoreResult<User>;

    /// Stores the first administrator, atomically, only while no user exists at all.
    /// Returns `None` (storing nothing) if any user exists — also when two calls race.
    ///
    /// # Errors
    /// Storage failures only.
    async fn create_first_admin(&self, user: NewUser) -> StoreResult<Option<User>>;

    /// The user with this id.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_by_id(&self, id: UserId) -> StoreResult<Option<User>>;

    /// The user with this (normalised) e-mail.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_by_email(&self, email: &Email) -> StoreResult<Option<User>>;

    /// All users, oldest first.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list(&self) -> StoreResult<Vec<User>>;

    /// Number of users.
    ///
    /// # Errors
    /// Storage failures only.
    async fn count(&self) -> StoreResult<u64>;

    /// Deletes a user and, with it, their sessions, API tokens, backup codes and attempt
    /// counters. Returns whether the user existed. Audit events stay.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete(&self, id: UserId) -> StoreResult<bool>;

    /// Replaces the password hash of a local user (or sets one on an OIDC-only user).
    /// Returns whether the user existed.
    ///
    /// # Errors
    /// Storage failures only.
    async fn set_password(&self, id: UserId, hash: PasswordHash) -> StoreResult<bool>;
}

// ---------------------------------------------------------------------------------------
// MFA
// ---------------------------------------------------------------------------------------

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

/// MFA state changes. The state itself is read with the user ([`User::mfa`]).
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

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

/// What a session authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// A signed-in session (`slugbase.sid`).
    Full,
    /// Password accepted, second factor outstanding (`slugbase.mfa_pending`): good only for
    /// `POST /api/auth/mfa/verify`.
    PendingMfa,
}

impl SessionKind {
    /// Stable stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::PendingMfa => "pending_mfa",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "full" => Some(Self::Full),
            "pending_mfa" => Some(Self::PendingMfa),
            _ => None,
        }
    }
}

/// A stored session. The id itself is never stored, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session id.
    pub id_hash: SecretDigest,
    /// Owner.
    pub user_id: UserId,
    /// Full or pending MFA.
    pub kind: SessionKind,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last request seen (idle expiry counts from here).
    pub last_seen_at: DateTime<Utc>,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Failed second-factor attempts (pending sessions).
    pub failed_attempts: u32,
}

/// Server-side sessions.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a session.
    ///
    /// # Errors
    /// Storage failures only.
    async fn create(&self, session: SessionRecord) -> StoreResult<()>;

    /// The session with this id hash (expired ones too: expiry is the caller's rule).
    ///
    /// # Errors
    /// Storage failures only.
    async fn find(&self, id_hash: &SecretDigest) -> StoreResult<Option<SessionRecord>>;

    /// Records activity.
    ///
    /// # Errors
    /// Storage failures only.
    async fn touch(&self, id_hash: &SecretDigest, at: DateTime<Utc>) -> StoreResult<()>;

    /// Deletes a session; returns whether it existed. Of concurrent deletes of one session
    /// exactly one returns `true` (this makes a pending session single-use).
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete(&self, id_hash: &SecretDigest) -> StoreResult<bool>;

    /// Reserves one code attempt on a pending-MFA state before the code is checked: adds
    /// one to its count and returns the new count, but only while the count is below
    /// `max` — one conditional statement, so concurrent calls never take more than `max`
    /// places. `None`: the state is used up or gone; the attempt must not be evaluated.
    ///
    /// # Errors
    /// Storage failures only.
    async fn reserve_attempt(&self, id_hash: &SecretDigest, max: u32) -> StoreResult<Option<u32>>;

    /// Deletes every session of a user except `keep`; returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_for_user<'a>(
        &self,
        user: UserId,
        keep: Option<&'a SecretDigest>,
    ) -> StoreResult<u64>;

    /// Deletes sessions whose absolute expiry has passed; returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

// ---------------------------------------------------------------------------------------
// API tokens
// ---------------------------------------------------------------------------------------

/// A stored personal API token (its SHA-256, never the token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Public id.
    pub id: ApiTokenId,
    /// Owner.
    pub user_id: UserId,
    /// The owner's label.
    pub name: String,
    /// SHA-256 of the token.
    pub token_hash: SecretDigest,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used to authenticate.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Personal API tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ApiTokenRepository: Send + Sync {
    /// Stores a token.
    ///
    /// # Errors
    /// Storage failures only.
    async fn create(&self, token: ApiTokenRecord) -> StoreResult<()>;

    /// The user's tokens that are not revoked, oldest first.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list_for_user(&self, user: UserId) -> StoreResult<Vec<ApiTokenRecord>>;

    /// The token with this hash, if it exists and is not revoked.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_active(&self, token_hash: &SecretDigest) -> StoreResult<Option<ApiTokenRecord>>;

    /// Revokes one of the user's tokens; returns whether an active token was revoked.
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` for another user's token.
    async fn revoke(&self, user: UserId, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<bool>;

    /// Records use.
    ///
    /// # Errors
    /// Storage failures only.
    async fn touch(&self, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<()>;
}

// ---------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------

/// One audit event. Holds no secret, code or password — by construction: there is no
/// field that could.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Whose account (absent for a login with an unknown e-mail).
    pub user_id: Option<UserId>,
    /// Who acted, when not the user (an administrator).
    pub actor_id: Option<UserId>,
    /// What happened.
    pub kind: AuditEventKind,
    /// Success, or the failure reason.
    pub outcome: AuditOutcome,
    /// The kind of second factor presented.
    pub proof: Option<ProofKind>,
    /// Client address.
    pub client_addr: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// A stored audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAuditEvent {
    /// Sequence number (newer events have larger ids).
    pub id: i64,
    /// The event.
    pub event: AuditEvent,
}

/// Which events to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this user's.
    pub user_id: Option<UserId>,
    /// Only this kind.
    pub kind: Option<AuditEventKind>,
    /// Page size.
    pub limit: u32,
    /// Events to skip (newest first).
    pub offset: u64,
}

/// The audit log.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an event.
    ///
    /// # Errors
    /// Storage failures only.
    async fn record(&self, event: AuditEvent) -> StoreResult<()>;

    /// Reads events, newest first.
    ///
    /// # Errors
    /// Storage failures only.
    async fn query(&self, query: AuditQuery) -> StoreResult<Vec<StoredAuditEvent>>;

    /// Deletes events older than `before`; returns how many (retention).
    ///
    /// # Errors
    /// Storage failures only.
    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

// ---------------------------------------------------------------------------------------
// Attempt counters
// ---------------------------------------------------------------------------------------

/// What [`AttemptRepository::reserve`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt may be evaluated; the counter already counts it
    /// ([`AttemptCounter::reserve`]).
    Granted(AttemptCounter),
    /// The limit is reached; nothing was counted. Holds the throttle to report.
    Refused(Throttle),
}

/// Attempt counters, keyed by strings such as `sf:user:<uuid>` (built by
/// [`crate::attempts::AttemptKey`]).
///
/// An attempt is *reserved* before it is evaluated and *released* afterwards if it turned
/// out to be no failure; so the limit holds however many attempts arrive at once, on one
/// instance or several.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AttemptRepository: Send + Sync {
    /// The counter for a key.
    ///
    /// # Errors
    /// Storage failures only.
    async fn get(&self, key: &str) -> StoreResult<Option<AttemptCounter>>;

    /// Reserves one attempt under `policy` at `now` ([`AttemptCounter::reserve`]) with one
    /// atomic, conditional write: either the attempt is counted (`Granted`) or the limit is
    /// reached and nothing changes (`Refused`). Of concurrent calls on a key with `n` places
    /// left, at most `n` are granted, whatever the concurrency.
    ///
    /// # Errors
    /// Storage failures only.
    async fn reserve(
        &self,
        key: &str,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> StoreResult<Reservation>;

    /// Gives back an attempt granted in the window that started at `reserved_in`
    /// ([`AttemptCounter::released`]), atomically. A missing key is left missing.
    ///
    /// # Errors
    /// Storage failures only.
    async fn release(
        &self,
        key: &str,
        reserved_in: DateTime<Utc>,
        outcome: Release,
    ) -> StoreResult<()>;

    /// Forgets a key entirely (administrator unlock).
    ///
    /// # Errors
    /// Storage failures only.
    async fn clear(&self, key: &str) -> StoreResult<()>;
}

// ---------------------------------------------------------------------------------------
// Key rotation
// ---------------------------------------------------------------------------------------

/// One stored TOTP secret, as key rotation sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecretRow {
    /// Owner (also the cipher's associated data).
    pub user_id: UserId,
    /// The sealed secret as stored.
    pub sealed: EncryptedSecret,
    /// `true`: MFA is enabled with it; `false`: an enrollment is pending with it.
    pub enabled: bool,
}

/// Access to every stored TOTP secret for `slugbase keys rotate`. A separate port (not part
/// of [`Storage`]) so backends without it still build; SQLite, PostgreSQL and the in-memory
/// store implement it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SecretRotation: Send + Sync {
    /// Up to `limit` stored secrets — enabled and pending — of users whose id sorts after
    /// `after` in the store's order of ids, in that order (keyset paging: pass the last
    /// row's user as the next `after`). Users without a secret are skipped.
    ///
    /// # Errors
    /// Storage failures only.
    async fn sealed_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecretRow>>;

    /// Replaces the user's sealed secret with `new`, atomically, only if it is still
    /// exactly `old` (compare-and-set: a secret replaced, confirmed, reset or disabled
    /// meanwhile is left alone). Enabled state, enrollment time and replay state are kept.
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` and change nothing when the stored
    /// secret is not `old`.
    async fn replace_sealed_secret(
        &self,
        user: UserId,
        old: &EncryptedSecret,
        new: &EncryptedSecret,
    ) -> StoreResult<bool>;
}

/// Which key sealed a secret, for key rotation.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SealingKeyInfo: Send + Sync {
    /// Id of the key `sealed` names, known or not; `None` when it is not in the sealed
    /// format at all.
    fn sealed_key_id(&self, sealed: &EncryptedSecret) -> Option<String>;

    /// Id of the key new secrets are sealed with.
    fn current_key_id(&self) -> String;
}

/// Whether the storage is reachable (for `/api/health`).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StorageHealth: Send + Sync {
    /// Runs a trivial query.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] while the database cannot be reached.
    async fn ping(&self) -> StoreResult<()>;
}

// ---------------------------------------------------------------------------------------
// Crypto and the environment
// ---------------------------------------------------------------------------------------

/// Password hashing (Argon2id), off the async executor.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password.
    ///
    /// # Errors
    /// Only if hashing itself fails.
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash>;

    /// Checks a password. With `hash` absent (unknown account, OIDC-only user) it MUST still
    /// spend the same time, against a fixed dummy hash, and return `false`.
    ///
    /// # Errors
    /// Only if the stored hash is unreadable.
    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> anyhow::Result<bool>;
}

/// TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, ±1 step of drift).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Totp: Send + Sync {
    /// A new random 160-bit secret.
    fn generate_secret(&self) -> TotpSecret;

    /// `otpauth://totp/<Issuer>:<email>?secret=…&issuer=<Issuer>` — contains the secret.
    ///
    /// # Errors
    /// If the URL cannot be built.
    fn otpauth_url(&self, secret: &TotpSecret, account: &Email) -> anyhow::Result<String>;

    /// The otpauth URL as a PNG QR code, base64.
    ///
    /// # Errors
    /// If the image cannot be rendered.
    fn qr_png_base64(&self, secret: &TotpSecret, account: &Email) -> anyhow::Result<String>;

    /// The time step `code` matches at `at` (within ±1 step), if any. Replay is the caller's
    /// rule: this only checks the code against the secret.
    fn verify(&self, secret: &TotpSecret, code: &TotpCode, at: DateTime<Utc>) -> Option<TotpStep>;
}

/// Why a sealed secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// Sealed under a key id this instance does not have.
    #[error("secret is sealed with unknown key id {0:?}")]
    UnknownKey(String),
    /// Tampered with, sealed for another user, or corrupt.
    #[error("secret cannot be decrypted (wrong key, other user, or corrupt)")]
    Corrupt,
}

/// Authenticated encryption of TOTP secrets at rest (AES-256-GCM, user id as associated
/// data, key id prefix for rotation).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SecretCipher: Send + Sync {
    /// Seals a secret for one user under the current key.
    ///
    /// # Errors
    /// Only if encryption itself fails.
    fn encrypt(&self, user: UserId, secret: &TotpSecret) -> anyhow::Result<EncryptedSecret>;

    /// Opens a secret sealed for this user.
    ///
    /// # Errors
    /// [`CipherError`] for an unknown key id or a ciphertext that fails authentication.
    fn decrypt(&self, user: UserId, sealed: &EncryptedSecret) -> Result<TotpSecret, CipherError>;
}

/// Keyed digest of backup codes (HMAC-SHA-256 under a server-side key), so a stolen
/// database does not yield codes by brute force over 64 bits.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait BackupCodeHasher: Send + Sync {
    /// The digest stored and looked up for a code.
    fn digest(&self, code: &BackupCode) -> SecretDigest;
}

/// SHA-256 of high-entropy bearer secrets (session ids, API tokens).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenDigest: Send + Sync {
    /// The digest stored and looked up for a token.
    fn digest(&self, token: &str) -> SecretDigest;
}

/// The time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// Cryptographically secure randomness.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Random: Send + Sync {
    /// 32 random bytes (session ids, API tokens).
    fn bytes_32(&self) -> [u8; 32];
    /// 8 random bytes (one backup code).
    fn bytes_8(&self) -> [u8; 8];
}

/// Every storage port at once: what a storage backend (in-memory, SQLite, PostgreSQL, or a
/// team's own) implements. Blanket-implemented; the port contract suite is generic over it.
pub trait Storage:
    UserRepository
    + MfaRepository
    + SessionRepository
    + ApiTokenRepository
    + AuditLog
    + AttemptRepository
    + StorageHealth
    + 'static
{
}

impl<T> Storage for T where
    T: UserRepository
        + MfaRepository
        + SessionRepository
        + ApiTokenRepository
        + AuditLog
        + AttemptRepository
        + StorageHealth
        + 'static
{
}
