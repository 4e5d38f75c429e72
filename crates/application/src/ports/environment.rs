//! Time and randomness.

use chrono::{DateTime, Utc};

/// The time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// Cryptographically secure randomness.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Random: Send + Sync {
    /// 32 random bytes (session ids, API tokens).
    fn bytes_32(&self) -> [u8; 32];
    /// 8 random bytes (one backup code).
    fn bytes_8(&self) -> [u8; 8];
}
