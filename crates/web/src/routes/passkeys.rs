//! `/api/auth/passkeys`: register (options, then the authenticator's answer), list, rename
//! and remove the caller's passkeys — second factors beside TOTP (or alone: the first one
//! registered while MFA is off turns MFA on).

use actix_web::http::StatusCode;
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, get, patch, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use slugbase_application::collaborators::both_factors::BothFactorsInput;
use slugbase_application::collaborators::passkey_ceremonies::{CeremonyOptions, PasskeyAssertion};
use slugbase_application::use_cases::passkeys::{FinishRegistrationInput, PasskeyView, Registered};
use slugbase_domain::PasskeyId;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::PENDING_COOKIE;
use crate::extract::{AppState, defer};
use crate::requests::{
    BothFactorsRequest, FinishPasskeyRegistrationRequest, PasskeySignInRequest,
    RenamePasskeyRequest,
};
use crate::routes::path_id;
use crate::views::UserView;
use crate::views::{DamagedView, OkView, list_entries};

/// A passkey as listed: never its credential.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PasskeyItemView {
    /// Public id.
    pub id: Uuid,
    /// The name its owner gave it.
    pub name: String,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Last used (to prove possession); `null` until then.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The credential may be backed up (synced) by its provider.
    pub backup_eligible: bool,
    /// The credential was backed up when last seen.
    pub backed_up: bool,
}

impl From<PasskeyView> for PasskeyItemView {
    fn from(v: PasskeyView) -> Self {
        Self {
            id: *v.id.as_uuid(),
            name: v.name,
            created_at: v.created_at,
            last_used_at: v.last_used_at,
            backup_eligible: v.backup_eligible,
            backed_up: v.backup_state,
        }
    }
}

/// A registered passkey: the passkey as listed and, when registering it turned MFA on, the
/// backup codes.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RegisteredPasskeyView {
    /// The new passkey.
    #[serde(flatten)]
    pub passkey: PasskeyItemView,
    /// Present only when this registration turned MFA on (the account had no second
    /// factor): ten one-time backup codes, 16 lowercase hex characters each, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_codes: Option<Vec<String>>,
}

impl From<Registered> for RegisteredPasskeyView {
    fn from(r: Registered) -> Self {
        Self {
            passkey: PasskeyItemView::from(r.passkey),
            backup_codes: r
                .backup_codes
                .map(|codes| codes.iter().map(|c| c.expose().to_owned()).collect()),
        }
    }
}

/// An entry of `GET /api/auth/passkeys`: the passkey, or, for a stored one that does not
/// decode, a [`DamagedView`] (`"damaged": true`; a passkey has no `damaged` field).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PasskeyListEntry {
    /// The passkey.
    Passkey(PasskeyItemView),
    /// A damaged row.
    Damaged(DamagedView),
}

/// A WebAuthn ceremony started: a registration, or a challenge to answer with a passkey.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PasskeyCeremonyView {
    /// Send it back with the answer; single use, valid five minutes.
    pub ceremony_id: String,
    /// For a registration, `PublicKeyCredentialCreationOptions` for
    /// `navigator.credentials.create(options)`; for a challenge,
    /// `PublicKeyCredentialRequestOptions` for `navigator.credentials.get(options)`. Either
    /// as `{"publicKey": {…}}` with binary fields base64url (decode `challenge`, `user.id`,
    /// `excludeCredentials[].id` and `allowCredentials[].id` first, or use
    /// `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`).
    /// User verification is required; attestation `none`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// The view of a started ceremony.
///
/// # Errors
/// 500 if the relying party's options are not JSON (a bug).
pub(crate) fn ceremony_view(started: CeremonyOptions) -> Result<PasskeyCeremonyView, ApiError> {
    let options = serde_json::from_str(&started.options_json).map_err(|e| {
        tracing::error!(error = %e, "the WebAuthn options do not parse");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "An internal error occurred",
        )
    })?;
    Ok(PasskeyCeremonyView { ceremony_id: started.ceremony_id.expose().to_owned(), options })
}

/// Start registering a passkey.
#[utoipa::path(
    tag = "Passkeys",
    operation_id = "passkey_register_begin",
    description = "MFA need not be on: the first passkey of an account without a second factor turns MFA on when it is registered (see `POST /api/auth/passkeys/register/finish`).",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Options for the authenticator", body = PasskeyCeremonyView),
        (status = 400, description = "PASSKEYS_UNAVAILABLE (server.public_base_url names an IP address)", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 409, description = "PASSKEY_LIMIT_REACHED (10 per account)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[post("/api/auth/passkeys/register/begin")]
pub(crate) async fn register_begin(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, _client) = state.enrolment_change_with_body(&req, payload).await?;
    body.ensure_acceptable()?;
    let started = state.use_cases.passkeys.begin_registration(&authed.caller).await?;
    Ok(HttpResponse::Ok().json(ceremony_view(started)?))
}

