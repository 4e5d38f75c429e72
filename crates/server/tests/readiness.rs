//! The orchestrator's probes on the real binary over a real SQLite file:
//! `GET /api/health/live` answers whatever the database's state, `GET /api/health/ready`
//! only when the database has every migration this build knows. An instance of a newer
//! build started with `database.migrate_on_start = false` stays out of rotation (503
//! `MIGRATIONS_PENDING`, naming the migration) until `slugbase migrate` runs, then becomes
//! ready without a restart; `/api/health` keeps its contract all along.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use reqwest::StatusCode;
use slugbase_testkit::{Api, Reply};

async fn wait_for(api: &Api, path: &str, want: StatusCode) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = api.get(path).await;
        if reply.status == want {
            return reply;
        }
        assert!(Instant::now() < deadline, "{path} stayed {:?}: {}", reply.status, reply.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_database_missing_a_migration_is_not_ready_until_it_is_migrated() {
    let env = Env::new();
    let migrated = env.cli(&["migrate"], None);
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));

    // A migrated database reads as ready.
    let server = env.start("ready.log", "info").await;
    let api = Api::new(&server.base);
    let live = api.get("/api/health/live").await;
    assert_eq!((live.status, live.body["status"].as_str()), (StatusCode::OK, Some("alive")));
    let ready = api.get("/api/health/ready").await;
    assert_eq!((ready.status, ready.body["status"].as_str()), (StatusCode::OK, Some("ready")));
    drop(server);

    // The newest migration's record goes, as if this binary were a newer build than the one
    // that migrated the database.
    let newest = slugbase_migration::names().pop().unwrap();
    let db = rusqlite::Connection::open(&env.db_path).unwrap();
    let removed = db.execute("DELETE FROM seaql_migrations WHERE version = ?1", [&newest]).unwrap();
    assert_eq!(removed, 1);
    drop(db);

    let server = env
        .start_with("pending.log", "info", &[("SLUGBASE__DATABASE__MIGRATE_ON_START", "false")])
        .await;
    let api = Api::new(&server.base);
    let pending = api.get("/api/health/ready").await;
    assert_eq!(pending.status, StatusCode::SERVICE_UNAVAILABLE, "{}", pending.body);
    assert_eq!(pending.body["status"], "not_ready");
    assert_eq!(pending.body["reason"], "MIGRATIONS_PENDING");
    assert_eq!(pending.body["code"], 503);
    assert_eq!(pending.body["details"][0]["field"], "migrations");
    assert_eq!(pending.body["details"][0]["message"], newest.as_str());
    assert_eq!(pending.body["details"].as_array().unwrap().len(), 1);
    assert!(pending.headers.contains_key("retry-after"));
    // Liveness and the SlugBase health route do not depend on the schema.
    assert_eq!(api.get("/api/health/live").await.status, StatusCode::OK);
    assert_eq!(api.get("/api/health").await.status, StatusCode::OK);

    let migrated = env.cli(&["migrate"], None);
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let ready = wait_for(&api, "/api/health/ready", StatusCode::OK).await;
    assert_eq!(ready.body["status"], "ready");
}

#[tokio::test]
async fn a_database_no_instance_has_migrated_is_not_ready() {
    let env = Env::new();
    let server = env
        .start_with("fresh.log", "info", &[("SLUGBASE__DATABASE__MIGRATE_ON_START", "false")])
        .await;
    let api = Api::new(&server.base);
    let ready = api.get("/api/health/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.body);
    assert_eq!(ready.body["reason"], "SCHEMA_UNREADABLE");
    assert_eq!(api.get("/api/health/live").await.status, StatusCode::OK);
}
