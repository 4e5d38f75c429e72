//! [`SessionRepository`] over SQL: sessions keyed by the SHA-256 of their id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DeleteMany, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Set, UpdateMany,
};
use slugbase_application::ports::{
    CallerRecord, DamagedRow, Listed, SecretDigest, SessionKind, SessionRecord, SessionRepository,
    StoreError, StoreResult,
};
use slugbase_domain::UserId;

use super::caller::{CallerQuery, find_caller};
use super::dialect::Engine;
use super::entity::sessions;
use super::listed::rows_listed;
use super::{SeaOrmStore, corrupt, db_err, from_ms, parse_uuid, to_ms, to_u32};

/// Deletes a user's sessions but `keep` (also run inside an MFA change's transaction).
pub(super) fn delete_sessions_of(
    user: UserId,
    keep: Option<&SecretDigest>,
) -> DeleteMany<sessions::Entity> {
    let mut delete =
        sessions::Entity::delete_many().filter(sessions::Column::UserId.eq(user.to_string()));
    if let Some(keep) = keep {
        delete = delete.filter(sessions::Column::IdHash.ne(keep.as_str()));
    }
    delete
}

/// Stores a session (also run inside an MFA change's transaction).
pub(super) async fn insert_session<C: ConnectionTrait>(
    conn: &C,
    session: &SessionRecord,
) -> StoreResult<()> {
    let row = sessions::ActiveModel {
        id_hash: Set(session.id_hash.as_str().to_owned()),
        user_id: Set(session.user_id.to_string()),
        kind: Set(session.kind.as_str().to_owned()),
        created_at: Set(to_ms(session.created_at)),
        last_seen_at: Set(to_ms(session.last_seen_at)),
        expires_at: Set(to_ms(session.expires_at)),
        failed_attempts: Set(i64::from(session.failed_attempts)),
        client_addr: Set(session.client_addr.clone()),
        user_agent: Set(session.user_agent.clone()),
    };
    sessions::Entity::insert(row).exec_without_returning(conn).await.map_err(db_err)?;
    Ok(())
}

/// [`SessionRepository::reserve_attempt`] without `UPDATE … RETURNING` (MySQL): the same
/// conditional update, then the count read back in the same transaction — under the row
/// lock the update took, so no other reservation changes it in between.
async fn reserve_attempt_then_read(
    store: &SeaOrmStore,
    id_hash: &SecretDigest,
    update: UpdateMany<sessions::Entity>,
) -> StoreResult<Option<u32>> {
    let tx = store.begin_write().await?;
    if update.exec(&tx).await.map_err(db_err)?.rows_affected != 1 {
        tx.rollback().await.map_err(db_err)?;
        return Ok(None);
    }
    let count = sessions::Entity::find_by_id(id_hash.as_str())
        .select_only()
        .column(sessions::Column::FailedAttempts)
        .into_tuple::<i64>()
        .one(&tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    count.map(|n| to_u32(n, "failed attempts")).transpose()
}

fn session_from_model(row: sessions::Model) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id_hash: SecretDigest::from_hex(row.id_hash),
        user_id: UserId::from_uuid(parse_uuid(&row.user_id)?),
        kind: SessionKind::from_name(&row.kind).ok_or_else(|| corrupt("session kind"))?,
        created_at: from_ms(row.created_at)?,
        last_seen_at: from_ms(row.last_seen_at)?,
        expires_at: from_ms(row.expires_at)?,
        failed_attempts: to_u32(row.failed_attempts, "failed attempts")?,
        client_addr: row.client_addr,
        user_agent: row.user_agent,
    })
}

#[async_trait]
impl SessionRepository for SeaOrmStore {
    async fn create(&self, session: SessionRecord) -> StoreResult<()> {
        insert_session(&self.db, &session).await
    }

    async fn find(&self, id_hash: &SecretDigest) -> StoreResult<Option<SessionRecord>> {
        let row = sessions::Entity::find_by_id(id_hash.as_str())
            .one(self.reads())
            .await
            .map_err(db_err)?;
        row.map(session_from_model).transpose()
    }

    async fn find_caller(
        &self,
        id_hash: &SecretDigest,
    ) -> StoreResult<Option<CallerRecord<SessionRecord>>> {
        static QUERY: CallerQuery = CallerQuery::new();
        let session = |key: &str| sessions::Entity::find_by_id(key);
        let row = find_caller(self, &QUERY, session, id_hash.as_str()).await?;
        Ok(row.and_then(|row| row.into_record_or_none("session", session_from_model)))
    }

    async fn touch(&self, id_hash: &SecretDigest, at: DateTime<Utc>) -> StoreResult<()> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::LastSeenAt, Expr::val(to_ms(at)))
            .filter(sessions::Column::IdHash.eq(id_hash.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete(&self, id_hash: &SecretDigest) -> StoreResult<bool> {
        let deleted = sessions::Entity::delete_by_id(id_hash.as_str())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected == 1)
    }

    async fn reserve_attempt(&self, id_hash: &SecretDigest, max: u32) -> StoreResult<Option<u32>> {
        // One conditional `UPDATE … RETURNING`: concurrent guesses on one pending state never
        // take more than `max`.
        let update = sessions::Entity::update_many()
            .col_expr(
                sessions::Column::FailedAttempts,
                Expr::col(sessions::Column::FailedAttempts).add(1_i64),
            )
            .filter(sessions::Column::IdHash.eq(id_hash.as_str()))
            .filter(sessions::Column::FailedAttempts.lt(i64::from(max)));
        if !Engine::of(&self.db).update_returning() {
            return reserve_attempt_then_read(self, id_hash, update).await;
        }
        let updated = update.exec_with_returning(&self.db).await.map_err(db_err)?;
        updated
            .into_iter()
            .next()
            .map(|row| to_u32(row.failed_attempts, "failed attempts"))
            .transpose()
    }

    async fn sessions_of_listed(&self, user: UserId) -> StoreResult<Vec<Listed<SessionRecord>>> {
        let select = sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.to_string()))
            .order_by_asc(sessions::Column::CreatedAt);
        // Not logged here: the key is the stored digest; the caller logs the public handle.
        let damaged =
            |id: Option<String>, e: &StoreError| DamagedRow::unlogged(id.unwrap_or_default(), e);
        rows_listed(self.reads(), select, "id_hash", session_from_model, damaged).await
    }

    async fn delete_for_user<'a>(
        &self,
        user: UserId,
        keep: Option<&'a SecretDigest>,
    ) -> StoreResult<u64> {
        let deleted = delete_sessions_of(user, keep).exec(&self.db).await.map_err(db_err)?;
        Ok(deleted.rows_affected)
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = sessions::Entity::delete_many()
            .filter(sessions::Column::ExpiresAt.lte(to_ms(now)))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}
