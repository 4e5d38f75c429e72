//! SlugBase's envelope for TOTP secrets (`backend/src/utils/encryption.ts`), opened once per
//! secret by the importer: a master key from `ENCRYPTION_KEY` (64 characters: hex, decoded
//! as Node's `Buffer.from(key, 'hex')` does; otherwise scrypt of the text with the salt
//! `slugbase-salt`), a data key per value (scrypt of the master key with the value's own
//! 64-byte salt; N = 16384, r = 8, p = 1), then AES-256-GCM with the value's 16-byte IV as
//! the nonce and no associated data. Stored as `hex(salt):hex(iv):hex(tag):hex(ciphertext)`.
//!
//! Each open costs one scrypt (≈ 16 MiB, tens of milliseconds): the caller spreads them over
//! the cores. Nothing here prints a key or a secret (`Debug` shows neither, errors say only
//! what failed).

use std::fmt;

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use zeroize::Zeroizing;

/// AES-256-GCM with a 16-byte nonce: SlugBase passes its 16-byte IV to Node's GCM, which
/// derives the counter block from it through GHASH (NIST SP 800-38D, non-96-bit IV).
type SlugbaseGcm = AesGcm<Aes256, U16>;

const SALT_BYTES: usize = 64;
const IV_BYTES: usize = 16;
const TAG_BYTES: usize = 16;
/// Node's `scryptSync` defaults: N = 2^14, r = 8, p = 1.
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

/// Why a stored value could not be opened (never what it holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not four lower-case hex parts of the right sizes: SlugBase would have used the text
    /// as it is (a plaintext from before encryption).
    #[error("not a SlugBase envelope")]
    NotAnEnvelope,
    /// An envelope that does not authenticate under this key: a wrong `ENCRYPTION_KEY`, or
    /// a damaged value.
    #[error("the envelope does not open with this ENCRYPTION_KEY")]
    WrongKeyOrDamaged,
}

/// Opens SlugBase envelopes under one `ENCRYPTION_KEY`.
pub struct SlugbaseEnvelope {
    master: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SlugbaseEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SlugbaseEnvelope([REDACTED])")
    }
}

impl SlugbaseEnvelope {
    /// The master key of SlugBase's `ENCRYPTION_KEY` (one scrypt for a passphrase key).
    ///
    /// # Errors
    /// Only if scrypt refuses its parameters (it does not for these).
    pub fn from_encryption_key(key: &str) -> anyhow::Result<Self> {
        // `key.length === 64` in JavaScript counts UTF-16 code units.
        let master = if key.encode_utf16().count() == 64 {
            Zeroizing::new(node_hex(key))
        } else {
            let mut out = Zeroizing::new(vec![0_u8; 32]);
            derive(key.as_bytes(), b"slugbase-salt", &mut out)?;
            out
        };
        Ok(Self { master })
    }

    /// Opens one stored value: its plaintext (the base32 TOTP secret, as UTF-8 text).
    ///
    /// # Errors
    /// [`EnvelopeError`].
    pub fn open(&self, stored: &str) -> Result<Zeroizing<String>, EnvelopeError> {
        let parts: Vec<&str> = stored.split(':').collect();
        let [salt, iv, tag, ciphertext] = parts.as_slice() else {
            return Err(EnvelopeError::NotAnEnvelope);
        };
        let (Some(salt), Some(iv), Some(tag), Some(ciphertext)) =
            (strict_hex(salt), strict_hex(iv), strict_hex(tag), strict_hex(ciphertext))
        else {
            return Err(EnvelopeError::NotAnEnvelope);
        };
        if salt.len() != SALT_BYTES || iv.len() != IV_BYTES || tag.len() != TAG_BYTES {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        let mut data_key = Zeroizing::new([0_u8; 32]);
        derive(&self.master, &salt, data_key.as_mut())
            .map_err(|_| EnvelopeError::WrongKeyOrDamaged)?;
        let cipher = SlugbaseGcm::new_from_slice(data_key.as_ref())
            .map_err(|_| EnvelopeError::WrongKeyOrDamaged)?;
        let nonce =
            Nonce::<U16>::try_from(iv.as_slice()).map_err(|_| EnvelopeError::NotAnEnvelope)?;
        // The aead API takes the tag after the ciphertext; SlugBase stores it before.
        let mut sealed = ciphertext;
        sealed.extend_from_slice(&tag);
        let plain = Zeroizing::new(
            cipher
                .decrypt(&nonce, sealed.as_slice())
                .map_err(|_| EnvelopeError::WrongKeyOrDamaged)?,
        );
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| EnvelopeError::WrongKeyOrDamaged)
    }

