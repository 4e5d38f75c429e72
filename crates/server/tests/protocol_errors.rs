//! Protocol-level rejections over a raw socket to the real `slugbase` binary: the status,
//! the JSON error shape of `docs/api.md`, and no ERROR line in the log for any of them
//! (each is logged at debug, with one `warn` summary a minute).
//!
//! actix-http answers malformed request heads (bad header bytes, conflicting
//! `Content-Length` / `Transfer-Encoding`, too many headers) itself, with an empty body;
//! the server's socket wrapper (`slugbase_web`'s `connection` module) puts the error shape
//! in its place. A request head that does not arrive in time (the server's own deadline)
//! and a request body that stalls are ours to answer: 408 in the error shape.

mod common;

use common::Env;
use serde_json::Value;
use slugbase_testkit::raw::{RawResponse, exchange};

/// A protocol error's answer: `status`, `reason`, the error shape, connection closed.
fn assert_shaped(res: &RawResponse, status: u16, reason: &str) {
    assert_eq!(res.status, status, "{res:?}");
    assert_eq!(res.header("connection"), Some("close"), "{res:?}");
    assert!(res.header("content-type").is_some_and(|v| v.starts_with("application/json")));
    let body: Value = serde_json::from_str(&res.body).unwrap_or_else(|e| panic!("{e}: {res:?}"));
    let code = reqwest::StatusCode::from_u16(status).expect("a status");
    assert_eq!(body["error"], code.canonical_reason().expect("a reason phrase"), "{body}");
    assert_eq!(body["code"], status, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

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
    assert_shaped(&bad_byte, 400, "MALFORMED_REQUEST");

    // Content-Length and Transfer-Encoding together (request smuggling's raw material).
    let conflicting = exchange(
        &base,
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert_shaped(&conflicting, 400, "MALFORMED_REQUEST");

    // More headers than actix-http parses (96).
    let mut many = String::from("GET /api/health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..120 {
        many.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let too_many = exchange(&base, many.as_bytes()).await;
    assert_shaped(&too_many, 431, "HEADERS_TOO_LARGE");

    // A head larger than actix-http buffers (128 KiB).
    let huge =
        format!("GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(132 * 1024));
    let too_large = exchange(&base, huge.as_bytes()).await;
    assert_shaped(&too_large, 431, "HEADERS_TOO_LARGE");

    // Not HTTP/1.x at all.
    let garbage = exchange(&base, b"HELLO\r\n\r\n").await;
    assert_shaped(&garbage, 400, "MALFORMED_REQUEST");
    let version = exchange(&base, b"GET /api/health HTTP/2.0\r\nHost: x\r\n\r\n").await;
    assert_shaped(&version, 400, "MALFORMED_REQUEST");

    // A request head that stops arriving: 408 after server.header_read_timeout_secs.
    let slow_head = exchange(&base, b"GET /api/health HTTP/1.1\r\nHost: x\r\n").await;
    assert_shaped(&slow_head, 408, "REQUEST_TIMEOUT");

    // A body that stops arriving: 408 in the error shape after
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
