//! [`IdentityProvider`] over the `openidconnect` crate: discovery (`/.well-known/
//! openid-configuration` and the JWKS), the authorization request with `state`, `nonce` and
//! PKCE S256, the code exchange and the ID token validation (signature against the JWKS,
//! `iss`, `aud`, `azp`, `exp`, `nonce`). No JWT or JWKS code of our own.
//!
//! Discovery runs in the background ([`OpenIdProvider::spawn_discovery`]) and is retried
//! until it succeeds, so a provider that is down at start never stops the server; until
//! then the provider answers [`IdentityProviderError::Unavailable`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
};
use secrecy::{ExposeSecret as _, SecretString};
use slugbase_application::ports::{
    AuthorizationOptions, AuthorizationStart, IdentityProvider, IdentityProviderError,
    ProviderIdentity,
};

/// The client after discovery: authorization endpoint set, token and userinfo endpoints as
/// the provider's metadata says.
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How one provider is reached.
#[derive(Clone)]
pub struct OpenIdProviderConfig {
    /// Provider key (for logs).
    pub key: String,
    /// Issuer URL (discovery starts here).
    pub issuer_url: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret at the provider.
    pub client_secret: SecretString,
    /// `{public_base_url}/api/auth/{key}/callback`.
    pub redirect_url: String,
    /// Scopes requested (`openid` is always sent).
    pub scopes: Vec<String>,
    /// Longest wait between discovery attempts.
    pub max_retry: Duration,
    /// Time limit of each request to the provider.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for OpenIdProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIdProviderConfig")
            .field("key", &self.key)
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

/// One OpenID provider, discovered in the background.
pub struct OpenIdProvider {
    config: OpenIdProviderConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    client: RwLock<Option<DiscoveredClient>>,
}

impl std::fmt::Debug for OpenIdProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIdProvider")
            .field("config", &self.config)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl OpenIdProvider {
    /// A provider not yet discovered.
    ///
    /// # Errors
    /// When the issuer or redirect URL is not a URL, or the HTTP client cannot be built.
    pub fn new(config: OpenIdProviderConfig) -> anyhow::Result<Self> {
        let issuer = IssuerUrl::new(config.issuer_url.clone())
            .map_err(|e| anyhow::anyhow!("issuer_url is not a URL: {e}"))?;
        let redirect = RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| anyhow::anyhow!("callback URL is not a URL: {e}"))?;
        // Never follow redirects from the provider's endpoints (SSRF), as openidconnect
        // advises.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .build()?;
        Ok(Self { config, issuer, redirect, http, client: RwLock::new(None) })
    }

    /// Whether discovery has succeeded.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.client.read().is_ok_and(|c| c.is_some())
    }

    fn discovered(&self) -> Option<DiscoveredClient> {
        self.client.read().ok().and_then(|c| c.clone())
    }

    /// Fetches the provider's metadata and JWKS once.
    ///
    /// # Errors
    /// When the provider cannot be reached or its metadata is invalid (the issuer in the
    /// document must equal the configured one).
    pub async fn discover(&self) -> anyhow::Result<()> {
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| anyhow::anyhow!("discovery failed: {e}"))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.expose_secret().to_owned())),
        )
        .set_redirect_uri(self.redirect.clone());
        if let Ok(mut slot) = self.client.write() {
            *slot = Some(client);
        }
        Ok(())
    }

    /// Discovers in the background, retrying (1 s, doubling up to the configured maximum)
    /// until it succeeds; each failure is logged. Needs a Tokio runtime.
    pub fn spawn_discovery(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let provider = Arc::clone(self);
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                match provider.discover().await {
                    Ok(()) => {
                        tracing::info!(
                            provider = %provider.config.key,
                            issuer = %provider.config.issuer_url,
                            "OIDC provider discovered"
                        );
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(
                            provider = %provider.config.key,
                            issuer = %provider.config.issuer_url,
                            error = %error,
                            retry_in_secs = wait.as_secs(),
                            "OIDC provider discovery failed; its logins answer provider_unavailable until it succeeds"
                        );
                    }
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(provider.config.max_retry.max(Duration::from_secs(1)));
            }
        })
    }
}

/// The claims of a validated ID token that the application uses.
fn identity(claims: &openidconnect::core::CoreIdTokenClaims) -> ProviderIdentity {
    ProviderIdentity {
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned()),
        amr: claims
            .auth_method_refs()
            .map(|amr| amr.iter().map(|a| a.as_str().to_owned()).collect())
            .unwrap_or_default(),
        auth_time: claims.auth_time().map(|t: DateTime<Utc>| t),
    }
}

#[async_trait]
impl IdentityProvider for OpenIdProvider {
    fn start(
        &self,
        options: AuthorizationOptions,
    ) -> Result<AuthorizationStart, IdentityProviderError> {
        let client = self.discovered().ok_or(IdentityProviderError::Unavailable)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.config.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        request = request.set_pkce_challenge(challenge);
        if options.prompt_login {
            request = request.add_prompt(CoreAuthPrompt::Login);
        }
        if let Some(max_age) = options.max_age_secs {
            request = request.set_max_age(Duration::from_secs(u64::from(max_age)));
        }
        let (url, state, nonce) = request.url();
        Ok(AuthorizationStart {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ProviderIdentity, IdentityProviderError> {
        let client = self.discovered().ok_or(IdentityProviderError::Unavailable)?;
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| IdentityProviderError::Rejected(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        let response = request.request_async(&self.http).await.map_err(|e| {
            use openidconnect::RequestTokenError as E;
            match e {
                E::Request(_) => IdentityProviderError::Unavailable,
                E::ServerResponse(r) => {
                    IdentityProviderError::Rejected(format!("token endpoint: {}", r.error()))
                }
                E::Parse(_, _) => {
                    IdentityProviderError::Rejected("token response unreadable".to_owned())
                }
                E::Other(why) => IdentityProviderError::Rejected(why),
            }
        })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| IdentityProviderError::Rejected("no ID token".to_owned()))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map_err(|e| IdentityProviderError::Rejected(format!("ID token: {e}")))?;
        Ok(identity(claims))
    }
}
