//! Issue 26, item 8: `slugbase import slugbase` throughput on a generated SlugBase database
//! (SQLite, SlugBase's schema and formats as `FACTS.md` gives them), as a ratio of the
//! scrypt-bound limit measured in the same run: opening each MFA user's TOTP secret costs
//! one scrypt (N = 16384, r = 8, p = 1), so no importer can beat `MFA users × one scrypt ÷
//! cores`; the ratio is that ideal time over the measured one (target ≥ 0.8).
//!
//! The generator takes one shortcut that changes nothing the importer does: every user's
//! password hash is one bcrypt (cost 10) computed once, and every TOTP envelope shares one
//! salt (one scrypt to seal them all). The importer never verifies a password and caches no
//! data key: it still runs one scrypt per secret.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sea_orm::{ConnectionTrait as _, Database, Statement, TransactionTrait as _};
use slugbase_infrastructure::crypto::{SlugbaseEnvelope, SystemClock, slugbase_scrypt};
use slugbase_server::config::{LoadOptions, Profile, encode_key, load_adjusted, random_key};
use slugbase_server::import::{KeySources, import_from};
use slugbase_server::root::{Root, Stores};

/// SlugBase's tables, as its SQLite schema makes them (the columns the importer reads and
/// the ones SlugBase needs beside them).
const SCHEMA: &[&str] = &[
    "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT NOT NULL, \
     user_key TEXT UNIQUE NOT NULL, password_hash TEXT, is_admin BOOLEAN DEFAULT 0, oidc_sub TEXT, \
     oidc_provider TEXT, language TEXT DEFAULT 'en', theme TEXT DEFAULT 'auto', \
     created_at DATETIME DEFAULT CURRENT_DATETIME, mfa_enabled BOOLEAN DEFAULT 0, \
     mfa_totp_secret_enc TEXT, mfa_enrolled_at DATETIME, email_pending TEXT, \
     email_verified INTEGER DEFAULT 1, ai_suggestions_enabled INTEGER DEFAULT 1)",
    "CREATE TABLE mfa_backup_codes (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) \
     ON DELETE CASCADE, code_hash TEXT NOT NULL, used_at DATETIME, created_at DATETIME DEFAULT \
     CURRENT_DATETIME, UNIQUE(user_id, code_hash))",
    "CREATE TABLE api_tokens (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON \
     DELETE CASCADE, name TEXT NOT NULL, token_hash TEXT NOT NULL, created_at TEXT, last_used_at \
     TEXT, revoked_at TEXT, tenant_id TEXT NOT NULL DEFAULT 'default')",
    "CREATE TABLE oidc_providers (id TEXT PRIMARY KEY, provider_key TEXT UNIQUE NOT NULL, client_id \
     TEXT NOT NULL, client_secret TEXT NOT NULL, issuer_url TEXT NOT NULL, authorization_url TEXT, \
     token_url TEXT, userinfo_url TEXT, scopes TEXT, auto_create_users BOOLEAN DEFAULT 1, \
     default_role TEXT DEFAULT 'user', created_at DATETIME, tenant_id TEXT DEFAULT 'default')",
];

/// What one import run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportFigures {
    /// SlugBase users generated.
    pub users: usize,
    /// Of them, with MFA on (one scrypt each to import).
    pub mfa_users: usize,
    /// Cores the import used.
    pub cores: usize,
    /// One scrypt at SlugBase's parameters, median of several, on one core.
    pub scrypt_ms: f64,
    /// Seconds the import took (reading the database included).
    pub import_secs: f64,
    /// Accounts imported per second.
    pub users_per_sec: f64,
    /// `mfa_users × scrypt ÷ cores`: the least time any importer needs.
    pub scrypt_bound_secs: f64,
    /// `scrypt_bound_secs ÷ import_secs` (target ≥ 0.8).
    pub ratio: f64,
    /// CPU seconds one scrypt took (this process's user + system time over the samples):
    /// unlike the wall time, not inflated by other processes on a shared machine.
    pub scrypt_cpu_ms: f64,
    /// CPU seconds the import took (every thread of this process).
    pub import_cpu_secs: f64,
    /// `mfa_users × scrypt CPU ÷ import CPU`: the share of the import's CPU that is the
    /// scrypts themselves (1.0 = no overhead at all).
    pub cpu_ratio: f64,
    /// The load average (1 min) when the import ended.
    pub load_average: f64,
    /// Wall time per scrypt with every core running them at once: what the cores achieve
    /// together (a check that scrypts scale over the cores; memory bandwidth and the shared
    /// cache could stop them).
    pub all_cores_ms: f64,
    /// `mfa_users × all_cores_ms ÷ import`: the import against what the cores can do at
    /// all, scrypts alone (1.0 = nothing but scrypts).
    pub all_cores_ratio: f64,
}

