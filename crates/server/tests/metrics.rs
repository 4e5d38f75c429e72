//! Prometheus metrics on their own listener (`metrics.listen`), scraped from the real binary
//! and read with a real Prometheus text parser: requests by method, route template and
//! status, latency histograms, authentications by method and outcome, the build. Nothing a client sent reaches a label, and the
//! public port does not serve them.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

mod common;

use common::Env;
use prometheus_parse::{Sample, Scrape, Value};
use reqwest::StatusCode;
use serde_json::json;
use slugbase_testkit::Api;

fn scrape_text(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap()
}

fn value(sample: &Sample) -> f64 {
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
        Value::Summary(_) => 0.0,
    }
}

fn requests<'a>(scrape: &'a Scrape, route: &str, status: &str) -> Option<&'a Sample> {
    scrape.samples.iter().find(|s| {
        s.metric == "slugbase_http_requests_total"
            && s.labels.get("route") == Some(route)
            && s.labels.get("status") == Some(status)
    })
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status_on_the_metrics_listener_only() {
    let env = Env::new();
    let metrics_port = common::free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let server =
        env.start_with("metrics.log", "info", &[("SLUGBASE__METRICS__LISTEN", &listen)]).await;
    let api = Api::new(&server.base);
    for _ in 0..3 {
        assert_eq!(api.get("/api/health/live").await.status, StatusCode::OK);
    }
    let secret_path = "/api/auth/passkeys/00000000-0000-0000-0000-000000000000?token=sb_s3cret";
    api.get(secret_path).await;
    api.get("/no/such/route/ann@example.com").await;
    let login = api
        .post("/api/auth/login", json!({"email": "ann@example.com", "password": "wrong-horse-1"}))
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);

    let stranger = Api::with_bearer(&server.base, "sb_not_a_token");
    assert_eq!(stranger.get("/api/tokens").await.status, StatusCode::UNAUTHORIZED);

    let scraped = reqwest::get(format!("http://{listen}/metrics")).await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    let content_type = scraped.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = scraped.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "OpenMetrics text ends with # EOF");
    let scrape = scrape_text(&text);

    let live = requests(&scrape, "/api/health/live", "200").unwrap();
    assert!(value(live) >= 3.0, "{live:?}");
    assert_eq!(live.labels.get("method"), Some("GET"));
    let refused = requests(&scrape, "/api/auth/login", "401").unwrap();
    assert_eq!(value(refused), 1.0);
    assert!(requests(&scrape, "(unmatched)", "404").is_some(), "{text}");
    let latency = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "slugbase_http_request_duration_seconds"
                && s.labels.get("route") == Some("/api/auth/login")
        })
        .unwrap();
    assert!(matches!(latency.value, Value::Histogram(_)), "{latency:?}");
    assert!(value(latency) >= 1.0);
    let authentications = |method: &str, outcome: &str| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "slugbase_authentications_total"
                    && s.labels.get("method") == Some(method)
                    && s.labels.get("outcome") == Some(outcome)
            })
            .map(value)
    };
    assert_eq!(authentications("password", "failure"), Some(1.0), "{text}");
    assert_eq!(authentications("token", "failure"), Some(1.0), "{text}");
    assert_eq!(authentications("password", "success"), None, "{text}");
    // The adapters' readings: Argon2's permits (the refused login ran the dummy hash), the
    // database pool and the write transactions.
    let reading = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(value)
            .unwrap_or_else(|| panic!("{name}:\n{text}"))
    };
    assert!(reading("slugbase_argon2_permits") >= 1.0);
    assert!(reading("slugbase_argon2_hashes_total") >= 1.0);
    assert!(reading("slugbase_argon2_permit_wait_seconds_total") >= 0.0);
    assert!(reading("slugbase_db_pool_connections") >= 1.0);
    assert!(reading("slugbase_db_pool_connections_in_use") >= 0.0);
    // The refused login's audit event was written in a write transaction.
    assert!(reading("slugbase_db_write_transactions_total") >= 1.0);
    assert!(reading("slugbase_db_write_wait_seconds_total") > 0.0);
    // The outbox's standing (nothing is waiting: mail is off in the test profile).
    assert_eq!(reading("slugbase_outbox_pending"), 0.0);
    assert_eq!(reading("slugbase_outbox_failed"), 0.0);
    assert_eq!(reading("slugbase_outbox_oldest_pending_age_seconds"), 0.0);
    let build = scrape.samples.iter().find(|s| s.metric == "slugbase_build_info").unwrap();
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));

    // Nothing a client sent is a label: not a path, not a query, not an e-mail address.
    for needle in ["sb_s3cret", "ann@example.com", "no/such/route", "00000000-0000"] {
        assert!(!text.contains(needle), "{needle} leaked into the metrics:\n{text}");
    }
    // The public listener does not serve them.
    assert_eq!(api.get("/metrics").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_on_the_public_port_are_refused_at_start() {
    let env = Env::new();
    let port = common::free_port();
    let output = env.cli_with(
        &["serve"],
        &[
            ("SLUGBASE__SERVER__PORT", &port.to_string()),
            ("SLUGBASE__METRICS__LISTEN", &format!("127.0.0.1:{port}")),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("metrics.listen must not be the public listener's port"), "{stderr}");
}
