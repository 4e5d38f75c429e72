//! Setup, login, the MFA step of login, logout, the current user (OIDC login: `oidc`).

use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, get, post};
use serde::Serialize;
use slugbase_application::collaborators::new_account::NewAccountInput;
use slugbase_application::use_cases::login::{LoginInput, LoginOutcome};
use slugbase_domain::{SecondFactor, User};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppState, PENDING_COOKIE, SESSION_COOKIE, defer};
use crate::requests::{LoginRequest, SetupRequest, VerifyRequest};
use crate::routes::passkeys::{PasskeyCeremonyView, ceremony_view};
use crate::views::{MessageView, UserView};
use slugbase_application::collaborators::second_factor::Possession;

impl AppState {
    /// The view of a user, with where they stand with the MFA policy now.
    pub(crate) fn user_view(&self, user: &User) -> UserView {
        UserView::new(user, &self.use_cases.mfa_status.standing(user))
    }
}

/// `{"initialized": bool}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SetupStatusView {
    /// The first administrator exists.
    pub initialized: bool,
}

/// Whether the first administrator exists.
#[utoipa::path(
    tag = "Setup",
    operation_id = "setup_status",
    responses((status = 200, description = "Success", body = SetupStatusView), (status = 503, description = "Database unavailable", body = ErrorBody))
)]
#[get("/api/auth/setup/status")]
pub(crate) async fn setup_status(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    let initialized = state.use_cases.setup.is_initialized().await?;
    Ok(HttpResponse::Ok().json(SetupStatusView { initialized }))
}

/// Create the first administrator and sign in.
#[utoipa::path(
    tag = "Setup",
    operation_id = "setup",
    request_body(content = SetupRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Success", body = UserView),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorBody),
        (status = 403, description = "ALREADY_INITIALIZED", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[post("/api/auth/setup")]
pub(crate) async fn setup(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let body = state.read_body(&req, payload).await?;
    let (input, rejection) = defer(body.json::<SetupRequest>().map(NewAccountInput::from));
    let client = state.client(&req);
    let (user, session) =
        state.use_cases.setup.execute(&client, input).await.map_err(|e| rejection.answer(e))?;
    let mut res = HttpResponse::Ok();
    state.set_session_cookie(&mut res, session.expose());
    Ok(res.json(state.user_view(&user)))
}

/// `{"mfa_required": true}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MfaRequiredView {
    /// Always true: continue with `POST /api/auth/mfa/verify`.
    pub mfa_required: bool,
}

/// Login's 200 body: the user, or `{"mfa_required": true}` when a second factor must follow.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginView {
    /// Signed in (no MFA).
    SignedIn(UserView),
    /// MFA is on: the pending cookie is set, verify comes next.
    MfaRequired(MfaRequiredView),
}

/// Sign in with e-mail and password.
#[utoipa::path(
    tag = "Auth",
    operation_id = "login",
    description = "Without MFA: sets `slugbase.sid` and returns the user. With MFA: returns `{\"mfa_required\": true}` and sets a five-minute `slugbase.mfa_pending` cookie, good only for `POST /api/auth/mfa/verify`. Under an MFA policy (`security.require_mfa`) the first sign-in of a covered user without MFA starts their grace period (`mfa_grace_started_at`, `mfa_grace_ends_at` in the answer); once it is over (`mfa_policy_status: \"overdue\"`) the session set here reaches only enrolment (`/api/auth/me`, `/api/auth/mfa/status`, `/api/auth/mfa/enroll/*`; everything else answers 403 `MFA_ENROLLMENT_REQUIRED`) until MFA is on.",
    request_body(content = LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in (the user), or MFA required (`{\"mfa_required\": true}`)", body = LoginView),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorBody),
        (status = 401, description = "INVALID_CREDENTIALS", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS", body = ErrorBody),
    )
)]
#[post("/api/auth/login")]
pub(crate) async fn login(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let body = state.read_body(&req, payload).await?;
    let (input, rejection) = defer(body.json::<LoginRequest>().map(LoginInput::from));
    let client = state.client(&req);
    let mut res = HttpResponse::Ok();
    let outcome =
        state.use_cases.login.execute(&client, input).await.map_err(|e| rejection.answer(e));
    state.config.metrics.authentication("password", &outcome);
    let outcome = outcome?;
    state.replace_earlier_sign_in(&req, &client).await;
    match outcome {
        LoginOutcome::SignedIn { user, session } => {
            state.set_session_cookie(&mut res, session.expose());
            state.clear_cookie(&mut res, PENDING_COOKIE);
            Ok(res.json(LoginView::SignedIn(state.user_view(&user))))
        }
        LoginOutcome::MfaRequired { pending } => {
            state.set_pending_cookie(&mut res, pending.expose());
            // A session from before this login must not outlive it in this browser.
            if req.cookie(SESSION_COOKIE).is_some() {
                state.clear_cookie(&mut res, SESSION_COOKIE);
            }
            Ok(res.json(LoginView::MfaRequired(MfaRequiredView { mfa_required: true })))
        }
    }
}

/// Who a pending login is signing in.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PendingAccountView {
    /// The account's e-mail address.
    pub email: String,
    /// Its display name.
    pub name: String,
    /// It has a passkey: the second step may offer one beside the code.
    pub passkeys: bool,
    /// It has TOTP: the second step may ask for an authenticator code. `false` with passkeys
    /// alone: a passkey or a backup code is the second step.
    pub totp: bool,
}

