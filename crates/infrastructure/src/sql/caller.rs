//! Authentication's one statement: a session or API token joined with its owner, plus a
//! scalar subquery counting the owner's unused backup codes.
//!
//! ```sql
//! SELECT "sessions"."id_hash" AS "A_id_hash", …, "users"."id" AS "B_id", …,
//!        (SELECT COUNT(*) FROM "backup_codes"
//!          WHERE "backup_codes"."user_id" = "users"."id"
//!            AND "backup_codes"."used_at" IS NULL) AS "unused_backup_codes"
//! FROM "sessions" INNER JOIN "users" ON "sessions"."user_id" = "users"."id"
//! WHERE "sessions"."id_hash" = $1
//! ```
//!
//! Nothing is cached: every request reads the database, so a deleted session or revoked
//! token fails on the very next request, on every instance.
//!
//! On SQLite (unless `sqlite_sync_reads` is off) the same statement runs on a read-only
//! `rusqlite` connection on the calling thread ([`super::sync_reads`]): rendered once per
//! credential kind ([`CallerQuery`]; only the key is bound per request), its rows decoded by
//! [`FromSqliteRow`] by column position, in the order `select_two` lists the columns. Both
//! were measured per request on the hot path (`perf`, BENCHMARKS.md): rendering the
//! statement and looking columns up by name cost more than the SQLite read itself.

use std::sync::OnceLock;

use anyhow::anyhow;
use rusqlite::Row;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query, SelectStatement, SqliteQueryBuilder, Value};
use sea_orm::{
    DbErr, EntityTrait, FromQueryResult, IdenStatic, QueryResult, QuerySelect as _,
    QueryTrait as _, Related, Select, SelectA, SelectB,
};
use slugbase_application::ports::{CallerRecord, StoreError, StoreResult};

use super::entity::{api_tokens, backup_codes, sessions, users};
use super::sync_reads::bind;
use super::users::user_from_model;
use super::{SeaOrmStore, db_err, to_u32};

/// Alias of the count column.
const UNUSED_BACKUP_CODES: &str = "unused_backup_codes";

/// One row of the statement: the credential's columns (prefixed `A_`), its owner's (`B_`),
/// and the count.
pub(crate) struct CallerRow<M> {
    credential: M,
    user: users::Model,
    unused_backup_codes: i64,
}

impl<M: FromQueryResult> FromQueryResult for CallerRow<M> {
    fn from_query_result(res: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            credential: M::from_query_result(res, SelectA.as_str())?,
            user: users::Model::from_query_result(res, SelectB.as_str())?,
            unused_backup_codes: res.try_get("", UNUSED_BACKUP_CODES)?,
        })
    }
}

impl<M: FromSqliteRow> CallerRow<M> {
    /// The row as the synchronous SQLite path reads it.
    fn from_sqlite_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let owner = M::COLUMNS;
        let count = owner + users::Model::COLUMNS;
        Ok(Self {
            credential: M::from_sqlite_row(row, 0)?,
            user: users::Model::from_sqlite_row(row, owner)?,
            unused_backup_codes: row.get(count)?,
        })
    }
}

impl<M> CallerRow<M> {
    /// The port's record, with the credential converted by `credential`.
    pub(crate) fn into_record<R>(
        self,
        credential: impl FnOnce(M) -> StoreResult<R>,
    ) -> StoreResult<CallerRecord<R>> {
        Ok(CallerRecord {
            credential: credential(self.credential)?,
            user: user_from_model(self.user)?,
            backup_codes_remaining: to_u32(self.unused_backup_codes, "backup code count")?,
        })
    }

    /// [`Self::into_record`], with a caller whose stored rows do not decode (a damaged
    /// session or token row, or its owner's) answered as no caller: its holder is signed out
    /// and signs in again, instead of every request of theirs failing with a 500. Logged with
    /// what does not decode, `what` it was (never the credential or its digest).
    pub(crate) fn into_record_or_none<R>(
        self,
        what: &str,
        credential: impl FnOnce(M) -> StoreResult<R>,
    ) -> Option<CallerRecord<R>> {
        match self.into_record(credential) {
            Ok(record) => Some(record),
            Err(error) => {
                tracing::warn!(
                    credential = what,
                    error = %error,
                    "a stored caller does not decode; its holder is answered as signed out"
                );
                None
            }
        }
    }
}

