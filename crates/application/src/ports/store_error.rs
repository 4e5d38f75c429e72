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

/// One row of a list read from storage: decoded, or damaged. A stored row that no longer
/// decodes (hand-edited, written by an older build with looser rules, bit rot) must not
/// take the whole list down: the store logs it (its id and what is wrong, never its
/// content) and hands it on as [`Listed::Damaged`], and the list shows it as such.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listed<T> {
    /// The row, decoded.
    Ok(T),
    /// The row does not decode.
    Damaged(DamagedRow),
}

impl<T> Listed<T> {
    /// The decoded row, if it decoded.
    #[must_use]
    pub fn ok(self) -> Option<T> {
        match self {
            Self::Ok(row) => Some(row),
            Self::Damaged(_) => None,
        }
    }

    /// The decoded row, by reference.
    #[must_use]
    pub fn as_ok(&self) -> Option<&T> {
        match self {
            Self::Ok(row) => Some(row),
            Self::Damaged(_) => None,
        }
    }

    /// Every row of `rows`, decoded; the first damaged one is the error (for code that needs
    /// every row, not for a list shown to people).
    ///
    /// # Errors
    /// [`StoreError::Other`] naming what is wrong with the first damaged row.
    pub fn all_ok(rows: Vec<Self>) -> StoreResult<Vec<T>> {
        rows.into_iter()
            .map(|listed| match listed {
                Self::Ok(row) => Ok(row),
                Self::Damaged(row) => Err(StoreError::Other(anyhow::anyhow!(row.problem))),
            })
            .collect()
    }

    /// The decoded row mapped with `f`; a damaged row stays damaged.
    #[must_use]
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Listed<U> {
        match self {
            Self::Ok(row) => Listed::Ok(f(row)),
            Self::Damaged(damaged) => Listed::Damaged(damaged),
        }
    }
}

/// A stored row that does not decode: its key as stored, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedRow {
    /// The row's primary key, as stored (it may itself be what is damaged).
    pub id: String,
    /// What does not decode (a fixed description such as "corrupt stored data: email";
    /// never the stored value).
    pub problem: String,
}

impl DamagedRow {
    /// Logs the damaged row of `table` (id and problem only) and returns it, for lists that
    /// carry on without it.
    #[must_use]
    pub fn logged(table: &'static str, id: String, error: &StoreError) -> Self {
        Self::unlogged(id, error).log(table)
    }

    /// The damaged row, not logged: for a row whose key must never reach a log (a session's
    /// stored digest). Whoever lists it replaces `id` with a public name and logs it with
    /// [`DamagedRow::log`].
    #[must_use]
    pub fn unlogged(id: String, error: &StoreError) -> Self {
        Self { id, problem: error.to_string() }
    }

    /// Logs this row of `table` (id and problem only) and returns it.
    #[must_use]
    pub fn log(self, table: &'static str) -> Self {
        let Self { id, problem } = &self;
        tracing::error!(
            table,
            row.id = %id,
            problem = %problem,
            "a stored row does not decode; listed as damaged"
        );
        self
    }
}
