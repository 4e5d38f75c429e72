//! Bearer secrets on their way to the client.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A bearer secret shown to the client once (session id, pending-MFA id, API token).
/// `Debug` never prints it.
#[derive(Clone)]
pub struct PlainToken(SecretString);

impl PlainToken {
    /// Wraps a token.
    #[must_use]
    pub fn new(token: String) -> Self {
        Self(SecretString::from(token))
    }

    /// The token, for the cookie or the one-time response.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken([REDACTED])")
    }
}
