//! Password hashes imported from SlugBase: bcrypt (`$2a$10$…`, `bcryptjs`), verified by the
//! `bcrypt` crate until the account's next sign-in replaces them with Argon2id. The
//! Argon2id adapter ([`super::Argon2PasswordHasher`]) calls this for a hash of that kind, on
//! its blocking pool and under its permits.

/// Whether `password` matches a bcrypt hash imported from SlugBase (`$2a$10$…`). bcrypt
/// reads only the first 72 bytes of the password, as SlugBase's `bcryptjs` did (silently):
/// the `bcrypt` crate's truncating `verify` does the same, and its comparison is
/// constant-time.
pub(super) fn verify_bcrypt(password: &[u8], hash: &str) -> anyhow::Result<bool> {
    let first = &password[..password.len().min(BCRYPT_MAX_BYTES)];
    bcrypt::verify(first, hash)
        .map_err(|e| anyhow::anyhow!("stored password hash is unreadable: {e}"))
}

/// How many bytes of a password bcrypt reads.
const BCRYPT_MAX_BYTES: usize = 72;

#[cfg(test)]
mod tests {
    use slugbase_application::ports::PasswordHasher as _;
    use slugbase_domain::{Password, PasswordHash, PasswordHashKind};

    use crate::crypto::{Argon2Params, Argon2PasswordHasher};

    /// A SlugBase hash (`bcryptjs`, cost 10) of a 98-byte password: what counts is its first
    /// 72 bytes, whatever follows.
    #[tokio::test]
    async fn imported_bcrypt_hashes_verify_on_their_first_72_bytes() {
        let hasher = Argon2PasswordHasher::new(Argon2Params::cheap_for_tests()).unwrap();
        let long = format!("{}{}", "Ab1!".repeat(18), "tail-that-bcrypt-never-reads-000000");
        assert_eq!(long.len(), 72 + 35);
        let stored = PasswordHash::from_phc(
            bcrypt::hash_with_salt(&long.as_bytes()[..72], 4, [7; 16])
                .unwrap()
                .format_for_version(bcrypt::Version::TwoA),
        );
        assert_eq!(stored.kind(), PasswordHashKind::LegacyBcrypt);
        assert!(hasher.verify(&Password::new(long.clone()), Some(&stored)).await.unwrap());
        let other_tail = format!("{}different", &long[..72]);
        assert!(hasher.verify(&Password::new(other_tail), Some(&stored)).await.unwrap());
        assert!(!hasher.verify(&Password::new(&long[..71]), Some(&stored)).await.unwrap());
        assert!(!hasher.verify(&Password::new("wrong"), Some(&stored)).await.unwrap());

        let short = PasswordHash::from_phc(bcrypt::hash("Bob-Shared-Passw0rd1", 4).unwrap());
        assert!(hasher.verify(&Password::new("Bob-Shared-Passw0rd1"), Some(&short)).await.unwrap());
        assert!(
            !hasher.verify(&Password::new("Bob-Shared-Passw0rd2"), Some(&short)).await.unwrap()
        );
        // New hashes are ours.
        let new = hasher.hash(&Password::new("Bob-Shared-Passw0rd1")).await.unwrap();
        assert_eq!(new.kind(), PasswordHashKind::Argon2id);
    }
}
