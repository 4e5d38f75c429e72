//! HMAC-SHA-256 digests of backup codes ([`BackupCodeHasher`]) under a server-side key.

use std::fmt;

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use slugbase_application::ports::{BackupCodeHasher, SecretDigest};
use slugbase_domain::BackupCode;
use zeroize::Zeroizing;

use super::to_hex;

/// HMAC-SHA-256 of the normalised backup code under a server-side key, as lower-case hex.
pub struct HmacBackupCodeHasher {
    key: Zeroizing<[u8; 32]>,
}

impl HmacBackupCodeHasher {
    /// A hasher under `key`.
    #[must_use]
    pub fn new(key: [u8; 32]) -> Self {
        Self { key: Zeroizing::new(key) }
    }
}

impl fmt::Debug for HmacBackupCodeHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacBackupCodeHasher([REDACTED])")
    }
}

impl BackupCodeHasher for HmacBackupCodeHasher {
    fn digest(&self, code: &BackupCode) -> SecretDigest {
        // HMAC pads a key shorter than the hash's block with zeros (RFC 2104), so the padded
        // block-sized key is the same key, and taking it is infallible.
        let mut block = Zeroizing::new([0u8; 64]);
        block[..32].copy_from_slice(self.key.as_ref());
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new(&(*block).into());
        mac.update(code.expose().as_bytes());
        SecretDigest::from_hex(to_hex(&mac.finalize().into_bytes()))
    }

    fn imported_digest(&self, code: &BackupCode) -> SecretDigest {
        // SlugBase's own: SHA-256 of the normalised code (16 lower-case hex digits, the
        // same normalisation as ours), unsalted, as lower-case hex.
        SecretDigest::from_hex(to_hex(&Sha256::digest(code.expose().as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_digests_are_slugbases_unsalted_sha256_of_the_normalised_code() {
        let hasher = HmacBackupCodeHasher::new([9; 32]);
        let code = BackupCode::parse("3AB0 E610 7389 3A34").unwrap();
        let imported = hasher.imported_digest(&code);
        let expected = to_hex(&Sha256::digest(b"3ab0e61073893a34"));
        assert_eq!(imported.as_str(), expected);
        assert_ne!(hasher.digest(&code), imported);
    }
}
