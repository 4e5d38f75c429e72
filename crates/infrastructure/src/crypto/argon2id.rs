//! Argon2id password hashing ([`PasswordHasher`]) on tokio's blocking pool, with a bounded
//! number of concurrent hashes, reused block buffers (wiped after the caller has its answer)
//! and a full-cost dummy hash for unknown accounts. Hashes imported from SlugBase (bcrypt,
//! [`PasswordHashKind::LegacyBcrypt`]) are verified here too ([`super::bcrypt_legacy`]), on the
//! same pool and under the same permits; new hashes are always Argon2id.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::{Algorithm, Argon2, Version};
use async_trait::async_trait;
use slugbase_application::ports::PasswordHasher;
use slugbase_domain::{Password, PasswordHash, PasswordHashKind};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::bcrypt_legacy::verify_bcrypt;
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

/// How busy an [`Argon2PasswordHasher`] is: a reading for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Load {
    /// Permits held now (hashes running or wiping their blocks).
    pub in_use: usize,
    /// Permits there are (`argon2.max_concurrent`).
    pub max: usize,
    /// Hashes and checks started since the start.
    pub started: u64,
    /// Time spent waiting for a permit since the start, in all.
    pub waited: Duration,
}

struct HasherInner {
    params: argon2::Params,
    /// A hash of a random password, computed once with the same parameters: verified when
    /// there is no stored hash, so an unknown e-mail costs the same as a wrong password.
    dummy: String,
    permits: Arc<Semaphore>,
    /// The permits there are (`max_concurrent`).
    max_concurrent: usize,
    /// Hashes and checks started (each took a permit).
    started: AtomicU64,
    /// Microseconds spent waiting for a permit, in all.
    waited_micros: AtomicU64,
    /// Argon2 block buffers for reuse, one per permit at most. Memory under a login flood is
    /// then bounded by construction (`max_concurrent` × `memory_kib`): a fresh 19 MiB buffer
    /// per hash is not given back by glibc's allocator, and RSS grew to 1.3 GiB in a flood of
    /// 200 logins (BENCHMARKS.md, scenario e). A buffer unused for [`POOL_IDLE_RELEASE`] is
    /// freed, so an idle server does not keep them (BENCHMARKS.md, idle RSS).
    blocks: std::sync::Mutex<BlockPool>,
}

/// How long a block buffer may wait in the pool unused before it is freed. Long enough that
/// steady logins reuse one (a fresh buffer costs page faults over all of its memory), short
/// enough that an idle server gives the memory back soon after a burst.
const POOL_IDLE_RELEASE: Duration = Duration::from_secs(10);

/// Every block buffer reserves at least this much address space (32 MiB + 64 KiB), though
/// only the blocks a hash uses are ever touched (resident). glibc serves allocations this
/// large from a mapping of their own, unmapped on free, and never raises its dynamic mmap
/// threshold (at most 32 MiB) for them; a 19 MiB buffer would raise it on its first free,
/// after which the next 19 MiB buffers come from malloc arenas that keep the memory
/// resident when freed. Other allocators map large blocks anyway; the extra is virtual only.
const MIN_RESERVED_BLOCKS: usize = 32 * 1024 + 64;

/// The pooled block buffers, most recently used last, each with when it was put back.
#[derive(Default)]
struct BlockPool {
    idle: Vec<(Vec<argon2::Block>, Instant)>,
    /// Whether a task that frees idle buffers is scheduled.
    releasing: bool,
}

impl BlockPool {
    /// Takes out the buffers unused since before `now - POOL_IDLE_RELEASE` (the caller drops
    /// them outside the lock) and tells when the next remaining one will be due, if any.
    fn take_expired(&mut self, now: Instant) -> (Vec<Vec<argon2::Block>>, Option<Instant>) {
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.idle)
            .into_iter()
            .partition(|(_, since)| now.saturating_duration_since(*since) >= POOL_IDLE_RELEASE);
        self.idle = kept;
        let next = self.idle.iter().map(|(_, since)| *since + POOL_IDLE_RELEASE).min();
        (expired.into_iter().map(|(buffer, _)| buffer).collect(), next)
    }
}

