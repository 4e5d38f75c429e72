//! Every use-case error to its status, reason and details: one exhaustive `match` per
//! error enum, so a new variant does not compile until it has an answer. Unexpected
//! failures are logged once, here, with their cause chain; the client gets an opaque body.

use actix_web::http::StatusCode;
use slugbase_application::Unexpected;
use slugbase_application::collaborators::attempt_limiter::TooManyAttempts;
use slugbase_application::use_cases::api_tokens::CreateApiTokenError;
use slugbase_application::use_cases::passkey_sign_in::PasskeySignInError;
use slugbase_application::use_cases::passkeys::PasskeyError;
use slugbase_application::{
    collaborators::both_factors::MfaChangeError,
    use_cases::enroll::{EnrollConfirmError, EnrollError},
};
use slugbase_application::{use_cases::admin::AdminError, use_cases::setup::SetupError};
use slugbase_application::{
    use_cases::authenticate::AuthError, use_cases::change_password::ChangePasswordError,
    use_cases::login::LoginError, use_cases::oidc_login::OidcError,
    use_cases::verify_login::VerifyLoginError,
};
use slugbase_domain::DisableDenied;

use super::{ApiError, MSG_BAD_REQUEST};

/// A use-case error that can be the use case handing back the rejected input it was
/// given (`slugbase_application::InputRejected`): the handler that kept the body's own rejection answers with that instead (see
/// `extract::body::Deferred`).
pub(crate) trait ReportsInputRejected: Into<ApiError> {
    /// Whether this is the use case reporting the rejected input, at its point in the
    /// contract's order.
    fn is_input_rejected(&self) -> bool;
}

/// Implements [`ReportsInputRejected`] for use-case errors with an `InputRejected` variant.
macro_rules! reports_input_rejected {
    ($($error:ty),* $(,)?) => {$(
        impl ReportsInputRejected for $error {
            fn is_input_rejected(&self) -> bool {
                matches!(self, Self::InputRejected(_))
            }
        }
    )*};
}

reports_input_rejected!(
    MfaChangeError,
    EnrollConfirmError,
    LoginError,
    VerifyLoginError,
    CreateApiTokenError,
    SetupError,
    AdminError,
    ChangePasswordError,
    PasskeySignInError,
);

impl ReportsInputRejected for PasskeyError {
    fn is_input_rejected(&self) -> bool {
        matches!(self, Self::InputRejected(_) | Self::Change(MfaChangeError::InputRejected(_)))
    }
}

/// A use case reported rejected input the handler kept no reason for. Handlers always keep
/// one (`Deferred`), so this is only a safe answer for a bug: a 400 without details.
fn input_rejected() -> ApiError {
    tracing::warn!("a use case reported rejected input that no handler explained");
    ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION_FAILED", MSG_BAD_REQUEST)
}

/// 429 `TOO_MANY_ATTEMPTS` with `Retry-After`.
fn too_many(t: &TooManyAttempts) -> ApiError {
    let message = if t.locked_out {
        "Too many failed attempts; the account is locked until an administrator resets it"
    } else {
        "Too many failed attempts; try again later"
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS", message)
        .with_retry_after(t.retry_after_secs.max(1))
}

/// Rows 5–8 of the disable table.
fn denied(d: DisableDenied) -> ApiError {
    let text = d.to_string();
    match d {
        DisableDenied::MfaNotEnabled => ApiError::new(StatusCode::BAD_REQUEST, d.reason(), text),
        DisableDenied::RequiredByPolicy => ApiError::new(StatusCode::FORBIDDEN, d.reason(), text),
        DisableDenied::PasswordRequired => {
            ApiError::new(StatusCode::BAD_REQUEST, d.reason(), MSG_BAD_REQUEST)
                .with_field("password", text)
        }
        DisableDenied::InvalidPassword => {
            ApiError::new(StatusCode::UNAUTHORIZED, d.reason(), text.clone())
                .with_field("password", text)
        }
        DisableDenied::InvalidCode => invalid_code(),
        DisableDenied::InvalidPasskey => {
            ApiError::new(StatusCode::BAD_REQUEST, d.reason(), MSG_BAD_REQUEST)
                .with_field("credential", text)
        }
    }
}

/// 400 `NO_PASSKEYS`: a passkey challenge for an account without one.
fn no_passkeys() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "NO_PASSKEYS",
        "This account has no passkey; use an authenticator code or a backup code",
    )
}

