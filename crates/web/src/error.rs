//! One error type for every failure the HTTP API reports, in the seed's shape:
//! `{"error": <reason phrase>, "message": <sentence>, "code": <status>, "reason": <REASON>,
//! "details": [...]}` (`details` only when fields are at fault).
//!
//! Each use-case error enum is mapped here with one exhaustive `match`, so a new variant
//! does not compile until it has a status and a reason. Unexpected failures are logged once,
//! here, with their cause chain; the client gets an opaque body.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use slugbase_application::accounts::{AdminError, SetupError};
use slugbase_application::attempts::TooManyAttempts;
use slugbase_application::auth::{AuthError, LoginError, VerifyLoginError};
use slugbase_application::mfa::{EnrollConfirmError, EnrollError, MfaChangeError};
use slugbase_application::tokens::CreateApiTokenError;
use slugbase_application::{FieldError, Unexpected, ValidationErrors};
use slugbase_domain::DisableDenied;
use utoipa::ToSchema;

/// The seed's message for 400s.
pub(crate) const MSG_BAD_REQUEST: &str =
    "The request contains invalid parameters or malformed data";
/// The seed's message for 401 without credentials.
pub(crate) const MSG_UNAUTHENTICATED: &str =
    "Authentication required. Please provide a valid API token";

/// One field at fault.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// JSON field name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The body of every 4xx and 5xx response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// HTTP reason phrase (`Bad Request`).
    pub error: String,
    /// Human sentence.
    pub message: String,
    /// HTTP status as a number.
    pub code: u16,
    /// Stable machine-readable reason (`INVALID_CODE`, …).
    pub reason: String,
    /// Fields at fault, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

/// A failure on its way to the client.
#[derive(Debug, thiserror::Error)]
#[error("{status} {reason}: {message}")]
pub struct ApiError {
    status: StatusCode,
    reason: &'static str,
    message: Cow<'static, str>,
    details: Vec<ErrorDetail>,
    retry_after: Option<u32>,
    allow: Option<String>,
    /// Answer with `Connection: close` and end the connection.
    close: bool,
}

impl ApiError {
    /// A failure with a status, a reason and a sentence.
    #[must_use]
    pub fn new(
        status: StatusCode,
        reason: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            allow: None,
            close: false,
        }
    }

    /// Adds a field at fault.
    #[must_use]
    pub fn with_field(mut self, field: &str, message: impl Into<String>) -> Self {
        self.details.push(ErrorDetail { field: field.to_owned(), message: message.into() });
        self
    }

    /// Adds an `Allow` header (405).
    #[must_use]
    pub fn with_allow(mut self, allow: String) -> Self {
        self.allow = Some(allow);
        self
    }

    /// The reason code.
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        self.reason
    }

    /// 400 `VALIDATION_FAILED` naming the fields.
    #[must_use]
    pub fn validation(errors: ValidationErrors) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "VALIDATION_FAILED", MSG_BAD_REQUEST);
        e.details = errors
            .0
            .into_iter()
            .map(|FieldError { field, message }| ErrorDetail { field, message })
            .collect();
        e
    }

    /// 401 `UNAUTHENTICATED`.
    #[must_use]
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", MSG_UNAUTHENTICATED)
    }

    /// 403 `CSRF_INVALID`.
    #[must_use]
    pub fn csrf_invalid() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "CSRF_INVALID",
            "Missing or invalid CSRF token. Fetch one from /api/csrf-token and send it in X-CSRF-Token",
        )
    }

    /// 404 for an unknown route.
    #[must_use]
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "No such endpoint")
    }

    /// 405 for a known route with another method.
    #[must_use]
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "This endpoint does not accept this HTTP method",
        )
    }

    /// 408 for a request body that did not arrive in time; the connection is closed.
    #[must_use]
    pub fn request_timeout() -> Self {
        let mut e = Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "The request body did not arrive in time; the connection is closed",
        );
        e.close = true;
        e
    }

    /// 413.
    #[must_use]
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("The request body is larger than {limit} bytes"),
        )
    }

    /// 415.
    #[must_use]
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "The request body must be JSON (Content-Type: application/json)",
        )
    }

    fn too_many(t: &TooManyAttempts) -> Self {
        let message = if t.locked_out {
            "Too many failed attempts; the account is locked until an administrator resets it"
        } else {
            "Too many failed attempts; try again later"
        };
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS", message);
        e.retry_after = Some(t.retry_after_secs.max(1));
        e
    }

    fn denied(d: DisableDenied) -> Self {
        let text = d.to_string();
        match d {
            DisableDenied::MfaNotEnabled => Self::new(StatusCode::BAD_REQUEST, d.reason(), text),
            DisableDenied::RequiredByPolicy => Self::new(StatusCode::FORBIDDEN, d.reason(), text),
            DisableDenied::PasswordRequired => {
                Self::new(StatusCode::BAD_REQUEST, d.reason(), MSG_BAD_REQUEST)
                    .with_field("password", text)
            }
            DisableDenied::InvalidPassword => {
                Self::new(StatusCode::UNAUTHORIZED, d.reason(), text.clone())
                    .with_field("password", text)
            }
            DisableDenied::InvalidCode => invalid_code(),
        }
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message.clone().into_owned(),
            code: self.status.as_u16(),
            reason: self.reason.to_owned(),
            details: self.details.clone(),
        }
    }
}