/// The block buffer a hash has just used. Its blocks hold password-derived state (the first
/// ones are a cheap function of the password: kept, they would let a guess skip the memory-hard
/// part), so it is wiped wherever it goes: by [`HasherInner::recycle`] into the pool, or on drop
/// if the work panicked on the way.
#[derive(Default)]
struct UsedBlocks(Option<Vec<argon2::Block>>);

impl UsedBlocks {
    /// Wipes the buffer (a full pass of volatile writes: ≈ 1 ms here, 5 % of a production
    /// verify) and hands it out.
    fn wiped(&mut self) -> Option<Vec<argon2::Block>> {
        use zeroize::Zeroize as _;
        let mut buffer = self.0.take()?;
        buffer.iter_mut().for_each(argon2::Block::zeroize);
        Some(buffer)
    }
}

impl Drop for UsedBlocks {
    fn drop(&mut self) {
        drop(self.wiped());
    }
}

impl HasherInner {
    /// Runs `work` over `count` Argon2 blocks taken from the pool (or allocated once), and
    /// leaves them in `used`, not yet wiped: the caller answers first, then
    /// [`Self::recycle`]s them. Callers hold a permit until then, so the pool never holds
    /// more buffers than there are permits.
    fn with_blocks<T>(
        &self,
        used: &mut UsedBlocks,
        count: usize,
        work: impl FnOnce(&mut [argon2::Block]) -> T,
    ) -> T {
        let pooled = self.blocks.lock().ok().and_then(|mut pool| pool.idle.pop());
        let buffer =
            pooled.map_or_else(|| Vec::with_capacity(count.max(MIN_RESERVED_BLOCKS)), |(b, _)| b);
        // Parked in `used` before the work runs, so a panic in it still wipes them.
        let buffer = used.0.insert(buffer);
        if buffer.len() < count {
            buffer.reserve_exact(count.max(MIN_RESERVED_BLOCKS) - buffer.len());
            buffer.resize(count, argon2::Block::default());
        }
        work(&mut buffer[..count])
    }

    /// Wipes a used buffer and puts it back in the pool; buffers for odd (older, larger)
    /// stored parameters are freed instead.
    fn recycle(&self, mut used: UsedBlocks) {
        let Some(buffer) = used.wiped() else { return };
        if buffer.len() == self.params.block_count()
            && let Ok(mut pool) = self.blocks.lock()
        {
            pool.idle.push((buffer, Instant::now()));
        }
    }

