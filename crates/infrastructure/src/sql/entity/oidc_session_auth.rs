//! `oidc_session_auth`: when the provider authenticated the user of a session signed in
//! through it (`auth_time`), for the re-authentication policy; deleted with the session.

use sea_orm::entity::prelude::*;

/// One session's provider authentication.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_session_auth")]
pub struct Model {
    /// The session's `id_hash`.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub session_hash: String,
    /// Provider key.
    #[sea_orm(column_type = "Text")]
    pub provider: String,
    /// Unix ms.
    pub auth_time: i64,
}

/// Belongs to a session (`ON DELETE CASCADE`).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The session.
    #[sea_orm(
        belongs_to = "super::sessions::Entity",
        from = "Column::SessionHash",
        to = "super::sessions::Column::IdHash",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Session,
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
