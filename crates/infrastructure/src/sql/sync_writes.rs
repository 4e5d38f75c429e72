//! SQLite's synchronous write path: an MFA change's transaction run whole on one blocking
//! thread, on a read-write `rusqlite` connection, instead of statement by statement through
//! sqlx's worker thread.
//!
//! Why: through sqlx every statement of a transaction is a hop to the connection's worker
//! thread and back. A disable's transaction is about ten statements (`BEGIN IMMEDIATE`, the
//! proof spent, MFA cleared, codes deleted, the audit event, the other sessions ended, two
//! attempt counters, the notice, `COMMIT`), so about ten hops; traced at concurrency 1 they
//! were most of what the request costs beyond its Argon2id verify (BENCHMARKS.md, issue 12
//! (c)). Here the whole transaction is one hop to tokio's blocking pool.
//!
//! One definition of each transaction: the repositories write their transactions once,
//! against [`WriteTx`] and the [`Writer`] trait — either a sqlx transaction (PostgreSQL,
//! MySQL, SQLite with this path off) or a [`SyncConn`]: the same statements, built by the
//! same query builder, bound and run by rusqlite. The transactions of an MFA change only
//! write (their reads are the caller lookup before it), so [`Writer`] only executes. A
//! [`SyncConn`] answers every call at once, so the transaction's future completes on its
//! first poll; one that would wait on anything else is refused ([`WaitedOnSomethingElse`])
//! rather than blocked on. (sea-orm's own route for a foreign connection, its `proxy`
//! feature, does not compile beside `sqlx-mysql` in sea-orm 2.0.4.)
//!
//! Atomicity is SQLite's: `BEGIN IMMEDIATE` takes the write lock (waiting up to the busy
//! timeout, as sqlx's writers do — on the blocking thread, never on an actix worker), and
//! the transaction commits or rolls back whole. A connection left inside a transaction
//! (a panic, a failed `COMMIT`) is closed, not reused, which rolls it back.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use anyhow::anyhow;
use async_trait::async_trait;
use rusqlite::Connection;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, QueryTrait, Statement};
use slugbase_application::ports::{StoreError, StoreResult};

use super::db_err;
use super::sync_reads::{SyncConnections, bind, sqlite_err};

/// Where a write statement runs: the pool, a sqlx transaction, or a [`SyncConn`].
#[async_trait]
pub(crate) trait Writer: Sync {
    /// The engine the statements are built for.
    fn backend(&self) -> DbBackend;

    /// Executes `statement`; the number of rows it changed.
    async fn execute_statement(&self, statement: Statement) -> StoreResult<u64>;
}

/// Builds `statement` (an insert, update or delete of the query builder) for `conn`'s engine
/// and executes it there; the number of rows it changed.
pub(crate) async fn execute<W: Writer + ?Sized>(
    conn: &W,
    statement: &impl QueryTrait,
) -> StoreResult<u64> {
    conn.execute_statement(statement.build(conn.backend())).await
}

#[async_trait]
impl<C: ConnectionTrait> Writer for C {
    fn backend(&self) -> DbBackend {
        self.get_database_backend()
    }

    async fn execute_statement(&self, statement: Statement) -> StoreResult<u64> {
        Ok(self.execute_raw(statement).await.map_err(db_err)?.rows_affected())
    }
}

/// How a write transaction ends.
#[derive(Debug)]
pub(crate) enum Finish<T> {
    /// Commit, then answer `T`.
    Commit(T),
    /// Roll back (nothing it wrote stays), then answer `T`.
    Rollback(T),
}

/// The future of a write transaction's work.
pub(crate) type WriteFuture<'c, T> =
    Pin<Box<dyn Future<Output = StoreResult<Finish<T>>> + Send + 'c>>;

/// The connection a write transaction's work runs its statements on.
#[derive(Clone, Copy)]
pub(crate) enum WriteTx<'c> {
    /// A sqlx transaction (each statement a round trip).
    Sqlx(&'c DatabaseTransaction),
    /// A rusqlite connection inside `BEGIN IMMEDIATE` (each statement run on the spot).
    Sync(&'c SyncConn),
}

impl fmt::Debug for WriteTx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlx(_) => "WriteTx::Sqlx",
            Self::Sync(_) => "WriteTx::Sync",
        })
    }
}

#[async_trait]
impl Writer for WriteTx<'_> {
    fn backend(&self) -> DbBackend {
        match self {
            Self::Sqlx(tx) => tx.get_database_backend(),
            Self::Sync(conn) => conn.backend(),
        }
    }

    async fn execute_statement(&self, statement: Statement) -> StoreResult<u64> {
        match self {
            Self::Sqlx(tx) => tx.execute_statement(statement).await,
            Self::Sync(conn) => conn.execute_statement(statement).await,
        }
    }
}

/// A rusqlite connection inside a write transaction. Every call runs at once on the
/// calling (blocking) thread.
pub(crate) struct SyncConn {
    conn: Mutex<Connection>,
}

impl fmt::Debug for SyncConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncConn").finish_non_exhaustive()
    }
}

