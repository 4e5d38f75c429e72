//! [`ApiTokenRepository`] over SQL: tokens stored by their SHA-256; revoked ones are kept
//! (with `revoked_at`) but never found.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, Set};
use slugbase_application::ports::{
    ApiTokenRecord, ApiTokenRepository, CallerRecord, Listed, Notice, SecretDigest, StoreResult,
};
use slugbase_domain::{ApiTokenId, UserId};

use super::caller::{CallerQuery, find_caller};
use super::entity::api_tokens;
use super::listed::{logged, rows_listed};
use super::outbox::insert_notice;
use super::{SeaOrmStore, db_err, from_ms, from_ms_opt, parse_uuid, to_ms};

fn token_from_model(row: api_tokens::Model) -> StoreResult<ApiTokenRecord> {
    Ok(ApiTokenRecord {
        id: ApiTokenId::from_uuid(parse_uuid(&row.id)?),
        user_id: UserId::from_uuid(parse_uuid(&row.user_id)?),
        name: row.name,
        token_hash: SecretDigest::from_hex(row.token_hash),
        created_at: from_ms(row.created_at)?,
        last_used_at: from_ms_opt(row.last_used_at)?,
    })
}

/// The row of a new token.
pub(super) fn token_row(token: ApiTokenRecord) -> api_tokens::ActiveModel {
    api_tokens::ActiveModel {
        id: Set(token.id.to_string()),
        user_id: Set(token.user_id.to_string()),
        name: Set(token.name),
        token_hash: Set(token.token_hash.as_str().to_owned()),
        created_at: Set(to_ms(token.created_at)),
        last_used_at: Set(token.last_used_at.map(to_ms)),
        revoked_at: Set(None),
    }
}

#[async_trait]
impl ApiTokenRepository for SeaOrmStore {
    async fn create(&self, token: ApiTokenRecord) -> StoreResult<()> {
        let row = token_row(token);
        api_tokens::Entity::insert(row).exec_without_returning(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    async fn create_with_notice(&self, token: ApiTokenRecord, notice: &Notice) -> StoreResult<()> {
        let tx = self.begin_write().await?;
        api_tokens::Entity::insert(token_row(token))
            .exec_without_returning(&tx)
            .await
            .map_err(db_err)?;
        insert_notice(&tx, notice).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn list_for_user_listed(&self, user: UserId) -> StoreResult<Vec<Listed<ApiTokenRecord>>> {
        let select = api_tokens::Entity::find()
            .filter(api_tokens::Column::UserId.eq(user.to_string()))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .order_by_asc(api_tokens::Column::CreatedAt)
            .order_by_asc(api_tokens::Column::Id);
        // Logged by the row id, never the token's hash.
        rows_listed(self.reads(), select, "id", token_from_model, logged("api_tokens")).await
    }

    async fn find_active(&self, token_hash: &SecretDigest) -> StoreResult<Option<ApiTokenRecord>> {
        let row = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenHash.eq(token_hash.as_str()))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .one(self.reads())
            .await
            .map_err(db_err)?;
        row.map(token_from_model).transpose()
    }

    async fn find_caller(
        &self,
        token_hash: &SecretDigest,
    ) -> StoreResult<Option<CallerRecord<ApiTokenRecord>>> {
        static QUERY: CallerQuery = CallerQuery::new();
        let token = |key: &str| {
            api_tokens::Entity::find()
                .filter(api_tokens::Column::TokenHash.eq(key))
                .filter(api_tokens::Column::RevokedAt.is_null())
        };
        let row = find_caller(self, &QUERY, token, token_hash.as_str()).await?;
        Ok(row.and_then(|row| row.into_record_or_none("API token", token_from_model)))
    }

    async fn revoke(&self, user: UserId, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<bool> {
        let revoked = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::RevokedAt, Expr::val(to_ms(at)))
            .filter(api_tokens::Column::Id.eq(id.to_string()))
            .filter(api_tokens::Column::UserId.eq(user.to_string()))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(revoked.rows_affected == 1)
    }

    async fn touch(&self, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<()> {
        api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::LastUsedAt, Expr::val(to_ms(at)))
            .filter(api_tokens::Column::Id.eq(id.to_string()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
