//! Attempt counters, reserved before a guess is evaluated.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{AttemptCounter, AttemptPolicy, Release, Throttle};

use super::store_error::StoreResult;

/// What [`AttemptRepository::reserve`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt may be evaluated; the counter already counts it
    /// ([`AttemptCounter::reserve`]).
    Granted(AttemptCounter),
    /// The limit is reached; nothing was counted. Holds the throttle to report.
    Refused(Throttle),
}

/// Attempt counters, keyed by strings such as `sf:user:<uuid>` (built by
/// the attempt limiter's `AttemptKey`).
///
/// An attempt is *reserved* before it is evaluated and *released* afterwards if it turned
/// out to be no failure; so the limit holds however many attempts arrive at once, on one
/// instance or several.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AttemptRepository: Send + Sync {
    /// The counter for a key.
    ///
    /// # Errors
    /// Storage failures only.
    async fn get(&self, key: &str) -> StoreResult<Option<AttemptCounter>>;

    /// Reserves one attempt under `policy` at `now` ([`AttemptCounter::reserve`]) with one
    /// atomic, conditional write: either the attempt is counted (`Granted`) or the limit is
    /// reached and nothing changes (`Refused`). Of concurrent calls on a key with `n` places
    /// left, at most `n` are granted, whatever the concurrency.
    ///
    /// # Errors
    /// Storage failures only.
    async fn reserve(
        &self,
        key: &str,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> StoreResult<Reservation>;

    /// Gives back an attempt granted in the window that started at `reserved_in`
    /// ([`AttemptCounter::released`]), atomically. A missing key is left missing.
    ///
    /// # Errors
    /// Storage failures only.
    async fn release(
        &self,
        key: &str,
        reserved_in: DateTime<Utc>,
        outcome: Release,
    ) -> StoreResult<()>;

    /// Forgets a key entirely (administrator unlock).
    ///
    /// # Errors
    /// Storage failures only.
    async fn clear(&self, key: &str) -> StoreResult<()>;
}
