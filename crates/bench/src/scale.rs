//! `slugbase-scale-bench` (issue 27): throughput with one, two and three instances behind
//! HAProxy, in one run.
//!
//! Three servers on one PostgreSQL or MariaDB database — in this process through
//! `slugbase_server::Application::build`, or child processes of the real binary with
//! `--server-bin` — behind one HAProxy with the committed configuration
//! (`deploy/haproxy/haproxy.cfg`, through the test kit's harness). Users are seeded through
//! the storage ports (as the main benchmark seeds them). Each round measures, for one
//! instance without the proxy (what the proxy costs), then one, two and three instances
//! behind it (the others in HAProxy's `maint` state, so the proxy and its configuration stay
//! the same), two loads at the same client concurrency:
//!
//! - `status`: `GET /api/auth/mfa/status` with a personal API token (a database read);
//! - `mix`: the same, with every tenth request a login's password step (Argon2id with the
//!   production parameters unless `--quick`).
//!
//! Rounds run the set in alternating order (1, 2, 3, then 3, 2, 1, …) so drift on a shared
//! machine falls on every column; the median round of each is reported. Ratios, never timed
//! assertions: what one machine shows depends on what else runs on it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use serde::Serialize;
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_server::config::{LoadOptions, Profile, encode_key, random_key};
use slugbase_testkit::haproxy::{self, Haproxy, SERVERS};

use crate::client::{ChildServer, Client, wait_healthy};
use crate::figures::{Machine, machine, median_by};
use crate::load::{Budget, Stats, drive};
use crate::seed::{DrivenUser, Seeder};

/// Options of `slugbase-scale-bench`.
#[derive(Clone, Debug, Parser)]
#[command(name = "slugbase-scale-bench", version)]
pub struct ScaleOptions {
    /// `postgres://…` or `mysql://…`: an empty, dedicated database (the run adds users).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: String,
    /// Run the three servers as child processes of this `slugbase` binary (e.g.
    /// `target/dist/slugbase`) instead of in this process.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// The HAProxy binary (default: `$SLUGBASE_HAPROXY`, `/usr/sbin/haproxy`, the `PATH`).
    #[arg(long)]
    pub haproxy: Option<PathBuf>,
    /// Concurrent client requests.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 8.0)]
    pub duration_secs: f64,
    /// Rounds of the whole set; the median round of each figure is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Users seeded with MFA and a token (the load cycles through them).
    #[arg(long, default_value_t = 200)]
    pub users: u64,
    /// Cheap Argon2, a few users, half-second phases, one round: a smoke run.
    #[arg(long)]
    pub quick: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One setup's figures: the median round of each load.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleRow {
    /// `direct` (one instance, no proxy) or `haproxy`.
    pub path: String,
    /// Instances taking requests.
    pub instances: usize,
    /// Status reads.
    pub status: Stats,
    /// Status reads with every tenth request a login.
    pub mix: Stats,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleReport {
    /// The machine.
    pub machine: Machine,
    /// `postgres` or `mysql`.
    pub database: String,
    /// `in process` or `child processes`.
    pub servers: String,
    /// Argon2id memory (KiB) and iterations.
    pub argon2: (u32, u32),
    /// Client concurrency.
    pub concurrency: usize,
    /// Seconds per phase.
    pub phase_secs: f64,
    /// Rounds.
    pub rounds: usize,
    /// `direct` 1, then `haproxy` 1, 2, 3.
    pub rows: Vec<ScaleRow>,
}

/// The setups measured, in a round's order.
const SETUPS: [(&str, usize); 4] = [("direct", 1), ("haproxy", 1), ("haproxy", 2), ("haproxy", 3)];

/// The servers' settings (the same for all three: one set of keys, one database).
fn server_env(options: &ScaleOptions) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for key in
        ["SLUGBASE__KEYS__ENCRYPTION__K1", "SLUGBASE__KEYS__BACKUP_CODE", "SLUGBASE__KEYS__CSRF"]
    {
        env.insert(key.to_owned(), encode_key(&random_key()));
    }
    let (memory, iterations) = if options.quick { (64, 1) } else { (19_456, 2) };
    for (key, value) in [
        ("SLUGBASE__DATABASE__URL", options.database_url.clone()),
        ("SLUGBASE__SERVER__HOST", "127.0.0.1".to_owned()),
        ("SLUGBASE__SERVER__PORT", "0".to_owned()),
        ("SLUGBASE__SERVER__TRUSTED_PROXIES", "127.0.0.1".to_owned()),
        // HAProxy, not the instance, closes idle connections (docs/scaling.md).
        ("SLUGBASE__SERVER__KEEP_ALIVE_TIMEOUT_SECS", "75".to_owned()),
        ("SLUGBASE__ARGON2__MEMORY_KIB", memory.to_string()),
        ("SLUGBASE__ARGON2__ITERATIONS", iterations.to_string()),
        ("SLUGBASE__ARGON2__PARALLELISM", "1".to_owned()),
        // The shipped automatic setting (the test profile would say 8).
        ("SLUGBASE__ARGON2__MAX_CONCURRENT", "0".to_owned()),
        // One client address makes every request: the limits are not what is measured.
        ("SLUGBASE__SECURITY__LIMITS__ADDRESS__MAX_FAILURES", "1000000".to_owned()),
        ("SLUGBASE__SECURITY__LIMITS__PASSWORD_ACCOUNT__MAX_FAILURES", "1000000".to_owned()),
    ] {
        env.insert(key.to_owned(), value);
    }
    env
}

