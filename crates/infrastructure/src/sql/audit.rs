//! [`AuditLog`] over SQL. Events keep user ids without a foreign key: they outlive users.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{QueryResult, Value};
use slugbase_application::ports::{
    AuditEvent, AuditLog, AuditQuery, StoreResult, StoredAuditEvent,
};
use slugbase_domain::{AuditEventKind, AuditOutcome, ProofKind, UserId};

use super::{SeaOrmStore, corrupt, exec, from_ms, get, parse_uuid, query_all, to_ms};

const SUCCESS: &str = "success";
const FAILURE: &str = "failure";

fn user_id(text: Option<String>) -> StoreResult<Option<UserId>> {
    text.map(|t| parse_uuid(&t).map(UserId::from_uuid)).transpose()
}

fn event_from_row(row: &QueryResult) -> StoreResult<StoredAuditEvent> {
    let kind: String = get(row, "kind")?;
    let outcome: String = get(row, "outcome")?;
    let reason: Option<String> = get(row, "reason")?;
    let proof: Option<String> = get(row, "proof")?;
    let outcome = match outcome.as_str() {
        SUCCESS => AuditOutcome::Success,
        FAILURE => AuditOutcome::Failure(reason.unwrap_or_default()),
        _ => return Err(corrupt("audit outcome")),
    };
    Ok(StoredAuditEvent {
        id: get(row, "id")?,
        event: AuditEvent {
            at: from_ms(get(row, "at")?)?,
            user_id: user_id(get(row, "user_id")?)?,
            actor_id: user_id(get(row, "actor_id")?)?,
            kind: AuditEventKind::from_name(&kind).ok_or_else(|| corrupt("audit event kind"))?,
            outcome,
            proof: proof
                .map(|p| ProofKind::from_name(&p).ok_or_else(|| corrupt("proof kind")))
                .transpose()?,
            client_addr: get(row, "client_addr")?,
            user_agent: get(row, "user_agent")?,
        },
    })
}

#[async_trait]
impl AuditLog for SeaOrmStore {
    async fn record(&self, event: AuditEvent) -> StoreResult<()> {
        let (outcome, reason) = match event.outcome {
            AuditOutcome::Success => (SUCCESS, None),
            AuditOutcome::Failure(reason) => (FAILURE, Some(reason)),
        };
        exec(
            &self.db,
            "INSERT INTO audit_events (at, user_id, actor_id, kind, outcome, reason, proof, \
             client_addr, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [
                to_ms(event.at).into(),
                event.user_id.map(|u| u.to_string()).into(),
                event.actor_id.map(|u| u.to_string()).into(),
                event.kind.as_str().into(),
                outcome.into(),
                reason.into(),
                event.proof.map(|p| p.as_str().to_owned()).into(),
                event.client_addr.into(),
                event.user_agent.into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn query(&self, query: AuditQuery) -> StoreResult<Vec<StoredAuditEvent>> {
        let mut sql = String::from(
            "SELECT id, at, user_id, actor_id, kind, outcome, reason, proof, client_addr, \
             user_agent FROM audit_events WHERE 1 = 1",
        );
        let mut values: Vec<Value> = Vec::new();
        if let Some(user) = query.user_id {
            values.push(user.to_string().into());
            sql.push_str(&format!(" AND user_id = ${}", values.len()));
        }
        if let Some(kind) = query.kind {
            values.push(kind.as_str().into());
            sql.push_str(&format!(" AND kind = ${}", values.len()));
        }
        values.push(i64::from(query.limit).into());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", values.len()));
        values.push(i64::try_from(query.offset).unwrap_or(i64::MAX).into());
        sql.push_str(&format!(" OFFSET ${}", values.len()));
        query_all(&self.db, &sql, values).await?.iter().map(event_from_row).collect()
    }

    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let deleted =
            exec(&self.db, "DELETE FROM audit_events WHERE at < $1", [to_ms(before).into()])
                .await?;
        Ok(deleted.rows_affected())
    }
}
