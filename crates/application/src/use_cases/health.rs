//! `/api/health`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Unexpected;
use crate::ports::StorageHealth;

/// `/api/health`: is the database reachable?
#[derive(Clone)]
pub struct Health {
    storage: Arc<dyn StorageHealth>,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health").finish_non_exhaustive()
    }
}

impl Health {
    /// The use case over `storage`'s reachability.
    #[must_use]
    pub fn new(storage: Arc<dyn StorageHealth>) -> Self {
        Self { storage }
    }

    /// Pings storage.
    ///
    /// # Errors
    /// [`Unexpected::Unavailable`] while it is down.
    pub async fn check(&self) -> Result<(), Unexpected> {
        Ok(self.storage.ping().await?)
    }
}

/// What the web adapter calls for `/api/health`; [`Health`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthUseCase: Send + Sync {
    /// See [`Health::check`].
    ///
    /// # Errors
    /// [`Unexpected::Unavailable`] while storage is down.
    async fn check(&self) -> Result<(), Unexpected>;
}

#[async_trait]
impl HealthUseCase for Health {
    async fn check(&self) -> Result<(), Unexpected> {
        Self::check(self).await
    }
}
