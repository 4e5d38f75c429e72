//! `/api/auth/mfa/*` except verify: disable (the headline operation), status, enrollment,
//! backup codes.

use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use slugbase_application::collaborators::both_factors::BothFactorsInput;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppState, defer};
use crate::requests::{BothFactorsRequest, CodeRequest};
use crate::views::{MfaPolicyStatus, OkView};

/// Disable MFA.
#[utoipa::path(
    tag = "MFA",
    operation_id = "disable",
    summary = "Disable MFA",
    description = include_str!("../disable.md"),
    request_body(content = BothFactorsRequest, content_type = "application/json"),
    security(("session_cookie" = []), ("bearer_token" = [])),
    params(("X-CSRF-Token" = Option<String>, Header, description = "CSRF token; required with the session cookie, not with a Bearer token")),
    responses(
        (status = 200, description = "MFA is off", body = OkView, example = json!({"ok": true})),
        (status = 400, description = "VALIDATION_FAILED, MFA_NOT_ENABLED, PASSWORD_REQUIRED or INVALID_CODE", body = ErrorBody,
            example = json!({"error": "Bad Request", "message": "The request contains invalid parameters or malformed data", "code": 400, "reason": "INVALID_CODE", "details": [{"field": "code", "message": "TOTP or unused backup code is invalid"}]})),
        (status = 401, description = "UNAUTHENTICATED, INVALID_PASSWORD, or REAUTH_REQUIRED (optional OIDC re-authentication policy)", body = ErrorBody,
            example = json!({"error": "Unauthorized", "message": "Authentication required. Please provide a valid API token", "code": 401, "reason": "UNAUTHENTICATED"})),
        (status = 403, description = "CSRF_INVALID or MFA_REQUIRED_BY_POLICY", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS (see Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/api/auth/mfa/disable")]
pub(crate) async fn disable(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.authenticated_change_with_body(&req, payload).await?;
    let (input, rejection) = defer(body.json::<BothFactorsRequest>().map(BothFactorsInput::from));
    state
        .use_cases
        .disable_mfa
        .execute(&authed.caller, &client, input)
        .await
        .map_err(|e| rejection.answer(e))?;
    Ok(HttpResponse::Ok().json(OkView::OK))
}

/// `GET /api/auth/mfa/status`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MfaStatusView {
    /// MFA is on: at least one second factor, TOTP or a passkey.
    pub enabled: bool,
    /// A confirmed TOTP secret is one of the factors (`false` with passkeys alone: no TOTP
    /// code is asked for, a backup code or a passkey proves possession).
    pub totp: bool,
    /// Passkeys registered (`GET /api/auth/passkeys` lists them).
    pub passkeys: u32,
    /// When it was turned on.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// Unused backup codes.
    pub backup_codes_remaining: u32,
    /// A policy (`security.require_mfa`) requires MFA of the caller.
    pub required: bool,
    /// Where the caller stands with the MFA policy.
    pub policy_status: MfaPolicyStatus,
    /// When the caller's grace period started; null when none applies.
    pub grace_started_at: Option<DateTime<Utc>>,
    /// When it ends (`in_grace`) or ended (`overdue`); null when none applies.
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// Whole days of grace left, rounded up; 0 once it is over (only enrolment is reachable
    /// then); null when no grace period applies.
    pub grace_days_left: Option<u32>,
}

/// MFA status of the caller.
#[utoipa::path(
    tag = "MFA",
    operation_id = "mfa_status",
    description = "Also answers a caller the MFA policy holds to enrolment, with how long the grace period lasts or since when it is over.",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = MfaStatusView),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
    )
)]
#[get("/api/auth/mfa/status")]
pub(crate) async fn mfa_status(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authed = state.authenticate_enrolling(&req).await?;
    let view = state.use_cases.mfa_status.execute(&authed.caller).await?;
    let policy = &view.policy;
    Ok(HttpResponse::Ok().json(MfaStatusView {
        enabled: view.enabled,
        totp: view.totp,
        passkeys: view.passkeys,
        enrolled_at: view.enrolled_at,
        backup_codes_remaining: view.backup_codes_remaining,
        required: policy.required(),
        policy_status: policy.into(),
        grace_started_at: policy.grace_started_at(),
        grace_ends_at: policy.grace_ends_at(),
        grace_days_left: policy.grace_days_left(),
    }))
}

