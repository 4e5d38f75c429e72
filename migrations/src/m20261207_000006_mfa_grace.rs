//! MFA policy for everyone (issue 24, item 5): `users.mfa_grace_started_at`, when a user's
//! grace period under `security.require_mfa` started (Unix ms; `NULL`: not started). Set
//! once, at the user's first sign-in while the policy requires MFA of them, by a
//! conditional update that never moves it.
//!
//! A nullable column, so existing rows need no value and older instances reading the table
//! during a rolling upgrade are unaffected.

use sea_orm_migration::prelude::*;

use crate::dialect::big_null;

/// Adds `users.mfa_grace_started_at`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    MfaGraceStartedAt,
}

// async-trait's expansion cannot name SchemaManager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Asked first: MySQL commits DDL at once, so a migration cut short is re-run over a
        // column it already added (and SQLite has no `ADD COLUMN IF NOT EXISTS`).
        if !manager.has_column("users", "mfa_grace_started_at").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(big_null(Users::MfaGraceStartedAt))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Users::Table).drop_column(Users::MfaGraceStartedAt).take(),
            )
            .await
    }
}