/// 400 `INVALID_CODE`, as the contract's example shows it.
fn invalid_code() -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_CODE", MSG_BAD_REQUEST)
        .with_field("code", "TOTP or unused backup code is invalid")
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(allow) = &self.allow
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            response.insert_header((header::ALLOW, value));
        }
        if self.close {
            response.force_close();
        }
        response.json(self.body())
    }
}

impl From<Unexpected> for ApiError {
    fn from(e: Unexpected) -> Self {
        match e {
            Unexpected::Unavailable(cause) => {
                tracing::error!(error = format!("{cause:#}"), "storage unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "The service is temporarily unavailable; try again later",
                )
            }
            Unexpected::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    "An internal error occurred",
                )
            }
        }
    }
}

impl From<MfaChangeError> for ApiError {
    fn from(e: MfaChangeError) -> Self {
        match e {
            MfaChangeError::TooManyAttempts(t) => Self::too_many(&t),
            MfaChangeError::Validation(v) => Self::validation(v),
            MfaChangeError::Denied(d) => Self::denied(d),
            MfaChangeError::Unexpected(u) => u.into(),
        }
    }
}

/// 409 `MFA_ALREADY_ENABLED`.
fn already_enabled() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "MFA_ALREADY_ENABLED", "MFA is already enabled")
}

impl From<EnrollError> for ApiError {
    fn from(e: EnrollError) -> Self {
        match e {
            EnrollError::AlreadyEnabled => already_enabled(),
            EnrollError::Unexpected(u) => u.into(),
        }
    }
}

impl From<EnrollConfirmError> for ApiError {
    fn from(e: EnrollConfirmError) -> Self {
        match e {
            EnrollConfirmError::TooManyAttempts(t) => Self::too_many(&t),
            EnrollConfirmError::Validation(v) => Self::validation(v),
            EnrollConfirmError::AlreadyEnabled => already_enabled(),
            EnrollConfirmError::NoPending => Self::new(
                StatusCode::BAD_REQUEST,
                "MFA_NO_PENDING",
                "No MFA enrollment is pending; begin one first",
            ),
            EnrollConfirmError::InvalidCode => {
                ApiError::new(StatusCode::BAD_REQUEST, "INVALID_CODE", MSG_BAD_REQUEST)
                    .with_field("code", "TOTP code is invalid")
            }
            EnrollConfirmError::Unexpected(u) => u.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::TooManyAttempts(t) => Self::too_many(&t),
            LoginError::Validation(v) => Self::validation(v),
            LoginError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "Invalid email or password",
            ),
            LoginError::Unexpected(u) => u.into(),
        }
    }
}

impl From<VerifyLoginError> for ApiError {
    fn from(e: VerifyLoginError) -> Self {
        match e {
            VerifyLoginError::PendingInvalid => Self::new(
                StatusCode::UNAUTHORIZED,
                "MFA_PENDING_INVALID",
                "No pending MFA login, or it expired; log in again",
            ),
            VerifyLoginError::TooManyAttempts(t) => Self::too_many(&t),
            VerifyLoginError::Validation(v) => Self::validation(v),
            VerifyLoginError::InvalidCode => invalid_code(),
            VerifyLoginError::Unexpected(u) => u.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => Self::unauthenticated(),
            AuthError::Unexpected(u) => u.into(),
        }
    }
}

