//! SQLite's write-side health check for `/api/health`: can a writer take the database's
//! write lock now?
//!
//! Reads run on their own pool (WAL: readers never wait for the writer), so a database whose
//! write lock someone else holds still answers every read — and health would say "ok"
//! while every write waits out the busy timeout and fails. The probe asks the one question
//! reads cannot: `BEGIN IMMEDIATE` on a connection of its own, waiting at most
//! [`PROBE_BUSY_TIMEOUT`], then `ROLLBACK` (nothing is written; the lock is held for
//! microseconds). One probe runs at a time. A "free" answer stands for [`PROBE_TTL`], so a
//! flood of health checks does not take the lock over and over from the service's own
//! writers; after a "held" answer, the next checks within [`PROBE_TTL`] only try without
//! waiting, so they neither queue behind one another for the lock nor miss its release.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use rusqlite::{Connection, OpenFlags};
use slugbase_application::ports::{StoreError, StoreResult};
use tokio::sync::Mutex;

use super::sync_reads::sqlite_err;

/// Longest the probe waits for the write lock: a write in progress finishes well within
/// it, a lock held for seconds does not.
const PROBE_BUSY_TIMEOUT: Duration = Duration::from_millis(250);

/// How long one probe's answer stands for the health checks that follow.
const PROBE_TTL: Duration = Duration::from_secs(1);

/// The write-lock probe of one SQLite file.
#[derive(Debug)]
pub(crate) struct WriteProbe {
    path: PathBuf,
    /// The last answer (`true`: the lock could be had) and when it was found.
    last: Mutex<Option<(Instant, bool)>>,
}

impl WriteProbe {
    pub(crate) fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), last: Mutex::new(None) }
    }

    /// `Ok` if the write lock could be had: within [`PROBE_BUSY_TIMEOUT`] (or at once,
    /// within [`PROBE_TTL`] of finding it held), or was free less than [`PROBE_TTL`] ago.
    pub(crate) async fn check(&self) -> StoreResult<()> {
        let mut last = self.last.lock().await;
        let wait = match *last {
            Some((at, true)) if at.elapsed() < PROBE_TTL => return Ok(()),
            Some((at, false)) if at.elapsed() < PROBE_TTL => Duration::ZERO,
            _ => PROBE_BUSY_TIMEOUT,
        };
        let path = self.path.clone();
        let probed = tokio::task::spawn_blocking(move || probe(&path, wait))
            .await
            .map_err(|e| StoreError::Other(anyhow!("the write probe panicked: {e}")))?;
        let writable = match probed {
            Ok(()) => true,
            Err(StoreError::Unavailable(_)) => false,
            Err(other) => return Err(other),
        };
        // A failed quick try keeps the time of the last full wait: the next full wait comes
        // [`PROBE_TTL`] after it, not never.
        if writable || wait == PROBE_BUSY_TIMEOUT {
            *last = Some((Instant::now(), writable));
        }
        if writable {
            Ok(())
        } else {
            Err(StoreError::Unavailable(anyhow!(
                "the SQLite write lock is held elsewhere (not free within {} ms)",
                PROBE_BUSY_TIMEOUT.as_millis()
            )))
        }
    }
}

/// Takes and releases the write lock once, waiting for it at most `wait`.
fn probe(path: &Path, wait: Duration) -> StoreResult<()> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(sqlite_err)?;
    conn.busy_timeout(wait).map_err(sqlite_err)?;
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_err)?;
    conn.execute_batch("ROLLBACK").map_err(sqlite_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_probe_says_whether_the_write_lock_can_be_had() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("probe.db");
        let holder = Connection::open(&path).expect("create");
        holder.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x)").expect("schema");
        let probe_of_file = WriteProbe::new(&path);
        assert!(probe_of_file.check().await.is_ok(), "free");
        holder.execute_batch("BEGIN IMMEDIATE").expect("lock");
        assert!(matches!(probe(&path, PROBE_BUSY_TIMEOUT), Err(StoreError::Unavailable(_))));
        let held = WriteProbe::new(&path);
        assert!(matches!(held.check().await, Err(StoreError::Unavailable(_))), "held");
        assert!(matches!(held.check().await, Err(StoreError::Unavailable(_))), "still held");
        holder.execute_batch("ROLLBACK").expect("unlock");
        // Right after a "held" answer, the release is seen at once.
        assert!(held.check().await.is_ok(), "free again");
    }
}