    /// Frees the pooled buffers that waited [`POOL_IDLE_RELEASE`] unused, now and then as
    /// the others come due, until the pool is empty. One such task at a time; it holds the
    /// hasher weakly, so a dropped hasher ends it.
    fn release_idle_buffers(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        match self.blocks.lock() {
            Ok(mut pool) if !pool.releasing && !pool.idle.is_empty() => pool.releasing = true,
            _ => return,
        }
        let hasher = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut due = Instant::now() + POOL_IDLE_RELEASE;
            loop {
                tokio::time::sleep_until(due).await;
                let Some(inner) = hasher.upgrade() else { return };
                let Ok(mut pool) = inner.blocks.lock() else { return };
                let (expired, next) = pool.take_expired(Instant::now());
                if next.is_none() {
                    pool.releasing = false;
                }
                drop(pool);
                drop(expired);
                match next {
                    Some(next) => due = next,
                    None => return,
                }
            }
        });
    }

    /// Argon2id of `password` under the current parameters, as a PHC string.
    fn hash_phc(&self, password: &[u8], used: &mut UsedBlocks) -> anyhow::Result<String> {
        use argon2::password_hash::phc::{Output, ParamsString, Salt};
        let mut salt = [0u8; 16];
        fill_random(&mut salt);
        let salt = Salt::new(&salt).map_err(|e| anyhow::anyhow!("argon2 salt: {e}"))?;
        let mut out = Zeroizing::new([0u8; 32]);
        let hasher = argon2(self.params.clone());
        self.with_blocks(used, self.params.block_count(), |blocks| {
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
    fn verify_phc(
        &self,
        password: &[u8],
        phc: &str,
        used: &mut UsedBlocks,
    ) -> anyhow::Result<bool> {
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
        self.with_blocks(used, params.block_count(), |blocks| {
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
            max_concurrent: params.max_concurrent,
            started: AtomicU64::new(0),
            waited_micros: AtomicU64::new(0),
            blocks: std::sync::Mutex::new(BlockPool::default()),
        };
        let mut random = Zeroizing::new([0u8; 32]);
        fill_random(random.as_mut());
        // The dummy's buffer is wiped and freed, not pooled: the first login allocates one,
        // and until then an idle server does not hold `memory_kib` for nothing.
        inner.dummy = inner
            .hash_phc(random.as_ref(), &mut UsedBlocks::default())
            .context("argon2 dummy hash failed")?;
        Ok(Self { inner: Arc::new(inner) })
    }

    /// How busy the hasher is, for metrics.
    #[must_use]
    pub fn load(&self) -> Argon2Load {
        let inner = &self.inner;
        Argon2Load {
            in_use: inner.max_concurrent.saturating_sub(inner.permits.available_permits()),
            max: inner.max_concurrent,
            started: inner.started.load(Ordering::Relaxed),
            waited: Duration::from_micros(inner.waited_micros.load(Ordering::Relaxed)),
        }
    }

    /// Runs `work` on the blocking pool once a permit is free, in the caller's span. The
    /// caller has the result as soon as `work` returns; the blocks it used are wiped and
    /// pooled after that, on the same thread and under the same permit, while the caller's
    /// request goes on (the wipe is not on any request's path, and the pool still holds at
    /// most one buffer per permit).
    async fn run<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&HasherInner, &mut UsedBlocks) -> anyhow::Result<T> + Send + 'static,
    {
        let asked = Instant::now();
        let permit =
            self.inner.permits.clone().acquire_owned().await.context("argon2 semaphore closed")?;
        let waited = u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.inner.waited_micros.fetch_add(waited, Ordering::Relaxed);
        self.inner.started.fetch_add(1, Ordering::Relaxed);
        let inner = self.inner.clone();
        let span = tracing::Span::current();
        let (answer, answered) = tokio::sync::oneshot::channel();
        // Not awaited: the answer comes through the channel (a panic in `work` drops the
        // sender, which the caller sees as a failed task).
        drop(tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut used = UsedBlocks::default();
            let result = work(&inner, &mut used);
            // The caller may have given up waiting: the buffer is wiped all the same.
            let _ = answer.send(result);
            inner.recycle(used);
            drop(permit);
            inner.release_idle_buffers();
        }));
        answered.await.context("argon2 task failed")?
    }
}

