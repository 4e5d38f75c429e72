//! `instance_setup`: one row, id 1. Creating the first administrator updates it first,
//! which serialises concurrent set-ups on every backend.

use sea_orm::entity::prelude::*;

/// The singleton row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "instance_setup")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// When the last set-up ran (Unix ms).
    #[sea_orm(nullable)]
    pub last_setup_at: Option<i64>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
