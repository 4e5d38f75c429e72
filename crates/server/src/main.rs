//! `slugbase`: parse the command line, run it, report failure with a non-zero exit code.

use std::process::ExitCode;

use clap::Parser as _;
use slugbase_server::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Also to the log (JSON in production), then plainly for the operator.
            tracing::error!(error = format!("{error:#}"), "slugbase stopped with an error");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
