//! The `slugbase` binary's library: configuration, telemetry, wiring and the CLI.
//!
//! [`Application::build`] does what `slugbase serve` does — connect to storage, migrate,
//! build the adapters and use cases, bind the HTTP listener — so tests start exactly what
//! production starts. `main.rs` only parses the command line and calls [`cli::run`].

pub mod cli;
pub mod config;
pub mod delivery;
pub mod maintenance;
mod set_password;
pub mod telemetry;

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context as _;
use slugbase_application::accounts::DeliverNotices;
use slugbase_application::collaborators::AuditTrail;
use slugbase_application::ports::{Clock, IdentityProviders, Mailer, Storage};
use slugbase_application::{AuthSettings, Deps, UseCases};
use slugbase_infrastructure::crypto::{Argon2Params, EncryptionKeys, SystemClock};
use slugbase_infrastructure::mail::{LogMailer, SmtpMailer};
use slugbase_infrastructure::memory::InMemoryStore;
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::wiring::CryptoConfig;

use crate::config::{Loaded, MailTransport};

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
        .context("cannot connect to the database")?;
    Ok(store)
}

/// Runs pending migrations.
///
/// # Errors
/// When a migration fails.
pub async fn migrate(store: &SeaOrmStore) -> anyhow::Result<()> {
    store.migrate().await.context("database migration failed")?;
    tracing::info!("database schema is up to date");
    Ok(())
}

/// Everything the use cases run on, over `store`.
///
/// # Errors
/// When an adapter refuses its configuration (for example an invalid key id).
pub fn build_use_cases(loaded: &Loaded, store: SeaOrmStore) -> anyhow::Result<(Deps, UseCases)> {
    let deps = build_deps(loaded, Arc::new(store), Arc::new(SystemClock))?;
    let mut use_cases = UseCases::new(deps.clone(), loaded.settings.security.auth_settings());
    // No provider clients here (nothing signs in through them), but whether one is
    // configured decides whether a user without a password may be created.
    use_cases.admin = use_cases.admin.with_oidc_sign_in(!loaded.settings.oidc.providers.is_empty());
    Ok((deps, use_cases))
}

/// The adapters over `store` and `clock`, configured from `loaded`.
fn build_deps<S: Storage>(
    loaded: &Loaded,
    store: Arc<S>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Deps> {
    let settings = &loaded.settings;
    let keys = &loaded.keys;
    let crypto = CryptoConfig {
        argon2: Argon2Params {
            memory_kib: settings.argon2.memory_kib,
            iterations: settings.argon2.iterations,
            parallelism: settings.argon2.parallelism,
            max_concurrent: match settings.argon2.max_concurrent {
                0 => Argon2Params::automatic_concurrency(),
                n => n,
            },
        },
        totp_issuer: settings.totp.issuer.trim().to_owned(),
        encryption: EncryptionKeys {
            current_id: keys.encryption_current.clone(),
            keys: keys.encryption.clone(),
        },
        backup_code_key: keys.backup_code,
    };
    slugbase_infrastructure::wiring::build_deps(store, crypto, clock)
        .context("cannot build the adapters")
}

/// Re-seals every stored TOTP secret under the configured current key (`slugbase keys
/// rotate`), opening each with whichever configured key sealed it.
///
/// # Errors
/// When the keys are refused (no current key, a bad key id) or storage fails; secrets that
/// cannot be opened are reported in the result, not as an error.
pub async fn rotate_keys(
    loaded: &Loaded,
    store: SeaOrmStore,
) -> anyhow::Result<slugbase_application::rotation::RotationReport> {
    let cipher = Arc::new(
        slugbase_infrastructure::crypto::AesGcmSecretCipher::new(EncryptionKeys {
            current_id: loaded.keys.encryption_current.clone(),
            keys: loaded.keys.encryption.clone(),
        })
        .context("the encryption keys are refused")?,
    );
    let rotate =
        slugbase_application::rotation::RotateKeys::new(Arc::new(store), cipher.clone(), cipher);
    rotate.execute().await.context("key rotation failed")
}

/// The HTTP service, bound and ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    use_cases: UseCases,
    /// Purges expired sessions and old audit events while the server runs.
    maintenance: maintenance::MaintenanceTask,
    /// OIDC providers still being discovered (stopped with the server).
    discovery: Vec<tokio::task::JoinHandle<()>>,
    /// Delivers the notice outbox (absent with `mail.transport = "off"`).
    delivery: Option<delivery::DeliveryTask>,
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
        let deps = match storage {
            StorageChoice::Configured | StorageChoice::Sql(_) => {
                let store = match storage {
                    StorageChoice::Sql(store) => store,
                    _ => connect_storage(&loaded).await?,
                };
                if migrate_on_start {
                    migrate(&store).await?;
                }
                build_deps(&loaded, Arc::new(store), clock)?
            }
            StorageChoice::Memory(store) => build_deps(&loaded, store, clock)?,
        };
        let auth = auth.unwrap_or_else(|| loaded.settings.security.auth_settings());
        let mut deps = deps;
        let (providers, discovery) = oidc_providers(&loaded)?;
        deps.identity_providers = providers;
        let use_cases = UseCases::new(deps.clone(), auth);
        let maintenance = maintenance::Maintenance {
            sessions: deps.sessions.clone(),
            audit: deps.audit.clone(),
            clock: deps.clock.clone(),
            audit_retention_days: loaded.settings.audit.retention_days,
            outbox: deps.outbox.clone(),
            sent_notice_retention_days: loaded.settings.outbox.sent_retention_days,
            failed_notice_retention_days: loaded.settings.outbox.failed_retention_days,
            interval: std::time::Duration::from_secs(u64::from(
                loaded.settings.maintenance.purge_interval_secs,
            )),
        }
        .spawn();
        let delivery = notice_delivery(&loaded, &deps)?;
        let server = &loaded.settings.server;
        let listener = TcpListener::bind((server.host, server.port))
            .with_context(|| format!("cannot listen on {}:{}", server.host, server.port))?;
        let port = listener.local_addr().context("listener has no address")?.port();
        let web = slugbase_web::WebConfig {
            public_base_url: server.public_base_url.trim().trim_end_matches('/').to_owned(),
            trusted_proxies: server.trusted_proxies.clone(),
            body_limit_bytes: server.body_limit_bytes,
            body_read_timeout: server.body_read_timeout(),
            header_read_timeout: server.header_read_timeout(),
            keep_alive_timeout: server.keep_alive_timeout(),
            max_connections: server.max_connections,
            csrf_key: loaded.keys.csrf,
            version: VERSION.to_owned(),
            commit: COMMIT.to_owned(),
        };
        let server =
            slugbase_web::server(listener, use_cases.clone(), web).context("cannot start HTTP")?;
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
        Ok(Application { port, server, use_cases, maintenance, discovery, delivery })
    }
}

