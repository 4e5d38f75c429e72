//! Storage reachability.

use async_trait::async_trait;

use super::store_error::StoreResult;

/// Whether the storage is reachable (for `/api/health`).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StorageHealth: Send + Sync {
    /// Runs a trivial query.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`](super::StoreError::Unavailable) while the database cannot
    /// be reached.
    async fn ping(&self) -> StoreResult<()>;
}
