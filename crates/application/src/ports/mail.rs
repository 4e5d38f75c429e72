//! Sending a notice by e-mail, and the list of common passwords.

use async_trait::async_trait;

use super::outbox::OutboxMessage;

/// Why a notice was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    /// The server refused it for good (a 5xx answer); retrying will not help.
    pub permanent: bool,
    /// What went wrong (the server's answer or the connection error), never the body.
    pub message: String,
}

impl MailError {
    /// A failure worth retrying (server down, timeout, 4xx).
    #[must_use]
    pub fn transient(message: impl Into<String>) -> Self {
        Self { permanent: false, message: message.into() }
    }
}

/// Delivers a notice: renders it from the templates and hands it to the transport.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `message`, with a `Message-ID` derived from its id only (the same on every
    /// retry).
    ///
    /// # Errors
    /// [`MailError`] when the transport did not accept it.
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError>;
}

/// The list of common passwords a new password must not be on (NIST SP 800-63B §3.1.1.2).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait CommonPasswords: Send + Sync {
    /// Whether `password` is on the list (compared case-insensitively).
    fn is_common(&self, password: &str) -> bool;
}
