//! [`TestApp`]: the service on a free port, over storage and a clock the test chooses.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use serde_json::Value;
use slugbase_application::ports::Clock as _;
use slugbase_application::{AuthSettings, Operator, UseCases};
use slugbase_infrastructure::memory::InMemoryStore;
use slugbase_infrastructure::testing::ManualClock;
use slugbase_server::config::{
    LoadOptions, MailTransport, Profile, Settings, TlsMode, encode_key, random_key,
};
use slugbase_server::{Application, StopHandle};
use tempfile::TempDir;

use crate::{Api, steps, totp};

/// Which storage the service runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the app's temporary directory (the default).
    SqliteFile,
    /// The in-memory store (for tests that take storage down).
    Memory,
    /// A database URL (a PostgreSQL database of the test's own).
    Url(String),
}

/// A change to the service's settings, in the order given.
type Adjust = Box<dyn FnOnce(&mut Settings) + Send>;

/// Builds a [`TestApp`]; see the crate documentation.
pub struct TestAppBuilder {
    backend: Backend,
    config: Vec<Adjust>,
    auth: Option<AuthSettings>,
}

impl fmt::Debug for TestAppBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestAppBuilder")
            .field("backend", &self.backend)
            .field("config", &format_args!("{} change(s)", self.config.len()))
            .field("auth", &self.auth)
            .finish()
    }
}

/// The service, running on 127.0.0.1 until the app is dropped (which stops its server and
/// every background task of its own).
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The service's clock: standing still until the test moves it.
    pub clock: Arc<ManualClock>,
    /// The store, when in memory (to take it down).
    pub memory: Option<Arc<InMemoryStore>>,
    /// The same use cases the service runs (for what HTTP cannot do yet).
    pub use_cases: UseCases,
    /// The operator's use cases (the CLI's), over the same store.
    pub operator: Operator,
    /// Holds the SQLite file (and anything else of the app's) until the app is dropped.
    pub dir: TempDir,
    /// Stops the server, and with it the app's background tasks.
    stop: StopHandle,
}

impl Drop for TestApp {
    /// Stops the service without waiting: its server and background tasks end soon after
    /// (`tests/api/test_app.rs` in the web crate checks that none is left).
    fn drop(&mut self) {
        self.stop.stop();
    }
}

impl TestAppBuilder {
    /// Runs on `backend`.
    #[must_use]
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Changes the service's settings — the server's own [`Settings`], as loaded from the
    /// test profile — before they are validated (as crates.io's `with_config`): a misspelt
    /// setting does not compile. Changes apply in the order given, after the app's own
    /// (storage, 127.0.0.1 on a free port, fresh keys), so they can replace those too.
    #[must_use]
    pub fn with_config(mut self, adjust: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.config.push(Box::new(adjust));
        self
    }

    /// Sends notices through `server` (plain SMTP on 127.0.0.1), looking for due ones every
    /// 50 ms.
    #[must_use]
    pub fn smtp(self, server: &crate::SmtpServer) -> Self {
        let port = server.port();
        self.with_config(move |c| {
            c.mail.transport = MailTransport::Smtp;
            c.mail.smtp.host = "127.0.0.1".to_owned();
            c.mail.smtp.port = port;
            c.mail.smtp.tls = TlsMode::None;
            c.mail.smtp.timeout_secs = 2;
            c.mail.poll_interval_ms = 50;
        })
    }

