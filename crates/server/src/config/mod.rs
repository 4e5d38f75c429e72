//! Configuration: layered files and environment, validated before anything starts.
//!
//! Layers, later ones win:
//! 1. `config/default.toml` (every setting, commented; a copy is embedded in the binary and
//!    used when the file is absent, so the binary runs from any directory),
//! 2. `config/<profile>.toml` (`development`, `production` or `test`; embedded likewise),
//! 3. development only: the generated key file (`keys.dev_keys_file`),
//! 4. the file given with `--config` (required when given),
//! 5. environment variables `SLUGBASE__SECTION__KEY` (for example
//!    `SLUGBASE__SERVER__PORT=9000`, `SLUGBASE__KEYS__ENCRYPTION__K1=<base64>`).
//!
//! Unknown keys are refused (a typo must not silently fall back to a default), and every
//! error names the key at fault. Keys (32 bytes each) come base64-encoded from the
//! configuration / environment or from files (`*_file` settings, for Docker or systemd
//! secrets). [`Settings`] never prints a key: its `Debug` redacts them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

/// Embedded copies of the configuration files.
const EMBEDDED_DEFAULT: &str = include_str!("../../../config/default.toml");
const EMBEDDED_DEVELOPMENT: &str = include_str!("../../../config/development.toml");
const EMBEDDED_PRODUCTION: &str = include_str!("../../../config/production.toml");
const EMBEDDED_TEST: &str = include_str!("../../../config/test.toml");

/// Length of every key, in bytes (AES-256, HMAC-SHA-256, CSRF signing).
pub const KEY_LEN: usize = 32;

/// OWASP's minimum Argon2id memory (19 MiB with 2 iterations); production refuses less.
const PRODUCTION_MIN_MEMORY_KIB: u32 = 19 * 1024;

/// Which set of defaults and checks applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Local use: generates missing keys into `./data`, human-readable logs.
    Development,
    /// Refuses to start without keys or with an insecure setting; JSON logs.
    Production,
    /// Automated tests: cheap Argon2, keys must be given.
    Test,
}

impl Profile {
    /// The profile's name, as in `config/<name>.toml`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
            Self::Test => "test",
        }
    }

    const fn embedded(self) -> &'static str {
        match self {
            Self::Development => EMBEDDED_DEVELOPMENT,
            Self::Production => EMBEDDED_PRODUCTION,
            Self::Test => EMBEDDED_TEST,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to read configuration from.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The profile.
    pub profile: Profile,
    /// Directory of `default.toml` and the profile files.
    pub config_dir: PathBuf,
    /// Extra file from `--config`.
    pub config_file: Option<PathBuf>,
    /// Environment variables to use instead of the process environment (tests).
    pub env: Option<BTreeMap<String, String>>,
}

impl LoadOptions {
    /// Options for `profile` reading `./config` and the process environment.
    #[must_use]
    pub fn new(profile: Profile) -> Self {
        Self { profile, config_dir: PathBuf::from("config"), config_file: None, env: None }
    }
}

/// Why configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or value could not be read or parsed (the message names the key).
    #[error("invalid configuration: {0}")]
    Parse(#[from] config::ConfigError),
    /// A setting has a value that is not allowed.
    #[error("invalid configuration: `{key}`: {message}")]
    Invalid {
        /// The key at fault, dotted (`server.port`).
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// Keys are missing (and cannot be generated in this profile).
    #[error(
        "missing keys: {} (give each as base64 of 32 bytes, in the configuration, in \
         SLUGBASE__KEYS__… environment variables, or in a file named by the `*_file` setting; \
         `slugbase keys generate` prints a fresh set)",
        .0.join(", ")
    )]
    MissingKeys(Vec<String>),
    /// The production profile refuses insecure settings.
    #[error("insecure setting refused by the production profile: `{key}`: {message}")]
    Insecure {
        /// The key at fault.
        key: String,
        /// Why it is insecure.
        message: String,
    },
    /// The development key file could not be written or read.
    #[error("development keys at {path}: {source}")]
    DevKeys {
        /// The key file.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), message: message.into() }
}

/// Every setting (see `config/default.toml` for their meaning and defaults).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP listener and request handling.
    pub server: ServerSettings,
    /// Storage.
    pub database: DatabaseSettings,
    /// Password hashing.
    pub argon2: Argon2Settings,
    /// TOTP.
    pub totp: TotpSettings,
    /// Sessions, MFA policy, attempt limits.
    pub security: SecuritySettings,
    /// Keys.
    pub keys: KeySettings,
    /// Logging.
    pub log: LogSettings,
    /// Audit log retention.
    pub audit: AuditSettings,
    /// Background clean-up of expired data.
    pub maintenance: MaintenanceSettings,
}

