//! The contract of the audit log: events read back newest first, filtered and paged, and
//! purged by age.

use std::sync::Arc;

use slugbase_domain::{AuditEventKind, AuditOutcome, ProofKind, UserId};

use crate::ports::{AuditEvent, AuditQuery, OutcomeFilter, Storage};

use super::{event, t};

/// Events read back field for field, newest first, filtered by user and kind, paged.
pub async fn audit_events_are_read_newest_first_filtered_and_paged<S: Storage>(store: Arc<S>) {
    let a = UserId::generate();
    let admin = UserId::generate();
    let detailed = AuditEvent {
        at: t(3),
        user_id: Some(a),
        actor_id: Some(admin),
        kind: AuditEventKind::MfaDisableFail,
        outcome: AuditOutcome::Failure("INVALID_CODE".to_owned()),
        proof: Some(ProofKind::BackupCode),
        detail: Some("testidp amr=otp".to_owned()),
        client_addr: Some("203.0.113.7".to_owned()),
        user_agent: Some("curl/8".to_owned()),
    };
    store.record(event(1, Some(a), AuditEventKind::LoginSuccess)).await.expect("record");
    store.record(event(2, None, AuditEventKind::LoginFail)).await.expect("record");
    store.record(detailed.clone()).await.expect("record");
    store.record(event(4, Some(a), AuditEventKind::Logout)).await.expect("record");

    let all = store.query(AuditQuery { limit: 10, ..AuditQuery::default() }).await.expect("query");
    let times: Vec<_> = all.iter().map(|e| e.event.at).collect();
    assert_eq!(times, [t(4), t(3), t(2), t(1)]);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newer events have larger ids");
    assert_eq!(all[1].event, detailed);

    let mine = AuditQuery { user_id: Some(a), limit: 10, ..AuditQuery::default() };
    assert_eq!(store.query(mine).await.expect("query").len(), 3);
    let kind = AuditQuery {
        kind: Some(AuditEventKind::MfaDisableFail),
        limit: 10,
        ..AuditQuery::default()
    };
    assert_eq!(store.query(kind).await.expect("query").len(), 1);
    let page = AuditQuery { limit: 2, offset: 1, ..AuditQuery::default() };
    let page: Vec<_> = store.query(page).await.expect("query").iter().map(|e| e.event.at).collect();
    assert_eq!(page, [t(3), t(2)]);

    // By outcome, and by time: `since` inclusive, `until` exclusive; filters combine.
    let times = |query: AuditQuery| {
        let store = Arc::clone(&store);
        async move {
            let found = store.query(query).await.expect("query");
            found.iter().map(|e| e.event.at).collect::<Vec<_>>()
        }
    };
    let failures =
        AuditQuery { outcome: Some(OutcomeFilter::Failure), limit: 10, ..AuditQuery::default() };
    assert_eq!(times(failures).await, [t(3)]);
    let successes =
        AuditQuery { outcome: Some(OutcomeFilter::Success), limit: 10, ..AuditQuery::default() };
    assert_eq!(times(successes).await, [t(4), t(2), t(1)]);
    let window =
        AuditQuery { since: Some(t(2)), until: Some(t(4)), limit: 10, ..AuditQuery::default() };
    assert_eq!(times(window).await, [t(3), t(2)]);
    let combined = AuditQuery {
        user_id: Some(a),
        outcome: Some(OutcomeFilter::Success),
        since: Some(t(2)),
        limit: 10,
        ..AuditQuery::default()
    };
    assert_eq!(times(combined).await, [t(4)]);
}

/// `purge_before` deletes events older than the cut-off and returns how many.
pub async fn old_audit_events_are_purged<S: Storage>(store: Arc<S>) {
    for at in [10, 20, 30] {
        store.record(event(at, None, AuditEventKind::LoginFail)).await.expect("record");
    }
    assert_eq!(store.purge_before(t(20)).await.expect("purge"), 1);
    let left = store.query(AuditQuery { limit: 10, ..AuditQuery::default() }).await.expect("query");
    assert_eq!(left.iter().map(|e| e.event.at).collect::<Vec<_>>(), [t(30), t(20)]);
}
