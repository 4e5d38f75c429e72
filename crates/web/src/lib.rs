//! The actix-web adapter of SlugBase Auth: every endpoint of the HTTP contract
//! (`docs/api.md`), thin handlers over the application's use cases, one error shape (its §
//! Conventions) for every failure, session-cookie and Bearer authentication, CSRF, the
//! OpenAPI 3.1 document with an offline docs page, and the account pages (`/login`, `/`,
//! `/admin`: compiled-in HTML and ES modules over the same JSON API, under a strict CSP).
//!
//! The server crate calls [`server`] with a bound listener, the use cases and a
//! [`WebConfig`]; [`openapi`] gives the document (for writing it to a file).

use std::net::{IpAddr, TcpListener};
use std::time::Duration;

use actix_web::App;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, ErrorHandlers, NormalizePath, TrailingSlash};
use actix_web::web::Data;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

mod body_deadline;
mod connection;
mod csrf;
pub mod error;
mod extract;
pub mod metrics;
mod pages;
mod rate_limit;
pub mod requests;
mod routes;
pub mod views;

pub use error::{ApiError, ErrorBody};
pub use extract::{AppState, PENDING_COOKIE, SESSION_COOKIE};
pub use pages::{CONTENT_SECURITY_POLICY, DOCS_CONTENT_SECURITY_POLICY};
pub use routes::{ENROLMENT_OPERATIONS, route_list};

/// Default largest accepted request body: 16 KiB.
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 16 * 1024;
/// Default time a request body has to arrive in full, counted from the end of its head: a
/// stalled body is answered 408 and its connection closed, so its memory comes back.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a request head has to arrive: a new connection's first within this of being
/// accepted, every later one within this of its first byte; past it the answer is 408 and
/// the connection is closed.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a kept-alive connection may sit idle between requests before it is closed
/// (actix's own default).
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Default [`WebConfig::shutdown_timeout`]: 30 seconds, actix's own.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on open client connections for the whole server (all workers together).
/// An idle or stalled connection costs about 24 KiB, so 10 000 bound that to about 240 MiB;
/// past the cap new connections wait in the listen backlog instead of being accepted.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Puts a request into a distributed trace (an OpenTelemetry exporter's side of it).
pub trait RequestTracing: Send + Sync {
    /// Makes `span` a child of the trace a caller's W3C `traceparent` (and `tracestate`) in
    /// `headers` names, or the root of a new one; the trace id, when `span` is traced.
    fn join(
        &self,
        span: &tracing::Span,
        headers: &actix_web::http::header::HeaderMap,
    ) -> Option<String>;
}

/// Web settings.
#[derive(Clone)]
pub struct WebConfig {
    /// Where clients reach the service (`https://…` makes cookies `Secure`).
    pub public_base_url: String,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest accepted request body (413 beyond).
    pub body_limit_bytes: usize,
    /// Time a request body has to arrive in full once its head has (408 and the connection
    /// closed beyond).
    pub body_read_timeout: Duration,
    /// Time a request head has to arrive: from the connection's start for the first, from
    /// its first byte for every later one (408 and the connection closed beyond).
    pub header_read_timeout: Duration,
    /// Time an idle kept-alive connection is kept open between requests.
    pub keep_alive_timeout: Duration,
    /// Open connections accepted at most, for the whole server: split evenly across the
    /// worker threads (see [`connections_per_worker`]).
    pub max_connections: usize,
    /// On a graceful stop, how long requests in flight may take to finish before their
    /// connections are closed.
    pub shutdown_timeout: Duration,
    /// Where every answered request is counted (served by [`metrics::metrics_server`] when
    /// `metrics.listen` is set).
    pub metrics: std::sync::Arc<metrics::Metrics>,
    /// Joins each request's span to a distributed trace (absent: requests are not traced).
    pub request_tracing: Option<std::sync::Arc<dyn RequestTracing>>,
    /// Key that signs CSRF tokens.
    pub csrf_key: [u8; 32],
    /// Release version for `/api/version`.
    pub version: String,
    /// Source commit for `/api/version`.
    pub commit: String,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("public_base_url", &self.public_base_url)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("keep_alive_timeout", &self.keep_alive_timeout)
            .field("max_connections", &self.max_connections)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("request_tracing", &self.request_tracing.is_some())
            .field("csrf_key", &"[REDACTED]")
            .field("version", &self.version)
            .field("commit", &self.commit)
            .finish()
    }
}

