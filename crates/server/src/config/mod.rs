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
//!
//! The jobs live apart: `schema` says which settings exist, `load` layers the sources,
//! `keys` decodes and generates keys, `validate` checks what the types cannot. Everything
//! public is re-exported here, so callers write `config::load`, `config::Settings`, ….

mod keys;
mod load;
mod mail;
mod oidc;
mod schema;
mod validate;

use std::fmt;
use std::path::PathBuf;

pub use keys::{
    KEY_LEN, KeySettings, Keys, decode_key, encode_key, generated_key_toml, random_key,
};
pub use load::{LoadOptions, Loaded, load, load_adjusted};
pub use mail::{MailSettings, MailTransport, SmtpSection, TlsMode};
pub use oidc::{DefaultRole, OidcProviderSettings, OidcSettings};
pub use schema::{
    Argon2Settings, AuditSettings, DatabaseSettings, LimitSettings, LimitsSettings, LogFormat,
    LogSettings, MaintenanceSettings, OutboxSettings, RequireMfa, SecuritySettings, ServerSettings,
    Settings, TotpSettings, TracesSettings,
};

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
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or value could not be read or parsed (the message names the key).
    #[error("invalid configuration: {0}")]
    Parse(#[from] ::config::ConfigError),
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

/// A [`ConfigError::Invalid`] for `key`.
fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), message: message.into() }
}

/// What the unit tests of every part share: options over the embedded files and a set of
/// fresh keys in the environment.
#[cfg(test)]
mod test_support {
    use super::{ConfigError, LoadOptions, PathBuf, Profile, encode_key, random_key};

    pub(super) fn key() -> String {
        encode_key(&random_key())
    }

    pub(super) fn options(profile: Profile, vars: &[(&str, String)]) -> LoadOptions {
        LoadOptions {
            profile,
            // An empty directory: the embedded files apply.
            config_dir: PathBuf::from("/nonexistent-slugbase-config"),
            config_file: None,
            env: Some(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()),
        }
    }

    pub(super) fn all_keys() -> Vec<(&'static str, String)> {
        vec![
            ("SLUGBASE__KEYS__ENCRYPTION__K1", key()),
            ("SLUGBASE__KEYS__BACKUP_CODE", key()),
            ("SLUGBASE__KEYS__CSRF", key()),
        ]
    }

    pub(super) fn message(error: &ConfigError) -> String {
        error.to_string()
    }
}
