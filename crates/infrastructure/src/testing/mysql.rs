//! A fresh MySQL/MariaDB database per test.
//!
//! [`mysql_url`] finds a server, in this order:
//! 1. `$MYSQL_URL`, else `$DATABASE_URL_MYSQL` (a `mysql://` URL whose user may create and
//!    drop databases; CI exports `MYSQL_URL` after `scripts/start-mariadb.sh`);
//! 2. otherwise, if MariaDB's server binaries are installed (`mariadbd` and
//!    `mariadb-install-db` in `/usr/sbin`, `/usr/bin`, or `$SLUGBASE_TEST_MARIADB_BIN`), a
//!    throwaway server on 127.0.0.1 in `/tmp/slugbase-test-mariadb-<port>` (port
//!    `$SLUGBASE_TEST_MARIADB_PORT`, default 53316), created and started once and then
//!    reused by every test process (`--user=root` when running as root; durability off;
//!    user `slugbase`/`slugbase`, reachable only from this machine). It is left running for
//!    the next run; killing the pid in `mariadb.pid` or deleting the directory gets rid of it;
//! 3. otherwise none: under `CI=true` that panics (a missing MariaDB fails CI), elsewhere one
//!    line `skipping MySQL/MariaDB tests: …` is printed and the caller skips its test.
//!
//! On that server it creates a database with a random name and returns its URL. The first
//! call of a process also drops test databases more than an hour old, so a reused server
//! does not fill up (as the PostgreSQL harness does).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, Statement};

use super::postgres::with_database;

/// Default port of the throwaway server.
const DEFAULT_PORT: u16 = 53316;

/// Name prefix of the test databases: `slugbase_test_<unix seconds>_<random>`.
const PREFIX: &str = "slugbase_test_";

/// Test databases older than this are dropped by the next test process that starts.
const STALE_AFTER_SECS: i64 = 3600;

/// The URL of a fresh, empty MySQL/MariaDB database, or `None` (after printing why) when no
/// server is available outside CI.
///
/// # Panics
/// Under `CI=true` when no server can be found or started, or when creating the database
/// fails.
pub async fn mysql_url() -> Option<String> {
    static SAID: Once = Once::new();
    let server = super::server_or_skip("MySQL/MariaDB", server_url, &SAID).await?;
    let now = chrono::Utc::now().timestamp();
    let name = format!("{PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
    let admin = admin_connection(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the MySQL/MariaDB test server: {e}"));
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if !SWEPT.swap(true, Ordering::SeqCst) {
        drop_stale_databases(&admin, now).await;
    }
    // Raw: sea-query has no database-level DDL (CREATE/DROP DATABASE).
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let _ = admin.close().await;
    Some(with_database(&server, &name))
}

async fn admin_connection(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(1).connect_timeout(Duration::from_secs(10)).sqlx_logging(false);
    Database::connect(opts).await
}

/// Drops test databases left behind by earlier runs (best effort).
async fn drop_stale_databases(admin: &DatabaseConnection, now: i64) {
    // Raw: a catalogue query (no entity for information_schema), in test support only.
    let sql = format!(
        "SELECT CAST(schema_name AS CHAR) AS name FROM information_schema.schemata \
         WHERE schema_name LIKE '{PREFIX}%'"
    );
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
        if created.is_none_or(|secs| now - secs > STALE_AFTER_SECS)
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            // Raw: sea-query has no database-level DDL.
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await;
        }
    }
}

/// The server's URL, found or started once per process.
fn server_url() -> &'static Result<String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    SERVER.get_or_init(|| {
        for var in ["MYSQL_URL", "DATABASE_URL_MYSQL"] {
            if let Ok(url) = std::env::var(var)
                && url.starts_with("mysql://")
            {
                return Ok(url);
            }
        }
        let Some(bin) = find_binaries() else {
            return Err("MYSQL_URL is not set and no MariaDB server binaries are installed \
                        (mariadbd, mariadb-install-db); run scripts/start-mariadb.sh or set \
                        MYSQL_URL"
                .to_owned());
        };
        let port = std::env::var("SLUGBASE_TEST_MARIADB_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(DEFAULT_PORT);
        start_server(&bin, port)
            .map(|()| format!("mysql://slugbase:slugbase@127.0.0.1:{port}/mysql"))
            .map_err(|e| format!("could not start a throwaway MariaDB server: {e}"))
    })
}

/// `mariadbd` and `mariadb-install-db`: under `$SLUGBASE_TEST_MARIADB_BIN` if set, else in
/// Debian's `/usr/sbin` and `/usr/bin`.
struct Binaries {
    server: PathBuf,
    install_db: PathBuf,
}

fn find_binaries() -> Option<Binaries> {
    let dirs: Vec<PathBuf> = match std::env::var_os("SLUGBASE_TEST_MARIADB_BIN") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")],
    };
    let find = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.exists());
    Some(Binaries { server: find("mariadbd")?, install_db: find("mariadb-install-db")? })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

/// Creates (first time) and starts (if not listening) the server in
/// `/tmp/slugbase-test-mariadb-<port>`, holding a file lock so that concurrent test
/// processes do it once; then makes sure the `slugbase` user exists.
fn start_server(bin: &Binaries, port: u16) -> Result<(), String> {
    let base = PathBuf::from(format!("/tmp/slugbase-test-mariadb-{port}"));
    let data = base.join("data");
    let sock = base.join("mariadb.sock");
    let root = is_root();
    let lock = std::fs::File::create(format!("/tmp/slugbase-test-mariadb-{port}.lock"))
        .map_err(|e| format!("lock file: {e}"))?;
    lock.lock().map_err(|e| format!("locking: {e}"))?;

    if !data.join("mysql").exists() {
        std::fs::create_dir_all(&data).map_err(|e| format!("creating {}: {e}", data.display()))?;
        let mut install = Command::new(&bin.install_db);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if root {
            install.arg("--user=root");
        }
        run(&mut install, "mariadb-install-db")?;
    }

    if !accepts_connections(port) {
        let mut server = Command::new(&bin.server);
        server
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--pid-file={}", base.join("mariadb.pid").display()))
            .arg(format!("--log-error={}", base.join("mariadb.log").display()))
            .arg(format!("--port={port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--max-connections=500",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if root {
            server.arg("--user=root");
        }
        // Left running for the next test process (it is not a child that dies with us).
        server.spawn().map_err(|e| format!("starting mariadbd: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !accepts_connections(port) {
            if Instant::now() > deadline {
                return Err(format!(
                    "server on port {port} not ready after 60 s (see {})",
                    base.join("mariadb.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    create_test_user(&sock)
}

/// Creates the `slugbase`@`127.0.0.1` user over the socket as the database's root (no
/// password: `--auth-root-authentication-method=normal`).
fn create_test_user(sock: &Path) -> Result<(), String> {
    let url = format!("mysql://root@localhost/mysql?socket={}", sock.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let root = admin_connection(&url).await.map_err(|e| format!("root over {url}: {e}"))?;
        for sql in [
            "CREATE USER IF NOT EXISTS 'slugbase'@'127.0.0.1' IDENTIFIED BY 'slugbase'",
            "GRANT ALL PRIVILEGES ON *.* TO 'slugbase'@'127.0.0.1'",
        ] {
            root.execute_unprepared(sql).await.map_err(|e| format!("{sql}: {e}"))?;
        }
        let _ = root.close().await;
        Ok(())
    })
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
