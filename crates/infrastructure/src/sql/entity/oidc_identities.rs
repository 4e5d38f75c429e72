//! `oidc_identities`: which OIDC (provider, subject) signs in as which user.

use sea_orm::entity::prelude::*;

/// One linked identity.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_identities")]
pub struct Model {
    /// Provider name.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub provider: String,
    /// The provider's subject (`sub`).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub subject: String,
    /// The user (UUID text).
    #[sea_orm(column_type = "Text")]
    pub user_id: String,
    /// Unix ms.
    pub created_at: i64,
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
