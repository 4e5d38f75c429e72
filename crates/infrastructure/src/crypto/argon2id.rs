//! Argon2id password hashing ([`PasswordHasher`]) on tokio's blocking pool, with a bounded
//! number of concurrent hashes, reused block buffers and a full-cost dummy hash for unknown
//! accounts.

use std::fmt;
use std::sync::Arc;

use anyhow::Context as _;
use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::{Algorithm, Argon2, Version};
use async_trait::async_trait;
use slugbase_application::ports::PasswordHasher;
use slugbase_domain::{Password, PasswordHash};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::random::fill_random;

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

    /// The smallest valid cost (m = 8 KiB, t = 1, p = 1): fast tests. Never for production,
    /// so it exists only in tests and under the `testing` feature.
    #[cfg(any(test, feature = "testing"))]
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
