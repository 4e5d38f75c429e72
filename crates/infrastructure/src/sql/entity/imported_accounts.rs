//! `imported_accounts`: which account an import stored for which account at its source
//! (SlugBase), so a re-run of the import finds it.

use sea_orm::entity::prelude::*;

/// One imported account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "imported_accounts")]
pub struct Model {
    /// The account stored (`users.id`; no foreign key, see the migration).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub user_id: String,
    /// The system it came from (`slugbase`); unique with `source_id`.
    #[sea_orm(column_type = "Text")]
    pub source: String,
    /// Its id there.
    #[sea_orm(column_type = "Text")]
    pub source_id: String,
    /// Unix ms.
    pub imported_at: i64,
}

/// No relation: the row outlives an account deleted here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
