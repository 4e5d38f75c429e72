//! The port contract suite over PostgreSQL: a fresh database per check on a real server
//! (`$DATABASE_URL`'s, or a throwaway local cluster; see `slugbase_infrastructure::testing`).
//! Without PostgreSQL the checks print why and pass, except under `CI=true`, where they fail.

use std::sync::Arc;

use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::testing::postgres_url;

async fn make() -> Option<Arc<SeaOrmStore>> {
    let url = postgres_url().await?;
    let store = SeaOrmStore::connect(&url).await.expect("connect");
    store.migrate_with(slugbase_migration::up).await.expect("migrate");
    Some(Arc::new(store))
}

slugbase_application::storage_contract_tests!(make);
