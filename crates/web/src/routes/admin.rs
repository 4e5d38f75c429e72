//! `/api/admin/*`: users, MFA reset, audit log. Administrators only (403 otherwise).

use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, delete, get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slugbase_application::ValidationErrors;
use slugbase_application::ports::{AuditQuery, OutcomeFilter, StoredAuditEvent};
use slugbase_domain::{AuditEventKind, AuditOutcome, UserId};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use slugbase_application::collaborators::new_account::NewAccountInput;

use crate::extract::{AppState, defer};
use crate::requests::CreateUserRequest;
use crate::routes::paging;
use crate::routes::path_id;
use crate::views::{DamagedView, OkView, UserListEntry, UserView, list_entries};
use slugbase_application::ports::Listed;

/// Every user, oldest first. A stored row that does not decode is listed in its place as
/// `{"id", "damaged": true, "problem"}` (and logged), never failing the whole list.
#[utoipa::path(
    tag = "Admin",
    operation_id = "list_users",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = Vec<UserListEntry>),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
    )
)]
#[get("/api/admin/users")]
pub(crate) async fn list_users(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authed = state.authenticate(&req).await?;
    let users = state.use_cases.admin.list_users(&authed.caller).await?;
    let entries: Vec<UserListEntry> = users
        .iter()
        .map(|listed| match listed {
            Listed::Ok(user) => UserListEntry::User(state.user_view(user)),
            Listed::Damaged(row) => UserListEntry::Damaged(DamagedView::new(row)),
        })
        .collect();
    Ok(HttpResponse::Ok().json(entries))
}

/// Create a user; without a password the user is OIDC-only (only while an OIDC provider is
/// configured: else nobody could ever sign in as them).
#[utoipa::path(
    tag = "Admin",
    operation_id = "create_user",
    request_body(content = CreateUserRequest, content_type = "application/json"),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "VALIDATION_FAILED, or OIDC_NOT_CONFIGURED (no password while no OIDC provider is configured; detail on `password`)", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "FORBIDDEN or CSRF_INVALID", body = ErrorBody),
        (status = 409, description = "EMAIL_EXISTS", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[post("/api/admin/users")]
pub(crate) async fn create_user(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.authenticated_change_with_body(&req, payload).await?;
    let (input, rejection) = defer(body.json::<CreateUserRequest>().map(NewAccountInput::from));
    let user = state
        .use_cases
        .admin
        .create_user(&authed.caller, &client, input)
        .await
        .map_err(|e| rejection.answer(e))?;
    Ok(HttpResponse::Created().json(state.user_view(&user)))
}

/// Delete a user with their sessions, tokens and codes.
#[utoipa::path(
    tag = "Admin",
    operation_id = "delete_user",
    params(("id" = Uuid, Path, description = "User id")),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = OkView),
        (status = 400, description = "VALIDATION_FAILED (the id is not a UUID) or CANNOT_DELETE_SELF", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "FORBIDDEN or CSRF_INVALID", body = ErrorBody),
        (status = 404, description = "USER_NOT_FOUND", body = ErrorBody),
    )
)]
#[delete("/api/admin/users/{id}")]
pub(crate) async fn delete_user(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (authed, client) = state.authenticated_change(&req).await?;
    let id: UserId = path_id(&req)?;
    state.use_cases.admin.delete_user(&authed.caller, &client, id).await?;
    Ok(HttpResponse::Ok().json(OkView::OK))
}

/// Administrative MFA reset for a locked-out user (audited; ends their sessions). Never of
/// the caller's own account: that would strip a factor with no proof; one's own MFA goes
/// off through `POST /api/auth/mfa/disable`.
#[utoipa::path(
    tag = "Admin",
    operation_id = "reset_user_mfa",
    params(("id" = Uuid, Path, description = "User id")),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = OkView),
        (status = 400, description = "VALIDATION_FAILED (the id is not a UUID)", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "FORBIDDEN, CSRF_INVALID, or ADMIN_SELF_RESET_FORBIDDEN (the id is the caller's own; audited as `mfa_reset_by_admin_fail`)", body = ErrorBody),
        (status = 404, description = "USER_NOT_FOUND", body = ErrorBody),
    )
)]
#[post("/api/admin/users/{id}/mfa/reset")]
pub(crate) async fn reset_user_mfa(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (authed, client) = state.authenticated_change(&req).await?;
    let id: UserId = path_id(&req)?;
    state.use_cases.admin.reset_mfa(&authed.caller, &client, id).await?;
    Ok(HttpResponse::Ok().json(OkView::OK))
}

/// Audit log filters, as sent: each is checked by [`AuditParams::query`] so that every
/// problem is a 400 naming its parameter. The document's types are in `into_params`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuditParams {
    /// Only this user's events.
    pub user_id: Option<String>,
    /// Only this kind (`mfa_disable_success`, …).
    pub event: Option<String>,
    /// Only `success` or only `failure`.
    pub outcome: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    pub until: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<String>,
    /// Events to skip, newest first (default 0).
    pub offset: Option<String>,
}

/// An RFC 3339 date-time.
fn date_time() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
}

/// The audit event names the server knows, as a string enum.
fn audit_event_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(AuditEventKind::ALL.iter().map(|kind| kind.as_str())))
        .build()
}

