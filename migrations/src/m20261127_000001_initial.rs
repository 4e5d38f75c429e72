//! The initial schema: users with their MFA state, OIDC identities, backup codes,
//! sessions, API tokens, audit events, attempt counters and the instance set-up row.

use sea_orm_migration::prelude::*;

/// Creates every table and index (each `IF NOT EXISTS`).
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    OidcProvider,
    IsAdmin,
    MfaEnabled,
    MfaSecret,
    MfaEnrolledAt,
    MfaLastTotpStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OidcIdentities {
    Table,
    Provider,
    Subject,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BackupCodes {
    Table,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    IdHash,
    UserId,
    Kind,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    FailedAttempts,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    UserId,
    ActorId,
    Kind,
    Outcome,
    Reason,
    Proof,
    ClientAddr,
    UserAgent,
}

#[derive(DeriveIden)]
enum AttemptCounters {
    Table,
    Key,
    WindowStart,
    Failures,
    Consecutive,
}

#[derive(DeriveIden)]
enum InstanceSetup {
    Table,
    Id,
    LastSetupAt,
}

/// A `TEXT` column.
fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

/// A nullable `TEXT` column.
fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().take()
}

/// A `BIGINT` column (times: Unix milliseconds).
fn big(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

/// A nullable `BIGINT` column.
fn big_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().take()
}

/// A `BOOLEAN NOT NULL DEFAULT FALSE` column.
fn flag(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).boolean().not_null().default(false).take()
}

/// `ON DELETE CASCADE` reference from `table.user_id` to `users.id`.
fn user_fk(name: &str, table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, col)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .take()
}

/// `CREATE [UNIQUE] INDEX IF NOT EXISTS name ON table (cols)`.
fn index(
    name: &str,
    table: impl IntoIden,
    cols: impl IntoIterator<Item = &'static str>,
    unique: bool,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.if_not_exists().name(name).table(table);
    for col in cols {
        index.col(Alias::new(col));
    }
    if unique {
        index.unique();
    }
    index.take()
}

// async-trait's expansion cannot name SchemaManager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(text(Users::Id).primary_key())
                    .col(text(Users::Email))
                    .col(text(Users::Name))
                    .col(text_null(Users::PasswordHash))
                    .col(text_null(Users::OidcProvider))
                    .col(flag(Users::IsAdmin))
                    .col(flag(Users::MfaEnabled))
                    .col(text_null(Users::MfaSecret))
                    .col(big_null(Users::MfaEnrolledAt))
                    .col(big_null(Users::MfaLastTotpStep))
                    .col(big(Users::CreatedAt))
                    .take(),
            )
            .await?;
        manager.create_index(index("ux_users_email", Users::Table, ["email"], true)).await?;
        manager
            .create_index(index("ix_users_created_at", Users::Table, ["created_at", "id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OidcIdentities::Table)
                    .if_not_exists()
                    .col(text(OidcIdentities::Provider))
                    .col(text(OidcIdentities::Subject))
                    .col(text(OidcIdentities::UserId))
                    .col(big(OidcIdentities::CreatedAt))
                    .primary_key(
                        Index::create().col(OidcIdentities::Provider).col(OidcIdentities::Subject),
                    )
                    .foreign_key(&mut user_fk(
                        "fk_oidc_identities_user",
                        OidcIdentities::Table,
                        OidcIdentities::UserId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_oidc_identities_user_id",
                OidcIdentities::Table,
                ["user_id"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BackupCodes::Table)
                    .if_not_exists()
                    .col(text(BackupCodes::UserId))
                    .col(text(BackupCodes::CodeHash))
                    .col(big(BackupCodes::CreatedAt))
                    .col(big_null(BackupCodes::UsedAt))
                    .primary_key(
                        Index::create().col(BackupCodes::UserId).col(BackupCodes::CodeHash),
                    )
                    .foreign_key(&mut user_fk(
                        "fk_backup_codes_user",
                        BackupCodes::Table,
                        BackupCodes::UserId,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(text(Sessions::IdHash).primary_key())
                    .col(text(Sessions::UserId))
                    .col(text(Sessions::Kind))
                    .col(big(Sessions::CreatedAt))
                    .col(big(Sessions::LastSeenAt))
                    .col(big(Sessions::ExpiresAt))
                    .col(
                        ColumnDef::new(Sessions::FailedAttempts)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .foreign_key(&mut user_fk(
                        "fk_sessions_user",
                        Sessions::Table,
                        Sessions::UserId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("ix_sessions_user_id", Sessions::Table, ["user_id"], false))
            .await?;
        manager
            .create_index(index("ix_sessions_expires_at", Sessions::Table, ["expires_at"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .if_not_exists()
                    .col(text(ApiTokens::Id).primary_key())
                    .col(text(ApiTokens::UserId))
                    .col(text(ApiTokens::Name))
                    .col(text(ApiTokens::TokenHash))
                    .col(big(ApiTokens::CreatedAt))
                    .col(big_null(ApiTokens::LastUsedAt))
                    .col(big_null(ApiTokens::RevokedAt))
                    .foreign_key(&mut user_fk(
                        "fk_api_tokens_user",
                        ApiTokens::Table,
                        ApiTokens::UserId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("ux_api_tokens_token_hash", ApiTokens::Table, ["token_hash"], true))
            .await?;
        manager
            .create_index(index(
                "ix_api_tokens_user_id",
                ApiTokens::Table,
                ["user_id", "created_at"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big(AuditEvents::At))
                    .col(text_null(AuditEvents::UserId))
                    .col(text_null(AuditEvents::ActorId))
                    .col(text(AuditEvents::Kind))
                    .col(text(AuditEvents::Outcome))
                    .col(text_null(AuditEvents::Reason))
                    .col(text_null(AuditEvents::Proof))
                    .col(text_null(AuditEvents::ClientAddr))
                    .col(text_null(AuditEvents::UserAgent))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_audit_events_user_id",
                AuditEvents::Table,
                ["user_id", "id"],
                false,
            ))
            .await?;
        manager
            .create_index(index("ix_audit_events_kind", AuditEvents::Table, ["kind", "id"], false))
            .await?;
        manager
            .create_index(index("ix_audit_events_at", AuditEvents::Table, ["at"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AttemptCounters::Table)
                    .if_not_exists()
                    .col(text(AttemptCounters::Key).primary_key())
                    .col(big(AttemptCounters::WindowStart))
                    .col(big(AttemptCounters::Failures))
                    .col(big(AttemptCounters::Consecutive))
                    .take(),
            )
            .await?;

        // One row, id 1. Creating the first administrator updates it first, which
        // serialises concurrent set-ups on every backend (a row lock on PostgreSQL, the
        // write lock on SQLite).
        manager
            .create_table(
                Table::create()
                    .table(InstanceSetup::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(InstanceSetup::Id).integer().not_null().primary_key())
                    .col(big_null(InstanceSetup::LastSetupAt))
                    .take(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO instance_setup (id) VALUES (1) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "instance_setup",
            "attempt_counters",
            "audit_events",
            "api_tokens",
            "sessions",
            "backup_codes",
            "oidc_identities",
            "users",
        ] {
            manager.drop_table(Table::drop().table(Alias::new(table)).if_exists().take()).await?;
        }
        Ok(())
    }
}
