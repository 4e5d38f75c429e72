//! Importing SlugBase (issue 26): `imported_accounts`, which account an import stored for
//! which account at the source, so a re-run finds it (unique `(source, source_id)`) and
//! changes nothing. One row per imported user. No foreign key: the row outlives an account
//! deleted here (as audit events do), so a re-run reports the deletion instead of importing
//! the account again.
//!
//! The imported credentials themselves need no column of their own: a SlugBase bcrypt hash
//! sits in `users.password_hash` (recognised by its `$2a$` prefix) until the next sign-in
//! replaces it; SlugBase backup codes sit in `backup_codes.code_hash` as their unsalted
//! SHA-256 (64 hex digits, as our HMACs); API tokens were SHA-256 of the whole `sb_…` token
//! there as here, so they go into `api_tokens` as they are.

use sea_orm_migration::prelude::*;

use crate::dialect::{Dialect, EXTERNAL_ID_LEN, NAME_LEN, big};

/// Adds `imported_accounts`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ImportedAccounts {
    Table,
    UserId,
    Source,
    SourceId,
    ImportedAt,
}

// async-trait's expansion cannot name SchemaManager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let d = Dialect::of(manager);
        d.create_table(
            manager,
            Table::create()
                .table(ImportedAccounts::Table)
                .if_not_exists()
                .col(d.user_id(ImportedAccounts::UserId).primary_key())
                .col(d.key(ImportedAccounts::Source, NAME_LEN))
                .col(d.key(ImportedAccounts::SourceId, EXTERNAL_ID_LEN))
                .col(big(ImportedAccounts::ImportedAt))
                .take(),
        )
        .await?;
        d.create_index(
            manager,
            "ux_imported_accounts_source",
            "imported_accounts",
            &["source", "source_id"],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ImportedAccounts::Table).if_exists().take()).await
    }
}
