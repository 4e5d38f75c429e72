//! Stalled clients over a raw socket: a body that stops arriving gets 408 in the seed's
//! shape and its connection closed after `body_read_timeout`; a head that stops arriving is
//! answered after the configured `header_read_timeout`; a body a route never reads does not
//! keep its connection open either.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use slugbase_testkit::{TestApp, assert_seed_shape};

/// Far above every timeout the tests configure: only a server that never answers fails it.
const GENEROUS: Duration = Duration::from_secs(20);

async fn app_with_timeouts(body: Duration, header: Duration) -> TestApp {
    TestApp::builder()
        .setting("server.body_read_timeout_secs", body.as_secs())
        .setting("server.header_read_timeout_secs", header.as_secs())
        .spawn()
        .await
}

/// Connects to the app and sends `bytes`, then sends nothing more.
async fn send_raw(app: &TestApp, bytes: &[u8]) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// A response read up to the server closing the connection.
struct RawResponse {
    status: u16,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads until end of stream (the server closed the connection), within [`GENEROUS`].
async fn read_until_closed(stream: &mut TcpStream) -> RawResponse {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(GENEROUS, stream.read_to_end(&mut raw)).await;
    assert!(
        read.is_ok_and(|r| r.is_ok()),
        "the connection was not closed; received {:?}",
        String::from_utf8_lossy(&raw)
    );
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head: {text:?}"));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse { status, headers, body: body.as_bytes().to_vec() }
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
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    assert_seed_shape(&body, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["reason"], "REQUEST_TIMEOUT");
    assert_eq!(body["error"], "Request Timeout");
    assert_eq!(body["code"], 408);
}

#[tokio::test]
async fn a_stalled_chunked_body_gets_408_too() {
    let app = app_with_timeouts(Duration::from_secs(1), Duration::from_secs(5)).await;
    let mut stream = send_raw(
        &app,
        b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n9\r\n{\"email\":\r\n",
    )
    .await;
    let res = read_until_closed(&mut stream).await;
    assert_eq!(res.status, 408, "headers {:?}", res.headers);
    let body: Value = serde_json::from_slice(&res.body).unwrap();
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
        let mut stream = send_raw(&app, request.as_bytes()).await;
        let res = read_until_closed(&mut stream).await;
        assert_eq!(res.status, 401, "{framing}: headers {:?}", res.headers);
        let body: Value = serde_json::from_slice(&res.body).unwrap();
        assert_seed_shape(&body, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_stalled_request_head_is_answered_after_the_configured_time() {
    // 1 s configured; actix's own default is 5 s, so an answer well before 5 s shows the
    // setting is applied (the bound is still four times the timeout).
    let app = app_with_timeouts(Duration::from_secs(10), Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut stream = send_raw(&app, b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n").await;
    let res = read_until_closed(&mut stream).await;
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
