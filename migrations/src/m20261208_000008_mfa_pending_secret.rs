//! "MFA on" means at least one factor, TOTP or a passkey (issue 24, item 3): a TOTP
//! enrolment in progress gets a column of its own, `users.mfa_pending_secret`, so an account
//! whose MFA is on with passkeys alone can begin one without losing its MFA-on state.
//!
//! From here on `mfa_secret` holds only a confirmed TOTP secret (and may be `NULL` while
//! `mfa_enabled`: passkeys alone), and `mfa_pending_secret` only an unconfirmed one. A row
//! with MFA off and a secret was a pending enrolment: its secret moves to the new column,
//! in one statement that a re-run (MySQL commits DDL at once, so a migration cut short runs
//! again) finds nothing left to move.

use sea_orm_migration::prelude::*;

use crate::dialect::text_null;

/// Adds `users.mfa_pending_secret` and moves pending enrolments into it.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    MfaEnabled,
    MfaSecret,
    MfaPendingSecret,
}

// async-trait's expansion cannot name SchemaManager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager.has_column("users", "mfa_pending_secret").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(text_null(Users::MfaPendingSecret))
                        .take(),
                )
                .await?;
        }
        // MySQL assigns left to right with the values already assigned: the pending column
        // takes the old secret before the secret is cleared. PostgreSQL and SQLite read the
        // old row for every assignment; the order is right for all three.
        let moved = Query::update()
            .table(Users::Table)
            .value(Users::MfaPendingSecret, Expr::col(Users::MfaSecret))
            .value(Users::MfaSecret, Option::<String>::None)
            .and_where(Expr::col(Users::MfaEnabled).eq(false))
            .and_where(Expr::col(Users::MfaSecret).is_not_null())
            .to_owned();
        manager.exec_stmt(moved).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Back to one column: a pending enrolment of an account with MFA off returns to
        // `mfa_secret`; one begun beside passkeys alone has no place there and is dropped
        // (its owner begins again). An account with passkeys alone has no secret, which the
        // older code reads as damaged: downgrade only after turning such accounts off.
        let back = Query::update()
            .table(Users::Table)
            .value(Users::MfaSecret, Expr::col(Users::MfaPendingSecret))
            .and_where(Expr::col(Users::MfaEnabled).eq(false))
            .and_where(Expr::col(Users::MfaPendingSecret).is_not_null())
            .to_owned();
        manager.exec_stmt(back).await?;
        manager
            .alter_table(
                Table::alter().table(Users::Table).drop_column(Users::MfaPendingSecret).take(),
            )
            .await
    }
}
