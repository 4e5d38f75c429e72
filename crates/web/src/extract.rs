//! What handlers take from a request, in the contract's order: the caller (401), CSRF
//! (403), then the body — whose problems (413 too large, 415 not JSON, 400 malformed) the
//! use case reports only after its attempt-limit check (429).
//!
//! Nothing here is an actix extractor that could reject a request on its own: each step is
//! an explicit call, so the order of checks is the order of the calls in the handler.

use std::net::IpAddr;

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use actix_web::{HttpRequest, HttpResponseBuilder};
use futures::StreamExt as _;
use serde_json::{Map, Value};
use slugbase_application::{Caller, ClientInfo, ValidationErrors};

use crate::WebConfig;
use crate::csrf::{CSRF_BODY_FIELD, CSRF_COOKIE, CSRF_HEADER, Csrf};
use crate::error::ApiError;
use crate::use_cases::WebUseCases;

/// Session cookie.
pub const SESSION_COOKIE: &str = "slugbase.sid";
/// Pending-MFA cookie (good only for `POST /api/auth/mfa/verify`).
pub const PENDING_COOKIE: &str = "slugbase.mfa_pending";
/// Lifetime of the pending-MFA cookie.
const PENDING_COOKIE_SECS: i64 = 5 * 60;

/// What every handler shares: the use cases and the web settings.
#[derive(Debug)]
pub struct AppState {
    /// The use cases, each behind its trait.
    pub use_cases: WebUseCases,
    /// Web settings.
    pub config: WebConfig,
    pub(crate) csrf: Csrf,
    secure_cookies: bool,
}

/// An authenticated caller, and how they came.
#[derive(Debug)]
pub(crate) struct Authed {
    pub(crate) caller: Caller,
    /// The `slugbase.sid` value when the caller came with the cookie (CSRF applies).
    session_id: Option<String>,
}

impl AppState {
    /// Builds the state: from the application's `UseCases`, or from a [`WebUseCases`]
    /// assembled by hand (mocks in the handler tests).
    #[must_use]
    pub fn new(use_cases: impl Into<WebUseCases>, config: WebConfig) -> Self {
        let use_cases = use_cases.into();
        let secure_cookies = config.public_base_url.starts_with("https://");
        let csrf = Csrf::new(config.csrf_key);
        Self { use_cases, config, csrf, secure_cookies }
    }

    /// The client address (socket peer, or the right-most untrusted `X-Forwarded-For`
    /// entry when the peer is a trusted proxy) and the user agent.
    pub(crate) fn client(&self, req: &HttpRequest) -> ClientInfo {
        let peer = req.peer_addr().map(|a| a.ip());
        let address = peer.map(|peer| client_address(req, peer, &self.config.trusted_proxies));
        let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        ClientInfo::new(address.map(|a| a.to_string()), ua)
    }

