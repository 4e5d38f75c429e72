//! What a run measured, as serialisable figures, and the targets computed from them.

use serde::Serialize;

use crate::load::Stats;
use crate::rss;

/// The machine the run happened on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// CPU model.
    pub cpu_model: String,
    /// Total memory, MiB.
    pub memory_mib: u64,
}

/// What the server ran with.
#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    /// `sqlite`, `postgres` or `mysql`.
    pub database: String,
    /// Users for everything but the large half of (f).
    pub users_small: u64,
    /// Users for the large half of (f).
    pub users_large: u64,
    /// Users seeded through the ports (MFA on, token, session).
    pub driven_users: u64,
    /// Client concurrency.
    pub concurrency: usize,
    /// Seconds per phase.
    pub phase_secs: f64,
    /// Argon2 memory, KiB.
    pub argon2_memory_kib: u32,
    /// Argon2 passes.
    pub argon2_iterations: u32,
    /// Argon2 lanes.
    pub argon2_parallelism: u32,
    /// Hashes at once.
    pub argon2_max_concurrent: usize,
    /// Quick mode.
    pub quick: bool,
    /// Debug build (figures are not representative).
    pub debug_build: bool,
    /// Rounds per phase (median reported).
    pub rounds: usize,
    /// Where the server ran: `in process` or `child process` (RSS is then its own).
    pub server_process: String,
    /// glibc malloc tuning in the environment (`MALLOC_*`), which changes (e).
    pub malloc_env: Vec<String>,
}

/// Seeding figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Seeding {
    /// Users created through the ports.
    pub driven_users: u64,
    /// Seconds for them.
    pub driven_secs: f64,
    /// Users bulk-inserted.
    pub filler_users: u64,
    /// Seconds for them.
    pub filler_secs: f64,
}

/// Scenario (e).
#[derive(Clone, Debug, Serialize)]
pub struct Memory {
    /// RSS after start, before seeding, KiB.
    pub idle_kib: u64,
    /// RSS after seeding the small user count, before any load, KiB.
    pub after_seeding_kib: u64,
    /// RSS after bulk-seeding the large user count (after scenarios a-d), KiB.
    pub after_large_seeding_kib: u64,
    /// RSS right before the flood, KiB.
    pub before_flood_kib: u64,
    /// Peak RSS during the login flood, KiB.
    pub flood_peak_kib: u64,
    /// Anonymous resident memory right before the flood, KiB.
    pub before_flood_anon_kib: u64,
    /// Peak anonymous resident memory during the flood (sampled), KiB: what (e) bounds,
    /// since `VmRSS` also counts the mapped database file's page cache.
    pub flood_peak_anon_kib: u64,
    /// Logins in the flood.
    pub flood_logins: Stats,
    /// idle + max_concurrent × Argon2 memory + 64 MiB, KiB.
    pub bound_kib: u64,
}

/// One target of issue 7, item 3.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// Which ratio.
    pub name: String,
    /// Measured value.
    pub value: f64,
    /// The limit, as text (`>= 0.5`).
    pub target: String,
    /// Whether it is met.
    pub met: bool,
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The configuration.
    pub config: RunConfig,
    /// Seeding.
    pub seeding: Seeding,
    /// (a) `GET /api/version`.
    pub a_version: Option<Stats>,
    /// `GET /api/health`: the HTTP floor plus exactly one storage round trip (`SELECT 1`),
    /// measured beside (a) to split (b)'s cost between HTTP and storage round trips.
    pub a_health: Option<Stats>,
    /// (b) status with a Bearer token.
    pub b_status_token: Option<Stats>,
    /// (b) status with a session cookie.
    pub b_status_cookie: Option<Stats>,
    /// (c) disable at concurrency 1.
    pub c_disable: Option<Stats>,
    /// (c) one Argon2id verify + one TOTP check in process (the `argon2` crate into a
    /// reused buffer, no adapter around it), median, ms.
    pub c_intrinsic_ms: Option<f64>,
    /// (c) the wipe of that verify's block buffer, timed on its own, median, ms.
    pub c_wipe_ms: Option<f64>,
    /// (d) status with nothing else running.
    pub d_status_idle: Option<Stats>,
    /// (d) status while 8 logins hash.
    pub d_status_loaded: Option<Stats>,
    /// (d) the background logins.
    pub d_logins: Option<Stats>,
    /// (e) memory.
    pub e_memory: Option<Memory>,
    /// (f) status with the small user count.
    pub f_status_small: Option<Stats>,
    /// (f) status with the large user count.
    pub f_status_large: Option<Stats>,
    /// (f) read system calls (files and sockets) per status request, small and large:
    /// the difference is the database file reads a larger database costs.
    pub f_reads_per_request: Option<(f64, f64)>,
    /// Ratios against their targets.
    pub targets: Vec<Target>,
}

