//! The `slugbase` binary's library: configuration, telemetry, wiring and the CLI.
//!
//! [`Application::build`] does what `slugbase serve` does — connect to storage, migrate,
//! build the adapters and use cases, bind the HTTP listener — so tests start exactly what
//! production starts. `main.rs` only parses the command line and calls [`cli::run`].

pub mod cli;
pub mod config;
pub mod delivery;
pub mod import;
pub mod maintenance;
mod readings;
pub mod root;
mod set_password;
pub mod telemetry;
#[cfg(feature = "otlp")]
pub mod traces;

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context as _;
use slugbase_application::ports::{Clock, Mailer};
use slugbase_application::{AuthSettings, Operator, UseCases};
use slugbase_infrastructure::crypto::SystemClock;
use slugbase_infrastructure::mail::{LogMailer, SmtpMailer};
use slugbase_infrastructure::memory::InMemoryStore;
use slugbase_infrastructure::sql::SeaOrmStore;

use crate::config::{Loaded, MailTransport};
use crate::root::{Root, Stores};

/// Version reported by `/api/version` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Commit reported by `/api/version`: `SLUGBASE_COMMIT` at build time, else `unknown`.
pub const COMMIT: &str = match option_env!("SLUGBASE_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

/// The directory a `sqlite:` URL's file lives in, when it has one.
fn sqlite_dir(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(std::path::Path::to_path_buf)
}

/// Connects to the configured database (creating a SQLite file's directory first).
///
/// # Errors
/// When the directory cannot be created or the database cannot be reached.
pub async fn connect_storage(loaded: &Loaded) -> anyhow::Result<SeaOrmStore> {
    let url = loaded.settings.database.url.trim();
    if let Some(dir) = sqlite_dir(url) {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the database directory {}", dir.display()))?;
    }
    let store = SeaOrmStore::connect_with(url, &loaded.settings.database.store_options())
        .await
        .context("cannot connect to the database")?
        .expecting_migrations(slugbase_migration::names());
    Ok(store)
}

/// Runs pending migrations.
///
/// # Errors
/// When a migration fails.
pub async fn migrate(store: &SeaOrmStore) -> anyhow::Result<()> {
    store.migrate_with(slugbase_migration::up).await.context("database migration failed")?;
    tracing::info!("database schema is up to date");
    Ok(())
}

/// The HTTP service, bound and ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    use_cases: UseCases,
    operator: Operator,
    /// Purges expired sessions and old audit events while the server runs.
    maintenance: maintenance::MaintenanceTask,
    /// OIDC providers still being discovered (stopped with the server).
    discovery: Vec<tokio::task::JoinHandle<()>>,
    /// Delivers the notice outbox (absent with `mail.transport = "off"`).
    delivery: Option<delivery::DeliveryTask>,
    /// The metrics listener (absent unless `metrics.listen` is set).
    metrics: Option<actix_web::dev::Server>,
    /// Reads the outbox's standing for the metrics (with the listener).
    outbox_standing: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

/// Stops a running [`Application`] from outside it (a test app, when dropped).
#[derive(Clone)]
pub struct StopHandle(actix_web::dev::ServerHandle);

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopHandle").finish_non_exhaustive()
    }
}

impl StopHandle {
    /// Tells the server to stop now, in-flight requests included, without waiting:
    /// [`Application::run`] then stops the background tasks and returns.
    pub fn stop(&self) {
        // The command is sent when `stop` is called; the future only waits for the answer.
        drop(self.0.stop(false));
    }
}

/// Which storage an [`Application`] runs on.
enum StorageChoice {
    /// The configured `database.url`.
    Configured,
    /// An open SQL store (migrated at build when `database.migrate_on_start`).
    Sql(SeaOrmStore),
    /// An in-memory store (tests that take storage down, the bench's baselines).
    Memory(Arc<InMemoryStore>),
}

/// Builds an [`Application`]: what `slugbase serve` runs, with the storage and the clock
/// replaceable — the one way tests and the bench start the service.
pub struct ApplicationBuilder {
    loaded: Loaded,
    storage: StorageChoice,
    clock: Arc<dyn Clock>,
    auth: Option<AuthSettings>,
}

impl std::fmt::Debug for ApplicationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplicationBuilder").finish_non_exhaustive()
    }
}