impl WebConfig {
    /// Settings for `public_base_url` with the defaults: no trusted proxies, a 16 KiB body
    /// limit, the default timeouts and connection cap, this crate's version.
    #[must_use]
    pub fn new(public_base_url: impl Into<String>, csrf_key: [u8; 32]) -> Self {
        Self {
            public_base_url: public_base_url.into(),
            trusted_proxies: Vec::new(),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            metrics: std::sync::Arc::new(metrics::Metrics::new(
                env!("CARGO_PKG_VERSION"),
                "unknown",
            )),
            request_tracing: None,
            csrf_key,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: "unknown".to_owned(),
        }
    }
}

/// The OpenAPI document, serialised once (served at `/openapi.json`): at the first request
/// for it when made with [`Self::lazy`], so a server nobody asks for it does not build and
/// keep it (BENCHMARKS.md, idle RSS).
#[derive(Debug, Default)]
pub struct OpenApiJson(std::sync::OnceLock<actix_web::web::Bytes>);

impl OpenApiJson {
    /// Serialises [`openapi`] now.
    ///
    /// # Errors
    /// When the document cannot be serialised.
    pub fn generate() -> std::io::Result<Self> {
        let doc = Self::lazy();
        doc.json()?;
        Ok(doc)
    }

    /// Serialises [`openapi`] when first asked for.
    #[must_use]
    pub fn lazy() -> Self {
        Self::default()
    }

    /// The serialised document.
    ///
    /// # Errors
    /// When the document cannot be serialised (asked again next time).
    pub(crate) fn json(&self) -> std::io::Result<actix_web::web::Bytes> {
        if let Some(json) = self.0.get() {
            return Ok(json.clone());
        }
        let json = openapi().to_json().map_err(std::io::Error::other)?;
        Ok(self.0.get_or_init(|| json.into()).clone())
    }
}

/// The OpenAPI 3.1 document of every route the server serves.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes::ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// Builds the HTTP server on `listener`; await the result to run it.
///
/// This is what actix-web's `HttpServer::listen` builds, but with each accepted socket
/// wrapped in a [`connection::Connection`], which keeps the request-head deadline for every
/// request on a connection (actix-http keeps it for the first only) and gives the answers
/// actix-http writes by itself the contract's error shape.
///
/// # Errors
/// When the listener cannot be used.
pub fn server(
    listener: TcpListener,
    use_cases: impl Into<slugbase_application::UseCases>,
    config: WebConfig,
) -> std::io::Result<Server> {
    use actix_service::{IntoServiceFactory as _, ServiceFactoryExt as _, map_config};

    let workers = worker_count();
    let per_worker = connections_per_worker(config.max_connections, workers);
    let header_read_timeout = config.header_read_timeout;
    let keep_alive = config.keep_alive_timeout;
    let shutdown_timeout = config.shutdown_timeout.as_secs();
    let addr = listener.local_addr()?;
    let state = Data::new(AppState::new(use_cases, config));
    let doc = Data::new(OpenApiJson::lazy());
    let builder = actix_server::Server::build()
        // Set explicitly (to actix's own default) so the connection cap divides by the same number.
        .workers(workers)
        .max_concurrent_connections(per_worker)
        .shutdown_timeout(shutdown_timeout);
    let shutdown = builder.graceful_shutdown_signal();
    let server = builder
        .listen("slugbase-http", listener, move || {
            let shutdown = shutdown.clone();
            let app = app(state.clone(), doc.clone())
                .into_factory()
                .map_err(|e: actix_web::Error| actix_http::Response::from(e));
            let http = actix_http::HttpService::<connection::Connection, _, _>::build()
                // Finish in-flight requests on a graceful stop, close idle connections at
                // once (what `HttpServer` does).
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .keep_alive(keep_alive)
                // Off: `connection::Connection` keeps the head deadline, for every request.
                .client_request_timeout(Duration::ZERO)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .on_connect_ext(
                    |io: &connection::Connection, ext: &mut actix_web::dev::Extensions| {
                        ext.insert(io.watch());
                    },
                )
                // `AppConfig` only feeds `ConnectionInfo`'s fallback host, which nothing here reads.
                .h1(map_config(app, |()| actix_web::dev::AppConfig::default()));
            actix_service::fn_service(move |io: actix_web::rt::net::TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok::<_, actix_http::error::DispatchError>((
                    connection::Connection::new(io, header_read_timeout),
                    peer,
                )))
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}

/// The application every worker runs: the route table, the docs page, the account pages,
/// the 404 for every other path, and the middleware (error normaliser, body deadline, default headers, path
/// normalisation, request log). The handler tests run the same, over mocked use cases.
pub fn app(
    state: Data<AppState>,
    doc: Data<OpenApiJson>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(doc)
        .configure(routes::configure)
        .configure(pages::configure)
        .service(
            SwaggerUi::new("/api-docs/{_:.*}")
                // No online validator badge: it would send the document's URL elsewhere.
                .config(SwaggerConfig::from("/openapi.json").validator_url("none")),
        )
        .default_service(actix_web::web::to(not_found))
        .wrap(ErrorHandlers::new().default_handler(error::normalize_error_response))
        // Outside the error normaliser, so a 429 (or any refusal) carries the fields too.
        .wrap(actix_web::middleware::from_fn(rate_limit::rate_limit_fields))
        // Outside the error normaliser, so a 404 under `/api-docs/` gets the headers too.
        .wrap(actix_web::middleware::from_fn(pages::docs_headers))
        // Inside the default headers and the request log (so a 408 it writes gets both),
        // outside the error normaliser (so the payload it keeps alive rides on the final
        // response).
        .wrap(actix_web::middleware::from_fn(body_deadline::limit_body_time))
        .wrap(
            DefaultHeaders::new()
                .add(("Cache-Control", "no-store"))
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "no-referrer")),
        )
        // The seed page (`docs/seed-mfa-disable.txt`) writes its URL as
        // `//api/auth/mfa/disable`: merge the slashes.
        .wrap(NormalizePath::new(TrailingSlash::MergeOnly))
        .wrap(actix_web::middleware::from_fn(log_request))
        .wrap(actix_web::middleware::from_fn(connection::track_requests))
}

