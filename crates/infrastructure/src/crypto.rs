//! Crypto and environment adapters: Argon2id password hashing, RFC 6238 TOTP (totp-rs),
//! AES-256-GCM secret sealing, HMAC-SHA-256 backup-code digests, SHA-256 token digests,
//! the clock and OS randomness.
//!
//! Nothing here is hand-rolled: each adapter wraps one RustCrypto (or totp-rs) primitive
//! and adds only what the port contract asks for — running Argon2 off the async executor,
//! a dummy hash for unknown accounts, key ids for rotation, the user id as associated data.
//! No adapter logs or prints a password, code, secret or key (`Debug` shows none).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context as _;
use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::{Algorithm, Argon2, Version};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use slugbase_application::ports::{
    BackupCodeHasher, CipherError, Clock, PasswordHasher, Random, SealingKeyInfo, SecretCipher,
    SecretDigest, TokenDigest, Totp,
};
use slugbase_domain::{
    BackupCode, Email, EncryptedSecret, Password, PasswordHash, TotpCode, TotpSecret, TotpStep,
    UserId,
};
use tokio::sync::Semaphore;
use zeroize::{Zeroize, Zeroizing};

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

/// Fills `buf` from the operating system's CSPRNG. Should the OS source fail (it does not on
/// any supported platform), falls back to rand's thread-local CSPRNG, itself seeded from the
/// OS, rather than panicking.
fn fill_random(buf: &mut [u8]) {
    use rand::TryRng as _;
    if rand::rngs::SysRng.try_fill_bytes(buf).is_err() {
        tracing::warn!("OS randomness failed; using the thread-local CSPRNG");
        rand::fill(buf);
    }
}

// ---------------------------------------------------------------------------------------
// Argon2id
// ---------------------------------------------------------------------------------------

/// Argon2id cost parameters, and how many hashes may run at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes running at the same time; more wait. Bounds memory under a login flood
    /// (`memory_kib` × `max_concurrent`).
    pub max_concurrent: usize,
}

impl Argon2Params {
    /// OWASP's Argon2id recommendation (m = 19 MiB, t = 2, p = 1), with
    /// [`Self::automatic_concurrency`] hashes at once.
    #[must_use]
    pub fn production() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: Self::automatic_concurrency(),
        }
    }

    /// One hash fewer than there are cores, at least one: a core stays free for requests
    /// that do not hash, so a login flood does not stall them (BENCHMARKS.md, scenario d:
    /// with as many hashes as cores, status p99 rose 4–5× under 8 hashing logins).
    #[must_use]
    pub fn automatic_concurrency() -> usize {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        cores.saturating_sub(1).max(1)
    }

    /// The smallest valid cost (m = 8 KiB, t = 1, p = 1): fast tests. Never for production.
    #[must_use]
    pub const fn cheap_for_tests() -> Self {
        Self { memory_kib: 8, iterations: 1, parallelism: 1, max_concurrent: 4 }
    }
}

/// Argon2id password hashing on tokio's blocking pool, at most
/// [`Argon2Params::max_concurrent`] at a time.
#[derive(Clone)]
pub struct Argon2PasswordHasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    params: argon2::Params,
    /// A hash of a random password, computed once with the same parameters: verified when
    /// there is no stored hash, so an unknown e-mail costs the same as a wrong password.
    dummy: String,
    permits: Arc<Semaphore>,
    /// Argon2 block buffers for reuse, one per permit at most. Memory under a login flood is
    /// then bounded by construction (`max_concurrent` × `memory_kib`): a fresh 19 MiB buffer
    /// per hash is not given back by glibc's allocator, and RSS grew to 1.3 GiB in a flood of
    /// 200 logins (BENCHMARKS.md, scenario e).
    blocks: std::sync::Mutex<Vec<Vec<argon2::Block>>>,
}

