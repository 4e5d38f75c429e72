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
//! `rusqlite` connection on the calling thread ([`super::sync_reads`]); its rows are decoded
//! by [`FromSqliteRow`], column for column as sea-orm decodes them.

use rusqlite::Row;
use rusqlite::types::FromSql;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query, SelectStatement};
use sea_orm::{
    DbErr, EntityTrait, FromQueryResult, IdenStatic, QueryResult, QuerySelect as _,
    QueryTrait as _, Related, Select, SelectA, SelectB,
};
use slugbase_application::ports::{CallerRecord, StoreResult};

use super::entity::{api_tokens, backup_codes, sessions, users};
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
        Ok(Self {
            credential: M::from_sqlite_row(row, SelectA.as_str())?,
            user: users::Model::from_sqlite_row(row, SelectB.as_str())?,
            unused_backup_codes: row.get(UNUSED_BACKUP_CODES)?,
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

/// Runs [`caller_statement`], one statement: on the store's synchronous SQLite path when it
/// has one, else through sea-orm (one round trip).
pub(crate) async fn find_caller<E>(
    store: &SeaOrmStore,
    credentials: Select<E>,
) -> StoreResult<Option<CallerRow<E::Model>>>
where
    E: EntityTrait + Related<users::Entity>,
    E::Model: FromSqliteRow,
{
    let statement = caller_statement(credentials);
    if let Some(reads) = &store.sync_reads {
        return reads.query_one(&statement, CallerRow::from_sqlite_row);
    }
    let statement = store.db.get_database_backend().build(&statement);
    CallerRow::find_by_statement(statement).one(&store.db).await.map_err(db_err)
}

/// A model read from a rusqlite row of [`caller_statement`], its columns aliased
/// `{prefix}{column}` as sea-orm's `select_two` names them. The struct literals below name
/// every field, so a column added to an entity does not compile until it is read here too.
pub(crate) trait FromSqliteRow: Sized {
    /// Reads the model's columns under `prefix`.
    fn from_sqlite_row(row: &Row<'_>, prefix: &str) -> rusqlite::Result<Self>;
}

/// Column `column` under `prefix`.
fn column<T: FromSql>(row: &Row<'_>, prefix: &str, column: impl IdenStatic) -> rusqlite::Result<T> {
    row.get(format!("{prefix}{}", column.as_str()).as_str())
}

impl FromSqliteRow for users::Model {
    fn from_sqlite_row(row: &Row<'_>, p: &str) -> rusqlite::Result<Self> {
        use users::Column as C;
        Ok(Self {
            id: column(row, p, C::Id)?,
            email: column(row, p, C::Email)?,
            name: column(row, p, C::Name)?,
            password_hash: column(row, p, C::PasswordHash)?,
            oidc_provider: column(row, p, C::OidcProvider)?,
            is_admin: column(row, p, C::IsAdmin)?,
            mfa_enabled: column(row, p, C::MfaEnabled)?,
            mfa_secret: column(row, p, C::MfaSecret)?,
            mfa_enrolled_at: column(row, p, C::MfaEnrolledAt)?,
            mfa_last_totp_step: column(row, p, C::MfaLastTotpStep)?,
            created_at: column(row, p, C::CreatedAt)?,
        })
    }
}

impl FromSqliteRow for sessions::Model {
    fn from_sqlite_row(row: &Row<'_>, p: &str) -> rusqlite::Result<Self> {
        use sessions::Column as C;
        Ok(Self {
            id_hash: column(row, p, C::IdHash)?,
            user_id: column(row, p, C::UserId)?,
            kind: column(row, p, C::Kind)?,
            created_at: column(row, p, C::CreatedAt)?,
            last_seen_at: column(row, p, C::LastSeenAt)?,
            expires_at: column(row, p, C::ExpiresAt)?,
            failed_attempts: column(row, p, C::FailedAttempts)?,
            client_addr: column(row, p, C::ClientAddr)?,
            user_agent: column(row, p, C::UserAgent)?,
        })
    }
}

impl FromSqliteRow for api_tokens::Model {
    fn from_sqlite_row(row: &Row<'_>, p: &str) -> rusqlite::Result<Self> {
        use api_tokens::Column as C;
        Ok(Self {
            id: column(row, p, C::Id)?,
            user_id: column(row, p, C::UserId)?,
            name: column(row, p, C::Name)?,
            token_hash: column(row, p, C::TokenHash)?,
            created_at: column(row, p, C::CreatedAt)?,
            last_used_at: column(row, p, C::LastUsedAt)?,
            revoked_at: column(row, p, C::RevokedAt)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    use super::*;

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
