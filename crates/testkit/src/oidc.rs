//! A real OpenID provider for the OIDC tests, and a browser that walks its redirects.
//!
//! [`OidcProvider::start`] runs `tests/oidc-provider/provider.js` (npm `oidc-provider`,
//! installed by `npm ci` there) with Node on a free port of 127.0.0.1: a real discovery
//! document, JWKS, authorization and token endpoints, RS256 ID tokens. The test chooses the
//! account of the next login ([`OidcProvider::next_login`]), can make the token endpoint
//! misbehave ([`OidcProvider::misbehave`], [`OidcProvider::forge_kid`]), rotate the
//! provider's signing key ([`OidcProvider::rotate_keys`]) and count its JWKS fetches
//! ([`OidcProvider::jwks_fetches`]). Without Node or the installed package the
//! provider is `None` after one skip line — except under `CI=true`, where that panics.
//!
//! [`OidcBrowser`] is a cookie jar that follows no redirect on its own: the test follows
//! each `Location` (the service's, then the provider's, back to the service's callback).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_server::config::{OidcProviderSettings, Settings};

use crate::{Api, Reply};

/// The key the tests configure the provider under.
pub const PROVIDER_KEY: &str = "testidp";
/// The client id registered at the test provider.
pub const CLIENT_ID: &str = "slugbase";
/// The client secret registered at the test provider.
pub const CLIENT_SECRET: &str = "slugbase-test-secret";

/// A free TCP port on 127.0.0.1 (bound, read, released).
///
/// # Panics
/// When no port can be bound.
#[must_use]
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// `tests/oidc-provider` of the repository.
#[must_use]
pub fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider")
}

/// Whether the OIDC tests can run: `true`, or one skip line and `false` (outside CI).
///
/// # Panics
/// Under `CI=true` when Node or the provider's packages are missing.
#[must_use]
pub fn provider_available() -> bool {
    static SAID: std::sync::Once = std::sync::Once::new();
    let missing = crate::prerequisite::node_package_missing(&provider_dir(), "oidc-provider");
    crate::prerequisite::available_or_skip("OIDC provider", &SAID, missing)
}

/// The test provider, running until dropped.
#[derive(Debug)]
pub struct OidcProvider {
    child: Child,
    /// `http://127.0.0.1:<port>` (the issuer).
    pub issuer: String,
    http: reqwest::Client,
    /// Holds the provider's log file.
    pub log: tempfile::NamedTempFile,
}

impl OidcProvider {
    /// Starts the provider on a free port, accepting `redirect_uris`; `None` (after one skip
    /// line) when it cannot run here.
    ///
    /// # Panics
    /// Under `CI=true` without Node or the packages; when it does not come up.
    pub async fn start(redirect_uris: &[String]) -> Option<Self> {
        Self::start_on(free_port(), redirect_uris).await
    }