impl From<CreateApiTokenError> for ApiError {
    fn from(e: CreateApiTokenError) -> Self {
        match e {
            CreateApiTokenError::Validation(v) => Self::validation(v),
            CreateApiTokenError::Unexpected(u) => u.into(),
        }
    }
}

impl From<SetupError> for ApiError {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::AlreadyInitialized => Self::new(
                StatusCode::FORBIDDEN,
                "ALREADY_INITIALIZED",
                "Setup has already been completed",
            ),
            SetupError::Validation(v) => Self::validation(v),
            SetupError::Unexpected(u) => u.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Forbidden => {
                Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", "Administrator rights required")
            }
            AdminError::Validation(v) => Self::validation(v),
            AdminError::EmailTaken => Self::new(
                StatusCode::CONFLICT,
                "EMAIL_EXISTS",
                "A user with this email already exists",
            )
            .with_field("email", "Email is already in use"),
            AdminError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "No such user")
            }
            AdminError::CannotDeleteSelf => Self::new(
                StatusCode::BAD_REQUEST,
                "CANNOT_DELETE_SELF",
                "You cannot delete your own account",
            ),
            AdminError::Unexpected(u) => u.into(),
        }
    }
}

/// Rewrites any error response that is not already JSON (actix's own, a library's) into the
/// seed's shape, so no HTML or plain-text error ever leaves the server.
pub(crate) fn normalize_error_response<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = ApiError::new(
        status,
        generic_reason(status),
        status.canonical_reason().unwrap_or("The request failed").to_owned(),
    );
    let (req, _) = res.into_parts();
    let response = error.error_response();
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// A reason for a status produced outside our handlers.
fn generic_reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "VALIDATION_FAILED",
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        408 => "REQUEST_TIMEOUT",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        429 => "TOO_MANY_ATTEMPTS",
        503 => "SERVICE_UNAVAILABLE",
        s if s >= 500 => "INTERNAL_ERROR",
        _ => "REQUEST_FAILED",
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody as _;
    use serde_json::Value;

    use super::*;

    fn body_of(error: &ApiError) -> Value {
        let bytes = error.error_response().into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn each_refusal_of_the_disable_table_has_its_status_and_reason() {
        let cases = [
            (DisableDenied::MfaNotEnabled, 400, "MFA_NOT_ENABLED"),
            (DisableDenied::RequiredByPolicy, 403, "MFA_REQUIRED_BY_POLICY"),
            (DisableDenied::PasswordRequired, 400, "PASSWORD_REQUIRED"),
            (DisableDenied::InvalidPassword, 401, "INVALID_PASSWORD"),
            (DisableDenied::InvalidCode, 400, "INVALID_CODE"),
        ];
        for (denied, status, reason) in cases {
            let error = ApiError::from(MfaChangeError::Denied(denied));
            assert_eq!(error.status_code().as_u16(), status, "{denied:?}");
            let body = body_of(&error);
            assert_eq!(body["reason"], reason);
            assert_eq!(body["code"], status);
        }
    }

    #[test]
    fn too_many_attempts_is_429_with_retry_after() {
        let error = ApiError::from(MfaChangeError::TooManyAttempts(TooManyAttempts {
            retry_after_secs: 42,
            locked_out: false,
        }));
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "42");
    }

    #[test]
    fn an_internal_error_is_opaque_and_an_outage_is_503() {
        let cause = anyhow_error("SELECT secret FROM totp WHERE code = '123456'");
        let error = ApiError::from(Unexpected::Internal(cause));
        let body = body_of(&error);
        assert_eq!(body["code"], 500);
        assert_eq!(body["reason"], "INTERNAL_ERROR");
        assert!(!body.to_string().contains("123456"), "{body}");
        assert!(!body.to_string().contains("SELECT"), "{body}");

        let error = ApiError::from(Unexpected::Unavailable(anyhow_error("connection refused")));
        let body = body_of(&error);
        assert_eq!(body["code"], 503);
        assert_eq!(body["error"], "Service Unavailable");
        assert!(!body.to_string().contains("refused"), "{body}");
    }

    fn anyhow_error(message: &'static str) -> anyhow::Error {
        anyhow::Error::msg(message)
    }
}