impl ApplicationBuilder {
    /// Runs on `store` instead of connecting to `database.url`.
    #[must_use]
    pub fn sql_store(mut self, store: SeaOrmStore) -> Self {
        self.storage = StorageChoice::Sql(store);
        self
    }

    /// Runs on an in-memory store instead of a database.
    #[must_use]
    pub fn memory_store(mut self, store: Arc<InMemoryStore>) -> Self {
        self.storage = StorageChoice::Memory(store);
        self
    }

    /// Reads time from `clock` instead of the system clock.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Applies `auth` instead of the settings derived from `[security]`.
    #[must_use]
    pub fn auth_settings(mut self, auth: AuthSettings) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Connects (unless a store was given), migrates (when `database.migrate_on_start`),
    /// wires and binds.
    ///
    /// # Errors
    /// Storage unreachable, migration failure, port taken, adapter configuration refused.
    pub async fn build(self) -> anyhow::Result<Application> {
        let Self { loaded, storage, clock, auth } = self;
        let migrate_on_start = loaded.settings.database.migrate_on_start;
        let (stores, sql) = match storage {
            StorageChoice::Configured | StorageChoice::Sql(_) => {
                let store = match storage {
                    StorageChoice::Sql(store) => store,
                    _ => connect_storage(&loaded).await?,
                };
                if migrate_on_start {
                    migrate(&store).await?;
                }
                (Stores::over(Arc::new(store.clone())), Some(store))
            }
            StorageChoice::Memory(store) => (Stores::over(store), None),
        };
        let root = Root::new(loaded, stores, clock, auth);
        let use_cases = root.use_cases()?.clone();
        let operator = root.operator()?.clone();
        let discovery = root.start_discovery()?;
        let maintenance = root.maintenance().spawn();
        let delivery = root.notice_delivery()?;
        let loaded = root.loaded();
        let server = &loaded.settings.server;
        let listener = TcpListener::bind((server.host, server.port))
            .with_context(|| format!("cannot listen on {}:{}", server.host, server.port))?;
        let port = listener.local_addr().context("listener has no address")?.port();
        let mut metrics = slugbase_web::metrics::Metrics::new(VERSION, COMMIT);
        readings::adapters(&mut metrics, &root.argon2()?, sql);
        // The outbox is read every few seconds by a task, only while metrics are served.
        let outbox_standing = (!loaded.settings.metrics.listen.trim().is_empty())
            .then(|| readings::outbox(&mut metrics, root.stores().outbox.clone()));
        let metrics = Arc::new(metrics);
        let web = slugbase_web::WebConfig {
            public_base_url: server.public_base_url.trim().trim_end_matches('/').to_owned(),
            trusted_proxies: server.trusted_proxies.clone(),
            body_limit_bytes: server.body_limit_bytes,
            body_read_timeout: server.body_read_timeout(),
            header_read_timeout: server.header_read_timeout(),
            keep_alive_timeout: server.keep_alive_timeout(),
            max_connections: server.max_connections,
            shutdown_timeout: server.shutdown_timeout(),
            metrics: Arc::clone(&metrics),
            request_tracing: request_tracing(&loaded.settings.traces),
            csrf_key: loaded.keys.csrf,
            version: VERSION.to_owned(),
            commit: COMMIT.to_owned(),
        };
        let server =
            slugbase_web::server(listener, use_cases.clone(), web).context("cannot start HTTP")?;
        let metrics = metrics_listener(&loaded.settings.metrics.listen, port, metrics)?;
        tracing::info!(
            address = %format!("{}:{port}", loaded.settings.server.host),
            profile = %loaded.profile,
            database = match loaded.settings.database.url.trim() {
                url if url.starts_with("sqlite:") => "sqlite",
                url if url.starts_with("mysql://") => "mysql",
                _ => "postgres",
            },
            version = VERSION,
            "listening"
        );
        Ok(Application {
            port,
            server,
            use_cases,
            operator,
            maintenance,
            discovery,
            delivery,
            metrics,
            outbox_standing,
        })
    }
}

impl Application {
    /// A builder over `loaded`: the configured database and the system clock unless
    /// replaced.
    #[must_use]
    pub fn builder(loaded: Loaded) -> ApplicationBuilder {
        ApplicationBuilder {
            loaded,
            storage: StorageChoice::Configured,
            clock: Arc::new(SystemClock),
            auth: None,
        }
    }

