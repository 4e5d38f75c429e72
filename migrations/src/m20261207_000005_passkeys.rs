//! Passkeys (issue 24): registered WebAuthn credentials and the ceremonies in progress.
//!
//! A credential id may be up to 1023 bytes, more than MySQL can index as text, so a passkey
//! is unique by the SHA-256 of its credential id (`credential_key`) and keeps the id itself
//! (base64url) beside it. A ceremony's state is kept server-side under the digest of the id
//! only its client holds, and taken (deleted) by the answer: single use.

use sea_orm_migration::prelude::*;

use crate::dialect::{DIGEST_LEN, Dialect, ID_LEN, NAME_LEN, big, big_null, flag, text};

/// Adds `passkeys` and `webauthn_ceremonies`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Passkeys {
    Table,
    Id,
    UserId,
    CredentialKey,
    CredentialId,
    Passkey,
    Name,
    CreatedAt,
    LastUsedAt,
    SignCount,
    BackupEligible,
    BackupState,
}

#[derive(DeriveIden)]
enum WebauthnCeremonies {
    Table,
    IdHash,
    UserId,
    Kind,
    State,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

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
                .table(Passkeys::Table)
                .if_not_exists()
                .col(d.key(Passkeys::Id, ID_LEN).primary_key())
                .col(d.user_id(Passkeys::UserId))
                .col(d.key(Passkeys::CredentialKey, DIGEST_LEN))
                .col(text(Passkeys::CredentialId))
                .col(text(Passkeys::Passkey))
                .col(text(Passkeys::Name))
                .col(big(Passkeys::CreatedAt))
                .col(big_null(Passkeys::LastUsedAt))
                .col(big(Passkeys::SignCount))
                .col(flag(Passkeys::BackupEligible))
                .col(flag(Passkeys::BackupState))
                .foreign_key(&mut user_fk("fk_passkeys_user", Passkeys::Table, Passkeys::UserId))
                .take(),
        )
        .await?;
        d.create_index(
            manager,
            "ux_passkeys_credential_key",
            "passkeys",
            &["credential_key"],
            true,
        )
        .await?;
        d.create_index(manager, "ix_passkeys_user", "passkeys", &["user_id", "created_at"], false)
            .await?;

        d.create_table(
            manager,
            Table::create()
                .table(WebauthnCeremonies::Table)
                .if_not_exists()
                .col(d.key(WebauthnCeremonies::IdHash, DIGEST_LEN).primary_key())
                .col(d.user_id(WebauthnCeremonies::UserId))
                .col(d.key(WebauthnCeremonies::Kind, NAME_LEN))
                .col(text(WebauthnCeremonies::State))
                .col(big(WebauthnCeremonies::CreatedAt))
                .col(big(WebauthnCeremonies::ExpiresAt))
                .foreign_key(&mut user_fk(
                    "fk_webauthn_ceremonies_user",
                    WebauthnCeremonies::Table,
                    WebauthnCeremonies::UserId,
                ))
                .take(),
        )
        .await?;
        d.create_index(
            manager,
            "ix_webauthn_ceremonies_expires_at",
            "webauthn_ceremonies",
            &["expires_at"],
            false,
        )
        .await?;
        d.create_index(
            manager,
            "ix_webauthn_ceremonies_user",
            "webauthn_ceremonies",
            &["user_id"],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webauthn_ceremonies", "passkeys"] {
            manager.drop_table(Table::drop().table(Alias::new(table)).if_exists().take()).await?;
        }
        Ok(())
    }
}
