//! The port contract suite over the in-memory store.

use std::sync::Arc;

use slugbase_infrastructure::memory::InMemoryStore;

async fn make() -> Option<Arc<InMemoryStore>> {
    Some(Arc::new(InMemoryStore::new()))
}

slugbase_application::storage_contract_tests!(make);
