//! OIDC login: the configured providers, the redirect to one, and its callback. Both
//! redirecting endpoints answer with 302s a browser follows; their failures go to the login
//! page (`/login?error=<reason>`), never to a JSON body, except an unknown provider (404)
//! and a bad query parameter (400).

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, get};
use serde::{Deserialize, Serialize};
use slugbase_application::use_cases::oidc_login::{
    BeginInput, CallbackInput, CallbackOutcome, OidcError,
};
use slugbase_domain::ReturnTo;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppState, OIDC_FLOW_COOKIE, PENDING_COOKIE, SESSION_COOKIE};
use crate::metrics::Metrics;

/// A configured OIDC provider.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProviderView {
    /// Key used in `/api/auth/{provider}`.
    pub provider_key: String,
    /// Shown on the login page.
    pub display_name: String,
    /// The provider's issuer URL.
    pub issuer_url: String,
    /// `{server.public_base_url}/api/auth/{provider_key}/callback`: register it at the
    /// provider.
    pub callback_url: String,
}

/// The configured OIDC providers.
#[utoipa::path(
    tag = "Auth",
    operation_id = "providers",
    responses((status = 200, description = "Success", body = Vec<ProviderView>))
)]
#[get("/api/auth/providers")]
pub(crate) async fn providers(state: Data<AppState>) -> HttpResponse {
    let base = &state.config.public_base_url;
    let list: Vec<ProviderView> = state
        .use_cases
        .oidc_login
        .providers()
        .into_iter()
        .map(|p| ProviderView {
            callback_url: format!("{base}/api/auth/{}/callback", p.key),
            provider_key: p.key,
            display_name: p.display_name,
            issuer_url: p.issuer_url,
        })
        .collect();
    HttpResponse::Ok().json(list)
}

/// `GET /api/auth/{provider}`'s query.
#[derive(Debug, Deserialize)]
struct BeginQuery {
    return_to: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
}

/// `GET /api/auth/{provider}/callback`'s query (what else the provider sends is ignored).
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The `{provider}` segment.
fn provider_key(req: &HttpRequest) -> String {
    req.match_info().get("provider").unwrap_or_default().to_owned()
}

/// A 302 to `location`, never cached.
fn found(location: &str) -> HttpResponseBuilder {
    let mut res = HttpResponse::Found();
    res.insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    res
}

/// The answer to a failed OIDC request: the login page with the reason, or an error body.
fn failure(state: &AppState, error: OidcError) -> Result<HttpResponse, ApiError> {
    match error {
        OidcError::Failed(reason) => {
            let mut res = found(&format!("/login?error={}", reason.as_str()));
            state.clear_cookie(&mut res, OIDC_FLOW_COOKIE);
            Ok(res.finish())
        }
        other => Err(other.into()),
    }
}

/// Start a login at an OIDC provider.
#[utoipa::path(
    tag = "Auth",
    operation_id = "oidc_login",
    description = "302 to the provider's authorization endpoint with `state`, `nonce` and a PKCE S256 challenge; the flow is kept server-side (single use, 10 minutes) and bound to this browser by the HttpOnly `slugbase.oidc_flow` cookie. `return_to` is where the browser goes after login: it is resolved against `server.public_base_url` as a browser resolves it (WHATWG URL: dot segments removed, `\\` read as `/`, tabs and newlines dropped) and accepted only if the result is on that origin with a path starting with one `/` followed by neither `/` nor `\\` (else 400); only the resolved path, query and fragment are used afterwards; `prompt=login` and `max_age` ask the provider to authenticate the user again. A provider whose discovery has not succeeded yet sends the browser to `/login?error=provider_unavailable`.",
    params(
        ("provider" = String, Path, description = "Provider key"),
        ("return_to" = Option<String>, Query, description = "Where to go after login: a target on this site (resolved as a browser does; at most 512 bytes)"),
        ("prompt" = Option<String>, Query, description = "`login`: the provider authenticates the user again"),
        ("max_age" = Option<u32>, Query, description = "Seconds: the provider re-authenticates an older session"),
    ),
    responses(
        (status = 302, description = "To the provider, or to `/login?error=provider_unavailable`"),
        (status = 400, description = "VALIDATION_FAILED (`return_to`, `prompt`, `max_age`)", body = ErrorBody),
        (status = 404, description = "PROVIDER_NOT_FOUND", body = ErrorBody),
        (status = 405, description = "METHOD_NOT_ALLOWED: the key is a fixed route beside this one (`login`, `logout`, `setup`, …) that takes another method", body = ErrorBody),
    )
)]
#[get("/api/auth/{provider}")]
pub(crate) async fn oidc_login(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req);
    if let Some(allow) = super::static_path_methods(req.path()) {
        // A fixed route of ours (`/api/auth/login`, …) asked with a method it does not take.
        return Err(ApiError::method_not_allowed().with_allow(allow));
    }
    let query = actix_web::web::Query::<BeginQuery>::from_query(req.query_string())
        .map_err(|_| query_error("return_to", "Query parameters must be strings"))?
        .into_inner();
    let prompt_login = match query.prompt.as_deref() {
        None => false,
        Some("login") => true,
        Some(_) => return Err(query_error("prompt", "prompt must be `login`")),
    };
    // Resolved against this site as a browser would; only the resolved path goes on.
    let return_to = query
        .return_to
        .as_deref()
        .map(|raw| ReturnTo::resolve(raw, &state.config.public_base_url))
        .transpose()
        .map_err(|e| query_error("return_to", &e.to_string()))?;
    let input = BeginInput { return_to, prompt_login, max_age: query.max_age };
    match state.use_cases.oidc_login.begin(&key, input).await {
        Ok(start) => {
            let mut res = found(&start.redirect_url);
            state.set_oidc_flow_cookie(&mut res, start.flow.expose());
            Ok(res.finish())
        }
        Err(error) => failure(&state, error),
    }
}

