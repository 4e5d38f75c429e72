//! New bearer secrets: session ids, pending-MFA ids and API tokens.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;

use crate::plain_token::PlainToken;
use crate::ports::Random;

/// Prefix of personal API tokens.
pub const API_TOKEN_PREFIX: &str = "sb_";

/// Mints random bearer secrets.
#[derive(Clone)]
pub struct TokenMinter {
    random: Arc<dyn Random>,
}

impl fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMinter").finish_non_exhaustive()
    }
}

impl TokenMinter {
    /// A minter drawing on `random`.
    #[must_use]
    pub fn new(random: Arc<dyn Random>) -> Self {
        Self { random }
    }

    /// A new random bearer secret: `prefix` and 256 bits, base64url without padding.
    pub(crate) fn mint(&self, prefix: &str) -> PlainToken {
        let bytes = self.random.bytes_32();
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        PlainToken::new(format!("{prefix}{encoded}"))
    }
}
