//! [`IdentityProvider`] over the `openidconnect` crate: discovery (`/.well-known/
//! openid-configuration` and the JWKS), the authorization request with `state`, `nonce` and
//! PKCE S256, the code exchange and the ID token validation (signature against the JWKS,
//! `iss`, `aud`, `azp`, `exp`, `nonce`). No JWT or JWKS code of our own.
//!
//! Discovery runs in the background ([`OpenIdProvider::spawn_discovery`]) and is retried
//! until it succeeds, so a provider that is down at start never stops the server; until
//! then the provider answers [`IdentityProviderError::Unavailable`].
//!
//! Signing-key rotation: an ID token whose key is not in the JWKS read at discovery (the
//! crate's [`SignatureVerificationError::NoMatchingKey`]: an unknown `kid`) makes the
//! provider fetch its JWKS again from the metadata's `jwks_uri` and verify once more — at
//! most once per `jwks_refresh_min_interval` ([`JwksRefreshThrottle`]), so ID tokens with
//! made-up `kid`s cannot make us hammer the provider; callbacks that meet the unknown key at
//! the same time share that one fetch (single flight). A refused or failed refetch leaves
//! the keys as they were and the login fails as any bad ID token does.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims,
    CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
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
    /// Shortest time between two JWKS refetches (on an ID token with an unknown key).
    pub jwks_refresh_min_interval: Duration,
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

/// What discovery found: the provider's metadata (with its JWKS) and the client built from
/// it; replaced as a whole when the JWKS is fetched again.
struct Discovered {
    metadata: CoreProviderMetadata,
    client: DiscoveredClient,
    /// How many JWKS refreshes came before this one: a callback that verified against an
    /// older set knows that someone has fetched since.
    generation: u64,
}

/// When a provider's JWKS may be fetched again: at most once per `min_interval`, counted
/// from the previous attempt, whether it succeeded or not. The first refetch after
/// discovery is always allowed. Pure: the caller passes the time.
#[derive(Debug)]
pub struct JwksRefreshThrottle {
    min_interval: Duration,
    last_attempt: Option<Instant>,
}

impl JwksRefreshThrottle {
    /// No refetch yet.
    #[must_use]
    pub const fn new(min_interval: Duration) -> Self {
        Self { min_interval, last_attempt: None }
    }

    /// Whether a refetch may start `now`; when it may, `now` counts as its attempt.
    pub fn try_begin(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last_attempt
            && now.saturating_duration_since(last) < self.min_interval
        {
            return false;
        }
        self.last_attempt = Some(now);
        true
    }
}

/// Longest answer read from a provider (discovery document, JWKS, token response): real
/// ones are a few kilobytes; a provider that sends more is refused rather than buffered.
pub const MAX_PROVIDER_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why a request to a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderHttpError {
    /// The request could not be made, or no (complete) answer came in time.
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    /// The answer is longer than [`MAX_PROVIDER_RESPONSE_BYTES`].
    #[error("answer longer than {0} bytes")]
    TooLarge(usize),
    /// The answer could not be handed on.
    #[error("unusable answer: {0}")]
    Response(#[from] openidconnect::http::Error),
}

/// The HTTP client of every request to a provider, for `openidconnect`: reqwest (no
/// redirects, the configured time limit for the whole exchange, body included), reading at
/// most `max_body` bytes of an answer.
#[derive(Clone, Debug)]
struct ProviderHttp {
    client: reqwest::Client,
    max_body: usize,
}

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = ProviderHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let mut response = self.client.execute(request).await?;
            let too_large = ProviderHttpError::TooLarge(self.max_body);
            if response.content_length().is_some_and(|n| n > self.max_body as u64) {
                return Err(too_large);
            }
            let mut answer = openidconnect::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > self.max_body {
                    return Err(too_large);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(answer.body(body)?)
        })
    }
}

