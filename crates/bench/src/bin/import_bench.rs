//! `slugbase-import-bench [USERS]`: issue 26's import benchmark (see BENCHMARKS.md,
//! "SlugBase import"): generates a SlugBase database of USERS (default 10 000, half with
//! MFA), imports it, prints the throughput against the scrypt-bound limit.

use std::io::Write as _;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let users = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let progress = |line: &str| {
        let _ = writeln!(std::io::stderr(), "import-bench: {line}");
    };
    match slugbase_bench::import::run(users, &progress).await {
        Ok(f) => {
            let _ = writeln!(
                std::io::stdout(),
                "| users | MFA users | cores | one scrypt (ms) | import (s) | users/s | \
                 scrypt-bound (s) | ratio | scrypt CPU (ms) | import CPU (s) | CPU ratio | load | \
                 all cores (ms per scrypt) | ratio to all cores |\n\
                 |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n\
                 | {} | {} | {} | {:.1} | {:.1} | {:.0} | {:.1} | {:.2} | {:.1} | {:.1} | {:.2} | {:.1} \
                 | {:.1} | {:.2} |",
                f.users,
                f.mfa_users,
                f.cores,
                f.scrypt_ms,
                f.import_secs,
                f.users_per_sec,
                f.scrypt_bound_secs,
                f.ratio,
                f.scrypt_cpu_ms,
                f.import_cpu_secs,
                f.cpu_ratio,
                f.load_average,
                f.all_cores_ms,
                f.all_cores_ratio
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
