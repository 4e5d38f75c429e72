//! OIDC login (issue 13): the server-side login flows, when the provider last
//! authenticated each session's user, one subject per user and provider, and a `detail`
//! column on audit events (the provider, a trusted `amr`).

use sea_orm_migration::prelude::*;

/// Adds the OIDC tables, the link index and `audit_events.detail`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OidcFlows {
    Table,
    IdHash,
    Provider,
    State,
    Nonce,
    PkceVerifier,
    ReturnTo,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OidcSessionAuth {
    Table,
    SessionHash,
    Provider,
    AuthTime,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    IdHash,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Detail,
}

/// A `TEXT NOT NULL` column.
fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

/// A `BIGINT NOT NULL` column (times: Unix milliseconds).
fn big(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

// async-trait's expansion cannot name SchemaManager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A login in progress, under the digest of the flow id only the browser's cookie
        // holds; taken (deleted) by the callback, so it is single use.
        manager
            .create_table(
                Table::create()
                    .table(OidcFlows::Table)
                    .if_not_exists()
                    .col(text(OidcFlows::IdHash).primary_key())
                    .col(text(OidcFlows::Provider))
                    .col(text(OidcFlows::State))
                    .col(text(OidcFlows::Nonce))
                    .col(text(OidcFlows::PkceVerifier))
                    .col(ColumnDef::new(OidcFlows::ReturnTo).text().null())
                    .col(big(OidcFlows::CreatedAt))
                    .col(big(OidcFlows::ExpiresAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_oidc_flows_expires_at")
                    .table(OidcFlows::Table)
                    .col(OidcFlows::ExpiresAt)
                    .take(),
            )
            .await?;

        // The provider's `auth_time` for a session signed in through it; gone with the
        // session.
        manager
            .create_table(
                Table::create()
                    .table(OidcSessionAuth::Table)
                    .if_not_exists()
                    .col(text(OidcSessionAuth::SessionHash).primary_key())
                    .col(text(OidcSessionAuth::Provider))
                    .col(big(OidcSessionAuth::AuthTime))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_oidc_session_auth_session")
                            .from(OidcSessionAuth::Table, OidcSessionAuth::SessionHash)
                            .to(Sessions::Table, Sessions::IdHash)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;

        // One subject per user and provider: a second link of an account is refused by the
        // database too, not only by the code that checks first.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_oidc_identities_provider_user")
                    .table(Alias::new("oidc_identities"))
                    .col(Alias::new("provider"))
                    .col(Alias::new("user_id"))
                    .unique()
                    .take(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(ColumnDef::new(AuditEvents::Detail).text().null())
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(AuditEvents::Table).drop_column(AuditEvents::Detail).take(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_oidc_identities_provider_user")
                    .table(Alias::new("oidc_identities"))
                    .to_owned(),
            )
            .await?;
        for table in ["oidc_session_auth", "oidc_flows"] {
            manager.drop_table(Table::drop().table(Alias::new(table)).if_exists().take()).await?;
        }
        Ok(())
    }
}
