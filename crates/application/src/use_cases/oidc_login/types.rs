//! The OIDC login use case's inputs, outcomes and errors.

use std::fmt;

use slugbase_domain::{ReturnTo, User};

use crate::error::{Unexpected, unexpected_from_ports};
use crate::plain_token::PlainToken;

/// How long a login at the provider may take, start to callback.
pub const FLOW_LIFETIME_SECS: i64 = 10 * 60;

/// Why an OIDC login ended without a session: the `error` of `/login?error=…`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OidcFailure {
    /// The provider refused, the token failed validation, or the account may not be used.
    AuthFailed,
    /// No flow for this browser, expired, used, or the `state` does not match.
    StateInvalid,
    /// No account matches and the provider may not create one.
    AutoCreateDisabled,
    /// No account matches by subject and the provider gave no e-mail.
    EmailRequired,
    /// No account matches by subject and the provider's e-mail is not one this service
    /// accepts (`Email::parse`: malformed, or longer than 254 bytes once lower-cased).
    EmailUnusable,
    /// Discovery has not succeeded yet, or the provider cannot be reached.
    ProviderUnavailable,
}

impl OidcFailure {
    /// The stable name used in `/login?error=…` and in the audit log.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthFailed => "auth_failed",
            Self::StateInvalid => "state_invalid",
            Self::AutoCreateDisabled => "auto_create_disabled",
            Self::EmailRequired => "email_required",
            Self::EmailUnusable => "email_unusable",
            Self::ProviderUnavailable => "provider_unavailable",
        }
    }
}

/// Why an OIDC request failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// No provider has this key (404).
    #[error("unknown identity provider")]
    UnknownProvider,
    /// A query parameter is not acceptable: `max_age` not a number (400; a `return_to` off
    /// this site never becomes a [`ReturnTo`], and the adapter answers the same way).
    #[error("invalid parameter {0}")]
    InvalidParameter(&'static str),
    /// The login failed; the browser goes to `/login?error=…`.
    #[error("OIDC login failed: {}", .0.as_str())]
    Failed(OidcFailure),
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

unexpected_from_ports!(OidcError);

/// A configured provider as `GET /api/auth/providers` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSummary {
    /// Key in the URLs.
    pub key: String,
    /// Shown on the login page.
    pub display_name: String,
    /// Issuer URL.
    pub issuer_url: String,
}

/// `GET /api/auth/{provider}`'s query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BeginInput {
    /// Where to go after login: resolved against this site by the adapter, so only a
    /// same-origin path gets here.
    pub return_to: Option<ReturnTo>,
    /// `prompt=login`.
    pub prompt_login: bool,
    /// `max_age` (seconds), as sent.
    pub max_age: Option<String>,
}

/// The redirect to the provider and the cookie that binds the flow to this browser.
#[derive(Debug)]
pub struct BeginOutcome {
    /// The provider's authorization URL.
    pub redirect_url: String,
    /// The flow id for the HttpOnly cookie.
    pub flow: PlainToken,
}

/// What came back to the callback.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CallbackInput {
    /// The flow cookie.
    pub flow: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `error` (the provider refused).
    pub error: Option<String>,
}

impl fmt::Debug for CallbackInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackInput").field("error", &self.error).finish_non_exhaustive()
    }
}

/// How a successful callback continues.
#[derive(Debug)]
pub enum CallbackOutcome {
    /// Signed in: a session, and where to go.
    SignedIn {
        /// The account.
        user: Box<User>,
        /// Session id for the cookie.
        session: PlainToken,
        /// A same-origin path.
        return_to: String,
    },
    /// MFA is on: the pending-MFA state, good only for `POST /api/auth/mfa/verify`.
    MfaRequired {
        /// Pending id for the cookie.
        pending: PlainToken,
        /// A same-origin path: where the browser goes once the second factor is given.
        return_to: String,
    },
}