/// Challenge to answer with a passkey, as proof of possession.
#[utoipa::path(
    tag = "Passkeys",
    operation_id = "passkey_challenge",
    description = "Options for `navigator.credentials.get()` listing the caller's passkeys (user verification required) and a `ceremony_id`. The answer (`credential`) and the id go in place of `code` to `POST /api/auth/mfa/disable`, `POST /api/auth/mfa/backup/regenerate` and `POST /api/auth/passkeys/{id}/remove`. Each challenge answers once and lives five minutes; asking for one counts no attempt.",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Options for the authenticator", body = PasskeyCeremonyView),
        (status = 400, description = "NO_PASSKEYS or PASSKEYS_UNAVAILABLE", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[post("/api/auth/mfa/challenge")]
pub(crate) async fn challenge(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, _client) = state.authenticated_change_with_body(&req, payload).await?;
    body.ensure_acceptable()?;
    let started = state.use_cases.passkeys.begin_assertion(&authed.caller).await?;
    Ok(HttpResponse::Ok().json(ceremony_view(started)?))
}

/// Finish registering a passkey with the authenticator's answer.
#[utoipa::path(
    tag = "Passkeys",
    operation_id = "passkey_register_finish",
    description = "Stores the passkey with its `passkey_added` event and e-mail notice. When the account has MFA off, the same transaction turns MFA on: ten backup codes are issued (returned in `backup_codes`, this once), with the `mfa_enroll_confirm_success` event (proof `passkey`) and the \"two-factor authentication turned on\" notice. Of two registrations racing on an account with MFA off, one turns MFA on and returns the codes; the other stores its passkey only. A pending TOTP enrollment stays pending.",
    request_body(content = FinishPasskeyRegistrationRequest, content_type = "application/json"),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 201, description = "Registered; `backup_codes` only when this registration turned MFA on", body = RegisteredPasskeyView),
        (status = 400, description = "VALIDATION_FAILED (details name the field), PASSKEY_CEREMONY_INVALID (unknown, expired or already finished), PASSKEY_REJECTED (the credential does not parse or fails verification) or PASSKEYS_UNAVAILABLE", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 409, description = "PASSKEY_ALREADY_REGISTERED", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[post("/api/auth/passkeys/register/finish")]
pub(crate) async fn register_finish(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.enrolment_change_with_body(&req, payload).await?;
    let (input, rejection) =
        defer(body.json::<FinishPasskeyRegistrationRequest>().map(FinishRegistrationInput::from));
    let view = state
        .use_cases
        .passkeys
        .finish_registration(&authed.caller, &client, input)
        .await
        .map_err(|e| rejection.answer(e))?;
    Ok(HttpResponse::Created().json(RegisteredPasskeyView::from(view)))
}

/// The caller's passkeys, oldest first.
#[utoipa::path(
    tag = "Passkeys",
    operation_id = "list_passkeys",
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Success", body = Vec<PasskeyListEntry>),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
    )
)]
#[get("/api/auth/passkeys")]
pub(crate) async fn list_passkeys(
    state: Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authed = state.authenticate(&req).await?;
    let passkeys = state.use_cases.passkeys.list(&authed.caller).await?;
    let entries = list_entries(
        passkeys,
        |passkey| PasskeyListEntry::Passkey(PasskeyItemView::from(passkey)),
        PasskeyListEntry::Damaged,
    );
    Ok(HttpResponse::Ok().json(entries))
}

/// Rename one of the caller's passkeys.
#[utoipa::path(
    tag = "Passkeys",
    operation_id = "rename_passkey",
    params(("id" = Uuid, Path, description = "Passkey id")),
    request_body(content = RenamePasskeyRequest, content_type = "application/json"),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Renamed", body = OkView),
        (status = 400, description = "VALIDATION_FAILED (`id` not a UUID; `name` empty, over 64 characters or with a control character)", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 404, description = "PASSKEY_NOT_FOUND (also another user's)", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
    )
)]
#[patch("/api/auth/passkeys/{id}")]
pub(crate) async fn rename_passkey(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.authenticated_change_with_body(&req, payload).await?;
    let id: PasskeyId = path_id(&req)?;
    let (name, rejection) = defer(body.json::<RenamePasskeyRequest>().map(|r| r.name));
    state
        .use_cases
        .passkeys
        .rename(&authed.caller, &client, id, name)
        .await
        .map_err(|e| rejection.answer(e))?;
    Ok(HttpResponse::Ok().json(OkView::OK))
}

