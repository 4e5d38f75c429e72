//! [`ApiTokenRepository`] in memory; revoked tokens are kept but never found.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    ApiTokenRecord, ApiTokenRepository, CallerRecord, Listed, Notice, SecretDigest, StoreError,
    StoreResult,
};
use slugbase_domain::{ApiTokenId, UserId};

use super::{InMemoryStore, State, TokenRow, ct_eq};

impl State {
    /// The token with this digest unless revoked; every token is compared, in constant time.
    fn active_token(&self, token_hash: &SecretDigest) -> Option<ApiTokenRecord> {
        let mut found = None;
        for t in &self.tokens {
            if ct_eq(t.record.token_hash.as_str(), token_hash.as_str()) && t.revoked_at.is_none() {
                found = Some(t.record.clone());
            }
        }
        found
    }
}

#[async_trait]
impl ApiTokenRepository for InMemoryStore {
    async fn create(&self, token: ApiTokenRecord) -> StoreResult<()> {
        let mut state = self.lock()?;
        if state.tokens.iter().any(|t| t.record.id == token.id) {
            return Err(StoreError::Conflict("api_tokens.id"));
        }
        state.tokens.push(TokenRow { record: token, revoked_at: None });
        Ok(())
    }

    async fn create_with_notice(&self, token: ApiTokenRecord, notice: &Notice) -> StoreResult<()> {
        let mut state = self.lock()?;
        if state.tokens.iter().any(|t| t.record.id == token.id) {
            return Err(StoreError::Conflict("api_tokens.id"));
        }
        state.tokens.push(TokenRow { record: token, revoked_at: None });
        state.enqueue_notice(notice.clone());
        Ok(())
    }

    async fn list_for_user_listed(&self, user: UserId) -> StoreResult<Vec<Listed<ApiTokenRecord>>> {
        let state = self.lock()?;
        let mut tokens: Vec<ApiTokenRecord> = state
            .tokens
            .iter()
            .filter(|t| t.record.user_id == user && t.revoked_at.is_none())
            .map(|t| t.record.clone())
            .collect();
        tokens.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(tokens.into_iter().map(Listed::Ok).collect())
    }

    async fn find_active(&self, token_hash: &SecretDigest) -> StoreResult<Option<ApiTokenRecord>> {
        Ok(self.lock()?.active_token(token_hash))
    }

    async fn find_caller(
        &self,
        token_hash: &SecretDigest,
    ) -> StoreResult<Option<CallerRecord<ApiTokenRecord>>> {
        let state = self.lock()?;
        Ok(state.active_token(token_hash).and_then(|t| {
            let owner = t.user_id;
            state.caller_record(t, owner)
        }))
    }

    async fn revoke(&self, user: UserId, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let token = state
            .tokens
            .iter_mut()
            .find(|t| t.record.id == id && t.record.user_id == user && t.revoked_at.is_none());
        match token {
            Some(t) => {
                t.revoked_at = Some(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn touch(&self, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(t) = state.tokens.iter_mut().find(|t| t.record.id == id) {
            t.record.last_used_at = Some(at);
        }
        Ok(())
    }
}
