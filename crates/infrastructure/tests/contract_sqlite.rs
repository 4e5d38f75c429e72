//! The port contract suite over SQLite: a real database file in a fresh temporary
//! directory per check, migrated, WAL, foreign keys on; the caller lookups on the
//! synchronous read path (the default; `contract_sqlite_sqlx_reads.rs` runs them through
//! sqlx).

use std::sync::Arc;

use slugbase_infrastructure::sql::SeaOrmStore;

/// A migrated store on a new file in a new directory under cargo's `target/tmp` (kept: the
/// pool outlives this function; `target/` is the place for such leftovers).
async fn make() -> Option<Arc<SeaOrmStore>> {
    let dir = tempfile::Builder::new()
        .prefix("contract-sqlite-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir")
        .keep();
    let url = format!("sqlite://{}/nested/slugbase.db", dir.display());
    let store = SeaOrmStore::connect(&url).await.expect("connect");
    store.migrate_with(slugbase_migration::up).await.expect("migrate");
    assert!(store.reads_synchronously(), "a SQLite file reads synchronously by default");
    Some(Arc::new(store))
}

slugbase_application::storage_contract_tests!(make);
