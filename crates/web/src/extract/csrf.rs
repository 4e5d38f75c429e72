//! The CSRF check of a change made with the session cookie (double submit of a token the
//! server signed; see [`crate::csrf`]). Bearer callers are exempt.

use actix_web::HttpRequest;

use super::auth::Authed;
use super::body::RawBody;
use super::state::AppState;
use crate::csrf::{CSRF_COOKIE, CSRF_HEADER};
use crate::error::ApiError;

impl AppState {
    /// CSRF for an unsafe request: required for cookie authentication, not for Bearer. The
    /// token comes in `X-CSRF-Token`, else as `csrfToken` in a JSON `body`.
    ///
    /// # Errors
    /// 403 `CSRF_INVALID`.
    pub(crate) fn check_csrf(
        &self,
        req: &HttpRequest,
        authed: &Authed,
        body: Option<&RawBody>,
    ) -> Result<(), ApiError> {
        let Some(session) = &authed.session_id else { return Ok(()) };
        let cookie = req.cookie(CSRF_COOKIE);
        let header =
            req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let sent = header.or_else(|| body.and_then(RawBody::csrf_field));
        match (sent, cookie) {
            (Some(sent), Some(cookie)) if self.csrf.verify(&sent, cookie.value(), session) => {
                Ok(())
            }
            _ => Err(ApiError::csrf_invalid()),
        }
    }
}
