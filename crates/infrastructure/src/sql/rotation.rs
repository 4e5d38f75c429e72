//! [`SecretRotation`] over SQL: keyset pages of stored TOTP secrets, and a compare-and-set
//! that replaces one sealed secret only while it is unchanged.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use slugbase_application::ports::{SealedSecretRow, SecretRotation, StoreResult};
use slugbase_domain::{EncryptedSecret, UserId};

use super::entity::users;
use super::{SeaOrmStore, db_err, parse_uuid};

#[async_trait]
impl SecretRotation for SeaOrmStore {
    async fn sealed_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecretRow>> {
        // Ids are UUID text; `id > ''` starts at the beginning.
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let rows: Vec<(String, Option<String>, bool)> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::MfaSecret)
            .column(users::Column::MfaEnabled)
            .filter(users::Column::MfaSecret.is_not_null())
            .filter(users::Column::Id.gt(after))
            .order_by_asc(users::Column::Id)
            .limit(u64::from(limit))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .filter_map(|(id, sealed, enabled)| sealed.map(|sealed| (id, sealed, enabled)))
            .map(|(id, sealed, enabled)| {
                Ok(SealedSecretRow {
                    user_id: UserId::from_uuid(parse_uuid(&id)?),
                    sealed: EncryptedSecret::new(sealed),
                    enabled,
                })
            })
            .collect()
    }

    async fn replace_sealed_secret(
        &self,
        user: UserId,
        old: &EncryptedSecret,
        new: &EncryptedSecret,
    ) -> StoreResult<bool> {
        let updated = users::Entity::update_many()
            .col_expr(users::Column::MfaSecret, Expr::val(new.as_str()))
            .filter(users::Column::Id.eq(user.to_string()))
            .filter(users::Column::MfaSecret.eq(old.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(updated.rows_affected == 1)
    }
}