/// `[audit]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Audit events older than this many days are deleted; 0 keeps them forever.
    pub retention_days: u32,
}

/// `[maintenance]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSettings {
    /// How often expired sessions and audit events past retention are deleted (seconds;
    /// also once at start).
    pub purge_interval_secs: u32,
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on (0: any free port).
    pub port: u16,
    /// The URL clients use; `https` makes cookies `Secure`.
    pub public_base_url: String,
    /// Proxies whose `X-Forwarded-For` is believed (empty entries are ignored, so an empty
    /// environment variable means none).
    #[serde(deserialize_with = "ip_list")]
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// A request body must arrive in full within this many seconds of its head (408 and the
    /// connection closed beyond).
    pub body_read_timeout_secs: u32,
    /// The first request head on a connection must arrive within this many seconds of the
    /// connection's start (actix's `client_request_timeout`; 408 beyond).
    pub header_read_timeout_secs: u32,
    /// Open client connections at most, for the whole server (split across worker threads).
    pub max_connections: usize,
}

impl ServerSettings {
    /// `body_read_timeout_secs` as a duration.
    #[must_use]
    pub fn body_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.body_read_timeout_secs))
    }

    /// `header_read_timeout_secs` as a duration.
    #[must_use]
    pub fn header_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.header_read_timeout_secs))
    }
}

/// IP addresses from a list of strings, skipping empty ones.
fn ip_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<IpAddr>, D::Error> {
    let raw = Vec::<String>::deserialize(deserializer)?;
    raw.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpAddr>()
                .map_err(|_| serde::de::Error::custom(format!("not an IP address: {s:?}")))
        })
        .collect()
}

/// `[database]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`.
    pub url: String,
    /// Run migrations when `serve` starts.
    pub migrate_on_start: bool,
    /// Pool size; 0: the backend's default (4 for SQLite, 10 for PostgreSQL).
    pub max_connections: u32,
    /// Opening a connection longer than this counts as the database being unavailable.
    pub connect_timeout_secs: u32,
    /// Waiting for a pooled connection longer than this fails the request as unavailable.
    pub acquire_timeout_secs: u32,
    /// SQLite: how long a writer waits for the write lock.
    pub sqlite_busy_timeout_ms: u32,
    /// PostgreSQL: longest a statement may run before the server cancels it.
    pub postgres_statement_timeout_secs: u32,
}

impl DatabaseSettings {
    /// The storage adapter's connection options.
    #[must_use]
    pub fn store_options(&self) -> slugbase_infrastructure::sql::StoreOptions {
        use std::time::Duration;
        slugbase_infrastructure::sql::StoreOptions {
            max_connections: (self.max_connections > 0).then_some(self.max_connections),
            connect_timeout: Duration::from_secs(u64::from(self.connect_timeout_secs)),
            acquire_timeout: Duration::from_secs(u64::from(self.acquire_timeout_secs)),
            sqlite_busy_timeout: Duration::from_millis(u64::from(self.sqlite_busy_timeout_ms)),
            postgres_statement_timeout: Duration::from_secs(u64::from(
                self.postgres_statement_timeout_secs,
            )),
        }
    }
}

/// `[argon2]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Settings {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes computed at the same time at most; 0 = automatic (cores − 1, at least 1).
    pub max_concurrent: usize,
}

/// `[totp]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpSettings {
    /// Issuer shown in authenticator apps.
    pub issuer: String,
}

/// One attempt-limit policy.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Failures allowed per window.
    pub max_failures: u32,
    /// Window length, seconds.
    pub window_secs: u32,
    /// Consecutive failures before an administrator must reset the account; 0: never.
    pub lockout_after: u32,
}

impl LimitSettings {
    const fn policy(self) -> slugbase_domain::AttemptPolicy {
        slugbase_domain::AttemptPolicy {
            max_failures: self.max_failures,
            window_secs: self.window_secs,
            lockout_after: if self.lockout_after == 0 { None } else { Some(self.lockout_after) },
        }
    }
}

