//! `passkeys`: registered WebAuthn credentials, each unique by the SHA-256 of its credential
//! id (`ux_passkeys_credential_key`: a credential id can exceed what MySQL can index).

use sea_orm::entity::prelude::*;

/// One passkey.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkeys")]
pub struct Model {
    /// UUID text.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    /// Owner (UUID text).
    #[sea_orm(column_type = "Text")]
    pub user_id: String,
    /// SHA-256 of the credential id, lower-case hex; unique.
    #[sea_orm(column_type = "Text")]
    pub credential_key: String,
    /// The credential id, base64url without padding.
    #[sea_orm(column_type = "Text")]
    pub credential_id: String,
    /// The credential as the WebAuthn adapter serialised it (JSON).
    #[sea_orm(column_type = "Text")]
    pub passkey: String,
    /// The name its owner gave it.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    #[sea_orm(nullable)]
    pub last_used_at: Option<i64>,
    /// The authenticator's counter as last seen.
    pub sign_count: i64,
    /// May be backed up by its provider.
    pub backup_eligible: bool,
    /// Was backed up when last seen.
    pub backup_state: bool,
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
