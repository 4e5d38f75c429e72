//! [`SecretRotation`] in memory: pages in UUID text order, as the SQL backends do.

use async_trait::async_trait;
use slugbase_application::ports::{SealedSecretRow, SecretRotation, StoreResult};
use slugbase_domain::{EncryptedSecret, MfaState, UserId};

use super::{InMemoryStore, ct_eq};

#[async_trait]
impl SecretRotation for InMemoryStore {
    async fn sealed_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecretRow>> {
        let state = self.lock()?;
        // UUID text order, as the SQL backends page.
        let after = after.map(|id| id.to_string());
        let mut rows: Vec<(String, SealedSecretRow)> = state
            .users
            .values()
            .filter_map(|u| {
                let (sealed, enabled) = match &u.mfa {
                    MfaState::Enabled { secret: Some(secret), .. } => (secret.clone(), true),
                    other => (other.pending_secret()?.clone(), false),
                };
                let key = u.id.to_string();
                if after.as_ref().is_some_and(|a| key <= *a) {
                    return None;
                }
                Some((key, SealedSecretRow { user_id: u.id, sealed, enabled }))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(rows.into_iter().take(limit).map(|(_, row)| row).collect())
    }

    async fn replace_sealed_secret(
        &self,
        user: UserId,
        old: &EncryptedSecret,
        new: &EncryptedSecret,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(u) = state.users.get_mut(&user) else { return Ok(false) };
        let (MfaState::Pending { secret }
        | MfaState::Enabled { secret: Some(secret), .. }
        | MfaState::Enabled { secret: None, pending: Some(secret), .. }) = &mut u.mfa
        else {
            return Ok(false);
        };
        if !ct_eq(secret.as_str(), old.as_str()) {
            return Ok(false);
        }
        *secret = new.clone();
        Ok(true)
    }
}
