//! The caller's own account security: password change and sessions.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, delete, get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use slugbase_application::{
    use_cases::change_password::ChangePasswordInput,
    use_cases::sessions::SessionView as SessionRecordView,
};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppState, defer};
use crate::requests::ChangePasswordRequest;
use crate::views::{DamagedView, OkView, list_entries};

/// Change the caller's password.
#[utoipa::path(
    tag = "Auth",
    operation_id = "change_password",
    description = "Checks `current_password` at login's cost and against login's attempt limits (password failures per account, and per address). `new_password` must be 8–128 characters, not on the embedded list of common passwords, and differ from the current one. On success, in one transaction: the new Argon2id hash, every other session of the user ended (the calling one stays), the `password_changed` audit event and a \"password changed\" e-mail notice. Order of checks: 401 UNAUTHENTICATED → 403 CSRF_INVALID (cookie) → 429 → 400 VALIDATION_FAILED → 400 PASSWORD_NOT_SET → 401 INVALID_PASSWORD → 200.",
    request_body(content = ChangePasswordRequest, content_type = "application/json"),
    security(("session_cookie" = []), ("bearer_token" = [])),
    params(("X-CSRF-Token" = Option<String>, Header, description = "CSRF token; required with the session cookie, not with a Bearer token")),
    responses(
        (status = 200, description = "Password changed; other sessions ended", body = OkView, example = json!({"ok": true})),
        (status = 400, description = "VALIDATION_FAILED (details name `current_password` / `new_password`: missing, 8–128 characters, too common, same as the current one) or PASSWORD_NOT_SET (OIDC-only account)", body = ErrorBody,
            example = json!({"error": "Bad Request", "message": "The request contains invalid parameters or malformed data", "code": 400, "reason": "VALIDATION_FAILED", "details": [{"field": "new_password", "message": "Password is too common; choose one that is not on lists of common passwords"}]})),
        (status = 401, description = "UNAUTHENTICATED or INVALID_PASSWORD", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS (see Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/api/auth/password")]
pub(crate) async fn change_password(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.authenticated_change_with_body(&req, payload).await?;
    let (input, rejection) =
        defer(body.json::<ChangePasswordRequest>().map(ChangePasswordInput::from));
    state
        .use_cases
        .change_password
        .execute(&authed.caller, &client, input)
        .await
        .map_err(|e| rejection.answer(e))?;
    Ok(HttpResponse::Ok().json(OkView::OK))
}

/// A live session of the caller's.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Public handle (for `DELETE /api/auth/sessions/{id}`); never the cookie value.
    pub id: String,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Last request seen.
    pub last_seen_at: DateTime<Utc>,
    /// Client address that started it.
    pub ip: Option<String>,
    /// User agent that started it.
    pub user_agent: Option<String>,
    /// The session this request came with.
    pub current: bool,
}

impl From<SessionRecordView> for SessionView {
    fn from(s: SessionRecordView) -> Self {
        Self {
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            ip: s.ip,
            user_agent: s.user_agent,
            current: s.current,
        }
    }
}

/// `{"revoked": n}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RevokedView {
    /// Sessions ended.
    pub revoked: u64,
}

/// An entry of `GET /api/auth/sessions`: the session, or, for a stored session that does
/// not decode, a [`DamagedView`] (`"damaged": true`, `id` the session's public handle —
/// empty when even that cannot be derived; a session has no `damaged` field).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SessionListEntry {
    /// The session.
    Session(SessionView),
    /// A damaged row.
    Damaged(DamagedView),
}

/// The caller's live sessions. A stored session that does not decode is listed in its
/// place as `{"id", "damaged": true, "problem"}` (and logged by its public handle, never
/// its stored digest), never failing the whole list; `revoke-others` ends it.
#[utoipa::path(
    tag = "Auth",
    operation_id = "list_sessions",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Live signed-in sessions, oldest first; a damaged one as `{id, damaged, problem}`", body = Vec<SessionListEntry>),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/api/auth/sessions")]
pub(crate) async fn list_sessions(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authed = state.authenticate(&req).await?;
    let sessions = state.use_cases.sessions.list(&authed.caller).await?;
    let entries = list_entries(
        sessions,
        |session| SessionListEntry::Session(SessionView::from(session)),
        SessionListEntry::Damaged,
    );
    Ok(HttpResponse::Ok().json(entries))
}

/// End one of the caller's sessions.
#[utoipa::path(
    tag = "Auth",
    operation_id = "revoke_session",
    params(
        ("id" = String, Path, description = "Session handle from `GET /api/auth/sessions`"),
        ("X-CSRF-Token" = Option<String>, Header, description = "CSRF token; required with the session cookie, not with a Bearer token"),
    ),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Ended (audited `session_revoked`)", body = OkView),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND: no such live session of the caller's (anyone else's is not found either)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[delete("/api/auth/sessions/{id}")]
pub(crate) async fn revoke_session(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (authed, client) = state.authenticated_change(&req).await?;
    let handle = req.match_info().get("id").unwrap_or_default().to_owned();
    if state.use_cases.sessions.revoke(&authed.caller, &client, &handle).await? {
        Ok(HttpResponse::Ok().json(OkView::OK))
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "SESSION_NOT_FOUND", "No such session"))
    }
}

/// End every session of the caller's but the current one.
#[utoipa::path(
    tag = "Auth",
    operation_id = "revoke_other_sessions",
    params(("X-CSRF-Token" = Option<String>, Header, description = "CSRF token; required with the session cookie, not with a Bearer token")),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Ended (audited `sessions_revoked_others`); with a Bearer token every session ends", body = RevokedView, example = json!({"revoked": 2})),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/api/auth/sessions/revoke-others")]
pub(crate) async fn revoke_other_sessions(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (authed, client) = state.authenticated_change(&req).await?;
    let revoked = state.use_cases.sessions.revoke_others(&authed.caller, &client).await?;
    Ok(HttpResponse::Ok().json(RevokedView { revoked }))
}
