//! Test support (feature `testing`), never used by production code: a fresh PostgreSQL
//! database per test ([`postgres_url`]) and a clock that stands still ([`ManualClock`]).

mod clock;
mod postgres;

pub use clock::ManualClock;
pub use postgres::postgres_url;
