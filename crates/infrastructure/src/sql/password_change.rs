//! A password change in SQL: the new hash and the change's effects (the `password_changed`
//! event, the other sessions ended, the attempt given back, the notice in the outbox) in one
//! write transaction.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use slugbase_application::ports::{ChangeEffects, StoreResult};
use slugbase_domain::{PasswordHash, UserId};

use super::change_effects::apply_effects;
use super::entity::users;
use super::{SeaOrmStore, db_err};

impl SeaOrmStore {
    /// [`UserRepository::change_password`](slugbase_application::ports::UserRepository):
    /// all of it commits, or none of it.
    pub(super) async fn change_password_with_effects(
        &self,
        id: UserId,
        hash: PasswordHash,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        self.replace_hash_with_effects(id, None, &hash, effects).await
    }

    /// [`UserRepository::upgrade_password_hash`](slugbase_application::ports::UserRepository):
    /// the new hash only while the stored one is still `old` (one conditional update), with
    /// the sign-in's effects, in one transaction.
    pub(super) async fn upgrade_password_hash_with_effects(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: PasswordHash,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        self.replace_hash_with_effects(id, Some(old), &new, effects).await
    }

    /// Stores `new` as `id`'s password hash — only while the stored one is `only_if`, when
    /// given — with `effects`, in one transaction; `false` (nothing written) when no row
    /// matched.
    async fn replace_hash_with_effects(
        &self,
        id: UserId,
        only_if: Option<&PasswordHash>,
        new: &PasswordHash,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let tx = self.begin_write().await?;
        let mut update = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::val(new.as_str()))
            .filter(users::Column::Id.eq(id.to_string()));
        if let Some(old) = only_if {
            update = update.filter(users::Column::PasswordHash.eq(old.as_str()));
        }
        let updated = update.exec(&tx).await.map_err(db_err)?;
        if updated.rows_affected != 1 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        apply_effects(&tx, id, effects).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}
