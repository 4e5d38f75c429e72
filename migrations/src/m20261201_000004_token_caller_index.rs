//! Issue 12, scenario (f): the Bearer caller lookup reads a token by its hash through
//! `ux_api_tokens_token_hash` and then descends the `api_tokens` table for the row's other
//! columns — a second B-tree descent that, at a million tokens, is what grows most with
//! the table (`crates/bench/experiments/sqlite_caller_depth.py`, BENCHMARKS.md "(f) in
//! isolation"). `ix_api_tokens_caller` carries every column the lookup reads, so the
//! lookup is answered from the index alone.
//!
//! The unique index on `token_hash` stays: it is what keeps hashes unique. On
//! MySQL/MariaDB `name` becomes `VARCHAR(100)` first (the longest name the application
//! accepts), because InnoDB cannot index `TEXT` without a prefix; on SQLite and PostgreSQL
//! it stays `TEXT`.

use sea_orm_migration::prelude::*;

use crate::dialect::{Dialect, text};

/// Longest token name, in characters (`MAX_TOKEN_NAME_CHARS` of the application).
const TOKEN_NAME_LEN: u32 = 100;

/// The covering index of the Bearer caller lookup.
const INDEX: &str = "ix_api_tokens_caller";

/// Every column of `api_tokens`, the lookup's key first.
const COLUMNS: [&str; 7] =
    ["token_hash", "revoked_at", "id", "user_id", "name", "created_at", "last_used_at"];

/// Adds `ix_api_tokens_caller`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Name,
}

// async-trait's expansion cannot name SchemaManager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let d = Dialect::of(manager);
        if d.is_mysql() {
            // Re-runnable: MODIFY to the type the column already has changes nothing.
            let name = d.key(ApiTokens::Name, TOKEN_NAME_LEN);
            manager
                .alter_table(Table::alter().table(ApiTokens::Table).modify_column(name).take())
                .await?;
        }
        d.create_index(manager, INDEX, "api_tokens", &COLUMNS, false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(ApiTokens::Table).if_exists().to_owned())
            .await?;
        let d = Dialect::of(manager);
        if d.is_mysql() {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiTokens::Table)
                        .modify_column(text(ApiTokens::Name))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
