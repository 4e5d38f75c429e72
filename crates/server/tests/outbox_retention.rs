//! Outbox retention through the real parts: the service on a SQLite file (and on
//! PostgreSQL and MariaDB when available), notices stored by the real store, the real
//! [`Maintenance`] purge with the configured retentions, and the admin API reading what is
//! left. Sent notices go after `outbox.sent_retention_days`; failed ones stay listed under
//! `GET /api/admin/outbox?status=failed` until `outbox.failed_retention_days`; a pending
//! notice is never purged, however old.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use slugbase_application::ports::{AuditEvent, Clock as _, Notice, OutboxRepository};
use slugbase_domain::{AuditEventKind, AuditOutcome, NoticeId, NoticeKind};
use slugbase_infrastructure::memory::InMemoryStore;
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::testing::{ManualClock, mysql_url, postgres_url};
use slugbase_server::config::MailTransport;
use slugbase_server::maintenance::Maintenance;
use slugbase_testkit::{Backend, TestApp};

const SENT_DAYS: u32 = 30;
const FAILED_DAYS: u32 = 90;

fn notice(kind: NoticeKind, at: DateTime<Utc>) -> Notice {
    Notice {
        id: NoticeId::generate(),
        kind,
        user_id: None,
        recipient: "owner@example.com".to_owned(),
        at,
        client_addr: None,
        user_agent: None,
        codes_left: None,
        subject: None,
    }
}

/// The ids the admin API lists with `status` (`None`: all).
async fn listed(admin: &slugbase_testkit::Api, status: Option<&str>) -> Vec<String> {
    let path = status.map_or_else(
        || "/api/admin/outbox?limit=200".to_owned(),
        |s| format!("/api/admin/outbox?status={s}&limit=200"),
    );
    let page = admin.get(&path).await.expect(StatusCode::OK);
    page["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn retention_through_the_admin_api(backend: Backend, url: String) {
    let app = TestApp::builder()
        .backend(backend)
        .with_config(|c| {
            c.mail.transport = MailTransport::Off;
            c.outbox.sent_retention_days = SENT_DAYS;
            c.outbox.failed_retention_days = FAILED_DAYS;
        })
        .spawn()
        .await;
    let admin = app.setup_admin().await;
    let store: Arc<SeaOrmStore> = Arc::new(SeaOrmStore::connect(&url).await.expect("connect"));
    let now = app.clock.now();
    let days = |n: i64| now - TimeDelta::days(n);

    // Sent 31 days ago; failed after its last attempt 31 days ago; pending for 400 days.
    let sent = notice(NoticeKind::MfaEnabled, days(31));
    let failed = notice(NoticeKind::PasswordChanged, days(31));
    let pending = notice(NoticeKind::ApiTokenCreated, days(400));
    for n in [&sent, &failed] {
        store.enqueue(n.clone()).await.expect("enqueue");
    }
    let claimed = store.claim_due(days(31), days(30), 10).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    store.mark_sent(sent.id, 1, days(31)).await.expect("sent");
    let event = AuditEvent {
        at: days(31),
        user_id: None,
        actor_id: None,
        kind: AuditEventKind::NoticeDeliveryFailed,
        outcome: AuditOutcome::Failure("550".to_owned()),
        proof: None,
        detail: None,
        client_addr: None,
        user_agent: None,
    };
    store.mark_failed(failed.id, 8, "550 no such user", event).await.expect("failed");
    store.enqueue(pending.clone()).await.expect("enqueue");

    let clock = Arc::new(ManualClock::new(now));
    // Sessions and audit events of their own: the purge at +60 days must not end the
    // administrator's session, which the app's clock (standing still) keeps alive.
    let elsewhere = Arc::new(InMemoryStore::new());
    let maintenance = Maintenance {
        sessions: elsewhere.clone(),
        audit: elsewhere,
        clock: clock.clone(),
        audit_retention_days: 0,
        outbox: store.clone(),
        sent_notice_retention_days: SENT_DAYS,
        failed_notice_retention_days: FAILED_DAYS,
        interval: std::time::Duration::from_secs(3600),
    };
    let id = |n: &Notice| n.id.to_string();

    maintenance.purge_once().await.expect("purge");
    let all = listed(&admin, None).await;
    assert!(!all.contains(&id(&sent)), "sent 31 days ago: purged after 30 ({all:?})");
    assert_eq!(listed(&admin, Some("failed")).await, vec![id(&failed)], "kept for 90 days");
    assert!(all.contains(&id(&pending)), "pending: never purged");

    // 89 days after the last attempt: still listed. 91: gone. The pending one stays.
    clock.set(now + TimeDelta::days(58));
    maintenance.purge_once().await.expect("purge");
    assert_eq!(listed(&admin, Some("failed")).await, vec![id(&failed)]);
    clock.set(now + TimeDelta::days(60));
    maintenance.purge_once().await.expect("purge");
    assert!(listed(&admin, Some("failed")).await.is_empty(), "purged after 90 days");
    let pending_now: Vec<String> = listed(&admin, Some("pending")).await;
    assert!(pending_now.contains(&id(&pending)), "pending: never purged ({pending_now:?})");
    let statuses: Value = admin.get("/api/admin/outbox?limit=200").await.expect(StatusCode::OK);
    assert!(
        statuses["notices"].as_array().expect("notices").iter().all(|n| n["status"] == "pending"),
        "only pending notices are left: {statuses}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_failed_notices_stay_listed_until_their_retention_and_pending_ones_forever() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("retention.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let backend = Backend::Url(url.clone());
    retention_through_the_admin_api(backend, url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_failed_notices_stay_listed_until_their_retention_and_pending_ones_forever() {
    let Some(url) = postgres_url().await else { return };
    retention_through_the_admin_api(Backend::Url(url.clone()), url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mariadb_failed_notices_stay_listed_until_their_retention_and_pending_ones_forever() {
    let Some(url) = mysql_url().await else { return };
    retention_through_the_admin_api(Backend::Url(url.clone()), url).await;
}
