//! Health, version, CSRF token, the OpenAPI document and the docs page.

use actix_web::http::{StatusCode, header};
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, get};
use serde::Serialize;
use utoipa::ToSchema;

use slugbase_application::Unexpected;
use slugbase_application::use_cases::health::{HealthReport, Readiness};

use crate::error::{ApiError, ErrorBody, ErrorDetail, RETRY_AFTER_UNAVAILABLE_SECS};
use crate::extract::{AppState, SESSION_COOKIE};

/// `{"status": "ok"}`, or `degraded` with why.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `ok`: reads and writes get through. `degraded`: reads get through, writes do not
    /// right now (they answer 503 with `Retry-After`); `reason` and `message` say why.
    #[schema(example = "ok")]
    pub status: String,
    /// Why not `ok`: `DATABASE_WRITES_UNAVAILABLE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why not `ok`, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// 503 from `/api/health`: the contract's error shape, plus `"status": "unavailable"`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HealthUnavailableView {
    /// `unavailable`.
    #[schema(example = "unavailable")]
    pub status: String,
    /// The error (`reason` `DATABASE_UNAVAILABLE`).
    #[serde(flatten)]
    pub error: ErrorBody,
}

/// Liveness and database reachability.
///
/// 200 means the service answers reads; `status` says whether writes get through too. 503
/// means the database cannot be read at all.
#[utoipa::path(
    tag = "Meta",
    operation_id = "health",
    responses(
        (status = 200, description = "Reads get through (`status` `ok`); `degraded`: writes do not right now", body = HealthView, example = json!({"status": "ok"})),
        (status = 503, description = "Database unreachable (`Retry-After`)", body = HealthUnavailableView,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
#[get("/api/health")]
pub(crate) async fn health(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (status, reason, message) = match state.use_cases.health.check().await {
        Ok(HealthReport::Ok) => ("ok", None, None),
        Ok(HealthReport::WritesUnavailable) => (
            "degraded",
            Some("DATABASE_WRITES_UNAVAILABLE"),
            Some(
                "The database answers reads but writes do not get through right now (its write lock is held); writes answer 503 until they do",
            ),
        ),
        Err(Unexpected::Unavailable(cause)) => {
            tracing::error!(error = format!("{cause:#}"), "health: database unavailable");
            return Ok(unavailable(
                "unavailable",
                "DATABASE_UNAVAILABLE",
                "The database cannot be reached; try again later",
                Vec::new(),
            ));
        }
        Err(other) => return Err(other.into()),
    };
    Ok(HttpResponse::Ok().json(HealthView {
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
        message: message.map(str::to_owned),
    }))
}

/// `{"status": "alive"}` or `{"status": "ready"}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProbeView {
    /// `alive` (liveness) or `ready` (readiness).
    #[schema(example = "ready")]
    pub status: String,
}

/// Liveness: the process answers HTTP. Touches nothing else (not the database), so an
/// orchestrator restarts the instance only when the instance itself is stuck.
#[utoipa::path(
    tag = "Meta",
    operation_id = "liveness",
    responses((status = 200, description = "The process answers", body = ProbeView, example = json!({"status": "alive"})))
)]
#[get("/api/health/live")]
pub(crate) async fn liveness() -> HttpResponse {
    HttpResponse::Ok().json(ProbeView { status: "alive".to_owned() })
}

