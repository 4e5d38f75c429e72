//! Why a storage port failed, and the result every storage port returns.

/// Why a storage port failed. Never a client's mistake.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out; the request may succeed later (503).
    #[error("storage is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A uniqueness rule was violated (duplicate e-mail, …); names the rule.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Anything else: a bug or corrupt data (500).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Result of a storage port.
pub type StoreResult<T> = Result<T, StoreError>;
