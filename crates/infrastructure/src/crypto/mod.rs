//! Crypto and environment adapters, one per file: Argon2id password hashing
//! ([`argon2id`]; imported SlugBase bcrypt hashes verified by [`bcrypt_legacy`]), RFC 6238
//! TOTP through totp-rs ([`totp`]), AES-256-GCM secret sealing
//! ([`aes_gcm_cipher`]), HMAC-SHA-256 backup-code digests ([`backup_code_hasher`]),
//! SHA-256 token digests ([`token_digest`]), SlugBase's TOTP secret envelope for the
//! importer ([`slugbase_envelope`]: scrypt + AES-256-GCM with a 16-byte nonce), the system clock ([`clock`]) and OS
//! randomness ([`random`]).
//!
//! Nothing here is hand-rolled: each adapter wraps one RustCrypto (or totp-rs) primitive
//! and adds only what the port contract asks for — running Argon2 off the async executor,
//! a dummy hash for unknown accounts, key ids for rotation, the user id as associated data.
//! No adapter logs or prints a password, code, secret or key (`Debug` shows none).
//!
//! The test clock lives in `crate::testing` (feature `testing`) and is re-exported here
//! under that feature, as `crypto::ManualClock`.

mod aes_gcm_cipher;
mod argon2id;
mod backup_code_hasher;
mod bcrypt_legacy;
mod clock;
mod random;
mod slugbase_envelope;
mod token_digest;
mod totp;

pub use aes_gcm_cipher::{AesGcmSecretCipher, EncryptionKeys};
pub use argon2id::{Argon2Load, Argon2Params, Argon2PasswordHasher};
pub use backup_code_hasher::HmacBackupCodeHasher;
pub use clock::SystemClock;
pub use random::OsRandom;
pub use slugbase_envelope::{EnvelopeError, SlugbaseEnvelope, slugbase_scrypt};
pub use token_digest::Sha256TokenDigest;
pub use totp::RfcTotp;

#[cfg(feature = "testing")]
pub use crate::testing::ManualClock;

/// Lower-case hex of some bytes.
fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}
