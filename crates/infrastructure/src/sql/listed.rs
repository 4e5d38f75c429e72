//! Lists that survive a damaged row (issue 22, item 3). A list reads its rows untyped and
//! decodes each on its own, so neither a value the domain refuses (an unknown kind, a time
//! out of range) nor a value of the wrong type in a column (SQLite stores any type in any
//! column) fails the whole list: that one row is handed on as [`Listed::Damaged`].

use sea_orm::{
    ConnectionTrait, EntityTrait, FromQueryResult as _, QueryResult, QueryTrait as _, Select,
};
use slugbase_application::ports::{DamagedRow, Listed, StoreError, StoreResult};

use super::{corrupt, db_err};

/// A row's key as stored: text, or an integer; `None` when even the key does not read.
fn key_of(row: &QueryResult, key: &str) -> Option<String> {
    row.try_get::<String>("", key)
        .ok()
        .or_else(|| row.try_get::<i64>("", key).ok().map(|n| n.to_string()))
}

/// The rows of `select` on `conn`, each decoded with `decode` on its own: a row that does
/// not decode becomes `damaged(key as stored, why)` (its key is `None` when even the key
/// does not read), and the list goes on.
///
/// # Errors
/// Storage failures only.
pub(super) async fn rows_listed<E, T, C>(
    conn: &C,
    select: Select<E>,
    key: &str,
    decode: impl Fn(E::Model) -> StoreResult<T>,
    damaged: impl Fn(Option<String>, &StoreError) -> DamagedRow,
) -> StoreResult<Vec<Listed<T>>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let rows = conn.query_all(&select.into_query()).await.map_err(db_err)?;
    Ok(rows
        .iter()
        .map(|row| {
            // The driver's message may quote the stored value: a fixed description instead.
            let model = E::Model::from_query_result(row, "")
                .map_err(|_| corrupt("a column holds a value of the wrong type"));
            match model.and_then(&decode) {
                Ok(decoded) => Listed::Ok(decoded),
                Err(e) => Listed::Damaged(damaged(key_of(row, key), &e)),
            }
        })
        .collect())
}

/// A damaged row of `table`, logged under its key (`""`, said so, when the key does not
/// read either).
pub(super) fn logged(table: &'static str) -> impl Fn(Option<String>, &StoreError) -> DamagedRow {
    move |id, error| match id {
        Some(id) => DamagedRow::logged(table, id, error),
        None => {
            let error = StoreError::Other(anyhow::anyhow!("{error}; its key does not read either"));
            DamagedRow::logged(table, String::new(), &error)
        }
    }
}
