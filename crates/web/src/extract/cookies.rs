//! The cookies this service sets and clears, with the attributes they share.

use actix_web::HttpResponseBuilder;
use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, SameSite};

use super::state::AppState;
use crate::csrf::CSRF_COOKIE;

/// Session cookie.
pub const SESSION_COOKIE: &str = "slugbase.sid";
/// Pending-MFA cookie (good only for `POST /api/auth/mfa/verify`).
pub const PENDING_COOKIE: &str = "slugbase.mfa_pending";
/// Lifetime of the pending-MFA cookie.
const PENDING_COOKIE_SECS: i64 = 5 * 60;
/// OIDC login in progress: binds the server-side flow to this browser.
pub const OIDC_FLOW_COOKIE: &str = "slugbase.oidc_flow";

impl AppState {
    /// Whatever this browser held before is replaced by a login that succeeded: revoke it
    /// server-side too, not just in the browser. The login itself has succeeded, so a
    /// failure here is logged.
    pub(crate) async fn replace_earlier_sign_in(
        &self,
        req: &actix_web::HttpRequest,
        client: &slugbase_application::ClientInfo,
    ) {
        let old_session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let old_pending = req.cookie(PENDING_COOKIE).map(|c| c.value().to_owned());
        if old_session.is_some() || old_pending.is_some() {
            let (session, pending) = (old_session.as_deref(), old_pending.as_deref());
            let revoked = self.use_cases.logout.execute(session, pending, client);
            if let Err(error) = revoked.await {
                tracing::warn!(error = %error, "the session replaced by a login could not be revoked");
            }
        }
    }

    /// A cookie with the attributes every cookie of ours shares.
    fn cookie(&self, name: &'static str, value: String, same_site: SameSite) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(same_site)
            .finish()
    }

    /// Sets `slugbase.sid`.
    pub(crate) fn set_session_cookie(&self, res: &mut HttpResponseBuilder, session: &str) {
        res.cookie(self.cookie(SESSION_COOKIE, session.to_owned(), SameSite::Lax));
    }

    /// Sets `slugbase.mfa_pending` (five minutes).
    pub(crate) fn set_pending_cookie(&self, res: &mut HttpResponseBuilder, pending: &str) {
        let mut cookie = self.cookie(PENDING_COOKIE, pending.to_owned(), SameSite::Lax);
        cookie.set_max_age(Duration::seconds(PENDING_COOKIE_SECS));
        res.cookie(cookie);
    }

    /// Sets `slugbase.oidc_flow` for as long as the flow lives. `SameSite=Lax`: the
    /// provider's redirect back is a top-level GET navigation, which Lax cookies follow.
    pub(crate) fn set_oidc_flow_cookie(&self, res: &mut HttpResponseBuilder, flow: &str) {
        let mut cookie = self.cookie(OIDC_FLOW_COOKIE, flow.to_owned(), SameSite::Lax);
        cookie.set_max_age(Duration::seconds(
            slugbase_application::use_cases::oidc_login::FLOW_LIFETIME_SECS,
        ));
        res.cookie(cookie);
    }

    /// Sets `_csrf`.
    pub(crate) fn set_csrf_cookie(&self, res: &mut HttpResponseBuilder, token: &str) {
        res.cookie(self.cookie(CSRF_COOKIE, token.to_owned(), SameSite::Strict));
    }

    /// Tells the browser to drop a cookie of ours.
    pub(crate) fn clear_cookie(&self, res: &mut HttpResponseBuilder, name: &'static str) {
        let same_site = if name == CSRF_COOKIE { SameSite::Strict } else { SameSite::Lax };
        let mut cookie = self.cookie(name, String::new(), same_site);
        cookie.make_removal();
        res.cookie(cookie);
    }
}
