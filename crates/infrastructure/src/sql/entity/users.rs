//! `users`: accounts with their login method and MFA state.

use sea_orm::entity::prelude::*;

/// One user. MFA is on when `mfa_enabled` (with a confirmed TOTP secret, passkeys, or
/// both); a TOTP enrollment in progress is `mfa_pending_secret`.
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
    /// The confirmed TOTP secret, sealed (AES-256-GCM); `None` without TOTP (also while
    /// MFA is on with passkeys alone).
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
    /// When the user's MFA grace period started (Unix ms): their first sign-in while a
    /// policy required MFA of them and they had none. Set once, never moved.
    #[sea_orm(nullable)]
    pub mfa_grace_started_at: Option<i64>,
    /// A TOTP secret whose enrollment is not confirmed yet, sealed as `mfa_secret` is.
    #[sea_orm(column_type = "Text", nullable)]
    pub mfa_pending_secret: Option<String>,
}

/// The tables that belong to a user (sessions, API tokens, backup codes, OIDC identities)
/// reference it with `ON DELETE CASCADE` and declare the relation on their side
/// (`belongs_to`); this side names none, so the entity modules never import each other in a
/// circle.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
