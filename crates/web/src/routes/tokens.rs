//! `/api/tokens`: personal API tokens.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, delete, get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use slugbase_application::use_cases::api_tokens::ApiTokenView;
use slugbase_domain::ApiTokenId;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppState, defer};
use crate::requests::CreateTokenRequest;
use crate::routes::path_id;
use crate::views::{DamagedView, OkView, list_entries};

/// A token as listed (never the secret).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Public id.
    pub id: Uuid,
    /// Label.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenView> for TokenView {
    fn from(v: ApiTokenView) -> Self {
        Self {
            id: *v.id.as_uuid(),
            name: v.name,
            created_at: v.created_at,
            last_used_at: v.last_used_at,
        }
    }
}

/// A new token: the plaintext `sb_…`, shown once.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CreatedTokenView {
    /// `sb_…`; store it now, it is never shown again.
    pub token: String,
    /// Public id.
    pub id: Uuid,
    /// Label.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// An entry of `GET /api/tokens`: the token, or, for a stored token that does not decode,
/// a [`DamagedView`] (`"damaged": true`, `id` the token's row id; a token has no `damaged`
/// field).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TokenListEntry {
    /// The token.
    Token(TokenView),
    /// A damaged row.
    Damaged(DamagedView),
}

/// The caller's API tokens, oldest first. A stored token that does not decode is listed in
/// its place as `{"id", "damaged": true, "problem"}` (and logged by its id), never failing
/// the whole list; it cannot be revoked by id, only by an administrator's repair.
#[utoipa::path(
    tag = "API tokens",
    operation_id = "list_tokens",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses((status = 200, description = "Success", body = Vec<TokenListEntry>), (status = 401, description = "UNAUTHENTICATED", body = ErrorBody))
)]
#[get("/api/tokens")]
pub(crate) async fn list_tokens(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authed = state.authenticate(&req).await?;
    let tokens = state.use_cases.api_tokens.list(&authed.caller).await?;
    let entries = list_entries(
        tokens,
        |token| TokenListEntry::Token(TokenView::from(token)),
        TokenListEntry::Damaged,
    );
    Ok(HttpResponse::Ok().json(entries))
}

/// Create an API token.
#[utoipa::path(
    tag = "API tokens",
    operation_id = "create_token",
    request_body(content = CreateTokenRequest, content_type = "application/json"),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedTokenView),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[post("/api/tokens")]
pub(crate) async fn create_token(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.authenticated_change_with_body(&req, payload).await?;
    let (name, rejection) = defer(body.json::<CreateTokenRequest>().map(|r| r.name));
    let created = state
        .use_cases
        .api_tokens
        .create(&authed.caller, &client, name)
        .await
        .map_err(|e| rejection.answer(e))?;
    Ok(HttpResponse::Created().json(CreatedTokenView {
        token: created.token.expose().to_owned(),
        id: *created.view.id.as_uuid(),
        name: created.view.name,
        created_at: created.view.created_at,
    }))
}

/// Revoke an API token; it stops working on the next request.
#[utoipa::path(
    tag = "API tokens",
    operation_id = "revoke_token",
    params(("id" = Uuid, Path, description = "Token id")),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = OkView),
        (status = 400, description = "VALIDATION_FAILED (the id is not a UUID)", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 404, description = "TOKEN_NOT_FOUND", body = ErrorBody),
    )
)]
#[delete("/api/tokens/{id}")]
pub(crate) async fn revoke_token(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (authed, client) = state.authenticated_change(&req).await?;
    let id: ApiTokenId = path_id(&req)?;
    if state.use_cases.api_tokens.revoke(&authed.caller, &client, id).await? {
        Ok(HttpResponse::Ok().json(OkView::OK))
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "TOKEN_NOT_FOUND", "No such active API token"))
    }
}