impl HasherInner {
    /// Runs `work` over `count` Argon2 blocks taken from the pool (or allocated once), wipes
    /// them afterwards and puts them back. Callers hold a permit, so the pool never holds more
    /// buffers than there are permits.
    fn with_blocks<T>(&self, count: usize, work: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
        use zeroize::Zeroize as _;
        let pooled = self.blocks.lock().ok().and_then(|mut pool| pool.pop());
        let mut buffer = pooled.unwrap_or_default();
        if buffer.len() < count {
            buffer.resize(count, argon2::Block::default());
        }
        let result = work(&mut buffer[..count]);
        // The blocks hold password-derived state: wipe them before they wait in the pool.
        buffer.iter_mut().for_each(argon2::Block::zeroize);
        // Buffers for odd (older, larger) stored parameters are not kept.
        if buffer.len() == self.params.block_count()
            && let Ok(mut pool) = self.blocks.lock()
        {
            pool.push(buffer);
        }
        result
    }

    /// Argon2id of `password` under the current parameters, as a PHC string.
    fn hash_phc(&self, password: &[u8]) -> anyhow::Result<String> {
        use argon2::password_hash::phc::{Output, ParamsString, Salt};
        let mut salt = [0u8; 16];
        fill_random(&mut salt);
        let salt = Salt::new(&salt).map_err(|e| anyhow::anyhow!("argon2 salt: {e}"))?;
        let mut out = Zeroizing::new([0u8; 32]);
        let hasher = argon2(self.params.clone());
        self.with_blocks(self.params.block_count(), |blocks| {
            hasher.hash_password_into_with_memory(password, &salt, out.as_mut(), blocks)
        })
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
        let phc = PhcHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)
                .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
            salt: Some(salt),
            hash: Some(Output::new(out.as_ref()).map_err(|e| anyhow::anyhow!("argon2: {e}"))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches a stored PHC string, under the parameters, algorithm and
    /// version the string names (hashes made under older parameters still verify). The
    /// comparison is constant-time (`Output`'s equality).
    fn verify_phc(&self, password: &[u8], phc: &str) -> anyhow::Result<bool> {
        use argon2::password_hash::phc::Output;
        let unreadable =
            |e: &dyn fmt::Display| anyhow::anyhow!("stored password hash is unreadable: {e}");
        let parsed = PhcHash::new(phc).map_err(|e| unreadable(&e))?;
        let algorithm = Algorithm::new(parsed.algorithm.as_str()).map_err(|e| unreadable(&e))?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|e| unreadable(&e))?,
            None => Version::default(),
        };
        let params = argon2::Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Err(unreadable(&"no salt or no hash"));
        };
        let mut out = Zeroizing::new(vec![0u8; expected.len()]);
        let hasher = Argon2::new(algorithm, version, params.clone());
        self.with_blocks(params.block_count(), |blocks| {
            hasher.hash_password_into_with_memory(password, salt, out.as_mut_slice(), blocks)
        })
        .map_err(|e| anyhow::anyhow!("stored password hash cannot be checked: {e}"))?;
        let computed = Output::new(out.as_slice()).map_err(|e| unreadable(&e))?;
        Ok(computed == *expected)
    }
}

impl fmt::Debug for Argon2PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2PasswordHasher")
            .field("m_cost", &self.inner.params.m_cost())
            .field("t_cost", &self.inner.params.t_cost())
            .field("p_cost", &self.inner.params.p_cost())
            .finish_non_exhaustive()
    }
}

/// The Argon2id context for some parameters.
fn argon2(params: argon2::Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Argon2PasswordHasher {
    /// Builds the hasher and computes its dummy hash (one hash at full cost).
    ///
    /// # Errors
    /// If the parameters are not valid Argon2 parameters, `max_concurrent` is 0, or the
    /// dummy hash cannot be computed.
    pub fn new(params: Argon2Params) -> anyhow::Result<Self> {
        anyhow::ensure!(params.max_concurrent > 0, "argon2 max_concurrent must be at least 1");
        let argon_params =
            argon2::Params::new(params.memory_kib, params.iterations, params.parallelism, None)
                .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let mut inner = HasherInner {
            params: argon_params,
            dummy: String::new(),
            permits: Arc::new(Semaphore::new(params.max_concurrent)),
            blocks: std::sync::Mutex::new(Vec::with_capacity(params.max_concurrent)),
        };
        let mut random = Zeroizing::new([0u8; 32]);
        fill_random(random.as_mut());
        inner.dummy = inner.hash_phc(random.as_ref()).context("argon2 dummy hash failed")?;
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Runs `work` on the blocking pool once a permit is free, in the caller's span.
    async fn run<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&HasherInner) -> anyhow::Result<T> + Send + 'static,
    {
        let permit =
            self.inner.permits.clone().acquire_owned().await.context("argon2 semaphore closed")?;
        let inner = self.inner.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let result = work(&inner);
            drop(permit);
            result
        })
        .await
        .context("argon2 task failed")?
    }
}

