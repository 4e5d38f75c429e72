//! [`AuditLog`] in memory, newest first.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    AuditEvent, AuditLog, AuditQuery, Listed, StoreResult, StoredAuditEvent,
};

use super::{InMemoryStore, State};

impl State {
    /// Appends an event with the next sequence number.
    pub(super) fn append_audit(&mut self, event: AuditEvent) {
        self.next_audit_id += 1;
        let id = self.next_audit_id;
        self.audit.push(StoredAuditEvent { id, event });
    }
}

#[async_trait]
impl AuditLog for InMemoryStore {
    async fn record(&self, event: AuditEvent) -> StoreResult<()> {
        self.lock()?.append_audit(event);
        Ok(())
    }

    async fn query_listed(&self, query: AuditQuery) -> StoreResult<Vec<Listed<StoredAuditEvent>>> {
        let state = self.lock()?;
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        Ok(state
            .audit
            .iter()
            .rev()
            .filter(|e| query.user_id.is_none_or(|u| e.event.user_id == Some(u)))
            .filter(|e| query.kind.is_none_or(|k| e.event.kind == k))
            .filter(|e| query.outcome.is_none_or(|o| o.admits(&e.event.outcome)))
            .filter(|e| query.since.is_none_or(|at| e.event.at >= at))
            .filter(|e| query.until.is_none_or(|at| e.event.at < at))
            .skip(offset)
            .take(limit)
            .cloned()
            .map(Listed::Ok)
            .collect())
    }

    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let count = state.audit.len();
        state.audit.retain(|e| e.event.at >= before);
        Ok((count - state.audit.len()) as u64)
    }
}
