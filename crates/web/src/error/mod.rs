//! One error type for every failure the HTTP API reports, in the error shape of
//! `docs/api.md` § Conventions (see [`body`]): `{"error": <reason phrase>, "message":
//! <sentence>, "code": <status>, "reason": <REASON>, "details": [...]}` (`details` only
//! when fields are at fault).
//!
//! [`ApiError`] is the response; [`mapping`] turns each use-case error into one (one
//! exhaustive `match` each), `extract::body` each body rejection; [`normalize`] rewrites
//! whatever actix or a library answers on its own into the same shape.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use slugbase_application::{FieldError, ValidationErrors};

pub mod body;
pub(crate) mod mapping;
mod normalize;

pub use body::{ErrorBody, ErrorDetail};
pub(crate) use mapping::ReportsInputRejected;
pub(crate) use normalize::normalize_error_response;

/// The message for 400s (`docs/api.md` § Conventions, from the seed).
pub(crate) const MSG_BAD_REQUEST: &str =
    "The request contains invalid parameters or malformed data";
/// `Retry-After` of every 503: the database's own waits (SQLite busy timeout, pool acquire
/// timeout) are 3–5 s by default, and an outage that lasts longer is better retried a little
/// later than hammered. Set on every 503 that does not bring its own (see
/// [`ApiError::error_response`] and [`normalize_error_response`]).
pub(crate) const RETRY_AFTER_UNAVAILABLE_SECS: u32 = 5;

/// The message for 401 without credentials (`docs/api.md` § Conventions).
pub(crate) const MSG_UNAUTHENTICATED: &str =
    "Authentication required. Please provide a valid API token";

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

    /// 403 `MFA_ENROLLMENT_REQUIRED`: the caller's grace period under the MFA policy is
    /// over, and this route is not one of enrolment's.
    #[must_use]
    pub fn mfa_enrollment_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MFA_ENROLLMENT_REQUIRED",
            "Two-factor authentication is required for this account: set it up first \
             (POST /api/auth/mfa/enroll/begin, then /api/auth/mfa/enroll/confirm, or add a passkey: POST /api/auth/passkeys/register/begin)",
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

    /// Sets `Retry-After` (429; every 503 gets [`RETRY_AFTER_UNAVAILABLE_SECS`] unless set).
    #[must_use]
    pub(crate) const fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
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

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        let unavailable = (self.status == StatusCode::SERVICE_UNAVAILABLE)
            .then_some(RETRY_AFTER_UNAVAILABLE_SECS);
        if let Some(secs) = self.retry_after.or(unavailable) {
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
