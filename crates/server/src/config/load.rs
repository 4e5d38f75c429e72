//! Loading: the embedded copies of `config/*.toml`, the layers in order (default → profile →
//! development key file → `--config` → environment), and development key generation on the
//! way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};

use super::keys::{Keys, write_dev_keys};
use super::schema::Settings;
use super::{ConfigError, Profile};

/// Embedded copies of the configuration files.
const EMBEDDED_DEFAULT: &str = include_str!("../../../../config/default.toml");
const EMBEDDED_DEVELOPMENT: &str = include_str!("../../../../config/development.toml");
const EMBEDDED_PRODUCTION: &str = include_str!("../../../../config/production.toml");
const EMBEDDED_TEST: &str = include_str!("../../../../config/test.toml");

/// The embedded copy of `config/<profile>.toml`.
const fn embedded_profile_toml(profile: Profile) -> &'static str {
    match profile {
        Profile::Development => EMBEDDED_DEVELOPMENT,
        Profile::Production => EMBEDDED_PRODUCTION,
        Profile::Test => EMBEDDED_TEST,
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

/// `<dir>/<name>.toml` when it can be read, else its embedded copy.
fn file_or_embedded(
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

/// The settings from every layer (see the module doc), later layers winning; `dev_keys` is
/// the development key file, once it exists.
fn merge_layers(options: &LoadOptions, dev_keys: Option<&Path>) -> Result<Settings, ConfigError> {
    let mut builder = Config::builder()
        .add_source(file_or_embedded(&options.config_dir, "default", EMBEDDED_DEFAULT))
        .add_source(file_or_embedded(
            &options.config_dir,
            options.profile.as_str(),
            embedded_profile_toml(options.profile),
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
    load_adjusted(options, |_| {})
}

/// [`load`], with `adjust` applied to the settings of every layer before they are
/// validated and their keys decoded: how tests set settings by their types, so a misspelt
/// setting is a compile error rather than an environment variable nobody reads.
///
/// # Errors
/// [`ConfigError`], naming the key at fault (also one that `adjust` set).
pub fn load_adjusted(
    options: &LoadOptions,
    adjust: impl FnOnce(&mut Settings),
) -> Result<Loaded, ConfigError> {
    let mut settings = merge_layers(options, None)?;
    let mut generated_keys = None;
    if options.profile == Profile::Development && settings.keys.generate_dev_keys {
        let path = settings.keys.dev_keys_file.clone();
        if settings.keys.resolve().is_err() || path.exists() {
            if !path.exists() {
                write_dev_keys(&path, settings.keys.encryption_current.trim())?;
                generated_keys = Some(path.clone());
            }
            settings = merge_layers(options, Some(&path))?;
        }
    }
    adjust(&mut settings);
    settings.validate(options.profile)?;
    let keys = settings.keys.resolve()?;
    Ok(Loaded { profile: options.profile, settings, keys, generated_keys })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{all_keys, message, options};

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
        assert_eq!(auth.mfa_policy.scope, slugbase_domain::MfaScope::Admins);
        assert_eq!(auth.limits.second_factor_account.lockout_after, Some(100));
        assert_eq!(auth.limits.password_account.lockout_after, None);
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