    /// Applies `auth` instead of the settings derived from `[security]`.
    #[must_use]
    pub fn auth_settings(mut self, auth: AuthSettings) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Starts the service.
    ///
    /// # Panics
    /// When it cannot start: a test cannot go on without it.
    pub async fn spawn(self) -> TestApp {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = match &self.backend {
            Backend::Url(url) => url.clone(),
            Backend::SqliteFile | Backend::Memory => {
                format!("sqlite://{}?mode=rwc", dir.path().join("slugbase.db").display())
            }
        };
        let options = LoadOptions {
            profile: Profile::Test,
            // Absent: the embedded copies of config/*.toml are used.
            config_dir: dir.path().join("no-config-dir"),
            config_file: None,
            // None of the process's `SLUGBASE__…` variables: the test says all there is.
            env: Some(BTreeMap::new()),
        };
        let changes = self.config;
        let loaded = slugbase_server::config::load_adjusted(&options, move |c| {
            c.database.url = url;
            c.server.host = [127, 0, 0, 1].into();
            c.server.port = 0;
            c.keys.encryption.insert(c.keys.encryption_current.clone(), encode_key(&random_key()));
            c.keys.backup_code = encode_key(&random_key());
            c.keys.csrf = encode_key(&random_key());
            for change in changes {
                change(c);
            }
        })
        .expect("test configuration");

        let clock = Arc::new(ManualClock::new(Utc::now()));
        let mut builder = Application::builder(loaded).clock(clock.clone());
        let memory = (self.backend == Backend::Memory).then(|| Arc::new(InMemoryStore::new()));
        if let Some(store) = &memory {
            builder = builder.memory_store(store.clone());
        }
        if let Some(auth) = self.auth {
            builder = builder.auth_settings(auth);
        }
        let app = builder.build().await.expect("the service starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let use_cases = app.use_cases().clone();
        let operator = app.operator().clone();
        let stop = app.stop_handle();
        tokio::spawn(app.run());
        TestApp { address, clock, memory, use_cases, operator, dir, stop }
    }
}

impl TestApp {
    /// A builder: SQLite file, default settings.
    #[must_use]
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder { backend: Backend::SqliteFile, config: Vec::new(), auth: None }
    }

    /// The service with every default.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// `address` + `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A new client with an empty cookie jar.
    #[must_use]
    pub fn client(&self) -> Api {
        Api::new(&self.address)
    }

    /// A new client that sends `token` as its Bearer token and keeps no session (a script).
    #[must_use]
    pub fn bearer(&self, token: &str) -> Api {
        Api::with_bearer(&self.address, token)
    }

    /// [`steps::setup_admin`] on this app.
    pub async fn setup_admin(&self) -> Api {
        steps::setup_admin(&self.address).await
    }

    /// [`steps::create_user`].
    pub async fn create_user(&self, admin: &Api, email: &str, password: Option<&str>) -> Value {
        steps::create_user(admin, email, password).await
    }

    /// [`steps::login`] on this app.
    pub async fn login(&self, email: &str, password: &str) -> Api {
        steps::login(&self.address, email, password).await
    }

    /// [`steps::login_with_mfa`] on this app with [`steps::PASSWORD`] and a fresh code.
    pub async fn login_with_mfa(&self, email: &str, secret: &str) -> Api {
        let code = self.fresh_code(secret);
        steps::login_with_mfa(&self.address, email, steps::PASSWORD, &code).await
    }

    /// A personal API token for `session`'s user, in a client of its own that carries only
    /// the token (no cookies, no CSRF token).
    pub async fn api_token(&self, session: &Api) -> Api {
        self.bearer(&steps::create_token(session, "tests").await)
    }

    /// [`steps::enroll_mfa`] with a fresh code; returns the secret and the backup codes.
    pub async fn enable_mfa(&self, api: &Api) -> (String, Vec<String>) {
        let enrollment = steps::enroll_mfa(api, |secret| self.fresh_code(secret)).await;
        (enrollment.secret, enrollment.backup_codes)
    }

    /// Moves the service's clock to the next TOTP step and returns the code for it (a code
    /// never used before, so never a replay).
    #[must_use]
    pub fn fresh_code(&self, secret: &str) -> String {
        self.clock.advance(TimeDelta::seconds(30));
        self.code_now(secret)
    }

    /// The code for the service's current time.
    #[must_use]
    pub fn code_now(&self, secret: &str) -> String {
        totp::code_at(&totp::from_secret(secret), self.clock.now())
    }

    /// Six digits that are no valid code at the service's current time (nor one step
    /// either side).
    #[must_use]
    pub fn wrong_code(&self, secret: &str) -> String {
        totp::wrong_code_at(&totp::from_secret(secret), self.clock.now())
    }
}
