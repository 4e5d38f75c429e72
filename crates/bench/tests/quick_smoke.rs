//! The `--quick` smoke run: the real binary starts the real server, seeds, drives every
//! scenario at tiny scale with cheap Argon2, and reports every figure. Timings are not
//! asserted (speed targets live in BENCHMARKS.md); outcomes are: every scenario ran, every
//! request got the expected answer (a disable only succeeds with the right password and a
//! real, unused TOTP code), and every ratio of issue 7 was computed.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

use std::process::Command;

use serde_json::Value;

fn stats_ok(report: &Value, key: &str) {
    let stats = &report[key];
    assert!(stats.is_object(), "{key} missing: {report:#}");
    let number = |field: &str| stats[field].as_f64().expect("a number");
    assert!(number("ok") > 0.0, "{key} answered nothing as expected: {stats}");
    assert!(number("errors") == 0.0, "{key} had failed requests: {stats}");
    for field in ["throughput", "p50_ms", "p90_ms", "p99_ms"] {
        assert!(number(field) > 0.0, "{key}.{field}: {stats}");
    }
}

#[test]
fn the_quick_run_reports_every_scenario_with_every_request_answered_as_expected() {
    quick_run(None);
}

/// The same on a fresh MariaDB database (`--database-url mysql://…`): seeding, bulk filler
/// inserts and every scenario work there too.
#[test]
fn the_quick_run_on_mariadb_reports_every_scenario_too() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = runtime.block_on(slugbase_infrastructure::testing::mysql_url()) else {
        return;
    };
    quick_run(Some(&url));
}

fn quick_run(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_slugbase-bench"));
    command.args(["--quick", "--json"]).arg(&json).env_remove("BENCH_DATABASE_URL");
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed:\n{stdout}\n{stderr}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    if database_url.is_some() {
        assert_eq!(report["config"]["database"], "mysql", "{report:#}");
    }
    for key in [
        "a_version",
        "a_health",
        "b_status_token",
        "b_status_cookie",
        "c_disable",
        "d_status_idle",
        "d_status_loaded",
        "d_logins",
        "f_status_small",
        "f_status_large",
    ] {
        stats_ok(&report, key);
    }
    assert!(report["c_intrinsic_ms"].as_f64().unwrap() > 0.0);

    let memory = &report["e_memory"];
    stats_ok(memory, "flood_logins");
    assert_eq!(memory["flood_logins"]["ok"].as_u64().unwrap(), 200, "all 200 flood logins");
    for field in [
        "idle_kib",
        "after_seeding_kib",
        "after_large_seeding_kib",
        "before_flood_kib",
        "flood_peak_kib",
        "bound_kib",
    ] {
        assert!(memory[field].as_u64().unwrap() > 0, "{field}: {memory}");
    }

    let seeding = &report["seeding"];
    assert_eq!(report["config"]["users_large"].as_u64().unwrap(), 300);
    assert_eq!(
        seeding["driven_users"].as_u64().unwrap() + seeding["filler_users"].as_u64().unwrap(),
        300,
        "the database was filled to the large user count: {seeding}"
    );

    let targets = report["targets"].as_array().unwrap();
    let names: Vec<&str> = targets.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for prefix in ["(b)/(a) status token", "(b)/(a) status cookie", "(c)", "(d)", "(e)", "(f)"] {
        assert!(names.iter().any(|n| n.starts_with(prefix)), "no {prefix} ratio in {names:?}");
    }
    for t in targets {
        assert!(t["value"].as_f64().is_some_and(f64::is_finite), "ratio not computed: {t}");
    }
    // The printed table carries the same figures.
    for needle in ["(a) GET /api/version", "(c) POST mfa/disable", "(e) RSS", "| target |"] {
        assert!(stdout.contains(needle), "{needle} missing from the table:\n{stdout}");
    }
}
