//! `sessions`: browser sessions (full or pending a second factor), by the SHA-256 of their
//! id.

use sea_orm::entity::prelude::*;

/// One session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// SHA-256 of the session id, lower-case hex.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id_hash: String,
    /// Owner (UUID text).
    #[sea_orm(column_type = "Text")]
    pub user_id: String,
    /// `SessionKind::as_str`.
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub last_seen_at: i64,
    /// Unix ms.
    pub expires_at: i64,
    /// Second-factor guesses taken on a pending session.
    pub failed_attempts: i64,
    /// Client address that started it.
    #[sea_orm(column_type = "Text", nullable)]
    pub client_addr: Option<String>,
    /// User agent that started it.
    #[sea_orm(column_type = "Text", nullable)]
    pub user_agent: Option<String>,
}

/// Belongs to a user (`ON DELETE CASCADE`).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The owner.
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
