//! Passwordless sign-in with a passkey (issue 24): its ceremony starts before anyone is
//! known — the authenticator names the account in its answer — so a ceremony's `user_id`
//! may be empty.
//!
//! SQLite cannot relax a column's `NOT NULL`, so the table is made again. Ceremonies live
//! five minutes and nothing else refers to them: one still in progress at the upgrade is
//! dropped, and its client starts again.

use sea_orm_migration::prelude::*;

use crate::dialect::{DIGEST_LEN, Dialect, ID_LEN, NAME_LEN, big, text};

/// Remakes `webauthn_ceremonies` with a nullable `user_id`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

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

/// The table, with `user_id` nullable or not.
async fn create(manager: &SchemaManager<'_>, user_nullable: bool) -> Result<(), DbErr> {
    let d = Dialect::of(manager);
    let user = if user_nullable {
        d.key_null(WebauthnCeremonies::UserId, ID_LEN)
    } else {
        d.user_id(WebauthnCeremonies::UserId)
    };
    d.create_table(
        manager,
        Table::create()
            .table(WebauthnCeremonies::Table)
            .if_not_exists()
            .col(d.key(WebauthnCeremonies::IdHash, DIGEST_LEN).primary_key())
            .col(user)
            .col(d.key(WebauthnCeremonies::Kind, NAME_LEN))
            .col(text(WebauthnCeremonies::State))
            .col(big(WebauthnCeremonies::CreatedAt))
            .col(big(WebauthnCeremonies::ExpiresAt))
            .foreign_key(
                ForeignKey::create()
                    .name("fk_webauthn_ceremonies_user")
                    .from(WebauthnCeremonies::Table, WebauthnCeremonies::UserId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::Cascade)
                    .on_update(ForeignKeyAction::Cascade),
            )
            .take(),
    )
    .await?;
    let table = "webauthn_ceremonies";
    d.create_index(manager, "ix_webauthn_ceremonies_expires_at", table, &["expires_at"], false)
        .await?;
    d.create_index(manager, "ix_webauthn_ceremonies_user", table, &["user_id"], false).await
}

async fn drop(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.drop_table(Table::drop().table(WebauthnCeremonies::Table).if_exists().take()).await
}

// async-trait's expansion cannot name SchemaManager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager).await?;
        create(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager).await?;
        create(manager, false).await
    }
}