/// This process's CPU time so far (user + system, every thread), from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis, from the state (field 3): utime and
    // stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(14) + field(15);
    // Linux reports them in clock ticks of 1/100 s (USER_HZ).
    Duration::from_millis(ticks * 10)
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(text.as_bytes()))
}

/// Writes a SlugBase-format SQLite database of `users` users at `path`, every second one
/// with MFA on (ten backup codes, two of them used), every tenth with an API token;
/// returns the `ENCRYPTION_KEY` it sealed the TOTP secrets with.
///
/// # Errors
/// When the file cannot be written.
pub async fn generate(path: &Path, users: usize) -> anyhow::Result<String> {
    let key = hex(&random_key());
    let envelope = SlugbaseEnvelope::from_encryption_key(&key)?;
    let secrets: Vec<String> = (0..users.div_ceil(2))
        .map(|i| {
            let bytes: Vec<u8> =
                (0..20).map(|j| u8::try_from((i * 31 + j * 7) % 251).unwrap_or(0)).collect();
            base32(&bytes)
        })
        .collect();
    let sealed = tokio::task::spawn_blocking(move || envelope.seal_batch(&secrets)).await??;
    let bcrypt = tokio::task::spawn_blocking(|| bcrypt::hash("Bench-Passw0rd!", 10)).await??;

    let db = Database::connect(format!("sqlite://{}?mode=rwc", path.display())).await?;
    let backend = db.get_database_backend();
    for statement in SCHEMA {
        db.execute_raw(Statement::from_string(backend, (*statement).to_owned())).await?;
    }
    let tx = db.begin().await?;
    for chunk_start in (0..users).step_by(500) {
        let mut rows = Vec::new();
        let mut codes = Vec::new();
        let mut tokens = Vec::new();
        for i in chunk_start..(chunk_start + 500).min(users) {
            let id = uuid::Uuid::new_v4().to_string();
            let mfa = i % 2 == 0;
            let secret = if mfa { format!("'{}'", sealed[i / 2]) } else { "NULL".to_owned() };
            let enrolled = if mfa { "'2026-12-07T13:48:01.059Z'" } else { "NULL" };
            rows.push(format!(
                "('{id}', 'user{i}@bench.example', 'Bench User {i}', 'k{i}', '{bcrypt}', 0, {}, {secret}, {enrolled})",
                i32::from(mfa)
            ));
            if mfa {
                for c in 0..10 {
                    let used = if c < 2 { "'2026-12-07T13:49:02.237Z'" } else { "NULL" };
                    let code = format!("{i:08x}{c:08x}");
                    codes.push(format!(
                        "('{}', '{id}', '{}', {used})",
                        uuid::Uuid::new_v4(),
                        sha256_hex(&code)
                    ));
                }
            }
            if i % 10 == 0 {
                let token = format!("sb_bench{i:040}");
                tokens.push(format!(
                    "('{}', '{id}', 'bench token', '{}', '2026-12-07T13:48:02.356Z')",
                    uuid::Uuid::new_v4(),
                    sha256_hex(&token)
                ));
            }
        }
        let sql = format!(
            "INSERT INTO users (id, email, name, user_key, password_hash, is_admin, mfa_enabled, \
             mfa_totp_secret_enc, mfa_enrolled_at) VALUES {}",
            rows.join(",")
        );
        tx.execute_raw(Statement::from_string(backend, sql)).await?;
        if !codes.is_empty() {
            let sql = format!(
                "INSERT INTO mfa_backup_codes (id, user_id, code_hash, used_at) VALUES {}",
                codes.join(",")
            );
            tx.execute_raw(Statement::from_string(backend, sql)).await?;
        }
        if !tokens.is_empty() {
            let sql = format!(
                "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES {}",
                tokens.join(",")
            );
            tx.execute_raw(Statement::from_string(backend, sql)).await?;
        }
    }
    tx.commit().await?;
    db.close().await?;
    Ok(key)
}

/// RFC 4648 base32 without padding (otplib's secrets).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0_u32, 0_u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Single scrypts timed for the median.
const SAMPLES: usize = 15;

