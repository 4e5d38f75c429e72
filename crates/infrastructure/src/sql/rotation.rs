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
        // A user holds at most one secret: a confirmed one, or an enrollment in progress.
        let rows: Vec<(String, Option<String>, Option<String>)> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::MfaSecret)
            .column(users::Column::MfaPendingSecret)
            .filter(
                sea_orm::Condition::any()
                    .add(users::Column::MfaSecret.is_not_null())
                    .add(users::Column::MfaPendingSecret.is_not_null()),
            )
            .filter(users::Column::Id.gt(after))
            .order_by_asc(users::Column::Id)
            .limit(u64::from(limit))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .filter_map(|(id, confirmed, pending)| match (confirmed, pending) {
                (Some(sealed), _) => Some((id, sealed, true)),
                (None, Some(sealed)) => Some((id, sealed, false)),
                (None, None) => None,
            })
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
        // The confirmed secret, else the pending one: each a compare-and-set of its own.
        for column in [users::Column::MfaSecret, users::Column::MfaPendingSecret] {
            let updated = users::Entity::update_many()
                .col_expr(column, Expr::val(new.as_str()))
                .filter(users::Column::Id.eq(user.to_string()))
                .filter(column.eq(old.as_str()))
                .exec(&self.db)
                .await
                .map_err(db_err)?;
            if updated.rows_affected == 1 {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