/// The document's view of the filters: exactly what [`AuditParams::query`] accepts.
impl IntoParams for AuditParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let uuid = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .build();
        let mut params = vec![
            paging::query_param("user_id", "Only this user's events.", uuid),
            paging::query_param("event", "Only this kind of event.", audit_event_schema()),
            paging::query_param(
                "outcome",
                "Only successes, or only failures.",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["success", "failure"]))
                    .build(),
            ),
            paging::query_param("since", "Only events at or after this time.", date_time()),
            paging::query_param(
                "until",
                "Only events before this time (after `since` when both are given).",
                date_time(),
            ),
        ];
        params.extend(paging::page_params("Events"));
        params
    }
}

impl AuditParams {
    fn query(self) -> Result<AuditQuery, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let user_id = self.user_id.and_then(|raw| {
            raw.parse::<UserId>().map_err(|_| errors.push("user_id", "user_id must be a UUID")).ok()
        });
        let kind = self.event.and_then(|raw| {
            AuditEventKind::from_name(&raw)
                .ok_or(())
                .map_err(|()| errors.push("event", "event is not a known audit event"))
                .ok()
        });
        let outcome = self.outcome.and_then(|raw| match raw.as_str() {
            "success" => Some(OutcomeFilter::Success),
            "failure" => Some(OutcomeFilter::Failure),
            _ => {
                errors.push("outcome", "outcome must be success or failure");
                None
            }
        });
        let mut time = |name: &str, raw: Option<String>| {
            raw.and_then(|raw| match DateTime::parse_from_rfc3339(&raw) {
                Ok(at) => Some(at.with_timezone(&Utc)),
                Err(_) => {
                    errors.push(name, format!("{name} must be an RFC 3339 date-time"));
                    None
                }
            })
        };
        let since = time("since", self.since);
        let until = time("until", self.until);
        if let (Some(since), Some(until)) = (since, until)
            && until <= since
        {
            errors.push("until", "until must be after since");
        }
        let (limit, offset) = paging::page(self.limit, self.offset, &mut errors);
        errors.into_result(AuditQuery { user_id, kind, outcome, since, until, limit, offset })
    }
}

/// One audit event (never a code, password or secret).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    /// Sequence number.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Whose account.
    pub user_id: Option<Uuid>,
    /// Who acted, when not the user.
    pub actor_id: Option<Uuid>,
    /// What happened (`mfa_disable_success`, …).
    #[schema(schema_with = audit_event_schema)]
    pub event: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// The failure reason (`INVALID_CODE`, …).
    pub reason: Option<String>,
    /// `totp` or `backup_code`.
    pub proof: Option<String>,
    /// What else the event names (never a secret): the OIDC provider, a trusted `amr`.
    pub detail: Option<String>,
    /// Client address.
    pub client_addr: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

impl From<StoredAuditEvent> for AuditEventView {
    fn from(s: StoredAuditEvent) -> Self {
        let e = s.event;
        let (outcome, reason) = match e.outcome {
            AuditOutcome::Success => ("success", None),
            AuditOutcome::Failure(reason) => ("failure", Some(reason)),
        };
        Self {
            id: s.id,
            at: e.at,
            user_id: e.user_id.map(|u| *u.as_uuid()),
            actor_id: e.actor_id.map(|u| *u.as_uuid()),
            event: e.kind.as_str().to_owned(),
            outcome: outcome.to_owned(),
            reason,
            proof: e.proof.map(|p| p.as_str().to_owned()),
            detail: e.detail,
            client_addr: e.client_addr,
            user_agent: e.user_agent,
        }
    }
}

/// An entry of the audit log: the event, or, for a stored event that does not decode, a
/// [`DamagedView`] (`"damaged": true`; an event has no `damaged` field).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AuditListEntry {
    /// The event.
    Event(AuditEventView),
    /// A damaged row (its `id` is the event id, as a string).
    Damaged(DamagedView),
}

/// A page of audit events.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditPageView {
    /// Events, newest first; a stored event that does not decode is listed in its place as
    /// `{"id", "damaged": true, "problem"}`.
    pub events: Vec<AuditListEntry>,
    /// Page size asked for.
    pub limit: u32,
    /// Events skipped.
    pub offset: u64,
}

/// Audit events, newest first, filtered by user and event.
#[utoipa::path(
    tag = "Admin",
    operation_id = "audit_log",
    params(AuditParams),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = AuditPageView),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
    )
)]
#[get("/api/admin/audit-log")]
pub(crate) async fn audit_log(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authed = state.authenticate(&req).await?;
    let params = actix_web::web::Query::<AuditParams>::from_query(req.query_string())
        .map_err(|_| {
            ApiError::validation(ValidationErrors::field("query", "The query string is malformed"))
        })?
        .into_inner();
    let query = params.query().map_err(ApiError::validation)?;
    let (limit, offset) = (query.limit, query.offset);
    let events = state.use_cases.admin.audit_log(&authed.caller, query).await?;
    let events = list_entries(
        events,
        |event| AuditListEntry::Event(AuditEventView::from(event)),
        AuditListEntry::Damaged,
    );
    Ok(HttpResponse::Ok().json(AuditPageView { events, limit, offset }))
}
