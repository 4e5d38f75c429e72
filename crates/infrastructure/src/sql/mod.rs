//! sea-orm storage for SQLite, PostgreSQL and MySQL/MariaDB: every storage port of
//! `slugbase-application` in one [`SeaOrmStore`].
//!
//! One implementation serves every backend; what differs per engine is listed, and
//! decided, in [`dialect`]. Rows are read and written through the sea-orm
//! entities in [`entity`] and statements are built with the query builder (bound
//! parameters, the right quoting and placeholders for each backend); raw SQL is left only
//! where the builder cannot say the statement, each with a comment why. Where a transaction
//! must lock a row first, PostgreSQL and MySQL take `SELECT … FOR UPDATE` (the builder's
//! `lock_exclusive`; SQLite has no row locks and needs none: its write transactions start
//! `IMMEDIATE`, holding the database's write lock).
//!
//! Authentication reads a session or API token, its owner and the owner's unused backup
//! codes in one statement (a join plus a scalar subquery, [`caller`]), on every request:
//! nothing is cached. On SQLite that statement runs on a read-only `rusqlite` connection on
//! the calling thread ([`sync_reads`]) unless [`StoreOptions::sqlite_sync_reads`] is off.
//!
//! On a SQLite file, reads that stand alone (lists, look-ups, counts, the health ping) run
//! on a pool of read-only connections of their own ([`SeaOrmStore::reads`]), writes on the
//! write pool: WAL lets readers go on while a writer holds the write lock, so a write lock
//! held for long (by another process, or writers queueing for it) fails writes with 503
//! after the busy timeout but never makes reads wait for a write connection. Each read is
//! its own transaction and sees every write committed before it (read your own writes).
//! Reads inside a write transaction stay in it. PostgreSQL and MySQL use one pool.
//!
//! Atomicity lives in the database, never in process memory:
//! - spending a TOTP step is one conditional `UPDATE … WHERE last step < :step`;
//! - spending a backup code is one conditional `UPDATE … WHERE used_at IS NULL`;
//! - confirming an enrollment is a compare-and-set on the pending secret, plus the codes,
//!   in one transaction; disabling and regenerating spend the proof and change the state in
//!   one transaction;
//! - an attempt is reserved with one conditional upsert (`INSERT … ON CONFLICT DO UPDATE
//!   … WHERE` under the limit; on MySQL, which has no such upsert, a read `FOR UPDATE` and a
//!   write in one transaction), before it is evaluated, and released with one conditional
//!   update;
//! - creating the first administrator updates the `instance_setup` row first, which
//!   serialises concurrent set-ups on every backend.
//!
//! Schema conventions (see `slugbase-migration`): ids are UUID text, times are Unix
//! milliseconds (`BIGINT`), so times round-trip with millisecond precision.

mod attempts;
mod audit;
mod caller;
mod change_effects;
pub(crate) mod dialect;
pub mod entity;
mod import;
mod listed;
mod mfa;
mod oidc;
mod outbox;
mod passkey_rows;
mod passkeys;
mod password_change;
mod rotation;
mod sessions;
mod sync_reads;
mod tokens;
mod users;
mod write_probe;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait as _, RuntimeErr, Set, SqlErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use slugbase_application::ports::{StorageHealth, StoreError, StoreResult};

#[cfg(feature = "mysql")]
use self::dialect::mysql_unavailable;
use self::dialect::{conflict_subject, is_mysql_url, migration_lock};
use self::sync_reads::SyncReads;
use self::write_probe::WriteProbe;

/// Runs every pending migration inside the transaction it is given:
/// `slugbase_migration::up`.
pub type Migrations = for<'t> fn(
    &'t DatabaseTransaction,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), sea_orm::DbErr>> + Send + 't>,
>;

