//! Stalled clients over a raw socket: a body that stops arriving gets 408 in the contract's
//! error shape and its connection closed after `body_read_timeout`; a head that stops
//! arriving is answered after the configured `header_read_timeout` — the first on a
//! connection and every later one (keep-alive slowloris); an idle kept-alive connection is
//! closed after `keep_alive_timeout`; a body a route never reads does not keep its
//! connection open either; pipelined requests are still served.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use slugbase_testkit::raw::{GENEROUS, exchange, read_response, read_until_closed};
use slugbase_testkit::{TestApp, assert_seed_shape};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// `duration` in whole seconds, as the settings take it.
fn secs(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).expect("a timeout of a test fits in u32 seconds")
}

async fn app_with_timeouts(body: Duration, header: Duration) -> TestApp {
    TestApp::builder()
        .with_config(move |c| {
            c.server.body_read_timeout_secs = secs(body);
            c.server.header_read_timeout_secs = secs(header);
        })
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

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// A connection that made one complete request (answered), then trickles the next request
/// head one header line per 250 ms, for longer than [`GENEROUS`]: only a server that
/// closes it ends the trickle in time. The answer (if any) is read to the close.
async fn trickle_after_one_request(
    app: &TestApp,
) -> (tokio::net::tcp::OwnedReadHalf, tokio::task::JoinHandle<()>) {
    let stream = send_raw(app, HEALTH).await;
    let (mut read, mut write) = stream.into_split();
    let first = read_response(&mut read).await;
    assert_eq!(first.status, 200, "{first:?}");
    let trickle = tokio::spawn(async move {
        if write.write_all(b"GET /api/health HTTP/1.1\r\n").await.is_err() {
            return;
        }
        for i in 0..120 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if write.write_all(format!("X-Line-{i}: x\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    });
    (read, trickle)
}

#[tokio::test]
async fn a_later_request_head_trickled_in_gets_408_in_the_seed_shape_and_the_connection_closed() {
    // Keep-alive far longer than the head timeout: only the head deadline can end this.
    let app = TestApp::builder()
        .with_config(|c| {
            c.server.header_read_timeout_secs = 1;
            c.server.keep_alive_timeout_secs = 60;
        })
        .spawn()
        .await;
    let (mut read, trickle) = trickle_after_one_request(&app).await;
    let res = read_until_closed(&mut read).await;
    trickle.abort();
    assert_eq!(res.status, 408, "{res:?}");
    assert_eq!(res.header("connection"), Some("close"), "{res:?}");
    let body: Value = serde_json::from_str(&res.body).unwrap();
    assert_seed_shape(&body, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["reason"], "REQUEST_TIMEOUT");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let app = TestApp::builder()
        .with_config(|c| {
            c.server.header_read_timeout_secs = 60;
            c.server.keep_alive_timeout_secs = 1;
        })
        .spawn()
        .await;
    let mut stream = send_raw(&app, HEALTH).await;
    let first = read_response(&mut stream).await;
    assert_eq!(first.status, 200, "{first:?}");
    // Send nothing more: the server closes (end of stream, nothing else written).
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(GENEROUS, stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the idle connection was still open after {GENEROUS:?}");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[tokio::test]
async fn new_clients_are_served_while_max_connections_sockets_trickle_heads() {
    // One connection per worker thread: as many trickling sockets fill every slot.
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let app = TestApp::builder()
        .with_config(move |c| {
            c.server.max_connections = workers;
            c.server.header_read_timeout_secs = 1;
            c.server.keep_alive_timeout_secs = 60;
        })
        .spawn()
        .await;
    let mut slow = Vec::new();
    for _ in 0..workers {
        slow.push(trickle_after_one_request(&app).await);
    }
    // A new client waits in the backlog until the head deadline frees a slot.
    let res = tokio::time::timeout(GENEROUS, async {
        let mut stream = send_raw(
            &app,
            b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
        read_until_closed(&mut stream).await
    })
    .await
    .expect("a new client was not served while the slow sockets held every connection");
    assert_eq!(res.status, 200, "{res:?}");
    for (_, trickle) in slow {
        trickle.abort();
    }
}

#[tokio::test]
async fn pipelined_requests_and_a_large_response_are_still_served() {
    let app =
        TestApp::builder().with_config(|c| c.server.header_read_timeout_secs = 1).spawn().await;
    let res = exchange(
        &app.address,
        b"GET /openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(res.status, 200, "{:?}", res.headers);
    let length: usize = res.header("content-length").unwrap().parse().unwrap();
    assert!(length > 10_000, "the document is {length} bytes");
    // The first body is the document, whole; two more 200s follow it.
    assert!(res.body.len() > length, "{} bytes after the first head", res.body.len());
    let (document, rest) = res.body.split_at(length);
    serde_json::from_str::<Value>(document).expect("the whole document");
    assert_eq!(rest.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{rest}");
}

#[tokio::test]
async fn a_partial_head_sent_behind_a_complete_request_then_nothing_does_not_hold_the_connection() {
    // The partial head is read with the first request, so no byte arrives after the
    // response to start a head deadline: the keep-alive timer must still close it.
    let app = TestApp::builder()
        .with_config(|c| {
            c.server.header_read_timeout_secs = 1;
            c.server.keep_alive_timeout_secs = 3;
        })
        .spawn()
        .await;
    let mut stream = send_raw(
        &app,
        b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\nGET /api/health HTTP/1.1\r\n",
    )
    .await;
    let first = read_response(&mut stream).await;
    assert_eq!(first.status, 200, "{first:?}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(GENEROUS, stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection was still open after {GENEROUS:?}");
}
