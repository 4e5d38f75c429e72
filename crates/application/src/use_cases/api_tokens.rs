//! Personal API tokens: `sb_` + 256 random bits, stored as SHA-256 only.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use slugbase_domain::{ApiTokenId, AuditEventKind, NoticeKind};

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::token_minter::{API_TOKEN_PREFIX, TokenMinter};
use crate::error::{InputRejected, Unexpected, ValidationErrors, unexpected_from_ports};
use crate::plain_token::PlainToken;
use crate::ports::{ApiTokenRecord, ApiTokenRepository, Clock, Listed, Notice, TokenDigest};

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
    /// Name empty, too long or with control characters.
    #[error(transparent)]
    Validation(ValidationErrors),
    /// The adapter could not read the input from the request (it says why).
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

unexpected_from_ports!(CreateApiTokenError);

/// `/api/tokens`: create, list, revoke.
#[derive(Clone)]
pub struct ApiTokens {
    minter: TokenMinter,
    token_digest: Arc<dyn TokenDigest>,
    tokens: Arc<dyn ApiTokenRepository>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiTokens").finish_non_exhaustive()
    }
}

impl ApiTokens {
    /// The use case: `minter` makes the token, `token_digest` digests it, `tokens` stores
    /// it, `audit` records creation and revocation at the `clock`'s time.
    #[must_use]
    pub fn new(
        minter: TokenMinter,
        token_digest: Arc<dyn TokenDigest>,
        tokens: Arc<dyn ApiTokenRepository>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { minter, token_digest, tokens, audit, clock }
    }
}

/// What the web adapter calls for `/api/tokens`; [`ApiTokens`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ApiTokensUseCase: Send + Sync {
    /// See [`ApiTokens::create`].
    ///
    /// # Errors
    /// [`CreateApiTokenError`].
    async fn create(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        name: Result<String, InputRejected>,
    ) -> Result<CreatedApiToken, CreateApiTokenError>;

    /// See [`ApiTokens::list`].
    ///
    /// # Errors
    /// Storage failures.
    async fn list(&self, caller: &Caller) -> Result<Vec<Listed<ApiTokenView>>, Unexpected>;

    /// See [`ApiTokens::revoke`].
    ///
    /// # Errors
    /// Storage failures.
    async fn revoke(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: ApiTokenId,
    ) -> Result<bool, Unexpected>;
}

#[async_trait]
impl ApiTokensUseCase for ApiTokens {
    /// Creates a token for the caller.
    ///
    /// # Errors
    /// [`CreateApiTokenError`].
    async fn create(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        name: Result<String, InputRejected>,
    ) -> Result<CreatedApiToken, CreateApiTokenError> {
        let name = name?;
        let Ok(name) = slugbase_domain::label(&name, MAX_TOKEN_NAME_CHARS) else {
            return Err(CreateApiTokenError::Validation(ValidationErrors::field(
                "name",
                "Name must be 1 to 100 printable characters, without text-direction controls",
            )));
        };
        let token = self.minter.mint(API_TOKEN_PREFIX);
        let record = ApiTokenRecord {
            id: ApiTokenId::generate(),
            user_id: caller.user.id,
            name: name.to_owned(),
            token_hash: self.token_digest.digest(token.expose()),
            created_at: self.clock.now(),
            last_used_at: None,
        };
        let notice =
            Notice::about(NoticeKind::ApiTokenCreated, &caller.user, client, record.created_at)
                .with_subject(record.name.clone());
        self.tokens.create_with_notice(record.clone(), &notice).await?;
        let entry = AuditEntry::new(AuditEventKind::ApiTokenCreated, Some(caller.user.id), client);
        self.audit.record(entry).await;
        Ok(CreatedApiToken { token, view: record.into() })
    }

    /// The caller's tokens; a stored token that does not decode is listed as damaged (by
    /// its row id), never failing the list.
    ///
    /// # Errors
    /// Storage failures.
    async fn list(&self, caller: &Caller) -> Result<Vec<Listed<ApiTokenView>>, Unexpected> {
        let records = self.tokens.list_for_user_listed(caller.user.id).await?;
        Ok(records.into_iter().map(|listed| listed.map(ApiTokenView::from)).collect())
    }

    /// Revokes one of the caller's tokens; `false` if there is no such active token.
    ///
    /// # Errors
    /// Storage failures.
    async fn revoke(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: ApiTokenId,
    ) -> Result<bool, Unexpected> {
        let revoked = self.tokens.revoke(caller.user.id, id, self.clock.now()).await?;
        if revoked {
            let entry =
                AuditEntry::new(AuditEventKind::ApiTokenRevoked, Some(caller.user.id), client);
            self.audit.record(entry).await;
        }
        Ok(revoked)
    }
}