    /// The caller behind the `slugbase.sid` cookie, else behind `Authorization: Bearer`.
    ///
    /// # Errors
    /// 401 `UNAUTHENTICATED`; 503 / 500 when storage fails.
    pub(crate) async fn authenticate(&self, req: &HttpRequest) -> Result<Authed, ApiError> {
        let auth = &self.use_cases.authenticate;
        if let Some(sid) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned())
            && !sid.is_empty()
        {
            match auth.session(&sid).await {
                Ok(caller) => return Ok(Authed { caller, session_id: Some(sid) }),
                Err(slugbase_application::auth::AuthError::Unauthenticated) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match bearer_token(req) {
            Some(token) => {
                let caller = auth.api_token(token).await?;
                Ok(Authed { caller, session_id: None })
            }
            None => Err(ApiError::unauthenticated()),
        }
    }

    /// The prologue of an authenticated unsafe request with a JSON body, in the contract's
    /// order: authenticate (401), read the body under the limit, check CSRF (403; the token
    /// may travel in the body as `csrfToken`). Body problems are left to the handler, which
    /// reports them after the attempt limit.
    ///
    /// # Errors
    /// 401 / 403, or 503 / 500 when storage fails.
    pub(crate) async fn unsafe_request(
        &self,
        req: &HttpRequest,
        payload: Payload,
    ) -> Result<(Authed, JsonBody, ClientInfo), ApiError> {
        let authed = self.authenticate(req).await?;
        let body = self.read_body(req, payload).await?;
        self.check_csrf(req, &authed, Some(&body))?;
        Ok((authed, body, self.client(req)))
    }

    /// The prologue of an authenticated unsafe request without a body (authenticate, CSRF).
    ///
    /// # Errors
    /// 401 / 403, or 503 / 500 when storage fails.
    pub(crate) async fn unsafe_request_without_body(
        &self,
        req: &HttpRequest,
    ) -> Result<(Authed, ClientInfo), ApiError> {
        let authed = self.authenticate(req).await?;
        self.check_csrf(req, &authed, None)?;
        Ok((authed, self.client(req)))
    }

    /// CSRF for an unsafe request: required for cookie authentication, not for Bearer.
    ///
    /// # Errors
    /// 403 `CSRF_INVALID`.
    pub(crate) fn check_csrf(
        &self,
        req: &HttpRequest,
        authed: &Authed,
        body: Option<&JsonBody>,
    ) -> Result<(), ApiError> {
        let Some(session) = &authed.session_id else { return Ok(()) };
        let cookie = req.cookie(CSRF_COOKIE);
        let header =
            req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let sent = header.or_else(|| body.and_then(JsonBody::csrf_field));
        match (sent, cookie) {
            (Some(sent), Some(cookie)) if self.csrf.verify(&sent, cookie.value(), session) => {
                Ok(())
            }
            _ => Err(ApiError::csrf_invalid()),
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

    /// Reads the body, at most `body_limit_bytes`. A body over the limit or not declared as
    /// JSON is not refused here: it is reported as a field error to the use case (so the
    /// attempt limit still comes first) and turned into 413 / 415 by [`JsonBody::refine`].
    ///
    /// # Errors
    /// 400 when the body cannot be read at all; 408 when it does not arrive within
    /// `body_read_timeout` (see [`crate::body_deadline`]).
    pub(crate) async fn read_body(
        &self,
        req: &HttpRequest,
        mut payload: Payload,
    ) -> Result<JsonBody, ApiError> {
        let limit = self.config.body_limit_bytes;
        let json_type = is_json_content_type(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let too_large = JsonBody {
            bytes: Bytes::new(),
            json_type,
            problem: Some(BodyProblem::TooLarge(limit)),
        };
        if declared.is_some_and(|n| n > limit) {
            return Ok(too_large);
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                if crate::body_deadline::is_timeout(&e) {
                    tracing::debug!("request body did not arrive in time");
                    return ApiError::request_timeout();
                }
                tracing::debug!(error = %e, "request body could not be read");
                ApiError::validation(ValidationErrors::field("body", "The body could not be read"))
            })?;
            if bytes.len() + chunk.len() > limit {
                return Ok(too_large);
            }
            bytes.extend_from_slice(&chunk);
        }
        let bytes = bytes.freeze();
        let empty = bytes.iter().all(u8::is_ascii_whitespace);
        let problem = (!empty && !json_type).then_some(BodyProblem::NotJson);
        Ok(JsonBody { bytes, json_type, problem })
    }
}

/// The client behind `peer`: the peer itself unless it is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy (entries further left
/// were written by the client and prove nothing), or the left-most one if all are trusted.
fn client_address(req: &HttpRequest, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in req.headers().get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else { return peer };
        for part in value.split(',') {
            match parse_forwarded_ip(part) {
                Some(ip) => hops.push(ip),
                // A garbled chain cannot be trusted beyond the proxy itself.
                None => return peer,
            }
        }
    }
    let untrusted = hops.iter().rev().find(|ip| !trusted.contains(ip));
    untrusted.or_else(|| hops.first()).copied().unwrap_or(peer)
}

/// `Authorization: Bearer <token>`. The seed page's own examples show the header as
/// `Bearer YOUR_API_TOKEN (API token)`; a client that fills in only the placeholder sends
/// the label too, so a trailing ` (API token)` is tolerated.
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

/// One entry of `X-Forwarded-For` (`1.2.3.4`, `2001:db8::1`, `[2001:db8::1]:443`,
/// `1.2.3.4:5678`).
fn parse_forwarded_ip(part: &str) -> Option<IpAddr> {
    let part = part.trim();
    if let Ok(ip) = part.parse() {
        return Some(ip);
    }
    if let Ok(sock) = part.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    part.strip_prefix('[').and_then(|p| p.strip_suffix(']')).and_then(|p| p.parse().ok())
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// What makes a body unusable before its fields are looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyProblem {
    /// Over the limit (bytes): 413.
    TooLarge(usize),
    /// A body whose `Content-Type` is not JSON: 415.
    NotJson,
}

/// A request body, read but not yet judged.
#[derive(Debug)]
pub(crate) struct JsonBody {
    bytes: Bytes,
    json_type: bool,
    problem: Option<BodyProblem>,
}

impl JsonBody {
    fn is_empty(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
    }

    /// `csrfToken` from a JSON object body, if there is one.
    fn csrf_field(&self) -> Option<String> {
        if !self.json_type || self.problem.is_some() {
            return None;
        }
        let value: Value = serde_json::from_slice(&self.bytes).ok()?;
        value.get(CSRF_BODY_FIELD)?.as_str().map(str::to_owned)
    }

    /// For endpoints whose use case takes no body: 413 / 415 at once.
    ///
    /// # Errors
    /// 413 `PAYLOAD_TOO_LARGE`, 415 `UNSUPPORTED_MEDIA_TYPE`.
    pub(crate) fn check(&self) -> Result<(), ApiError> {
        match self.problem {
            None => Ok(()),
            Some(BodyProblem::TooLarge(limit)) => Err(ApiError::payload_too_large(limit)),
            Some(BodyProblem::NotJson) => Err(ApiError::unsupported_media_type()),
        }
    }