/// `(SELECT COUNT(*) FROM backup_codes WHERE user_id = users.id AND used_at IS NULL)`.
fn unused_backup_codes_of_owner() -> SelectStatement {
    Query::select()
        .expr(Expr::col((backup_codes::Entity, backup_codes::Column::UserId)).count())
        .from(backup_codes::Entity)
        .and_where(
            Expr::col((backup_codes::Entity, backup_codes::Column::UserId))
                .equals((users::Entity, users::Column::Id)),
        )
        .and_where(Expr::col((backup_codes::Entity, backup_codes::Column::UsedAt)).is_null())
        .to_owned()
}

/// `credentials` (already filtered to one row) joined with its owner and the owner's unused
/// backup-code count, as one statement.
pub(crate) fn caller_statement<E>(credentials: Select<E>) -> SelectStatement
where
    E: EntityTrait + Related<users::Entity>,
{
    credentials
        .inner_join(users::Entity)
        .select_two_required(users::Entity)
        .expr_as(
            Expr::SubQuery(None, Box::new(unused_backup_codes_of_owner().into())),
            UNUSED_BACKUP_CODES,
        )
        .into_query()
}

/// [`caller_statement`] for one kind of credential, rendered for the synchronous SQLite
/// path the first time it runs; later lookups bind only their key.
pub(crate) struct CallerQuery {
    sql: OnceLock<String>,
}

impl CallerQuery {
    /// Not rendered yet.
    pub(crate) const fn new() -> Self {
        Self { sql: OnceLock::new() }
    }

    /// The SQL of `statement`, rendered once. The statement MUST bind exactly one value,
    /// `key` — what every later lookup binds in its place.
    fn sql(&self, statement: &SelectStatement, key: &str) -> StoreResult<&str> {
        if let Some(sql) = self.sql.get() {
            return Ok(sql);
        }
        let (sql, values) = statement.build(SqliteQueryBuilder);
        let binds_only_the_key =
            matches!(values.0.as_slice(), [Value::String(Some(v))] if v.as_str() == key);
        if !binds_only_the_key {
            return Err(StoreError::Other(anyhow!(
                "a caller statement must bind exactly its key, it binds {} values",
                values.0.len()
            )));
        }
        Ok(self.sql.get_or_init(|| sql))
    }
}

/// Runs [`caller_statement`] for `credentials(key)`, one statement: on the store's
/// synchronous SQLite path when it has one (rendered once per `query`), else through
/// sea-orm (one round trip).
pub(crate) async fn find_caller<E>(
    store: &SeaOrmStore,
    query: &CallerQuery,
    credentials: impl FnOnce(&str) -> Select<E>,
    key: &str,
) -> StoreResult<Option<CallerRow<E::Model>>>
where
    E: EntityTrait + Related<users::Entity>,
    E::Model: FromSqliteRow,
{
    if let Some(reads) = &store.sync_reads {
        let sql = match query.sql.get() {
            Some(sql) => sql.as_str(),
            None => query.sql(&caller_statement(credentials(key)), key)?,
        };
        let key = bind(Value::String(Some(key.to_owned())))?;
        return reads.query_sql(sql, std::slice::from_ref(&key), CallerRow::from_sqlite_row);
    }
    let statement = caller_statement(credentials(key));
    let statement = store.db.get_database_backend().build(&statement);
    CallerRow::find_by_statement(statement).one(store.reads()).await.map_err(db_err)
}

/// A model read from a rusqlite row of [`caller_statement`], its columns from position
/// `base` on in the order the entity lists them (which is the order `select_two` selects
/// them: `Column::iter()`). The struct literals below name every field, so a column added
/// to an entity does not compile until it is read here too.
pub(crate) trait FromSqliteRow: Sized {
    /// How many columns the model has.
    const COLUMNS: usize;

