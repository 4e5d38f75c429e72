//! Test support (feature `testing`), never used by production code: a fresh PostgreSQL
//! database per test ([`postgres_url`]), a fresh MySQL/MariaDB database per test
//! ([`mysql_url`]) and a clock that stands still ([`ManualClock`]).

mod clock;
mod mysql;
mod postgres;

pub use clock::ManualClock;
pub use mysql::mysql_url;
pub use postgres::postgres_url;