    /// Turns the use case's "the body is at fault" into 413 / 415 when that is why; any
    /// other error passes unchanged.
    pub(crate) fn refine(&self, error: impl Into<ApiError>) -> ApiError {
        let error = error.into();
        match (error.reason(), self.check()) {
            ("VALIDATION_FAILED", Err(media)) => media,
            _ => error,
        }
    }

    /// The body as fields (an empty body is an empty object), and what `read` builds from
    /// them; `Err` names the fields at fault (`body` when the body itself is).
    pub(crate) fn parse<T>(
        &self,
        read: impl FnOnce(&mut Fields) -> T,
    ) -> Result<T, ValidationErrors> {
        match self.problem {
            Some(BodyProblem::TooLarge(_)) => {
                return Err(ValidationErrors::field("body", "The body is too large"));
            }
            Some(BodyProblem::NotJson) => {
                return Err(ValidationErrors::field("body", "The body must be JSON"));
            }
            None => {}
        }
        let map = if self.is_empty() {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(&self.bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(ValidationErrors::field("body", "The body must be a JSON object"));
                }
                Err(e) => {
                    return Err(ValidationErrors::field(
                        "body",
                        format!(
                            "The body is not valid JSON (line {}, column {})",
                            e.line(),
                            e.column()
                        ),
                    ));
                }
            }
        };
        let mut fields = Fields { map, errors: ValidationErrors::default() };
        let value = read(&mut fields);
        fields.errors.into_result(value)
    }
}

/// The fields of a JSON object body, read one by one; type errors are collected.
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    errors: ValidationErrors,
}

impl Fields {
    /// A string that must be present.
    pub(crate) fn required_string(&mut self, name: &str) -> String {
        match self.map.remove(name) {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => {
                self.errors.push(name, format!("{name} is required"));
                String::new()
            }
            Some(_) => {
                self.errors.push(name, format!("{name} must be a string"));
                String::new()
            }
        }
    }

    /// A string that may be absent (`null` counts as absent).
    pub(crate) fn optional_string(&mut self, name: &str) -> Option<String> {
        match self.map.remove(name) {
            Some(Value::String(s)) => Some(s),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(name, format!("{name} must be a string"));
                None
            }
        }
    }

    /// A boolean that may be absent.
    pub(crate) fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.map.remove(name) {
            Some(Value::Bool(b)) => Some(b),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(name, format!("{name} must be a boolean"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use actix_web::test::TestRequest;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

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

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        let req = TestRequest::default()
            .insert_header(("X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.0.0.2"))
            .to_http_request();
        // From an untrusted peer the header is ignored.
        assert_eq!(client_address(&req, ip("192.0.2.7"), &trusted), ip("192.0.2.7"));
        // From a trusted one: the right-most entry that is not a trusted proxy.
        assert_eq!(client_address(&req, ip("10.0.0.1"), &trusted), ip("203.0.113.9"));
        // No header: the proxy itself.
        let bare = TestRequest::default().to_http_request();
        assert_eq!(client_address(&bare, ip("10.0.0.1"), &trusted), ip("10.0.0.1"));
        // A garbled chain: the proxy itself.
        let garbled = TestRequest::default()
            .insert_header(("X-Forwarded-For", "1.1.1.1, nonsense"))
            .to_http_request();
        assert_eq!(client_address(&garbled, ip("10.0.0.1"), &trusted), ip("10.0.0.1"));
        // Every hop trusted: the left-most.
        let inner = TestRequest::default()
            .insert_header(("X-Forwarded-For", "10.0.0.2, 10.0.0.1"))
            .to_http_request();
        assert_eq!(client_address(&inner, ip("10.0.0.1"), &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn fields_collect_every_type_error_and_treat_null_as_absent() {
        let body = JsonBody {
            bytes: Bytes::from_static(br#"{"a": 1, "b": null, "c": "x", "d": "y", "e": true}"#),
            json_type: true,
            problem: None,
        };
        let errors = body
            .parse(|f| {
                let a = f.required_string("a");
                let b = f.optional_string("b");
                let c = f.optional_bool("c");
                let d = f.optional_string("d");
                let e = f.optional_bool("e");
                (a, b, c, d, e)
            })
            .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "c"]);
        let ok = body.parse(|f| (f.optional_string("b"), f.optional_string("d"))).unwrap();
        assert_eq!(ok, (None, Some("y".to_owned())));
    }

    #[test]
    fn forwarded_entries_parse_with_or_without_ports() {
        assert_eq!(parse_forwarded_ip(" 10.0.0.1"), "10.0.0.1".parse().ok());
        assert_eq!(parse_forwarded_ip("10.0.0.1:80"), "10.0.0.1".parse().ok());
        assert_eq!(parse_forwarded_ip("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse_forwarded_ip("[2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(parse_forwarded_ip("unknown"), None);
    }
}
