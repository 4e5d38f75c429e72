//! `webauthn_ceremonies`: WebAuthn ceremonies in progress, by the SHA-256 of the ceremony id
//! only the client holds; taken (deleted) by the answer, so each is used once.

use sea_orm::entity::prelude::*;

/// One ceremony in progress.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webauthn_ceremonies")]
pub struct Model {
    /// SHA-256 of the ceremony id, lower-case hex.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id_hash: String,
    /// Whose (UUID text); `None` for a passwordless sign-in, whose account the answer names.
    #[sea_orm(column_type = "Text", nullable)]
    pub user_id: Option<String>,
    /// `registration`, `authentication` or `sign_in`.
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// The server's state (JSON, the challenge among it).
    #[sea_orm(column_type = "Text")]
    pub state: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
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
