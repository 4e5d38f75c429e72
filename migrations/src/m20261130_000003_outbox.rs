//! Issue 14: the notice outbox (e-mails written in the transaction of the change they
//! report, delivered by a task on every instance) and the client of each session (what
//! `GET /api/auth/sessions` shows).

use sea_orm_migration::prelude::*;

use crate::dialect::{Dialect, ID_LEN, NAME_LEN, big, big_null, text, text_null};

/// Creates `outbox` and adds `client_addr` / `user_agent` to `sessions`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    /// UUID text; also the stable part of the e-mail's `Message-ID`.
    Id,
    /// `NoticeKind::as_str`.
    Kind,
    /// The account the notice is about (no foreign key: a notice outlives its user).
    UserId,
    /// The e-mail address it goes to.
    Recipient,
    /// When the reported change happened (Unix ms).
    At,
    ClientAddr,
    UserAgent,
    /// Backup codes left (backup code used to sign in).
    CodesLeft,
    /// The token's name or the provider's (API token created, new OIDC link).
    Subject,
    /// `pending` | `sent` | `failed`.
    Status,
    /// Delivery attempts made.
    Attempts,
    /// Not before (Unix ms).
    NextAttemptAt,
    /// A sender holds the row until then (a crashed sender's rows come back after it).
    ClaimedUntil,
    LastError,
    SentAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ClientAddr,
    UserAgent,
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
                .table(Outbox::Table)
                .if_not_exists()
                .col(d.key(Outbox::Id, ID_LEN).primary_key())
                .col(text(Outbox::Kind))
                .col(text_null(Outbox::UserId))
                .col(text(Outbox::Recipient))
                .col(big(Outbox::At))
                .col(text_null(Outbox::ClientAddr))
                .col(text_null(Outbox::UserAgent))
                .col(big_null(Outbox::CodesLeft))
                .col(text_null(Outbox::Subject))
                .col(d.key(Outbox::Status, NAME_LEN))
                .col(big(Outbox::Attempts))
                .col(big(Outbox::NextAttemptAt))
                .col(big_null(Outbox::ClaimedUntil))
                .col(text_null(Outbox::LastError))
                .col(big_null(Outbox::SentAt))
                .col(big(Outbox::CreatedAt))
                .take(),
        )
        .await?;
        d.create_index(manager, "ix_outbox_due", "outbox", &["status", "next_attempt_at"], false)
            .await?;
        for (column, name) in
            [(Sessions::ClientAddr, "client_addr"), (Sessions::UserAgent, "user_agent")]
        {
            if !manager.has_column("sessions", name).await? {
                manager
                    .alter_table(
                        Table::alter().table(Sessions::Table).add_column(text_null(column)).take(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Outbox::Table).if_exists().take()).await?;
        for column in [Sessions::ClientAddr, Sessions::UserAgent] {
            manager
                .alter_table(Table::alter().table(Sessions::Table).drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