    /// [`Self::start`] on `port`.
    ///
    /// # Panics
    /// As [`Self::start`].
    pub async fn start_on(port: u16, redirect_uris: &[String]) -> Option<Self> {
        if !provider_available() {
            return None;
        }
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let mut command = Command::new("node");
        command
            .current_dir(provider_dir())
            .arg("provider.js")
            .args(["--port", &port.to_string(), "--client-id", CLIENT_ID])
            .args(["--client-secret", CLIENT_SECRET])
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("log").try_clone().expect("log"))
            .stderr(log.reopen().expect("log"));
        for uri in redirect_uris {
            command.args(["--redirect-uri", uri]);
        }
        let child = command.spawn().expect("node starts");
        let provider = Self {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = provider.http.get(provider.url("/test/health")).send().await;
            if health.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Some(provider);
            }
            assert!(
                Instant::now() < deadline,
                "the test provider did not start: {}",
                provider.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `issuer` + `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// What the provider logged so far.
    #[must_use]
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The account the next login signs in as: `{"sub", "email", "email_verified", "name",
    /// "amr"}` (only `sub` is required).
    ///
    /// # Panics
    /// When the provider refuses.
    pub async fn next_login(&self, account: Value) {
        let res = self.http.post(self.url("/test/next-login")).json(&account).send().await;
        assert_eq!(res.expect("next-login").status(), StatusCode::OK);
    }

    /// Makes the token endpoint's ID tokens defective from now on (`wrong_nonce`,
    /// `wrong_audience`, `expired`, `bad_signature`), or well-behaved again (`None`).
    ///
    /// # Panics
    /// When the provider refuses.
    pub async fn misbehave(&self, mode: Option<&str>) {
        let res =
            self.http.post(self.url("/test/misbehave")).json(&json!({ "mode": mode })).send().await;
        assert_eq!(res.expect("misbehave").status(), StatusCode::OK);
    }

    /// Makes the token endpoint's ID tokens carry a `kid` that is not in the provider's JWKS
    /// (signed with a key that is not there either), from now on; [`Self::misbehave`]`(None)`
    /// ends it.
    ///
    /// # Panics
    /// When the provider refuses.
    pub async fn forge_kid(&self, kid: &str) {
        let body = json!({ "mode": "unknown_kid", "kid": kid });
        let res = self.http.post(self.url("/test/misbehave")).json(&body).send().await;
        assert_eq!(res.expect("misbehave").status(), StatusCode::OK);
    }

    /// Rotates the provider's signing key: a new key with a new `kid` replaces the current
    /// one in the JWKS (the old one is gone) and signs every ID token from now on. Returns
    /// the new `kid`.
    ///
    /// # Panics
    /// When the provider refuses.
    pub async fn rotate_keys(&self) -> String {
        let res = self.http.post(self.url("/test/rotate-keys")).send().await.expect("rotate");
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.expect("JSON");
        body["kid"].as_str().expect("kid").to_owned()
    }

    /// How many times the provider's JWKS (`jwks_uri`) has been requested so far.
    ///
    /// # Panics
    /// When the provider does not answer.
    pub async fn jwks_fetches(&self) -> u64 {
        let res = self.http.get(self.url("/test/jwks-fetches")).send().await.expect("count");
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.expect("JSON");
        body["count"].as_u64().expect("count")
    }

    /// Makes the provider's JWKS answer `huge` from now on (its current key, padded to
    /// 2 MiB), or as usual again (`None`).
    ///
    /// # Panics
    /// When the provider refuses.
    pub async fn jwks_answer(&self, mode: Option<&str>) {
        let body = json!({ "mode": mode });
        let res = self.http.post(self.url("/test/jwks-answer")).json(&body).send().await;
        assert_eq!(res.expect("jwks-answer").status(), StatusCode::OK);
    }

    /// Stops the provider (as if it went down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `OIDC`-related settings of a [`crate::TestAppBuilder`] for the test provider at
/// `issuer`, with the service on `port` (its public URL names the port: the callback URL).
#[must_use]
pub fn configure(builder: crate::TestAppBuilder, port: u16, issuer: &str) -> crate::TestAppBuilder {
    let mut provider = OidcProviderSettings::new(issuer, CLIENT_ID);
    provider.client_secret = CLIENT_SECRET.to_owned();
    provider.display_name = "Test IdP".to_owned();
    builder.with_config(move |c| {
        c.server.port = port;
        c.server.public_base_url = format!("http://127.0.0.1:{port}");
        c.oidc.providers.insert(PROVIDER_KEY.to_owned(), provider);
        c.oidc.discovery_retry_max_secs = 1;
    })
}

/// The test provider's settings in `c` (set by [`configure`]), to change one.
///
/// # Panics
/// When the builder was not [`configure`]d first.
pub fn test_provider(c: &mut Settings) -> &mut OidcProviderSettings {
    c.oidc.providers.get_mut(PROVIDER_KEY).expect("the test provider is configured first")
}

/// A provider configured under [`PROVIDER_KEY`] that nobody answers for (its discovery keeps
/// failing in the background): enough for the service to accept OIDC-only users, which it
/// refuses while no provider is configured.
#[must_use]
pub fn with_unreachable_provider(builder: crate::TestAppBuilder) -> crate::TestAppBuilder {
    // Port 9 (discard) on loopback: nothing listens there.
    let mut provider = OidcProviderSettings::new("http://127.0.0.1:9", CLIENT_ID);
    provider.client_secret = CLIENT_SECRET.to_owned();
    builder.with_config(move |c| {
        c.oidc.providers.insert(PROVIDER_KEY.to_owned(), provider);
    })
}

/// The callback URL of the test provider's key on a service at `base`.
#[must_use]
pub fn callback_url(base: &str) -> String {
    format!("{base}/api/auth/{PROVIDER_KEY}/callback")
}

/// A browser: one cookie jar for the service and the provider (cookies ignore ports, as in
/// a browser), no automatic redirects.
#[derive(Clone, Debug)]
pub struct OidcBrowser {
    /// The browser as an API client of the service (same cookie jar).
    pub api: Api,
}

/// Where a walk through the redirects stopped.
#[derive(Debug)]
pub struct Landing {
    /// Every URL requested, in order.
    pub visited: Vec<String>,
    /// The last response.
    pub reply: Reply,
}

impl Landing {
    /// The last response's `Location`.
    #[must_use]
    pub fn location(&self) -> Option<&str> {
        self.reply.header("location")
    }
}

impl OidcBrowser {
    /// A fresh browser for the service at `base`.
    #[must_use]
    pub fn new(base: &str) -> Self {
        Self { api: Api::without_redirects(base) }
    }

    /// `GET url` (absolute, or a path of the service), without following a redirect.
    pub async fn get(&self, url: &str) -> Reply {
        let url = if url.starts_with('/') { self.api.url(url) } else { url.to_owned() };
        Api::exchange(self.api.http().get(url)).await
    }

    /// Starts a login at `path` of the service (`/api/auth/testidp?…`) and follows the
    /// redirects through the provider until the provider sends the browser back to the
    /// service's callback; returns the callback URL, not yet requested.
    ///
    /// # Panics
    /// When the walk ends anywhere else.
    pub async fn until_callback(&self, path: &str) -> String {
        let mut url = self.api.url(path);
        for _ in 0..10 {
            let reply = self.get(&url).await;
            let location = reply
                .header("location")
                .unwrap_or_else(|| panic!("no redirect from {url}: {reply:?}"))
                .to_owned();
            let next = if location.starts_with('/') {
                // Relative: on the server that answered.
                let origin: String = url.split('/').take(3).collect::<Vec<_>>().join("/");
                format!("{origin}{location}")
            } else {
                location
            };
            if next.starts_with(&callback_url(&self.api.base)) {
                return next;
            }
            assert!(
                !next.starts_with(&self.api.base),
                "the login went back to the service elsewhere than the callback: {next}"
            );
            url = next;
        }
        panic!("too many redirects starting at {path}");
    }

    /// A whole login: [`Self::until_callback`], then the callback; returns the callback's
    /// answer (a 302 to `return_to`, `/login?mfa=required` or `/login?error=…`).
    pub async fn login(&self, path: &str) -> Reply {
        let callback = self.until_callback(path).await;
        self.get(&callback).await
    }

    /// [`Self::login`] at the test provider with no parameters; asserts where it lands.
    ///
    /// # Panics
    /// When the callback does not redirect to `expected`.
    pub async fn login_lands_on(&self, expected: &str) -> Reply {
        let reply = self.login(&format!("/api/auth/{PROVIDER_KEY}")).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{reply:?}");
        assert_eq!(reply.header("location"), Some(expected), "{reply:?}");
        reply
    }
}

/// Waits until the service has discovered the provider: its login redirects to the
/// provider, not to `/login?error=provider_unavailable`.
///
/// # Panics
/// When that takes longer than `within`.
pub async fn wait_until_discovered(base: &str, within: Duration) {
    let browser = OidcBrowser::new(base);
    let deadline = Instant::now() + within;
    loop {
        let reply = browser.get(&format!("/api/auth/{PROVIDER_KEY}")).await;
        let location = reply.header("location").unwrap_or_default();
        if reply.status == StatusCode::FOUND && !location.starts_with("/login") {
            return;
        }
        assert!(Instant::now() < deadline, "the provider was not discovered in time: {reply:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