/// `[security.limits]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// Second-factor failures per account.
    pub second_factor_account: LimitSettings,
    /// Password failures per tried e-mail.
    pub password_account: LimitSettings,
    /// Failures per client address.
    pub address: LimitSettings,
}

/// `[security]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Administrators may not disable MFA.
    pub require_mfa_for_admins: bool,
    /// End the user's other sessions when MFA is disabled or reset.
    pub end_other_sessions_on_mfa_change: bool,
    /// Idle session lifetime.
    pub session_idle_secs: u32,
    /// Absolute session lifetime.
    pub session_absolute_secs: u32,
    /// Pending-MFA state lifetime.
    pub pending_mfa_secs: u32,
    /// Wrong codes a pending-MFA state survives.
    pub pending_mfa_max_attempts: u32,
    /// Session / token activity written back at most this often.
    pub touch_interval_secs: u32,
    /// Attempt limits.
    pub limits: LimitsSettings,
}

impl SecuritySettings {
    /// The use cases' settings.
    #[must_use]
    pub fn auth_settings(&self) -> slugbase_application::AuthSettings {
        slugbase_application::AuthSettings {
            mfa_policy: slugbase_domain::MfaPolicy {
                require_mfa_for_admins: self.require_mfa_for_admins,
            },
            end_other_sessions_on_mfa_change: self.end_other_sessions_on_mfa_change,
            session_idle_secs: self.session_idle_secs,
            session_absolute_secs: self.session_absolute_secs,
            pending_mfa_secs: self.pending_mfa_secs,
            pending_mfa_max_attempts: self.pending_mfa_max_attempts,
            limits: slugbase_application::AttemptLimits {
                second_factor_account: self.limits.second_factor_account.policy(),
                password_account: self.limits.password_account.policy(),
                address: self.limits.address.policy(),
            },
            touch_interval_secs: self.touch_interval_secs,
        }
    }
}

/// `[keys]`: base64 values or files, never printed.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// Id of the encryption key that encrypts new TOTP secrets.
    pub encryption_current: String,
    /// Encryption keys by id (base64).
    #[serde(default)]
    pub encryption: BTreeMap<String, String>,
    /// Encryption keys by id, as files holding the base64.
    #[serde(default)]
    pub encryption_files: BTreeMap<String, PathBuf>,
    /// Backup-code HMAC key (base64).
    #[serde(default)]
    pub backup_code: String,
    /// File holding the backup-code HMAC key.
    #[serde(default)]
    pub backup_code_file: String,
    /// CSRF signing key (base64).
    #[serde(default)]
    pub csrf: String,
    /// File holding the CSRF key.
    #[serde(default)]
    pub csrf_file: String,
    /// Development profile: generate missing keys into `dev_keys_file`.
    pub generate_dev_keys: bool,
    /// Where development keys are generated (mode 0600).
    pub dev_keys_file: PathBuf,
}

impl fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySettings")
            .field("encryption_current", &self.encryption_current)
            .field("encryption", &self.encryption.keys().collect::<Vec<_>>())
            .field("encryption_files", &self.encryption_files)
            .field("backup_code_file", &self.backup_code_file)
            .field("csrf_file", &self.csrf_file)
            .field("generate_dev_keys", &self.generate_dev_keys)
            .field("dev_keys_file", &self.dev_keys_file)
            .finish_non_exhaustive()
    }
}

/// `[log]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` (human-readable) or `json` (one JSON object per line).
    pub format: LogFormat,
    /// Filter used when `RUST_LOG` is unset.
    pub filter: String,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    Pretty,
    /// JSON lines.
    Json,
}

/// The keys, decoded.
#[derive(Clone)]
pub struct Keys {
    /// Current encryption key id.
    pub encryption_current: String,
    /// Every encryption key by id (the current one and older ones for rotation).
    pub encryption: Vec<(String, [u8; KEY_LEN])>,
    /// Backup-code HMAC key.
    pub backup_code: [u8; KEY_LEN],
    /// CSRF key.
    pub csrf: [u8; KEY_LEN],
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("encryption_current", &self.encryption_current)
            .field("encryption", &self.encryption.iter().map(|(id, _)| id).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Configuration as loaded: the settings, their decoded keys and what happened on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The profile.
    pub profile: Profile,
    /// The settings.
    pub settings: Settings,
    /// The keys.
    pub keys: Keys,
    /// Development keys were generated into this file during this load.
    pub generated_keys: Option<PathBuf>,
}

/// Decodes one base64 key (standard or URL-safe alphabet, padding optional).
///
/// # Errors
/// When the text is not base64 of exactly 32 bytes; the message names `key`.
pub fn decode_key(key: &str, text: &str) -> Result<[u8; KEY_LEN], ConfigError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or_else(|| invalid(key, "not valid base64"))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| invalid(key, format!("must decode to {KEY_LEN} bytes, not {}", bytes.len())))
}

