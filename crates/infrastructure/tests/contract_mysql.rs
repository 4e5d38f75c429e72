//! The port contract suite over MySQL/MariaDB: a fresh database per check on a real server
//! (`$MYSQL_URL`'s, or a throwaway local MariaDB; see `slugbase_infrastructure::testing`).
//! Without one the checks print why and pass, except under `CI=true`, where they fail.

use std::sync::Arc;

use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::testing::mysql_url;

async fn make() -> Option<Arc<SeaOrmStore>> {
    let url = mysql_url().await?;
    let store = SeaOrmStore::connect(&url).await.expect("connect");
    store.migrate_with(slugbase_migration::up).await.expect("migrate");
    Some(Arc::new(store))
}

slugbase_application::storage_contract_tests!(make);
