//! TOTP codes and the encryption of their secrets at rest.

use chrono::{DateTime, Utc};
use slugbase_domain::{Email, EncryptedSecret, TotpCode, TotpSecret, TotpStep, UserId};

/// TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, ±1 step of drift).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Totp: Send + Sync {
    /// A new random 160-bit secret.
    fn generate_secret(&self) -> TotpSecret;

    /// `otpauth://totp/<Issuer>:<email>?secret=…&issuer=<Issuer>` — contains the secret.
    ///
    /// # Errors
    /// If the URL cannot be built.
    fn otpauth_url(&self, secret: &TotpSecret, account: &Email) -> anyhow::Result<String>;

    /// The otpauth URL as a PNG QR code, base64.
    ///
    /// # Errors
    /// If the image cannot be rendered.
    fn qr_png_base64(&self, secret: &TotpSecret, account: &Email) -> anyhow::Result<String>;

    /// The time step `code` matches at `at` (within ±1 step), if any. Replay is the caller's
    /// rule: this only checks the code against the secret.
    fn verify(&self, secret: &TotpSecret, code: &TotpCode, at: DateTime<Utc>) -> Option<TotpStep>;
}

/// Why a sealed secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// Sealed under a key id this instance does not have.
    #[error("secret is sealed with unknown key id {0:?}")]
    UnknownKey(String),
    /// Tampered with, sealed for another user, or corrupt.
    #[error("secret cannot be decrypted (wrong key, other user, or corrupt)")]
    Corrupt,
}

/// Authenticated encryption of TOTP secrets at rest (AES-256-GCM, user id as associated
/// data, key id prefix for rotation).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SecretCipher: Send + Sync {
    /// Seals a secret for one user under the current key.
    ///
    /// # Errors
    /// Only if encryption itself fails.
    fn encrypt(&self, user: UserId, secret: &TotpSecret) -> anyhow::Result<EncryptedSecret>;

    /// Opens a secret sealed for this user.
    ///
    /// # Errors
    /// [`CipherError`] for an unknown key id or a ciphertext that fails authentication.
    fn decrypt(&self, user: UserId, sealed: &EncryptedSecret) -> Result<TotpSecret, CipherError>;
}
