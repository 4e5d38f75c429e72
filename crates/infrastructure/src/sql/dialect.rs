//! Every difference between the SQL engines the adapter supports — SQLite, PostgreSQL and
//! MySQL/MariaDB — in one place. The repositories are one implementation; where an engine
//! cannot say a statement the others say, they ask [`Engine`] and take the branch named in
//! the table below. The schema side (column types, collation, indexes) is
//! `slugbase_migration::dialect`.
//!
//! | What | SQLite | PostgreSQL | MySQL / MariaDB |
//! |------|--------|------------|-----------------|
//! | URL | `sqlite://file` | `postgres://…` | `mysql://user:pw@host:3306/db` |
//! | write transaction | `BEGIN IMMEDIATE` (the database's write lock) | `BEGIN`, `READ COMMITTED` | `BEGIN`, `READ COMMITTED` (set per connection by [`mysql_session`]: InnoDB's default `REPEATABLE READ` would read a snapshot older than the lock just taken, and takes gap locks) |
//! | lock a row first | not needed (the write lock) | `SELECT … FOR UPDATE` | `SELECT … FOR UPDATE` ([`Engine::locks_rows`]) |
//! | conditional update + affected rows | yes | yes | yes: sqlx connects with `CLIENT_FOUND_ROWS`, so `rows_affected` counts matched rows, not changed ones (an update to the same value still counts) |
//! | `UPDATE … RETURNING` | yes (3.35+) | yes | no (MariaDB has `INSERT`/`DELETE … RETURNING` only): the conditional update, then a read of the row in the same transaction, under the row lock the update took ([`Engine::update_returning`]; `sessions::reserve_attempt`) |
//! | upsert with a condition | `ON CONFLICT … DO UPDATE … WHERE … RETURNING` | the same | `ON DUPLICATE KEY UPDATE` has no `WHERE` (sea-query drops it silently!) and no `RETURNING`: the attempt reservation reads the counter `FOR UPDATE`, applies `AttemptCounter::reserve` and writes it back, in one transaction ([`Engine::conditional_upsert`]; `attempts::reserve_locked`) |
//! | `UPDATE … SET a = …, b = f(a)` | `f` sees the old `a` | the same | `f` sees the NEW `a`: MySQL assigns left to right. A multi-column update must not read a column it assigned earlier in the same `SET` (`attempts::release_update` reads only `window_start`, which it never assigns, and each column itself) |
//! | insert-if-missing | `ON CONFLICT DO NOTHING` | the same | `ON DUPLICATE KEY UPDATE pk = pk` (the builder's `do_nothing_on`) |
//! | `SKIP LOCKED` | not needed (one writer) | yes | MariaDB 10.6+ / MySQL 8: yes (the builder's `lock_with_behavior`) |
//! | migrations at once from several instances | one `IMMEDIATE` transaction | `pg_advisory_xact_lock` | `GET_LOCK('slugbase.migrate')` on the migrating connection, released at the end ([`migration_lock`]); DDL is not transactional on MySQL, so every migration step must be re-runnable |
//! | statement timeout | busy timeout | `statement_timeout` | `innodb_lock_wait_timeout` (row-lock waits) and, on MariaDB, `max_statement_time`, per connection ([`mysql_session`]) |
//! | "unavailable" errors | `SQLITE_BUSY`/`LOCKED` | class 08, 53300, 57014, 57P01-03 | 1040 too many connections, 1205 lock wait timeout, 1213 deadlock, 1969 / 3024 statement timeout, 1053 / 1927 shutdown / killed ([`mysql_unavailable`]) |
//! | uniqueness message | `UNIQUE constraint failed: users.email` | the constraint's name | `Duplicate entry '…' for key 'ux_users_email'` — only the part after `for key` names the rule (the value could contain any word) |
//! | authentication read | rusqlite on the calling thread (`sync_reads`) | one statement through sqlx | one statement through sqlx |
//! | text comparison / e-mail uniqueness | byte-wise | byte-wise | byte-wise: binary no-pad collation on every table (schema side) |
//! | times | `BIGINT` Unix ms | the same | the same (no `DATETIME` precision or time-zone rules) |

use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

/// The engine behind a connection, and what it can say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Engine {
    Sqlite,
    Postgres,
    MySql,
}

impl Engine {
    /// The engine a connection (pool or transaction) talks to.
    pub(crate) fn of<C: ConnectionTrait>(conn: &C) -> Self {
        match conn.get_database_backend() {
            DbBackend::MySql => Self::MySql,
            DbBackend::Postgres => Self::Postgres,
            _ => Self::Sqlite,
        }
    }

    /// Whether a transaction must lock a row with `SELECT … FOR UPDATE` before it reads and
    /// changes it (SQLite's `IMMEDIATE` transactions hold the whole database's write lock).
    pub(crate) const fn locks_rows(self) -> bool {
        matches!(self, Self::Postgres | Self::MySql)
    }

    /// Whether `UPDATE … RETURNING` exists.
    pub(crate) const fn update_returning(self) -> bool {
        !matches!(self, Self::MySql)
    }

    /// Whether `INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING` exists.
    pub(crate) const fn conditional_upsert(self) -> bool {
        !matches!(self, Self::MySql)
    }
}