/// Encodes a key for configuration files.
#[must_use]
pub fn encode_key(key: &[u8; KEY_LEN]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// A fresh random key.
#[must_use]
pub fn random_key() -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    rand::fill(&mut key);
    key
}

fn read_key_file(key: &str, path: &Path) -> Result<[u8; KEY_LEN], ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    decode_key(key, &text)
}

/// One key from a value or a file; `None` when neither is set.
fn single_key(name: &str, value: &str, file: &str) -> Result<Option<[u8; KEY_LEN]>, ConfigError> {
    let value_key = format!("keys.{name}");
    let file_key = format!("keys.{name}_file");
    match (value.trim().is_empty(), file.trim().is_empty()) {
        (true, true) => Ok(None),
        (false, false) => {
            Err(invalid(&value_key, format!("set either `{value_key}` or `{file_key}`, not both")))
        }
        (false, true) => decode_key(&value_key, value).map(Some),
        (true, false) => read_key_file(&file_key, Path::new(file.trim())).map(Some),
    }
}

impl KeySettings {
    /// Decodes the keys, or names the missing ones.
    ///
    /// # Errors
    /// [`ConfigError::MissingKeys`], or [`ConfigError::Invalid`] for an undecodable key.
    pub fn resolve(&self) -> Result<Keys, ConfigError> {
        let mut missing = Vec::new();
        let mut encryption = Vec::new();
        for (id, value) in &self.encryption {
            if self.encryption_files.contains_key(id) {
                return Err(invalid(
                    &format!("keys.encryption.{id}"),
                    format!(
                        "set either `keys.encryption.{id}` or `keys.encryption_files.{id}`, not both"
                    ),
                ));
            }
            if !value.trim().is_empty() {
                encryption.push((id.clone(), decode_key(&format!("keys.encryption.{id}"), value)?));
            }
        }
        for (id, path) in &self.encryption_files {
            encryption
                .push((id.clone(), read_key_file(&format!("keys.encryption_files.{id}"), path)?));
        }
        let current = self.encryption_current.trim();
        if current.is_empty() {
            return Err(invalid("keys.encryption_current", "must name an encryption key id"));
        }
        if !encryption.iter().any(|(id, _)| id == current) {
            missing.push(format!("keys.encryption.{current}"));
        }
        let backup_code = single_key("backup_code", &self.backup_code, &self.backup_code_file)?;
        if backup_code.is_none() {
            missing.push("keys.backup_code".to_owned());
        }
        let csrf = single_key("csrf", &self.csrf, &self.csrf_file)?;
        if csrf.is_none() {
            missing.push("keys.csrf".to_owned());
        }
        match (backup_code, csrf) {
            (Some(backup_code), Some(csrf)) if missing.is_empty() => {
                Ok(Keys { encryption_current: current.to_owned(), encryption, backup_code, csrf })
            }
            _ => Err(ConfigError::MissingKeys(missing)),
        }
    }
}

/// A fresh key file in the format `keys.dev_keys_file` uses (TOML), for encryption key id
/// `current`.
#[must_use]
pub fn generated_key_toml(current: &str) -> String {
    format!(
        "# Generated by slugbase. Secret: do not share or commit.\n\
         [keys]\n\
         backup_code = \"{}\"\n\
         csrf = \"{}\"\n\n\
         [keys.encryption]\n\
         {current} = \"{}\"\n",
        encode_key(&random_key()),
        encode_key(&random_key()),
        encode_key(&random_key()),
    )
}

