//! SHA-256 digests of session ids and API tokens ([`TokenDigest`]).

use sha2::{Digest as _, Sha256};
use slugbase_application::ports::{SecretDigest, TokenDigest};

use super::to_hex;

/// SHA-256 of a high-entropy bearer secret, as lower-case hex.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sha256TokenDigest;

impl TokenDigest for Sha256TokenDigest {
    fn digest(&self, token: &str) -> SecretDigest {
        SecretDigest::from_hex(to_hex(&Sha256::digest(token.as_bytes())))
    }
}
