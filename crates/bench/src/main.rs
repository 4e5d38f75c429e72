//! `slugbase-bench`: parse the options, run the benchmark, print (and optionally save) the
//! figures. See BENCHMARKS.md at the repository root.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use slugbase_bench::options::Options;

#[tokio::main]
async fn main() -> ExitCode {
    let plan = Options::parse().plan();
    let progress = |line: &str| {
        let _ = writeln!(std::io::stderr(), "bench: {line}");
    };
    match slugbase_bench::run::run(&plan, &progress).await {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            let _ = slugbase_bench::report::print(&mut out, &report);
            if let Some(path) = &plan.json {
                let text = match serde_json::to_string_pretty(&report) {
                    Ok(text) => text,
                    Err(error) => {
                        let _ = writeln!(std::io::stderr(), "error: {error}");
                        return ExitCode::FAILURE;
                    }
                };
                if let Err(error) = std::fs::write(path, text) {
                    let _ = writeln!(std::io::stderr(), "error: {}: {error}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            // The in-process server keeps worker threads: leave without waiting for them.
            let _ = out.flush();
            drop(out);
            std::process::exit(0)
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
