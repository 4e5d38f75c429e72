//! The MySQL/MariaDB test harness without a server: outside CI it skips with one clear line,
//! under `CI=true` it fails. Each case re-runs this test binary's `probe` in a child process
//! with an environment where no server can be found.

use std::process::{Command, Output};

use slugbase_infrastructure::testing::mysql_url;

/// Asks the harness for a database; only meaningful inside the child process.
#[tokio::test(flavor = "multi_thread")]
async fn probe() {
    if std::env::var_os("SLUGBASE_HARNESS_PROBE").is_none() {
        return;
    }
    assert_eq!(mysql_url().await, None, "no server can be found in this environment");
}

fn run_probe(ci: Option<&str>) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args(["probe", "--exact", "--test-threads=1"])
        .env("SLUGBASE_HARNESS_PROBE", "1")
        .env("SLUGBASE_TEST_MARIADB_BIN", "/nonexistent/mariadb")
        .env_remove("MYSQL_URL")
        .env_remove("DATABASE_URL_MYSQL");
    match ci {
        Some(value) => cmd.env("CI", value),
        None => cmd.env_remove("CI"),
    };
    cmd.output().expect("run the probe")
}

#[test]
fn without_mariadb_the_tests_skip_with_one_clear_line_outside_ci() {
    let out = run_probe(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "probe failed: {stderr}");
    assert_eq!(stderr.matches("skipping MySQL/MariaDB tests: ").count(), 1, "{stderr}");
    assert!(stderr.contains("MYSQL_URL is not set"), "says why: {stderr}");
}

#[test]
fn without_mariadb_the_tests_fail_under_ci() {
    let out = run_probe(Some("true"));
    let all =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "must fail under CI=true: {all}");
    assert!(all.contains("MySQL/MariaDB is required under CI=true"), "{all}");
}
