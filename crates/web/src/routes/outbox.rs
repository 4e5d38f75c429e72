//! `GET /api/admin/outbox`: the e-mail notices and where their delivery stands.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, get};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slugbase_application::ValidationErrors;
use slugbase_application::ports::{OutboxMessage, OutboxQuery};
use slugbase_domain::NoticeStatus;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::AppState;
use crate::routes::paging;
use crate::views::{DamagedView, list_entries};

/// Filters, as sent (each checked by [`OutboxParams::query`]).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OutboxParams {
    /// `pending`, `sent` or `failed`.
    pub status: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<String>,
    /// Notices to skip, newest first.
    pub offset: Option<String>,
}

impl IntoParams for OutboxParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let status = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["pending", "sent", "failed"]))
            .build();
        let mut params = vec![paging::query_param("status", "Only notices in this state.", status)];
        params.extend(paging::page_params("Notices"));
        params
    }
}

impl OutboxParams {
    fn query(self) -> Result<OutboxQuery, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let status = self.status.and_then(|raw| {
            NoticeStatus::from_name(&raw)
                .ok_or(())
                .map_err(|()| errors.push("status", "status must be pending, sent or failed"))
                .ok()
        });
        let (limit, offset) = paging::page(self.limit, self.offset, &mut errors);
        errors.into_result(OutboxQuery { status, limit, offset })
    }
}

/// One notice (what it reports and to whom; the body is rendered when sent, never stored).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OutboxNoticeView {
    /// Notice id (the e-mail's `Message-ID` is `<id@from-domain>`).
    pub id: Uuid,
    /// `mfa_disabled`, `password_changed`, …
    pub kind: String,
    /// The account.
    pub user_id: Option<Uuid>,
    /// Where it goes.
    pub recipient: String,
    /// When the change happened.
    pub at: DateTime<Utc>,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Delivery attempts made.
    pub attempts: u32,
    /// Next attempt not before (pending notices).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure (the mail server's answer).
    pub last_error: Option<String>,
    /// Accepted by the mail server.
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<OutboxMessage> for OutboxNoticeView {
    fn from(m: OutboxMessage) -> Self {
        Self {
            id: *m.notice.id.as_uuid(),
            kind: m.notice.kind.as_str().to_owned(),
            user_id: m.notice.user_id.map(|u| *u.as_uuid()),
            recipient: m.notice.recipient,
            at: m.notice.at,
            status: m.status.as_str().to_owned(),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
            sent_at: m.sent_at,
        }
    }
}

/// An entry of the outbox: the notice, or, for a stored notice that does not decode, a
/// [`DamagedView`] (`"damaged": true`, `id` the notice id; a notice has no `damaged` field).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum OutboxListEntry {
    /// The notice.
    Notice(OutboxNoticeView),
    /// A damaged row.
    Damaged(DamagedView),
}

/// A page of notices.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OutboxPageView {
    /// Notices, newest first; a stored notice that does not decode is listed in its place
    /// as `{"id", "damaged": true, "problem"}` (and logged by its id only).
    pub notices: Vec<OutboxListEntry>,
    /// Page size asked for.
    pub limit: u32,
    /// Notices skipped.
    pub offset: u64,
}

/// E-mail notices, newest first, by delivery state.
#[utoipa::path(
    tag = "Admin",
    operation_id = "outbox",
    description = "Pending notices stay until delivered or failed; sent ones are listed until `outbox.sent_retention_days` after sending, failed ones until `outbox.failed_retention_days` after their last attempt (then the periodic purge deletes them).",
    params(OutboxParams),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = OutboxPageView),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/api/admin/outbox")]
pub(crate) async fn outbox(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authed = state.authenticate(&req).await?;
    let params = actix_web::web::Query::<OutboxParams>::from_query(req.query_string())
        .map_err(|_| {
            ApiError::validation(ValidationErrors::field("query", "The query string is malformed"))
        })?
        .into_inner();
    let query = params.query().map_err(ApiError::validation)?;
    let (limit, offset) = (query.limit, query.offset);
    let notices = state.use_cases.admin.outbox(&authed.caller, query).await?;
    let notices = list_entries(
        notices,
        |notice| OutboxListEntry::Notice(OutboxNoticeView::from(notice)),
        OutboxListEntry::Damaged,
    );
    Ok(HttpResponse::Ok().json(OutboxPageView { notices, limit, offset }))
}
