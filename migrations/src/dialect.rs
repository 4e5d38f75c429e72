//! What a migration must say differently per engine, in one place: every migration builds
//! its tables, columns and indexes through these helpers, so the schema stays ONE schema
//! for SQLite, PostgreSQL and MySQL/MariaDB (the schema-parity test compares all three).
//!
//! The query side (locking reads, `RETURNING`, upserts, session settings) is described in
//! `slugbase_infrastructure::sql::dialect`; this module is the schema side:
//!
//! | What                        | SQLite / PostgreSQL      | MySQL / MariaDB                           |
//! |-----------------------------|--------------------------|-------------------------------------------|
//! | text in a key or an index   | `TEXT`                   | `VARCHAR(n)` ([`Dialect::key`]): InnoDB cannot index `TEXT` without a prefix length, and a key is at most 3072 bytes (4 bytes a character in `utf8mb4`) |
//! | other text                  | `TEXT`                   | `TEXT` ([`text`])                         |
//! | text comparison             | byte-wise (`BINARY`, and PostgreSQL's deterministic collations on lower-cased e-mail) | every table `utf8mb4` with the binary no-pad collation ([`Dialect::create_table`]): the default `*_general_ci` would make `é@x.io` and `e@x.io` one e-mail, and `PAD SPACE` would ignore trailing spaces |
//! | booleans                    | `BOOLEAN`                | `BOOLEAN` = `TINYINT(1)`; sea-orm reads it as `bool` |
//! | times                       | `BIGINT` Unix milliseconds on every engine: no `DATETIME`/`TIMESTAMP` time-zone or precision rules to reconcile |
//! | `CREATE INDEX IF NOT EXISTS`| native                   | MySQL's builder omits it: [`Dialect::create_index`] asks the catalogue first (MySQL DDL commits at once, so a migration cut short is re-run over what it already made) |
//! | insert-if-missing           | `ON CONFLICT … DO NOTHING` | `ON DUPLICATE KEY UPDATE pk = pk` ([`insert_if_missing`]) |
//! | transactional DDL           | yes (a failed migration rolls back) | no: each DDL statement commits; keep every step of a migration re-runnable (`IF NOT EXISTS`, [`Dialect::create_index`]) |
//! | foreign keys                | as declared              | InnoDB needs an index on the referencing column (it makes one if none exists, named after the constraint, and drops it when a later index covers the column) and the same type and collation on both sides: reference `users.id` with [`Dialect::user_id`] |

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Length of an id column on MySQL: canonical UUID text.
pub const ID_LEN: u32 = 36;
/// Length of a hex SHA-256 / HMAC-SHA-256 digest.
pub const DIGEST_LEN: u32 = 64;
/// Length of a short name (an enum's text, a kind).
pub const NAME_LEN: u32 = 64;
/// Length of an e-mail address (the domain accepts at most 254 bytes).
pub const EMAIL_LEN: u32 = 255;
/// Length of an external identifier (an OIDC `sub`, a provider name; OIDC caps `sub` at 255
/// ASCII characters).
pub const EXTERNAL_ID_LEN: u32 = 255;
/// Length of an attempt counter key (`sf:email:` + an e-mail address, `addr:` + an address).
pub const ATTEMPT_KEY_LEN: u32 = 320;

/// Table options of every MySQL/MariaDB table: InnoDB (row locks, foreign keys,
/// transactions), `utf8mb4`, and a binary collation that does not pad — so text compares
/// byte for byte as it does on SQLite and PostgreSQL.
pub const MARIADB_COLLATION: &str = "utf8mb4_nopad_bin";
/// The same for MySQL 8 (which has no `utf8mb4_nopad_bin`).
pub const MYSQL_COLLATION: &str = "utf8mb4_0900_bin";

/// The engine a migration runs on, with the helpers that depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    backend: DbBackend,
}

impl Dialect {
    /// The dialect of the connection the migration runs on.
    #[must_use]
    pub fn of(manager: &SchemaManager<'_>) -> Self {
        Self { backend: manager.get_database_backend() }
    }

    /// Whether this is MySQL or MariaDB.
    #[must_use]
    pub fn is_mysql(self) -> bool {
        self.backend == DbBackend::MySql
    }

