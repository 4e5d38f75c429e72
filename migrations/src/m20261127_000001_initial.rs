//! The initial schema: users with their MFA state, OIDC identities, backup codes,
//! sessions, API tokens, audit events, attempt counters and the instance set-up row.

use sea_orm_migration::prelude::*;

use crate::dialect::{
    ATTEMPT_KEY_LEN, DIGEST_LEN, Dialect, EMAIL_LEN, EXTERNAL_ID_LEN, ID_LEN, NAME_LEN, big,
    big_null, flag, insert_if_missing, text, text_null,
};

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

// async-trait's expansion cannot name SchemaManager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let d = Dialect::of(manager);
        d.create_table(
            manager,
            Table::create()
                .table(Users::Table)
                .if_not_exists()
                .col(d.user_id(Users::Id).primary_key())
                .col(d.key(Users::Email, EMAIL_LEN))
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
        d.create_index(manager, "ux_users_email", "users", &["email"], true).await?;
        d.create_index(manager, "ix_users_created_at", "users", &["created_at", "id"], false)
            .await?;

        d.create_table(
            manager,
            Table::create()
                .table(OidcIdentities::Table)
                .if_not_exists()
                .col(d.key(OidcIdentities::Provider, EXTERNAL_ID_LEN))
                .col(d.key(OidcIdentities::Subject, EXTERNAL_ID_LEN))
                .col(d.user_id(OidcIdentities::UserId))
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
        d.create_index(
            manager,
            "ix_oidc_identities_user_id",
            "oidc_identities",
            &["user_id"],
            false,
        )
        .await?;

        d.create_table(
            manager,
            Table::create()
                .table(BackupCodes::Table)
                .if_not_exists()
                .col(d.user_id(BackupCodes::UserId))
                .col(d.key(BackupCodes::CodeHash, DIGEST_LEN))
                .col(big(BackupCodes::CreatedAt))
                .col(big_null(BackupCodes::UsedAt))
                .primary_key(Index::create().col(BackupCodes::UserId).col(BackupCodes::CodeHash))
                .foreign_key(&mut user_fk(
                    "fk_backup_codes_user",
                    BackupCodes::Table,
                    BackupCodes::UserId,
                ))
                .take(),
        )
        .await?;

        d.create_table(
            manager,
            Table::create()
                .table(Sessions::Table)
                .if_not_exists()
                .col(d.key(Sessions::IdHash, DIGEST_LEN).primary_key())
                .col(d.user_id(Sessions::UserId))
                .col(text(Sessions::Kind))
                .col(big(Sessions::CreatedAt))
                .col(big(Sessions::LastSeenAt))
                .col(big(Sessions::ExpiresAt))
                .col(ColumnDef::new(Sessions::FailedAttempts).big_integer().not_null().default(0))
                .foreign_key(&mut user_fk("fk_sessions_user", Sessions::Table, Sessions::UserId))
                .take(),
        )
        .await?;
        d.create_index(manager, "ix_sessions_user_id", "sessions", &["user_id"], false).await?;
        d.create_index(manager, "ix_sessions_expires_at", "sessions", &["expires_at"], false)
            .await?;

        d.create_table(
            manager,
            Table::create()
                .table(ApiTokens::Table)
                .if_not_exists()
                .col(d.key(ApiTokens::Id, ID_LEN).primary_key())
                .col(d.user_id(ApiTokens::UserId))
                .col(text(ApiTokens::Name))
                .col(d.key(ApiTokens::TokenHash, DIGEST_LEN))
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
        d.create_index(manager, "ux_api_tokens_token_hash", "api_tokens", &["token_hash"], true)
            .await?;
        d.create_index(
            manager,
            "ix_api_tokens_user_id",
            "api_tokens",
            &["user_id", "created_at"],
            false,
        )
        .await?;

        d.create_table(
            manager,
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
                .col(d.key_null(AuditEvents::UserId, ID_LEN))
                .col(text_null(AuditEvents::ActorId))
                .col(d.key(AuditEvents::Kind, NAME_LEN))
                .col(text(AuditEvents::Outcome))
                .col(text_null(AuditEvents::Reason))
                .col(text_null(AuditEvents::Proof))
                .col(text_null(AuditEvents::ClientAddr))
                .col(text_null(AuditEvents::UserAgent))
                .take(),
        )
        .await?;
        d.create_index(
            manager,
            "ix_audit_events_user_id",
            "audit_events",
            &["user_id", "id"],
            false,
        )
        .await?;
        d.create_index(manager, "ix_audit_events_kind", "audit_events", &["kind", "id"], false)
            .await?;
        d.create_index(manager, "ix_audit_events_at", "audit_events", &["at"], false).await?;

        d.create_table(
            manager,
            Table::create()
                .table(AttemptCounters::Table)
                .if_not_exists()
                .col(d.key(AttemptCounters::Key, ATTEMPT_KEY_LEN).primary_key())
                .col(big(AttemptCounters::WindowStart))
                .col(big(AttemptCounters::Failures))
                .col(big(AttemptCounters::Consecutive))
                .take(),
        )
        .await?;

        // One row, id 1. Creating the first administrator updates it first, which
        // serialises concurrent set-ups on every backend (a row lock on PostgreSQL, the
        // write lock on SQLite).
        d.create_table(
            manager,
            Table::create()
                .table(InstanceSetup::Table)
                .if_not_exists()
                .col(ColumnDef::new(InstanceSetup::Id).integer().not_null().primary_key())
                .col(big_null(InstanceSetup::LastSetupAt))
                .take(),
        )
        .await?;
        insert_if_missing(manager, InstanceSetup::Table, "id", &["id"], vec![Expr::val(1)]).await?;
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