    /// Reads the model's columns from position `base` on.
    fn from_sqlite_row(row: &Row<'_>, base: usize) -> rusqlite::Result<Self>;
}

impl FromSqliteRow for users::Model {
    const COLUMNS: usize = 13;

    fn from_sqlite_row(row: &Row<'_>, base: usize) -> rusqlite::Result<Self> {
        use users::Column as C;
        let at = |column: C| base + column as usize;
        Ok(Self {
            id: row.get(at(C::Id))?,
            email: row.get(at(C::Email))?,
            name: row.get(at(C::Name))?,
            password_hash: row.get(at(C::PasswordHash))?,
            oidc_provider: row.get(at(C::OidcProvider))?,
            is_admin: row.get(at(C::IsAdmin))?,
            mfa_enabled: row.get(at(C::MfaEnabled))?,
            mfa_secret: row.get(at(C::MfaSecret))?,
            mfa_enrolled_at: row.get(at(C::MfaEnrolledAt))?,
            mfa_last_totp_step: row.get(at(C::MfaLastTotpStep))?,
            created_at: row.get(at(C::CreatedAt))?,
            mfa_grace_started_at: row.get(at(C::MfaGraceStartedAt))?,
            mfa_pending_secret: row.get(at(C::MfaPendingSecret))?,
        })
    }
}

impl FromSqliteRow for sessions::Model {
    const COLUMNS: usize = 9;

    fn from_sqlite_row(row: &Row<'_>, base: usize) -> rusqlite::Result<Self> {
        use sessions::Column as C;
        let at = |column: C| base + column as usize;
        Ok(Self {
            id_hash: row.get(at(C::IdHash))?,
            user_id: row.get(at(C::UserId))?,
            kind: row.get(at(C::Kind))?,
            created_at: row.get(at(C::CreatedAt))?,
            last_seen_at: row.get(at(C::LastSeenAt))?,
            expires_at: row.get(at(C::ExpiresAt))?,
            failed_attempts: row.get(at(C::FailedAttempts))?,
            client_addr: row.get(at(C::ClientAddr))?,
            user_agent: row.get(at(C::UserAgent))?,
        })
    }
}

impl FromSqliteRow for api_tokens::Model {
    const COLUMNS: usize = 7;

