//! The port contract suite over SQLite with `sqlite_sync_reads` off: every read, the caller
//! lookups included, through sqlx (`contract_sqlite.rs` runs the synchronous read path).

use std::sync::Arc;

use slugbase_infrastructure::sql::{SeaOrmStore, StoreOptions};

/// A migrated store on a new file in a new directory under cargo's `target/tmp` (kept: the
/// pool outlives this function; `target/` is the place for such leftovers).
async fn make() -> Option<Arc<SeaOrmStore>> {
    let dir = tempfile::Builder::new()
        .prefix("contract-sqlite-sqlx-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir")
        .keep();
    let url = format!("sqlite://{}/nested/slugbase.db", dir.display());
    let options = StoreOptions { sqlite_sync_reads: false, ..StoreOptions::default() };
    let store = SeaOrmStore::connect_with(&url, &options).await.expect("connect");
    store.migrate_with(slugbase_migration::up).await.expect("migrate");
    assert!(!store.reads_synchronously(), "sqlite_sync_reads = false reads through sqlx");
    Some(Arc::new(store))
}

slugbase_application::storage_contract_tests!(make);
