//! The [`Mailer`] adapters: SMTP through lettre (STARTTLS, implicit TLS, or plain on a
//! trusted network; optional AUTH; a timeout), and a development transport that writes one
//! log line per notice (kind and recipient, never the body).

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};
use slugbase_application::ports::{MailError, Mailer, OutboxMessage};

use super::templates::render;

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with `STARTTLS` (required, not opportunistic).
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// No TLS at all (a relay on the same host or a test server only).
    None,
}

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub tls: SmtpTls,
    /// AUTH user name; empty: no AUTH.
    pub username: String,
    /// AUTH password.
    pub password: Option<SecretString>,
    /// Connect / command timeout.
    pub timeout: Duration,
    /// `From:` (`Name <address>`).
    pub from: String,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("timeout", &self.timeout)
            .field("from", &self.from)
            .finish()
    }
}

/// The domain part of an address, for `Message-ID`s.
fn domain_of(from: &Mailbox) -> String {
    from.email.domain().to_owned()
}

/// Builds the message for a notice: `From`, `To`, `Subject`, a `Message-ID` made of the
/// notice's id alone (the same on every retry), and plain-text and HTML alternatives.
///
/// # Errors
/// When the recipient is not a valid address (a permanent failure).
pub fn build_message(from: &Mailbox, message: &OutboxMessage) -> Result<Message, MailError> {
    let notice = &message.notice;
    let to: Mailbox = notice.recipient.parse().map_err(|e| MailError {
        permanent: true,
        message: format!("invalid recipient address: {e}"),
    })?;
    let rendered = render(notice);
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(format!("<{}@{}>", notice.id, domain_of(from))))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder().header(ContentType::TEXT_PLAIN).body(rendered.text),
                )
                .singlepart(
                    SinglePart::builder().header(ContentType::TEXT_HTML).body(rendered.html),
                ),
        )
        .map_err(|e| MailError {
            permanent: true,
            message: format!("cannot build the message: {e}"),
        })
}

/// SMTP delivery through lettre.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").field("from", &self.from).finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `settings`. Connects only when sending.
    ///
    /// # Errors
    /// When `from` is not a mailbox or the TLS settings cannot be built.
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .with_context(|| format!("mail.from is not a mailbox: {:?}", settings.from))?;
        let host = settings.host.as_str();
        let builder = match settings.tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .context("cannot set up STARTTLS for mail.smtp.host")?,
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .context("cannot set up TLS for mail.smtp.host")?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
        if !settings.username.is_empty() {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(settings.username.clone(), password));
        }
        Ok(Self { transport: builder.build(), from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError> {
        let email = build_message(&self.from, message)?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) => Err(MailError { permanent: e.is_permanent(), message: e.to_string() }),
        }
    }
}

/// The development transport: one info line per notice, with its kind and recipient only.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError> {
        tracing::info!(
            target: "mail",
            kind = message.notice.kind.as_str(),
            recipient = %message.notice.recipient,
            "notice (mail.transport = \"log\": not sent)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use slugbase_application::ports::Notice;
    use slugbase_domain::{NoticeId, NoticeKind, NoticeStatus};

    use super::*;

    #[test]
    fn the_message_id_depends_on_the_notice_alone() {
        let from: Mailbox = "SlugBase <no-reply@example.org>".parse().expect("a mailbox");
        let notice = Notice {
            id: NoticeId::generate(),
            kind: NoticeKind::MfaDisabled,
            user_id: None,
            recipient: "ann@example.com".to_owned(),
            at: Utc::now(),
            client_addr: None,
            user_agent: None,
            codes_left: None,
            subject: None,
        };
        let message = OutboxMessage {
            notice: notice.clone(),
            status: NoticeStatus::Pending,
            attempts: 0,
            next_attempt_at: Utc::now(),
            last_error: None,
            sent_at: None,
        };
        let first = String::from_utf8(build_message(&from, &message).expect("built").formatted())
            .expect("utf-8");
        let again = OutboxMessage { attempts: 3, ..message };
        let second = String::from_utf8(build_message(&from, &again).expect("built").formatted())
            .expect("utf-8");
        let id_line = |m: &str| {
            m.lines().find(|l| l.starts_with("Message-ID:")).map(str::to_owned).expect("id")
        };
        assert_eq!(id_line(&first), format!("Message-ID: <{}@example.org>", notice.id));
        assert_eq!(id_line(&first), id_line(&second));
        assert!(first.contains("To: ann@example.com"));
        assert!(first.contains("Subject: Two-factor authentication was turned off"));
    }
}
