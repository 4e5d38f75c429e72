//! [`OutboxRepository`] over SQL. A claim is one conditional `UPDATE … WHERE id IN (SELECT
//! … FOR UPDATE SKIP LOCKED) RETURNING` on PostgreSQL, so instances claiming at once take
//! different rows without waiting for each other; on SQLite the same statement runs in an
//! `IMMEDIATE` transaction (one writer at a time). `claimed_until` is the lease: a row whose
//! sender crashed is claimable again once it has passed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Set,
};
use slugbase_application::ports::{
    AuditEvent, DamagedRow, Listed, Notice, NoticePurge, OutboxMessage, OutboxQuery,
    OutboxRepository, OutboxStanding, StoreResult,
};
use slugbase_domain::{NoticeId, NoticeKind, NoticeStatus, UserId};

use super::audit::insert_event;
use super::dialect::Engine;
use super::entity::outbox;
use super::listed::{logged, rows_listed};
use super::{SeaOrmStore, corrupt, db_err, from_ms, from_ms_opt, parse_uuid, to_ms, to_u32};

/// Largest offset a query binds (the drivers bind `BIGINT`).
const MAX_OFFSET: u64 = i64::MAX.unsigned_abs();

/// Stores a pending notice, due at once, on `conn` (the pool, or the transaction of the
/// change it reports).
pub(super) async fn insert_notice<C: ConnectionTrait>(
    conn: &C,
    notice: &Notice,
) -> StoreResult<()> {
    let at = to_ms(notice.at);
    let row = outbox::ActiveModel {
        id: Set(notice.id.to_string()),
        kind: Set(notice.kind.as_str().to_owned()),
        user_id: Set(notice.user_id.map(|u| u.to_string())),
        recipient: Set(notice.recipient.clone()),
        at: Set(at),
        client_addr: Set(notice.client_addr.clone()),
        user_agent: Set(notice.user_agent.clone()),
        codes_left: Set(notice.codes_left.map(i64::from)),
        subject: Set(notice.subject.clone()),
        status: Set(NoticeStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(at),
        claimed_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        created_at: Set(at),
    };
    outbox::Entity::insert(row).exec_without_returning(conn).await.map_err(db_err)?;
    Ok(())
}

fn message_from_model(row: outbox::Model) -> StoreResult<OutboxMessage> {
    let notice = Notice {
        id: NoticeId::from_uuid(parse_uuid(&row.id)?),
        kind: NoticeKind::from_name(&row.kind).ok_or_else(|| corrupt("notice kind"))?,
        user_id: row.user_id.map(|u| parse_uuid(&u).map(UserId::from_uuid)).transpose()?,
        recipient: row.recipient,
        at: from_ms(row.at)?,
        client_addr: row.client_addr,
        user_agent: row.user_agent,
        codes_left: row.codes_left.map(|n| to_u32(n, "codes left")).transpose()?,
        subject: row.subject,
    };
    Ok(OutboxMessage {
        notice,
        status: NoticeStatus::from_name(&row.status).ok_or_else(|| corrupt("notice status"))?,
        attempts: to_u32(row.attempts, "attempts")?,
        next_attempt_at: from_ms(row.next_attempt_at)?,
        last_error: row.last_error,
        sent_at: from_ms_opt(row.sent_at)?,
    })
}

/// An error message as stored: at most 500 characters of the first line.
fn stored_error(error: &str) -> String {
    error.lines().next().unwrap_or_default().chars().take(500).collect()
}

#[async_trait]
impl OutboxRepository for SeaOrmStore {
    async fn enqueue(&self, notice: Notice) -> StoreResult<()> {
        insert_notice(&self.db, &notice).await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let now = to_ms(now);
        let due = || {
            outbox::Column::Status
                .eq(NoticeStatus::Pending.as_str())
                .and(outbox::Column::NextAttemptAt.lte(now))
                .and(
                    outbox::Column::ClaimedUntil.is_null().or(outbox::Column::ClaimedUntil.lt(now)),
                )
        };
        let mut pick = Query::select();
        pick.column(outbox::Column::Id)
            .from(outbox::Entity)
            .and_where(due())
            .order_by(outbox::Column::CreatedAt, sea_orm::Order::Asc)
            .order_by(outbox::Column::Id, sea_orm::Order::Asc)
            .limit(u64::from(limit));
        let tx = self.begin_write().await?;
        let engine = Engine::of(&tx);
        if engine.locks_rows() {
            pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let claim = outbox::Entity::update_many()
            .col_expr(outbox::Column::ClaimedUntil, Expr::val(to_ms(lease_until)))
            .filter(due());
        let claimed = if engine.update_returning() {
            claim
                .filter(outbox::Column::Id.in_subquery(pick))
                .exec_with_returning(&tx)
                .await
                .map_err(db_err)?
        } else {
            // MySQL/MariaDB: no `UPDATE … RETURNING`, and no subquery on the table being
            // updated. The rows picked (and locked, skipping other senders' locks) in this
            // transaction are claimed by id, then read back under the same locks.
            let ids: Vec<String> = tx
                .query_all(&pick)
                .await
                .map_err(db_err)?
                .iter()
                .map(|row| row.try_get_by_index::<String>(0))
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            if ids.is_empty() {
                Vec::new()
            } else {
                claim
                    .filter(outbox::Column::Id.is_in(ids.clone()))
                    .exec(&tx)
                    .await
                    .map_err(db_err)?;
                outbox::Entity::find()
                    .filter(outbox::Column::Id.is_in(ids))
                    .filter(outbox::Column::ClaimedUntil.eq(to_ms(lease_until)))
                    .all(&tx)
                    .await
                    .map_err(db_err)?
            }
        };
        tx.commit().await.map_err(db_err)?;
        // A claimed notice that does not decode can never be sent. Failing the whole batch
        // for it would leave every notice of the batch claimed, claimed again once the lease
        // ran out, and fail again: one bad row would stop all delivery. It is logged (its id
        // only) and marked failed, so it stays listed (as damaged) and leaves every batch.
        let mut messages = Vec::with_capacity(claimed.len());
        for row in claimed {
            let id = row.id.clone();
            match message_from_model(row) {
                Ok(message) => messages.push(message),
                Err(e) => {
                    let row = DamagedRow::logged("outbox", id, &e);
                    outbox::Entity::update_many()
                        .col_expr(outbox::Column::Status, Expr::val(NoticeStatus::Failed.as_str()))
                        .col_expr(outbox::Column::LastError, Expr::val(stored_error(&row.problem)))
                        .col_expr(outbox::Column::ClaimedUntil, Expr::val(Option::<i64>::None))
                        .filter(outbox::Column::Id.eq(row.id))
                        .exec(&self.db)
                        .await
                        .map_err(db_err)?;
                }
            }
        }
        messages.sort_by_key(|m| (m.notice.at, m.notice.id));
        Ok(messages)
    }

    async fn outbox_standing(&self) -> StoreResult<OutboxStanding> {
        let count = Query::select()
            .column(outbox::Column::Status)
            .expr_as(Expr::col(outbox::Column::Id).count(), Alias::new("notices"))
            .expr_as(Expr::col(outbox::Column::CreatedAt).min(), Alias::new("oldest"))
            .from(outbox::Entity)
            .and_where(
                outbox::Column::Status
                    .is_in([NoticeStatus::Pending.as_str(), NoticeStatus::Failed.as_str()]),
            )
            .group_by_col(outbox::Column::Status)
            .to_owned();
        let mut standing = OutboxStanding::default();
        for row in self.reads().query_all(&count).await.map_err(db_err)? {
            let status: String = row.try_get("", "status").map_err(db_err)?;
            let notices: i64 = row.try_get("", "notices").map_err(db_err)?;
            let notices = u64::try_from(notices).unwrap_or_default();
            if status == NoticeStatus::Pending.as_str() {
                standing.pending = notices;
                let oldest: Option<i64> = row.try_get("", "oldest").map_err(db_err)?;
                standing.oldest_pending = oldest.and_then(DateTime::from_timestamp_millis);
            } else {
                standing.failed = notices;
            }
        }
        Ok(standing)
    }

    async fn release_claims(
        &self,
        ids: &[NoticeId],
        lease_until: DateTime<Utc>,
    ) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let freed = outbox::Entity::update_many()
            .col_expr(outbox::Column::ClaimedUntil, Expr::val(Option::<i64>::None))
            .filter(outbox::Column::Id.is_in(ids.iter().map(ToString::to_string)))
            .filter(outbox::Column::Status.eq(NoticeStatus::Pending.as_str()))
            .filter(outbox::Column::ClaimedUntil.eq(to_ms(lease_until)))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(freed.rows_affected)
    }

    async fn mark_sent(&self, id: NoticeId, attempts: u32, at: DateTime<Utc>) -> StoreResult<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::val(NoticeStatus::Sent.as_str()))
            .col_expr(outbox::Column::Attempts, Expr::val(i64::from(attempts)))
            .col_expr(outbox::Column::SentAt, Expr::val(to_ms(at)))
            .col_expr(outbox::Column::ClaimedUntil, Expr::val(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(id.to_string()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn retry_later(
        &self,
        id: NoticeId,
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::val(i64::from(attempts)))
            .col_expr(outbox::Column::NextAttemptAt, Expr::val(to_ms(next_attempt_at)))
            .col_expr(outbox::Column::LastError, Expr::val(stored_error(error)))
            .col_expr(outbox::Column::ClaimedUntil, Expr::val(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(id.to_string()))
            .filter(outbox::Column::Status.eq(NoticeStatus::Pending.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: NoticeId,
        attempts: u32,
        error: &str,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let tx = self.begin_write().await?;
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::val(NoticeStatus::Failed.as_str()))
            .col_expr(outbox::Column::Attempts, Expr::val(i64::from(attempts)))
            .col_expr(outbox::Column::LastError, Expr::val(stored_error(error)))
            .col_expr(outbox::Column::ClaimedUntil, Expr::val(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(id.to_string()))
            .exec(&tx)
            .await
            .map_err(db_err)?;
        insert_event(&tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn list_notices_listed(
        &self,
        query: OutboxQuery,
    ) -> StoreResult<Vec<Listed<OutboxMessage>>> {
        let mut select = outbox::Entity::find();
        if let Some(status) = query.status {
            select = select.filter(outbox::Column::Status.eq(status.as_str()));
        }
        let select = select
            .order_by_desc(outbox::Column::CreatedAt)
            .order_by_desc(outbox::Column::Id)
            .limit(u64::from(query.limit))
            .offset(std::cmp::min(query.offset, MAX_OFFSET));
        // Logged by the notice id only: never its recipient or body.
        rows_listed(self.reads(), select, "id", message_from_model, logged("outbox")).await
    }

    async fn purge_notices(&self, purge: NoticePurge, limit: u32) -> StoreResult<u64> {
        let (status, column, before) = match purge {
            NoticePurge::Sent { before } => (NoticeStatus::Sent, outbox::Column::SentAt, before),
            NoticePurge::Failed { before } => {
                (NoticeStatus::Failed, outbox::Column::NextAttemptAt, before)
            }
        };
        let purged = || outbox::Column::Status.eq(status.as_str()).and(column.lt(to_ms(before)));
        // Ids first, then a delete of those ids that repeats the condition: PostgreSQL and
        // SQLite (as built) have no `DELETE … LIMIT`, and MySQL refuses a `LIMIT` subquery
        // on the table being deleted from. A row another instance purged in between is
        // simply not counted twice.
        let ids: Vec<String> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(purged())
            .limit(u64::from(limit))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let deleted = outbox::Entity::delete_many()
            .filter(outbox::Column::Id.is_in(ids))
            .filter(purged())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}
