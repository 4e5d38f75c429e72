//! Periodic clean-up: expired sessions, audit events past the configured retention, and
//! sent and failed notices past theirs (failed ones are kept longer, so administrators see
//! them in `GET /api/admin/outbox?status=failed` until then; pending ones are never purged).
//!
//! Each instance runs the purge once at start and then every
//! `maintenance.purge_interval_secs`. Every delete is a plain conditional `DELETE` in the
//! database, so several instances purging at once is harmless: an event, session or notice
//! is deleted once, and nothing else depends on who deleted it. Notices are deleted in
//! batches of [`NOTICE_PURGE_BATCH`], so a huge outbox never holds the write lock (SQLite)
//! or many row locks for long.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use slugbase_application::ports::{
    AuditLog, Clock, NoticePurge, OutboxRepository, SessionRepository, StoreResult,
};

/// Notices deleted per statement: small enough that one delete holds SQLite's write lock
/// for milliseconds, large enough that a backlog of millions goes in a few thousand rounds.
pub const NOTICE_PURGE_BATCH: u32 = 1000;

/// What one purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Sessions past their absolute expiry.
    pub sessions: u64,
    /// Audit events older than the retention.
    pub audit_events: u64,
    /// Sent notices older than their retention.
    pub sent_notices: u64,
    /// Failed notices older than their retention.
    pub failed_notices: u64,
}

/// What the purge runs on and how.
#[derive(Clone)]
pub struct Maintenance {
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Audit retention in days; 0 keeps events forever.
    pub audit_retention_days: u32,
    /// The notice outbox.
    pub outbox: Arc<dyn OutboxRepository>,
    /// Days a sent notice is kept after it was sent; 0 keeps them forever.
    pub sent_notice_retention_days: u32,
    /// Days a failed notice is kept after its last attempt; 0 keeps them forever.
    pub failed_notice_retention_days: u32,
    /// Pause between purges.
    pub interval: Duration,
}

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance")
            .field("audit_retention_days", &self.audit_retention_days)
            .field("sent_notice_retention_days", &self.sent_notice_retention_days)
            .field("failed_notice_retention_days", &self.failed_notice_retention_days)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// The oldest audit event time kept at `now`, or `None` when events are kept forever (a
/// retention of 0, or one reaching back before the earliest representable time).
#[must_use]
pub fn retention_cutoff(now: DateTime<Utc>, retention_days: u32) -> Option<DateTime<Utc>> {
    if retention_days == 0 {
        return None;
    }
    TimeDelta::try_days(i64::from(retention_days)).and_then(|d| now.checked_sub_signed(d))
}

impl Maintenance {
    /// Deletes expired sessions, audit events past retention and sent and failed notices
    /// past theirs, once.
    ///
    /// # Errors
    /// Storage failures (the next run tries again).
    pub async fn purge_once(&self) -> StoreResult<PurgeReport> {
        let now = self.clock.now();
        let sessions = self.sessions.delete_expired(now).await?;
        let audit_events = match retention_cutoff(now, self.audit_retention_days) {
            Some(before) => self.audit.purge_before(before).await?,
            None => 0,
        };
        let sent_notices = match retention_cutoff(now, self.sent_notice_retention_days) {
            Some(before) => self.purge_notices(NoticePurge::Sent { before }).await?,
            None => 0,
        };
        let failed_notices = match retention_cutoff(now, self.failed_notice_retention_days) {
            Some(before) => self.purge_notices(NoticePurge::Failed { before }).await?,
            None => 0,
        };
        Ok(PurgeReport { sessions, audit_events, sent_notices, failed_notices })
    }

    /// Deletes every notice `purge` names, [`NOTICE_PURGE_BATCH`] at a time, letting other
    /// tasks (and writers) in between batches.
    async fn purge_notices(&self, purge: NoticePurge) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let deleted = self.outbox.purge_notices(purge, NOTICE_PURGE_BATCH).await?;
            total += deleted;
            if deleted < u64::from(NOTICE_PURGE_BATCH) {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Runs [`Self::purge_once`] now and then every interval, until the task is dropped.
    #[must_use]
    pub fn spawn(self) -> MaintenanceTask {
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match self.purge_once().await {
                    Ok(report) => tracing::info!(
                        sessions.deleted = report.sessions,
                        audit.deleted = report.audit_events,
                        audit.retention_days = self.audit_retention_days,
                        notices.sent.deleted = report.sent_notices,
                        notices.failed.deleted = report.failed_notices,
                        "purged expired sessions, old audit events and old notices"
                    ),
                    Err(error) => tracing::warn!(%error, "purge failed; retrying next interval"),
                }
            }
        });
        MaintenanceTask(handle)
    }
}

/// The running purge loop; stopped when dropped.
#[derive(Debug)]
pub struct MaintenanceTask(tokio::task::JoinHandle<()>);

