//! The port contract suite over SQLite: a real database file in a fresh temporary
//! directory per check, migrated, WAL, foreign keys on.

use std::sync::Arc;

use slugbase_infrastructure::sql::SeaOrmStore;

/// A migrated store on a new file; the directory lives as long as the process (leaked on
/// purpose: the store outlives the check's scope in spawned tasks).
async fn make() -> Option<Arc<SeaOrmStore>> {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let url = format!("sqlite://{}/nested/slugbase.db", dir.display());
    let store = SeaOrmStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Some(Arc::new(store))
}

slugbase_application::storage_contract_tests!(make);