/// The configured OpenID providers, each discovering itself in the background (a provider
/// that is down at start is retried, never fatal), and the discovery tasks.
///
/// # Errors
/// When a provider's URLs or client secret file are refused.
fn oidc_providers(
    loaded: &Loaded,
) -> anyhow::Result<(IdentityProviders, Vec<tokio::task::JoinHandle<()>>)> {
    use slugbase_application::ports::{ConfiguredProvider, ProviderPolicy};
    use slugbase_infrastructure::oidc::{OpenIdProvider, OpenIdProviderConfig};

    let settings = &loaded.settings;
    let base = settings.server.public_base_url.trim().trim_end_matches('/');
    let mut providers = IdentityProviders::default();
    let mut discovery = Vec::new();
    for (key, p) in &settings.oidc.providers {
        let secret = p.resolve_client_secret(key)?;
        let provider = Arc::new(
            OpenIdProvider::new(OpenIdProviderConfig {
                key: key.clone(),
                issuer_url: p.issuer_url.trim().to_owned(),
                client_id: p.client_id.trim().to_owned(),
                client_secret: secret.into(),
                redirect_url: format!("{base}/api/auth/{key}/callback"),
                scopes: p.scopes.clone(),
                max_retry: std::time::Duration::from_secs(u64::from(
                    settings.oidc.discovery_retry_max_secs,
                )),
                request_timeout: std::time::Duration::from_secs(u64::from(
                    settings.oidc.request_timeout_secs,
                )),
                jwks_refresh_min_interval: std::time::Duration::from_secs(u64::from(
                    settings.oidc.jwks_refresh_min_interval_secs,
                )),
            })
            .with_context(|| format!("OIDC provider {key}"))?,
        );
        discovery.push(provider.spawn_discovery());
        let policy = ProviderPolicy {
            display_name: p.display_name(key),
            issuer_url: p.issuer_url.trim().to_owned(),
            auto_create_users: p.auto_create_users,
            default_admin: p.default_role == config::DefaultRole::Admin,
            link_verified_email: p.link_verified_email,
            trust_idp_mfa_amr: p.trust_idp_mfa_amr.clone(),
        };
        providers.0.insert(key.clone(), ConfiguredProvider { policy, provider });
    }
    Ok((providers, discovery))
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
        let Self { server, maintenance, discovery, delivery, .. } = self;
        let served = server.await.context("HTTP server failed");
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

/// The delivery task over `deps`' outbox, unless `mail.transport = "off"`.
fn notice_delivery(loaded: &Loaded, deps: &Deps) -> anyhow::Result<Option<delivery::DeliveryTask>> {
    let Some(mailer) = mailer(loaded)? else {
        tracing::info!("mail.transport = \"off\": notices stay in the outbox, undelivered");
        return Ok(None);
    };
    let mail = &loaded.settings.mail;
    let deliver = DeliverNotices::new(
        deps.outbox.clone(),
        mailer,
        AuditTrail::new(deps.audit.clone(), deps.clock.clone()),
        deps.clock.clone(),
        mail.delivery_policy(),
    );
    Ok(Some(delivery::DeliveryTask::spawn(deliver, mail.poll_interval())))
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
