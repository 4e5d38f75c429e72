//! `[mail]`: how e-mail notices leave the service (their own section, so the rest of the
//! configuration does not change with it).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use slugbase_application::use_cases::deliver_notices::DeliveryPolicy;
use slugbase_infrastructure::mail::{SmtpSettings, SmtpTls};

use super::{ConfigError, Profile, invalid};

/// Which transport delivers notices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// SMTP (`[mail.smtp]`).
    Smtp,
    /// One info line per notice (kind and recipient), nothing sent: development.
    Log,
    /// No delivery task: notices stay pending in the outbox until a transport is set.
    Off,
}

/// `[mail.smtp].tls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// `STARTTLS` required.
    Starttls,
    /// Implicit TLS (SMTPS).
    Tls,
    /// Plain text (outside production only, or to a loopback relay).
    None,
}

/// `[mail]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `smtp`, `log` or `off`.
    pub transport: MailTransport,
    /// `From:` (`Name <address>`); its domain also names the `Message-ID`s.
    pub from: String,
    /// How often each instance looks for due notices (milliseconds).
    pub poll_interval_ms: u32,
    /// Wait after the first failed attempt (seconds), doubled after each further one.
    pub retry_base_secs: u32,
    /// Longest wait between attempts (seconds).
    pub retry_max_secs: u32,
    /// SMTP.
    pub smtp: SmtpSection,
}

/// `[mail.smtp]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    /// Server.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub tls: TlsMode,
    /// AUTH user; empty: no AUTH.
    pub username: String,
    /// AUTH password (or `password_file`).
    pub password: String,
    /// A file holding the AUTH password.
    pub password_file: String,
    /// Connection and command timeout.
    pub timeout_secs: u32,
    /// Attempts per notice before it is marked failed.
    pub max_attempts: u32,
}

impl std::fmt::Debug for SmtpSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &if self.password.is_empty() { "" } else { "[REDACTED]" })
            .field("password_file", &self.password_file)
            .field("timeout_secs", &self.timeout_secs)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

impl MailSettings {
    /// Checks the section; the production profile also refuses plain SMTP to a host that is
    /// not a loopback address.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] or [`ConfigError::Insecure`], naming the key.
    pub fn validate(&self, profile: Profile) -> Result<(), ConfigError> {
        if self.from.trim().parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid("mail.from", "must be a mailbox such as \"Name <a@b.c>\""));
        }
        for (key, value) in [
            ("mail.poll_interval_ms", self.poll_interval_ms),
            ("mail.retry_base_secs", self.retry_base_secs),
            ("mail.retry_max_secs", self.retry_max_secs),
            ("mail.smtp.timeout_secs", self.smtp.timeout_secs),
            ("mail.smtp.max_attempts", self.smtp.max_attempts),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if self.transport == MailTransport::Smtp && self.smtp.host.trim().is_empty() {
            return Err(invalid("mail.smtp.host", "must be set when mail.transport = \"smtp\""));
        }
        let host = self.smtp.host.trim();
        let loopback =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if profile == Profile::Production
            && self.transport == MailTransport::Smtp
            && self.smtp.tls == TlsMode::None
            && !loopback
        {
            return Err(ConfigError::Insecure {
                key: "mail.smtp.tls".to_owned(),
                message: "\"none\" sends notices in clear text; allowed only to a loopback host"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// How delivery retries.
    #[must_use]
    pub fn delivery_policy(&self) -> DeliveryPolicy {
        DeliveryPolicy {
            max_attempts: self.smtp.max_attempts,
            retry_base_secs: self.retry_base_secs,
            retry_cap_secs: self.retry_max_secs.max(self.retry_base_secs),
            // Longer than one send can take (connect + commands, each under the timeout).
            lease_secs: self.smtp.timeout_secs.saturating_mul(6).max(60),
            batch: 20,
        }
    }

    /// The pause between looks for due notices.
    #[must_use]
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.poll_interval_ms))
    }

    /// The SMTP adapter's settings (reading `password_file` if set).
    ///
    /// # Errors
    /// When the password file cannot be read.
    pub fn smtp_settings(&self) -> Result<SmtpSettings, ConfigError> {
        let password = if self.smtp.password_file.trim().is_empty() {
            (!self.smtp.password.is_empty()).then(|| SecretString::from(self.smtp.password.clone()))
        } else {
            let path = PathBuf::from(self.smtp.password_file.trim());
            let text = std::fs::read_to_string(&path).map_err(|e| {
                invalid("mail.smtp.password_file", format!("cannot read {}: {e}", path.display()))
            })?;
            Some(SecretString::from(text.trim_end_matches(['\r', '\n']).to_owned()))
        };
        Ok(SmtpSettings {
            host: self.smtp.host.trim().to_owned(),
            port: self.smtp.port,
            tls: match self.smtp.tls {
                TlsMode::Starttls => SmtpTls::Starttls,
                TlsMode::Tls => SmtpTls::Implicit,
                TlsMode::None => SmtpTls::None,
            },
            username: self.smtp.username.trim().to_owned(),
            password,
            timeout: Duration::from_secs(u64::from(self.smtp.timeout_secs)),
            from: self.from.trim().to_owned(),
        })
    }
}
