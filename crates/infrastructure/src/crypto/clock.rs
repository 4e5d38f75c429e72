//! The system clock ([`Clock`]).

use chrono::{DateTime, Utc};
use slugbase_application::ports::Clock;

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
