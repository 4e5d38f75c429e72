//! What encryption key rotation needs: every stored TOTP secret, and which key sealed it.

use async_trait::async_trait;
use slugbase_domain::{EncryptedSecret, UserId};

use super::store_error::StoreResult;

/// One stored TOTP secret, as key rotation sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecretRow {
    /// Owner (also the cipher's associated data).
    pub user_id: UserId,
    /// The sealed secret as stored.
    pub sealed: EncryptedSecret,
    /// `true`: the confirmed TOTP secret; `false`: an enrollment is pending with it (MFA
    /// off, or on with passkeys alone). A user holds at most one of the two.
    pub enabled: bool,
}

/// Access to every stored TOTP secret for `slugbase keys rotate`. A separate port (not part
/// of [`Storage`](super::Storage)) so backends without it still build; SQLite, PostgreSQL
/// and the in-memory store implement it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SecretRotation: Send + Sync {
    /// Up to `limit` stored secrets — enabled and pending — of users whose id sorts after
    /// `after` in the store's order of ids, in that order (keyset paging: pass the last
    /// row's user as the next `after`). Users without a secret are skipped.
    ///
    /// # Errors
    /// Storage failures only.
    async fn sealed_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecretRow>>;

    /// Replaces the user's sealed secret with `new`, atomically, only if it is still
    /// exactly `old` (compare-and-set: a secret replaced, confirmed, reset or disabled
    /// meanwhile is left alone). Enabled state, enrollment time and replay state are kept.
    ///
    /// # Errors
    /// Storage failures only. MUST return `Ok(false)` and change nothing when the stored
    /// secret is not `old`.
    async fn replace_sealed_secret(
        &self,
        user: UserId,
        old: &EncryptedSecret,
        new: &EncryptedSecret,
    ) -> StoreResult<bool>;
}

/// Which key sealed a secret, for key rotation.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SealingKeyInfo: Send + Sync {
    /// Id of the key `sealed` names, known or not; `None` when it is not in the sealed
    /// format at all.
    fn sealed_key_id(&self, sealed: &EncryptedSecret) -> Option<String>;

    /// Id of the key new secrets are sealed with.
    fn current_key_id(&self) -> String;
}