impl SyncConn {
    const fn new(conn: Connection) -> Self {
        Self { conn: Mutex::new(conn) }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn into_inner(self) -> Connection {
        self.conn.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Writer for SyncConn {
    fn backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    async fn execute_statement(&self, statement: Statement) -> StoreResult<u64> {
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        let params = values.into_iter().map(bind).collect::<StoreResult<Vec<_>>>()?;
        let conn = self.conn();
        let mut prepared = conn.prepare_cached(&statement.sql).map_err(sqlite_err)?;
        let changed = prepared.execute(rusqlite::params_from_iter(params)).map_err(sqlite_err)?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }
}

/// The transaction's work awaited something other than its [`SyncConn`] (which answers at
/// once): a bug in the work, refused rather than blocked on.
#[derive(Debug, thiserror::Error)]
#[error("a synchronous SQLite write transaction waited on something other than SQLite")]
pub(crate) struct WaitedOnSomethingElse;

/// The synchronous write path of one SQLite file.
#[derive(Debug)]
pub(crate) struct SyncWrites {
    connections: Arc<SyncConnections>,
}

impl SyncWrites {
    /// Writes through `connections` (read-write ones).
    pub(crate) const fn new(connections: Arc<SyncConnections>) -> Self {
        Self { connections }
    }

    /// Runs `work` in one write transaction on tokio's blocking pool: `BEGIN IMMEDIATE`, the
    /// work's statements, then `COMMIT` or `ROLLBACK` as it says. An error rolls back.
    pub(crate) async fn transaction<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(WriteTx<'c>) -> WriteFuture<'c, T> + Send + 'static,
    {
        let connections = Arc::clone(&self.connections);
        tokio::task::spawn_blocking(move || {
            let conn = connections.take()?;
            let (conn, result) = run_transaction(conn, work);
            connections.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Other(anyhow!("a SQLite write transaction panicked: {e}")))?
    }
}

/// [`SyncWrites::transaction`] on this thread, on `conn`; gives the connection back.
fn run_transaction<T, F>(conn: Connection, work: F) -> (Connection, StoreResult<T>)
where
    F: for<'c> FnOnce(WriteTx<'c>) -> WriteFuture<'c, T>,
{
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return (conn, Err(sqlite_err(e)));
    }
    let sync = SyncConn::new(conn);
    let done = {
        let mut future = work(WriteTx::Sync(&sync));
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(done) => done,
            Poll::Pending => Err(StoreError::Other(anyhow!(WaitedOnSomethingElse))),
        }
    };
    let conn = sync.into_inner();
    let (end, answer) = match done {
        Ok(Finish::Commit(t)) => ("COMMIT", Ok(t)),
        Ok(Finish::Rollback(t)) => ("ROLLBACK", Ok(t)),
        Err(e) => ("ROLLBACK", Err(e)),
    };
    let ended = conn.execute_batch(end).map_err(sqlite_err);
    (conn, ended.and(answer))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::sea_query::Query;

    use super::super::sync_reads::Access;
    use super::*;

    fn writes(dir: &tempfile::TempDir) -> (SyncWrites, std::path::PathBuf) {
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .and_then(|c| {
                c.execute_batch(
                    "PRAGMA journal_mode = WAL;
                     CREATE TABLE t (id INTEGER PRIMARY KEY, flag boolean NOT NULL, note text NULL);",
                )
            })
            .expect("create the file");
        let pool = SyncConnections::open(&path, Access::Write, Duration::from_millis(50));
        (SyncWrites::new(Arc::new(pool.expect("open"))), path)
    }

    fn count(path: &std::path::Path) -> i64 {
        let conn = Connection::open(path).expect("open");
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).expect("count")
    }

    fn insert(id: i64) -> Statement {
        let insert = Query::insert()
            .into_table("t")
            .columns(["id", "flag", "note"])
            .values_panic([id.into(), true.into(), Option::<String>::None.into()])
            .to_owned();
        DbBackend::Sqlite.build(&insert)
    }

    #[tokio::test]
    async fn a_transaction_commits_or_rolls_back_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (writes, path) = writes(&dir);
        let kept = writes
            .transaction(|tx| {
                Box::pin(async move {
                    tx.execute_statement(insert(1)).await?;
                    tx.execute_statement(insert(2)).await?;
                    Ok(Finish::Commit(7))
                })
            })
            .await;
        assert_eq!(kept.expect("committed"), 7);
        assert_eq!(count(&path), 2);

        let undone = writes
            .transaction(|tx| {
                Box::pin(async move {
                    tx.execute_statement(insert(3)).await?;
                    Ok(Finish::Rollback(()))
                })
            })
            .await;
        assert!(undone.is_ok());
        // A failing statement after a successful one: neither stays.
        let failed = writes
            .transaction(|tx| {
                Box::pin(async move {
                    tx.execute_statement(insert(4)).await?;
                    tx.execute_statement(insert(1)).await?;
                    Ok(Finish::Commit(()))
                })
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Other(_))), "{failed:?}");
        assert_eq!(count(&path), 2, "the rolled-back and the failed transactions left nothing");
    }

    #[tokio::test]
    async fn a_writer_that_cannot_get_the_lock_is_unavailable_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (writes, path) = writes(&dir);
        let holder = Connection::open(&path).expect("open");
        holder.execute_batch("BEGIN IMMEDIATE").expect("hold the write lock");
        let blocked = writes
            .transaction(|tx| {
                Box::pin(async move {
                    tx.execute_statement(insert(9)).await?;
                    Ok(Finish::Commit(()))
                })
            })
            .await;
        assert!(matches!(blocked, Err(StoreError::Unavailable(_))), "{blocked:?}");
        holder.execute_batch("ROLLBACK").expect("release");
        assert_eq!(count(&path), 0);
    }

    #[tokio::test]
    async fn work_that_waits_on_something_else_is_refused_and_rolled_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (writes, path) = writes(&dir);
        let refused = writes
            .transaction(|tx| {
                Box::pin(async move {
                    tx.execute_statement(insert(6)).await?;
                    tokio::task::yield_now().await;
                    Ok(Finish::Commit(()))
                })
            })
            .await;
        let err = refused.expect_err("refused");
        assert!(err.to_string().contains("waited on something other than SQLite"), "{err}");
        assert_eq!(count(&path), 0);
    }
}