/// Readiness: whether this instance should get traffic — the database answers and has
/// every migration this build expects (its keys were loaded before it listened).
///
/// 503 otherwise, in the error shape with `"status": "not_ready"` and `Retry-After`:
/// `DATABASE_UNAVAILABLE`, `MIGRATIONS_PENDING` (details name each missing migration) or
/// `SCHEMA_UNREADABLE` (no migration table yet).
#[utoipa::path(
    tag = "Meta",
    operation_id = "readiness",
    responses(
        (status = 200, description = "Ready for traffic", body = ProbeView, example = json!({"status": "ready"})),
        (status = 503, description = "Not ready (`reason` says why; `Retry-After`)", body = HealthUnavailableView,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
#[get("/api/health/ready")]
pub(crate) async fn readiness(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (reason, message, details) = match state.use_cases.health.ready().await {
        Ok(Readiness::Ready) => {
            return Ok(HttpResponse::Ok().json(ProbeView { status: "ready".to_owned() }));
        }
        Ok(Readiness::MigrationsPending { pending }) => (
            "MIGRATIONS_PENDING",
            "The database lacks migrations this build expects; run `slugbase migrate` or start an instance that migrates",
            pending
                .into_iter()
                .map(|name| ErrorDetail { field: "migrations".to_owned(), message: name })
                .collect(),
        ),
        Ok(Readiness::SchemaUnreadable) => (
            "SCHEMA_UNREADABLE",
            "The database has no migration table yet; run `slugbase migrate` or start an instance that migrates",
            Vec::new(),
        ),
        Err(Unexpected::Unavailable(cause)) => {
            tracing::error!(error = format!("{cause:#}"), "readiness: database unavailable");
            ("DATABASE_UNAVAILABLE", "The database cannot be reached; try again later", Vec::new())
        }
        Err(other) => return Err(other.into()),
    };
    Ok(unavailable("not_ready", reason, message, details))
}

/// A 503 of the health routes: the error shape, `status`, and `Retry-After`.
fn unavailable(
    status_word: &str,
    reason: &str,
    message: &str,
    details: Vec<ErrorDetail>,
) -> HttpResponse {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let view = HealthUnavailableView {
        status: status_word.to_owned(),
        error: ErrorBody {
            error: status.canonical_reason().unwrap_or("Service Unavailable").to_owned(),
            message: message.to_owned(),
            code: status.as_u16(),
            reason: reason.to_owned(),
            details,
        },
    };
    HttpResponse::build(status)
        .insert_header((header::RETRY_AFTER, RETRY_AFTER_UNAVAILABLE_SECS.to_string()))
        .json(view)
}

/// Build information.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// Release version.
    pub version: String,
    /// Source commit.
    pub commit: String,
}

/// Version and commit.
#[utoipa::path(
    tag = "Meta",
    operation_id = "version",
    responses((status = 200, description = "Success", body = VersionView))
)]
#[get("/api/version")]
pub(crate) async fn version(state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(VersionView {
        version: state.config.version.clone(),
        commit: state.config.commit.clone(),
    })
}

/// `{"csrfToken": "…"}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CsrfTokenView {
    /// Send it back in `X-CSRF-Token` on unsafe cookie-authenticated requests.
    #[serde(rename = "csrfToken")]
    pub csrf_token: String,
}

/// A CSRF token for this session; also set in the `_csrf` cookie.
#[utoipa::path(
    tag = "Meta",
    operation_id = "csrf_token",
    description = "Returns a server-signed token bound to the current `slugbase.sid` session and sets the same value in the `_csrf` cookie (HttpOnly, SameSite=Strict). Fetch a new one after login.",
    responses((status = 200, description = "Success", body = CsrfTokenView))
)]
#[get("/api/csrf-token")]
pub(crate) async fn csrf_token(state: Data<AppState>, req: HttpRequest) -> HttpResponse {
    let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    let token = state.csrf.issue(&session);
    let mut res = HttpResponse::Ok();
    state.set_csrf_cookie(&mut res, &token);
    res.json(CsrfTokenView { csrf_token: token })
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    tag = "Meta",
    operation_id = "openapi_json",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json"))
)]
#[get("/openapi.json")]
pub(crate) async fn openapi_json(doc: Data<crate::OpenApiJson>) -> actix_web::Result<HttpResponse> {
    let json = doc.json().map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(HttpResponse::Ok().content_type("application/json").body(json))
}

/// Interactive API documentation (served from the binary; works offline).
#[utoipa::path(
    tag = "Meta",
    operation_id = "api_docs",
    responses((status = 308, description = "Redirect to /api-docs/"))
)]
#[get("/api-docs")]
pub(crate) async fn api_docs() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/api-docs/")).finish()
}