/// actix's default worker count: one per available CPU, at most 512.
fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).min(512)
}

/// actix caps connections per worker thread; `server.max_connections` is for the whole
/// server, so each worker gets an even share, rounded down (the total is never exceeded)
/// but at least 1 (so a cap below the worker count still lets each worker accept one).
#[must_use]
pub fn connections_per_worker(total: usize, workers: usize) -> usize {
    (total / workers.max(1)).max(1)
}

/// 404 for every path outside the table.
async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::route_not_found())
}

/// Response header carrying the request id (also accepted from a client or proxy).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request id: the caller's `X-Request-Id` when it is a short token of safe characters
/// (so a proxy's id threads through), else a fresh UUID. Never attacker-shaped log text.
fn request_id(req: &actix_web::dev::ServiceRequest) -> String {
    let offered = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
    match offered {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

/// One span and one log line per request: request id, method, route, status, latency. The
/// span wraps the handler, so every line logged within it carries the request id (and the
/// trace id, when traces are exported). The path is logged as its route pattern
/// (`/api/tokens/{id}`), never with the query string; the exported span is named after it.
async fn log_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use tracing::Instrument as _;
    use tracing::field::Empty;

    let id = request_id(&req);
    let method = req.method().clone();
    // The fields after `http.method` are the exported span's, recorded only when requests
    // are traced (an empty field is not logged).
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        http.method = %method,
        trace_id = Empty,
        otel.name = Empty,
        otel.kind = Empty,
        otel.status_code = Empty,
        http.route = Empty,
        http.response.status_code = Empty,
    );
    let traced = req
        .app_data::<Data<AppState>>()
        .and_then(|s| s.config.request_tracing.as_deref())
        .is_some_and(|tracing| {
            // The exported span's name is fixed when it starts: the route the path maps to
            // now (the final one, after path normalisation, is `http.route` below).
            let name =
                req.match_pattern().map_or_else(|| method.to_string(), |r| format!("{method} {r}"));
            span.record("otel.name", name);
            span.record("otel.kind", "server");
            if let Some(trace_id) = tracing.join(&span, req.headers()) {
                span.record("trace_id", trace_id);
            }
            true
        });
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "(unmatched)".to_owned());
    if let Some(state) = res.request().app_data::<Data<AppState>>() {
        state.config.metrics.record(&method, &route, res.status(), started.elapsed());
    }
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(actix_web::http::header::HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let status = res.status();
    span.in_scope(|| {
        tracing::info!(
            http.route = %route,
            http.status = status.as_u16(),
            latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
    });
    if traced {
        // For the exported span, after the line above (which already says them).
        span.record("http.route", route.as_str());
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "error");
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::connections_per_worker;

    #[test]
    fn the_connection_cap_is_split_evenly_across_workers_and_never_exceeded() {
        assert_eq!(connections_per_worker(10_000, 2), 5_000);
        assert_eq!(connections_per_worker(10_001, 2), 5_000);
        assert_eq!(connections_per_worker(7, 8), 1, "every worker accepts at least one");
        assert_eq!(connections_per_worker(5, 0), 5);
    }
}
