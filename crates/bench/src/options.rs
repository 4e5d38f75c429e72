//! Command-line options of `slugbase-bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// One measured scenario (issue 7, item 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    /// `GET /api/version`: the HTTP floor.
    A,
    /// `GET /api/auth/mfa/status` with a Bearer token and with a session cookie.
    B,
    /// The full disable (password + TOTP) at concurrency 1, against the intrinsic crypto cost.
    C,
    /// Status latency idle versus while 8 logins are hashing.
    D,
    /// RSS idle, after seeding, and at the peak of a flood of concurrent logins.
    E,
    /// Status throughput with the small versus the large user count.
    F,
}

/// Benchmarks the SlugBase Auth server: starts it in this process on SQLite (or the given
/// PostgreSQL), seeds users through the storage ports, drives it over loopback.
#[derive(Clone, Debug, Parser)]
#[command(name = "slugbase-bench", version)]
pub struct Options {
    /// Users in the database for the large half of scenario (f) (alias: --users-large).
    #[arg(long, alias = "users-large", default_value_t = 1_000_000)]
    pub users: u64,
    /// Users in the database for everything else, and the small half of (f).
    #[arg(long, default_value_t = 1_000)]
    pub users_small: u64,
    /// Concurrent client requests for the throughput scenarios.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    /// `postgres://…` or `mysql://…` to benchmark on PostgreSQL or MySQL/MariaDB (the
    /// database should be empty and dedicated: the run adds N users). Default: a fresh SQLite file in a temporary directory.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Tiny scale, cheap Argon2 and half-second phases: a smoke run of a few seconds.
    #[arg(long)]
    pub quick: bool,
    /// Scenarios to run (default: all). Repeat or separate with commas.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenario: Vec<Scenario>,
    /// Concurrent logins in the flood of scenario (e).
    #[arg(long, default_value_t = 200)]
    pub flood: usize,
    /// Argon2 hashes the server computes at once (`argon2.max_concurrent`). Default: the
    /// shipped setting, 0 = automatic (one less than the cores, at least 1).
    #[arg(long)]
    pub hash_concurrency: Option<usize>,
    /// Run the server as a child process from this `slugbase` binary (e.g.
    /// `target/release/slugbase`) instead of in this process; RSS is then the server's alone.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Rounds of each throughput/latency phase, interleaved; the median round is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// SQLite: `database.sqlite_sync_reads` (`true`: the caller lookups on read-only
    /// connections on the request's thread; `false`: through sqlx). Default: the shipped
    /// setting. Sets `SLUGBASE__DATABASE__SQLITE_SYNC_READS` for the server.
    #[arg(long)]
    pub sqlite_sync_reads: Option<bool>,
}

/// The options after `--quick` and the defaults are applied.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Users for the large half of (f).
    pub users_large: u64,
    /// Users for everything else.
    pub users_small: u64,
    /// Users seeded with MFA, a token and a session through the ports (they drive the load).
    pub driven: u64,
    /// Client concurrency.
    pub concurrency: usize,
    /// Length of each measured phase.
    pub phase: Duration,
    /// Database URL, when not a temporary SQLite file.
    pub database_url: Option<String>,
    /// Production Argon2 (false only with `--quick`).
    pub production_argon2: bool,
    /// Scenarios to run, sorted.
    pub scenarios: Vec<Scenario>,
    /// Logins in the flood of (e).
    pub flood: usize,
    /// `argon2.max_concurrent` (0: automatic).
    pub hash_concurrency: usize,
    /// JSON output file.
    pub json: Option<PathBuf>,
    /// Rounds per phase.
    pub rounds: usize,
    /// Server binary for the child-process mode.
    pub server_bin: Option<PathBuf>,
    /// Quick mode.
    pub quick: bool,
    /// `database.sqlite_sync_reads`, when not the shipped setting.
    pub sqlite_sync_reads: Option<bool>,
}

impl Options {
    /// The plan these options ask for.
    #[must_use]
    pub fn plan(&self) -> Plan {
        let mut scenarios = if self.scenario.is_empty() {
            Scenario::value_variants().to_vec()
        } else {
            self.scenario.clone()
        };
        scenarios.sort_unstable();
        scenarios.dedup();
        let (users_small, users_large, concurrency, phase, flood) = if self.quick {
            (60, 300, self.concurrency.min(8), Duration::from_millis(400), self.flood.min(200))
        } else {
            (
                self.users_small.max(2),
                self.users.max(self.users_small.max(2)),
                self.concurrency.max(1),
                Duration::from_secs_f64(self.duration_secs.max(0.1)),
                self.flood.max(1),
            )
        };
        Plan {
            users_large,
            users_small,
            driven: users_small.min(1_000),
            concurrency,
            phase,
            database_url: self.database_url.clone(),
            production_argon2: !self.quick,
            scenarios,
            flood,
            hash_concurrency: self.hash_concurrency.unwrap_or(0),
            json: self.json.clone(),
            quick: self.quick,
            rounds: if self.quick { 1 } else { self.rounds.max(1) },
            server_bin: self.server_bin.clone(),
            sqlite_sync_reads: self.sqlite_sync_reads,
        }
    }
}

impl Plan {
    /// Whether `scenario` runs.
    #[must_use]
    pub fn runs(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }
}
