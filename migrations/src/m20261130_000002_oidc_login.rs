//! OIDC login (issue 13): the server-side login flows, when the provider last
//! authenticated each session's user, one subject per user and provider, and a `detail`
//! column on audit events (the provider, a trusted `amr`).

use sea_orm_migration::prelude::*;

use crate::dialect::{DIGEST_LEN, Dialect, big, text, text_null};

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

// async-trait's expansion cannot name SchemaManager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let d = Dialect::of(manager);
        // A login in progress, under the digest of the flow id only the browser's cookie
        // holds; taken (deleted) by the callback, so it is single use.
        d.create_table(
            manager,
            Table::create()
                .table(OidcFlows::Table)
                .if_not_exists()
                .col(d.key(OidcFlows::IdHash, DIGEST_LEN).primary_key())
                .col(text(OidcFlows::Provider))
                .col(text(OidcFlows::State))
                .col(text(OidcFlows::Nonce))
                .col(text(OidcFlows::PkceVerifier))
                .col(text_null(OidcFlows::ReturnTo))
                .col(big(OidcFlows::CreatedAt))
                .col(big(OidcFlows::ExpiresAt))
                .take(),
        )
        .await?;
        d.create_index(manager, "ix_oidc_flows_expires_at", "oidc_flows", &["expires_at"], false)
            .await?;

        // The provider's `auth_time` for a session signed in through it; gone with the
        // session.
        d.create_table(
            manager,
            Table::create()
                .table(OidcSessionAuth::Table)
                .if_not_exists()
                .col(d.key(OidcSessionAuth::SessionHash, DIGEST_LEN).primary_key())
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
        d.create_index(
            manager,
            "ux_oidc_identities_provider_user",
            "oidc_identities",
            &["provider", "user_id"],
            true,
        )
        .await?;

        if !manager.has_column("audit_events", "detail").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .add_column(text_null(AuditEvents::Detail))
                        .take(),
                )
                .await?;
        }
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
