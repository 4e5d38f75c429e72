//! [`ApiTokenRepository`] over SQL: tokens stored by their SHA-256; revoked ones are kept
//! (with `revoked_at`) but never found.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::QueryResult;
use slugbase_application::ports::{ApiTokenRecord, ApiTokenRepository, SecretDigest, StoreResult};
use slugbase_domain::{ApiTokenId, UserId};

use super::{
    SeaOrmStore, exec, from_ms, from_ms_opt, get, parse_uuid, query_all, query_one, to_ms,
};

const TOKEN_COLUMNS: &str = "id, user_id, name, token_hash, created_at, last_used_at";

fn token_from_row(row: &QueryResult) -> StoreResult<ApiTokenRecord> {
    let id: String = get(row, "id")?;
    let user: String = get(row, "user_id")?;
    Ok(ApiTokenRecord {
        id: ApiTokenId::from_uuid(parse_uuid(&id)?),
        user_id: UserId::from_uuid(parse_uuid(&user)?),
        name: get(row, "name")?,
        token_hash: SecretDigest::from_hex(get::<String>(row, "token_hash")?),
        created_at: from_ms(get(row, "created_at")?)?,
        last_used_at: from_ms_opt(get(row, "last_used_at")?)?,
    })
}

#[async_trait]
impl ApiTokenRepository for SeaOrmStore {
    async fn create(&self, token: ApiTokenRecord) -> StoreResult<()> {
        exec(
            &self.db,
            "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, last_used_at, \
             revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
            [
                token.id.to_string().into(),
                token.user_id.to_string().into(),
                token.name.into(),
                token.token_hash.as_str().into(),
                to_ms(token.created_at).into(),
                token.last_used_at.map(to_ms).into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn list_for_user(&self, user: UserId) -> StoreResult<Vec<ApiTokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL \
             ORDER BY created_at, id"
        );
        query_all(&self.db, &sql, [user.to_string().into()])
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    async fn find_active(&self, token_hash: &SecretDigest) -> StoreResult<Option<ApiTokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        );
        query_one(&self.db, &sql, [token_hash.as_str().into()])
            .await?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    async fn revoke(&self, user: UserId, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<bool> {
        let revoked = exec(
            &self.db,
            "UPDATE api_tokens SET revoked_at = $3 \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
            [id.to_string().into(), user.to_string().into(), to_ms(at).into()],
        )
        .await?;
        Ok(revoked.rows_affected() == 1)
    }

    async fn touch(&self, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<()> {
        exec(
            &self.db,
            "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
            [id.to_string().into(), to_ms(at).into()],
        )
        .await?;
        Ok(())
    }
}
