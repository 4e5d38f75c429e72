//! Personal API tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{ApiTokenId, UserId};

use super::caller::CallerRecord;
use super::hashing::SecretDigest;
use super::outbox::Notice;
use super::store_error::{Listed, StoreResult};

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

    /// Stores a token and, in the same transaction, the notice that reports it.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing.
    async fn create_with_notice(&self, token: ApiTokenRecord, notice: &Notice) -> StoreResult<()>;

    /// The user's tokens that are not revoked, oldest first; a stored token that does not
    /// decode is logged (its row id, never its hash) and listed as [`Listed::Damaged`] in its
    /// place, so one bad row never fails the list.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list_for_user_listed(&self, user: UserId) -> StoreResult<Vec<Listed<ApiTokenRecord>>>;

    /// The user's tokens that are not revoked, oldest first, every one decoded
    /// ([`ApiTokenRepository::list_for_user_listed`] for a list shown to people).
    ///
    /// # Errors
    /// Storage failures, and a stored token that does not decode.
    async fn list_for_user(&self, user: UserId) -> StoreResult<Vec<ApiTokenRecord>> {
        Listed::all_ok(self.list_for_user_listed(user).await?)
    }

    /// The token with this hash, if it exists and is not revoked.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_active(&self, token_hash: &SecretDigest) -> StoreResult<Option<ApiTokenRecord>>;

    /// The token with this hash if it is not revoked, its owner and the owner's unused
    /// backup codes: what authentication reads on every request, in one round trip.
    ///
    /// # Errors
    /// Storage failures only. MUST be one round trip that reads the token, the user and the
    /// count together (one statement, or one lock); MUST read storage on every call — no
    /// cache — so a revoked token is `None` on the very next call, on every instance;
    /// MUST count only the owner's codes that are not spent. A token whose stored row (or its
    /// owner's) does not decode MUST be logged and answered as `None`.
    async fn find_caller(
        &self,
        token_hash: &SecretDigest,
    ) -> StoreResult<Option<CallerRecord<ApiTokenRecord>>>;

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
