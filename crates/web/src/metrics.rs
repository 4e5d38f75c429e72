//! Prometheus metrics of the HTTP service, served in the OpenMetrics text format on a listener
//! of their own (`metrics.listen`, off by default) — never on the public port.
//!
//! No label carries anything a client chose freely: the route is the matched route's
//! template (`/api/auth/passkeys/{id}`, or `(unmatched)`), the method one of the methods the
//! API uses (or `other`), the status a number. So no user, address, path or secret reaches
//! a label, and a scanner cannot grow the series without bound.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Data};
use actix_web::{App, HttpResponse, HttpServer};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The media type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One series of requests: method, route template, status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// One series of latencies: method and route template.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// One series of authentications: how (`password`, `totp`, `backup_code`, `passkey`,
/// `oidc`, `token`) and with what outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    method: &'static str,
    outcome: &'static str,
}

/// One series of attempt-limit refusals (429): the route template.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    route: String,
}

/// Latency buckets: 1 ms to about 8 s, doubling (an Argon2 check sits near 50–500 ms).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

/// Whether a [`Metrics::read_at_scrape`] value only grows (a counter) or goes up and down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadingKind {
    /// Goes up and down (permits in use, connections open).
    Gauge,
    /// Only grows (hashes started, seconds waited); its name gets `_total`.
    Counter,
}

/// A value read from an adapter at each scrape.
struct Reading {
    name: &'static str,
    help: &'static str,
    kind: ReadingKind,
    read: Box<dyn Fn() -> f64 + Send + Sync>,
}

impl std::fmt::Debug for Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reading").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Collector for Reading {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let value = (self.read)();
        match self.kind {
            ReadingKind::Gauge => {
                let gauge = ConstGauge::new(value);
                let metric =
                    encoder.encode_descriptor(self.name, self.help, None, gauge.metric_type())?;
                gauge.encode(metric)
            }
            ReadingKind::Counter => {
                let counter = ConstCounter::new(value);
                let metric =
                    encoder.encode_descriptor(self.name, self.help, None, counter.metric_type())?;
                counter.encode(metric)
            }
        }
    }
}

/// The service's metrics: recorded by the request log, read by the metrics listener.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    authentications: Family<AuthLabels, Counter>,
    refusals: Family<LimitLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Fresh metrics for a build of `version` from `commit` (the `slugbase_build` info).
    #[must_use]
    pub fn new(version: &str, commit: &str) -> Self {
        let mut registry = Registry::with_prefix("slugbase");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's head to its response, by method and route template",
            latency.clone(),
        );
        let authentications = Family::<AuthLabels, Counter>::default();
        registry.register(
            "authentications",
            "Sign-in steps and token checks, by method (password, totp, backup_code, passkey, oidc, token) and outcome (success, failure, limited, invalid, error)",
            authentications.clone(),
        );
        let refusals = Family::<LimitLabels, Counter>::default();
        registry.register(
            "attempt_limit_refusals",
            "Requests refused by an attempt limit (429), by route template",
            refusals.clone(),
        );
        registry.register(
            "build",
            "The running build",
            Info::new(vec![("version", version.to_owned()), ("commit", commit.to_owned())]),
        );
        Self { registry, requests, latency, authentications, refusals }
    }

    /// Adds `slugbase_<name>`, whose value `read` gives at each scrape: an adapter's
    /// reading (the Argon2 permits, the database pool), added by the composition root
    /// before the metrics are shared.
    pub fn read_at_scrape(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: ReadingKind,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        let reading = Reading { name, help, kind, read: Box::new(read) };
        self.registry.register_collector(Box::new(reading));
    }

    /// Counts one answered request.
    pub(crate) fn record(&self, method: &Method, route: &str, status: StatusCode, took: Duration) {
        let method = method_label(method);
        let route = route.to_owned();
        self.latency
            .get_or_create(&RouteLabels { method, route: route.clone() })
            .observe(took.as_secs_f64());
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.refusals.get_or_create(&LimitLabels { route: route.clone() }).inc();
        }
        self.requests
            .get_or_create(&RequestLabels { method, route, status: status.as_u16() })
            .inc();
    }

    /// Counts one authentication by `method` (a fixed name) with the outcome `result`
    /// says ([`Metrics::outcome_of`] for an error).
    pub(crate) fn authentication<T>(
        &self,
        method: &'static str,
        result: &Result<T, crate::error::ApiError>,
    ) {
        let outcome = result.as_ref().map_or_else(Self::outcome_of, |_| "success");
        self.authentication_outcome(method, outcome);
    }

    /// Counts one authentication by `method` with `outcome`.
    pub(crate) fn authentication_outcome(&self, method: &'static str, outcome: &'static str) {
        self.authentications.get_or_create(&AuthLabels { method, outcome }).inc();
    }

    /// An error's outcome: `failure` (401 or 403: credentials refused), `limited` (429),
    /// `error` (5xx), `invalid` (any other: a malformed request).
    pub(crate) fn outcome_of(error: &crate::error::ApiError) -> &'static str {
        match actix_web::ResponseError::status_code(error) {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "failure",
            StatusCode::TOO_MANY_REQUESTS => "limited",
            status if status.is_server_error() => "error",
            _ => "invalid",
        }
    }

    /// The OpenMetrics text of every metric.
    ///
    /// # Errors
    /// If encoding fails (it writes to a string: only a formatting bug can make it).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The method as a label: one of the API's methods, or `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`.
async fn scrape(metrics: Data<Metrics>) -> HttpResponse {
    match metrics.encode() {
        Ok(text) => HttpResponse::Ok().content_type(OPENMETRICS).body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// The metrics listener: `GET /metrics` on `listener`, one worker, nothing else (404).
///
/// # Errors
/// When the listener cannot be used.
pub fn metrics_server(listener: TcpListener, metrics: Arc<Metrics>) -> std::io::Result<Server> {
    let metrics = Data::from(metrics);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .route("/metrics", web::get().to(scrape))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
