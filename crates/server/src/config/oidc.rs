//! `[oidc]`: the OpenID providers users sign in with, one table per provider under
//! `[oidc.providers.<key>]`. Environment overrides follow the usual scheme
//! (`SLUGBASE__OIDC__PROVIDERS__TESTIDP__ISSUER_URL=…`; the key is lower-cased), and the
//! two lists (`scopes`, `trust_idp_mfa_amr`) also read a comma-separated string.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Profile, invalid};

/// Path segments under `/api/auth/` that are routes of their own, never provider keys.
const RESERVED_KEYS: [&str; 8] =
    ["login", "logout", "me", "mfa", "providers", "setup", "password", "sessions"];

/// `[oidc]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The providers by key (`[a-z0-9_-]+`, used in the URLs).
    #[serde(default)]
    pub providers: BTreeMap<String, OidcProviderSettings>,
    /// Longest wait between two discovery attempts of a provider that is down (seconds).
    pub discovery_retry_max_secs: u32,
    /// Time limit of each request to a provider (discovery, token endpoint; seconds).
    pub request_timeout_secs: u32,
    /// Shortest time between two fetches of a provider's JWKS after discovery, on ID tokens
    /// signed with a key it did not have (key rotation); seconds.
    pub jwks_refresh_min_interval_secs: u32,
}

/// The role of users an OIDC login creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultRole {
    /// A regular user.
    User,
    /// An administrator.
    Admin,
}

/// `[oidc.providers.<key>]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderSettings {
    /// The issuer (discovery reads `{issuer_url}/.well-known/openid-configuration`).
    pub issuer_url: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret (or `client_secret_file`).
    #[serde(default)]
    pub client_secret: String,
    /// A file holding the client secret (Docker / systemd secrets).
    #[serde(default)]
    pub client_secret_file: String,
    /// Shown on the login page; default: the key.
    #[serde(default)]
    pub display_name: String,
    /// Scopes requested; `openid` is always sent.
    #[serde(default = "default_scopes", deserialize_with = "string_list")]
    pub scopes: Vec<String>,
    /// Create an OIDC-only user on a first login.
    #[serde(default = "yes")]
    pub auto_create_users: bool,
    /// Role of the users created.
    #[serde(default = "default_role")]
    pub default_role: DefaultRole,
    /// Link a first login to the account with the same e-mail when the provider says it is
    /// verified.
    #[serde(default = "yes")]
    pub link_verified_email: bool,
    /// `amr` values that count as MFA done at the provider.
    #[serde(default, deserialize_with = "string_list")]
    pub trust_idp_mfa_amr: Vec<String>,
}

impl fmt::Debug for OidcProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProviderSettings")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("client_secret_file", &self.client_secret_file)
            .field("display_name", &self.display_name)
            .field("scopes", &self.scopes)
            .field("auto_create_users", &self.auto_create_users)
            .field("default_role", &self.default_role)
            .field("link_verified_email", &self.link_verified_email)
            .field("trust_idp_mfa_amr", &self.trust_idp_mfa_amr)
            .finish()
    }
}

impl OidcProviderSettings {
    /// A provider at `issuer_url` where we are `client_id`, every other setting as a
    /// configuration file that names only these two gets it.
    #[must_use]
    pub fn new(issuer_url: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            issuer_url: issuer_url.into(),
            client_id: client_id.into(),
            client_secret: String::new(),
            client_secret_file: String::new(),
            display_name: String::new(),
            scopes: default_scopes(),
            auto_create_users: yes(),
            default_role: default_role(),
            link_verified_email: yes(),
            trust_idp_mfa_amr: Vec::new(),
        }
    }
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(str::to_owned).to_vec()
}

const fn yes() -> bool {
    true
}

const fn default_role() -> DefaultRole {
    DefaultRole::User
}

