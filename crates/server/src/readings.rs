//! The adapters' readings among the metrics: the Argon2 permits and the time waited for one,
//! the database pool's connections and the time write transactions waited to begin, and how
//! the notice outbox stands.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use slugbase_application::ports::OutboxRepository;
use slugbase_infrastructure::crypto::Argon2PasswordHasher;
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_web::metrics::Metrics;
use slugbase_web::metrics::ReadingKind::{Counter, Gauge};

/// How often the outbox's standing is read (a scrape never queries the database).
const OUTBOX_READ_EVERY: Duration = Duration::from_secs(10);

/// A count as a metric value.
#[expect(clippy::cast_precision_loss, reason = "a metric: counts far below 2^52")]
const fn float(n: u64) -> f64 {
    n as f64
}

/// Adds the Argon2 hasher's and (on SQL storage) the pool's readings.
pub(crate) fn adapters(
    metrics: &mut Metrics,
    argon2: &Arc<Argon2PasswordHasher>,
    sql: Option<SeaOrmStore>,
) {
    let hasher = Arc::clone(argon2);
    metrics.read_at_scrape(
        "argon2_permits_in_use",
        "Argon2 permits held now (hashes running)",
        Gauge,
        move || float(u64::try_from(hasher.load().in_use).unwrap_or(u64::MAX)),
    );
    let hasher = Arc::clone(argon2);
    metrics.read_at_scrape(
        "argon2_permits",
        "Argon2 permits there are (argon2.max_concurrent)",
        Gauge,
        move || float(u64::try_from(hasher.load().max).unwrap_or(u64::MAX)),
    );
    let hasher = Arc::clone(argon2);
    metrics.read_at_scrape(
        "argon2_hashes",
        "Argon2 hashes and checks started",
        Counter,
        move || float(hasher.load().started),
    );
    let hasher = Arc::clone(argon2);
    metrics.read_at_scrape(
        "argon2_permit_wait_seconds",
        "Time spent waiting for an Argon2 permit, in all",
        Counter,
        move || hasher.load().waited.as_secs_f64(),
    );
    if let Some(store) = sql {
        let pool = store.clone();
        metrics.read_at_scrape(
            "db_pool_connections",
            "Database connections open",
            Gauge,
            move || f64::from(pool.pool_load().open),
        );
        let pool = store.clone();
        metrics.read_at_scrape(
            "db_pool_connections_in_use",
            "Database connections lent out now",
            Gauge,
            move || f64::from(pool.pool_load().in_use),
        );
        let pool = store.clone();
        metrics.read_at_scrape(
            "db_write_transactions",
            "Write transactions begun",
            Counter,
            move || float(pool.pool_load().writes_begun),
        );
        metrics.read_at_scrape(
            "db_write_wait_seconds",
            "Time write transactions waited to begin (a pooled connection and, on SQLite, the \
             write lock), in all",
            Counter,
            move || store.pool_load().write_wait.as_secs_f64(),
        );
    }
}

/// The outbox's standing as last read.
#[derive(Debug)]
struct Standing {
    pending: AtomicU64,
    failed: AtomicU64,
    /// Unix milliseconds of the oldest pending notice; `i64::MIN`: none.
    oldest_pending_ms: AtomicI64,
}

/// Adds the outbox's readings and starts the task that keeps them current.
pub(crate) fn outbox(
    metrics: &mut Metrics,
    outbox: Arc<dyn OutboxRepository>,
) -> tokio::task::JoinHandle<()> {
    let standing = Arc::new(Standing {
        pending: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        oldest_pending_ms: AtomicI64::new(i64::MIN),
    });
    let read = Arc::clone(&standing);
    metrics.read_at_scrape(
        "outbox_pending",
        "Notices not sent yet (due or waiting for a retry)",
        Gauge,
        move || float(read.pending.load(Ordering::Relaxed)),
    );
    let read = Arc::clone(&standing);
    metrics.read_at_scrape("outbox_failed", "Notices given up on", Gauge, move || {
        float(read.failed.load(Ordering::Relaxed))
    });
    let read = Arc::clone(&standing);
    metrics.read_at_scrape(
        "outbox_oldest_pending_age_seconds",
        "Age of the oldest notice not sent yet (0: none)",
        Gauge,
        move || match read.oldest_pending_ms.load(Ordering::Relaxed) {
            i64::MIN => 0.0,
            oldest => {
                let age = Utc::now().timestamp_millis().saturating_sub(oldest).max(0);
                float(u64::try_from(age).unwrap_or_default()) / 1000.0
            }
        },
    );
    tokio::spawn(async move {
        loop {
            match outbox.outbox_standing().await {
                Ok(now) => {
                    standing.pending.store(now.pending, Ordering::Relaxed);
                    standing.failed.store(now.failed, Ordering::Relaxed);
                    let oldest = now.oldest_pending.map_or(i64::MIN, |at| at.timestamp_millis());
                    standing.oldest_pending_ms.store(oldest, Ordering::Relaxed);
                }
                Err(error) => tracing::warn!(%error, "cannot read the outbox for the metrics"),
            }
            tokio::time::sleep(OUTBOX_READ_EVERY).await;
        }
    })
}
