//! Logging: human-readable lines in development, JSON lines in production, filtered by
//! `RUST_LOG` (or `log.filter` when it is unset). Logs go to standard error, so a command's
//! output on standard output (a new API token, generated keys) stays clean.
//!
//! Connection-level HTTP errors (a malformed request head, conflicting `Content-Length` and
//! `Transfer-Encoding`, a client gone mid-request) are logged by actix-http at ERROR,
//! so any client could write ERROR lines at will. [`ProtocolErrors`] takes them out of the
//! output, re-logs each at debug and adds a `warn` summary at most once a minute.

use std::io::IsTerminal as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, fmt};

use crate::config::LogFormat;

/// Target of the re-logged protocol errors and of their summary.
pub const PROTOCOL_TARGET: &str = "slugbase::http_protocol";

/// Shortest time between two summaries.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// A layer that exports spans (with the `otlp` feature, the trace exporter's).
pub type TracesLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber, with `traces` when spans are exported. A second call
/// does nothing (tests).
///
/// A JSON line lists the spans it was logged in (`spans`, outermost first), so a line
/// logged inside a use case's span still carries the request's id and trace id.
pub fn init(format: LogFormat, default_filter: &str, traces: Option<TracesLayer>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let output = match format {
        LogFormat::Pretty => {
            fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).with_target(true).boxed()
        }
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .boxed(),
    };
    // An error means a subscriber is already installed: keep it.
    let _ = tracing_subscriber::registry()
        .with(traces)
        .with(filter)
        .with(output.with_filter(filter_fn(|meta| !is_protocol_error(meta))))
        .with(ProtocolErrors::default())
        .try_init();
}

/// An actix-http warning or error about one client connection: its HTTP/1 dispatcher and
/// decoder log only about the connection they serve (a request head that does not parse,
/// a client that went away, a response that could not be written to it).
fn is_protocol_error(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::WARN && meta.target().starts_with("actix_http::h1::")
}

/// Re-logs actix-http's connection errors at debug and summarises them at warn, at most
/// once per [`SUMMARY_INTERVAL`] (the first one at once, then the count since the last
/// summary when the next error comes after the interval).
#[derive(Debug, Default)]
pub struct ProtocolErrors {
    summary: Mutex<Summary>,
}

#[derive(Debug, Default)]
struct Summary {
    /// Errors since the last summary.
    unreported: u64,
    last: Option<Instant>,
}

impl ProtocolErrors {
    /// Counts one error; the number to report when a summary is due.
    fn count(&self, now: Instant) -> Option<u64> {
        let mut summary = self.summary.lock().unwrap_or_else(PoisonError::into_inner);
        summary.unreported += 1;
        if summary.last.is_some_and(|last| now.duration_since(last) < SUMMARY_INTERVAL) {
            return None;
        }
        summary.last = Some(now);
        Some(std::mem::take(&mut summary.unreported))
    }
}

impl<S: Subscriber> Layer<S> for ProtocolErrors {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !is_protocol_error(meta) {
            return;
        }
        let mut message = Message::default();
        event.record(&mut message);
        tracing::debug!(
            target: PROTOCOL_TARGET,
            error = %message.0,
            source = meta.target(),
            "HTTP protocol error; connection closed"
        );
        if let Some(count) = self.count(Instant::now()) {
            tracing::warn!(
                target: PROTOCOL_TARGET,
                count,
                "HTTP protocol errors from clients since the last summary (malformed requests, \
                 connections cut short); at most one such line a minute, each error at debug \
                 level under target {PROTOCOL_TARGET}"
            );
        }
    }
}

/// An event's `message` field.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_comes_at_once_then_at_most_once_a_minute_with_the_count_since() {
        let layer = ProtocolErrors::default();
        let start = Instant::now();
        assert_eq!(layer.count(start), Some(1));
        assert_eq!(layer.count(start + Duration::from_secs(1)), None);
        assert_eq!(layer.count(start + Duration::from_secs(59)), None);
        assert_eq!(layer.count(start + Duration::from_secs(60)), Some(3));
        assert_eq!(layer.count(start + Duration::from_secs(61)), None);
        assert_eq!(layer.count(start + Duration::from_secs(200)), Some(2));
    }
}
