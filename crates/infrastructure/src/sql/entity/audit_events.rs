//! `audit_events`: the audit log. User ids are kept without a foreign key: events outlive
//! users.

use sea_orm::entity::prelude::*;

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Assigned by the database, increasing.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// The user concerned (UUID text).
    #[sea_orm(column_type = "Text", nullable)]
    pub user_id: Option<String>,
    /// Who acted, when not the user (UUID text).
    #[sea_orm(column_type = "Text", nullable)]
    pub actor_id: Option<String>,
    /// `AuditEventKind::as_str`.
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// `success` or `failure`.
    #[sea_orm(column_type = "Text")]
    pub outcome: String,
    /// Why it failed.
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    /// `ProofKind::as_str`.
    #[sea_orm(column_type = "Text", nullable)]
    pub proof: Option<String>,
    /// Client address.
    #[sea_orm(column_type = "Text", nullable)]
    pub client_addr: Option<String>,
    /// Client user agent.
    #[sea_orm(column_type = "Text", nullable)]
    pub user_agent: Option<String>,
    /// What else the event names (OIDC provider, trusted `amr`); added by the OIDC
    /// migration.
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