    /// Seals `plaintext` as SlugBase would (fresh salt and IV): for test fixtures and the
    /// benchmark's generated databases, which must hold what SlugBase writes.
    ///
    /// # Errors
    /// Only if scrypt or the cipher fail.
    pub fn seal(&self, plaintext: &str) -> anyhow::Result<String> {
        let mut salt = [0_u8; SALT_BYTES];
        let mut iv = [0_u8; IV_BYTES];
        super::random::fill_random(&mut salt);
        super::random::fill_random(&mut iv);
        let mut data_key = Zeroizing::new([0_u8; 32]);
        derive(&self.master, &salt, data_key.as_mut())?;
        let cipher = SlugbaseGcm::new_from_slice(data_key.as_ref())
            .map_err(|_| anyhow::anyhow!("AES-256 key size"))?;
        let nonce = Nonce::<U16>::from(iv);
        let mut sealed = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| anyhow::anyhow!("AES-GCM sealing failed"))?;
        let tag = sealed.split_off(sealed.len() - TAG_BYTES);
        Ok(format!(
            "{}:{}:{}:{}",
            super::to_hex(&salt),
            super::to_hex(&iv),
            super::to_hex(&tag),
            super::to_hex(&sealed)
        ))
    }
}

impl SlugbaseEnvelope {
    /// Seals many values under one salt (one scrypt for all, a fresh IV each): for the
    /// benchmark's generated databases only, whose millions of values SlugBase would have
    /// sealed one scrypt each. Opening them still costs one scrypt each (nothing is cached).
    ///
    /// # Errors
    /// Only if scrypt or the cipher fail.
    pub fn seal_batch(&self, plaintexts: &[String]) -> anyhow::Result<Vec<String>> {
        let mut salt = [0_u8; SALT_BYTES];
        super::random::fill_random(&mut salt);
        let mut data_key = Zeroizing::new([0_u8; 32]);
        derive(&self.master, &salt, data_key.as_mut())?;
        let cipher = SlugbaseGcm::new_from_slice(data_key.as_ref())
            .map_err(|_| anyhow::anyhow!("AES-256 key size"))?;
        plaintexts
            .iter()
            .map(|plaintext| {
                let mut iv = [0_u8; IV_BYTES];
                super::random::fill_random(&mut iv);
                let mut sealed = cipher
                    .encrypt(&Nonce::<U16>::from(iv), plaintext.as_bytes())
                    .map_err(|_| anyhow::anyhow!("AES-GCM sealing failed"))?;
                let tag = sealed.split_off(sealed.len() - TAG_BYTES);
                Ok(format!(
                    "{}:{}:{}:{}",
                    super::to_hex(&salt),
                    super::to_hex(&iv),
                    super::to_hex(&tag),
                    super::to_hex(&sealed)
                ))
            })
            .collect()
    }
}

/// One scrypt at SlugBase's parameters, 32 bytes out: the cost the importer's throughput is
/// measured against (`slugbase-bench`).
///
/// # Errors
/// Only if scrypt refuses its parameters (it does not for these).
pub fn slugbase_scrypt(password: &[u8], salt: &[u8]) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0_u8; 32]);
    derive(password, salt, out.as_mut())?;
    Ok(out)
}

fn derive(password: &[u8], salt: &[u8], out: &mut [u8]) -> anyhow::Result<()> {
    let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)
        .map_err(|e| anyhow::anyhow!("scrypt parameters: {e}"))?;
    scrypt::scrypt(password, salt, &params, out).map_err(|e| anyhow::anyhow!("scrypt: {e}"))
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Node's `Buffer.from(text, 'hex')`: pairs of hex digits up to the first pair that is not
/// one (or an odd last digit), without error.
fn node_hex(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks_exact(2)
        .map_while(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect()
}

/// Hex that must be entirely hex, of an even length.
fn strict_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes = node_hex(text);
    (bytes.len() * 2 == text.len()).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_hex_stops_at_the_first_pair_that_is_not_hex() {
        assert_eq!(node_hex("00ff10"), vec![0, 255, 16]);
        assert_eq!(node_hex("00fg10"), vec![0]);
        assert_eq!(node_hex("abc"), vec![0xab]);
        assert!(node_hex("zz").is_empty());
    }

    #[test]
    fn a_sealed_value_opens_under_the_same_key_only() {
        let hex_key = "0123456789abcdef".repeat(4);
        let envelope = SlugbaseEnvelope::from_encryption_key(&hex_key).unwrap();
        let stored = envelope.seal("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(stored.len(), 259);
        assert_eq!(envelope.open(&stored).unwrap().as_str(), "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
        let other =
            SlugbaseEnvelope::from_encryption_key("a passphrase of at least 32 chars!").unwrap();
        assert_eq!(other.open(&stored).unwrap_err(), EnvelopeError::WrongKeyOrDamaged);
        assert_eq!(envelope.open("JBSWY3DPEHPK3PXP").unwrap_err(), EnvelopeError::NotAnEnvelope);
        // Nothing of the key shows.
        assert!(!format!("{envelope:?}").contains("0123"));
    }
}