/// A list of strings, from a list or from one comma-separated string (the environment).
fn string_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        One(String),
    }
    let items = match Raw::deserialize(deserializer)? {
        Raw::List(list) => list,
        Raw::One(text) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(items.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}

impl OidcSettings {
    /// Checks every provider; production requires `https://` issuers.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] or [`ConfigError::Insecure`] naming the key at fault.
    pub fn validate(&self, profile: Profile) -> Result<(), ConfigError> {
        if self.discovery_retry_max_secs == 0 {
            return Err(invalid("oidc.discovery_retry_max_secs", "must be greater than 0"));
        }
        if self.request_timeout_secs == 0 {
            return Err(invalid("oidc.request_timeout_secs", "must be greater than 0"));
        }
        if self.jwks_refresh_min_interval_secs == 0 {
            return Err(invalid(
                "oidc.jwks_refresh_min_interval_secs",
                "must be greater than 0 (ID tokens with made-up key ids would make us fetch the provider's JWKS each time)",
            ));
        }
        for (key, p) in &self.providers {
            let name = |field: &str| format!("oidc.providers.{key}.{field}");
            if key.is_empty()
                || !key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return Err(invalid(
                    &format!("oidc.providers.{key}"),
                    "key must match [a-z0-9_-]+",
                ));
            }
            if RESERVED_KEYS.contains(&key.as_str()) {
                return Err(invalid(
                    &format!("oidc.providers.{key}"),
                    "key is a route of its own under /api/auth/; choose another",
                ));
            }
            let issuer = p.issuer_url.trim();
            if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                return Err(invalid(
                    &name("issuer_url"),
                    "must start with https:// (or http:// outside production)",
                ));
            }
            if profile == Profile::Production && !issuer.starts_with("https://") {
                return Err(ConfigError::Insecure {
                    key: name("issuer_url"),
                    message: "must be https:// in production".to_owned(),
                });
            }
            if p.client_id.trim().is_empty() {
                return Err(invalid(&name("client_id"), "must not be empty"));
            }
            let inline = !p.client_secret.trim().is_empty();
            let file = !p.client_secret_file.trim().is_empty();
            if inline == file {
                return Err(invalid(
                    &name("client_secret"),
                    "give exactly one of client_secret and client_secret_file",
                ));
            }
            if p.display_name.chars().any(char::is_control) {
                return Err(invalid(&name("display_name"), "must not contain control characters"));
            }
        }
        Ok(())
    }
}