/// 400 `PASSKEYS_UNAVAILABLE`.
fn passkeys_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "PASSKEYS_UNAVAILABLE",
        "passkeys are not available on this server",
    )
}

/// 400 `INVALID_CODE`, as the contract's example shows it.
fn invalid_code() -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_CODE", MSG_BAD_REQUEST)
        .with_field("code", "TOTP or unused backup code is invalid")
}

impl From<Unexpected> for ApiError {
    fn from(e: Unexpected) -> Self {
        match e {
            Unexpected::Unavailable(cause) => {
                tracing::error!(error = format!("{cause:#}"), "storage unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "The service is temporarily unavailable; try again later",
                )
            }
            Unexpected::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    "An internal error occurred",
                )
            }
        }
    }
}

impl From<MfaChangeError> for ApiError {
    fn from(e: MfaChangeError) -> Self {
        match e {
            MfaChangeError::TooManyAttempts(t) => too_many(&t),
            MfaChangeError::InputRejected(_) => input_rejected(),
            MfaChangeError::Denied(d) => denied(d),
            MfaChangeError::ReauthRequired => Self::new(
                StatusCode::UNAUTHORIZED,
                "REAUTH_REQUIRED",
                "Sign in at your identity provider again (GET /api/auth/{provider}?prompt=login), then retry",
            ),
            MfaChangeError::Unexpected(u) => u.into(),
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> Self {
        let text = e.to_string();
        match e {
            PasskeyError::InputRejected(_) => input_rejected(),
            PasskeyError::InvalidName(why) => {
                Self::new(StatusCode::BAD_REQUEST, "VALIDATION_FAILED", MSG_BAD_REQUEST)
                    .with_field("name", why.to_string())
            }
            PasskeyError::TooManyPasskeys => {
                Self::new(StatusCode::CONFLICT, "PASSKEY_LIMIT_REACHED", text)
            }
            PasskeyError::CeremonyInvalid => {
                Self::new(StatusCode::BAD_REQUEST, "PASSKEY_CEREMONY_INVALID", MSG_BAD_REQUEST)
                    .with_field("ceremony_id", text)
            }
            PasskeyError::CredentialRejected => {
                Self::new(StatusCode::BAD_REQUEST, "PASSKEY_REJECTED", MSG_BAD_REQUEST)
                    .with_field("credential", text)
            }
            PasskeyError::AlreadyRegistered => {
                Self::new(StatusCode::CONFLICT, "PASSKEY_ALREADY_REGISTERED", text)
            }
            PasskeyError::NotFound => Self::new(StatusCode::NOT_FOUND, "PASSKEY_NOT_FOUND", text),
            PasskeyError::LastFactor => Self::new(StatusCode::CONFLICT, "LAST_SECOND_FACTOR", text),
            PasskeyError::Unavailable => passkeys_unavailable(),
            PasskeyError::NoPasskeys => no_passkeys(),
            PasskeyError::Change(change) => change.into(),
            PasskeyError::Unexpected(u) => u.into(),
        }
    }
}

/// 409 `MFA_ALREADY_ENABLED`.
fn already_enabled() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "MFA_ALREADY_ENABLED", "MFA is already enabled")
}

impl From<EnrollError> for ApiError {
    fn from(e: EnrollError) -> Self {
        match e {
            EnrollError::AlreadyEnabled => already_enabled(),
            EnrollError::Unexpected(u) => u.into(),
        }
    }
}

impl From<EnrollConfirmError> for ApiError {
    fn from(e: EnrollConfirmError) -> Self {
        match e {
            EnrollConfirmError::TooManyAttempts(t) => too_many(&t),
            EnrollConfirmError::InputRejected(_) => input_rejected(),
            EnrollConfirmError::AlreadyEnabled => already_enabled(),
            EnrollConfirmError::NoPending => Self::new(
                StatusCode::BAD_REQUEST,
                "MFA_NO_PENDING",
                "No MFA enrollment is pending; begin one first",
            ),
            EnrollConfirmError::InvalidCode => {
                Self::new(StatusCode::BAD_REQUEST, "INVALID_CODE", MSG_BAD_REQUEST)
                    .with_field("code", "TOTP code is invalid")
            }
            EnrollConfirmError::Unexpected(u) => u.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::TooManyAttempts(t) => too_many(&t),
            LoginError::InputRejected(_) => input_rejected(),
            LoginError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "Invalid email or password",
            ),
            LoginError::Unexpected(u) => u.into(),
        }
    }
}

