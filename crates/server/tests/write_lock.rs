//! A SQLite write lock held by someone else (another process, a backup, a long migration):
//! writes answer 503 `SERVICE_UNAVAILABLE` with `Retry-After` once the busy timeout runs
//! out, while reads — authenticated ones and `GET /api/health` — keep answering from the
//! read pool instead of queueing behind the writers for the write pool; health says that
//! writes are not getting through; and everything works again the moment the lock is gone.
//!
//! The service runs on a real SQLite file; the lock is a `BEGIN IMMEDIATE` on a `rusqlite`
//! connection of the test's own. Sixteen writers keep the write pool (4 connections)
//! exhausted for the whole time the reads are made.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use serde_json::json;
use slugbase_server::config::MailTransport;
use slugbase_testkit::{Api, Reply, TestApp};

const WRITERS: usize = 16;

/// A write: a new API token for the caller.
async fn write(api: &Api, n: usize) -> Reply {
    api.post("/api/tokens", json!({"name": format!("writer {n}")})).await
}

fn assert_unavailable_with_retry_after(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.reason(), "SERVICE_UNAVAILABLE", "{reply:?}");
    assert_eq!(reply.body["code"], 503, "{reply:?}");
    assert!(reply.body["message"].is_string() && reply.body["error"].is_string(), "{reply:?}");
    let wait = reply.retry_after().unwrap_or_else(|| panic!("no Retry-After: {reply:?}"));
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_write_lock_fails_writes_with_retry_after_while_reads_and_health_answer() {
    let app = TestApp::builder()
        .with_config(|c| {
            c.database.sqlite_busy_timeout_ms = 1000;
            c.database.acquire_timeout_secs = 1;
            c.mail.transport = MailTransport::Off;
        })
        .spawn()
        .await;
    let mut session = app.setup_admin().await;
    session.make_token("reader").await;
    let bearer = session.clone();
    let file = app.dir.path().join("slugbase.db");

    // Someone else takes the write lock and keeps it.
    let holder = rusqlite::Connection::open(&file).expect("open the file");
    holder.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            let (api, stop) = (bearer.clone(), stop.clone());
            tokio::spawn(async move {
                let mut replies = Vec::new();
                while !stop.load(Ordering::SeqCst) || replies.is_empty() {
                    replies.push(write(&api, n).await);
                }
                replies
            })
        })
        .collect();

    // Reads, while the writers keep every write connection busy waiting for the lock.
    for _ in 0..5 {
        for path in ["/api/auth/me", "/api/auth/mfa/status", "/api/tokens", "/api/auth/sessions"] {
            let reply = bearer.get(path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path} while writes wait: {reply:?}");
        }
        let health = bearer.get("/api/health").await;
        assert_eq!(health.status, StatusCode::OK, "health while writes wait: {health:?}");
        assert_eq!(health.body["status"], "degraded", "{health:?}");
        assert_eq!(health.body["reason"], "DATABASE_WRITES_UNAVAILABLE", "{health:?}");
        assert!(health.body["message"].is_string(), "{health:?}");
    }

    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        for reply in writer.await.expect("writer") {
            assert_unavailable_with_retry_after(&reply);
        }
    }

    // The lock goes: writes and health recover at once, without a restart.
    holder.execute_batch("ROLLBACK").expect("release the write lock");
    assert_eq!(write(&bearer, 99).await.status, StatusCode::CREATED);
    let health = bearer.get("/api/health").await;
    assert_eq!((health.status, &health.body), (StatusCode::OK, &json!({"status": "ok"})));
    // What was written is read back at once (reads and writes use different connections).
    let tokens = bearer.get("/api/tokens").await.expect(StatusCode::OK);
    let names = tokens.to_string();
    assert!(names.contains("writer 99"), "read your own write: {names}");
    drop(session);
}