/// One OpenID provider, discovered in the background.
pub struct OpenIdProvider {
    config: OpenIdProviderConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: ProviderHttp,
    discovered: Arc<Slot>,
    /// Held for the whole of a JWKS refetch: callbacks that need one wait for it and then use
    /// its result (single flight).
    jwks_refresh: Arc<tokio::sync::Mutex<JwksRefreshThrottle>>,
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
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .build()?;
        let http = ProviderHttp { client, max_body: MAX_PROVIDER_RESPONSE_BYTES };
        let jwks_refresh = Arc::new(tokio::sync::Mutex::new(JwksRefreshThrottle::new(
            config.jwks_refresh_min_interval,
        )));
        let discovered = Arc::new(RwLock::new(None));
        Ok(Self { config, issuer, redirect, http, discovered, jwks_refresh })
    }

    /// Whether discovery has succeeded.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.discovered.read().is_ok_and(|c| c.is_some())
    }

    fn discovered(&self) -> Option<Arc<Discovered>> {
        current(&self.discovered)
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
        let client = client_for(&self.config, &self.redirect, metadata.clone());
        // A generation of its own even if discovery ran again: callbacks that verified with
        // an earlier set then use this one without a fetch.
        let generation = self.discovered().map_or(0, |d| d.generation + 1);
        store(&self.discovered, Discovered { metadata, client, generation });
        Ok(())
    }

    /// The keys to verify with once more after the discovery of generation `seen` (the one
    /// the caller verified with) knew no key for an ID token: the set another callback
    /// fetched meanwhile, or a fresh fetch of the metadata's `jwks_uri` when the throttle
    /// allows one; `None` when it does not, or the fetch failed (logged).
    ///
    /// The work runs in a task of its own, lock included, so that it never depends on the
    /// callback's future being polled to its end: were that future dropped or left unpolled
    /// when its client hangs up (actix-web 4.x polls it on today, but has changed how it
    /// treats hang-ups before), the fetch would still finish, its keys be kept and the lock
    /// be released.
    async fn refreshed(&self, seen: u64) -> Option<Arc<Discovered>> {
        let slot = Arc::clone(&self.discovered);
        let lock = Arc::clone(&self.jwks_refresh);
        let (config, redirect, http) =
            (self.config.clone(), self.redirect.clone(), self.http.clone());
        let task = tokio::spawn(async move {
            let mut throttle = lock.lock_owned().await;
            let latest = current(&slot)?;
            if latest.generation != seen {
                return Some(latest);
            }
            if !throttle.try_begin(Instant::now()) {
                tracing::debug!(
                    provider = %config.key,
                    "ID token signed with a key not in the JWKS; JWKS fetched too recently to fetch again"
                );
                return None;
            }
            let jwks_uri = latest.metadata.jwks_uri();
            match CoreJsonWebKeySet::fetch_async(jwks_uri, &http).await {
                Ok(jwks) => {
                    tracing::info!(
                        provider = %config.key,
                        jwks_uri = %jwks_uri.as_str(),
                        keys = jwks.keys().len(),
                        "OIDC provider JWKS fetched again (ID token signed with a key it did not have)"
                    );
                    let metadata = latest.metadata.clone().set_jwks(jwks);
                    let client = client_for(&config, &redirect, metadata.clone());
                    let generation = latest.generation + 1;
                    Some(store(&slot, Discovered { metadata, client, generation }))
                }
                Err(error) => {
                    tracing::warn!(
                        provider = %config.key,
                        jwks_uri = %jwks_uri.as_str(),
                        error = %error_chain(&error),
                        "OIDC provider JWKS refetch failed; the login fails, the keys stay as they were"
                    );
                    None
                }
            }
        });
        task.await.ok().flatten()
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

type Slot = RwLock<Option<Arc<Discovered>>>;

/// The latest discovery (or JWKS refetch), if any.
fn current(slot: &Slot) -> Option<Arc<Discovered>> {
    slot.read().ok().and_then(|c| c.clone())
}

/// Makes `discovered` the latest; returns it.
fn store(slot: &Slot, discovered: Discovered) -> Arc<Discovered> {
    let discovered = Arc::new(discovered);
    if let Ok(mut latest) = slot.write() {
        *latest = Some(Arc::clone(&discovered));
    }
    discovered
}

/// Our client at the provider described by `metadata` (its JWKS included).
fn client_for(
    config: &OpenIdProviderConfig,
    redirect: &RedirectUrl,
    metadata: CoreProviderMetadata,
) -> DiscoveredClient {
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id.clone()),
        Some(ClientSecret::new(config.client_secret.expose_secret().to_owned())),
    )
    .set_redirect_uri(redirect.clone())
}

/// An error with its sources (`openidconnect`'s errors keep the cause out of `Display`).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether verification failed only because no key of the JWKS matches the token (its
/// `kid`, or its algorithm when it has none): the case a key rotation produces.
const fn is_unknown_key(error: &ClaimsVerificationError) -> bool {
    matches!(
        error,
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)
    )
}

fn verify(
    client: &DiscoveredClient,
    id_token: &CoreIdToken,
    nonce: &Nonce,
) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
    id_token.claims(&client.id_token_verifier(), nonce).cloned()
}

/// The claims of a validated ID token that the application uses.
fn identity(claims: &CoreIdTokenClaims) -> ProviderIdentity {
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
        let discovered = self.discovered().ok_or(IdentityProviderError::Unavailable)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = discovered.client.authorize_url(
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
        let discovered = self.discovered().ok_or(IdentityProviderError::Unavailable)?;
        let request = discovered
            .client
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
        let nonce = Nonce::new(nonce.to_owned());
        let rejected =
            |e: ClaimsVerificationError| IdentityProviderError::Rejected(format!("ID token: {e}"));
        let claims = match verify(&discovered.client, id_token, &nonce) {
            Err(error) if is_unknown_key(&error) => {
                match self.refreshed(discovered.generation).await {
                    Some(fresh) => verify(&fresh.client, id_token, &nonce).map_err(rejected)?,
                    None => return Err(rejected(error)),
                }
            }
            verified => verified.map_err(rejected)?,
        };
        Ok(identity(&claims))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::JwksRefreshThrottle;

    #[test]
    fn the_jwks_is_refetched_at_most_once_per_interval_counted_from_each_attempt() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut throttle = JwksRefreshThrottle::new(Duration::from_secs(30));
        assert!(throttle.try_begin(at(0)), "the first refetch after discovery");
        for secs in [0, 1, 29] {
            assert!(!throttle.try_begin(at(secs)), "{secs} s later");
        }
        assert!(throttle.try_begin(at(30)), "once the interval has passed");
        assert!(!throttle.try_begin(at(59)), "counted from the refetch at 30 s");
        assert!(throttle.try_begin(at(600)), "long after");
        // A clock that seems to go back (an earlier instant) never allows an extra fetch.
        assert!(!throttle.try_begin(at(599)));
    }

    #[test]
    fn a_zero_interval_allows_every_refetch() {
        let now = Instant::now();
        let mut throttle = JwksRefreshThrottle::new(Duration::ZERO);
        assert!(throttle.try_begin(now) && throttle.try_begin(now));
    }
}