/// Writes a new development key file, readable by its owner only. Never overwrites one.
fn write_dev_keys(path: &Path, current: &str) -> Result<(), ConfigError> {
    use std::io::Write as _;
    let error = |source| ConfigError::DevKeys { path: path.to_owned(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(error)?;
    file.write_all(generated_key_toml(current).as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)
}

fn layer(
    dir: &Path,
    name: &str,
    embedded: &'static str,
) -> File<config::FileSourceString, FileFormat> {
    let path = dir.join(format!("{name}.toml"));
    match std::fs::read_to_string(&path) {
        Ok(text) => File::from_str(&text, FileFormat::Toml),
        Err(_) => File::from_str(embedded, FileFormat::Toml),
    }
}

fn build(options: &LoadOptions, dev_keys: Option<&Path>) -> Result<Settings, ConfigError> {
    let mut builder = Config::builder()
        .add_source(layer(&options.config_dir, "default", EMBEDDED_DEFAULT))
        .add_source(layer(
            &options.config_dir,
            options.profile.as_str(),
            options.profile.embedded(),
        ));
    if let Some(path) = dev_keys {
        builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
    }
    if let Some(path) = &options.config_file {
        builder =
            builder.add_source(File::from(path.as_path()).format(FileFormat::Toml).required(true));
    }
    let mut env = Environment::with_prefix("SLUGBASE")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("server.trusted_proxies");
    if let Some(vars) = &options.env {
        env = env.source(Some(vars.clone().into_iter().collect()));
    }
    let settings: Settings = builder.add_source(env).build()?.try_deserialize()?;
    Ok(settings)
}

/// Loads, validates and (development profile) completes the configuration.
///
/// # Errors
/// [`ConfigError`], naming the key at fault.
pub fn load(options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let mut settings = build(options, None)?;
    let mut generated_keys = None;
    if options.profile == Profile::Development && settings.keys.generate_dev_keys {
        let path = settings.keys.dev_keys_file.clone();
        if settings.keys.resolve().is_err() || path.exists() {
            if !path.exists() {
                write_dev_keys(&path, settings.keys.encryption_current.trim())?;
                generated_keys = Some(path.clone());
            }
            settings = build(options, Some(&path))?;
        }
    }
    settings.validate(options.profile)?;
    let keys = settings.keys.resolve()?;
    Ok(Loaded { profile: options.profile, settings, keys, generated_keys })
}

impl Settings {
    /// Checks values the types cannot, and the production profile's rules.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] or [`ConfigError::Insecure`].
    pub fn validate(&self, profile: Profile) -> Result<(), ConfigError> {
        let url = self.server.public_base_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid("server.public_base_url", "must start with http:// or https://"));
        }
        if self.server.body_limit_bytes == 0 {
            return Err(invalid("server.body_limit_bytes", "must be greater than 0"));
        }
        if self.server.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be greater than 0"));
        }
        let db = self.database.url.trim();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        let a = &self.argon2;
        if a.memory_kib < 8 * a.parallelism.max(1) {
            return Err(invalid("argon2.memory_kib", "must be at least 8 × argon2.parallelism"));
        }
        if a.iterations == 0 {
            return Err(invalid("argon2.iterations", "must be at least 1"));
        }
        if a.parallelism == 0 {
            return Err(invalid("argon2.parallelism", "must be at least 1"));
        }
        let issuer = self.totp.issuer.trim();
        if issuer.is_empty() || issuer.contains(':') || issuer.chars().any(char::is_control) {
            return Err(invalid(
                "totp.issuer",
                "must be non-empty, without ':' or control characters",
            ));
        }
        let s = &self.security;
        for (key, value) in [
            ("security.session_idle_secs", s.session_idle_secs),
            ("security.session_absolute_secs", s.session_absolute_secs),
            ("security.pending_mfa_secs", s.pending_mfa_secs),
            ("security.pending_mfa_max_attempts", s.pending_mfa_max_attempts),
            (
                "security.limits.second_factor_account.max_failures",
                s.limits.second_factor_account.max_failures,
            ),
            (
                "security.limits.second_factor_account.window_secs",
                s.limits.second_factor_account.window_secs,
            ),
            (
                "security.limits.password_account.max_failures",
                s.limits.password_account.max_failures,
            ),
            ("security.limits.password_account.window_secs", s.limits.password_account.window_secs),
            ("security.limits.address.max_failures", s.limits.address.max_failures),
            ("security.limits.address.window_secs", s.limits.address.window_secs),
            ("server.body_read_timeout_secs", self.server.body_read_timeout_secs),
            ("server.header_read_timeout_secs", self.server.header_read_timeout_secs),
            ("maintenance.purge_interval_secs", self.maintenance.purge_interval_secs),
            ("database.connect_timeout_secs", self.database.connect_timeout_secs),
            ("database.acquire_timeout_secs", self.database.acquire_timeout_secs),
            (
                "database.postgres_statement_timeout_secs",
                self.database.postgres_statement_timeout_secs,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if profile == Profile::Production {
            self.validate_production()?;
        }
        Ok(())
    }

    fn validate_production(&self) -> Result<(), ConfigError> {
        let insecure = |key: &str, message: &str| ConfigError::Insecure {
            key: key.to_owned(),
            message: message.to_owned(),
        };
        if self.keys.generate_dev_keys {
            return Err(insecure(
                "keys.generate_dev_keys",
                "keys must be provisioned by the operator, not generated on the fly",
            ));
        }
        if !self.server.public_base_url.trim().starts_with("https://") {
            return Err(insecure(
                "server.public_base_url",
                "must be https:// (session cookies are only Secure over HTTPS)",
            ));
        }
        if self.argon2.memory_kib < PRODUCTION_MIN_MEMORY_KIB {
            return Err(insecure(
                "argon2.memory_kib",
                "below the OWASP minimum of 19456 KiB for Argon2id",
            ));
        }
        if self.argon2.iterations < 2 {
            return Err(insecure("argon2.iterations", "below the OWASP minimum of 2"));
        }
        // A missing key is reported by `resolve` with every missing name; an all-zero key
        // is a placeholder someone forgot to replace.
        if let Ok(keys) = self.keys.resolve() {
            let zero = [0u8; KEY_LEN];
            if keys.encryption.iter().any(|(_, k)| *k == zero) {
                return Err(insecure("keys.encryption", "an encryption key is all zeros"));
            }
            if keys.backup_code == zero {
                return Err(insecure("keys.backup_code", "the key is all zeros"));
            }
            if keys.csrf == zero {
                return Err(insecure("keys.csrf", "the key is all zeros"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        encode_key(&random_key())
    }

    fn options(profile: Profile, vars: &[(&str, String)]) -> LoadOptions {
        LoadOptions {
            profile,
            // An empty directory: the embedded files apply.
            config_dir: PathBuf::from("/nonexistent-slugbase-config"),
            config_file: None,
            env: Some(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()),
        }
    }

    fn all_keys() -> Vec<(&'static str, String)> {
        vec![
            ("SLUGBASE__KEYS__ENCRYPTION__K1", key()),
            ("SLUGBASE__KEYS__BACKUP_CODE", key()),
            ("SLUGBASE__KEYS__CSRF", key()),
        ]
    }

    fn message(error: &ConfigError) -> String {
        error.to_string()
    }

    #[test]
    fn the_embedded_defaults_load_in_the_test_profile_with_keys_from_the_environment() {
        let loaded = load(&options(Profile::Test, &all_keys())).unwrap();
        assert_eq!(loaded.settings.server.port, 0, "test.toml overrides default.toml");
        assert_eq!(loaded.settings.server.host.to_string(), "127.0.0.1");
        assert_eq!(loaded.settings.argon2.memory_kib, 64);
        assert_eq!(loaded.keys.encryption_current, "k1");
        assert_eq!(loaded.keys.encryption.len(), 1);
        assert!(loaded.generated_keys.is_none());
    }

    #[test]
    fn environment_variables_override_files_and_parse_numbers_bools_and_lists() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__PORT", "9123".into()));
        vars.push(("SLUGBASE__SECURITY__REQUIRE_MFA_FOR_ADMINS", "true".into()));
        vars.push(("SLUGBASE__SERVER__TRUSTED_PROXIES", "10.0.0.1,::1".into()));
        vars.push(("SLUGBASE__SECURITY__LIMITS__ADDRESS__MAX_FAILURES", "7".into()));
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        assert_eq!(loaded.settings.server.port, 9123);
        assert!(loaded.settings.security.require_mfa_for_admins);
        assert_eq!(loaded.settings.server.trusted_proxies.len(), 2);
        let auth = loaded.settings.security.auth_settings();
        assert_eq!(auth.limits.address.max_failures, 7);
        assert!(auth.mfa_policy.require_mfa_for_admins);
        assert_eq!(auth.limits.second_factor_account.lockout_after, Some(100));
        assert_eq!(auth.limits.password_account.lockout_after, None);
    }

    #[test]
    fn an_empty_proxy_list_in_the_environment_means_none_and_a_bad_address_is_named() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__TRUSTED_PROXIES", String::new()));
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        assert!(loaded.settings.server.trusted_proxies.is_empty());
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__TRUSTED_PROXIES", "10.0.0.1,proxy.local".into()));
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        let text = message(&error);
        assert!(text.contains("server.trusted_proxies") && text.contains("proxy.local"), "{text}");
    }

    #[test]
    fn database_pool_settings_reach_the_store_options() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__DATABASE__MAX_CONNECTIONS", "7".into()));
        vars.push(("SLUGBASE__DATABASE__SQLITE_BUSY_TIMEOUT_MS", "250".into()));
        let store = load(&options(Profile::Test, &vars)).unwrap().settings.database.store_options();
        assert_eq!(store.max_connections, Some(7));
        assert_eq!(store.sqlite_busy_timeout, std::time::Duration::from_millis(250));
        let defaults = load(&options(Profile::Test, &all_keys())).unwrap().settings.database;
        assert_eq!(defaults.store_options().max_connections, None, "0 means the backend default");
    }

    #[test]
    fn http_timeouts_and_the_connection_cap_have_defaults_env_overrides_and_refuse_0() {
        let defaults = load(&options(Profile::Test, &all_keys())).unwrap().settings.server;
        assert_eq!(defaults.body_read_timeout(), std::time::Duration::from_secs(10));
        assert_eq!(defaults.header_read_timeout(), std::time::Duration::from_secs(5));
        assert_eq!(defaults.max_connections, 10_000);
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__BODY_READ_TIMEOUT_SECS", "3".into()));
        vars.push(("SLUGBASE__SERVER__HEADER_READ_TIMEOUT_SECS", "2".into()));
        vars.push(("SLUGBASE__SERVER__MAX_CONNECTIONS", "64".into()));
        let server = load(&options(Profile::Test, &vars)).unwrap().settings.server;
        assert_eq!(server.body_read_timeout(), std::time::Duration::from_secs(3));
        assert_eq!(server.header_read_timeout(), std::time::Duration::from_secs(2));
        assert_eq!(server.max_connections, 64);
        for (key, var) in [
            ("server.body_read_timeout_secs", "SLUGBASE__SERVER__BODY_READ_TIMEOUT_SECS"),
            ("server.header_read_timeout_secs", "SLUGBASE__SERVER__HEADER_READ_TIMEOUT_SECS"),
            ("server.max_connections", "SLUGBASE__SERVER__MAX_CONNECTIONS"),
        ] {
            let mut vars = all_keys();
            vars.push((var, "0".into()));
            let error = load(&options(Profile::Test, &vars)).unwrap_err();
            assert!(message(&error).contains(key), "{error}");
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_naming_its_key() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__PORT", "eighty".into()));
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        assert!(message(&error).contains("server.port"), "{error}");
    }

    #[test]
    fn an_unknown_key_is_refused_naming_it() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__PROT", "80".into()));
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        assert!(message(&error).contains("prot"), "{error}");
    }

    #[test]
    fn an_invalid_value_is_refused_naming_its_key() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SECURITY__SESSION_IDLE_SECS", "0".into()));
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        assert!(message(&error).contains("security.session_idle_secs"), "{error}");

        let mut vars = all_keys();
        vars.push(("SLUGBASE__TOTP__ISSUER", "a:b".into()));
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        assert!(message(&error).contains("totp.issuer"), "{error}");
    }

    #[test]
    fn missing_keys_are_named_and_stop_the_test_profile() {
        let error = load(&options(Profile::Test, &[])).unwrap_err();
        let text = message(&error);
        for name in ["keys.encryption.k1", "keys.backup_code", "keys.csrf"] {
            assert!(text.contains(name), "{text}");
        }
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused_naming_it_and_never_echoing_it() {
        let mut vars = all_keys();
        vars[2] = ("SLUGBASE__KEYS__CSRF", "c2hvcnQta2V5".into());
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        let text = message(&error);
        assert!(text.contains("keys.csrf"), "{text}");
        assert!(!text.contains("c2hvcnQta2V5"), "{text}");
    }

    #[test]
    fn keys_are_read_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("csrf.key");
        let csrf = random_key();
        std::fs::write(&path, format!("{}\n", encode_key(&csrf))).unwrap();
        let mut vars = all_keys();
        vars.remove(2);
        vars.push(("SLUGBASE__KEYS__CSRF_FILE", path.display().to_string()));
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        assert_eq!(loaded.keys.csrf, csrf);
    }

    #[test]
    fn rotation_keeps_old_encryption_keys_and_uses_the_current_one() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__KEYS__ENCRYPTION__K2", key()));
        vars.push(("SLUGBASE__KEYS__ENCRYPTION_CURRENT", "k2".into()));
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        assert_eq!(loaded.keys.encryption_current, "k2");
        assert_eq!(loaded.keys.encryption.len(), 2);
    }

    #[test]
    fn production_refuses_to_start_without_keys_naming_them() {
        let vars =
            vec![("SLUGBASE__SERVER__PUBLIC_BASE_URL", "https://auth.example.com".to_owned())];
        let error = load(&options(Profile::Production, &vars)).unwrap_err();
        assert!(matches!(error, ConfigError::MissingKeys(_)), "{error}");
        assert!(message(&error).contains("keys.csrf"));
    }

    #[test]
    fn production_refuses_insecure_settings_naming_them() {
        let mut vars = all_keys();
        let error = load(&options(Profile::Production, &vars)).unwrap_err();
        assert!(message(&error).contains("server.public_base_url"), "{error}");

        vars.push(("SLUGBASE__SERVER__PUBLIC_BASE_URL", "https://auth.example.com".into()));
        vars.push(("SLUGBASE__ARGON2__MEMORY_KIB", "64".into()));
        let error = load(&options(Profile::Production, &vars)).unwrap_err();
        assert!(message(&error).contains("argon2.memory_kib"), "{error}");

        vars.pop();
        vars.push(("SLUGBASE__KEYS__GENERATE_DEV_KEYS", "true".into()));
        let error = load(&options(Profile::Production, &vars)).unwrap_err();
        assert!(message(&error).contains("keys.generate_dev_keys"), "{error}");

        vars.pop();
        vars[1] = ("SLUGBASE__KEYS__BACKUP_CODE", encode_key(&[0; KEY_LEN]));
        let error = load(&options(Profile::Production, &vars)).unwrap_err();
        assert!(message(&error).contains("keys.backup_code"), "{error}");
    }

    #[test]
    fn production_starts_with_keys_and_secure_settings() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__PUBLIC_BASE_URL", "https://auth.example.com".into()));
        let loaded = load(&options(Profile::Production, &vars)).unwrap();
        assert_eq!(loaded.settings.log.format, LogFormat::Json);
        assert!(loaded.settings.argon2.memory_kib >= PRODUCTION_MIN_MEMORY_KIB);
    }

    #[test]
    fn development_generates_keys_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("dev-keys.toml");
        let vars = vec![("SLUGBASE__KEYS__DEV_KEYS_FILE", path.display().to_string())];
        let first = load(&options(Profile::Development, &vars)).unwrap();
        assert_eq!(first.generated_keys.as_deref(), Some(path.as_path()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = load(&options(Profile::Development, &vars)).unwrap();
        assert!(second.generated_keys.is_none(), "the keys are generated once");
        assert_eq!(first.keys.csrf, second.keys.csrf);
        assert_eq!(first.keys.backup_code, second.keys.backup_code);
        assert_eq!(first.keys.encryption[0].1, second.keys.encryption[0].1);
        assert_ne!(first.keys.csrf, first.keys.backup_code);
    }

    #[test]
    fn settings_debug_output_never_shows_a_key() {
        let vars = all_keys();
        let secret = vars[1].1.clone();
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        let shown = format!("{loaded:?}");
        assert!(!shown.contains(&secret), "{shown}");
        assert!(!shown.contains(&vars[0].1), "{shown}");
    }

    #[test]
    fn a_config_file_layers_over_the_profile_and_under_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("extra.toml");
        std::fs::write(&file, "[server]\nport = 7001\nbody_limit_bytes = 1000\n").unwrap();
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__PORT", "7002".into()));
        let mut opts = options(Profile::Test, &vars);
        opts.config_file = Some(file);
        let loaded = load(&opts).unwrap();
        assert_eq!(loaded.settings.server.port, 7002);
        assert_eq!(loaded.settings.server.body_limit_bytes, 1000);
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let mut opts = options(Profile::Test, &all_keys());
        opts.config_file = Some(PathBuf::from("/nonexistent/slugbase.toml"));
        assert!(load(&opts).is_err());
    }

    #[test]
    fn the_files_on_disk_match_the_embedded_copies() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        assert_eq!(std::fs::read_to_string(dir.join("default.toml")).unwrap(), EMBEDDED_DEFAULT);
        assert_eq!(std::fs::read_to_string(dir.join("test.toml")).unwrap(), EMBEDDED_TEST);
    }
}
