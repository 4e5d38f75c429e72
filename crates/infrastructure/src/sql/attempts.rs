//! [`AttemptRepository`] over SQL: a counter is advanced with the domain rule inside one
//! write transaction, so concurrent failures lose no count.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait as _, DbBackend, QueryResult};
use slugbase_application::ports::{AttemptRepository, StoreError, StoreResult};
use slugbase_domain::{AttemptCounter, AttemptPolicy};

use super::{SeaOrmStore, db_err, exec, from_ms, get, query_one, to_ms, to_u32};

fn counter_from_row(row: &QueryResult) -> StoreResult<AttemptCounter> {
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

    async fn record_failure(
        &self,
        key: &str,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> StoreResult<AttemptCounter> {
        let tx = self.begin_write().await?;
        // Make sure the row exists (an empty counter starting now advances exactly like no
        // counter at all), then lock it: FOR UPDATE on PostgreSQL; on SQLite the IMMEDIATE
        // transaction already holds the write lock.
        exec(
            &tx,
            "INSERT INTO attempt_counters (key, window_start, failures, consecutive) \
             VALUES ($1, $2, 0, 0) ON CONFLICT (key) DO NOTHING",
            [key.into(), to_ms(now).into()],
        )
        .await?;
        let lock = match tx.get_database_backend() {
            DbBackend::Postgres => " FOR UPDATE",
            _ => "",
        };
        let sql = format!(
            "SELECT window_start, failures, consecutive FROM attempt_counters WHERE key = $1{lock}"
        );
        let row = query_one(&tx, &sql, [key.into()])
            .await?
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("attempt counter vanished")))?;
        let next = AttemptCounter::after_failure(Some(counter_from_row(&row)?), policy, now);
        exec(
            &tx,
            "UPDATE attempt_counters SET window_start = $2, failures = $3, consecutive = $4 \
             WHERE key = $1",
            [
                key.into(),
                to_ms(next.window_start).into(),
                i64::from(next.failures).into(),
                i64::from(next.consecutive).into(),
            ],
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(AttemptCounter { window_start: super::stored_time(next.window_start), ..next })
    }

    async fn record_success(&self, key: &str) -> StoreResult<()> {
        exec(&self.db, "UPDATE attempt_counters SET consecutive = 0 WHERE key = $1", [key.into()])
            .await?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        exec(&self.db, "DELETE FROM attempt_counters WHERE key = $1", [key.into()]).await?;
        Ok(())
    }
}
