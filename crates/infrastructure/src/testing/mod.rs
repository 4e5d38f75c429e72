//! Test support (feature `testing`), never used by production code: a fresh PostgreSQL
//! database per test ([`postgres_url`]), a fresh MySQL/MariaDB database per test
//! ([`mysql_url`]), a clock that stands still ([`ManualClock`]) and every port over a store
//! with the real crypto adapters ([`wiring::build_deps`]), for tests that bypass the server's
//! composition root.

use std::io::Write as _;

mod clock;
mod mysql;
mod postgres;
pub mod wiring;

pub use clock::ManualClock;
pub use mysql::mysql_url;
pub use postgres::postgres_url;

/// The server a harness found or started (`find` runs off the async runtime, once per
/// process), or `None` after one skip line on stderr — and a panic under `CI=true`, where a
/// missing server must fail the run, not skip it. `engine` names it in both.
async fn server_or_skip(
    engine: &'static str,
    find: fn() -> &'static Result<String, String>,
    said: &'static std::sync::Once,
) -> Option<String> {
    let server = match tokio::task::spawn_blocking(move || find().clone()).await {
        Ok(result) => result,
        Err(e) => Err(format!("starting {engine} panicked: {e}")),
    };
    match server {
        Ok(url) => Some(url),
        Err(reason) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{engine} is required under CI=true but unavailable: {reason}");
            }
            said.call_once(|| {
                // Straight to stderr, past the test harness's capture, once per process.
                let _ = writeln!(std::io::stderr(), "skipping {engine} tests: {reason}");
            });
            None
        }
    }
}
