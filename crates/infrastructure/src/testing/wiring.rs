//! Every port over a store and the real crypto adapters, for the infrastructure's own tests
//! (feature `testing`). The service itself is wired by the server crate's composition root.

use std::fmt;
use std::sync::Arc;

use slugbase_application::Deps;
use slugbase_application::ports::{Clock, Storage};
use zeroize::Zeroize;

use crate::crypto::{
    AesGcmSecretCipher, Argon2Params, Argon2PasswordHasher, EncryptionKeys, HmacBackupCodeHasher,
    OsRandom, RfcTotp, Sha256TokenDigest,
};
use crate::mail::EmbeddedCommonPasswords;

/// Issuer shown in authenticator apps unless configured otherwise.
pub const DEFAULT_TOTP_ISSUER: &str = "SlugBase";

/// What the crypto adapters need. Key material is zeroed on drop; `Debug` shows no key.
#[derive(Clone)]
pub struct CryptoConfig {
    /// Argon2id cost and concurrency.
    pub argon2: Argon2Params,
    /// Issuer in otpauth URLs.
    pub totp_issuer: String,
    /// Keys sealing TOTP secrets at rest.
    pub encryption: EncryptionKeys,
    /// HMAC key of backup-code digests.
    pub backup_code_key: [u8; 32],
}

impl CryptoConfig {
    /// Random keys, the cheapest Argon2 cost and the default issuer.
    #[must_use]
    pub fn for_tests() -> Self {
        let random = OsRandom;
        Self {
            argon2: Argon2Params::cheap_for_tests(),
            totp_issuer: DEFAULT_TOTP_ISSUER.to_owned(),
            encryption: EncryptionKeys::random("test"),
            backup_code_key: slugbase_application::ports::Random::bytes_32(&random),
        }
    }
}

impl Drop for CryptoConfig {
    fn drop(&mut self) {
        self.backup_code_key.zeroize();
    }
}

impl fmt::Debug for CryptoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoConfig")
            .field("argon2", &self.argon2)
            .field("totp_issuer", &self.totp_issuer)
            .field("encryption", &self.encryption)
            .finish_non_exhaustive()
    }
}

/// Every port of the application over `store` (all storage ports) and the real crypto
/// adapters: Argon2id, totp-rs, AES-256-GCM, HMAC-SHA-256, SHA-256, OS randomness.
///
/// Builds the Argon2 dummy hash once, at full cost.
///
/// # Errors
/// If the configuration is invalid: Argon2 parameters, TOTP issuer, or encryption keys.
pub fn build_deps<S: Storage>(
    store: Arc<S>,
    crypto: CryptoConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Deps> {
    let passwords = Argon2PasswordHasher::new(crypto.argon2)?;
    let totp = RfcTotp::new(crypto.totp_issuer.clone())?;
    let cipher = AesGcmSecretCipher::new(crypto.encryption.clone())?;
    let backup_codes = HmacBackupCodeHasher::new(crypto.backup_code_key);
    Ok(Deps {
        users: store.clone(),
        mfa: store.clone(),
        sessions: store.clone(),
        tokens: store.clone(),
        audit: store.clone(),
        attempts: store.clone(),
        oidc: store.clone(),
        outbox: store.clone(),
        passkeys: store.clone(),
        health: store,
        passwords: Arc::new(passwords),
        common_passwords: Arc::new(EmbeddedCommonPasswords::new()),
        totp: Arc::new(totp),
        cipher: Arc::new(cipher),
        backup_codes: Arc::new(backup_codes),
        token_digest: Arc::new(Sha256TokenDigest),
        clock,
        random: Arc::new(OsRandom),
        identity_providers: slugbase_application::ports::IdentityProviders::default(),
        background: Arc::new(crate::background::TokioBackground),
        // The relying party of a service at `http://localhost` (WebAuthn needs a domain).
        webauthn: Arc::new(crate::webauthn::WebauthnRelyingParty::new(
            "http://localhost",
            &crypto.totp_issuer,
        )),
    })
}
