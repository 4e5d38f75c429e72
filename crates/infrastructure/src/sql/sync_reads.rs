//! SQLite's synchronous read path: a few read-only `rusqlite` connections to the store's
//! database file, used on the calling thread for the authentication point reads.
//!
//! Why: a sqlx-sqlite statement is handed to that connection's worker thread and its answer
//! handed back, and that hop — not SQLite — is what a request pays (measured: one sqlx
//! round trip costs ≈ 0.26 of a whole `GET /api/version`'s capacity). The caller lookup is
//! an indexed point read of microseconds, so running it right here, blocking the actix
//! worker for those microseconds, is cheaper than any hand-off.
//!
//! Consistency: WAL is on, so each statement (autocommit) reads the newest committed
//! snapshot; a read-only connection sees every write sqlx committed before it, and nothing
//! here caches a row. Writes never go this way.
//!
//! The statements are the query builder's, rendered for SQLite (sea-query's
//! `SqliteQueryBuilder`) and bound here, so the sqlx and rusqlite paths run one definition
//! of each statement.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::anyhow;
use rusqlite::types::Value as SqliteValue;
use rusqlite::{Connection, ErrorCode, OpenFlags, Row};
use sea_orm::sea_query::Value;
use slugbase_application::ports::{StoreError, StoreResult};

/// Read-only connections kept for reuse: about one per core (actix runs one worker per
/// core, and a read holds its connection only while it runs on that worker).
fn idle_capacity() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).max(1)
}

/// Distinct statements each connection keeps prepared (the caller lookups need two).
const PREPARED_STATEMENTS: usize = 8;

/// How much of the database file each read connection maps into memory. A point read then
/// costs no `read` system call and no copy into the connection's own 2 MiB page cache: with
/// 1 000 000 users the hot index pages of the driven accounts are spread over tens of MiB,
/// and without the map every status request paid ≈ 28 `pread`s (BENCHMARKS.md, (f)). The
/// pages are the kernel's page cache, shared by every connection and reclaimable; only the
/// address space is reserved.
const MMAP_BYTES: i64 = 1 << 30;

/// A pool of read-only `rusqlite` connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct SyncReads {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    capacity: usize,
}

impl SyncReads {
    /// Opens the first connection now, so a file that cannot be read this way is known at
    /// start-up (the caller then keeps the sqlx path).
    pub(crate) fn open(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        let reads = Self {
            path: path.to_path_buf(),
            busy_timeout,
            idle: Mutex::new(Vec::new()),
            capacity: idle_capacity(),
        };
        let first = reads.connect()?;
        reads.give_back(first);
        Ok(reads)
    }

    /// Runs `sql` (rendered by sea-query's `SqliteQueryBuilder`, once and kept) with `params`,
    /// and decodes its first row, if any, with `decode`.
    pub(crate) fn query_sql<T>(
        &self,
        sql: &str,
        params: &[SqliteValue],
        decode: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Option<T>> {
        let conn = self.take()?;
        let result = run(&conn, sql, params, decode);
        self.give_back(conn);
        result.map_err(sqlite_err)
    }

    /// An idle connection, or a new one.
    fn take(&self) -> StoreResult<Connection> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    /// Keeps `conn` for the next read, unless enough are idle already.
    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.capacity {
            idle.push(conn);
        }
    }

    /// A new read-only connection (`NO_MUTEX`: a connection is used by one thread at a time,
    /// which the pool guarantees).
    fn connect(&self) -> StoreResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(sqlite_err)?;
        conn.busy_timeout(self.busy_timeout).map_err(sqlite_err)?;
        conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
        let mapped: i64 = conn
            .pragma_update_and_check(None, "mmap_size", MMAP_BYTES, |row| row.get(0))
            .map_err(sqlite_err)?;
        tracing::debug!(mapped, "SQLite read connection opened");
        Ok(conn)
    }
}