/// The account the second step signs in.
#[utoipa::path(
    tag = "Auth",
    operation_id = "verify_pending_account",
    description = "Takes the `slugbase.mfa_pending` cookie from login (password or OIDC): the account it is signing in, for the second step's page to name it, and whether it has a passkey to offer. Reads only; counts no attempt.",
    responses(
        (status = 200, description = "The account", body = PendingAccountView),
        (status = 401, description = "MFA_PENDING_INVALID", body = ErrorBody),
    )
)]
#[get("/api/auth/mfa/pending")]
pub(crate) async fn pending_account(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let pending = req.cookie(PENDING_COOKIE).map(|c| c.value().to_owned());
    let account = state.use_cases.verify_login.pending_account(pending.as_deref()).await?;
    Ok(HttpResponse::Ok().json(PendingAccountView {
        email: account.user.email.as_str().to_owned(),
        name: account.user.name.as_str().to_owned(),
        passkeys: account.passkeys,
        totp: account.user.mfa.has_totp(),
    }))
}

/// Challenge for the second step with a passkey.
#[utoipa::path(
    tag = "Auth",
    operation_id = "verify_passkey_challenge",
    description = "Takes the `slugbase.mfa_pending` cookie from login. Returns options for `navigator.credentials.get()` listing the account's passkeys (user verification required) and a `ceremony_id`; send both answer and id to `POST /api/auth/mfa/verify`. Each challenge answers once and lives five minutes; asking for one counts no attempt.",
    responses(
        (status = 200, description = "Options for the authenticator", body = PasskeyCeremonyView),
        (status = 400, description = "NO_PASSKEYS (the account has none: use a code) or PASSKEYS_UNAVAILABLE", body = ErrorBody),
        (status = 401, description = "MFA_PENDING_INVALID", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[post("/api/auth/mfa/verify/challenge")]
pub(crate) async fn verify_challenge(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let pending = req.cookie(PENDING_COOKIE).map(|c| c.value().to_owned());
    let body = state.read_body(&req, payload).await?;
    body.ensure_acceptable()?;
    let started = state.use_cases.verify_login.passkey_challenge(pending.as_deref()).await?;
    Ok(HttpResponse::Ok().json(ceremony_view(started)?))
}

/// Second step of a login with MFA.
#[utoipa::path(
    tag = "Auth",
    operation_id = "verify",
    description = "Takes the `slugbase.mfa_pending` cookie from login and a TOTP or unused backup code — or, in place of `code`, a passkey's answer (`ceremony_id` and `credential`) to `POST /api/auth/mfa/verify/challenge`. On success the pending state is spent, `slugbase.sid` is set with a new session id and the user is returned. A refused passkey answer counts against the same attempt limits as a wrong code.",
    request_body(content = VerifyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Success", body = UserView),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorBody),
        (status = 401, description = "MFA_PENDING_INVALID (checked before the body), INVALID_CODE: a wrong, used or malformed code, or INVALID_PASSKEY: a passkey answer to no live challenge of the account (each challenge answers once), for another account's passkey, failing verification, or with a signature counter that did not move forward", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS", body = ErrorBody),
    )
)]
#[post("/api/auth/mfa/verify")]
pub(crate) async fn verify(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let pending = req.cookie(PENDING_COOKIE).map(|c| c.value().to_owned());
    let body = state.read_body(&req, payload).await?;
    let (possession, rejection) = defer(body.json::<VerifyRequest>().map(Possession::from));
    let method = match &possession {
        Ok(Possession::Code(code)) => {
            SecondFactor::parse(code).map_or("code", |f| f.kind().as_str())
        }
        Ok(Possession::Passkey(_)) => "passkey",
        Err(_) => "code",
    };
    let client = state.client(&req);
    let verified = state
        .use_cases
        .verify_login
        .execute(pending.as_deref(), &client, possession)
        .await
        .map_err(|e| rejection.answer(e));
    state.config.metrics.authentication(method, &verified);
    let (user, session) = verified?;
    let mut res = HttpResponse::Ok();
    state.clear_cookie(&mut res, PENDING_COOKIE);
    state.set_session_cookie(&mut res, session.expose());
    Ok(res.json(state.user_view(&user)))
}

/// Sign out: the session is revoked server-side and both cookies are cleared.
#[utoipa::path(
    tag = "Auth",
    operation_id = "logout",
    responses((status = 200, description = "Success", body = MessageView, example = json!({"message": "Logged out"})))
)]
#[post("/api/auth/logout")]
pub(crate) async fn logout(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let pending = req.cookie(PENDING_COOKIE).map(|c| c.value().to_owned());
    let client = state.client(&req);
    state.use_cases.logout.execute(session.as_deref(), pending.as_deref(), &client).await?;
    let mut res = HttpResponse::Ok();
    state.clear_cookie(&mut res, SESSION_COOKIE);
    state.clear_cookie(&mut res, PENDING_COOKIE);
    Ok(res.json(MessageView { message: "Logged out".to_owned() }))
}

/// The current user.
#[utoipa::path(
    tag = "Auth",
    operation_id = "me",
    description = "Also answers a caller the MFA policy holds to enrolment (`mfa_policy_status: \"overdue\"`): it is how a client learns that it must enrol.",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses((status = 200, description = "Success", body = UserView), (status = 401, description = "UNAUTHENTICATED", body = ErrorBody))
)]
#[get("/api/auth/me")]
pub(crate) async fn me(state: Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let authed = state.authenticate_enrolling(&req).await?;
    let caller = &authed.caller;
    Ok(HttpResponse::Ok().json(UserView::new(&caller.user, &caller.mfa_standing)))
}
