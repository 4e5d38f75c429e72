//! SIGTERM lets in-flight requests finish: a slow request (an expensive Argon2 hash) sent
//! before the signal still gets its answer, its change is stored, and the process exits 0;
//! meanwhile the listener is closed, so a new connection is refused (a load balancer moves
//! on to another instance).

mod common;

use std::time::{Duration, Instant};

use common::Env;
use reqwest::StatusCode;
use serde_json::json;
use slugbase_testkit::Api;
use slugbase_testkit::steps::{self, ADMIN_EMAIL, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_sigterm_completes_and_the_process_exits_cleanly() {
    let env = Env::new();
    // Expensive hashing so the setup request is still running when the signal arrives.
    let slow = [("SLUGBASE__ARGON2__MEMORY_KIB", "262144"), ("SLUGBASE__ARGON2__ITERATIONS", "6")];
    let mut server = env.start_with("serve.log", "info,sqlx=warn,sea_orm=warn", &slow).await;
    let api = Api::new(&server.base);
    let base = server.base.clone();
    let body = json!({ "email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD });
    let started = Instant::now();
    let request = tokio::spawn(async move { api.post("/api/auth/setup", body).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!request.is_finished(), "the request must still be in flight at SIGTERM");

    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server.log())
    });
    // The listener closes at once: a new connection is refused, the one in flight is not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let refused = fresh.get(format!("{base}/api/health/live")).send().await;
    assert!(refused.as_ref().is_err_and(reqwest::Error::is_connect), "{refused:?}");
    let reply = request.await.unwrap();
    let elapsed = started.elapsed();
    let (status, log) = status.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "the in-flight request was answered: {reply:?}");
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{log}");
    assert!(log.contains("shutdown requested"), "{log}");
    eprintln!("in-flight request took {elapsed:?}");

    // Its change is durable.
    let server = env.start("serve-2.log", "info,sqlx=warn,sea_orm=warn").await;
    let again = Api::new(&server.base);
    let setup = again.get("/api/auth/setup/status").await;
    assert_eq!(setup.body["initialized"], true, "{setup:?}");
    steps::login(&server.base, ADMIN_EMAIL, PASSWORD).await;
}
