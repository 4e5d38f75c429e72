//! The contract of `ping`: a reachable store answers it.

use std::sync::Arc;

use crate::ports::Storage;

/// A reachable store answers `ping`.
pub async fn a_reachable_store_answers_ping<S: Storage>(store: Arc<S>) {
    store.ping().await.expect("ping");
}
