//! Error responses made outside our handlers (actix's own, a library's) rewritten into the
//! contract's error shape (`docs/api.md` § Conventions), so no HTML or plain-text error
//! ever leaves the server.

use actix_web::ResponseError as _;
use actix_web::http::StatusCode;
use actix_web::http::header;

use super::ApiError;

/// Rewrites any error response that is not already JSON (actix's own, a library's) into the
/// contract's error shape, so no HTML or plain-text error ever leaves the server; and gives
/// every 503 a `Retry-After` (JSON ones built elsewhere too).
pub(crate) fn normalize_error_response<B>(
    mut res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    if res.status() == StatusCode::SERVICE_UNAVAILABLE
        && !res.headers().contains_key(header::RETRY_AFTER)
    {
        res.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(super::RETRY_AFTER_UNAVAILABLE_SECS),
        );
    }
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