/// Connection settings of a [`SeaOrmStore`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Pool size; `None`: 4 for SQLite (writes serialise anyway), 10 for PostgreSQL and
    /// MySQL. A SQLite file has two pools of this size: one for writes, one read-only.
    pub max_connections: Option<u32>,
    /// How long opening a connection may take before the database counts as unavailable.
    pub connect_timeout: Duration,
    /// How long a request may wait for a pooled connection before the database counts as
    /// unavailable.
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for the write lock before giving up.
    pub sqlite_busy_timeout: Duration,
    /// PostgreSQL and MySQL/MariaDB: longest a statement (including waiting for a row lock)
    /// may run before the server cancels it and the request fails as unavailable (on MySQL:
    /// the row-lock wait, and on MariaDB the statement too; see [`dialect`]).
    pub postgres_statement_timeout: Duration,
    /// SQLite: authenticate (the session / API token caller lookups) on read-only
    /// `rusqlite` connections on the calling thread instead of through sqlx's worker thread.
    /// Same statement, same answers; off, every read goes through sqlx.
    pub sqlite_sync_reads: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            connect_timeout: Duration::from_secs(3),
            acquire_timeout: Duration::from_secs(3),
            sqlite_busy_timeout: Duration::from_secs(5),
            postgres_statement_timeout: Duration::from_secs(30),
            sqlite_sync_reads: true,
        }
    }
}

/// A connection pool's use: a reading for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLoad {
    /// Connections open.
    pub open: u32,
    /// Connections lent out now (open, not idle).
    pub in_use: u32,
    /// Write transactions begun since the start.
    pub writes_begun: u64,
    /// Time spent waiting for them to begin, in all: for a connection from the pool and,
    /// on SQLite, for the file's write lock.
    pub write_wait: Duration,
}

/// Counts write transactions and the time each waited to begin.
#[derive(Debug, Default)]
struct WriteWaits {
    begun: AtomicU64,
    waited_nanos: AtomicU64,
}

