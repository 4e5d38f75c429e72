//! Tests that need a program from outside Rust (Node and its packages, Chromium, aiosmtpd):
//! they run, or each test binary prints one skip line — except under `CI=true`, where a
//! missing prerequisite fails the test (as a missing PostgreSQL does).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Once;

/// `true` when nothing is `missing`; otherwise `false` after one line on stderr for the
/// whole test binary (per `said`).
///
/// # Panics
/// Under `CI=true` when something is missing.
pub(crate) fn available_or_skip(tests: &str, said: &'static Once, missing: Option<String>) -> bool {
    let Some(reason) = missing else { return true };
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "the {tests} tests cannot run under CI=true: {reason}"
    );
    said.call_once(|| {
        // Straight to stderr, past the test harness's capture.
        let _ = writeln!(std::io::stderr(), "skipping {tests} tests: {reason}");
    });
    false
}

/// Why Node cannot run `package` from `dir` (installed by `npm ci` there), if it cannot.
pub(crate) fn node_package_missing(dir: &std::path::Path, package: &str) -> Option<String> {
    let node =
        Command::new("node").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("node is not installed".to_owned());
    }
    if !dir.join("node_modules").join(package).join("package.json").exists() {
        return Some(format!("run `npm ci` in {}", dir.display()));
    }
    None
}
