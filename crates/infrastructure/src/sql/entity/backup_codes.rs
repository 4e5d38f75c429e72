//! `backup_codes`: a user's one-time backup codes, by their HMAC.

use sea_orm::entity::prelude::*;

/// One backup code; spent when `used_at` is set.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_codes")]
pub struct Model {
    /// Owner (UUID text).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub user_id: String,
    /// HMAC-SHA-256 of the code, lower-case hex.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub code_hash: String,
    /// Unix ms.
    pub created_at: i64,
    /// When it was spent (Unix ms); `None` while unused.
    #[sea_orm(nullable)]
    pub used_at: Option<i64>,
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
