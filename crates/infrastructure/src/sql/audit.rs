//! [`AuditLog`] over SQL. Events keep user ids without a foreign key: they outlive users.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Set,
};
use slugbase_application::ports::{
    AuditEvent, AuditLog, AuditQuery, Listed, OutcomeFilter, StoreResult, StoredAuditEvent,
};
use slugbase_domain::{AuditEventKind, AuditOutcome, ProofKind, UserId};

use super::entity::audit_events;
use super::listed::{logged, rows_listed};
use super::{SeaOrmStore, corrupt, db_err, from_ms, parse_uuid, to_ms};

const SUCCESS: &str = "success";
const FAILURE: &str = "failure";

/// Largest offset a query binds: the drivers bind `BIGINT`, and no log holds more events.
const MAX_OFFSET: u64 = i64::MAX.unsigned_abs();

fn user_id(text: Option<String>) -> StoreResult<Option<UserId>> {
    text.map(|t| parse_uuid(&t).map(UserId::from_uuid)).transpose()
}

fn event_from_model(row: audit_events::Model) -> StoreResult<StoredAuditEvent> {
    let outcome = match row.outcome.as_str() {
        SUCCESS => AuditOutcome::Success,
        FAILURE => AuditOutcome::Failure(row.reason.unwrap_or_default()),
        _ => return Err(corrupt("audit outcome")),
    };
    Ok(StoredAuditEvent {
        id: row.id,
        event: AuditEvent {
            at: from_ms(row.at)?,
            user_id: user_id(row.user_id)?,
            actor_id: user_id(row.actor_id)?,
            kind: AuditEventKind::from_name(&row.kind)
                .ok_or_else(|| corrupt("audit event kind"))?,
            outcome,
            proof: row
                .proof
                .map(|p| ProofKind::from_name(&p).ok_or_else(|| corrupt("proof kind")))
                .transpose()?,
            detail: row.detail,
            client_addr: row.client_addr,
            user_agent: row.user_agent,
        },
    })
}

/// Appends an event on `conn` (the pool, or an MFA change's transaction).
pub(super) async fn insert_event<C: ConnectionTrait>(
    conn: &C,
    event: AuditEvent,
) -> StoreResult<()> {
    let (outcome, reason) = match event.outcome {
        AuditOutcome::Success => (SUCCESS, None),
        AuditOutcome::Failure(reason) => (FAILURE, Some(reason)),
    };
    let row = audit_events::ActiveModel {
        id: NotSet,
        at: Set(to_ms(event.at)),
        user_id: Set(event.user_id.map(|u| u.to_string())),
        actor_id: Set(event.actor_id.map(|u| u.to_string())),
        kind: Set(event.kind.as_str().to_owned()),
        outcome: Set(outcome.to_owned()),
        reason: Set(reason),
        proof: Set(event.proof.map(|p| p.as_str().to_owned())),
        detail: Set(event.detail),
        client_addr: Set(event.client_addr),
        user_agent: Set(event.user_agent),
    };
    audit_events::Entity::insert(row).exec_without_returning(conn).await.map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl AuditLog for SeaOrmStore {
    async fn record(&self, event: AuditEvent) -> StoreResult<()> {
        insert_event(&self.db, event).await
    }

    async fn query_listed(&self, query: AuditQuery) -> StoreResult<Vec<Listed<StoredAuditEvent>>> {
        let mut select = audit_events::Entity::find();
        if let Some(user) = query.user_id {
            select = select.filter(audit_events::Column::UserId.eq(user.to_string()));
        }
        if let Some(kind) = query.kind {
            select = select.filter(audit_events::Column::Kind.eq(kind.as_str()));
        }
        if let Some(outcome) = query.outcome {
            let stored = match outcome {
                OutcomeFilter::Success => SUCCESS,
                OutcomeFilter::Failure => FAILURE,
            };
            select = select.filter(audit_events::Column::Outcome.eq(stored));
        }
        if let Some(since) = query.since {
            select = select.filter(audit_events::Column::At.gte(to_ms(since)));
        }
        if let Some(until) = query.until {
            select = select.filter(audit_events::Column::At.lt(to_ms(until)));
        }
        let select = select
            .order_by_desc(audit_events::Column::Id)
            .limit(u64::from(query.limit))
            .offset(query.offset.min(MAX_OFFSET));
        rows_listed(self.reads(), select, "id", event_from_model, logged("audit_events")).await
    }

    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = audit_events::Entity::delete_many()
            .filter(audit_events::Column::At.lt(to_ms(before)))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}