impl From<PasskeySignInError> for ApiError {
    fn from(e: PasskeySignInError) -> Self {
        match e {
            PasskeySignInError::InputRejected(_) => input_rejected(),
            PasskeySignInError::InvalidPasskey => Self::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_PASSKEY",
                "The passkey was not accepted",
            ),
            PasskeySignInError::TooManyAttempts(t) => too_many(&t),
            PasskeySignInError::Unavailable => passkeys_unavailable(),
            PasskeySignInError::Unexpected(u) => u.into(),
        }
    }
}

impl From<VerifyLoginError> for ApiError {
    fn from(e: VerifyLoginError) -> Self {
        match e {
            VerifyLoginError::PendingInvalid => Self::new(
                StatusCode::UNAUTHORIZED,
                "MFA_PENDING_INVALID",
                "No pending MFA login, or it expired; log in again",
            ),
            VerifyLoginError::TooManyAttempts(t) => too_many(&t),
            VerifyLoginError::InputRejected(_) => input_rejected(),
            // The login step answers 401, as SlugBase does; disable, regenerate and
            // enroll-confirm keep 400 (`invalid_code`).
            VerifyLoginError::InvalidCode => Self::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CODE",
                "The second factor was not accepted",
            )
            .with_field("code", "TOTP or unused backup code is invalid"),
            VerifyLoginError::InvalidPasskey => Self::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_PASSKEY",
                "The passkey was not accepted",
            ),
            VerifyLoginError::NoPasskeys => no_passkeys(),
            VerifyLoginError::PasskeysUnavailable => passkeys_unavailable(),
            VerifyLoginError::Unexpected(u) => u.into(),
        }
    }
}

impl From<OidcError> for ApiError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::UnknownProvider => Self::new(
                StatusCode::NOT_FOUND,
                "PROVIDER_NOT_FOUND",
                "No identity provider is configured under this key",
            ),
            OidcError::InvalidParameter(field) => {
                Self::new(StatusCode::BAD_REQUEST, "VALIDATION_FAILED", MSG_BAD_REQUEST).with_field(
                    field,
                    match field {
                        "return_to" => {
                            "return_to must be a path on this site (starting with one /)"
                        }
                        "max_age" => "max_age must be a whole number of seconds",
                        _ => "invalid value",
                    },
                )
            }
            // The handlers turn these into a redirect to the login page; as a body (a bug)
            // it is a plain 401.
            OidcError::Failed(reason) => Self::new(
                StatusCode::UNAUTHORIZED,
                "OIDC_LOGIN_FAILED",
                format!("OIDC login failed: {}", reason.as_str()),
            ),
            OidcError::Unexpected(u) => u.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => Self::unauthenticated(),
            AuthError::Unexpected(u) => u.into(),
        }
    }
}

impl From<CreateApiTokenError> for ApiError {
    fn from(e: CreateApiTokenError) -> Self {
        match e {
            CreateApiTokenError::Validation(v) => Self::validation(v),
            CreateApiTokenError::InputRejected(_) => input_rejected(),
            CreateApiTokenError::Unexpected(u) => u.into(),
        }
    }
}

