//! `slugbase-scale-bench`: issue 27's throughput with one, two and three instances behind
//! HAProxy (see BENCHMARKS.md, "Instances behind HAProxy"). Progress on stderr, the
//! Markdown table on stdout.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use slugbase_bench::scale::{self, ScaleOptions};

#[tokio::main]
async fn main() -> ExitCode {
    let options = ScaleOptions::parse();
    let progress = |line: &str| {
        let _ = writeln!(std::io::stderr(), "scale-bench: {line}");
    };
    let report = match scale::run(&options, &progress).await {
        Ok(report) => report,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let _ = scale::print(&mut std::io::stdout().lock(), &report);
    if let Some(path) = &options.json {
        let written = serde_json::to_string_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(path, text));
        if let Err(error) = written {
            let _ = writeln!(std::io::stderr(), "error: {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    // In-process servers keep worker threads: leave without waiting for them.
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}
