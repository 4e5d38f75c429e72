//! A fresh PostgreSQL database per test.
//!
//! [`postgres_url`] finds a PostgreSQL server, in this order:
//! 1. `$DATABASE_URL` (a `postgres://` URL; CI exports it after `scripts/start-postgres.sh`);
//! 2. otherwise, if PostgreSQL's server binaries are installed
//!    (`/usr/lib/postgresql/<version>/bin/initdb`, or under `$SLUGBASE_TEST_PG_ROOT`), a throwaway cluster on 127.0.0.1 in
//!    `/tmp/slugbase-test-pg-<port>` (port `$SLUGBASE_TEST_PG_PORT`, default 55439), created
//!    and started once and then reused by every test process (run as the `postgres` OS user
//!    through `runuser` when running as root; `fsync` off; trust authentication, reachable
//!    only from this machine). It is left running for the next run; `pg_ctl stop` or
//!    deleting the directory gets rid of it;
//! 3. otherwise none: under `CI=true` that panics (a missing PostgreSQL fails CI), elsewhere
//!    one line `skipping PostgreSQL tests: …` is printed and the caller skips its test.
//!
//! On that server it creates a database with a random name and returns its URL. The first
//! call of a process also drops test databases more than an hour old, so a reused server
//! (CI's, the throwaway cluster) does not fill up.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, Statement};

/// Default port of the throwaway cluster.
const DEFAULT_PORT: u16 = 55439;

/// The URL of a fresh, empty PostgreSQL database, or `None` (after printing why) when no
/// PostgreSQL is available outside CI.
///
/// # Panics
/// Under `CI=true` when no PostgreSQL server can be found or started, or when creating the
/// database fails.
pub async fn postgres_url() -> Option<String> {
    static SAID: Once = Once::new();
    let server = super::server_or_skip("PostgreSQL", server_url, &SAID).await?;
    let now = chrono::Utc::now().timestamp();
    let name = format!("{PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
    let mut opts = ConnectOptions::new(server.clone());
    opts.max_connections(1).connect_timeout(Duration::from_secs(10)).sqlx_logging(false);
    let admin = Database::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the PostgreSQL test server: {e}"));
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if !SWEPT.swap(true, Ordering::SeqCst) {
        drop_stale_databases(&admin, now).await;
    }
    // Raw: sea-query has no database-level DDL (CREATE/DROP DATABASE).
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let _ = admin.close().await;
    Some(with_database(&server, &name))
}

/// Name prefix of the test databases: `slugbase_test_<unix seconds>_<random>`.
const PREFIX: &str = "slugbase_test_";

/// Test databases older than this are dropped by the next test process that starts (no test
/// runs this long; a reused server does not fill up).
const STALE_AFTER_SECS: i64 = 3600;

/// Drops test databases left behind by earlier runs (best effort: one still in use is
/// skipped).
async fn drop_stale_databases(admin: &sea_orm::DatabaseConnection, now: i64) {
    // Raw: a PostgreSQL catalog query (no entity for pg_database), in test support only.
    let sql =
        format!("SELECT datname::text AS name FROM pg_database WHERE datname LIKE '{PREFIX}%'");
    let Ok(rows) =
        admin.query_all_raw(Statement::from_string(admin.get_database_backend(), sql)).await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "name") else { continue };
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<i64>().ok());
        // Names without a timestamp come from an older harness: stale as well.
        if created.is_none_or(|secs| now - secs > STALE_AFTER_SECS)
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            // Raw: sea-query has no database-level DDL.
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await;
        }
    }
}

/// `url` with its database name replaced.
pub(super) fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The server's URL (any existing database on it), found or started once per process.
fn server_url() -> &'static Result<String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("DATABASE_URL")
            && (url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Ok(url);
        }
        let Some(bin) = find_bindir() else {
            return Err("DATABASE_URL is not set and no PostgreSQL server binaries are \
                        installed (/usr/lib/postgresql/*/bin/initdb); run \
                        scripts/start-postgres.sh or set DATABASE_URL"
                .to_owned());
        };
        let port = std::env::var("SLUGBASE_TEST_PG_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(DEFAULT_PORT);
        start_cluster(&bin, port)
            .map(|()| format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .map_err(|e| format!("could not start a throwaway PostgreSQL cluster: {e}"))
    })
}

/// The newest `<root>/<version>/bin` with an `initdb`; root `$SLUGBASE_TEST_PG_ROOT`,
/// default `/usr/lib/postgresql` (Debian's layout).
fn find_bindir() -> Option<PathBuf> {
    let root = std::env::var_os("SLUGBASE_TEST_PG_ROOT")
        .map_or_else(|| PathBuf::from("/usr/lib/postgresql"), PathBuf::from);
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command run as the `postgres` OS user when we are root (initdb refuses root).
fn as_postgres(program: &Path, root: bool) -> Command {
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Creates (first time) and starts (if stopped) the cluster in `/tmp/slugbase-test-pg-<port>`,
/// holding a file lock so that concurrent test processes do it once.
fn start_cluster(bin: &Path, port: u16) -> Result<(), String> {
    let base = PathBuf::from(format!("/tmp/slugbase-test-pg-{port}"));
    let data = base.join("data");
    let sock = base.join("sock");
    let root = is_root();
    let lock = std::fs::File::create(format!("/tmp/slugbase-test-pg-{port}.lock"))
        .map_err(|e| format!("lock file: {e}"))?;
    lock.lock().map_err(|e| format!("locking: {e}"))?;

    if !data.join("PG_VERSION").exists() {
        std::fs::create_dir_all(&sock).map_err(|e| format!("creating {}: {e}", sock.display()))?;
        if root {
            run(
                Command::new("chown").args(["-R", "postgres:postgres"]).arg(&base),
                "chown of the cluster directory",
            )?;
        }
        run(
            as_postgres(&bin.join("initdb"), root).arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]),
            "initdb",
        )?;
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             max_connections = 300\n",
            sock.display()
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(|e| format!("postgresql.conf: {e}"))?;
        file.write_all(conf.as_bytes()).map_err(|e| format!("postgresql.conf: {e}"))?;
    }

    let running =
        as_postgres(&bin.join("pg_ctl"), root).arg("-D").arg(&data).arg("status").output();
    if !running.is_ok_and(|o| o.status.success()) {
        run(
            as_postgres(&bin.join("pg_ctl"), root)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(base.join("postgres.log"))
                .args(["-w", "-t", "60", "start"]),
            "pg_ctl start",
        )?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("server on port {port} not ready after 30 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_in_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t2"), "postgres://h/t2");
    }
}
