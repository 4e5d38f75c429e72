//! Storage reachability.

use async_trait::async_trait;

use super::store_error::StoreResult;

/// Whether the storage is reachable (for `/api/health`).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StorageHealth: Send + Sync {
    /// Runs a trivial query, the way reads run (on SQLite: on the read pool, so it does not
    /// wait behind writers).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`](super::StoreError::Unavailable) while the database cannot
    /// be reached.
    async fn ping(&self) -> StoreResult<()>;

    /// Whether a write could start now: on SQLite, whether the database's write lock can
    /// be had within a short wait (taken and released at once, nothing written). Backends
    /// whose reads and writes share one pool answer `Ok` ([`Self::ping`] covers them).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`](super::StoreError::Unavailable) while writes cannot get
    /// through (the write lock is held by someone else).
    async fn ping_writes(&self) -> StoreResult<()> {
        Ok(())
    }

    /// The migrations this build expects that the database has not applied, oldest first
    /// (empty: the schema is current). Stores without a schema answer empty.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`](super::StoreError::Unavailable) while the database cannot
    /// be reached; [`StoreError::Other`](super::StoreError::Other) if the applied migrations
    /// cannot be read (no migration table yet).
    async fn pending_migrations(&self) -> StoreResult<Vec<String>> {
        Ok(Vec::new())
    }
}