/// Whether a URL names a MySQL/MariaDB database.
pub(crate) fn is_mysql_url(url: &str) -> bool {
    url.starts_with("mysql://")
}

/// MySQL/MariaDB session settings, run on every new pooled connection: `READ COMMITTED`
/// (as PostgreSQL), a row-lock wait as long as the statement timeout, and on MariaDB the
/// statement timeout itself (`max_statement_time`; MySQL has no such setting for writes, so
/// there only the lock wait is bounded).
#[cfg(feature = "mysql")]
pub(crate) fn mysql_session(
    opts: &mut sea_orm::ConnectOptions,
    statement_timeout: std::time::Duration,
) {
    use sea_orm::sqlx::{AssertSqlSafe, Executor as _, raw_sql};

    // InnoDB counts its lock wait in whole seconds, at least one.
    let lock_wait = statement_timeout.as_secs().max(1);
    let statement = statement_timeout.as_secs_f64();
    opts.map_sqlx_mysql_pool_opts(move |pool| {
        pool.after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").await?;
                // The values are numbers formatted here, not input: safe to inline.
                let lock_wait = format!("SET SESSION innodb_lock_wait_timeout = {lock_wait}");
                conn.execute(raw_sql(AssertSqlSafe(lock_wait))).await?;
                // MariaDB only; MySQL answers "unknown system variable", which is fine.
                let statement = format!("SET SESSION max_statement_time = {statement}");
                let _ = conn.execute(raw_sql(AssertSqlSafe(statement))).await;
                Ok(())
            })
        })
    });
}

/// Name of the MySQL/MariaDB named lock every migrating instance takes.
const MIGRATION_LOCK: &str = "slugbase.migrate";

/// How long an instance waits for another one's migrations.
const MIGRATION_LOCK_WAIT_SECS: i64 = 300;

/// Takes (`take`) or releases the lock that serialises migrations across instances, on
/// `conn` (the migrating transaction's connection): `pg_advisory_xact_lock` on PostgreSQL
/// (released by the commit), `GET_LOCK` / `RELEASE_LOCK` on MySQL (a session lock: released
/// explicitly, or the pooled connection would keep it), nothing on SQLite (its `IMMEDIATE`
/// transaction already serialises them).
///
/// # Errors
/// If the statement fails, or `GET_LOCK` times out.
pub(crate) async fn migration_lock<C: ConnectionTrait>(conn: &C, take: bool) -> Result<(), DbErr> {
    let call = match (Engine::of(conn), take) {
        // Any constant shared by every instance; "slugbase" in ASCII.
        (Engine::Postgres, true) => {
            Func::cust("pg_advisory_xact_lock").arg(8_317_151_698_739_098_469_i64)
        }
        (Engine::MySql, true) => {
            Func::cust("GET_LOCK").arg(MIGRATION_LOCK).arg(MIGRATION_LOCK_WAIT_SECS)
        }
        (Engine::MySql, false) => Func::cust("RELEASE_LOCK").arg(MIGRATION_LOCK),
        _ => return Ok(()),
    };
    let select = Query::select().expr_as(Expr::from(call), "locked").to_owned();
    let row = conn.query_one(&select).await?;
    if Engine::of(conn) == Engine::MySql && take {
        let got: Option<i64> = row.map(|r| r.try_get("", "locked")).transpose()?.flatten();
        if got != Some(1) {
            return Err(DbErr::Custom(format!(
                "another instance held the migration lock for more than {MIGRATION_LOCK_WAIT_SECS} s"
            )));
        }
    }
    Ok(())
}

/// Whether a MySQL/MariaDB server error means "cannot do it now" rather than a bug: too
/// many connections (1040), shutdown (1053), lock wait timeout (1205), deadlock (1213; the
/// transaction was rolled back), connection killed (1927), statement timeout (MariaDB 1969,
/// MySQL 3024).
#[cfg(feature = "mysql")]
pub(crate) fn mysql_unavailable(number: u16) -> bool {
    matches!(number, 1040 | 1053 | 1205 | 1213 | 1927 | 1969 | 3024)
}

/// The part of a uniqueness-violation message that names the rule: MySQL's `Duplicate entry
/// '<value>' for key '<index>'` quotes the value first, which could contain any word, so
/// only what follows `for key` counts; other engines' messages name the rule only.
pub(crate) fn conflict_subject(message: &str) -> &str {
    message.rsplit_once("for key").map_or(message, |(_, key)| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_of_a_mysql_duplicate_names_the_rule() {
        assert_eq!(
            conflict_subject("Duplicate entry 'sessions@x.io' for key 'ux_users_email'"),
            " 'ux_users_email'"
        );
        assert_eq!(
            conflict_subject("UNIQUE constraint failed: users.email"),
            "UNIQUE constraint failed: users.email"
        );
    }

    #[test]
    fn mysql_cannot_update_returning_or_upsert_conditionally() {
        assert!(!Engine::MySql.update_returning());
        assert!(!Engine::MySql.conditional_upsert());
        assert!(Engine::MySql.locks_rows());
        assert!(Engine::Postgres.update_returning() && Engine::Sqlite.conditional_upsert());
        assert!(!Engine::Sqlite.locks_rows());
    }
}