/// One statement: prepared once per connection, its first row decoded, then reset (which
/// ends the read transaction, so the next read sees newer commits).
fn run<T>(
    conn: &Connection,
    sql: &str,
    params: &[SqliteValue],
    decode: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    rows.next()?.map(decode).transpose()
}

/// A query-builder value as SQLite stores it (the schema keeps booleans as integers, times
/// as Unix milliseconds, ids as text).
pub(crate) fn bind(value: Value) -> StoreResult<SqliteValue> {
    fn int(n: Option<i64>) -> SqliteValue {
        n.map_or(SqliteValue::Null, SqliteValue::Integer)
    }
    Ok(match value {
        Value::Bool(v) => int(v.map(i64::from)),
        Value::TinyInt(v) => int(v.map(i64::from)),
        Value::SmallInt(v) => int(v.map(i64::from)),
        Value::Int(v) => int(v.map(i64::from)),
        Value::BigInt(v) => int(v),
        Value::TinyUnsigned(v) => int(v.map(i64::from)),
        Value::SmallUnsigned(v) => int(v.map(i64::from)),
        Value::Unsigned(v) => int(v.map(i64::from)),
        Value::String(v) => v.map_or(SqliteValue::Null, SqliteValue::Text),
        Value::Bytes(v) => v.map_or(SqliteValue::Null, SqliteValue::Blob),
        other => {
            return Err(StoreError::Other(anyhow!(
                "the SQLite read path binds no {other:?} (add it to `bind`)"
            )));
        }
    })
}

/// Maps a rusqlite error as [`super::db_err`] maps sqlx's: busy or locked past the busy
/// timeout, or a file that cannot be opened, is [`StoreError::Unavailable`]; anything else
/// [`StoreError::Other`].
pub(crate) fn sqlite_err(err: rusqlite::Error) -> StoreError {
    let unavailable = matches!(
        err.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::CannotOpen
                | ErrorCode::SystemIoFailure
        )
    );
    if unavailable {
        StoreError::Unavailable(anyhow::Error::new(err).context("database unavailable"))
    } else {
        StoreError::Other(anyhow::Error::new(err).context("database error"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_are_unavailable_and_other_failures_are_not() {
        let failure = |code| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".to_owned()))
        };
        let busy = failure(rusqlite::ffi::SQLITE_BUSY);
        assert!(matches!(sqlite_err(busy), StoreError::Unavailable(_)));
        let locked = failure(rusqlite::ffi::SQLITE_LOCKED);
        assert!(matches!(sqlite_err(locked), StoreError::Unavailable(_)));
        let syntax = failure(rusqlite::ffi::SQLITE_ERROR);
        assert!(matches!(sqlite_err(syntax), StoreError::Other(_)));
        assert!(matches!(sqlite_err(rusqlite::Error::QueryReturnedNoRows), StoreError::Other(_)));
    }

    #[test]
    fn values_bind_as_sqlite_stores_them() {
        assert_eq!(bind(Value::Bool(Some(true))).ok(), Some(SqliteValue::Integer(1)));
        assert_eq!(bind(Value::String(None)).ok(), Some(SqliteValue::Null));
        assert_eq!(
            bind(Value::String(Some("abc".into()))).ok(),
            Some(SqliteValue::Text("abc".into()))
        );
        assert!(bind(Value::Double(Some(1.5))).is_err());
    }

    #[test]
    fn a_missing_file_cannot_be_opened_read_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("absent.db");
        let opened = SyncReads::open(&missing, Duration::from_millis(10));
        assert!(matches!(opened, Err(StoreError::Unavailable(_))));
    }

    #[test]
    fn read_connections_map_the_file_instead_of_reading_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("mapped.db");
        rusqlite::Connection::open(&path)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x INTEGER)"))
            .expect("create the file");
        let reads = SyncReads::open(&path, Duration::from_millis(10)).expect("open");
        let conn = reads.take().expect("a connection");
        let mapped: i64 =
            conn.pragma_query_value(None, "mmap_size", |row| row.get(0)).expect("pragma");
        assert_eq!(mapped, MMAP_BYTES);
    }
}
