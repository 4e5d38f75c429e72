//! Protocol-level rejections over a raw socket to the real `slugbase` binary: the status,
//! the seed's JSON shape where the server writes the response, and no ERROR line in the
//! log for any of them (each is logged at debug, with one `warn` summary a minute).
//!
//! actix-http answers malformed request heads (bad header bytes, conflicting
//! `Content-Length` / `Transfer-Encoding`, too many headers) and a request head that does
//! not arrive in time itself, with an empty body: those are checked for their status only.
//! A request body that stalls is ours to answer: 408 in the seed's shape.

mod common;

use common::Env;
use serde_json::Value;
use slugbase_testkit::raw::exchange;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_get_their_status_and_are_never_logged_as_errors() {
    let env = Env::new();
    let server = env
        .start_with(
            "serve.log",
            "info,sqlx=warn,sea_orm=warn,slugbase::http_protocol=debug",
            &[
                ("SLUGBASE__SERVER__BODY_READ_TIMEOUT_SECS", "1"),
                ("SLUGBASE__SERVER__HEADER_READ_TIMEOUT_SECS", "1"),
            ],
        )
        .await;
    let base = server.base.clone();

    // A control byte in a header value.
    let bad_byte =
        exchange(&base, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Note: a\x01b\r\n\r\n").await;
    assert_eq!(bad_byte.status, 400, "{bad_byte:?}");

    // Content-Length and Transfer-Encoding together (request smuggling's raw material).
    let conflicting = exchange(
        &base,
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(conflicting.status, 400, "{conflicting:?}");

    // More headers than actix-http parses (96).
    let mut many = String::from("GET /api/health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..120 {
        many.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let too_many = exchange(&base, many.as_bytes()).await;
    assert_eq!(too_many.status, 431, "{too_many:?}");

    // A request head that stops arriving: 408 after server.header_read_timeout_secs.
    let slow_head = exchange(&base, b"GET /api/health HTTP/1.1\r\nHost: x\r\n").await;
    assert_eq!(slow_head.status, 408, "{slow_head:?}");

    // A body that stops arriving: 408 in the seed's shape after
    // server.body_read_timeout_secs, and the connection closed (exchange read to the end).
    let slow_body = exchange(
        &base,
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"email\":",
    )
    .await;
    assert_eq!(slow_body.status, 408, "{slow_body:?}");
    assert_eq!(slow_body.header("connection"), Some("close"), "{slow_body:?}");
    let body: Value = serde_json::from_str(&slow_body.body).unwrap();
    assert_eq!(body["error"], "Request Timeout");
    assert_eq!(body["code"], 408);
    assert_eq!(body["reason"], "REQUEST_TIMEOUT");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));

    // The server still serves.
    let health = reqwest::get(format!("{base}/api/health")).await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);

    // Logs: never ERROR; the errors at debug; one warn summary (all within a minute).
    let log = server.log();
    assert!(!log.contains("ERROR"), "an ERROR line:\n{log}");
    assert!(
        log.lines().any(|l| l.contains("DEBUG") && l.contains("HTTP protocol error")),
        "no debug line for the protocol errors:\n{log}"
    );
    let summaries =
        log.lines().filter(|l| l.contains("WARN") && l.contains("slugbase::http_protocol")).count();
    assert_eq!(summaries, 1, "{log}");
}