/// Remove one of the caller's passkeys, with the proof `POST /api/auth/mfa/disable` asks
/// for.
#[utoipa::path(
    tag = "Passkeys",
    operation_id = "remove_passkey",
    description = "Needs what disabling MFA needs, checked in the same order with the same attempt limits: a TOTP code, an unused backup code or a passkey's answer to `POST /api/auth/mfa/challenge` (any of the caller's passkeys, this one too), and the password of a local user (an OIDC-only user sends no password). The passkey is looked up first: one that is not the caller's is 404 and counts no attempt. Then the account's last second factor (no TOTP, no other passkey) is refused with 409 `LAST_SECOND_FACTOR`, counting no attempt: turn MFA off with `POST /api/auth/mfa/disable` instead, or add another factor first. On success, in one transaction: the code spent, the passkey removed, the `passkey_removed` event and the e-mail notice stored. No session ends: another factor stays.",
    params(("id" = Uuid, Path, description = "Passkey id")),
    request_body(content = BothFactorsRequest, content_type = "application/json"),
    security(("session_cookie" = []), ("bearer_token" = [])),
    responses(
        (status = 200, description = "Removed", body = OkView),
        (status = 400, description = "VALIDATION_FAILED, MFA_NOT_ENABLED, PASSWORD_REQUIRED, INVALID_CODE or INVALID_PASSKEY", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED or INVALID_PASSWORD", body = ErrorBody),
        (status = 403, description = "CSRF_INVALID", body = ErrorBody),
        (status = 404, description = "PASSKEY_NOT_FOUND (also another user's)", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 409, description = "LAST_SECOND_FACTOR: the account's only factor (no TOTP, no other passkey); use `POST /api/auth/mfa/disable`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS (see Retry-After)", body = ErrorBody),
    )
)]
#[post("/api/auth/passkeys/{id}/remove")]
pub(crate) async fn remove_passkey(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let (authed, body, client) = state.authenticated_change_with_body(&req, payload).await?;
    let id: PasskeyId = path_id(&req)?;
    let (input, rejection) = defer(body.json::<BothFactorsRequest>().map(BothFactorsInput::from));
    state
        .use_cases
        .passkeys
        .remove(&authed.caller, &client, id, input)
        .await
        .map_err(|e| rejection.answer(e))?;
    Ok(HttpResponse::Ok().json(OkView::OK))
}

/// Start signing in with a passkey alone.
#[utoipa::path(
    tag = "Passkeys",
    operation_id = "passkey_sign_in_begin",
    description = "No e-mail address, no password: options for `navigator.credentials.get()` that name no credential — the authenticator offers the discoverable passkeys it holds for this site — with user verification required, and a single-use, five-minute `ceremony_id`. Send both the answer and the id to `POST /api/auth/passkeys/sign-in/finish`. A passkey registered on an authenticator that could not make it discoverable serves as a second factor only.",
    responses(
        (status = 200, description = "Options for the authenticator", body = PasskeyCeremonyView),
        (status = 400, description = "PASSKEYS_UNAVAILABLE", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS: this address started more sign-ins than `security.limits.sign_in_starts` allows (see Retry-After)", body = ErrorBody),
    )
)]
#[post("/api/auth/passkeys/sign-in/begin")]
pub(crate) async fn sign_in_begin(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let body = state.read_body(&req, payload).await?;
    body.ensure_acceptable()?;
    let client = state.client(&req);
    let started = state.use_cases.passkey_sign_in.begin(&client).await?;
    Ok(HttpResponse::Ok().json(ceremony_view(started)?))
}

/// Sign in with a passkey alone.
#[utoipa::path(
    tag = "Passkeys",
    operation_id = "passkey_sign_in_finish",
    description = "Verifies the answer to `POST /api/auth/passkeys/sign-in/begin` (user verification required: it counts as both factors) and signs in the account it names, local or OIDC-only: sets `slugbase.sid` with a new session id and returns the user, as `POST /api/auth/login` does. The passkey's counter is spent with the new session and its `login_success` event (proof `passkey`) in one transaction. A refused answer for a known account counts against that account's sign-in limit like a wrong password (a window, never a lockout: anyone may send an answer naming any account, and none may lock it out).",
    request_body(content = PasskeySignInRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = UserView),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorBody),
        (status = 401, description = "INVALID_PASSKEY: no live challenge (each answers once), no account or passkey of it, a failed verification, or a signature counter that did not move forward", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `server.body_read_timeout_secs`; the connection is closed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body not JSON", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS (see Retry-After)", body = ErrorBody),
    )
)]
#[post("/api/auth/passkeys/sign-in/finish")]
pub(crate) async fn sign_in_finish(
    state: Data<AppState>,
    req: HttpRequest,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let body = state.read_body(&req, payload).await?;
    let (input, rejection) = defer(body.json::<PasskeySignInRequest>().map(PasskeyAssertion::from));
    let client = state.client(&req);
    let signed_in = state
        .use_cases
        .passkey_sign_in
        .finish(&client, input)
        .await
        .map_err(|e| rejection.answer(e));
    state.config.metrics.authentication("passkey", &signed_in);
    let (user, session) = signed_in?;
    state.replace_earlier_sign_in(&req, &client).await;
    let mut res = HttpResponse::Ok();
    state.set_session_cookie(&mut res, session.expose());
    state.clear_cookie(&mut res, PENDING_COOKIE);
    Ok(res.json(state.user_view(&user)))
}
