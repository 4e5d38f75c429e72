//! `GET /api/health` follows the database: 503 in the error shape (with `"status":
//! "unavailable"` and `Retry-After`, as every 503) while PostgreSQL is down, 200 again once
//! it is back — without restarting the service; readiness follows it, liveness does not. Runs the real binary
//! against its own throwaway PostgreSQL cluster (started with the project's
//! `scripts/start-postgres.sh`, which needs root); skipped elsewhere unless `CI` is set.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Env;
use reqwest::StatusCode;
use slugbase_testkit::steps::{self, ADMIN_EMAIL, PASSWORD};
use slugbase_testkit::{Api, Reply};

/// A PostgreSQL cluster of this test's own (stopping the shared one would break other tests).
struct Cluster {
    port: u16,
    base: PathBuf,
}

impl Cluster {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/start-postgres.sh")
    }

    fn run(&self, action: &str) -> String {
        let output = Command::new("bash")
            .arg(Self::script())
            .arg(action)
            .env("PG_PORT", self.port.to_string())
            .env("PG_BASE", &self.base)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "start-postgres.sh {action} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn start(&self) -> String {
        let out = self.run("start");
        out.lines()
            .find_map(|l| l.strip_prefix("export DATABASE_URL="))
            .unwrap_or_else(|| panic!("no DATABASE_URL in {out}"))
            .trim()
            .to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Self::script())
            .arg("destroy")
            .env("PG_PORT", self.port.to_string())
            .env("PG_BASE", &self.base)
            .output();
    }
}

fn can_run_postgres() -> bool {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout).unwrap_or_default();
    String::from_utf8_lossy(&uid).trim() == "0"
}

async fn wait_for_health(api: &Api, want: StatusCode) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = api.get("/api/health").await;
        if reply.status == want {
            return reply;
        }
        assert!(Instant::now() < deadline, "health stayed {:?}, wanted {want}", reply.status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_while_the_database_is_down_and_200_once_it_is_back() {
    if !can_run_postgres() && std::env::var_os("CI").is_none() {
        eprintln!("skipped: starting a PostgreSQL cluster needs root");
        return;
    }
    let port = common::free_port();
    let cluster =
        Cluster { port, base: std::env::temp_dir().join(format!("slugbase-health-pg-{port}")) };
    let url = cluster.start();

    let env = Env::new();
    let server = env
        .start_with(
            "serve.log",
            "info,sqlx=warn,sea_orm=warn",
            &[("SLUGBASE__DATABASE__URL", &url)],
        )
        .await;
    let api = steps::setup_admin(&server.base).await;

    cluster.run("stop");
    let down = wait_for_health(&api, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(down.body["code"], 503, "{down:?}");
    assert_eq!(down.body["status"], "unavailable", "{down:?}");
    assert_eq!(down.body["reason"], "DATABASE_UNAVAILABLE", "{down:?}");
    assert!(down.retry_after().is_some_and(|s| s >= 1), "Retry-After on a 503: {down:?}");
    // A request that needs the database is 503 with Retry-After too.
    let me = api.get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE, "{me:?}");
    assert!(me.retry_after().is_some_and(|s| s >= 1), "Retry-After on a 503: {me:?}");
    assert!(down.body["error"].is_string() && down.body["message"].is_string(), "{down:?}");
    assert!(!down.body.to_string().contains("postgres"), "no driver detail leaks: {down:?}");
    // The orchestrator's probes: out of rotation, but alive (no restart for an outage).
    let ready = api.get("/api/health/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");
    assert_eq!(
        (ready.body["status"].as_str(), ready.body["reason"].as_str()),
        (Some("not_ready"), Some("DATABASE_UNAVAILABLE"))
    );
    assert_eq!(api.get("/api/health/live").await.status, StatusCode::OK);

    cluster.start();
    wait_for_health(&api, StatusCode::OK).await;
    assert_eq!(api.get("/api/health/ready").await.status, StatusCode::OK);
    // The service works again without a restart.
    steps::login(&server.base, ADMIN_EMAIL, PASSWORD).await;
}
