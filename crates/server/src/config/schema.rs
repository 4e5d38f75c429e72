//! The configuration schema: which settings exist, their types and how serde reads them,
//! and what the rest of the server gets from them (durations, store options, the use cases'
//! settings). The defaults are in `config/default.toml`; the `[keys]` section is
//! [`KeySettings`], beside the code that decodes it.

use std::net::IpAddr;

use serde::Deserialize;

use super::keys::KeySettings;
use super::mail::MailSettings;

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
    /// How long delivered and failed notices are kept.
    pub outbox: OutboxSettings,
    /// OpenID providers.
    pub oidc: super::oidc::OidcSettings,
    /// E-mail notices.
    pub mail: MailSettings,
    /// The Prometheus metrics listener.
    pub metrics: MetricsSettings,
    /// OpenTelemetry traces.
    pub traces: TracesSettings,
}

/// `[traces]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesSettings {
    /// Base URL of an OTLP/HTTP collector (`http://127.0.0.1:4318`; spans go to
    /// `/v1/traces` under it), or empty: no traces (the default).
    pub otlp_endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Share of new traces kept, 0.0 to 1.0; a caller's `traceparent` decides for its own.
    pub sample_ratio: f64,
}

impl TracesSettings {
    /// The collector's base URL, or `None` when traces are off.
    #[must_use]
    pub fn endpoint(&self) -> Option<&str> {
        Some(self.otlp_endpoint.trim().trim_end_matches('/')).filter(|url| !url.is_empty())
    }
}

/// `[metrics]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// `host:port` of the metrics listener (`GET /metrics`), or empty: no listener (the
    /// default). Never the public listener's port: metrics are not for clients.
    pub listen: String,
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

/// `[outbox]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// Sent notices are deleted this many days after they were sent; 0 keeps them forever.
    pub sent_retention_days: u32,
    /// Failed notices are deleted this many days after their last attempt; 0 keeps them
    /// forever. Never shorter than `sent_retention_days`.
    pub failed_retention_days: u32,
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
    /// A request head must arrive in full within this many seconds: a connection's first
    /// counted from the connection's start, every later one from its first byte (408 and
    /// the connection closed beyond).
    pub header_read_timeout_secs: u32,
    /// An idle kept-alive connection is closed after this many seconds without a request.
    pub keep_alive_timeout_secs: u32,
    /// Open client connections at most, for the whole server (split across worker threads).
    pub max_connections: usize,
    /// On SIGTERM, how long requests in flight may take to finish before the process
    /// closes their connections and exits.
    pub shutdown_timeout_secs: u32,
}

impl ServerSettings {
    /// `body_read_timeout_secs` as a duration.
    #[must_use]
    pub fn body_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.body_read_timeout_secs))
    }

    /// `shutdown_timeout_secs` as a duration.
    #[must_use]
    pub fn shutdown_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.shutdown_timeout_secs))
    }

    /// `header_read_timeout_secs` as a duration.
    #[must_use]
    pub fn header_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.header_read_timeout_secs))
    }

    /// `keep_alive_timeout_secs` as a duration.
    #[must_use]
    pub fn keep_alive_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.keep_alive_timeout_secs))
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
    /// `sqlite://…`, `postgres://…` or `mysql://…` (MySQL 8 / MariaDB 10.6+).
    pub url: String,
    /// Run migrations when `serve` starts.
    pub migrate_on_start: bool,
    /// Pool size; 0: the backend's default (4 for SQLite, 10 for PostgreSQL and MySQL).
    pub max_connections: u32,
    /// Opening a connection longer than this counts as the database being unavailable.
    pub connect_timeout_secs: u32,
    /// Waiting for a pooled connection longer than this fails the request as unavailable.
    pub acquire_timeout_secs: u32,
    /// SQLite: how long a writer waits for the write lock.
    pub sqlite_busy_timeout_ms: u32,
    /// PostgreSQL and MySQL/MariaDB: longest a statement may run (or, on MySQL, wait for a
    /// row lock) before the server cancels it.
    pub postgres_statement_timeout_secs: u32,
    /// SQLite: authenticate on read-only connections on the request's own thread (no hop to
    /// sqlx's worker thread). Ignored on PostgreSQL and MySQL.
    pub sqlite_sync_reads: bool,
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
            sqlite_sync_reads: self.sqlite_sync_reads,
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
    /// Passwordless sign-ins started per client address.
    pub sign_in_starts: LimitSettings,
}

/// `security.require_mfa`: who must have MFA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequireMfa {
    /// Nobody.
    Off,
    /// Administrators.
    Admins,
    /// Every user.
    All,
}

impl<'de> Deserialize<'de> for RequireMfa {
    /// `"off"`, `"admins"` or `"all"`; anything else is refused saying so (serde's own
    /// message would name the Rust enum instead).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        match raw.as_str() {
            "off" => Ok(Self::Off),
            "admins" => Ok(Self::Admins),
            "all" => Ok(Self::All),
            other => Err(serde::de::Error::custom(format!(
                "must be \"off\", \"admins\" or \"all\", not {other:?}"
            ))),
        }
    }
}

