//! CSRF protection, SlugBase-compatible double submit with a server-signed token.
//!
//! `GET /api/csrf-token` returns a token and sets the same value in the `_csrf` cookie.
//! A cookie-authenticated unsafe request must send it back in `X-CSRF-Token` (or a JSON
//! body field `csrfToken`). The token is `nonce.mac` where `mac` is HMAC-SHA-256 under the
//! server's key over the nonce and the caller's session id, so a value the server did not
//! sign — or one signed for another session — is refused. Comparisons are constant-time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Name of the cookie holding the token.
pub const CSRF_COOKIE: &str = "_csrf";
/// Header carrying the token back.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// JSON body field carrying the token back (SlugBase clients).
pub const CSRF_BODY_FIELD: &str = "csrfToken";

/// Domain separation for the MAC input.
const MAC_LABEL: &[u8] = b"slugbase-csrf-v1\0";

/// Signs and checks CSRF tokens.
#[derive(Clone)]
pub(crate) struct Csrf {
    key: [u8; 32],
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf([REDACTED])")
    }
}

impl Csrf {
    pub(crate) const fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, nonce: &[u8], session: &str) -> Hmac<Sha256> {
        // HMAC pads a short key with zeros to the block size; doing it here makes the
        // constructor infallible.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.key);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
        mac.update(MAC_LABEL);
        mac.update(&(nonce.len() as u64).to_be_bytes());
        mac.update(nonce);
        mac.update(session.as_bytes());
        mac
    }

    /// A new token bound to `session` (the `slugbase.sid` value, or "" when there is none).
    pub(crate) fn issue(&self, session: &str) -> String {
        let mut nonce = [0u8; 16];
        rand::fill(&mut nonce);
        let tag = self.mac(&nonce, session).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(nonce), URL_SAFE_NO_PAD.encode(tag))
    }

    /// Whether `sent` equals the cookie's token and is a token this server signed for
    /// `session`.
    pub(crate) fn verify(&self, sent: &str, cookie: &str, session: &str) -> bool {
        let same =
            sent.len() == cookie.len() && bool::from(sent.as_bytes().ct_eq(cookie.as_bytes()));
        if !same {
            return false;
        }
        let Some((nonce, tag)) = sent.split_once('.') else { return false };
        let (Ok(nonce), Ok(tag)) = (URL_SAFE_NO_PAD.decode(nonce), URL_SAFE_NO_PAD.decode(tag))
        else {
            return false;
        };
        self.mac(&nonce, session).verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_session_and_key() {
        let csrf = Csrf::new([7; 32]);
        let token = csrf.issue("sid-a");
        assert!(csrf.verify(&token, &token, "sid-a"));
        assert!(!csrf.verify(&token, &token, "sid-b"));
        assert!(!Csrf::new([8; 32]).verify(&token, &token, "sid-a"));
    }

    #[test]
    fn the_sent_token_must_equal_the_cookie() {
        let csrf = Csrf::new([7; 32]);
        let a = csrf.issue("s");
        let b = csrf.issue("s");
        assert!(!csrf.verify(&a, &b, "s"));
    }

    #[test]
    fn an_unsigned_or_garbled_token_is_refused() {
        let csrf = Csrf::new([7; 32]);
        for bad in ["", "abc", "abc.def", "....", "AAAA.AAAA"] {
            assert!(!csrf.verify(bad, bad, "s"), "{bad}");
        }
    }
}
