//! Health, version, CSRF token, the OpenAPI document and the docs page.

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, get};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppState, SESSION_COOKIE};

/// `{"status": "ok"}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `ok`.
    pub status: String,
}

/// Liveness and database reachability.
#[utoipa::path(
    tag = "Meta",
    operation_id = "health",
    responses(
        (status = 200, description = "Success", body = HealthView, example = json!({"status": "ok"})),
        (status = 503, description = "Database unreachable", body = ErrorBody),
    )
)]
#[get("/api/health")]
pub(crate) async fn health(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.use_cases.health.check().await?;
    Ok(HttpResponse::Ok().json(HealthView { status: "ok".to_owned() }))
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
