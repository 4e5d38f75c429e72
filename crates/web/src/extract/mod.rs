//! What handlers take from a request, in the contract's order (`docs/api.md`, the disable
//! table): the caller (401), CSRF (403), then the body — whose problems (413 too large, 415
//! not JSON, 400 malformed) the use case lets the handler report only at its own point,
//! after its attempt limit (429).
//!
//! Nothing here is an actix extractor that could reject a request on its own: each step is
//! an explicit call, so the order of checks is the order of the calls in the handler.

use actix_web::HttpRequest;
use actix_web::web::Payload;
use slugbase_application::ClientInfo;

use crate::error::ApiError;

mod auth;
pub(crate) mod body;
mod client_address;
mod cookies;
mod csrf;
mod fields;
mod state;

pub(crate) use auth::Authed;
pub(crate) use body::{RawBody, defer};
pub use cookies::{OIDC_FLOW_COOKIE, PENDING_COOKIE, SESSION_COOKIE};
pub(crate) use fields::{Fields, JsonRequest};
pub use state::AppState;

impl AppState {
    /// The prologue of a change made by an authenticated caller, with a JSON body, in the
    /// contract's order: authenticate (401), read the body under the limit (408 when it
    /// stalls), check CSRF for a cookie caller (403; the token may travel in the body as
    /// `csrfToken`). What the body holds is judged later, by the handler and its use case.
    ///
    /// # Errors
    /// 401 / 403 / 408 / 400 (unreadable body), or 503 / 500 when storage fails.
    pub(crate) async fn authenticated_change_with_body(
        &self,
        req: &HttpRequest,
        payload: Payload,
    ) -> Result<(Authed, RawBody, ClientInfo), ApiError> {
        let authed = self.authenticate(req).await?;
        let body = self.read_body(req, payload).await?;
        self.check_csrf(req, &authed, Some(&body))?;
        Ok((authed, body, self.client(req)))
    }

    /// [`Self::authenticated_change_with_body`] for enrolment's own changes, which a caller
    /// the MFA policy holds to enrolment may make
    /// ([`AppState::authenticate_enrolling`]).
    ///
    /// # Errors
    /// 401 / 403 / 408 / 400 (unreadable body), or 503 / 500 when storage fails.
    pub(crate) async fn enrolment_change_with_body(
        &self,
        req: &HttpRequest,
        payload: Payload,
    ) -> Result<(Authed, RawBody, ClientInfo), ApiError> {
        let authed = self.authenticate_enrolling(req).await?;
        let body = self.read_body(req, payload).await?;
        self.check_csrf(req, &authed, Some(&body))?;
        Ok((authed, body, self.client(req)))
    }

    /// The prologue of a change made by an authenticated caller, without a body:
    /// authenticate (401), check CSRF for a cookie caller (403).
    ///
    /// # Errors
    /// 401 / 403, or 503 / 500 when storage fails.
    pub(crate) async fn authenticated_change(
        &self,
        req: &HttpRequest,
    ) -> Result<(Authed, ClientInfo), ApiError> {
        let authed = self.authenticate(req).await?;
        self.check_csrf(req, &authed, None)?;
        Ok((authed, self.client(req)))
    }
}
