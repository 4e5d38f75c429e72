//! Who is calling: the `slugbase.sid` cookie, else `Authorization: Bearer sb_…`.

use actix_web::HttpRequest;
use actix_web::http::header;
use slugbase_application::Caller;
use slugbase_application::use_cases::authenticate::AuthError;

use super::cookies::SESSION_COOKIE;
use super::state::AppState;
use crate::error::ApiError;

/// An authenticated caller, and how they came.
#[derive(Debug)]
pub(crate) struct Authed {
    pub(crate) caller: Caller,
    /// The `slugbase.sid` value when the caller came with the cookie (CSRF applies).
    pub(super) session_id: Option<String>,
}

impl AppState {
    /// The caller behind the `slugbase.sid` cookie, else behind `Authorization: Bearer` —
    /// refused while the MFA policy holds them to enrolment (their grace period is over and
    /// they have no second factor). What every route calls but enrolment's own.
    ///
    /// # Errors
    /// 401 `UNAUTHENTICATED`; 403 `MFA_ENROLLMENT_REQUIRED`; 503 / 500 when storage fails.
    pub(crate) async fn authenticate(&self, req: &HttpRequest) -> Result<Authed, ApiError> {
        let authed = self.authenticate_enrolling(req).await?;
        if authed.caller.mfa_standing.confines_to_enrolment() {
            return Err(ApiError::mfa_enrollment_required());
        }
        Ok(authed)
    }

    /// The caller, also one the MFA policy holds to enrolment: only for what enrolment needs
    /// (`GET /api/auth/me`, `GET /api/auth/mfa/status`, `POST /api/auth/mfa/enroll/begin`,
    /// `…/confirm`, `…/cancel`, `POST /api/auth/passkeys/register/begin`, `…/finish`;
    /// [`crate::ENROLMENT_OPERATIONS`] lists them for the
    /// OpenAPI document). Once enrolment is confirmed the same session or token reaches
    /// everything again: the standing is read afresh on every request.
    ///
    /// # Errors
    /// 401 `UNAUTHENTICATED`; 503 / 500 when storage fails.
    pub(crate) async fn authenticate_enrolling(
        &self,
        req: &HttpRequest,
    ) -> Result<Authed, ApiError> {
        let auth = &self.use_cases.authenticate;
        if let Some(sid) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned())
            && !sid.is_empty()
        {
            match auth.session(&sid).await {
                Ok(caller) => return Ok(Authed { caller, session_id: Some(sid) }),
                Err(AuthError::Unauthenticated) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match bearer_token(req) {
            Some(token) => {
                let checked = auth.api_token(token).await.map_err(ApiError::from);
                self.config.metrics.authentication("token", &checked);
                Ok(Authed { caller: checked?, session_id: None })
            }
            None => Err(ApiError::unauthenticated()),
        }
    }
}

/// `Authorization: Bearer <token>`. The seed page's own examples
/// (`docs/seed-mfa-disable.txt`) show the header as `Bearer YOUR_API_TOKEN (API token)`; a
/// client that fills in only the placeholder sends the label too, so a trailing
/// ` (API token)` is tolerated.
fn bearer_token(req: &HttpRequest) -> Option<&str> {
    bearer_credentials(req.headers().get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// The token in an `Authorization` value, if it is a Bearer one.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let rest = rest.trim();
    let token = rest.strip_suffix("(API token)").map_or(rest, str::trim_end);
    (!token.is_empty() && !token.contains(char::is_whitespace)).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_credentials;

    #[test]
    fn bearer_credentials_are_the_token_after_the_scheme() {
        assert_eq!(bearer_credentials("Bearer sb_abc"), Some("sb_abc"));
        assert_eq!(bearer_credentials("bearer  sb_abc "), Some("sb_abc"));
        assert_eq!(bearer_credentials("Bearer sb_abc (API token)"), Some("sb_abc"));
        assert_eq!(bearer_credentials("Bearer sb_abc(API token)"), Some("sb_abc"));
        assert_eq!(bearer_credentials("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_credentials("Bearer"), None);
        assert_eq!(bearer_credentials("Bearer (API token)"), None);
        assert_eq!(bearer_credentials("Bearer a b"), None);
    }
}