/// The median of `n` single scrypts at SlugBase's parameters, one at a time.
fn scrypt_median(n: usize) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        let out = slugbase_scrypt(&[7_u8; 32], format!("salt-{i}").as_bytes())?;
        std::hint::black_box(out);
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[n / 2])
}

/// Scrypts on every core at once, `n` per core: the wall time per scrypt (what the cores
/// together achieve, memory bandwidth and the shared cache included), not one scrypt's.
/// Where it is one scrypt's time ÷ cores, the scrypt-bound limit is what the cores can do.
fn scrypt_all_cores(cores: usize, n: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores)
            .map(|core| {
                scope.spawn(move || -> anyhow::Result<()> {
                    for i in 0..n {
                        let salt = format!("salt-{core}-{i}");
                        std::hint::black_box(slugbase_scrypt(&[7_u8; 32], salt.as_bytes())?);
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker.join().map_err(|_| anyhow::anyhow!("a scrypt thread panicked"))?
        })
    })?;
    Ok(start.elapsed() / u32::try_from(cores * n)?)
}

/// Generates a database of `users`, imports it into a fresh SQLite file, and measures.
///
/// # Errors
/// When generating or importing fails.
pub async fn run(users: usize, progress: &dyn Fn(&str)) -> anyhow::Result<ImportFigures> {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("slugbase.db");
    progress(&format!("generating a SlugBase database of {users} users"));
    let key = generate(&source, users).await?;
    let key_file = dir.path().join("encryption.key");
    std::fs::write(&key_file, &key)?;

    let target = format!("sqlite://{}?mode=rwc", dir.path().join("imported.db").display());
    let options = LoadOptions {
        profile: Profile::Test,
        config_dir: dir.path().join("no-config-dir"),
        config_file: None,
        env: Some(std::collections::BTreeMap::new()),
    };
    let loaded = load_adjusted(&options, |c| {
        c.database.url = target;
        c.keys.encryption.insert(c.keys.encryption_current.clone(), encode_key(&random_key()));
        c.keys.backup_code = encode_key(&random_key());
        c.keys.csrf = encode_key(&random_key());
    })?;
    let store = slugbase_server::connect_storage(&loaded).await?;
    slugbase_server::migrate(&store).await?;
    let root = Root::new(loaded, Stores::over(Arc::new(store)), Arc::new(SystemClock), None);
    let importer = root.importer(false)?;
    let cores = importer.workers;

    progress("measuring one scrypt");
    let cpu_before = process_cpu();
    let scrypt = tokio::task::spawn_blocking(|| scrypt_median(SAMPLES)).await??;
    let scrypt_cpu = (process_cpu() - cpu_before) / u32::try_from(SAMPLES)?;
    progress(&format!("importing ({cores} cores)"));
    let keys = KeySources { key_file: Some(key_file), env_file: None };
    let start = Instant::now();
    let cpu_start = process_cpu();
    let report = import_from(&importer, source.to_str().context("path")?, &keys).await?;
    let elapsed = start.elapsed();
    let import_cpu = process_cpu() - cpu_start;
    let load = load_average();
    anyhow::ensure!(report.imported() == users, "imported {} of {users}", report.imported());
    // Again after the import, so a noisy moment shows in both.
    let scrypt_after = tokio::task::spawn_blocking(|| scrypt_median(SAMPLES)).await??;
    let scrypt = (scrypt + scrypt_after) / 2;
    progress("measuring scrypts on every core at once");
    let all_cores = tokio::task::spawn_blocking(move || scrypt_all_cores(cores, SAMPLES)).await??;

    let mfa_users = users.div_ceil(2);
    let scrypt_bound = scrypt.as_secs_f64() * mfa_users as f64 / cores as f64;
    Ok(ImportFigures {
        users,
        mfa_users,
        cores,
        scrypt_ms: scrypt.as_secs_f64() * 1000.0,
        import_secs: elapsed.as_secs_f64(),
        users_per_sec: users as f64 / elapsed.as_secs_f64(),
        scrypt_bound_secs: scrypt_bound,
        ratio: scrypt_bound / elapsed.as_secs_f64(),
        scrypt_cpu_ms: scrypt_cpu.as_secs_f64() * 1000.0,
        import_cpu_secs: import_cpu.as_secs_f64(),
        cpu_ratio: scrypt_cpu.as_secs_f64() * mfa_users as f64 / import_cpu.as_secs_f64(),
        load_average: load,
        all_cores_ms: all_cores.as_secs_f64() * 1000.0,
        all_cores_ratio: all_cores.as_secs_f64() * mfa_users as f64 / elapsed.as_secs_f64(),
    })
}
