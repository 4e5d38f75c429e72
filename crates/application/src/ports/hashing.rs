//! Digests and hashes: what storage holds instead of a password, a backup code, a
//! session id or an API token.

use async_trait::async_trait;
use slugbase_domain::{BackupCode, Password, PasswordHash};

/// A lower-case hex SHA-256 (tokens, session ids) or HMAC-SHA-256 (backup codes) digest:
/// what storage holds instead of the secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretDigest(String);

impl SecretDigest {
    /// Wraps a hex digest.
    #[must_use]
    pub fn from_hex(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The hex text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Password hashing (Argon2id), off the async executor.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password.
    ///
    /// # Errors
    /// Only if hashing itself fails.
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash>;

    /// Checks a password. With `hash` absent (unknown account, OIDC-only user) it MUST still
    /// spend the same time, against a fixed dummy hash, and return `false`.
    ///
    /// # Errors
    /// Only if the stored hash is unreadable.
    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> anyhow::Result<bool>;
}

/// Keyed digest of backup codes (HMAC-SHA-256 under a server-side key), so a stolen
/// database does not yield codes by brute force over 64 bits.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait BackupCodeHasher: Send + Sync {
    /// The digest stored and looked up for a code.
    fn digest(&self, code: &BackupCode) -> SecretDigest;

    /// The digest SlugBase stored for a code it issued (unsalted SHA-256 of the normalised
    /// code, lower-case hex): how imported codes are stored and looked up, beside
    /// [`Self::digest`], until the user's codes are replaced by ours.
    fn imported_digest(&self, code: &BackupCode) -> SecretDigest;
}

/// SHA-256 of high-entropy bearer secrets (session ids, API tokens).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenDigest: Send + Sync {
    /// The digest stored and looked up for a token.
    fn digest(&self, token: &str) -> SecretDigest;
}