    /// Connects, migrates (when `database.migrate_on_start`), wires and binds: what
    /// `slugbase serve` runs.
    ///
    /// # Errors
    /// Storage unreachable, migration failure, port taken, adapter configuration refused.
    pub async fn build(loaded: Loaded) -> anyhow::Result<Self> {
        Self::builder(loaded).build().await
    }

    /// The use cases the server runs (tests reach what HTTP cannot do yet through them).
    #[must_use]
    pub const fn use_cases(&self) -> &UseCases {
        &self.use_cases
    }

    /// The operator's use cases (what the CLI calls), over the same ports.
    #[must_use]
    pub const fn operator(&self) -> &Operator {
        &self.operator
    }

    /// A handle that stops this application once it runs.
    #[must_use]
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.server.handle())
    }

    /// The port actually bound (useful with `server.port = 0`).
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then lets in-flight requests finish.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested; finishing in-flight requests");
            handle.stop(true).await;
        });
        self.run().await?;
        tracing::info!("stopped");
        Ok(())
    }

    /// Serves until the server is stopped, with no signal handling of its own (tests, and
    /// programs that embed the service).
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run(self) -> anyhow::Result<()> {
        let Self { server, maintenance, discovery, delivery, metrics, outbox_standing, .. } = self;
        let metrics = metrics.map(|metrics| {
            let handle = metrics.handle();
            tokio::spawn(metrics);
            handle
        });
        let served = server.await.context("HTTP server failed");
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        if let Some(task) = outbox_standing {
            task.abort();
        }
        drop(maintenance);
        for task in discovery {
            task.abort();
        }
        if let Some(delivery) = delivery {
            delivery.shutdown().await;
        }
        served
    }
}

/// How requests join traces: W3C Trace Context when spans are exported, else not at all.
fn request_tracing(
    settings: &config::TracesSettings,
) -> Option<Arc<dyn slugbase_web::RequestTracing>> {
    #[cfg(feature = "otlp")]
    {
        settings.endpoint().map(|_| traces::W3cTraceContext::shared())
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = settings;
        None
    }
}

/// The metrics listener on `listen` (`host:port`), or `None` when it is empty.
///
/// # Errors
/// An address that does not parse, the public listener's port, or one that cannot be bound.
fn metrics_listener(
    listen: &str,
    public_port: u16,
    metrics: Arc<slugbase_web::metrics::Metrics>,
) -> anyhow::Result<Option<actix_web::dev::Server>> {
    let listen = listen.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    let address: std::net::SocketAddr =
        listen.parse().with_context(|| format!("metrics.listen {listen:?} is not host:port"))?;
    anyhow::ensure!(
        address.port() != public_port,
        "metrics.listen must not be the public listener's port {public_port}"
    );
    let listener = TcpListener::bind(address)
        .with_context(|| format!("cannot listen for metrics on {address}"))?;
    let bound = listener.local_addr().context("metrics listener has no address")?;
    tracing::info!(address = %bound, "metrics listening");
    let server = slugbase_web::metrics::metrics_server(listener, metrics)
        .context("cannot start the metrics listener")?;
    Ok(Some(server))
}

/// The mailer `mail.transport` names, or `None` for `off`.
///
/// # Errors
/// When the SMTP settings are refused (a bad `From:`, an unreadable password file).
pub fn mailer(loaded: &Loaded) -> anyhow::Result<Option<Arc<dyn Mailer>>> {
    let mail = &loaded.settings.mail;
    Ok(match mail.transport {
        MailTransport::Off => None,
        MailTransport::Log => Some(Arc::new(LogMailer)),
        MailTransport::Smtp => {
            let settings = mail.smtp_settings()?;
            Some(Arc::new(SmtpMailer::new(&settings).context("cannot set up SMTP")?))
        }
    })
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_dir;

    #[test]
    fn the_sqlite_directory_is_found_in_relative_and_absolute_urls() {
        assert_eq!(
            sqlite_dir("sqlite://data/x.db?mode=rwc").unwrap(),
            std::path::Path::new("data")
        );
        assert_eq!(sqlite_dir("sqlite:///tmp/a/x.db").unwrap(), std::path::Path::new("/tmp/a"));
        assert_eq!(sqlite_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_dir("sqlite://x.db"), None);
        assert_eq!(sqlite_dir("postgres://u@h/db"), None);
    }
}