impl From<RequireMfa> for slugbase_domain::MfaScope {
    fn from(value: RequireMfa) -> Self {
        match value {
            RequireMfa::Off => Self::Off,
            RequireMfa::Admins => Self::Admins,
            RequireMfa::All => Self::All,
        }
    }
}

/// `[security]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Who must have MFA (`off`, `admins`, `all`); unset: `admins` when
    /// `require_mfa_for_admins` is on, else `off`.
    #[serde(default)]
    pub require_mfa: Option<RequireMfa>,
    /// Days a user the policy covers may go on without MFA after their first sign-in under
    /// it; afterwards they may only enrol.
    pub grace_days: u32,
    /// The older spelling of `require_mfa = "admins"` (administrators may not disable MFA);
    /// kept working, and refused beside `require_mfa = "off"`.
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
    /// An OIDC-only user's MFA disable needs a session whose provider authentication is
    /// younger than this (seconds); 0: off.
    pub oidc_reauth_max_age_secs: u32,
}

impl SecuritySettings {
    /// Who must have MFA: `require_mfa` when set, else what `require_mfa_for_admins` says
    /// (validation has refused the one contradiction, `"off"` beside `true`).
    #[must_use]
    pub fn mfa_scope(&self) -> slugbase_domain::MfaScope {
        match (self.require_mfa, self.require_mfa_for_admins) {
            (Some(scope), _) => scope.into(),
            (None, true) => slugbase_domain::MfaScope::Admins,
            (None, false) => slugbase_domain::MfaScope::Off,
        }
    }