/// 400 `VALIDATION_FAILED` naming a query parameter.
fn query_error(field: &str, message: &str) -> ApiError {
    ApiError::validation(slugbase_application::ValidationErrors::field(field, message))
}

/// The provider's redirect back after login.
#[utoipa::path(
    tag = "Auth",
    operation_id = "oidc_callback",
    description = "Exchanges the code (with the PKCE verifier), validates the ID token (signature against the provider's JWKS, `iss`, `aud`, `azp`, `exp`, `nonce`) and signs in: a fresh `slugbase.sid` and a 302 to `return_to` or `/` (always `/`, the account page, for a user the MFA policy holds to enrolment). An account with MFA gets the pending-MFA state instead (`slugbase.mfa_pending`, a 302 to `/login?mfa=required`, with `&return_to=<path>` when the login was given one, for the login page to go on to; the session follows `POST /api/auth/mfa/verify`) unless the ID token's `amr` names a method the provider's `trust_idp_mfa_amr` lists. Failures: a 302 to `/login?error=<reason>` (`auth_failed`, `state_invalid`, `auto_create_disabled`, `email_required`, `email_unusable` (the provider's e-mail is malformed or over 254 bytes lower-cased), `provider_unavailable`) and no session. The flow is used up by the first callback, whatever its outcome.",
    params(
        ("provider" = String, Path, description = "Provider key"),
        ("code" = Option<String>, Query, description = "Authorization code"),
        ("state" = Option<String>, Query, description = "The state sent to the provider"),
        ("error" = Option<String>, Query, description = "The provider's refusal"),
    ),
    responses(
        (status = 302, description = "Signed in (to `return_to` or `/`), MFA step (`/login?mfa=required`, plus `&return_to=`), or failed (`/login?error=<reason>`)"),
        (status = 404, description = "PROVIDER_NOT_FOUND", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/api/auth/{provider}/callback")]
pub(crate) async fn oidc_callback(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req);
    // Unreadable parameters are as good as absent: the flow is still used up.
    let query = actix_web::web::Query::<CallbackQuery>::from_query(req.query_string())
        .map(actix_web::web::Query::into_inner)
        .unwrap_or(CallbackQuery { code: None, state: None, error: None });
    let input = CallbackInput {
        flow: req.cookie(OIDC_FLOW_COOKIE).map(|c| c.value().to_owned()),
        state: query.state,
        code: query.code,
        error: query.error,
    };
    let client = state.client(&req);
    let outcome = match state.use_cases.oidc_login.callback(&key, input, &client).await {
        Ok(outcome) => {
            state.config.metrics.authentication_outcome("oidc", "success");
            outcome
        }
        Err(error) => {
            let answer = failure(&state, error);
            // A refusal the browser is sent back to the login page with is a failure too.
            let outcome = answer.as_ref().map_or_else(Metrics::outcome_of, |_| "failure");
            state.config.metrics.authentication_outcome("oidc", outcome);
            return answer;
        }
    };
    // Whatever this browser held before is replaced by this login (as after a password
    // login); the login itself has succeeded, so a failure here is logged.
    let old_session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let old_pending = req.cookie(PENDING_COOKIE).map(|c| c.value().to_owned());
    if old_session.is_some() || old_pending.is_some() {
        let revoked =
            state.use_cases.logout.execute(old_session.as_deref(), old_pending.as_deref(), &client);
        if let Err(error) = revoked.await {
            tracing::warn!(error = %error, "the session replaced by an OIDC login could not be revoked");
        }
    }
    let mut res = match outcome {
        CallbackOutcome::SignedIn { user, session, return_to } => {
            // A user the MFA policy holds to enrolment can use no other page: to the
            // account page, where enrolment is.
            let overdue = state.use_cases.mfa_status.standing(&user).confines_to_enrolment();
            let mut res = found(if overdue { "/" } else { &return_to });
            state.set_session_cookie(&mut res, session.expose());
            if old_pending.is_some() {
                state.clear_cookie(&mut res, PENDING_COOKIE);
            }
            res
        }
        CallbackOutcome::MfaRequired { pending, return_to } => {
            let mut res = found(&mfa_step(&return_to));
            state.set_pending_cookie(&mut res, pending.expose());
            if old_session.is_some() {
                state.clear_cookie(&mut res, SESSION_COOKIE);
            }
            res
        }
    };
    state.clear_cookie(&mut res, OIDC_FLOW_COOKIE);
    Ok(res.finish())
}

/// The login page's MFA step, carrying `return_to` (a same-origin path, checked when the
/// login began) when it is not the default, so the page can go there once verified.
fn mfa_step(return_to: &str) -> String {
    if return_to == "/" {
        return "/login?mfa=required".to_owned();
    }
    let query = serde_urlencoded::to_string([("mfa", "required"), ("return_to", return_to)])
        .unwrap_or_else(|_| "mfa=required".to_owned());
    format!("/login?{query}")
}
