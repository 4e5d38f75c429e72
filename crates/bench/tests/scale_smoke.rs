//! `slugbase-scale-bench --quick`: three servers on a fresh PostgreSQL database behind HAProxy,
//! every setup measured (one instance direct, one to three behind the proxy) with every
//! request answered as expected. Timings are not asserted (BENCHMARKS.md reports them).
//! Without HAProxy or PostgreSQL: one skip line (a failure under `CI=true`).

use std::process::Command;

use serde_json::Value;

#[test]
fn the_quick_scale_run_measures_one_two_and_three_instances_with_every_request_answered() {
    let Some(haproxy) = slugbase_testkit::haproxy::available() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = runtime.block_on(slugbase_infrastructure::testing::postgres_url()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("scale.json");
    let output = Command::new(env!("CARGO_BIN_EXE_slugbase-scale-bench"))
        .args(["--quick", "--database-url", &url, "--json"])
        .arg(&json)
        .arg("--haproxy")
        .arg(&haproxy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scale bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let setups: Vec<(String, u64)> = rows
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_owned(), r["instances"].as_u64().unwrap()))
        .collect();
    let expected = [("direct", 1), ("haproxy", 1), ("haproxy", 2), ("haproxy", 3)];
    assert_eq!(setups, expected.map(|(p, n)| (p.to_owned(), n)).to_vec());
    for row in rows {
        for load in ["status", "mix"] {
            let stats = &row[load];
            assert!(stats["ok"].as_u64().unwrap() > 0, "{load} answered nothing: {row}");
            assert_eq!(stats["errors"].as_u64().unwrap(), 0, "{load} had failed requests: {row}");
        }
    }
    assert!(stdout.contains("| haproxy × 3 |"), "{stdout}");
}
