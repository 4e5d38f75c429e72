//! `spawn_app()`: the real server on 127.0.0.1 (free port) over a real SQLite file, and a
//! real HTTP client; helpers for the usual steps (setup, login, CSRF, tokens, enrollment).
//!
//! Time on the server is a `ManualClock`, so a test steps through TOTP windows instead of
//! waiting, and codes are computed with totp-rs from the secret the API returned.

use std::net::{IpAddr, TcpListener};
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use reqwest::header::HeaderMap;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use slugbase_application::{AuthSettings, UseCases};
use slugbase_infrastructure::crypto::ManualClock;
use slugbase_infrastructure::memory::InMemoryStore;
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::wiring::{CryptoConfig, build_deps};
use slugbase_web::WebConfig;
use tempfile::TempDir;

/// Password of every account the helpers create.
pub const PASSWORD: &str = "correct horse battery";
/// E-mail of the first administrator.
pub const ADMIN_EMAIL: &str = "admin@example.com";

/// Which storage the server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory (the default).
    SqliteFile,
    /// The in-memory store (only where a test needs to take the database down).
    Memory,
}

/// How to start the app.
#[derive(Clone, Debug)]
pub struct AppOptions {
    pub backend: Backend,
    pub settings: AuthSettings,
    pub trusted_proxies: Vec<IpAddr>,
    pub body_limit_bytes: usize,
    pub body_read_timeout: std::time::Duration,
    pub header_read_timeout: std::time::Duration,
    /// Overrides the public base URL (default: the server's own `http://` address).
    pub public_base_url: Option<String>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            backend: Backend::SqliteFile,
            settings: AuthSettings::default(),
            trusted_proxies: Vec::new(),
            body_limit_bytes: slugbase_web::DEFAULT_BODY_LIMIT_BYTES,
            body_read_timeout: slugbase_web::DEFAULT_BODY_READ_TIMEOUT,
            header_read_timeout: slugbase_web::DEFAULT_HEADER_READ_TIMEOUT,
            public_base_url: None,
        }
    }
}

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The server's clock.
    pub clock: Arc<ManualClock>,
    /// The store, when in memory (to take it down).
    pub memory: Option<Arc<InMemoryStore>>,
    /// The same use cases the server runs (for what HTTP cannot do yet, such as an
    /// OIDC-only user's first credential: OIDC login is a later issue).
    pub use_cases: UseCases,
    /// Keeps the SQLite file alive.
    _dir: Option<TempDir>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let crypto = CryptoConfig::for_tests();
    let (deps, memory, dir) = match options.backend {
        Backend::SqliteFile => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("slugbase.db").display());
            let store = SeaOrmStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            let deps = build_deps(Arc::new(store), crypto, clock.clone()).unwrap();
            (deps, None, Some(dir))
        }
        Backend::Memory => {
            let store = Arc::new(InMemoryStore::new());
            let deps = build_deps(store.clone(), crypto, clock.clone()).unwrap();
            (deps, Some(store), None)
        }
    };
    let use_cases = UseCases::new(deps, options.settings);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");
    let base = options.public_base_url.unwrap_or_else(|| address.clone());
    let mut config = WebConfig::new(base, [42; 32]);
    config.trusted_proxies = options.trusted_proxies;
    config.body_limit_bytes = options.body_limit_bytes;
    config.body_read_timeout = options.body_read_timeout;
    config.header_read_timeout = options.header_read_timeout;
    config.commit = "test".to_owned();
    let server = slugbase_web::server(listener, use_cases.clone(), config).unwrap();
    tokio::spawn(server);
    TestApp { address, clock, memory, use_cases, _dir: dir }
}

/// A client that keeps cookies (a browser).
pub fn browser() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

/// A client without cookies (curl, scripts).
pub fn plain() -> Client {
    Client::builder().build().unwrap()
}

/// A signed-in browser with its CSRF token.
pub struct Session {
    pub client: Client,
    pub csrf: String,
    pub base: String,
}

impl Session {
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    /// POST with JSON and the CSRF header.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("X-CSRF-Token", &self.csrf)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// DELETE with the CSRF header.
    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(format!("{}{path}", self.base))
            .header("X-CSRF-Token", &self.csrf)
            .send()
            .await
            .unwrap()
    }
}

/// A Bearer caller.
pub struct Bearer {
    pub client: Client,
    pub token: String,
    pub base: String,
}

