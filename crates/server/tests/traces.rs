//! Traces over OTLP/HTTP (`traces.otlp_endpoint`), from the real binary to a small OTLP
//! receiver in the test, read with OpenTelemetry's own protobuf types:
//!
//! - a request's span reaches the collector named after its route template, with its status,
//!   as the child of the caller's W3C `traceparent`; its trace id is in the JSON log lines;
//! - a use case's span is the child of its request's span;
//! - a caller's "not sampled" decision is honoured, and a malformed `traceparent` starts a
//!   new trace;
//! - nothing a client sent as a secret (password, TOTP secret or code) is in what is
//!   exported;
//! - the spans still batched when SIGTERM arrives are sent before the process ends.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, Server};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_testkit::steps;

/// A caller's trace: W3C's own example ids, sampled.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// What an OTLP/HTTP collector received: each request's raw body (protobuf).
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Vec<u8>>>>);

impl Received {
    fn bodies(&self) -> Vec<Vec<u8>> {
        self.0.lock().unwrap().clone()
    }

    /// Every span received so far, with its service's `service.name`.
    fn spans(&self) -> Vec<(String, Span)> {
        let mut spans = Vec::new();
        for body in self.bodies() {
            let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
            for resource_spans in request.resource_spans {
                let resource = resource_spans.resource.unwrap_or_default();
                let service = string_attribute(&resource.attributes, "service.name");
                for scope in resource_spans.scope_spans {
                    spans.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
                }
            }
        }
        spans
    }

    /// Waits until a span named `name` has arrived.
    async fn span_named(&self, name: &str) -> Span {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((_, span)) = self.spans().into_iter().find(|(_, span)| span.name == name) {
                return span;
            }
            assert!(
                Instant::now() < deadline,
                "no span {name:?} reached the collector; received: {:?}",
                self.spans().iter().map(|(_, span)| &span.name).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An OTLP/HTTP receiver on 127.0.0.1: answers every `POST /v1/traces` with 200 and keeps
/// its body. Returns its base URL.
fn collector() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let received = Received::default();
    let keep = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            assert!(request_line.starts_with("POST /v1/traces "), "{request_line}");
            keep.0.lock().unwrap().push(body);
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                      content-length: 0\r\nconnection: close\r\n\r\n",
                )
                .unwrap();
        }
    });
    (base, received)
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> String {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|value| match value {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

/// The server exporting to `collector`, logging JSON lines, batches sent after `delay_ms`.
async fn traced_server(env: &Env, collector: &str, delay_ms: &str) -> Server {
    env.start_with(
        "traces.log",
        "info,sqlx=warn,sea_orm=warn",
        &[
            ("SLUGBASE__TRACES__OTLP_ENDPOINT", collector),
            ("SLUGBASE__LOG__FORMAT", "json"),
            ("OTEL_BSP_SCHEDULE_DELAY", delay_ms),
        ],
    )
    .await
}

/// The JSON log lines of requests to `route`.
fn request_lines(server: &Server, route: &str) -> Vec<Value> {
    server
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "request" && line["http.route"] == route)
        .collect()
}

/// The trace id in a JSON line's request span.
fn logged_trace_id(line: &Value) -> Option<String> {
    line["spans"].as_array()?.iter().find_map(|span| Some(span["trace_id"].as_str()?.to_owned()))
}

#[tokio::test]
async fn spans_reach_the_collector_in_the_callers_trace_with_their_trace_id_in_the_log() {
    let (endpoint, received) = collector();
    let env = Env::new();
    let server = traced_server(&env, &endpoint, "100").await;
    let client = reqwest::Client::new();
    let live = format!("{}/api/health/live", server.base);

    // A caller's trace, sampled: the request's span is its child.
    let answer = client
        .get(&live)
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let span = received.span_named("GET /api/health/live").await;
    assert_eq!(hex(&span.trace_id), TRACE_ID);
    assert_eq!(hex(&span.parent_span_id), PARENT_SPAN_ID);
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(string_attribute(&span.attributes, "http.route"), "/api/health/live");
    assert_eq!(string_attribute(&span.attributes, "http.response.status_code"), "200");
    let (service, _) =
        received.spans().into_iter().find(|(_, s)| s.span_id == span.span_id).unwrap();
    assert_eq!(service, "slugbase");
    let lines = request_lines(&server, "/api/health/live");
    assert!(
        lines.iter().any(|line| logged_trace_id(line).as_deref() == Some(TRACE_ID)),
        "the request's log line carries the caller's trace id: {lines:?}"
    );

    // The caller decided not to sample: nothing of that trace is exported.
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    let answer = client
        .get(&live)
        .header("traceparent", format!("00-{unsampled}-b7ad6b7169203331-00"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // A malformed traceparent is no trace: a new one starts.
    let answer = client
        .post(format!("{}/api/auth/login", server.base))
        .header("traceparent", "00-zzzz-not-a-trace-01")
        .json(&json!({"email": "nobody@example.com", "password": "wrong horse 42 battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let login = received.span_named("POST /api/auth/login").await;
    assert_eq!(string_attribute(&login.attributes, "http.response.status_code"), "401");
    assert!(login.parent_span_id.is_empty(), "a new trace's root");
    let login_lines = request_lines(&server, "/api/auth/login");
    assert_eq!(
        logged_trace_id(&login_lines[0]).as_deref(),
        Some(hex(&login.trace_id).as_str()),
        "the log line names the new trace"
    );

    // A use case's span is its request's child; the secrets it handles are not exported.
    let admin = steps::setup_admin(&server.base).await;
    let enrolled = steps::enroll_mfa(&admin, steps::wall_code).await;
    let confirm = received.span_named("enroll_confirm").await;
    let request = received
        .spans()
        .into_iter()
        .map(|(_, span)| span)
        .find(|span| span.span_id == confirm.parent_span_id)
        .expect("the use case's parent span was exported");
    assert!(request.name.starts_with("POST /api/auth/mfa/"), "{}", request.name);
    assert_eq!(request.trace_id, confirm.trace_id);

    assert!(
        received.spans().iter().all(|(_, span)| hex(&span.trace_id) != unsampled),
        "the caller's unsampled trace stays unexported"
    );
    let exported = received.bodies().concat();
    for secret in [
        steps::PASSWORD,
        "wrong horse 42 battery",
        enrolled.secret.as_str(),
        enrolled.backup_codes[0].as_str(),
        "otpauth",
    ] {
        assert!(
            !exported.windows(secret.len()).any(|window| window == secret.as_bytes()),
            "{secret:?} was exported"
        );
    }
}

#[tokio::test]
async fn the_spans_still_batched_at_sigterm_are_sent_before_the_process_ends() {
    let (endpoint, received) = collector();
    let env = Env::new();
    // A batch would wait a minute: only the shutdown's flush can send it in time.
    let mut server = traced_server(&env, &endpoint, "60000").await;
    let answer = reqwest::get(format!("{}/api/version", server.base)).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(received.spans().is_empty(), "nothing sent before the batch is due");
    assert!(server.terminate().success());
    assert!(
        received.spans().iter().any(|(_, span)| span.name == "GET /api/version"),
        "the last batch was sent at shutdown; log:\n{}",
        server.log()
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
