//! Prints a [`Report`] as Markdown tables (pasteable into BENCHMARKS.md).

use std::io::{self, Write};

use crate::load::Stats;
use crate::run::Report;

fn row(out: &mut dyn Write, name: &str, stats: Option<&Stats>) -> io::Result<()> {
    if let Some(s) = stats {
        writeln!(
            out,
            "| {name} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.concurrency, s.ok, s.errors, s.throughput, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
        )?;
    }
    Ok(())
}

/// Writes the report.
///
/// # Errors
/// When writing fails.
pub fn print(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    let m = &r.machine;
    let c = &r.config;
    writeln!(out, "## slugbase-bench results\n")?;
    writeln!(out, "- machine: {} CPUs ({}), {} MiB memory", m.cpus, m.cpu_model, m.memory_mib)?;
    writeln!(
        out,
        "- database: {}; users: {} (small) / {} (large), {} driven (MFA on, token, session)",
        c.database, c.users_small, c.users_large, c.driven_users
    )?;
    writeln!(
        out,
        "- Argon2id m={} KiB t={} p={}, {} at once; client concurrency {}; {:.1} s per phase, \
         median of {} rounds{}{}",
        c.argon2_memory_kib,
        c.argon2_iterations,
        c.argon2_parallelism,
        c.argon2_max_concurrent,
        c.concurrency,
        c.phase_secs,
        c.rounds,
        if c.quick { "; QUICK (cheap Argon2, tiny scale)" } else { "" },
        if c.debug_build { "; DEBUG BUILD (figures not representative)" } else { "" },
    )?;
    writeln!(out, "- server: {}", c.server_process)?;
    if !c.malloc_env.is_empty() {
        writeln!(out, "- allocator environment: {}", c.malloc_env.join(" "))?;
    }
    let s = &r.seeding;
    writeln!(
        out,
        "- seeding: {} users through the ports in {:.1} s; {} in bulk in {:.1} s\n",
        s.driven_users, s.driven_secs, s.filler_users, s.filler_secs
    )?;
    writeln!(
        out,
        "| scenario | conc. | ok | errors | req/s | p50 ms | p90 ms | p99 ms | max ms |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    row(out, "(a) GET /api/version", r.a_version.as_ref())?;
    row(out, "(a') GET /api/health (one SELECT 1)", r.a_health.as_ref())?;
    row(out, "(b) GET mfa/status, Bearer token", r.b_status_token.as_ref())?;
    row(out, "(b) GET mfa/status, session cookie", r.b_status_cookie.as_ref())?;
    row(out, "(c) POST mfa/disable (password + TOTP)", r.c_disable.as_ref())?;
    row(out, "(d) status, idle", r.d_status_idle.as_ref())?;
    row(out, "(d) status, 8 logins hashing", r.d_status_loaded.as_ref())?;
    row(out, "(d) the 8 background logins", r.d_logins.as_ref())?;
    row(out, &format!("(f) status, {} users", c.users_small), r.f_status_small.as_ref())?;
    row(out, &format!("(f) status, {} users", c.users_large), r.f_status_large.as_ref())?;
    if let Some(e) = &r.e_memory {
        row(out, "(e) login flood", Some(&e.flood_logins))?;
    }
    writeln!(out)?;
    if let Some(i) = r.c_intrinsic_ms {
        writeln!(
            out,
            "- (c) intrinsic: one Argon2id verify + one TOTP check = {i:.2} ms (median; the \
             `argon2` crate in this process, into a reused buffer)"
        )?;
    }
    if let Some(w) = r.c_wipe_ms {
        writeln!(out, "- (c) wiping that verify's block buffer afterwards = {w:.2} ms (median)")?;
    }
    if let Some((small, large)) = r.f_reads_per_request {
        writeln!(
            out,
            "- (f) read system calls per status request: {small:.2} with {} users, {large:.2} \
             with {}",
            c.users_small, c.users_large
        )?;
    }
    if let Some(e) = &r.e_memory {
        writeln!(
            out,
            "- (e) RSS: idle {:.1} MiB, after seeding {} users {:.1} MiB, after seeding {} users \
             (and scenarios a-d) {:.1} MiB, before the flood {:.1} MiB, flood peak {:.1} MiB, \
             bound {:.1} MiB; anonymous (RssAnon) before the flood {:.1} MiB, flood peak {:.1} \
             MiB",
            kib_to_mib(e.idle_kib),
            c.users_small,
            kib_to_mib(e.after_seeding_kib),
            c.users_large,
            kib_to_mib(e.after_large_seeding_kib),
            kib_to_mib(e.before_flood_kib),
            kib_to_mib(e.flood_peak_kib),
            kib_to_mib(e.bound_kib),
            kib_to_mib(e.before_flood_anon_kib),
            kib_to_mib(e.flood_peak_anon_kib)
        )?;
    }
    writeln!(out, "\n| target | value | limit | met |")?;
    writeln!(out, "|---|---|---|---|")?;
    for t in &r.targets {
        writeln!(
            out,
            "| {} | {:.3} | {} | {} |",
            t.name,
            t.value,
            t.target,
            if t.met { "met" } else { "MISSED" }
        )?;
    }
    Ok(())
}

#[expect(clippy::cast_precision_loss, reason = "display only")]
fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