/// A new TOTP secret, shown once.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EnrollmentView {
    /// `otpauth://totp/<Issuer>:<email>?secret=…&issuer=…`.
    pub otpauth_url: String,
    /// The secret, Base32, for manual entry.
    pub secret: String,
    /// The otpauth URL as a QR code: `data:image/png;base64,…`.
    pub qr_png: String,
}

/// Begin MFA enrollment.
#[utoipa::path(
    tag = "MFA",
    operation_id = "enroll_begin",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = EnrollmentView),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 409, description = "MFA_ALREADY_ENABLED", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[post("/api/auth/mfa/enroll/begin")]
pub(crate) async fn enroll_begin(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.enrolment_change_with_body(&req, payload).await?;
    body.ensure_acceptable()?;
    let enrollment = state.use_cases.enroll_begin.execute(&authed.caller, &client).await?;
    // The Totp port hands over the PNG base64-encoded: a data URL needs nothing more.
    let qr_png = format!("data:image/png;base64,{}", enrollment.qr_png_base64);
    Ok(HttpResponse::Ok().json(EnrollmentView {
        otpauth_url: enrollment.otpauth_url.expose().to_owned(),
        secret: enrollment.secret.expose_base32().to_owned(),
        qr_png,
    }))
}

/// Backup codes, shown once.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BackupCodesView {
    /// Ten one-time codes, 16 lowercase hex characters each.
    pub backup_codes: Vec<String>,
}

/// Confirm MFA enrollment with a TOTP code.
#[utoipa::path(
    tag = "MFA",
    operation_id = "enroll_confirm",
    request_body(content = CodeRequest, content_type = "application/json"),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = BackupCodesView),
        (status = 400, description = "VALIDATION_FAILED, MFA_NO_PENDING or INVALID_CODE", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 409, description = "MFA_ALREADY_ENABLED", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS", body = ErrorBody),
    )
)]
#[post("/api/auth/mfa/enroll/confirm")]
pub(crate) async fn enroll_confirm(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.enrolment_change_with_body(&req, payload).await?;
    let (code, rejection) = defer(body.json::<CodeRequest>().map(|r| r.code));
    let codes = state
        .use_cases
        .enroll_confirm
        .execute(&authed.caller, &client, code)
        .await
        .map_err(|e| rejection.answer(e))?;
    Ok(HttpResponse::Ok().json(BackupCodesView {
        backup_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
    }))
}

/// Cancel a pending MFA enrollment.
#[utoipa::path(
    tag = "MFA",
    operation_id = "enroll_cancel",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = OkView),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 409, description = "MFA_ALREADY_ENABLED", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[post("/api/auth/mfa/enroll/cancel")]
pub(crate) async fn enroll_cancel(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.enrolment_change_with_body(&req, payload).await?;
    body.ensure_acceptable()?;
    state.use_cases.enroll_cancel.execute(&authed.caller, &client).await?;
    Ok(HttpResponse::Ok().json(OkView::OK))
}

/// Replace every backup code (same checks as disable).
#[utoipa::path(
    tag = "MFA",
    operation_id = "regenerate_backup_codes",
    request_body(content = BothFactorsRequest, content_type = "application/json"),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = BackupCodesView),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS", body = ErrorBody),
    )
)]
#[post("/api/auth/mfa/backup/regenerate")]
pub(crate) async fn regenerate_backup_codes(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.authenticated_change_with_body(&req, payload).await?;
    let (input, rejection) = defer(body.json::<BothFactorsRequest>().map(BothFactorsInput::from));
    let codes = state
        .use_cases
        .regenerate_backup_codes
        .execute(&authed.caller, &client, input)
        .await
        .map_err(|e| rejection.answer(e))?;
    Ok(HttpResponse::Ok().json(BackupCodesView {
        backup_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
    }))
}
