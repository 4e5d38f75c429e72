//! Protocol-level rejections over a raw socket to the real `slugbase` binary: the status,
//! the seed's JSON shape where the server writes the response, and no ERROR line in the
//! log for any of them (each is logged at debug, with one `warn` summary a minute).
//!
//! actix-http answers malformed request heads (bad header bytes, conflicting
//! `Content-Length` / `Transfer-Encoding`, too many headers) and a request head that does
//! not arrive in time itself, with an empty body: those are checked for their status only.
//! A request body that stalls is ours to answer: 408 in the seed's shape.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use common::Env;
use serde_json::Value;

/// Far above every timeout configured here: only a server that never answers fails it.
const GENEROUS: Duration = Duration::from_secs(20);

/// A response read up to the server closing the connection.
#[derive(Debug)]
struct Raw {
    status: u16,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends `bytes`, sends nothing more, and reads until the server closes the connection
/// (a read timeout of [`GENEROUS`] fails the test).
fn exchange(base: &str, bytes: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(GENEROUS)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A reset after the response still ends the connection.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => {
                panic!("no answer and no close ({e}); got {:?}", String::from_utf8_lossy(&raw))
            }
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head: {text:?}"));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Raw { status, headers, body: body.to_owned() }
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
        exchange(&base, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Note: a\x01b\r\n\r\n");
    assert_eq!(bad_byte.status, 400, "{bad_byte:?}");

    // Content-Length and Transfer-Encoding together (request smuggling's raw material).
    let conflicting = exchange(
        &base,
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(conflicting.status, 400, "{conflicting:?}");

    // More headers than actix-http parses (96).
    let mut many = String::from("GET /api/health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..120 {
        many.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let too_many = exchange(&base, many.as_bytes());
    assert_eq!(too_many.status, 431, "{too_many:?}");

    // A request head that stops arriving: 408 after server.header_read_timeout_secs.
    let slow_head = exchange(&base, b"GET /api/health HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(slow_head.status, 408, "{slow_head:?}");

    // A body that stops arriving: 408 in the seed's shape after
    // server.body_read_timeout_secs, and the connection closed (exchange read to the end).
    let slow_body = exchange(
        &base,
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"email\":",
    );
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
