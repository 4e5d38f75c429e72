//! [`AttemptRepository`] in memory: the domain's `AttemptCounter::reserve` and `released`
//! under the store's lock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{AttemptRepository, Reservation, StoreResult};
use slugbase_domain::{AttemptCounter, AttemptPolicy, Release};

use super::InMemoryStore;

#[async_trait]
impl AttemptRepository for InMemoryStore {
    async fn get(&self, key: &str) -> StoreResult<Option<AttemptCounter>> {
        Ok(self.lock()?.attempts.get(key).copied())
    }

    async fn reserve(
        &self,
        key: &str,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> StoreResult<Reservation> {
        let mut state = self.lock()?;
        let current = state.attempts.get(key).copied();
        Ok(match AttemptCounter::reserve(current, policy, now) {
            Ok(counter) => {
                state.attempts.insert(key.to_owned(), counter);
                Reservation::Granted(counter)
            }
            Err(throttle) => Reservation::Refused(throttle),
        })
    }

    async fn release(
        &self,
        key: &str,
        reserved_in: DateTime<Utc>,
        outcome: Release,
    ) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(counter) = state.attempts.get_mut(key) {
            *counter = counter.released(reserved_in, outcome);
        }
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        self.lock()?.attempts.remove(key);
        Ok(())
    }
}
