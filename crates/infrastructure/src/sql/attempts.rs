//! [`AttemptRepository`] over SQL. A reservation is one conditional upsert: it counts the
//! attempt only while the counter is under its limit, so concurrent reservations — from one
//! instance or several — never take more places than the window has. A release is one
//! conditional update. Both statements are the same on SQLite and PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{AttemptRepository, Reservation, StoreResult};
use slugbase_domain::{AttemptCounter, AttemptPolicy, Release, Throttle};

use super::{SeaOrmStore, exec, from_ms, get, query_one, to_ms, to_u32};

/// Counts the attempt — in a new window if the stored one has ended — unless the limit is
/// reached; returns the counter only when it counted. The `WHERE` of `DO UPDATE` is
/// [`AttemptCounter::throttle`] in SQL: not locked out (`consecutive < lockout_after`) and
/// either the window has ended or it still has places (`failures < max_failures`).
/// $1 key, $2 now (ms), $3 window length (ms), $4 max failures, $5 lockout after.
const RESERVE: &str = "INSERT INTO attempt_counters (key, window_start, failures, consecutive) \
     VALUES ($1, $2, 1, 1) \
     ON CONFLICT (key) DO UPDATE SET \
       window_start = CASE WHEN attempt_counters.window_start + $3 <= $2 \
                      THEN $2 ELSE attempt_counters.window_start END, \
       failures = CASE WHEN attempt_counters.window_start + $3 <= $2 \
                  THEN 1 ELSE attempt_counters.failures + 1 END, \
       consecutive = attempt_counters.consecutive + 1 \
     WHERE attempt_counters.consecutive < $5 \
       AND (attempt_counters.window_start + $3 <= $2 OR attempt_counters.failures < $4) \
     RETURNING window_start, failures, consecutive";

/// [`AttemptCounter::released`] in SQL. $1 key, $2 the reservation's window start (ms).
const RELEASE_NOT_A_GUESS: &str = "UPDATE attempt_counters SET \
       failures = CASE WHEN window_start = $2 AND failures > 0 THEN failures - 1 ELSE failures END, \
       consecutive = CASE WHEN consecutive > 0 THEN consecutive - 1 ELSE 0 END \
     WHERE key = $1";
const RELEASE_SUCCEEDED: &str = "UPDATE attempt_counters SET \
       failures = CASE WHEN window_start = $2 AND failures > 0 THEN failures - 1 ELSE failures END, \
       consecutive = 0 \
     WHERE key = $1";

/// How often a refused reservation is retried when the counter, read back, no longer
/// blocks (another request released its place in between).
const RESERVE_TRIES: usize = 3;

fn counter_from_row(row: &sea_orm::QueryResult) -> StoreResult<AttemptCounter> {
    Ok(AttemptCounter {
        window_start: from_ms(get(row, "window_start")?)?,
        failures: to_u32(get(row, "failures")?, "failures")?,
        consecutive: to_u32(get(row, "consecutive")?, "consecutive failures")?,
    })
}

#[async_trait]
impl AttemptRepository for SeaOrmStore {
    async fn get(&self, key: &str) -> StoreResult<Option<AttemptCounter>> {
        query_one(
            &self.db,
            "SELECT window_start, failures, consecutive FROM attempt_counters WHERE key = $1",
            [key.into()],
        )
        .await?
        .as_ref()
        .map(counter_from_row)
        .transpose()
    }

    async fn reserve(
        &self,
        key: &str,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> StoreResult<Reservation> {
        let window_ms = i64::from(policy.window_secs) * 1000;
        let lockout = policy.lockout_after.map_or(i64::MAX, i64::from);
        for _ in 0..RESERVE_TRIES {
            let params = [
                key.into(),
                to_ms(now).into(),
                window_ms.into(),
                i64::from(policy.max_failures).into(),
                lockout.into(),
            ];
            if let Some(row) = query_one(&self.db, RESERVE, params).await? {
                return Ok(Reservation::Granted(counter_from_row(&row)?));
            }
            // Refused: read the counter back for the time to wait.
            let current = AttemptRepository::get(self, key).await?;
            if let Some(blocked @ Throttle::Blocked { .. }) =
                current.map(|c| c.throttle(policy, now))
            {
                return Ok(Reservation::Refused(blocked));
            }
        }
        // Places keep being taken and given back under us: refuse, briefly.
        Ok(Reservation::Refused(Throttle::Blocked { retry_after_secs: 1, locked_out: false }))
    }

    async fn release(
        &self,
        key: &str,
        reserved_in: DateTime<Utc>,
        outcome: Release,
    ) -> StoreResult<()> {
        let sql = match outcome {
            Release::NotAGuess => RELEASE_NOT_A_GUESS,
            Release::Succeeded => RELEASE_SUCCEEDED,
        };
        exec(&self.db, sql, [key.into(), to_ms(reserved_in).into()]).await?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        exec(&self.db, "DELETE FROM attempt_counters WHERE key = $1", [key.into()]).await?;
        Ok(())
    }
}