    /// The use cases' settings.
    #[must_use]
    pub fn auth_settings(&self) -> slugbase_application::AuthSettings {
        slugbase_application::AuthSettings {
            mfa_policy: slugbase_domain::MfaPolicy {
                scope: self.mfa_scope(),
                grace_days: self.grace_days,
            },
            end_other_sessions_on_mfa_change: self.end_other_sessions_on_mfa_change,
            session_idle_secs: self.session_idle_secs,
            session_absolute_secs: self.session_absolute_secs,
            pending_mfa_secs: self.pending_mfa_secs,
            pending_mfa_max_attempts: self.pending_mfa_max_attempts,
            limits: slugbase_application::collaborators::attempt_limiter::AttemptLimits {
                second_factor_account: self.limits.second_factor_account.policy(),
                password_account: self.limits.password_account.policy(),
                address: self.limits.address.policy(),
                sign_in_starts: self.limits.sign_in_starts.policy(),
            },
            touch_interval_secs: self.touch_interval_secs,
            oidc_reauth_max_age_secs: self.oidc_reauth_max_age_secs,
        }
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

#[cfg(test)]
mod tests {
    use slugbase_domain::{MfaPolicy, MfaScope};

    use crate::config::test_support::{all_keys, message, options};
    use crate::config::{Profile, load};

    /// The MFA policy the settings make with `vars` added to the keys.
    fn mfa_policy(vars: &[(&'static str, &str)]) -> Result<MfaPolicy, String> {
        let mut all = all_keys();
        all.extend(vars.iter().map(|(k, v)| (*k, (*v).to_owned())));
        load(&options(Profile::Test, &all))
            .map(|loaded| loaded.settings.security.auth_settings().mfa_policy)
            .map_err(|error| message(&error))
    }

    const REQUIRE: &str = "SLUGBASE__SECURITY__REQUIRE_MFA";
    const GRACE: &str = "SLUGBASE__SECURITY__GRACE_DAYS";
    const FOR_ADMINS: &str = "SLUGBASE__SECURITY__REQUIRE_MFA_FOR_ADMINS";

    #[test]
    fn the_mfa_policy_is_off_by_default_with_fourteen_days_of_grace() {
        let loaded = load(&options(Profile::Test, &all_keys())).unwrap();
        assert_eq!(loaded.settings.security.require_mfa, None);
        assert_eq!(mfa_policy(&[]).unwrap(), MfaPolicy { scope: MfaScope::Off, grace_days: 14 });
    }

    #[test]
    fn require_mfa_and_grace_days_are_read_from_the_environment_and_from_a_file() {
        for (name, scope) in
            [("off", MfaScope::Off), ("admins", MfaScope::Admins), ("all", MfaScope::All)]
        {
            let policy = mfa_policy(&[(REQUIRE, name), (GRACE, "0")]).unwrap();
            assert_eq!(policy, MfaPolicy { scope, grace_days: 0 }, "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.toml");
        std::fs::write(&file, "[security]\nrequire_mfa = \"all\"\ngrace_days = 30\n").unwrap();
        let mut opts = options(Profile::Test, &all_keys());
        opts.config_file = Some(file);
        let policy = load(&opts).unwrap().settings.security.auth_settings().mfa_policy;
        assert_eq!(policy, MfaPolicy { scope: MfaScope::All, grace_days: 30 });
    }

    #[test]
    fn require_mfa_for_admins_alone_means_admins_and_beside_require_mfa_must_agree_with_it() {
        let admins = |vars: &[(&'static str, &str)]| mfa_policy(vars).unwrap().scope;
        assert_eq!(admins(&[(FOR_ADMINS, "true")]), MfaScope::Admins);
        assert_eq!(admins(&[(FOR_ADMINS, "true"), (REQUIRE, "admins")]), MfaScope::Admins);
        // "all" covers administrators too: at least what the older key asks.
        assert_eq!(admins(&[(FOR_ADMINS, "true"), (REQUIRE, "all")]), MfaScope::All);
        // `false` is the older key's default, not a wish: the new key decides.
        assert_eq!(admins(&[(FOR_ADMINS, "false"), (REQUIRE, "all")]), MfaScope::All);
        let error = mfa_policy(&[(FOR_ADMINS, "true"), (REQUIRE, "off")]).unwrap_err();
        assert!(error.contains("`security.require_mfa`"), "{error}");
        assert!(error.contains("require_mfa_for_admins"), "{error}");
    }

    #[test]
    fn an_unknown_scope_and_a_negative_or_overlong_grace_period_are_refused_naming_the_key() {
        let error = mfa_policy(&[(REQUIRE, "everyone")]).unwrap_err();
        assert!(error.contains("security.require_mfa") && error.contains("everyone"), "{error}");
        assert!(error.contains(r#"must be "off", "admins" or "all""#), "{error}");
        for days in ["-1", "two", "3651"] {
            let error = mfa_policy(&[(GRACE, days)]).unwrap_err();
            assert!(error.contains("security.grace_days"), "{days}: {error}");
        }
        assert_eq!(mfa_policy(&[(GRACE, "3650")]).unwrap().grace_days, 3650);
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
        assert!(defaults.store_options().sqlite_sync_reads, "on unless turned off");
        let mut vars = all_keys();
        vars.push(("SLUGBASE__DATABASE__SQLITE_SYNC_READS", "false".into()));
        let store = load(&options(Profile::Test, &vars)).unwrap().settings.database.store_options();
        assert!(!store.sqlite_sync_reads);
    }

    #[test]
    fn http_timeouts_and_the_connection_cap_have_defaults_env_overrides_and_refuse_0() {
        let defaults = load(&options(Profile::Test, &all_keys())).unwrap().settings.server;
        assert_eq!(defaults.body_read_timeout(), std::time::Duration::from_secs(10));
        assert_eq!(defaults.header_read_timeout(), std::time::Duration::from_secs(5));
        assert_eq!(defaults.keep_alive_timeout(), std::time::Duration::from_secs(5));
        assert_eq!(defaults.max_connections, 10_000);
        assert_eq!(defaults.shutdown_timeout(), std::time::Duration::from_secs(30));
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__BODY_READ_TIMEOUT_SECS", "3".into()));
        vars.push(("SLUGBASE__SERVER__HEADER_READ_TIMEOUT_SECS", "2".into()));
        vars.push(("SLUGBASE__SERVER__KEEP_ALIVE_TIMEOUT_SECS", "7".into()));
        vars.push(("SLUGBASE__SERVER__MAX_CONNECTIONS", "64".into()));
        vars.push(("SLUGBASE__SERVER__SHUTDOWN_TIMEOUT_SECS", "9".into()));
        let server = load(&options(Profile::Test, &vars)).unwrap().settings.server;
        assert_eq!(server.body_read_timeout(), std::time::Duration::from_secs(3));
        assert_eq!(server.header_read_timeout(), std::time::Duration::from_secs(2));
        assert_eq!(server.keep_alive_timeout(), std::time::Duration::from_secs(7));
        assert_eq!(server.max_connections, 64);
        assert_eq!(server.shutdown_timeout(), std::time::Duration::from_secs(9));
        for (key, var) in [
            ("server.body_read_timeout_secs", "SLUGBASE__SERVER__BODY_READ_TIMEOUT_SECS"),
            ("server.header_read_timeout_secs", "SLUGBASE__SERVER__HEADER_READ_TIMEOUT_SECS"),
            ("server.keep_alive_timeout_secs", "SLUGBASE__SERVER__KEEP_ALIVE_TIMEOUT_SECS"),
            ("server.max_connections", "SLUGBASE__SERVER__MAX_CONNECTIONS"),
            ("server.shutdown_timeout_secs", "SLUGBASE__SERVER__SHUTDOWN_TIMEOUT_SECS"),
        ] {
            let mut vars = all_keys();
            vars.push((var, "0".into()));
            let error = load(&options(Profile::Test, &vars)).unwrap_err();
            assert!(message(&error).contains(key), "{error}");
        }
    }
}