#[async_trait]
impl PasswordHasher for Argon2PasswordHasher {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        let password = password.clone();
        self.run(move |inner| {
            Ok(PasswordHash::from_phc(inner.hash_phc(password.expose().as_bytes())?))
        })
        .await
    }

    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> anyhow::Result<bool> {
        let password = password.clone();
        let stored = hash.map(|h| h.as_str().to_owned());
        self.run(move |inner| {
            let real = stored.is_some();
            let phc = stored.as_deref().unwrap_or(&inner.dummy);
            let matches = inner.verify_phc(password.expose().as_bytes(), phc)?;
            Ok(real && matches)
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------
// TOTP
// ---------------------------------------------------------------------------------------

/// Bytes in a TOTP secret: 160 bits, as RFC 4226 recommends (32 Base32 characters).
const TOTP_SECRET_BYTES: usize = 20;

/// RFC 6238 TOTP through totp-rs: SHA-1, 6 digits, 30-second steps, ±1 step of drift.
#[derive(Clone, Debug)]
pub struct RfcTotp {
    issuer: String,
}

impl RfcTotp {
    /// A TOTP adapter whose otpauth URLs name `issuer` (e.g. `SlugBase`).
    ///
    /// # Errors
    /// If the issuer is empty or contains `:` (the otpauth label separator).
    pub fn new(issuer: impl Into<String>) -> anyhow::Result<Self> {
        let issuer = issuer.into();
        anyhow::ensure!(!issuer.trim().is_empty(), "TOTP issuer must not be empty");
        anyhow::ensure!(!issuer.contains(':'), "TOTP issuer must not contain ':'");
        Ok(Self { issuer })
    }

    /// The totp-rs instance for a secret (and, for URLs, an account).
    fn totp(&self, secret: &TotpSecret, account: Option<&Email>) -> anyhow::Result<totp_rs::Totp> {
        let bytes = totp_rs::Secret::try_from_base32(secret.expose_base32())
            .map_err(|_| anyhow::anyhow!("TOTP secret is not Base32"))?;
        let mut builder = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_skew(1)
            .with_secret(bytes)
            .with_issuer(Some(self.issuer.as_str()));
        if let Some(account) = account {
            // `:` separates issuer and account in the otpauth label and may appear in neither;
            // an e-mail's local part may hold one. The label is only what the app displays.
            builder = builder.with_account_name(account.as_str().replace(':', "_"));
        }
        // totp-rs errors can echo the account name but never the secret.
        builder.build().map_err(|e| anyhow::anyhow!("TOTP parameters rejected: {e}"))
    }
}

impl Totp for RfcTotp {
    fn generate_secret(&self) -> TotpSecret {
        let mut bytes = Zeroizing::new([0u8; TOTP_SECRET_BYTES]);
        fill_random(bytes.as_mut());
        let secret = totp_rs::Secret::from(*bytes);
        TotpSecret::from_base32(secret.to_base32())
    }

    fn otpauth_url(&self, secret: &TotpSecret, account: &Email) -> anyhow::Result<String> {
        self.totp(secret, Some(account))?
            .to_url()
            .map_err(|e| anyhow::anyhow!("otpauth URL cannot be built: {e}"))
    }

    fn qr_png_base64(&self, secret: &TotpSecret, account: &Email) -> anyhow::Result<String> {
        self.totp(secret, Some(account))?
            .to_qr_base64()
            // The error of an over-long URL carries the URL (and so the secret): drop it.
            .map_err(|_| anyhow::anyhow!("QR code cannot be rendered"))
    }

    fn verify(&self, secret: &TotpSecret, code: &TotpCode, at: DateTime<Utc>) -> Option<TotpStep> {
        let totp = self.totp(secret, None).ok()?;
        let time = u64::try_from(at.timestamp()).ok()?;
        totp.check(code.expose(), time).map(TotpStep::new)
    }
}

// ---------------------------------------------------------------------------------------
// AES-256-GCM
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------------------

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
}

/// SHA-256 of a high-entropy bearer secret, as lower-case hex.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sha256TokenDigest;

impl TokenDigest for Sha256TokenDigest {
    fn digest(&self, token: &str) -> SecretDigest {
        SecretDigest::from_hex(to_hex(&Sha256::digest(token.as_bytes())))
    }
}

// ---------------------------------------------------------------------------------------
// Clock and randomness
// ---------------------------------------------------------------------------------------

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told otherwise (tests in any crate: step through TOTP
/// windows and attempt-limit windows). Thread-safe.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `now`.
    #[must_use]
    pub const fn new(now: DateTime<Utc>) -> Self {
        Self { now: Mutex::new(now) }
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Moves the time by `delta` (may be negative).
    pub fn advance(&self, delta: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += delta;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The operating system's CSPRNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn bytes_32(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        bytes
    }

    fn bytes_8(&self) -> [u8; 8] {
        let mut bytes = [0u8; 8];
        fill_random(&mut bytes);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_the_semaphore_allows() {
        let params = Argon2Params { max_concurrent: 2, ..Argon2Params::cheap_for_tests() };
        let hasher = Argon2PasswordHasher::new(params).unwrap();
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (hasher, active, peak) = (hasher.clone(), active.clone(), peak.clone());
                tokio::spawn(async move {
                    hasher
                        .run(move |_| {
                            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            active.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2, "peak {}", peak.load(Ordering::SeqCst));
        assert!(peak.load(Ordering::SeqCst) >= 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_of_hashes_keeps_at_most_one_block_buffer_per_permit() {
        let params = Argon2Params { max_concurrent: 2, ..Argon2Params::cheap_for_tests() };
        let hasher = Argon2PasswordHasher::new(params).unwrap();
        let stored = hasher.hash(&Password::new("pw")).await.unwrap();
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let (hasher, stored) = (hasher.clone(), stored.clone());
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        hasher.hash(&Password::new("x")).await.map(|_| true)
                    } else {
                        hasher.verify(&Password::new("pw"), Some(&stored)).await
                    }
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().unwrap());
        }
        let pooled = hasher.inner.blocks.lock().unwrap();
        assert!(!pooled.is_empty() && pooled.len() <= 2, "{} buffers", pooled.len());
        // Wiped after use: no password-derived state waits in the pool.
        let words = pooled.iter().flatten().flat_map(|b| b.as_ref().iter().copied());
        assert!(words.into_iter().all(|w| w == 0));
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crates_own_phc_functions() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = Argon2PasswordHasher::new(Argon2Params::cheap_for_tests()).unwrap();
        let reference = argon2(argon2::Params::new(8, 1, 1, None).unwrap());

        // Ours -> the crate's verifier.
        let ours = hasher.hash(&Password::new("correct horse")).await.unwrap();
        let parsed = PhcHash::new(ours.as_str()).unwrap();
        assert!(reference.verify_password(b"correct horse", &parsed).is_ok());
        assert!(reference.verify_password(b"wrong", &parsed).is_err());

        // The crate's hash (other parameters too) -> ours.
        let theirs = argon2(argon2::Params::new(16, 2, 1, None).unwrap())
            .hash_password(b"battery staple")
            .unwrap()
            .to_string();
        let theirs = PasswordHash::from_phc(theirs);
        assert!(hasher.verify(&Password::new("battery staple"), Some(&theirs)).await.unwrap());
        assert!(!hasher.verify(&Password::new("battery"), Some(&theirs)).await.unwrap());
    }
}