impl From<SetupError> for ApiError {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::AlreadyInitialized => Self::new(
                StatusCode::FORBIDDEN,
                "ALREADY_INITIALIZED",
                "Setup has already been completed",
            ),
            SetupError::Validation(v) => Self::validation(v),
            SetupError::InputRejected(_) => input_rejected(),
            SetupError::Unexpected(u) => u.into(),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(e: ChangePasswordError) -> Self {
        match e {
            ChangePasswordError::TooManyAttempts(t) => too_many(&t),
            ChangePasswordError::InputRejected(_) => input_rejected(),
            ChangePasswordError::Validation(v) => Self::validation(v),
            ChangePasswordError::PasswordNotSet => Self::new(
                StatusCode::BAD_REQUEST,
                "PASSWORD_NOT_SET",
                "This account signs in through an identity provider and has no password",
            ),
            ChangePasswordError::InvalidPassword => {
                Self::new(StatusCode::UNAUTHORIZED, "INVALID_PASSWORD", "Invalid password")
                    .with_field("current_password", "Invalid password")
            }
            // The caller's own account vanished mid-request: as if it never authenticated.
            ChangePasswordError::NotFound => Self::unauthenticated(),
            ChangePasswordError::Unexpected(u) => u.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Forbidden => {
                Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", "Administrator rights required")
            }
            AdminError::Validation(v) => Self::validation(v),
            AdminError::InputRejected(_) => input_rejected(),
            AdminError::EmailTaken => Self::new(
                StatusCode::CONFLICT,
                "EMAIL_EXISTS",
                "A user with this email already exists",
            )
            .with_field("email", "Email is already in use"),
            AdminError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "No such user")
            }
            AdminError::CannotDeleteSelf => Self::new(
                StatusCode::BAD_REQUEST,
                "CANNOT_DELETE_SELF",
                "You cannot delete your own account",
            ),
            AdminError::CannotResetOwnMfa => Self::new(
                StatusCode::FORBIDDEN,
                slugbase_application::use_cases::admin::SELF_RESET_REASON,
                "You cannot reset your own two-factor authentication: turn it off with \
                 POST /api/auth/mfa/disable (your password and a code)",
            ),
            AdminError::OidcNotConfigured => Self::new(
                StatusCode::BAD_REQUEST,
                "OIDC_NOT_CONFIGURED",
                "No identity provider is configured, so a user without a password could never sign in",
            )
            .with_field("password", "Give a password: no identity provider is configured"),
            AdminError::Unexpected(u) => u.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody as _;
    use serde_json::Value;

    use actix_web::ResponseError as _;
    use actix_web::http::header;

    use super::*;

    fn body_of(error: &ApiError) -> Value {
        let bytes = error.error_response().into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn each_refusal_of_the_disable_table_has_its_status_and_reason() {
        let cases = [
            (DisableDenied::MfaNotEnabled, 400, "MFA_NOT_ENABLED"),
            (DisableDenied::RequiredByPolicy, 403, "MFA_REQUIRED_BY_POLICY"),
            (DisableDenied::PasswordRequired, 400, "PASSWORD_REQUIRED"),
            (DisableDenied::InvalidPassword, 401, "INVALID_PASSWORD"),
            (DisableDenied::InvalidCode, 400, "INVALID_CODE"),
            (DisableDenied::InvalidPasskey, 400, "INVALID_PASSKEY"),
        ];
        for (denied, status, reason) in cases {
            let error = ApiError::from(MfaChangeError::Denied(denied));
            assert_eq!(error.status_code().as_u16(), status, "{denied:?}");
            let body = body_of(&error);
            assert_eq!(body["reason"], reason);
            assert_eq!(body["code"], status);
        }
    }

    #[test]
    fn too_many_attempts_is_429_with_retry_after() {
        let error = ApiError::from(MfaChangeError::TooManyAttempts(TooManyAttempts {
            retry_after_secs: 42,
            locked_out: false,
        }));
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "42");
    }

    #[test]
    fn an_internal_error_is_opaque_and_an_outage_is_503() {
        let cause = anyhow_error("SELECT secret FROM totp WHERE code = '123456'");
        let error = ApiError::from(Unexpected::Internal(cause));
        let body = body_of(&error);
        assert_eq!(body["code"], 500);
        assert_eq!(body["reason"], "INTERNAL_ERROR");
        assert!(!body.to_string().contains("123456"), "{body}");
        assert!(!body.to_string().contains("SELECT"), "{body}");

        let error = ApiError::from(Unexpected::Unavailable(anyhow_error("connection refused")));
        let body = body_of(&error);
        assert_eq!(body["code"], 503);
        assert_eq!(body["error"], "Service Unavailable");
        assert!(!body.to_string().contains("refused"), "{body}");
        let response = error.error_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "5");
    }

    fn anyhow_error(message: &'static str) -> anyhow::Error {
        anyhow::Error::msg(message)
    }
}