    fn from_sqlite_row(row: &Row<'_>, base: usize) -> rusqlite::Result<Self> {
        use api_tokens::Column as C;
        let at = |column: C| base + column as usize;
        Ok(Self {
            id: row.get(at(C::Id))?,
            user_id: row.get(at(C::UserId))?,
            name: row.get(at(C::Name))?,
            token_hash: row.get(at(C::TokenHash))?,
            created_at: row.get(at(C::CreatedAt))?,
            last_used_at: row.get(at(C::LastUsedAt))?,
            revoked_at: row.get(at(C::RevokedAt))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ColumnTrait as _, DbBackend, Iterable as _, QueryFilter as _};

    use super::*;

    /// The decoders read column `c` at `base + c as usize`: the enum's discriminants are
    /// its iteration order, which is the order `select_two` selects the columns in (the
    /// statement test below lists them), and `COLUMNS` is their number.
    #[test]
    fn the_decoders_read_each_column_where_the_statement_selects_it() {
        for (i, c) in users::Column::iter().enumerate() {
            assert_eq!(c as usize, i, "users.{}", c.as_str());
        }
        for (i, c) in sessions::Column::iter().enumerate() {
            assert_eq!(c as usize, i, "sessions.{}", c.as_str());
        }
        for (i, c) in api_tokens::Column::iter().enumerate() {
            assert_eq!(c as usize, i, "api_tokens.{}", c.as_str());
        }
        assert_eq!(users::Model::COLUMNS, users::Column::iter().count());
        assert_eq!(sessions::Model::COLUMNS, sessions::Column::iter().count());
        assert_eq!(api_tokens::Model::COLUMNS, api_tokens::Column::iter().count());
    }

    #[test]
    fn a_caller_query_is_rendered_once_and_binds_only_its_key() {
        let query = CallerQuery::new();
        let select = |key: &str| sessions::Entity::find_by_id(key);
        let first = query.sql(&caller_statement(select("k1")), "k1").expect("render").to_owned();
        assert!(first.ends_with(r#"WHERE "sessions"."id_hash" = ?"#), "{first}");
        let again = query.sql(&caller_statement(select("k2")), "k2").expect("kept");
        assert_eq!(again, first);
        // A statement that binds more than its key is refused, not run with one value.
        let fresh = CallerQuery::new();
        let tokens = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenHash.eq("k"))
            .filter(api_tokens::Column::Name.eq("extra"));
        assert!(fresh.sql(&caller_statement(tokens), "k").is_err());
    }

    /// Scenario (f): a Bearer lookup reads the token from `ix_api_tokens_caller` alone
    /// (no descent into the `api_tokens` table), and the owner by primary key — checked
    /// with SQLite's own plan on a migrated file, through the statement the server runs.
    #[tokio::test]
    async fn a_bearer_lookup_reads_the_token_from_its_covering_index_on_sqlite() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plan.db");
        let store =
            SeaOrmStore::connect(&format!("sqlite://{}", path.display())).await.expect("open");
        store.migrate_with(slugbase_migration::up).await.expect("migrate");
        let token = |key: &str| {
            api_tokens::Entity::find()
                .filter(api_tokens::Column::TokenHash.eq(key))
                .filter(api_tokens::Column::RevokedAt.is_null())
        };
        let query = CallerQuery::new();
        let sql = query.sql(&caller_statement(token("k")), "k").expect("render");
        let conn = rusqlite::Connection::open(&path).expect("rusqlite");
        let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
        let steps: Vec<String> = plan
            .query_map(["k"], |row| row.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        let steps = steps.join("\n");
        assert!(
            steps.contains("SEARCH api_tokens USING COVERING INDEX ix_api_tokens_caller"),
            "{steps}"
        );
        assert!(steps.contains("SEARCH users USING INDEX sqlite_autoindex_users_1"), "{steps}");
    }

    #[test]
    fn a_session_its_owner_and_the_unused_codes_are_read_in_one_statement() {
        let select = sessions::Entity::find_by_id("abc");
        let sql = DbBackend::Sqlite.build(&caller_statement(select)).to_string();
        let expected = [
            r#"SELECT "sessions"."id_hash" AS "A_id_hash", "sessions"."user_id" AS "A_user_id","#,
            r#""sessions"."kind" AS "A_kind", "sessions"."created_at" AS "A_created_at","#,
            r#""sessions"."last_seen_at" AS "A_last_seen_at","#,
            r#""sessions"."expires_at" AS "A_expires_at","#,
            r#""sessions"."failed_attempts" AS "A_failed_attempts","#,
            r#""sessions"."client_addr" AS "A_client_addr","#,
            r#""sessions"."user_agent" AS "A_user_agent","#,
            r#""users"."id" AS "B_id", "users"."email" AS "B_email", "users"."name" AS "B_name","#,
            r#""users"."password_hash" AS "B_password_hash","#,
            r#""users"."oidc_provider" AS "B_oidc_provider", "users"."is_admin" AS "B_is_admin","#,
            r#""users"."mfa_enabled" AS "B_mfa_enabled", "users"."mfa_secret" AS "B_mfa_secret","#,
            r#""users"."mfa_enrolled_at" AS "B_mfa_enrolled_at","#,
            r#""users"."mfa_last_totp_step" AS "B_mfa_last_totp_step","#,
            r#""users"."created_at" AS "B_created_at","#,
            r#""users"."mfa_grace_started_at" AS "B_mfa_grace_started_at","#,
            r#""users"."mfa_pending_secret" AS "B_mfa_pending_secret","#,
            r#"(SELECT COUNT("backup_codes"."user_id") FROM "backup_codes""#,
            r#"WHERE "backup_codes"."user_id" = "users"."id""#,
            r#"AND "backup_codes"."used_at" IS NULL) AS "unused_backup_codes""#,
            r#"FROM "sessions" INNER JOIN "users" ON "sessions"."user_id" = "users"."id""#,
            r#"WHERE "sessions"."id_hash" = 'abc'"#,
        ]
        .join(" ");
        assert_eq!(sql, expected);
    }
}
