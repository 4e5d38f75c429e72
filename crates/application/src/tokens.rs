//! Personal API tokens: `sb_` + 256 random bits, stored as SHA-256 only.

use chrono::{DateTime, Utc};
use slugbase_domain::{ApiTokenId, AuditEventKind};

use crate::auth::API_TOKEN_PREFIX;
use crate::core::{AuditEntry, use_case};
use crate::error::{Unexpected, ValidationErrors};
use crate::ports::ApiTokenRecord;
use crate::{Caller, ClientInfo, PlainToken};

/// Longest token name, in characters.
const MAX_TOKEN_NAME_CHARS: usize = 100;

/// A token as listed (never the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTokenView {
    /// Public id.
    pub id: ApiTokenId,
    /// Label.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenRecord> for ApiTokenView {
    fn from(r: ApiTokenRecord) -> Self {
        Self { id: r.id, name: r.name, created_at: r.created_at, last_used_at: r.last_used_at }
    }
}

/// A new token: the plaintext, shown once.
#[derive(Clone, Debug)]
pub struct CreatedApiToken {
    /// `sb_…`.
    pub token: PlainToken,
    /// Its listing.
    pub view: ApiTokenView,
}

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateApiTokenError {
    /// Name missing, empty, too long or with control characters.
    #[error(transparent)]
    Validation(ValidationErrors),
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

use_case! {
    /// `/api/tokens`: create, list, revoke.
    ApiTokens
}

impl ApiTokens {
    /// Creates a token for the caller.
    ///
    /// # Errors
    /// [`CreateApiTokenError`].
    pub async fn create(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        name: Result<String, ValidationErrors>,
    ) -> Result<CreatedApiToken, CreateApiTokenError> {
        let core = &self.core;
        let name = name.map_err(CreateApiTokenError::Validation)?;
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_TOKEN_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(CreateApiTokenError::Validation(ValidationErrors::field(
                "name",
                "Name must be 1 to 100 printable characters",
            )));
        }
        let token = core.random_token(API_TOKEN_PREFIX);
        let record = ApiTokenRecord {
            id: ApiTokenId::generate(),
            user_id: caller.user.id,
            name: name.to_owned(),
            token_hash: core.deps.token_digest.digest(token.expose()),
            created_at: core.now(),
            last_used_at: None,
        };
        core.deps.tokens.create(record.clone()).await?;
        core.audit(AuditEntry::new(AuditEventKind::ApiTokenCreated, Some(caller.user.id), client))
            .await;
        Ok(CreatedApiToken { token, view: record.into() })
    }

    /// The caller's tokens.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<ApiTokenView>, Unexpected> {
        let records = self.core.deps.tokens.list_for_user(caller.user.id).await?;
        Ok(records.into_iter().map(ApiTokenView::from).collect())
    }

    /// Revokes one of the caller's tokens; `false` if there is no such active token.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn revoke(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: ApiTokenId,
    ) -> Result<bool, Unexpected> {
        let core = &self.core;
        let revoked = core.deps.tokens.revoke(caller.user.id, id, core.now()).await?;
        if revoked {
            core.audit(AuditEntry::new(
                AuditEventKind::ApiTokenRevoked,
                Some(caller.user.id),
                client,
            ))
            .await;
        }
        Ok(revoked)
    }
}
