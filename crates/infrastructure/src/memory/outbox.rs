//! [`OutboxRepository`] in memory: notices in insertion order, claims under the one lock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    AuditEvent, Listed, Notice, NoticePurge, OutboxMessage, OutboxQuery, OutboxRepository,
    OutboxStanding, StoreResult,
};
use slugbase_domain::{NoticeId, NoticeStatus};

use super::{InMemoryStore, State};

/// One stored notice with its claim.
#[derive(Clone, Debug)]
pub(super) struct OutboxRow {
    message: OutboxMessage,
    claimed_until: Option<DateTime<Utc>>,
}

impl State {
    /// Stores a pending notice, due at once.
    pub(super) fn enqueue_notice(&mut self, notice: Notice) {
        let at = notice.at;
        self.outbox.push(OutboxRow {
            message: OutboxMessage {
                notice,
                status: NoticeStatus::Pending,
                attempts: 0,
                next_attempt_at: at,
                last_error: None,
                sent_at: None,
            },
            claimed_until: None,
        });
    }

    fn outbox_row(&mut self, id: NoticeId) -> Option<&mut OutboxRow> {
        self.outbox.iter_mut().find(|r| r.message.notice.id == id)
    }
}

#[async_trait]
impl OutboxRepository for InMemoryStore {
    async fn enqueue(&self, notice: Notice) -> StoreResult<()> {
        self.lock()?.enqueue_notice(notice);
        Ok(())
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let mut state = self.lock()?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut claimed = Vec::new();
        for row in &mut state.outbox {
            if claimed.len() >= limit {
                break;
            }
            let due = row.message.status == NoticeStatus::Pending
                && row.message.next_attempt_at <= now
                && row.claimed_until.is_none_or(|until| until < now);
            if due {
                row.claimed_until = Some(lease_until);
                claimed.push(row.message.clone());
            }
        }
        Ok(claimed)
    }

    async fn outbox_standing(&self) -> StoreResult<OutboxStanding> {
        let state = self.lock()?;
        let mut standing = OutboxStanding::default();
        for row in &state.outbox {
            match row.message.status {
                NoticeStatus::Pending => {
                    standing.pending += 1;
                    let at = row.message.notice.at;
                    standing.oldest_pending =
                        Some(standing.oldest_pending.map_or(at, |oldest| oldest.min(at)));
                }
                NoticeStatus::Failed => standing.failed += 1,
                NoticeStatus::Sent => {}
            }
        }
        Ok(standing)
    }

    async fn release_claims(
        &self,
        ids: &[NoticeId],
        lease_until: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let mut freed = 0;
        for row in &mut state.outbox {
            if ids.contains(&row.message.notice.id)
                && row.message.status == NoticeStatus::Pending
                && row.claimed_until == Some(lease_until)
            {
                row.claimed_until = None;
                freed += 1;
            }
        }
        Ok(freed)
    }

    async fn mark_sent(&self, id: NoticeId, attempts: u32, at: DateTime<Utc>) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(row) = state.outbox_row(id) {
            row.message.status = NoticeStatus::Sent;
            row.message.attempts = attempts;
            row.message.sent_at = Some(at);
            row.claimed_until = None;
        }
        Ok(())
    }

    async fn retry_later(
        &self,
        id: NoticeId,
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(row) = state.outbox_row(id) {
            row.message.attempts = attempts;
            row.message.next_attempt_at = next_attempt_at;
            row.message.last_error = Some(error.to_owned());
            row.claimed_until = None;
        }
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: NoticeId,
        attempts: u32,
        error: &str,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(row) = state.outbox_row(id) {
            row.message.status = NoticeStatus::Failed;
            row.message.attempts = attempts;
            row.message.last_error = Some(error.to_owned());
            row.claimed_until = None;
        }
        state.append_audit(audit);
        Ok(())
    }

    async fn list_notices_listed(
        &self,
        query: OutboxQuery,
    ) -> StoreResult<Vec<Listed<OutboxMessage>>> {
        let state = self.lock()?;
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        Ok(state
            .outbox
            .iter()
            .rev()
            .map(|r| &r.message)
            .filter(|m| query.status.is_none_or(|s| m.status == s))
            .skip(offset)
            .take(limit)
            .cloned()
            .map(Listed::Ok)
            .collect())
    }

    async fn purge_notices(&self, purge: NoticePurge, limit: u32) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let purged = |m: &OutboxMessage| match purge {
            NoticePurge::Sent { before } => {
                m.status == NoticeStatus::Sent && m.sent_at.is_some_and(|at| at < before)
            }
            NoticePurge::Failed { before } => {
                m.status == NoticeStatus::Failed && m.next_attempt_at < before
            }
        };
        let mut left = usize::try_from(limit).unwrap_or(usize::MAX);
        let before = state.outbox.len();
        state.outbox.retain(|row| {
            if left > 0 && purged(&row.message) {
                left -= 1;
                false
            } else {
                true
            }
        });
        Ok(u64::try_from(before - state.outbox.len()).unwrap_or(u64::MAX))
    }
}
