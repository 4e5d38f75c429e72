//! `oidc_flows`: OIDC logins in progress, by the SHA-256 of the flow id the browser's
//! cookie holds; the callback takes (deletes) its row, so each is used once.

use sea_orm::entity::prelude::*;

/// One login in progress.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_flows")]
pub struct Model {
    /// SHA-256 of the flow id, lower-case hex.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id_hash: String,
    /// Provider key.
    #[sea_orm(column_type = "Text")]
    pub provider: String,
    /// The `state` sent to the provider.
    #[sea_orm(column_type = "Text")]
    pub state: String,
    /// The `nonce` sent to the provider.
    #[sea_orm(column_type = "Text")]
    pub nonce: String,
    /// The PKCE verifier.
    #[sea_orm(column_type = "Text")]
    pub pkce_verifier: String,
    /// Where to go after login.
    #[sea_orm(column_type = "Text", nullable)]
    pub return_to: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