impl Drop for MaintenanceTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use slugbase_application::ports::{
        AuditEvent, AuditQuery, Notice, OutboxQuery, SecretDigest, SessionKind, SessionRecord,
    };
    use slugbase_domain::{
        AuditEventKind, AuditOutcome, NoticeId, NoticeKind, NoticeStatus, UserId,
    };
    use slugbase_infrastructure::crypto::ManualClock;
    use slugbase_infrastructure::memory::InMemoryStore;

    use super::*;

    fn at(days_ago: i64, now: DateTime<Utc>) -> DateTime<Utc> {
        now - TimeDelta::days(days_ago)
    }

    async fn seeded(now: DateTime<Utc>) -> Arc<InMemoryStore> {
        let store = Arc::new(InMemoryStore::new());
        for days_ago in [400, 31, 29, 0] {
            let event = AuditEvent {
                at: at(days_ago, now),
                user_id: None,
                actor_id: None,
                kind: AuditEventKind::LoginFail,
                outcome: AuditOutcome::Failure("INVALID_CREDENTIALS".into()),
                proof: None,
                detail: None,
                client_addr: None,
                user_agent: None,
            };
            AuditLog::record(&*store, event).await.unwrap();
        }
        let user = UserId::generate();
        for (n, expires) in [(1, now - TimeDelta::seconds(1)), (2, now + TimeDelta::hours(1))] {
            let record = SessionRecord {
                id_hash: SecretDigest::from_hex(format!("{n:064x}")),
                user_id: user,
                kind: SessionKind::Full,
                created_at: now - TimeDelta::hours(13),
                last_seen_at: now - TimeDelta::hours(1),
                expires_at: expires,
                failed_attempts: 0,
                client_addr: None,
                user_agent: None,
            };
            SessionRepository::create(&*store, record).await.unwrap();
        }
        store
    }

    fn maintenance(store: &Arc<InMemoryStore>, now: DateTime<Utc>, days: u32) -> Maintenance {
        Maintenance {
            sessions: store.clone(),
            audit: store.clone(),
            clock: Arc::new(ManualClock::new(now)),
            audit_retention_days: days,
            outbox: store.clone(),
            sent_notice_retention_days: 0,
            failed_notice_retention_days: 0,
            interval: Duration::from_secs(3600),
        }
    }

    async fn audit_ages(store: &InMemoryStore, now: DateTime<Utc>) -> Vec<i64> {
        let query = AuditQuery { limit: 100, ..AuditQuery::default() };
        let events = AuditLog::query(store, query).await.unwrap();
        events.iter().map(|e| (now - e.event.at).num_days()).collect()
    }

    #[tokio::test]
    async fn the_purge_deletes_expired_sessions_and_events_older_than_the_retention() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let store = seeded(now).await;

        let report = maintenance(&store, now, 30).purge_once().await.unwrap();

        assert_eq!(report, PurgeReport { sessions: 1, audit_events: 2, ..PurgeReport::default() });
        assert_eq!(audit_ages(&store, now).await, vec![0, 29]);
        let live = SecretDigest::from_hex(format!("{:064x}", 2));
        assert!(SessionRepository::find(&*store, &live).await.unwrap().is_some());
        // A second purge finds nothing more.
        let again = maintenance(&store, now, 30).purge_once().await.unwrap();
        assert_eq!(again, PurgeReport::default());
    }

    #[tokio::test]
    async fn a_retention_of_zero_keeps_every_audit_event() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let store = seeded(now).await;

        let report = maintenance(&store, now, 0).purge_once().await.unwrap();

        assert_eq!(report, PurgeReport { sessions: 1, ..PurgeReport::default() });
        assert_eq!(audit_ages(&store, now).await.len(), 4);
        assert_eq!(retention_cutoff(now, 0), None);
    }

    #[test]
    fn a_huge_retention_keeps_everything_instead_of_overflowing() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(retention_cutoff(now, u32::MAX), None);
        assert_eq!(retention_cutoff(now, 1), Some(now - TimeDelta::days(1)));
    }

    #[tokio::test]
    async fn the_spawned_task_purges_at_once_and_stops_when_dropped() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let store = seeded(now).await;
        let task = maintenance(&store, now, 30).spawn();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while audit_ages(&store, now).await.len() != 2 {
            assert!(std::time::Instant::now() < deadline, "the first purge did not run");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(task);
    }

    fn notice(at: DateTime<Utc>) -> Notice {
        Notice {
            id: NoticeId::generate(),
            kind: NoticeKind::ApiTokenCreated,
            user_id: None,
            recipient: "owner@example.com".to_owned(),
            at,
            client_addr: None,
            user_agent: None,
            codes_left: None,
            subject: None,
        }
    }

    /// More sent notices than one batch holds: all of them go, in several batches, and the
    /// pending one as old as they are stays.
    #[tokio::test]
    async fn old_sent_notices_are_purged_in_batches_and_pending_ones_stay() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let store = Arc::new(InMemoryStore::new());
        let old = at(40, now);
        let count = NOTICE_PURGE_BATCH * 2 + 7;
        for _ in 0..count {
            store.enqueue(notice(old)).await.unwrap();
        }
        let claimed = store.claim_due(old, old + TimeDelta::minutes(1), count).await.unwrap();
        for message in &claimed {
            store.mark_sent(message.notice.id, 1, old).await.unwrap();
        }
        store.enqueue(notice(at(400, now))).await.unwrap();
        let mut purge = maintenance(&store, now, 0);
        purge.sent_notice_retention_days = 30;
        purge.failed_notice_retention_days = 90;

        let report = purge.purge_once().await.unwrap();

        assert_eq!(report.sent_notices, u64::from(count));
        let left = store.list_notices(OutboxQuery { limit: 10, ..OutboxQuery::default() });
        let left = left.await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].status, NoticeStatus::Pending);
    }
}
