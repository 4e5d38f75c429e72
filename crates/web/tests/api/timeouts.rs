//! Stalled clients over a raw socket: a body that stops arriving gets 408 in the seed's
//! shape and its connection closed after `body_read_timeout`; a head that stops arriving is
//! answered after the configured `header_read_timeout`; a body a route never reads does not
//! keep its connection open either.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use slugbase_testkit::raw::{GENEROUS, exchange, read_until_closed};
use slugbase_testkit::{TestApp, assert_seed_shape};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

async fn app_with_timeouts(body: Duration, header: Duration) -> TestApp {
    TestApp::builder()
        .setting("server.body_read_timeout_secs", body.as_secs())
        .setting("server.header_read_timeout_secs", header.as_secs())
        .spawn()
        .await
}

/// Connects to the app and sends `bytes`, then sends nothing more.
async fn send_raw(app: &TestApp, bytes: &[u8]) -> TcpStream {
    slugbase_testkit::raw::send(&app.address, bytes).await
}

#[tokio::test]
async fn a_stalled_body_gets_408_in_the_seed_shape_and_its_connection_closed() {
    // Arrange
    let app = app_with_timeouts(Duration::from_secs(1), Duration::from_secs(5)).await;

    // Act: announce 100 bytes, send 10, then wait.
    let mut stream = send_raw(
        &app,
        b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"email\":",
    )
    .await;
    let started = Instant::now();
    let res = read_until_closed(&mut stream).await;

    // Assert: 408, JSON, Connection: close, and the socket at end of stream.
    assert!(started.elapsed() < GENEROUS);
    assert_eq!(res.status, 408, "headers {:?}", res.headers);
    assert!(res.header("content-type").is_some_and(|v| v.starts_with("application/json")));
    assert_eq!(res.header("connection"), Some("close"));
    let body: Value = serde_json::from_str(&res.body).unwrap();
    assert_seed_shape(&body, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["reason"], "REQUEST_TIMEOUT");
    assert_eq!(body["error"], "Request Timeout");
    assert_eq!(body["code"], 408);
}

#[tokio::test]
async fn a_stalled_chunked_body_gets_408_too() {
    let app = app_with_timeouts(Duration::from_secs(1), Duration::from_secs(5)).await;
    let res = exchange(
        &app.address,
        b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n9\r\n{\"email\":\r\n",
    )
    .await;
    assert_eq!(res.status, 408, "headers {:?}", res.headers);
    let body: Value = serde_json::from_str(&res.body).unwrap();
    assert_seed_shape(&body, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["reason"], "REQUEST_TIMEOUT");
}

#[tokio::test]
async fn a_stalled_body_on_a_route_that_never_reads_it_does_not_keep_the_connection() {
    // Without credentials the disable endpoint answers 401 before reading its body; a
    // dropped chunked body would otherwise be drained, waiting on a client sending nothing.
    let app = app_with_timeouts(Duration::from_secs(1), Duration::from_secs(5)).await;
    for (framing, first) in [
        ("Content-Length: 100", "{\"code\":"),
        ("Transfer-Encoding: chunked", "8\r\n{\"code\":\r\n"),
    ] {
        let request = format!(
            "POST /api/auth/mfa/disable HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: application/json\r\n{framing}\r\n\r\n{first}"
        );
        let res = exchange(&app.address, request.as_bytes()).await;
        assert_eq!(res.status, 401, "{framing}: headers {:?}", res.headers);
        let body: Value = serde_json::from_str(&res.body).unwrap();
        assert_seed_shape(&body, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_stalled_request_head_is_answered_after_the_configured_time() {
    // 1 s configured; actix's own default is 5 s, so an answer well before 5 s shows the
    // setting is applied (the bound is still four times the timeout).
    let app = app_with_timeouts(Duration::from_secs(10), Duration::from_secs(1)).await;
    let started = Instant::now();
    let res = exchange(&app.address, b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n").await;
    assert_eq!(res.status, 408);
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_that_arrives_in_time_is_served_normally() {
    let app = app_with_timeouts(Duration::from_secs(1), Duration::from_secs(5)).await;
    let body = br#"{"email":"nobody@example.com","password":"wrong password"}"#;
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = send_raw(&app, head.as_bytes()).await;
    // A short pause between head and body, well inside the timeout.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(body).await.unwrap();
    let res = read_until_closed(&mut stream).await;
    assert_eq!(res.status, 401, "headers {:?}", res.headers);
}
