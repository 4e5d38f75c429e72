//! [`AttemptRepository`] over SQL. A reservation is one conditional upsert: it counts the
//! attempt only while the counter is under its limit, so concurrent reservations — from one
//! instance or several — never take more places than the window has. A release is one
//! conditional update. Both are built with the query builder, the same on SQLite and
//! PostgreSQL. MySQL has no conditional upsert ([`super::dialect`]): there a reservation
//! reads the counter `FOR UPDATE` and writes it back in one transaction
//! ([`reserve_locked`]), which concurrent reservations of one key pass one at a time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, Insert, QueryFilter as _, QuerySelect as _, Set, UpdateMany,
};
use slugbase_application::ports::{AttemptRepository, Reservation, StoreError, StoreResult};
use slugbase_domain::{AttemptCounter, AttemptPolicy, Release, Throttle};

use super::dialect::Engine;
use super::entity::attempt_counters::{self, Column, Entity};
use super::{SeaOrmStore, db_err, from_ms, stored_time, to_ms, to_u32};

/// How often a refused reservation is retried when the counter, read back, no longer
/// blocks (another request released its place in between).
const RESERVE_TRIES: usize = 3;

/// A column of the stored row, qualified with the table (in `ON CONFLICT … DO UPDATE`,
/// the existing row).
fn stored(col: Column) -> Expr {
    Expr::col((Entity, col))
}

/// Counts the attempt — in a new window if the stored one has ended — unless the limit is
/// reached: one `INSERT … ON CONFLICT (key) DO UPDATE SET … WHERE … RETURNING`, which
/// returns the counter only when it counted. The `WHERE` of `DO UPDATE` is
/// [`AttemptCounter::throttle`] in SQL: not locked out (`consecutive < lockout_after`) and
/// either the window has ended or it still has places (`failures < max_failures`).
async fn reserve_once(
    store: &SeaOrmStore,
    key: &str,
    policy: &AttemptPolicy,
    now: i64,
) -> StoreResult<Option<AttemptCounter>> {
    // `RETURNING` yields no row when the `DO UPDATE … WHERE` refused.
    let counted = reserve_statement(key, policy, now)
        .exec_with_returning_many(&store.db)
        .await
        .map_err(db_err)?;
    counted.into_iter().next().map(counter_from_model).transpose()
}

/// The upsert of [`reserve_once`], before `RETURNING` is added.
fn reserve_statement(
    key: &str,
    policy: &AttemptPolicy,
    now: i64,
) -> Insert<attempt_counters::ActiveModel> {
    let window_ms = i64::from(policy.window_secs) * 1000;
    let lockout = policy.lockout_after.map_or(i64::MAX, i64::from);
    let window_ended = || stored(Column::WindowStart).add(window_ms).lte(now);
    let mut upsert = OnConflict::column(Column::Key);
    upsert
        .value(
            Column::WindowStart,
            Expr::case(window_ended(), now).finally(stored(Column::WindowStart)),
        )
        .value(
            Column::Failures,
            Expr::case(window_ended(), 1_i64).finally(stored(Column::Failures).add(1_i64)),
        )
        .value(Column::Consecutive, stored(Column::Consecutive).add(1_i64))
        .action_and_where(
            stored(Column::Consecutive).lt(lockout).and(
                window_ended().or(stored(Column::Failures).lt(i64::from(policy.max_failures))),
            ),
        );
    let first = attempt_counters::ActiveModel {
        key: Set(key.to_owned()),
        window_start: Set(now),
        failures: Set(1),
        consecutive: Set(1),
    };
    Entity::insert(first).on_conflict(upsert)
}

/// [`AttemptCounter::released`] in SQL: one conditional update. The reservation's place is
/// given back only in the window it was taken in; the consecutive count drops by one (not a
/// guess) or to zero (succeeded).
pub(super) fn release_update(key: &str, reserved_in: i64, outcome: Release) -> UpdateMany<Entity> {
    let failures = Expr::case(
        ExprTrait::eq(stored(Column::WindowStart), reserved_in)
            .and(stored(Column::Failures).gt(0_i64)),
        stored(Column::Failures).sub(1_i64),
    )
    .finally(stored(Column::Failures));
    let consecutive: Expr = match outcome {
        Release::NotAGuess => Expr::case(
            stored(Column::Consecutive).gt(0_i64),
            stored(Column::Consecutive).sub(1_i64),
        )
        .finally(0_i64)
        .into(),
        Release::Succeeded => Expr::val(0_i64),
    };
    Entity::update_many()
        .col_expr(Column::Failures, failures.into())
        .col_expr(Column::Consecutive, consecutive)
        .filter(Column::Key.eq(key))
}