impl OidcProviderSettings {
    /// The client secret, read from `client_secret_file` when that is given.
    ///
    /// # Errors
    /// When the file cannot be read or is empty.
    pub fn resolve_client_secret(&self, key: &str) -> Result<String, ConfigError> {
        if self.client_secret_file.trim().is_empty() {
            return Ok(self.client_secret.trim().to_owned());
        }
        let path = PathBuf::from(self.client_secret_file.trim());
        let name = format!("oidc.providers.{key}.client_secret_file");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| invalid(&name, format!("cannot read {}: {e}", path.display())))?;
        let secret = text.trim().to_owned();
        if secret.is_empty() {
            return Err(invalid(&name, "the file is empty"));
        }
        Ok(secret)
    }

    /// The name shown for provider `key`.
    #[must_use]
    pub fn display_name(&self, key: &str) -> String {
        let name = self.display_name.trim();
        if name.is_empty() { key.to_owned() } else { name.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{all_keys, message, options};
    use crate::config::{Profile, load};

    fn provider_env() -> Vec<(&'static str, String)> {
        let mut vars = all_keys();
        vars.push((
            "SLUGBASE__OIDC__PROVIDERS__TESTIDP__ISSUER_URL",
            "http://127.0.0.1:4455".into(),
        ));
        vars.push(("SLUGBASE__OIDC__PROVIDERS__TESTIDP__CLIENT_ID", "slugbase".into()));
        vars.push(("SLUGBASE__OIDC__PROVIDERS__TESTIDP__CLIENT_SECRET", "s3cret".into()));
        vars
    }

    #[test]
    fn a_provider_comes_from_the_environment_with_lists_split_on_commas() {
        let mut vars = provider_env();
        vars.push(("SLUGBASE__OIDC__PROVIDERS__TESTIDP__TRUST_IDP_MFA_AMR", "mfa, otp".into()));
        vars.push(("SLUGBASE__OIDC__PROVIDERS__TESTIDP__SCOPES", "openid,email".into()));
        vars.push(("SLUGBASE__OIDC__PROVIDERS__TESTIDP__DEFAULT_ROLE", "admin".into()));
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        let p = &loaded.settings.oidc.providers["testidp"];
        assert_eq!(p.issuer_url, "http://127.0.0.1:4455");
        assert_eq!(p.trust_idp_mfa_amr, ["mfa", "otp"]);
        assert_eq!(p.scopes, ["openid", "email"]);
        assert_eq!(p.default_role, super::DefaultRole::Admin);
        assert!(p.auto_create_users && p.link_verified_email, "defaults");
        assert_eq!(p.display_name("testidp"), "testidp");
        assert!(!format!("{p:?}").contains("s3cret"), "Debug redacts the secret");
    }

    #[test]
    fn a_provider_built_in_code_gets_the_defaults_of_one_read_from_the_environment() {
        let loaded = load(&options(Profile::Test, &provider_env())).unwrap();
        let read = &loaded.settings.oidc.providers["testidp"];
        let mut built = super::OidcProviderSettings::new("http://127.0.0.1:4455", "slugbase");
        built.client_secret = "s3cret".to_owned();
        assert_eq!(format!("{built:?}"), format!("{read:?}"));
        assert_eq!(built.client_secret, read.client_secret);
    }

    #[test]
    fn a_provider_set_in_code_is_validated_like_one_from_a_file() {
        let error = super::super::load_adjusted(&options(Profile::Test, &all_keys()), |c| {
            let provider = super::OidcProviderSettings::new("http://127.0.0.1:4455", "");
            c.oidc.providers.insert("testidp".to_owned(), provider);
        })
        .unwrap_err();
        assert!(message(&error).contains("oidc.providers.testidp"), "{error}");
    }

    #[test]
    fn the_jwks_refresh_interval_has_a_default_and_refuses_zero() {
        let loaded = load(&options(Profile::Test, &provider_env())).unwrap();
        assert_eq!(loaded.settings.oidc.jwks_refresh_min_interval_secs, 30);
        let mut vars = provider_env();
        vars.push(("SLUGBASE__OIDC__JWKS_REFRESH_MIN_INTERVAL_SECS", "0".into()));
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        assert!(message(&error).contains("oidc.jwks_refresh_min_interval_secs"), "{error}");
    }

    #[test]
    fn the_client_secret_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-a-file\n").unwrap();
        let mut vars: Vec<_> =
            provider_env().into_iter().filter(|(k, _)| !k.ends_with("CLIENT_SECRET")).collect();
        vars.push((
            "SLUGBASE__OIDC__PROVIDERS__TESTIDP__CLIENT_SECRET_FILE",
            path.display().to_string(),
        ));
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        let p = &loaded.settings.oidc.providers["testidp"];
        assert_eq!(p.resolve_client_secret("testidp").unwrap(), "from-a-file");
        std::fs::write(&path, "").unwrap();
        let error = p.resolve_client_secret("testidp").unwrap_err();
        assert!(error.to_string().contains("client_secret_file"), "{error}");
    }

    #[test]
    fn production_refuses_an_http_issuer_and_bad_keys_are_named() {
        let error = load(&options(Profile::Production, &provider_env())).unwrap_err();
        assert!(
            message(&error).contains("public_base_url") || message(&error).contains("issuer_url"),
            "{error}"
        );
        let mut vars = provider_env();
        vars.push(("SLUGBASE__OIDC__PROVIDERS__TESTIDP__CLIENT_SECRET_FILE", "/x".into()));
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        assert!(message(&error).contains("oidc.providers.testidp.client_secret"), "{error}");
        let mut vars = all_keys();
        vars.push(("SLUGBASE__OIDC__PROVIDERS__LOGIN__ISSUER_URL", "http://127.0.0.1:1".into()));
        vars.push(("SLUGBASE__OIDC__PROVIDERS__LOGIN__CLIENT_ID", "x".into()));
        vars.push(("SLUGBASE__OIDC__PROVIDERS__LOGIN__CLIENT_SECRET", "y".into()));
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        assert!(message(&error).contains("oidc.providers.login"), "{error}");
    }
}
