//! One benchmark run: start the server in this process, seed, drive every scenario, and
//! collect the figures into a [`Report`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_server::config::{LoadOptions, Loaded, Profile, encode_key, random_key};

use crate::client::{ChildServer, Client, wait_healthy};
pub use crate::figures::{Machine, Memory, Report, RunConfig, Seeding, Target};
use crate::figures::{machine, median_by, per_request, targets};
use crate::intrinsic::Intrinsic;
use crate::load::{Budget, Stats, drive};
use crate::options::{Plan, Scenario};
use crate::rss;
use crate::seed::{DrivenUser, Seeder};

/// Logins hashing in the background of scenario (d).
pub const HASHING_LOGINS: usize = 8;

/// In (c), the pause between a disable's answer and the in-process yardstick: long enough for
/// the server to wipe its hash buffer (≈ 1 ms here) with the machine to itself.
const AFTER_ANSWER_PAUSE: Duration = Duration::from_millis(5);

/// The server's configuration: test profile (keys from here, no files needed), a free port,
/// production Argon2 unless quick, `argon2.max_concurrent` as asked (0: the shipped automatic
/// default, which the test profile would otherwise override), every other setting at its
/// shipped default.
fn load_config(
    plan: &Plan,
    url: &str,
    config_dir: &std::path::Path,
) -> anyhow::Result<(Loaded, BTreeMap<String, String>)> {
    let mut env = BTreeMap::new();
    for key in
        ["SLUGBASE__KEYS__ENCRYPTION__K1", "SLUGBASE__KEYS__BACKUP_CODE", "SLUGBASE__KEYS__CSRF"]
    {
        env.insert(key.to_owned(), encode_key(&random_key()));
    }
    env.insert("SLUGBASE__DATABASE__URL".to_owned(), url.to_owned());
    env.insert("SLUGBASE__SERVER__PORT".to_owned(), "0".to_owned());
    env.insert("SLUGBASE__SERVER__HOST".to_owned(), "127.0.0.1".to_owned());
    if let Some(sync) = plan.sqlite_sync_reads {
        env.insert("SLUGBASE__DATABASE__SQLITE_SYNC_READS".to_owned(), sync.to_string());
    }
    let (memory, iterations) = if plan.production_argon2 { (19_456, 2) } else { (64, 1) };
    env.insert("SLUGBASE__ARGON2__MEMORY_KIB".to_owned(), memory.to_string());
    env.insert("SLUGBASE__ARGON2__ITERATIONS".to_owned(), iterations.to_string());
    env.insert("SLUGBASE__ARGON2__PARALLELISM".to_owned(), "1".to_owned());
    env.insert("SLUGBASE__ARGON2__MAX_CONCURRENT".to_owned(), plan.hash_concurrency.to_string());
    // Every attempt takes its place in the limits before it is evaluated, so hundreds of
    // simultaneous (correct) logins from this one address would meet the per-address and
    // per-e-mail limits while in flight. The bench measures speed and memory, not limits.
    for (key, value) in [
        ("SLUGBASE__SECURITY__LIMITS__ADDRESS__MAX_FAILURES", "1000000"),
        ("SLUGBASE__SECURITY__LIMITS__PASSWORD_ACCOUNT__MAX_FAILURES", "1000000"),
        ("SLUGBASE__SECURITY__LIMITS__SECOND_FACTOR_ACCOUNT__MAX_FAILURES", "1000000"),
    ] {
        env.insert(key.to_owned(), value.to_owned());
    }
    let options = LoadOptions {
        profile: Profile::Test,
        // Absent: the embedded copies of config/*.toml are used.
        config_dir: config_dir.to_path_buf(),
        config_file: None,
        env: Some(env.clone()),
    };
    Ok((slugbase_server::config::load(&options).context("server configuration")?, env))
}