/// [`AttemptRepository::reserve`] where the upsert cannot carry its condition (MySQL): in one
/// transaction, the counter is read `FOR UPDATE` — concurrent reservations of the key wait
/// here, one at a time — then [`AttemptCounter::reserve`] decides, and the counted counter
/// is written back (or inserted: of two first reservations of a key, the second insert
/// fails as a duplicate and goes round again, then finding and locking the first's row).
async fn reserve_locked(
    store: &SeaOrmStore,
    key: &str,
    policy: &AttemptPolicy,
    now: DateTime<Utc>,
) -> StoreResult<Reservation> {
    // Decide on the time as stored, as the SQL of the upsert does.
    let now = stored_time(now);
    for _ in 0..RESERVE_TRIES {
        let tx = store.begin_write().await?;
        let row = Entity::find_by_id(key).lock_exclusive().one(&tx).await.map_err(db_err)?;
        let exists = row.is_some();
        let current = row.map(counter_from_model).transpose()?;
        let counted = match AttemptCounter::reserve(current, policy, now) {
            Ok(counted) => counted,
            Err(blocked) => {
                tx.rollback().await.map_err(db_err)?;
                return Ok(Reservation::Refused(blocked));
            }
        };
        let written = if exists {
            Entity::update_many()
                .col_expr(Column::WindowStart, Expr::val(to_ms(counted.window_start)))
                .col_expr(Column::Failures, Expr::val(i64::from(counted.failures)))
                .col_expr(Column::Consecutive, Expr::val(i64::from(counted.consecutive)))
                .filter(Column::Key.eq(key))
                .exec(&tx)
                .await
                .map(|_| ())
        } else {
            let first = attempt_counters::ActiveModel {
                key: Set(key.to_owned()),
                window_start: Set(to_ms(counted.window_start)),
                failures: Set(i64::from(counted.failures)),
                consecutive: Set(i64::from(counted.consecutive)),
            };
            Entity::insert(first).exec_without_returning(&tx).await.map(|_| ())
        };
        match written.map_err(db_err) {
            Ok(()) => {
                tx.commit().await.map_err(db_err)?;
                return Ok(Reservation::Granted(counted));
            }
            // Another first reservation inserted the row meanwhile: lock it and decide again.
            Err(StoreError::Conflict(_)) => tx.rollback().await.map_err(db_err)?,
            Err(other) => return Err(other),
        }
    }
    Ok(Reservation::Refused(Throttle::Blocked { retry_after_secs: 1, locked_out: false }))
}

fn counter_from_model(row: attempt_counters::Model) -> StoreResult<AttemptCounter> {
    Ok(AttemptCounter {
        window_start: from_ms(row.window_start)?,
        failures: to_u32(row.failures, "failures")?,
        consecutive: to_u32(row.consecutive, "consecutive failures")?,
    })
}

#[async_trait]
impl AttemptRepository for SeaOrmStore {
    async fn get(&self, key: &str) -> StoreResult<Option<AttemptCounter>> {
        let row = Entity::find_by_id(key).one(self.reads()).await.map_err(db_err)?;
        row.map(counter_from_model).transpose()
    }

    async fn reserve(
        &self,
        key: &str,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> StoreResult<Reservation> {
        if !Engine::of(&self.db).conditional_upsert() {
            return reserve_locked(self, key, policy, now).await;
        }
        for _ in 0..RESERVE_TRIES {
            if let Some(counter) = reserve_once(self, key, policy, to_ms(now)).await? {
                return Ok(Reservation::Granted(counter));
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
        release_update(key, to_ms(reserved_in), outcome).exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        Entity::delete_by_id(key).exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, QueryTrait as _};

    use super::*;

    const POLICY: AttemptPolicy =
        AttemptPolicy { max_failures: 5, window_secs: 60, lockout_after: Some(20) };

    /// The reservation is one statement whose `DO UPDATE … WHERE` refuses at the limit:
    /// pinned here so a change to it is a visible change to this text.
    #[test]
    fn a_reservation_is_one_conditional_upsert() {
        let stored = |col: &str| format!("\"attempt_counters\".\"{col}\"");
        let ended = format!("{} + 60000 <= 1000", stored("window_start"));
        let expected = format!(
            "INSERT INTO \"attempt_counters\" (\"key\", \"window_start\", \"failures\", \"consecutive\") \
             VALUES ('k', 1000, 1, 1) ON CONFLICT (\"key\") DO UPDATE SET \
             \"window_start\" = (CASE WHEN ({ended}) THEN 1000 ELSE {ws} END), \
             \"failures\" = (CASE WHEN ({ended}) THEN 1 ELSE {f} + 1 END), \
             \"consecutive\" = {c} + 1 \
             WHERE {c} < 20 AND ({ended} OR {f} < 5)",
            ws = stored("window_start"),
            f = stored("failures"),
            c = stored("consecutive"),
        );
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            assert_eq!(reserve_statement("k", &POLICY, 1000).build(backend).to_string(), expected);
        }
    }

    /// MySQL assigns `SET` columns left to right: each expression may read only columns not
    /// assigned before it (here: `window_start`, never assigned, and each column itself).
    #[test]
    fn a_release_reads_no_column_it_assigned_before_on_mysql() {
        let sql = release_update("k", 1000, Release::NotAGuess).build(DbBackend::MySql);
        assert_eq!(
            sql.to_string(),
            "UPDATE `attempt_counters` SET \
             `failures` = (CASE WHEN (`attempt_counters`.`window_start` = 1000 \
             AND `attempt_counters`.`failures` > 0) THEN `attempt_counters`.`failures` - 1 \
             ELSE `attempt_counters`.`failures` END), \
             `consecutive` = (CASE WHEN (`attempt_counters`.`consecutive` > 0) \
             THEN `attempt_counters`.`consecutive` - 1 ELSE 0 END) \
             WHERE `attempt_counters`.`key` = 'k'"
        );
    }

    #[test]
    fn a_release_gives_the_place_back_only_in_its_own_window() {
        let sql = release_update("k", 1000, Release::Succeeded).build(DbBackend::Postgres);
        let sql = sql.to_string();
        assert!(
            sql.contains(
                "\"failures\" = (CASE WHEN (\"attempt_counters\".\"window_start\" = 1000 \
                 AND \"attempt_counters\".\"failures\" > 0)"
            ),
            "{sql}"
        );
        assert!(
            sql.ends_with("\"consecutive\" = 0 WHERE \"attempt_counters\".\"key\" = 'k'"),
            "{sql}"
        );
    }
}
