//! Failures shared by every use case: input validation, and the unexpected.

use std::fmt;

use crate::ports::{CipherError, StoreError};

/// One field at fault, as the contract's `details` entries show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON field name.
    pub field: String,
    /// Human sentence.
    pub message: String,
}

/// Input that failed validation (400 `VALIDATION_FAILED`, details name the fields).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// One field at fault.
    #[must_use]
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError { field: field.into(), message: message.into() }])
    }

    /// Adds a field.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }

    /// Whether no field is at fault.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when no field is at fault.
    ///
    /// # Errors
    /// `self` when a field is at fault.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<_> = self.0.iter().map(|e| e.field.as_str()).collect();
        write!(f, "invalid fields: {}", fields.join(", "))
    }
}

impl std::error::Error for ValidationErrors {}

/// The adapter could not turn the request into the use case's input: its body was too
/// large, not JSON, or had a field missing or of the wrong type. Why is the adapter's to say
/// (it keeps the reason); the use case only learns *that*, and reports it back as its own
/// `InputRejected` error at the contract's point: after the attempt limit where there is
/// one (row 4 of the disable table comes after row 3), after the checks that need no input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("the request could not be read as this operation's input")]
pub struct InputRejected;

/// A failure that is not the client's: storage down (503) or a bug / corrupt data (500).
/// The cause chain is for the log, never for the response body.
#[derive(Debug, thiserror::Error)]
pub enum Unexpected {
    /// The database cannot be reached; retrying later may work.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for Unexpected {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            other @ StoreError::Conflict(_) => Self::Internal(anyhow::Error::new(other)),
            StoreError::Other(cause) => Self::Internal(cause),
        }
    }
}

impl From<anyhow::Error> for Unexpected {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

impl From<CipherError> for Unexpected {
    fn from(e: CipherError) -> Self {
        Self::Internal(anyhow::Error::new(e).context("stored TOTP secret cannot be opened"))
    }
}

/// Lets `?` turn port failures into a use-case error's `Unexpected` variant: implements
/// `From<StoreError>`, `From<anyhow::Error>` and `From<CipherError>` for the error named.
/// Invoked beside each use-case error, so its conversions sit next to it.
macro_rules! unexpected_from_ports {
    ($error:ty) => {
        impl From<$crate::ports::StoreError> for $error {
            fn from(e: $crate::ports::StoreError) -> Self {
                Self::Unexpected(e.into())
            }
        }
        impl From<anyhow::Error> for $error {
            fn from(e: anyhow::Error) -> Self {
                Self::Unexpected(e.into())
            }
        }
        impl From<$crate::ports::CipherError> for $error {
            fn from(e: $crate::ports::CipherError) -> Self {
                Self::Unexpected(e.into())
            }
        }
    };
}
pub(crate) use unexpected_from_ports;
