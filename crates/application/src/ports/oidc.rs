//! OIDC login: the identity providers (the `openidconnect` adapter), the server-side login
//! flows, and the stored links between a provider's subjects and our accounts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{User, UserId};

use super::audit::AuditEvent;
use super::hashing::SecretDigest;
use super::outbox::Notice;
use super::store_error::StoreResult;
use super::users::NewUser;

/// What a login at a provider starts with: the authorization URL to send the browser to and
/// the values that must come back (kept server-side in an [`OidcFlowRecord`]).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationStart {
    /// The provider's authorization endpoint with `state`, `nonce` and the PKCE S256
    /// challenge.
    pub url: String,
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: String,
    /// The PKCE verifier of the challenge sent.
    pub pkce_verifier: String,
}

impl fmt::Debug for AuthorizationStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationStart").finish_non_exhaustive()
    }
}

/// Extra authorization request parameters for a re-authentication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthorizationOptions {
    /// `prompt=login`: the provider asks the user to authenticate again.
    pub prompt_login: bool,
    /// `max_age`: the provider re-authenticates a session older than this (seconds).
    pub max_age_secs: Option<u32>,
}

/// The identity a provider vouched for in a verified ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's issuer URL (`iss`).
    pub issuer: String,
    /// `sub`: stable per provider.
    pub subject: String,
    /// `email`, when given.
    pub email: Option<String>,
    /// `email_verified`; absent counts as not verified.
    pub email_verified: bool,
    /// `name`, when given.
    pub name: Option<String>,
    /// `amr`: how the provider authenticated the user.
    pub amr: Vec<String>,
    /// `auth_time`: when the provider last authenticated the user.
    pub auth_time: Option<DateTime<Utc>>,
}

/// Why a provider could not finish a login.
#[derive(Debug, thiserror::Error)]
pub enum IdentityProviderError {
    /// Discovery has not succeeded yet, or the provider cannot be reached.
    #[error("the identity provider is unavailable")]
    Unavailable,
    /// The code was refused, or the ID token failed validation (signature, `iss`, `aud`,
    /// `exp`, `nonce`, `azp`). The text is for the log; it holds no token or code.
    #[error("the identity provider's answer was refused: {0}")]
    Rejected(String),
}

/// One configured OpenID provider.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// A new authorization request: fresh `state`, `nonce` and PKCE S256 verifier.
    ///
    /// # Errors
    /// MUST return [`IdentityProviderError::Unavailable`] while discovery has not succeeded.
    fn start(
        &self,
        options: AuthorizationOptions,
    ) -> Result<AuthorizationStart, IdentityProviderError>;

    /// Exchanges `code` (with the PKCE verifier) at the token endpoint and validates the ID
    /// token: signature against the provider's JWKS, `iss`, `aud`, `exp`, `azp` where
    /// present, and that its `nonce` equals `nonce`.
    ///
    /// # Errors
    /// MUST return [`IdentityProviderError::Rejected`] for any token that fails validation and
    /// [`IdentityProviderError::Unavailable`] when the provider cannot be reached.
    async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ProviderIdentity, IdentityProviderError>;
}

/// Who may sign in through a provider, and how (from its configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderPolicy {
    /// Shown on the login page.
    pub display_name: String,
    /// The issuer URL, as configured.
    pub issuer_url: String,
    /// Create an OIDC-only user on a first login.
    pub auto_create_users: bool,
    /// New users are administrators.
    pub default_admin: bool,
    /// Link a first login to the existing account with the same e-mail, when the provider
    /// says the e-mail is verified.
    pub link_verified_email: bool,
    /// `amr` values that count as MFA done at the provider (no step-up here).
    pub trust_idp_mfa_amr: Vec<String>,
}

/// A provider with its policy.
#[derive(Clone)]
pub struct ConfiguredProvider {
    /// What it may do.
    pub policy: ProviderPolicy,
    /// The provider itself.
    pub provider: Arc<dyn IdentityProvider>,
}

impl fmt::Debug for ConfiguredProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfiguredProvider").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// The configured providers by key (`[a-z0-9_-]+`, used in URLs).
#[derive(Clone, Debug, Default)]
pub struct IdentityProviders(pub BTreeMap<String, ConfiguredProvider>);

/// A login in progress: what the callback must find again. Stored under the digest of the
/// flow id that only the browser's HttpOnly cookie holds.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcFlowRecord {
    /// SHA-256 of the flow id (the cookie value).
    pub id_hash: SecretDigest,
    /// Provider key.
    pub provider: String,
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
    /// Where to go after login (a same-origin path).
    pub return_to: Option<String>,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Dead after this.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for OidcFlowRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcFlowRecord")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// When the provider last authenticated the user of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionIdpAuth {
    /// Provider key.
    pub provider: String,
    /// The ID token's `auth_time`.
    pub auth_time: DateTime<Utc>,
}

/// How a link attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Stored (with its audit event).
    Linked,
    /// The user is already linked to another subject of this provider, or the subject to
    /// another user: nothing stored.
    Refused,
}

/// OIDC state in storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OidcRepository: Send + Sync {
    /// Stores a login in progress.
    ///
    /// # Errors
    /// Storage failures only.
    async fn create_flow(&self, flow: OidcFlowRecord) -> StoreResult<()>;

    /// Removes and returns the flow stored under `id_hash` (expired ones too: expiry is the
    /// caller's rule).
    ///
    /// # Errors
    /// Storage failures only. MUST be single use: of concurrent calls for one flow exactly
    /// one gets it.
    async fn take_flow(&self, id_hash: &SecretDigest) -> StoreResult<Option<OidcFlowRecord>>;

    /// Deletes flows that expired before `now`; returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete_expired_flows(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// The user linked to `(provider, subject)`.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_linked_user(&self, provider: &str, subject: &str) -> StoreResult<Option<User>>;

    /// Links `(provider, subject)` to an existing user and records `event` and `notice`
    /// (the owner's "new sign-in provider" e-mail, in the outbox), in one transaction; sets
    /// the user's `oidc_provider` if it had none.
    ///
    /// # Errors
    /// Storage failures only. MUST return [`LinkOutcome::Refused`] (storing nothing, the
    /// notice included) when the user already has another subject at `provider` or the
    /// subject is linked already.
    async fn link<'a>(
        &self,
        provider: &str,
        subject: &str,
        user: UserId,
        event: AuditEvent,
        notice: Option<&'a Notice>,
    ) -> StoreResult<LinkOutcome>;

    /// Creates an OIDC-only user linked to `(provider, subject)` and records `event`, in
    /// one transaction.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`](super::StoreError::Conflict) (storing nothing)
    /// when the e-mail or the subject is taken.
    async fn create_linked_user(
        &self,
        user: NewUser,
        subject: &str,
        event: AuditEvent,
    ) -> StoreResult<User>;

    /// Records when the provider authenticated the user of the session `session`.
    ///
    /// # Errors
    /// Storage failures only.
    async fn record_session_auth(
        &self,
        session: &SecretDigest,
        auth: SessionIdpAuth,
    ) -> StoreResult<()>;

    /// When the provider authenticated the user of `session`, if recorded (gone with the
    /// session).
    ///
    /// # Errors
    /// Storage failures only.
    async fn session_auth(&self, session: &SecretDigest) -> StoreResult<Option<SessionIdpAuth>>;
}
