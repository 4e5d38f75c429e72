//! `api_tokens`: API tokens by their SHA-256; revoked ones are kept with `revoked_at`.

use sea_orm::entity::prelude::*;

/// One API token.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    /// UUID text.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    /// Owner (UUID text).
    #[sea_orm(column_type = "Text")]
    pub user_id: String,
    /// The name its owner gave it.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// SHA-256 of the token, lower-case hex; unique (`ux_api_tokens_token_hash`); the
    /// Bearer caller lookup reads the whole row from `ix_api_tokens_caller`.
    #[sea_orm(column_type = "Text")]
    pub token_hash: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    #[sea_orm(nullable)]
    pub last_used_at: Option<i64>,
    /// Unix ms; a revoked token is never found.
    #[sea_orm(nullable)]
    pub revoked_at: Option<i64>,
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