    /// A `NOT NULL` text column that is (part of) a key or an index: `TEXT` on SQLite and
    /// PostgreSQL, `VARCHAR(max_chars)` on MySQL/MariaDB. Choose `max_chars` as the most the
    /// application ever stores (an insert beyond it fails on MySQL only).
    #[must_use]
    pub fn key(self, col: impl IntoIden, max_chars: u32) -> ColumnDef {
        let mut def = ColumnDef::new(col);
        if self.is_mysql() {
            def.string_len(max_chars);
        } else {
            def.text();
        }
        def.not_null().take()
    }

    /// A nullable [`Self::key`] column.
    #[must_use]
    pub fn key_null(self, col: impl IntoIden, max_chars: u32) -> ColumnDef {
        let mut def = self.key(col, max_chars);
        def.null();
        def
    }

    /// A `NOT NULL` column holding a user id (`users.id`, or a column referencing it).
    #[must_use]
    pub fn user_id(self, col: impl IntoIden) -> ColumnDef {
        self.key(col, ID_LEN)
    }

    /// Creates a table (`IF NOT EXISTS` is the caller's), on MySQL/MariaDB as InnoDB with
    /// `utf8mb4` and the binary no-pad collation of the server's flavour.
    ///
    /// # Errors
    /// If the statement fails.
    pub async fn create_table(
        self,
        manager: &SchemaManager<'_>,
        mut table: TableCreateStatement,
    ) -> Result<(), DbErr> {
        if self.is_mysql() {
            let collation =
                if is_mariadb(manager).await? { MARIADB_COLLATION } else { MYSQL_COLLATION };
            table.engine("InnoDB").character_set("utf8mb4").collate(collation);
        }
        manager.create_table(table).await
    }

    /// `CREATE [UNIQUE] INDEX IF NOT EXISTS name ON table (cols)`; on MySQL/MariaDB, whose
    /// statement builder has no `IF NOT EXISTS`, the index is created only when the
    /// catalogue does not list it yet.
    ///
    /// # Errors
    /// If the statement fails.
    pub async fn create_index(
        self,
        manager: &SchemaManager<'_>,
        name: &str,
        table: &str,
        cols: &[&str],
        unique: bool,
    ) -> Result<(), DbErr> {
        if self.is_mysql() && manager.has_index(table, name).await? {
            return Ok(());
        }
        let mut index = Index::create();
        index.if_not_exists().name(name).table(Alias::new(table));
        for col in cols {
            index.col(Alias::new(*col));
        }
        if unique {
            index.unique();
        }
        manager.create_index(index).await
    }
}

/// Whether the MySQL-protocol server is MariaDB (its `VERSION()` says so).
async fn is_mariadb(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    let version = Query::select().expr_as(Func::cust("VERSION"), "v").to_owned();
    let row = manager.get_connection().query_one(&version).await?;
    let version: String = row.map(|r| r.try_get("", "v")).transpose()?.unwrap_or_default();
    Ok(version.to_ascii_lowercase().contains("mariadb"))
}

/// A `TEXT NOT NULL` column that is never part of a key or an index (see [`Dialect::key`]
/// for those).
#[must_use]
pub fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

/// A nullable [`text`] column.
#[must_use]
pub fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().take()
}

/// A `BIGINT NOT NULL` column (times: Unix milliseconds).
#[must_use]
pub fn big(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

/// A nullable `BIGINT` column.
#[must_use]
pub fn big_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().take()
}

/// A `BOOLEAN NOT NULL DEFAULT FALSE` column.
#[must_use]
pub fn flag(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).boolean().not_null().default(false).take()
}

/// Inserts `values` into `columns` of `table` unless a row with the same primary key
/// exists: `ON CONFLICT (pk) DO NOTHING` on SQLite and PostgreSQL, `ON DUPLICATE KEY UPDATE
/// pk = pk` on MySQL/MariaDB.
///
/// # Errors
/// If the statement fails.
pub async fn insert_if_missing(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    pk: &str,
    columns: &[&str],
    values: Vec<Expr>,
) -> Result<(), DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table(table)
        .columns(columns.iter().map(|c| Alias::new(*c)))
        .values(values)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(OnConflict::column(Alias::new(pk)).do_nothing_on([Alias::new(pk)]).to_owned());
    manager.get_connection().execute(&insert).await.map(|_| ())
}
