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

use sea_orm::sea_query::{Expr, ExprTrait as _, Query, SelectStatement};
use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IdenStatic as _, QueryResult,
    QuerySelect as _, QueryTrait as _, Related, Select, SelectA, SelectB,
};
use slugbase_application::ports::{CallerRecord, StoreResult};

use super::entity::{backup_codes, users};
use super::users::user_from_model;
use super::{db_err, to_u32};

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

/// Runs [`caller_statement`]: one round trip.
pub(crate) async fn find_caller<E, C>(
    conn: &C,
    credentials: Select<E>,
) -> StoreResult<Option<CallerRow<E::Model>>>
where
    E: EntityTrait + Related<users::Entity>,
    C: ConnectionTrait,
{
    let statement = conn.get_database_backend().build(&caller_statement(credentials));
    CallerRow::find_by_statement(statement).one(conn).await.map_err(db_err)
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    use super::*;
    use crate::sql::entity::sessions;

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
