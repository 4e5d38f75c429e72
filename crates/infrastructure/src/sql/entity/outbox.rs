//! `outbox`: e-mail notices, written in the transaction of the change they report and
//! delivered afterwards. User ids are kept without a foreign key: a notice outlives its user.

use sea_orm::entity::prelude::*;

/// One notice.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    /// UUID text (the stable part of the `Message-ID`).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    /// `NoticeKind::as_str`.
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// The account (UUID text).
    #[sea_orm(column_type = "Text", nullable)]
    pub user_id: Option<String>,
    /// The address it goes to.
    #[sea_orm(column_type = "Text")]
    pub recipient: String,
    /// When the change happened (Unix ms).
    pub at: i64,
    /// Client address of the change.
    #[sea_orm(column_type = "Text", nullable)]
    pub client_addr: Option<String>,
    /// User agent of the change.
    #[sea_orm(column_type = "Text", nullable)]
    pub user_agent: Option<String>,
    /// Backup codes left.
    pub codes_left: Option<i64>,
    /// Token or provider name.
    #[sea_orm(column_type = "Text", nullable)]
    pub subject: Option<String>,
    /// `NoticeStatus::as_str`.
    #[sea_orm(column_type = "Text")]
    pub status: String,
    /// Delivery attempts made.
    pub attempts: i64,
    /// Not before (Unix ms).
    pub next_attempt_at: i64,
    /// Held by a sender until (Unix ms).
    pub claimed_until: Option<i64>,
    /// The last failure.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// Accepted by the mail server (Unix ms).
    pub sent_at: Option<i64>,
    /// Stored (Unix ms).
    pub created_at: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
