//! The actix-web adapter of SlugBase Auth: every endpoint of the HTTP contract
//! (`api.md`), thin handlers over the application's use cases, one error shape (the seed's)
//! for every failure, session-cookie and Bearer authentication, CSRF, and the OpenAPI 3.1
//! document with an offline docs page.
//!
//! The server crate calls [`server`] with a bound listener, the use cases and a
//! [`WebConfig`]; [`openapi`] gives the document (for writing it to a file).

use std::net::{IpAddr, TcpListener};

use actix_web::middleware::{DefaultHeaders, ErrorHandlers, NormalizePath, TrailingSlash};
use actix_web::web::Data;
use actix_web::{App, HttpServer, dev::Server};
use slugbase_application::UseCases;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

mod csrf;
pub mod error;
mod extract;
mod routes;
pub mod views;

pub use error::{ApiError, ErrorBody};
pub use extract::{AppState, PENDING_COOKIE, SESSION_COOKIE};
pub use routes::route_list;

/// Default largest accepted request body: 16 KiB.
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 16 * 1024;

/// Web settings.
#[derive(Clone)]
pub struct WebConfig {
    /// Where clients reach the service (`https://…` makes cookies `Secure`).
    pub public_base_url: String,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest accepted request body (413 beyond).
    pub body_limit_bytes: usize,
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
            .field("csrf_key", &"[REDACTED]")
            .field("version", &self.version)
            .field("commit", &self.commit)
            .finish()
    }
}

impl WebConfig {
    /// Settings for `public_base_url` with the defaults: no trusted proxies, a 16 KiB body
    /// limit, this crate's version.
    #[must_use]
    pub fn new(public_base_url: impl Into<String>, csrf_key: [u8; 32]) -> Self {
        Self {
            public_base_url: public_base_url.into(),
            trusted_proxies: Vec::new(),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            csrf_key,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: "unknown".to_owned(),
        }
    }
}

/// The OpenAPI document, serialised once.
#[derive(Debug)]
pub(crate) struct OpenApiJson(pub(crate) String);

/// The OpenAPI 3.1 document of every route the server serves.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes::ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// Builds the HTTP server on `listener`; await the result to run it.
///
/// # Errors
/// When the listener cannot be used, or the document cannot be serialised.
pub fn server(
    listener: TcpListener,
    use_cases: UseCases,
    config: WebConfig,
) -> std::io::Result<Server> {
    let state = Data::new(AppState::new(use_cases, config));
    let doc = openapi().to_json().map_err(std::io::Error::other)?;
    let doc = Data::new(OpenApiJson(doc));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(doc.clone())
            .configure(routes::configure)
            .service(
                SwaggerUi::new("/api-docs/{_:.*}").config(SwaggerConfig::from("/openapi.json")),
            )
            .default_service(actix_web::web::to(not_found))
            .wrap(ErrorHandlers::new().default_handler(error::normalize_error_response))
            .wrap(
                DefaultHeaders::new()
                    .add(("Cache-Control", "no-store"))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer")),
            )
            // The seed page writes its URL as `//api/auth/mfa/disable`: merge the slashes.
            .wrap(NormalizePath::new(TrailingSlash::MergeOnly))
            .wrap(actix_web::middleware::from_fn(log_request))
    })
    .listen(listener)?
    .run();
    Ok(server)
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
/// span wraps the handler, so audit lines carry the request id too. The path is logged as
/// its route pattern (`/api/tokens/{id}`), never with the query string.
async fn log_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use tracing::Instrument as _;

    let id = request_id(&req);
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, http.method = %method);
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "(unmatched)".to_owned());
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(actix_web::http::header::HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    span.in_scope(|| {
        tracing::info!(
            http.route = %route,
            http.status = res.status().as_u16(),
            latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
    });
    Ok(res)
}