#[async_trait]
impl PasswordHasher for Argon2PasswordHasher {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        let password = password.clone();
        self.run(move |inner, used| {
            Ok(PasswordHash::from_phc(inner.hash_phc(password.expose().as_bytes(), used)?))
        })
        .await
    }

    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> anyhow::Result<bool> {
        let password = password.clone();
        let stored = hash.map(|h| (h.kind(), h.as_str().to_owned()));
        self.run(move |inner, used| {
            let real = stored.is_some();
            let matches = match &stored {
                Some((PasswordHashKind::LegacyBcrypt, hash)) => {
                    verify_bcrypt(password.expose().as_bytes(), hash)?
                }
                Some((PasswordHashKind::Argon2id, phc)) => {
                    inner.verify_phc(password.expose().as_bytes(), phc, used)?
                }
                // Unknown account: the dummy Argon2id hash, at full cost.
                None => inner.verify_phc(password.expose().as_bytes(), &inner.dummy, used)?,
            };
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
                        .run(move |_, _| {
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

    fn pooled(hasher: &Argon2PasswordHasher) -> usize {
        hasher.inner.blocks.lock().unwrap().idle.len()
    }

    /// Waits until every hash has wiped and pooled its blocks: they hold their permit until
    /// then, after their caller already has the answer.
    async fn settled(hasher: &Argon2PasswordHasher, permits: u32) {
        drop(hasher.inner.permits.acquire_many(permits).await.unwrap());
    }

    // Paused clock: the pool is released by time, not by how fast this machine hashes.
    #[tokio::test(start_paused = true)]
    async fn a_flood_of_hashes_keeps_at_most_one_block_buffer_per_permit_until_idle() {
        let params = Argon2Params { max_concurrent: 2, ..Argon2Params::cheap_for_tests() };
        let hasher = Argon2PasswordHasher::new(params).unwrap();
        // The dummy hash at start does not leave its buffer behind.
        assert_eq!(pooled(&hasher), 0);
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
        settled(&hasher, 2).await;
        {
            let pool = hasher.inner.blocks.lock().unwrap();
            let count = pool.idle.len();
            assert!((1..=2).contains(&count), "{count} buffers");
            // Wiped after use: no password-derived state waits in the pool.
            let words = pool.idle.iter().flat_map(|(b, _)| b.iter()).flat_map(|b| b.as_ref());
            assert!(words.into_iter().all(|w| *w == 0));
        }

        // Idle for the release period: every buffer is freed.
        tokio::time::sleep(POOL_IDLE_RELEASE + Duration::from_secs(1)).await;
        assert_eq!(pooled(&hasher), 0);
        // And the next hash works (and pools) again.
        assert!(hasher.verify(&Password::new("pw"), Some(&stored)).await.unwrap());
        settled(&hasher, 2).await;
        assert_eq!(pooled(&hasher), 1);
    }

    #[tokio::test]
    async fn a_hash_that_panics_is_an_error_and_its_blocks_are_not_pooled() {
        let params = Argon2Params { max_concurrent: 1, ..Argon2Params::cheap_for_tests() };
        let hasher = Argon2PasswordHasher::new(params).unwrap();
        let failed = hasher
            .run(|inner, used| -> anyhow::Result<()> {
                inner.with_blocks(used, 8, |_| panic!("a hash gone wrong"))
            })
            .await;
        assert!(failed.is_err());
        // The permit came back (the next hash runs) and the blocks were dropped, not pooled.
        settled(&hasher, 1).await;
        assert_eq!(pooled(&hasher), 0);
        let stored = hasher.hash(&Password::new("pw")).await.unwrap();
        assert!(hasher.verify(&Password::new("pw"), Some(&stored)).await.unwrap());
    }

    #[test]
    fn used_blocks_are_wiped_before_they_are_handed_back() {
        let mut block = argon2::Block::default();
        block.as_mut()[0] = 0x5eed;
        let mut used = UsedBlocks(Some(vec![block; 3]));
        let wiped = used.wiped().unwrap();
        assert_eq!(wiped.len(), 3);
        assert!(wiped.iter().flat_map(|b| b.as_ref()).all(|w| *w == 0));
        assert!(used.wiped().is_none(), "handed out once");
    }

    #[test]
    fn only_buffers_idle_for_the_release_period_are_taken_out_of_the_pool() {
        let start = Instant::now();
        let buffer = || vec![argon2::Block::default()];
        let mut pool = BlockPool::default();
        pool.idle.push((buffer(), start));
        pool.idle.push((buffer(), start + Duration::from_secs(4)));

        let (expired, next) = pool.take_expired(start + Duration::from_secs(1));
        assert!(expired.is_empty());
        assert_eq!(next, Some(start + POOL_IDLE_RELEASE));

        let (expired, next) = pool.take_expired(start + POOL_IDLE_RELEASE);
        assert_eq!(expired.len(), 1);
        assert_eq!(next, Some(start + Duration::from_secs(4) + POOL_IDLE_RELEASE));
        assert_eq!(pool.idle.len(), 1);

        let (expired, next) = pool.take_expired(start + Duration::from_secs(60));
        assert_eq!((expired.len(), next, pool.idle.len()), (1, None, 0));
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