/// Runs the plan. `progress` receives one line per step.
///
/// # Errors
/// When the server cannot start, seeding fails, or a correctness check fails.
#[expect(
    clippy::too_many_lines,
    reason = "the run reads top to bottom, one scenario after another"
)]
pub async fn run(plan: &Plan, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let url = plan
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()));
    let (loaded, mut server_env) = load_config(plan, &url, &dir.path().join("no-config-dir"))?;
    let mut argon2 = loaded.settings.argon2;
    if argon2.max_concurrent == 0 {
        // What the server resolves 0 to.
        argon2.max_concurrent =
            slugbase_infrastructure::crypto::Argon2Params::automatic_concurrency();
    }
    let config = RunConfig {
        database: if url.starts_with("sqlite:") {
            if loaded.settings.database.sqlite_sync_reads {
                "sqlite (caller lookups: synchronous reads)"
            } else {
                "sqlite (caller lookups: through sqlx)"
            }
        } else if url.starts_with("mysql://") {
            "mysql"
        } else {
            "postgres"
        }
        .to_owned(),
        users_small: plan.users_small,
        users_large: plan.users_large,
        driven_users: plan.driven,
        concurrency: plan.concurrency,
        phase_secs: plan.phase.as_secs_f64(),
        argon2_memory_kib: argon2.memory_kib,
        argon2_iterations: argon2.iterations,
        argon2_parallelism: argon2.parallelism,
        argon2_max_concurrent: argon2.max_concurrent,
        quick: plan.quick,
        debug_build: cfg!(debug_assertions),
        rounds: plan.rounds,
        server_process: String::new(),
        malloc_env: std::env::vars()
            .filter(|(k, _)| k.starts_with("MALLOC_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
    };

    // The server: in this process, exactly as `slugbase serve` builds it, or as a child
    // process running the `slugbase` binary with the same configuration.
    let mut child = None;
    let client = if let Some(bin) = &plan.server_bin {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        server_env.insert("SLUGBASE__SERVER__PORT".to_owned(), port.to_string());
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let spawned = std::process::Command::new(bin)
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| k == "PATH" || k.starts_with("MALLOC_")))
            .envs(&server_env)
            .env("SLUGBASE_PROFILE", "test")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        child = Some(ChildServer(spawned));
        Client::new(port, plan.concurrency.max(plan.flood))?
    } else {
        let app = slugbase_server::Application::build(loaded.clone()).await?;
        let client = Client::new(app.port(), plan.concurrency.max(plan.flood))?;
        tokio::spawn(app.run_until_stopped());
        client
    };
    let pid = child.as_ref().map(|c| c.0.id());
    wait_healthy(&client).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_kib = rss::current_kib(pid).unwrap_or(0);
    progress(&format!("server up on {}, idle RSS {} MiB", client.base, idle_kib / 1024));

    // The same adapters over the same database and keys, for seeding.
    let store = SeaOrmStore::connect(&url).await.context("seeding connection")?;
    let db = store.connection().clone();
    let root = slugbase_server::root::Root::new(
        loaded.clone(),
        slugbase_server::root::Stores::over(Arc::new(store)),
        Arc::new(slugbase_infrastructure::crypto::SystemClock),
        None,
    );
    let deps = root.deps()?.clone();
    let mut seeder = Seeder::new(deps, db).await?;
    let mut seeding = Seeding::default();
    let t0 = Instant::now();
    let users = Arc::new(seeder.driven(plan.driven).await?);
    seeding.driven_users = plan.driven;
    seeding.driven_secs = t0.elapsed().as_secs_f64();
    let filled = seeder.fill_to(plan.users_small).await?;
    seeding.filler_users = plan.users_small - plan.driven;
    seeding.filler_secs = filled.as_secs_f64();
    progress(&format!(
        "seeded {} users through the ports in {:.1} s, {} more in bulk in {:.1} s",
        seeding.driven_users, seeding.driven_secs, seeding.filler_users, seeding.filler_secs
    ));
    // Before any load: what seeding alone left behind.
    let after_seeding_kib = rss::current_kib(pid).unwrap_or(0);
    let half = users.len() / 2;
    anyhow::ensure!(half > 0, "too few driven users");
    client.status_says_enabled(&users[0]).await?;

    let phase = Budget::timed(plan.phase);
    let c = plan.concurrency;
    let status_token = |client: Client, users: Arc<Vec<DrivenUser>>| {
        move |i: usize| {
            let client = client.clone();
            let users = users.clone();
            async move { client.status_token(&users[i % half]).await }
        }
    };
    let logins = |client: Client, users: Arc<Vec<DrivenUser>>| {
        move |i: usize| {
            let client = client.clone();
            let users = users.clone();
            async move { client.login(&users[i % half]).await }
        }
    };

    let mut report = Report {
        machine: machine(),
        config,
        seeding: Seeding::default(),
        a_version: None,
        a_health: None,
        b_status_token: None,
        b_status_cookie: None,
        c_disable: None,
        c_intrinsic_ms: None,
        c_wipe_ms: None,
        d_status_idle: None,
        d_status_loaded: None,
        d_logins: None,
        e_memory: None,
        f_status_small: None,
        f_status_large: None,
        f_reads_per_request: None,
        targets: Vec::new(),
    };

    let rounds = plan.rounds.max(1);
    if plan.runs(Scenario::A) || plan.runs(Scenario::B) {
        // Interleaved rounds (a, b, b, a, b, b, …): drift from other load on the machine falls
        // on both sides of the ratio; the median round of each is reported.
        let (mut a, mut bt, mut bc) = (Vec::new(), Vec::new(), Vec::new());
        let mut health = Vec::new();
        for round in 1..=rounds {
            if plan.runs(Scenario::A) {
                let cl = client.clone();
                let stats = drive(c, phase, move |_| {
                    let cl = cl.clone();
                    async move { cl.version().await }
                })
                .await;
                progress(&format!("(a) round {round}: version {:.0} req/s", stats.throughput));
                a.push(stats);
                let cl = client.clone();
                let stats = drive(c, phase, move |_| {
                    let cl = cl.clone();
                    async move { cl.health().await }
                })
                .await;
                progress(&format!("(a) round {round}: health {:.0} req/s", stats.throughput));
                health.push(stats);
            }
            if plan.runs(Scenario::B) {
                let stats = drive(c, phase, status_token(client.clone(), users.clone())).await;
                progress(&format!("(b) round {round}: status/token {:.0} req/s", stats.throughput));
                bt.push(stats);
                let (cl, us) = (client.clone(), users.clone());
                let stats = drive(c, phase, move |i| {
                    let (cl, us) = (cl.clone(), us.clone());
                    async move { cl.status_cookie(&us[i % half]).await }
                })
                .await;
                progress(&format!(
                    "(b) round {round}: status/cookie {:.0} req/s",
                    stats.throughput
                ));
                bc.push(stats);
            }
        }
        report.a_version = median_by(a, |s| s.throughput);
        report.a_health = median_by(health, |s| s.throughput);
        report.b_status_token = median_by(bt, |s| s.throughput);
        report.b_status_cookie = median_by(bc, |s| s.throughput);
    }

    if plan.runs(Scenario::D) {
        let (mut idle_runs, mut loaded_runs, mut login_runs) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            let idle = drive(c, phase, status_token(client.clone(), users.clone())).await;
            let background = tokio::spawn(drive(
                HASHING_LOGINS,
                Budget::timed(plan.phase + Duration::from_millis(300)),
                logins(client.clone(), users.clone()),
            ));
            // Let the logins reach the hasher before measuring.
            tokio::time::sleep(Duration::from_millis(150)).await;
            let loaded = drive(c, phase, status_token(client.clone(), users.clone())).await;
            let logins_stats = background.await.context("background logins")?;
            progress(&format!(
                "(d) round {round}: status p99 idle {:.2} ms, with {HASHING_LOGINS} logins \
                 hashing {:.2} ms",
                idle.p99_ms, loaded.p99_ms
            ));
            idle_runs.push(idle);
            loaded_runs.push(loaded);
            login_runs.push(logins_stats);
        }
        report.d_status_idle = median_by(idle_runs, |s| s.p99_ms);
        report.d_status_loaded = median_by(loaded_runs, |s| s.p99_ms);
        report.d_logins = median_by(login_runs, |s| s.throughput);
    }

    if plan.runs(Scenario::C) {
        // Concurrency 1, each request disabling a different user (the second half of the
        // driven users). Each disable is followed by one in-process Argon2id verify + TOTP
        // check, so both sides of the ratio see the same moment's machine. Between them a
        // pause lets the server finish what it does after answering (the wipe of its hash
        // buffer): that work would otherwise run beside the yardstick's hash on the other
        // core, slow it down and flatter the ratio.
        let pool = users.len() - half;
        let deadline = Instant::now() + plan.phase;
        let mut yardstick = Intrinsic::new(seeder.hash())?;
        let (mut server, mut intrinsic, mut wipes, mut errors) =
            (Vec::new(), Vec::new(), Vec::new(), 0);
        let started = Instant::now();
        for user in users.iter().skip(half).take(pool) {
            if Instant::now() >= deadline {
                break;
            }
            let t0 = Instant::now();
            if client.disable(user).await {
                server.push(t0.elapsed());
            } else {
                errors += 1;
            }
            tokio::time::sleep(AFTER_ANSWER_PAUSE).await;
            let measured = yardstick.measure(seeder.deps(), &users[0])?;
            intrinsic.push(measured.check);
            wipes.push(measured.wipe);
        }
        let stats = Stats::from_samples(server, errors, started.elapsed(), 1);
        let intrinsic = Stats::from_samples(intrinsic, 0, started.elapsed(), 1).p50_ms;
        let wipe = Stats::from_samples(wipes, 0, started.elapsed(), 1).p50_ms;
        progress(&format!(
            "(c) disable p50 {:.2} ms at concurrency 1 ({} users), intrinsic {intrinsic:.2} ms \
             (+ {wipe:.2} ms to wipe its buffer)",
            stats.p50_ms, stats.ok
        ));
        report.c_disable = Some(stats);
        report.c_intrinsic_ms = Some(intrinsic);
        report.c_wipe_ms = Some(wipe);
    }

    let mut after_large_seeding_kib = after_seeding_kib;
    if plan.runs(Scenario::F) {
        let mut small = Vec::new();
        let reads_before = rss::read_syscalls(pid).unwrap_or(0);
        for round in 1..=rounds {
            let stats = drive(c, phase, status_token(client.clone(), users.clone())).await;
            progress(&format!(
                "(f) round {round}: status with {} users {:.0} req/s",
                plan.users_small, stats.throughput
            ));
            small.push(stats);
        }
        let small_reads = per_request(pid, reads_before, &small);
        report.f_status_small = median_by(small, |s| s.throughput);
        let filled = seeder.fill_to(plan.users_large).await?;
        seeding.filler_users = plan.users_large - plan.driven;
        seeding.filler_secs += filled.as_secs_f64();
        progress(&format!(
            "bulk-seeded up to {} users in {:.1} s",
            plan.users_large,
            filled.as_secs_f64()
        ));
        after_large_seeding_kib = rss::current_kib(pid).unwrap_or(0);
        let mut large = Vec::new();
        let reads_before = rss::read_syscalls(pid).unwrap_or(0);
        for round in 1..=rounds {
            let stats = drive(c, phase, status_token(client.clone(), users.clone())).await;
            progress(&format!(
                "(f) round {round}: status with {} users {:.0} req/s",
                plan.users_large, stats.throughput
            ));
            large.push(stats);
        }
        report.f_reads_per_request = Some((small_reads, per_request(pid, reads_before, &large)));
        report.f_status_large = median_by(large, |s| s.throughput);
    }

    if plan.runs(Scenario::E) {
        let before_flood_kib = rss::current_kib(pid).unwrap_or(0);
        let before_flood_anon_kib = rss::anon_kib(pid).unwrap_or(0);
        let _ = rss::reset_peak(pid);
        let sampler = rss::Sampler::start(pid, Duration::from_millis(2), rss::current_kib);
        let anon_sampler = rss::Sampler::start(pid, Duration::from_millis(2), rss::anon_kib);
        let flood = drive(
            plan.flood,
            Budget { duration: Duration::from_secs(600), max_requests: plan.flood },
            logins(client.clone(), users.clone()),
        )
        .await;
        let sampled = sampler.finish();
        let flood_peak_anon_kib = anon_sampler.finish();
        let flood_peak_kib = sampled.max(rss::peak_kib(pid).unwrap_or(0));
        let bound_kib = idle_kib
            + u64::try_from(argon2.max_concurrent).unwrap_or(u64::MAX)
                * u64::from(argon2.memory_kib)
            + 64 * 1024;
        progress(&format!(
            "(e) RSS idle {} MiB, after seeding {} MiB, before the flood {} MiB, flood peak {} \
             MiB (bound {} MiB); anonymous: before the flood {} MiB, flood peak {} MiB",
            idle_kib / 1024,
            after_seeding_kib / 1024,
            before_flood_kib / 1024,
            flood_peak_kib / 1024,
            bound_kib / 1024,
            before_flood_anon_kib / 1024,
            flood_peak_anon_kib / 1024
        ));
        report.e_memory = Some(Memory {
            idle_kib,
            after_seeding_kib,
            after_large_seeding_kib,
            before_flood_kib,
            flood_peak_kib,
            before_flood_anon_kib,
            flood_peak_anon_kib,
            flood_logins: flood,
            bound_kib,
        });
    }

    report.seeding = seeding;
    report.config.server_process =
        if child.is_some() { "child process" } else { "in process" }.to_owned();
    report.targets = targets(&report);
    drop(child);
    Ok(report)
}
