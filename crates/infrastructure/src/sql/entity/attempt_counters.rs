//! `attempt_counters`: attempt limits by text key (`AttemptKey`), one row per key.

use sea_orm::entity::prelude::*;

/// One counter (`slugbase_domain::AttemptCounter` as stored).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attempt_counters")]
pub struct Model {
    /// `AttemptKey` text.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub key: String,
    /// Start of the current window (Unix ms).
    pub window_start: i64,
    /// Attempts in the window.
    pub failures: i64,
    /// Attempts since the last success (lockout).
    pub consecutive: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
