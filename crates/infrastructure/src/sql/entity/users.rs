//! `users`: accounts with their login method and MFA state.

use sea_orm::entity::prelude::*;

/// One user. MFA is on when `mfa_enabled`; a secret without the flag is a pending
/// enrollment.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// UUID text.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    /// Unique (`ux_users_email`).
    #[sea_orm(column_type = "Text")]
    pub email: String,
    /// Display name.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// Argon2id PHC string; `None` for OIDC-only accounts.
    #[sea_orm(column_type = "Text", nullable)]
    pub password_hash: Option<String>,
    /// The OIDC provider an account was created through, if any.
    #[sea_orm(column_type = "Text", nullable)]
    pub oidc_provider: Option<String>,
    /// Administrator.
    pub is_admin: bool,
    /// MFA on.
    pub mfa_enabled: bool,
    /// The sealed TOTP secret (AES-256-GCM), enabled or pending.
    #[sea_orm(column_type = "Text", nullable)]
    pub mfa_secret: Option<String>,
    /// When MFA was turned on (Unix ms).
    #[sea_orm(nullable)]
    pub mfa_enrolled_at: Option<i64>,
    /// The last TOTP time step accepted (replay protection).
    #[sea_orm(nullable)]
    pub mfa_last_totp_step: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
}

/// Every table that belongs to a user references it (`ON DELETE CASCADE`).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Backup codes.
    #[sea_orm(has_many = "super::backup_codes::Entity")]
    BackupCodes,
    /// Sessions.
    #[sea_orm(has_many = "super::sessions::Entity")]
    Sessions,
    /// API tokens.
    #[sea_orm(has_many = "super::api_tokens::Entity")]
    ApiTokens,
    /// OIDC identities.
    #[sea_orm(has_many = "super::oidc_identities::Entity")]
    OidcIdentities,
}

impl Related<super::backup_codes::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BackupCodes.def()
    }
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sessions.def()
    }
}

impl Related<super::api_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiTokens.def()
    }
}

impl Related<super::oidc_identities::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OidcIdentities.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