impl WriteWaits {
    fn record(&self, waited: Duration) {
        self.begun.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.waited_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Every storage port over sea-orm connection pools (SQLite, PostgreSQL or MySQL/MariaDB).
#[derive(Clone, Debug)]
pub struct SeaOrmStore {
    /// Writes, and everything on PostgreSQL and MySQL.
    db: DatabaseConnection,
    /// Reads that stand alone: a read-only pool on a SQLite file, else the same as `db`.
    read_db: DatabaseConnection,
    /// SQLite's synchronous read path, when on (see [`sync_reads`]).
    sync_reads: Option<Arc<SyncReads>>,
    /// SQLite's write-lock probe for health (a file only).
    write_probe: Option<Arc<WriteProbe>>,
    /// The migrations the running build expects (readiness; empty: not checked).
    migrations: Arc<[String]>,
    /// How long write transactions waited to begin (metrics).
    write_waits: Arc<WriteWaits>,
}

impl SeaOrmStore {
    /// Connects with [`StoreOptions::default`]. See [`Self::connect_with`].
    ///
    /// # Errors
    /// As [`Self::connect_with`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, &StoreOptions::default()).await
    }

    /// Connects to `sqlite://path/to/file.db` (file and parent directory created if missing;
    /// WAL, foreign keys on, busy timeout, `synchronous = NORMAL`) or
    /// `postgres://user:password@host:port/database` or `mysql://user:password@host:port/database`
    /// (MySQL 8 or MariaDB 10.6+; sessions in `READ COMMITTED`). Does not migrate: call
    /// [`Self::migrate`]. On a SQLite file with [`StoreOptions::sqlite_sync_reads`], also
    /// opens the first read-only connection of the synchronous read path; if that fails,
    /// the store logs a warning and reads through sqlx only.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database cannot be reached in time;
    /// [`StoreError::Other`] for an unsupported URL or a directory that cannot be created.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let sqlite = url.starts_with("sqlite:");
        let mysql = is_mysql_url(url);
        if !sqlite && !mysql && !url.starts_with("postgres://") && !url.starts_with("postgresql://")
        {
            return Err(StoreError::Other(anyhow!(
                "unsupported database URL scheme (expected sqlite:, postgres:// or mysql://)"
            )));
        }
        if let Some(missing) = missing_driver(sqlite, mysql) {
            return Err(StoreError::Other(anyhow!(
                "this build has no {missing} driver: build with `--features {feature}` \
                 (or `all-databases`; the Dockerfile's image has every driver)",
                feature = if mysql { "mysql" } else { "postgres" },
            )));
        }
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(options.max_connections.unwrap_or(if sqlite { 4 } else { 10 }))
            .min_connections(0)
            .connect_timeout(options.connect_timeout)
            .acquire_timeout(options.acquire_timeout)
            .sqlx_logging(false);
        if mysql {
            #[cfg(feature = "mysql")]
            dialect::mysql_session(&mut opts, options.postgres_statement_timeout);
        } else if !sqlite {
            opts.statement_timeout(options.postgres_statement_timeout);
        }
        if sqlite {
            if let Some(dir) = sqlite_file(url).and_then(Path::parent)
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the database directory {}", dir.display()))
                    .map_err(StoreError::Other)?;
            }
            let busy = options.sqlite_busy_timeout;
            opts.map_sqlx_sqlite_opts(move |o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .foreign_keys(true)
                    .busy_timeout(busy)
                    .synchronous(SqliteSynchronous::Normal)
            });
        }
        let read_opts = opts.clone();
        let db = Database::connect(opts).await.map_err(db_err)?;
        let file = if sqlite { sqlite_file(url) } else { None };
        let read_db = match file {
            Some(_) => read_pool(read_opts, options.sqlite_busy_timeout).await?,
            None => db.clone(),
        };
        let write_probe = file.map(|f| Arc::new(WriteProbe::new(f)));
        let sync_reads = if sqlite && options.sqlite_sync_reads {
            sqlite_file(url).and_then(|file| {
                SyncReads::open(file, options.sqlite_busy_timeout)
                    .map_err(|error| {
                        tracing::warn!(%error, "SQLite synchronous reads unavailable; using sqlx");
                    })
                    .ok()
            })
        } else {
            None
        };
        Ok(Self {
            db,
            read_db,
            sync_reads: sync_reads.map(Arc::new),
            write_probe,
            migrations: Arc::from([]),
            write_waits: Arc::default(),
        })
    }

    /// This store, knowing the migrations the running build expects (`slugbase_migration::names`):
    /// [`StorageHealth::pending_migrations`] then names the ones the database lacks.
    #[must_use]
    pub fn expecting_migrations(self, names: Vec<String>) -> Self {
        Self { migrations: names.into(), ..self }
    }

    /// The connection pool's use now, for metrics (the read-only pool of a SQLite file
    /// not counted).
    #[must_use]
    pub fn pool_load(&self) -> PoolLoad {
        let (open, idle) = match self.db.get_database_backend() {
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            #[cfg(feature = "postgres")]
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            #[cfg(feature = "mysql")]
            DbBackend::MySql => {
                let pool = self.db.get_mysql_connection_pool();
                (pool.size(), pool.num_idle())
            }
            #[allow(unreachable_patterns, reason = "a backend whose driver this build leaves out")]
            _ => (0, 0),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        PoolLoad {
            open,
            in_use: open.saturating_sub(idle),
            writes_begun: self.write_waits.begun.load(Ordering::Relaxed),
            write_wait: Duration::from_nanos(self.write_waits.waited_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Whether the caller lookups run on the synchronous SQLite read path.
    #[must_use]
    pub const fn reads_synchronously(&self) -> bool {
        self.sync_reads.is_some()
    }

    /// Applies every pending migration of `up` (`slugbase_migration::up` — passed in, so
    /// this crate need not wait for the migration crate to build); a no-op on an up-to-date
    /// database. Safe when several
    /// instances start at once: migrations run inside one write transaction (`IMMEDIATE` on
    /// SQLite, under a transaction-scoped advisory lock on PostgreSQL, under a named lock on
    /// MySQL — whose DDL commits at once, so there a migration cut short is not rolled
    /// back), so they run one after the other and the later ones find nothing to do.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database cannot be reached; [`StoreError::Other`]
    /// if a migration fails.
    pub async fn migrate_with(&self, up: Migrations) -> StoreResult<()> {
        let tx = self.begin_write().await?;
        migration_lock(&tx, true).await.map_err(db_err)?;
        let migrated = up(&tx).await;
        // MySQL's lock belongs to the connection, not the transaction: give it back before
        // the connection goes back to the pool, whatever the outcome.
        let released = migration_lock(&tx, false).await;
        migrated.and(released).map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    /// The underlying connection (for tools and tests).
    #[must_use]
    pub const fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Where a read that stands alone runs: the read-only pool on a SQLite file (never
    /// waiting for a write connection), the one pool elsewhere.
    pub(crate) const fn reads(&self) -> &DatabaseConnection {
        &self.read_db
    }

    /// Which database this store talks to.
    #[must_use]
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Closes the pool.
    ///
    /// # Errors
    /// If closing fails.
    pub async fn close(self) -> StoreResult<()> {
        let separate_reads = self.write_probe.is_some();
        if separate_reads {
            self.read_db.close().await.map_err(db_err)?;
        }
        self.db.close().await.map_err(db_err)
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (takes the write lock at
    /// once, so two writers never deadlock upgrading read locks), `BEGIN` on PostgreSQL and
    /// MySQL (both `READ COMMITTED`).
    async fn begin_write(&self) -> StoreResult<DatabaseTransaction> {
        let asked = std::time::Instant::now();
        let tx = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(db_err)?;
        self.write_waits.record(asked.elapsed());
        Ok(tx)
    }
}

/// The server database a URL names whose driver this build leaves out (the `postgres` and
/// `mysql` features; SQLite's driver is always in).
const fn missing_driver(sqlite: bool, mysql: bool) -> Option<&'static str> {
    if sqlite {
        None
    } else if mysql {
        if cfg!(feature = "mysql") { None } else { Some("MySQL/MariaDB") }
    } else if cfg!(feature = "postgres") {
        None
    } else {
        Some("PostgreSQL")
    }
}

/// The read-only pool of a SQLite file: the write pool's pool settings, on connections
/// opened read-only (no journal-mode or other pragma that would write; the file is in WAL
/// since the write pool's first connection set it).
async fn read_pool(mut opts: ConnectOptions, busy: Duration) -> StoreResult<DatabaseConnection> {
    opts.map_sqlx_sqlite_opts(move |o| {
        o.read_only(true).create_if_missing(false).busy_timeout(busy)
    });
    Database::connect(opts).await.map_err(db_err)
}

/// The file path of a `sqlite:` URL, unless it is an in-memory database.
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") || url.contains("mode=memory") {
        None
    } else {
        Some(Path::new(path))
    }
}

#[async_trait]
impl StorageHealth for SeaOrmStore {
    async fn ping(&self) -> StoreResult<()> {
        let one = Query::select().expr_as(Expr::val(1), "one").to_owned();
        self.reads().query_one(&one).await.map(|_| ()).map_err(db_err)
    }

    async fn ping_writes(&self) -> StoreResult<()> {
        match &self.write_probe {
            Some(probe) => probe.check().await,
            None => Ok(()),
        }
    }

    async fn pending_migrations(&self) -> StoreResult<Vec<String>> {
        if self.migrations.is_empty() {
            return Ok(Vec::new());
        }
        // sea-orm-migration's own table: one row per applied migration, by name.
        let applied = Query::select()
            .column(Alias::new("version"))
            .from(Alias::new("seaql_migrations"))
            .to_owned();
        let rows = self.reads().query_all(&applied).await.map_err(db_err)?;
        let applied = rows
            .iter()
            .map(|row| row.try_get::<String>("", "version"))
            .collect::<Result<std::collections::HashSet<_>, _>>()
            .map_err(db_err)?;
        Ok(self.migrations.iter().filter(|name| !applied.contains(*name)).cloned().collect())
    }
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the repositories
// ---------------------------------------------------------------------------------------

/// Maps a sea-orm error onto the port's error: connection, pool and timeout problems are
/// [`StoreError::Unavailable`], uniqueness violations [`StoreError::Conflict`], anything
/// else [`StoreError::Other`].
pub(crate) fn db_err(err: DbErr) -> StoreError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
        return StoreError::Conflict(conflict_rule(conflict_subject(&message)));
    }
    let unavailable = match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unavailable(e)
        }
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(anyhow::Error::new(err).context("database unavailable"))
    } else {
        StoreError::Other(anyhow::Error::new(err).context("database error"))
    }
}

/// Whether a driver error means "cannot reach the database now" rather than a bug.
fn sqlx_unavailable(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6) with their extended codes, after
            // the busy timeout ran out. PostgreSQL: class 08 (connection exception),
            // 53300 too many connections, 57014 statement timeout, 57P01-57P03 shutdown /
            // cannot connect now.
            if db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() {
                return code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
            }
            #[cfg(feature = "mysql")]
            if let Some(mysql) = db.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
                return mysql_unavailable(mysql.number());
            }
            code.starts_with("08")
                || matches!(code.as_ref(), "53300" | "57014" | "57P01" | "57P02" | "57P03")
        }
        _ => false,
    }
}