pub(crate) fn machine() -> Machine {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let memory_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024);
    Machine { cpus, cpu_model, memory_mib }
}

/// The median element of `runs` by `key` (None when there were no runs).
pub(crate) fn median_by(mut runs: Vec<Stats>, key: impl Fn(&Stats) -> f64) -> Option<Stats> {
    runs.sort_by(|x, y| key(x).total_cmp(&key(y)));
    let middle = runs.len() / 2;
    runs.into_iter().nth(middle)
}

/// Read system calls since `before`, per expected answer of `runs`.
pub(crate) fn per_request(pid: Option<u32>, before: u64, runs: &[Stats]) -> f64 {
    let reads = rss::read_syscalls(pid).unwrap_or(0).saturating_sub(before);
    let answered: u64 = runs.iter().map(|s| s.ok).sum();
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let value = reads as f64 / answered.max(1) as f64;
    value
}

pub(crate) fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 { numerator / denominator } else { f64::NAN }
}

pub(crate) fn target(name: &str, value: f64, limit: f64, at_least: bool) -> Target {
    let met = if at_least { value >= limit } else { value <= limit };
    let target = format!("{} {limit}", if at_least { ">=" } else { "<=" });
    Target { name: name.to_owned(), value, target, met }
}

/// The ratios of issue 7, item 3 (with (c) at issue 12's 1.05), from what ran.
pub(crate) fn targets(r: &Report) -> Vec<Target> {
    let mut out = Vec::new();
    if let (Some(a), Some(t), Some(k)) = (&r.a_version, &r.b_status_token, &r.b_status_cookie) {
        out.push(target(
            "(b)/(a) status token / version throughput",
            ratio(t.throughput, a.throughput),
            0.5,
            true,
        ));
        out.push(target(
            "(b)/(a) status cookie / version throughput",
            ratio(k.throughput, a.throughput),
            0.5,
            true,
        ));
    }
    if let (Some(c), Some(i)) = (&r.c_disable, r.c_intrinsic_ms) {
        out.push(target("(c) disable p50 / intrinsic crypto", ratio(c.p50_ms, i), 1.05, false));
    }
    if let (Some(idle), Some(loaded)) = (&r.d_status_idle, &r.d_status_loaded) {
        out.push(target(
            "(d) status p99 loaded / idle",
            ratio(loaded.p99_ms, idle.p99_ms),
            2.0,
            false,
        ));
    }
    if let Some(m) = &r.e_memory {
        #[expect(clippy::cast_precision_loss, reason = "KiB counts are far below 2^52")]
        let value = ratio(m.flood_peak_anon_kib as f64, m.bound_kib as f64);
        out.push(target("(e) flood peak anonymous RSS / bound", value, 1.0, false));
    }
    if let (Some(s), Some(l)) = (&r.f_status_small, &r.f_status_large) {
        out.push(target(
            "(f) status throughput large / small",
            ratio(l.throughput, s.throughput),
            0.9,
            true,
        ));
    }
    out
}
