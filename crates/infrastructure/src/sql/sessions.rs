//! [`SessionRepository`] over SQL: sessions keyed by the SHA-256 of their id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::QueryResult;
use slugbase_application::ports::{
    SecretDigest, SessionKind, SessionRecord, SessionRepository, StoreResult,
};
use slugbase_domain::UserId;

use super::{SeaOrmStore, corrupt, exec, from_ms, get, parse_uuid, query_one, to_ms, to_u32};

const SESSION_COLUMNS: &str =
    "id_hash, user_id, kind, created_at, last_seen_at, expires_at, failed_attempts";

fn session_from_row(row: &QueryResult) -> StoreResult<SessionRecord> {
    let kind: String = get(row, "kind")?;
    let user: String = get(row, "user_id")?;
    Ok(SessionRecord {
        id_hash: SecretDigest::from_hex(get::<String>(row, "id_hash")?),
        user_id: UserId::from_uuid(parse_uuid(&user)?),
        kind: SessionKind::from_name(&kind).ok_or_else(|| corrupt("session kind"))?,
        created_at: from_ms(get(row, "created_at")?)?,
        last_seen_at: from_ms(get(row, "last_seen_at")?)?,
        expires_at: from_ms(get(row, "expires_at")?)?,
        failed_attempts: to_u32(get(row, "failed_attempts")?, "failed attempts")?,
    })
}

#[async_trait]
impl SessionRepository for SeaOrmStore {
    async fn create(&self, session: SessionRecord) -> StoreResult<()> {
        exec(
            &self.db,
            "INSERT INTO sessions (id_hash, user_id, kind, created_at, last_seen_at, expires_at, \
             failed_attempts) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                session.id_hash.as_str().into(),
                session.user_id.to_string().into(),
                session.kind.as_str().into(),
                to_ms(session.created_at).into(),
                to_ms(session.last_seen_at).into(),
                to_ms(session.expires_at).into(),
                i64::from(session.failed_attempts).into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn find(&self, id_hash: &SecretDigest) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1");
        query_one(&self.db, &sql, [id_hash.as_str().into()])
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn touch(&self, id_hash: &SecretDigest, at: DateTime<Utc>) -> StoreResult<()> {
        exec(
            &self.db,
            "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1",
            [id_hash.as_str().into(), to_ms(at).into()],
        )
        .await?;
        Ok(())
    }

    async fn delete(&self, id_hash: &SecretDigest) -> StoreResult<bool> {
        let deleted =
            exec(&self.db, "DELETE FROM sessions WHERE id_hash = $1", [id_hash.as_str().into()])
                .await?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn reserve_attempt(&self, id_hash: &SecretDigest, max: u32) -> StoreResult<Option<u32>> {
        // Conditional: concurrent guesses on one pending state never take more than `max`.
        let row = query_one(
            &self.db,
            "UPDATE sessions SET failed_attempts = failed_attempts + 1 \
             WHERE id_hash = $1 AND failed_attempts < $2 RETURNING failed_attempts",
            [id_hash.as_str().into(), i64::from(max).into()],
        )
        .await?;
        row.map(|row| to_u32(get(&row, "failed_attempts")?, "failed attempts")).transpose()
    }

    async fn delete_for_user<'a>(
        &self,
        user: UserId,
        keep: Option<&'a SecretDigest>,
    ) -> StoreResult<u64> {
        let deleted = match keep {
            Some(keep) => {
                exec(
                    &self.db,
                    "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2",
                    [user.to_string().into(), keep.as_str().into()],
                )
                .await?
            }
            None => {
                exec(&self.db, "DELETE FROM sessions WHERE user_id = $1", [user.to_string().into()])
                    .await?
            }
        };
        Ok(deleted.rows_affected())
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let deleted =
            exec(&self.db, "DELETE FROM sessions WHERE expires_at <= $1", [to_ms(now).into()])
                .await?;
        Ok(deleted.rows_affected())
    }
}
