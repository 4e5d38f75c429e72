//! AES-256-GCM sealing of TOTP secrets at rest ([`SecretCipher`]), with key ids for
//! rotation and the user id as associated data.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use slugbase_application::ports::{CipherError, SealingKeyInfo, SecretCipher};
use slugbase_domain::{EncryptedSecret, TotpSecret, UserId};
use zeroize::{Zeroize, Zeroizing};

use super::random::fill_random;

/// Bytes in an AES-GCM nonce (96 bits).
const NONCE_BYTES: usize = 12;
/// Bytes in an AES-GCM tag.
const TAG_BYTES: usize = 16;
/// Longest key id accepted.
const MAX_KEY_ID_LEN: usize = 64;

/// The keys TOTP secrets are sealed with: new secrets use `current_id`; any listed key
/// opens secrets sealed under its id (rotation). Key bytes are zeroed on drop, and `Debug`
/// shows key ids only.
#[derive(Clone)]
pub struct EncryptionKeys {
    /// Id of the key that seals new secrets; must be in `keys`.
    pub current_id: String,
    /// Every usable key: (id, 256-bit key).
    pub keys: Vec<(String, [u8; 32])>,
}

impl EncryptionKeys {
    /// One fresh random key with id `id` (tests, first start in development).
    #[must_use]
    pub fn random(id: &str) -> Self {
        let mut key = [0u8; 32];
        fill_random(&mut key);
        Self { current_id: id.to_owned(), keys: vec![(id.to_owned(), key)] }
    }
}

impl Drop for EncryptionKeys {
    fn drop(&mut self) {
        for (_, key) in &mut self.keys {
            key.zeroize();
        }
    }
}

impl fmt::Debug for EncryptionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("EncryptionKeys")
            .field("current_id", &self.current_id)
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

/// Seals TOTP secrets as `<key_id>:<base64url(nonce || ciphertext)>` with AES-256-GCM, a
/// random 96-bit nonce per encryption and the user id as associated data (a secret copied
/// into another user's row does not open).
pub struct AesGcmSecretCipher {
    current_id: String,
    keys: Vec<(String, Zeroizing<[u8; 32]>)>,
}

impl fmt::Debug for AesGcmSecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("AesGcmSecretCipher")
            .field("current_id", &self.current_id)
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl AesGcmSecretCipher {
    /// Builds the cipher.
    ///
    /// # Errors
    /// If a key id is empty, too long, contains `:` or repeats, or `current_id` names no key.
    pub fn new(keys: EncryptionKeys) -> anyhow::Result<Self> {
        let mut own: Vec<(String, Zeroizing<[u8; 32]>)> = Vec::with_capacity(keys.keys.len());
        for (id, key) in &keys.keys {
            anyhow::ensure!(
                !id.is_empty() && id.len() <= MAX_KEY_ID_LEN && !id.contains(':'),
                "encryption key id {id:?} must be 1 to {MAX_KEY_ID_LEN} characters without ':'"
            );
            anyhow::ensure!(
                !own.iter().any(|(other, _)| other == id),
                "encryption key id {id:?} is listed twice"
            );
            own.push((id.clone(), Zeroizing::new(*key)));
        }
        anyhow::ensure!(
            own.iter().any(|(id, _)| *id == keys.current_id),
            "current encryption key id {:?} is not among the keys",
            keys.current_id
        );
        Ok(Self { current_id: keys.current_id.clone(), keys: own })
    }

    fn key(&self, id: &str) -> Option<Aes256Gcm> {
        self.keys
            .iter()
            .find(|(key_id, _)| key_id == id)
            .and_then(|(_, key)| Aes256Gcm::new_from_slice(key.as_ref()).ok())
    }

    /// Whether a sealed secret uses a key other than the current one (and should be sealed
    /// again after a key rotation). A value that is not in the sealed format is `false`:
    /// there is nothing to re-seal.
    #[must_use]
    pub fn needs_reencryption(&self, sealed: &EncryptedSecret) -> bool {
        sealed.as_str().split_once(':').is_some_and(|(id, _)| id != self.current_id)
    }
}

impl SecretCipher for AesGcmSecretCipher {
    fn encrypt(&self, user: UserId, secret: &TotpSecret) -> anyhow::Result<EncryptedSecret> {
        let cipher = self.key(&self.current_id).context("current encryption key is missing")?;
        let mut nonce_bytes = [0u8; NONCE_BYTES];
        fill_random(&mut nonce_bytes);
        let nonce = Nonce::from(nonce_bytes);
        let payload =
            Payload { msg: secret.expose_base32().as_bytes(), aad: user.as_uuid().as_bytes() };
        let ciphertext = cipher
            .encrypt(&nonce, payload)
            .map_err(|_| anyhow::anyhow!("AES-GCM sealing failed"))?;
        let mut blob = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&ciphertext);
        Ok(EncryptedSecret::new(format!("{}:{}", self.current_id, URL_SAFE_NO_PAD.encode(blob))))
    }

    fn decrypt(&self, user: UserId, sealed: &EncryptedSecret) -> Result<TotpSecret, CipherError> {
        let (id, body) = sealed.as_str().split_once(':').ok_or(CipherError::Corrupt)?;
        if id.is_empty() {
            return Err(CipherError::Corrupt);
        }
        let Some(cipher) = self.key(id) else {
            let shown: String = id.chars().take(MAX_KEY_ID_LEN).collect();
            return Err(CipherError::UnknownKey(shown));
        };
        let blob = URL_SAFE_NO_PAD.decode(body).map_err(|_| CipherError::Corrupt)?;
        if blob.len() < NONCE_BYTES + TAG_BYTES {
            return Err(CipherError::Corrupt);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_BYTES);
        let nonce = Nonce::try_from(nonce).map_err(|_| CipherError::Corrupt)?;
        let payload = Payload { msg: ciphertext, aad: user.as_uuid().as_bytes() };
        let plain =
            Zeroizing::new(cipher.decrypt(&nonce, payload).map_err(|_| CipherError::Corrupt)?);
        let text = std::str::from_utf8(&plain).map_err(|_| CipherError::Corrupt)?;
        Ok(TotpSecret::from_base32(text))
    }
}

impl SealingKeyInfo for AesGcmSecretCipher {
    fn sealed_key_id(&self, sealed: &EncryptedSecret) -> Option<String> {
        let (id, _) = sealed.as_str().split_once(':')?;
        (!id.is_empty()).then(|| id.chars().take(MAX_KEY_ID_LEN).collect())
    }

    fn current_key_id(&self) -> String {
        self.current_id.clone()
    }
}