/// A running server: in this process (its task) or a child process.
enum Instance {
    InProcess(tokio::task::JoinHandle<anyhow::Result<()>>),
    Child(ChildServer),
}

impl Drop for Instance {
    fn drop(&mut self) {
        match self {
            Self::InProcess(task) => task.abort(),
            Self::Child(child) => {
                let _ = child.0.kill();
            }
        }
    }
}

/// Starts one server; returns it and its port.
async fn start_instance(
    options: &ScaleOptions,
    env: &BTreeMap<String, String>,
    dir: &std::path::Path,
    n: usize,
) -> anyhow::Result<(Instance, u16)> {
    if let Some(bin) = &options.server_bin {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(dir.join(format!("server-{n}.log")))?;
        let child = std::process::Command::new(bin)
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| k == "PATH"))
            .envs(env)
            .env("SLUGBASE__SERVER__PORT", port.to_string())
            .env("SLUGBASE_PROFILE", "test")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let child = ChildServer(child);
        wait_healthy(&Client::new(port, 1)?).await?;
        return Ok((Instance::Child(child), port));
    }
    let loaded = load(env, dir)?;
    let app = slugbase_server::Application::build(loaded).await?;
    let port = app.port();
    let task = tokio::spawn(app.run_until_stopped());
    wait_healthy(&Client::new(port, 1)?).await?;
    Ok((Instance::InProcess(task), port))
}

fn load(
    env: &BTreeMap<String, String>,
    dir: &std::path::Path,
) -> anyhow::Result<slugbase_server::config::Loaded> {
    let options = LoadOptions {
        profile: Profile::Test,
        // Absent: the embedded copies of config/*.toml are used.
        config_dir: dir.join("no-config-dir"),
        config_file: None,
        env: Some(env.clone()),
    };
    slugbase_server::config::load(&options).context("server configuration")
}

/// Puts the first `active` servers in rotation and the others in maintenance, and waits
/// until HAProxy says so.
async fn activate(proxy: &Haproxy, active: usize) {
    for (i, server) in SERVERS.iter().enumerate() {
        if i < active {
            proxy.ready(server).await;
        } else {
            proxy.set_state(server, "maint").await;
            proxy.wait_status(server, "MAINT", Duration::from_secs(10)).await;
        }
    }
}

