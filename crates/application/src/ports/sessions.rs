//! Server-side sessions (signed-in and pending-MFA).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::UserId;

use super::caller::CallerRecord;
use super::hashing::SecretDigest;
use super::store_error::{Listed, StoreResult};

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
    /// The client address that started it.
    pub client_addr: Option<String>,
    /// The user agent that started it.
    pub user_agent: Option<String>,
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

    /// The session with this id hash, its owner and the owner's unused backup codes: what
    /// authentication reads on every request, in one round trip. Expired and pending
    /// sessions are returned too (judging them is the caller's rule).
    ///
    /// # Errors
    /// Storage failures only. MUST be one round trip that reads the session, the user and the
    /// count together (one statement, or one lock); MUST read storage on every call — no
    /// cache — so a deleted session is `None` on the very next call, on every instance;
    /// MUST count only the owner's codes that are not spent. A session whose stored row (or
    /// its owner's) does not decode MUST be logged and answered as `None`: its holder is
    /// signed out, never answered with a failure.
    async fn find_caller(
        &self,
        id_hash: &SecretDigest,
    ) -> StoreResult<Option<CallerRecord<SessionRecord>>>;

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

    /// Every session of a user (any kind, expired ones too), oldest first; a stored session
    /// that does not decode is listed as [`Listed::Damaged`] in its place, so one bad row
    /// never fails the list. Its `id` is the stored digest: it is NOT logged here — the
    /// caller logs it under the session's public handle, never the digest.
    ///
    /// # Errors
    /// Storage failures only.
    async fn sessions_of_listed(&self, user: UserId) -> StoreResult<Vec<Listed<SessionRecord>>>;

    /// Every session of a user (any kind, expired ones too), oldest first, every one decoded
    /// ([`SessionRepository::sessions_of_listed`] for a list shown to people).
    ///
    /// # Errors
    /// Storage failures, and a stored session that does not decode.
    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionRecord>> {
        Listed::all_ok(self.sessions_of_listed(user).await?)
    }

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