impl Bearer {
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

pub async fn csrf_token(client: &Client, base: &str) -> String {
    let res = client.get(format!("{base}/api/csrf-token")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["csrfToken"].as_str().unwrap().to_owned()
}

/// Asserts the status and returns the JSON body.
pub async fn json(res: Response, status: StatusCode) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts the seed's error shape with `status` and `reason`; returns the body.
pub async fn error(res: Response, status: StatusCode, reason: &str) -> Value {
    let headers: HeaderMap = res.headers().clone();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    let body = json(res, status).await;
    assert_seed_shape(&body, status);
    assert_eq!(body["reason"], reason, "body: {body}");
    body
}

/// `error` = reason phrase, `message` a sentence, `code` the status, `reason` a string,
/// `details` (if any) a non-empty array of {field, message}; nothing else.
pub fn assert_seed_shape(body: &Value, status: StatusCode) {
    let obj = body.as_object().unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(body["error"], status.canonical_reason().unwrap(), "body: {body}");
    assert_eq!(body["code"], status.as_u16(), "body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {body}");
    assert!(body["reason"].as_str().is_some_and(|m| !m.is_empty()), "body: {body}");
    for key in obj.keys() {
        assert!(["error", "message", "code", "reason", "details"].contains(&key.as_str()), "{key}");
    }
    if let Some(details) = obj.get("details") {
        let details = details.as_array().unwrap();
        assert!(!details.is_empty());
        for d in details {
            assert!(d["field"].is_string() && d["message"].is_string(), "detail {d}");
        }
    }
}

/// The fields named in `details`.
pub fn detail_fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|d| d.iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Creates the first administrator; returns their signed-in browser session.
    pub async fn setup_admin(&self) -> Session {
        let client = browser();
        let res = client
            .post(self.url("/api/auth/setup"))
            .json(&json!({"email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let body = json(res, StatusCode::OK).await;
        assert_eq!(body["email"], ADMIN_EMAIL);
        let csrf = csrf_token(&client, &self.address).await;
        Session { client, csrf, base: self.address.clone() }
    }

    /// Creates a local (or, without a password, OIDC-only) user through the admin API.
    pub async fn create_user(&self, admin: &Session, email: &str, password: Option<&str>) -> Value {
        let mut body = json!({"email": email, "name": "User"});
        if let Some(password) = password {
            body["password"] = json!(password);
        }
        json(admin.post("/api/admin/users", &body).await, StatusCode::CREATED).await
    }

    /// Logs in a user without MFA; returns the session.
    pub async fn login(&self, email: &str, password: &str) -> Session {
        let client = browser();
        let res = client
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        let body = json(res, StatusCode::OK).await;
        assert_eq!(body["email"], email, "{body}");
        let csrf = csrf_token(&client, &self.address).await;
        Session { client, csrf, base: self.address.clone() }
    }

    /// Logs in a user with MFA (password, then a fresh code).
    pub async fn login_with_mfa(&self, email: &str, secret: &str) -> Session {
        let client = browser();
        let res = client
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(json(res, StatusCode::OK).await, json!({"mfa_required": true}));
        let code = self.fresh_code(secret);
        let res = client
            .post(self.url("/api/auth/mfa/verify"))
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap();
        json(res, StatusCode::OK).await;
        let csrf = csrf_token(&client, &self.address).await;
        Session { client, csrf, base: self.address.clone() }
    }

    /// A personal API token for the session's user.
    pub async fn api_token(&self, session: &Session) -> Bearer {
        let res = session.post("/api/tokens", &json!({"name": "tests"})).await;
        let body = json(res, StatusCode::CREATED).await;
        let token = body["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("sb_"));
        Bearer { client: plain(), token, base: self.address.clone() }
    }

    /// Enrolls the session's user in MFA; returns the secret and the backup codes.
    pub async fn enable_mfa(&self, session: &Session) -> (String, Vec<String>) {
        let begin =
            json(session.post("/api/auth/mfa/enroll/begin", &json!({})).await, StatusCode::OK)
                .await;
        let secret = begin["secret"].as_str().unwrap().to_owned();
        let code = self.fresh_code(&secret);
        let res = session.post("/api/auth/mfa/enroll/confirm", &json!({"code": code})).await;
        let body = json(res, StatusCode::OK).await;
        let codes: Vec<String> = body["backup_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codes.len(), 10);
        (secret, codes)
    }

    /// Moves the server's clock to the next TOTP step and returns the code for it (a code
    /// never used before, so never a replay).
    pub fn fresh_code(&self, secret: &str) -> String {
        self.clock.advance(TimeDelta::seconds(30));
        self.code_now(secret)
    }

    /// The code for the server's current time.
    pub fn code_now(&self, secret: &str) -> String {
        use slugbase_application::ports::Clock as _;
        let totp = totp(secret);
        let now = u64::try_from(self.clock.now().timestamp()).unwrap();
        totp.generate(now).to_string()
    }

    /// A well-formed TOTP code that is wrong now (matches none of the steps in the
    /// ±1 window).
    pub fn wrong_code(&self, secret: &str) -> String {
        use slugbase_application::ports::Clock as _;
        let totp = totp(secret);
        let now = u64::try_from(self.clock.now().timestamp()).unwrap();
        let valid: Vec<String> =
            [now - 30, now, now + 30].iter().map(|t| totp.generate(*t).to_string()).collect();
        (0..1_000_000u32)
            .map(|n| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
            .find(|c| !valid.contains(c))
            .unwrap()
    }
}

fn totp(secret: &str) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
}