/// Runs the benchmark. `progress` receives one line per step.
///
/// # Errors
/// When a server, HAProxy or seeding fails to start.
///
/// # Panics
/// When HAProxy does not start or does not take a command (the test kit's harness).
pub async fn run(
    options: &ScaleOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<ScaleReport> {
    let (concurrency, phase, rounds, users) = if options.quick {
        (options.concurrency.min(8), Duration::from_millis(500), 1, options.users.min(20))
    } else {
        (
            options.concurrency.max(1),
            Duration::from_secs_f64(options.duration_secs.max(0.1)),
            options.rounds.max(1),
            options.users.max(20),
        )
    };
    let haproxy_bin = options
        .haproxy
        .clone()
        .or_else(haproxy::binary)
        .context("HAProxy not found (scripts/haproxy.sh installs it; or --haproxy)")?;
    let dir = tempfile::tempdir().context("temporary directory")?;
    let env = server_env(options);
    let loaded = load(&env, dir.path())?;
    let argon2 = (loaded.settings.argon2.memory_kib, loaded.settings.argon2.iterations);

    // One after the other: the first migrates.
    let mut instances = Vec::new();
    let mut ports = Vec::new();
    for n in 1..=3 {
        let (instance, port) = start_instance(options, &env, dir.path(), n).await?;
        instances.push(instance);
        ports.push(port);
    }
    let addresses: [String; 3] = std::array::from_fn(|i| format!("127.0.0.1:{}", ports[i]));
    let proxy = Haproxy::start(&haproxy_bin, &addresses).await;
    let proxy_port: u16 =
        proxy.base().rsplit(':').next().and_then(|p| p.parse().ok()).context("proxy port")?;
    progress(&format!("three servers on {addresses:?} behind HAProxy on {}", proxy.base()));

    let store = SeaOrmStore::connect(&options.database_url).await.context("seeding connection")?;
    let db = store.connection().clone();
    let root = slugbase_server::root::Root::new(
        loaded,
        slugbase_server::root::Stores::over(Arc::new(store)),
        Arc::new(slugbase_infrastructure::crypto::SystemClock),
        None,
    );
    let mut seeder = Seeder::new(root.deps()?.clone(), db).await?;
    let users: Arc<Vec<DrivenUser>> = Arc::new(seeder.driven(users).await?);
    progress(&format!("seeded {} users", users.len()));

    let direct = Client::new(ports[0], concurrency)?;
    let proxied = Client::new(proxy_port, concurrency)?;
    proxied.status_says_enabled(&users[0]).await?;

    let budget = Budget::timed(phase);
    let mut status_runs: Vec<Vec<Stats>> = vec![Vec::new(); SETUPS.len()];
    let mut mix_runs: Vec<Vec<Stats>> = vec![Vec::new(); SETUPS.len()];
    for round in 1..=rounds {
        let mut order: Vec<usize> = (0..SETUPS.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for k in order {
            let (path, active) = SETUPS[k];
            activate(&proxy, if path == "direct" { 3 } else { active }).await;
            let client = if path == "direct" { direct.clone() } else { proxied.clone() };
            let (cl, us) = (client.clone(), users.clone());
            let status = drive(concurrency, budget, move |i| {
                let (cl, us) = (cl.clone(), us.clone());
                async move { cl.status_token(&us[i % us.len()]).await }
            })
            .await;
            let (cl, us) = (client.clone(), users.clone());
            let mix = drive(concurrency, budget, move |i| {
                let (cl, us) = (cl.clone(), us.clone());
                async move {
                    let user = &us[i % us.len()];
                    if i % 10 == 0 { cl.login(user).await } else { cl.status_token(user).await }
                }
            })
            .await;
            progress(&format!(
                "round {round}: {path} × {active}: status {:.0} req/s, mix {:.0} req/s",
                status.throughput, mix.throughput
            ));
            status_runs[k].push(status);
            mix_runs[k].push(mix);
        }
    }
    let rows = SETUPS
        .iter()
        .zip(status_runs.into_iter().zip(mix_runs))
        .map(|(&(path, instances), (status, mix))| ScaleRow {
            path: path.to_owned(),
            instances,
            status: median_by(status, |s| s.throughput).unwrap_or_default(),
            mix: median_by(mix, |s| s.throughput).unwrap_or_default(),
        })
        .collect();
    drop(proxy);
    drop(instances);
    Ok(ScaleReport {
        machine: machine(),
        database: if options.database_url.starts_with("mysql:") { "mysql" } else { "postgres" }
            .to_owned(),
        servers: if options.server_bin.is_some() { "child processes" } else { "in process" }
            .to_owned(),
        argon2,
        concurrency,
        phase_secs: phase.as_secs_f64(),
        rounds,
        rows,
    })
}

/// Prints the report as a Markdown table: throughput, latency and each figure as a ratio
/// to one instance behind HAProxy.
///
/// # Errors
/// When `out` cannot be written.
pub fn print(out: &mut impl std::io::Write, report: &ScaleReport) -> std::io::Result<()> {
    let one = report.rows.iter().find(|r| r.path == "haproxy" && r.instances == 1);
    let (status_one, mix_one) =
        one.map_or((f64::NAN, f64::NAN), |r| (r.status.throughput, r.mix.throughput));
    writeln!(
        out,
        "{} CPUs ({}), {}, servers {}, Argon2id m={} KiB t={}, concurrency {}, {} s phases, \
         median of {} round(s)\n",
        report.machine.cpus,
        report.machine.cpu_model,
        report.database,
        report.servers,
        report.argon2.0,
        report.argon2.1,
        report.concurrency,
        report.phase_secs,
        report.rounds
    )?;
    writeln!(
        out,
        "| setup | status req/s | × 1 behind HAProxy | p50 ms | p99 ms | mix req/s | × 1 behind \
         HAProxy | mix p99 ms | errors |\n|---|---|---|---|---|---|---|---|---|"
    )?;
    for row in &report.rows {
        writeln!(
            out,
            "| {} × {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.1} | {} |",
            row.path,
            row.instances,
            row.status.throughput,
            row.status.throughput / status_one,
            row.status.p50_ms,
            row.status.p99_ms,
            row.mix.throughput,
            row.mix.throughput / mix_one,
            row.mix.p99_ms,
            row.status.errors + row.mix.errors
        )?;
    }
    Ok(())
}
