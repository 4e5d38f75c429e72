//! Validation: what the types cannot check (ranges, URL schemes, "must be greater than 0"),
//! and the production profile's refusals, each naming the key at fault.

use super::keys::KEY_LEN;
use super::schema::Settings;
use super::{ConfigError, Profile, invalid};

/// OWASP's minimum Argon2id memory (19 MiB with 2 iterations); production refuses less.
const PRODUCTION_MIN_MEMORY_KIB: u32 = 19 * 1024;

/// The longest MFA grace period accepted: ten years. Longer is no policy at all, and a
/// number that large is more likely a typo (or seconds) than a decision.
pub const MAX_GRACE_DAYS: u32 = 3650;

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
        // `return_to` targets are resolved against this origin: it has to be one.
        if slugbase_domain::ReturnTo::resolve("/", url).is_err() {
            return Err(invalid("server.public_base_url", "must be an absolute URL with a host"));
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
            || db.starts_with("postgresql://")
            || db.starts_with("mysql://"))
        {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres://, postgresql:// or mysql://",
            ));
        }
        self.validate_traces()?;
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
            ("server.keep_alive_timeout_secs", self.server.keep_alive_timeout_secs),
            ("server.shutdown_timeout_secs", self.server.shutdown_timeout_secs),
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
        if s.require_mfa_for_admins && s.require_mfa == Some(super::RequireMfa::Off) {
            return Err(invalid(
                "security.require_mfa",
                "\"off\" contradicts security.require_mfa_for_admins = true (the older \
                 spelling of require_mfa = \"admins\"): remove require_mfa_for_admins, or set \
                 require_mfa to \"admins\" or \"all\"",
            ));
        }
        if s.grace_days > MAX_GRACE_DAYS {
            return Err(invalid(
                "security.grace_days",
                format!("must be at most {MAX_GRACE_DAYS} (days; 0: no grace period)"),
            ));
        }
        let outbox = &self.outbox;
        let kept_forever = |days: u32| days == 0;
        if !kept_forever(outbox.failed_retention_days)
            && (kept_forever(outbox.sent_retention_days)
                || outbox.failed_retention_days < outbox.sent_retention_days)
        {
            return Err(invalid(
                "outbox.failed_retention_days",
                "must be 0 (keep forever) or at least outbox.sent_retention_days (failed notices \
                 are kept at least as long as sent ones, so administrators can see them)",
            ));
        }
        self.oidc.validate(profile)?;
        self.mail.validate(profile)?;
        if profile == Profile::Production {
            self.validate_production()?;
        }
        Ok(())
    }

    /// `[traces]`: an `http://` collector URL with a host and a ratio between 0 and 1, from
    /// a binary that can export them.
    fn validate_traces(&self) -> Result<(), ConfigError> {
        let traces = &self.traces;
        if !(0.0..=1.0).contains(&traces.sample_ratio) {
            return Err(invalid("traces.sample_ratio", "must be between 0.0 and 1.0"));
        }
        if traces.service_name.trim().is_empty() {
            return Err(invalid("traces.service_name", "must not be empty"));
        }
        let Some(endpoint) = traces.endpoint() else {
            return Ok(());
        };
        if !cfg!(feature = "otlp") {
            return Err(invalid(
                "traces.otlp_endpoint",
                "this binary was built without trace export: build it with `--features otlp` \
                 (the Docker image has it), or leave traces.otlp_endpoint empty",
            ));
        }
        let url = url::Url::parse(endpoint).ok();
        let plain_http = url.as_ref().is_some_and(|url| {
            url.scheme() == "http"
                && url.host().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.query().is_none()
        });
        if !plain_http {
            return Err(invalid(
                "traces.otlp_endpoint",
                "must be an http:// URL with a host and no credentials or query (a local \
                 collector; set its headers with OTEL_EXPORTER_OTLP_HEADERS)",
            ));
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
    use crate::config::test_support::{all_keys, message, options};
    use crate::config::{LogFormat, encode_key, load};

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
    fn a_trace_collector_is_a_plain_http_url_without_credentials_and_the_ratio_a_share() {
        let with = |vars_: &[(&'static str, &str)]| {
            let mut vars = all_keys();
            vars.extend(vars_.iter().map(|(k, v)| (*k, (*v).to_owned())));
            load(&options(Profile::Test, &vars)).map(|_| ()).map_err(|error| message(&error))
        };
        const ENDPOINT: &str = "SLUGBASE__TRACES__OTLP_ENDPOINT";
        assert_eq!(with(&[]), Ok(()), "off by default");
        assert_eq!(with(&[(ENDPOINT, "http://127.0.0.1:4318/")]), Ok(()));
        for refused in [
            "https://collector.example:4318",
            "http://user:secret@127.0.0.1:4318",
            "http://127.0.0.1:4318?token=secret",
            "127.0.0.1:4318",
            "http://",
        ] {
            let error = with(&[(ENDPOINT, refused)]).unwrap_err();
            assert!(error.contains("traces.otlp_endpoint"), "{refused}: {error}");
            assert!(!error.contains("secret"), "the value is not repeated: {error}");
        }
        for ratio in ["-0.1", "1.5", "NaN"] {
            let error = with(&[("SLUGBASE__TRACES__SAMPLE_RATIO", ratio)]).unwrap_err();
            assert!(error.contains("traces.sample_ratio"), "{ratio}: {error}");
        }
        let error = with(&[("SLUGBASE__TRACES__SERVICE_NAME", " ")]).unwrap_err();
        assert!(error.contains("traces.service_name"), "{error}");
    }

    #[test]
    fn failed_notices_are_kept_at_least_as_long_as_sent_ones_or_forever() {
        let with = |sent: &str, failed: &str| {
            let mut vars = all_keys();
            vars.push(("SLUGBASE__OUTBOX__SENT_RETENTION_DAYS", sent.into()));
            vars.push(("SLUGBASE__OUTBOX__FAILED_RETENTION_DAYS", failed.into()));
            load(&options(Profile::Test, &vars))
        };
        let defaults = load(&options(Profile::Test, &all_keys())).unwrap().settings.outbox;
        assert_eq!((defaults.sent_retention_days, defaults.failed_retention_days), (30, 90));
        for (sent, failed) in [("30", "90"), ("30", "30"), ("0", "0"), ("30", "0")] {
            assert!(with(sent, failed).is_ok(), "sent {sent}, failed {failed}");
        }
        for (sent, failed) in [("30", "7"), ("0", "90")] {
            let error = with(sent, failed).unwrap_err();
            assert!(message(&error).contains("outbox.failed_retention_days"), "{error}");
        }
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
    fn production_refuses_plain_smtp_except_to_a_loopback_host() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__PUBLIC_BASE_URL", "https://auth.example.com".into()));
        vars.push(("SLUGBASE__MAIL__TRANSPORT", "smtp".into()));
        vars.push(("SLUGBASE__MAIL__SMTP__TLS", "none".into()));
        vars.push(("SLUGBASE__MAIL__SMTP__HOST", "mail.example.com".into()));
        let error = load(&options(Profile::Production, &vars)).unwrap_err();
        assert!(message(&error).contains("mail.smtp.tls"), "{error}");
        // Outside production, or to a loopback relay, it is allowed.
        assert!(load(&options(Profile::Test, &vars)).is_ok());
        vars.pop();
        vars.push(("SLUGBASE__MAIL__SMTP__HOST", "127.0.0.1".into()));
        let loaded = load(&options(Profile::Production, &vars)).unwrap();
        assert_eq!(loaded.settings.mail.smtp.port, 587);
        // STARTTLS to anywhere is fine; a bad From: or a zero limit is refused by name.
        vars.push(("SLUGBASE__MAIL__SMTP__TLS", "starttls".into()));
        vars.push(("SLUGBASE__MAIL__SMTP__HOST", "mail.example.com".into()));
        assert!(load(&options(Profile::Production, &vars)).is_ok());
        vars.push(("SLUGBASE__MAIL__FROM", "not a mailbox".into()));
        let error = load(&options(Profile::Production, &vars)).unwrap_err();
        assert!(message(&error).contains("mail.from"), "{error}");
        vars.pop();
        vars.push(("SLUGBASE__MAIL__SMTP__MAX_ATTEMPTS", "0".into()));
        let error = load(&options(Profile::Production, &vars)).unwrap_err();
        assert!(message(&error).contains("mail.smtp.max_attempts"), "{error}");
    }

    #[test]
    fn production_starts_with_keys_and_secure_settings() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__SERVER__PUBLIC_BASE_URL", "https://auth.example.com".into()));
        let loaded = load(&options(Profile::Production, &vars)).unwrap();
        assert_eq!(loaded.settings.log.format, LogFormat::Json);
        assert!(loaded.settings.argon2.memory_kib >= PRODUCTION_MIN_MEMORY_KIB);
    }
}
