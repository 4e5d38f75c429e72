//! [`SecretRotation`] over SQL: keyset pages of stored TOTP secrets, and a compare-and-set
//! that replaces one sealed secret only while it is unchanged.

use async_trait::async_trait;
use slugbase_application::ports::{SealedSecretRow, SecretRotation, StoreResult};
use slugbase_domain::{EncryptedSecret, UserId};

use super::{SeaOrmStore, exec, get, parse_uuid, query_all};

#[async_trait]
impl SecretRotation for SeaOrmStore {
    async fn sealed_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecretRow>> {
        // Ids are UUID text; `id > ''` starts at the beginning.
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let rows = query_all(
            &self.db,
            "SELECT id, mfa_secret, mfa_enabled FROM users \
             WHERE mfa_secret IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
            [after.into(), i64::from(limit).into()],
        )
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = get(row, "id")?;
                let sealed: String = get(row, "mfa_secret")?;
                Ok(SealedSecretRow {
                    user_id: UserId::from_uuid(parse_uuid(&id)?),
                    sealed: EncryptedSecret::new(sealed),
                    enabled: get(row, "mfa_enabled")?,
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
        let updated = exec(
            &self.db,
            "UPDATE users SET mfa_secret = $3 WHERE id = $1 AND mfa_secret = $2",
            [user.to_string().into(), old.as_str().into(), new.as_str().into()],
        )
        .await?;
        Ok(updated.rows_affected() == 1)
    }
}