/// Names the uniqueness rule a driver message reports (SQLite names `table.column`,
/// PostgreSQL the constraint, MySQL the index after the duplicate value).
fn conflict_rule(message: &str) -> &'static str {
    const RULES: [(&str, &str); 7] = [
        ("email", "users.email"),
        ("passkeys", "passkeys.credential_id"),
        ("token_hash", "api_tokens.token_hash"),
        ("api_tokens", "api_tokens.id"),
        ("backup_codes", "backup_codes.code_hash"),
        ("sessions", "sessions.id_hash"),
        ("users", "users.id"),
    ];
    RULES
        .iter()
        .find(|(needle, _)| message.contains(needle))
        .map_or("unique constraint", |(_, rule)| rule)
}

/// Stored data that does not parse.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Other(anyhow!("corrupt stored data: {what}"))
}

/// A time as stored: Unix milliseconds.
pub(crate) fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored time.
pub(crate) fn from_ms(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("time out of range"))
}

/// A time truncated to what storage keeps (what a read returns).
pub(crate) fn stored_time(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// A stored nullable time.
pub(crate) fn from_ms_opt(ms: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    ms.map(from_ms).transpose()
}

/// A stored UUID.
pub(crate) fn parse_uuid(text: &str) -> StoreResult<uuid::Uuid> {
    uuid::Uuid::parse_str(text).map_err(|_| corrupt("uuid"))
}

/// A count as stored (`BIGINT`).
pub(crate) fn to_u32(n: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(n).map_err(|_| corrupt(what))
}

/// Inserts backup-code digests for a user (all unused), in one statement.
pub(crate) async fn insert_codes<C: ConnectionTrait>(
    conn: &C,
    user: &str,
    codes: &[slugbase_application::ports::SecretDigest],
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let rows = codes.iter().map(|code| entity::backup_codes::ActiveModel {
        user_id: Set(user.to_owned()),
        code_hash: Set(code.as_str().to_owned()),
        created_at: Set(to_ms(at)),
        used_at: Set(None),
    });
    entity::backup_codes::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite://data/a.db?mode=rwc"), Some(Path::new("data/a.db")));
        assert_eq!(sqlite_file("sqlite:/tmp/x/a.db"), Some(Path::new("/tmp/x/a.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }

    #[test]
    fn uniqueness_messages_name_the_rule() {
        assert_eq!(conflict_rule("UNIQUE constraint failed: users.email"), "users.email");
        assert_eq!(
            conflict_rule("duplicate key value violates unique constraint \"ux_users_email\""),
            "users.email"
        );
        assert_eq!(conflict_rule("UNIQUE constraint failed: users.id"), "users.id");
        let mysql = "Duplicate entry 'sessions@x.io' for key 'ux_users_email'";
        assert_eq!(conflict_rule(conflict_subject(mysql)), "users.email");
    }
}
