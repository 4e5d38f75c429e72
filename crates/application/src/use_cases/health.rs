//! `/api/health`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Unexpected;
use crate::ports::{StorageHealth, StoreError};

/// What `/api/health` found, when the database answers reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthReport {
    /// Reads and writes get through.
    Ok,
    /// Reads get through, writes do not right now (on SQLite: someone else holds the
    /// database's write lock). Writes answer 503 with `Retry-After` meanwhile.
    WritesUnavailable,
}

/// What `/api/health/ready` found: whether this instance should get traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// The database answers and its schema is the one this build expects.
    Ready,
    /// The database answers, but lacks migrations this build expects (`pending`, oldest
    /// first): another instance, or `slugbase migrate`, has yet to apply them.
    MigrationsPending {
        /// The names of the missing migrations.
        pending: Vec<String>,
    },
    /// The database answers, but which migrations it has applied cannot be read (no
    /// migration table: a database no instance has migrated yet).
    SchemaUnreadable,
}

/// `/api/health`: is the database reachable, for reads and for writes?
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
}

/// What the web adapter calls for `/api/health`; [`Health`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthUseCase: Send + Sync {
    /// See [`Health::check`].
    ///
    /// # Errors
    /// [`Unexpected::Unavailable`] while storage is down.
    async fn check(&self) -> Result<HealthReport, Unexpected>;

    /// See [`Health::ready`].
    ///
    /// # Errors
    /// [`Unexpected::Unavailable`] while storage is down.
    async fn ready(&self) -> Result<Readiness, Unexpected>;
}

#[async_trait]
impl HealthUseCase for Health {
    /// Pings storage for reads, then for writes.
    ///
    /// # Errors
    /// [`Unexpected::Unavailable`] while reads cannot get through (writes that cannot are
    /// [`HealthReport::WritesUnavailable`]).
    async fn check(&self) -> Result<HealthReport, Unexpected> {
        self.storage.ping().await?;
        match self.storage.ping_writes().await {
            Ok(()) => Ok(HealthReport::Ok),
            Err(StoreError::Unavailable(cause)) => {
                tracing::warn!(error = format!("{cause:#}"), "database writes unavailable");
                Ok(HealthReport::WritesUnavailable)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Reads from storage, then compares its applied migrations with this build's: ready
    /// when both pass. (The keys are loaded before the listener opens: a running instance
    /// has them.)
    ///
    /// # Errors
    /// [`Unexpected::Unavailable`] while reads cannot get through.
    async fn ready(&self) -> Result<Readiness, Unexpected> {
        self.storage.ping().await?;
        match self.storage.pending_migrations().await {
            Ok(pending) if pending.is_empty() => Ok(Readiness::Ready),
            Ok(pending) => Ok(Readiness::MigrationsPending { pending }),
            Err(StoreError::Other(cause)) => {
                tracing::warn!(error = format!("{cause:#}"), "applied migrations unreadable");
                Ok(Readiness::SchemaUnreadable)
            }
            Err(other) => Err(other.into()),
        }
    }
}
