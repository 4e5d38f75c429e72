//! Helpers for the tests that run the real `slugbase` binary: a temporary SQLite database,
//! keys in the environment, cheap Argon2 (the test profile), logs captured to a file, and
//! and nothing else: the HTTP client is the test kit's (`slugbase_testkit::Api`).
#![allow(
    dead_code,
    reason = "each test file uses a different part; `allow`, not `expect`: a test file that used \
              every helper would leave the expectation unfulfilled"
)]
#![expect(clippy::unwrap_used, reason = "test helpers: a failure is a test failure")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_slugbase");

/// A database and keys shared by every start of the binary in one test.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub db_path: PathBuf,
    /// The database every start uses: the SQLite file at `db_path` unless built with
    /// [`Env::with_database`].
    pub db_url: String,
    keys: Vec<(String, String)>,
}

fn key() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("slugbase.db");
        let keys = vec![
            ("SLUGBASE__KEYS__ENCRYPTION__K1".to_owned(), key()),
            ("SLUGBASE__KEYS__BACKUP_CODE".to_owned(), key()),
            ("SLUGBASE__KEYS__CSRF".to_owned(), key()),
        ];
        let db_url = format!("sqlite://{}?mode=rwc", db_path.display());
        Self { dir, db_path, db_url, keys }
    }

    /// Like [`Env::new`] over another database (PostgreSQL, MariaDB).
    pub fn with_database(url: &str) -> Self {
        let mut env = Self::new();
        env.db_url = url.to_owned();
        env
    }

    /// The base64 key values (they must never appear in logs either).
    pub fn key_values(&self) -> Vec<String> {
        self.keys.iter().map(|(_, v)| v.clone()).collect()
    }

    fn command(&self, rust_log: &str) -> Command {
        self.command_of(BIN, rust_log)
    }

    /// `program`, run in the temporary directory with the test profile, this database and
    /// these keys in its environment (a wrapper such as `script` passes them on).
    pub fn command_of(&self, program: &str, rust_log: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.dir.path())
            .env("SLUGBASE_PROFILE", "test")
            .env("SLUGBASE__DATABASE__URL", &self.db_url)
            .env("RUST_LOG", rust_log)
            .env_remove("SLUGBASE_CONFIG");
        for (k, v) in &self.keys {
            command.env(k, v);
        }
        command
    }

    /// Starts `slugbase serve` on a free port, its output appended to `log_name` in the
    /// temporary directory, and waits until `/api/health` answers 200.
    pub async fn start(&self, log_name: &str, rust_log: &str) -> Server {
        self.start_with(log_name, rust_log, &[]).await
    }

    /// [`Env::start`] with extra environment variables.
    pub async fn start_with(
        &self,
        log_name: &str,
        rust_log: &str,
        vars: &[(&str, &str)],
    ) -> Server {
        self.start_on(free_port(), log_name, rust_log, vars).await
    }

    /// [`Env::start_with`] on `port` (a URL the server must know in advance names it: an
    /// OIDC callback).
    pub async fn start_on(
        &self,
        port: u16,
        log_name: &str,
        rust_log: &str,
        vars: &[(&str, &str)],
    ) -> Server {
        let log_path = self.dir.path().join(log_name);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
        let child = self
            .command(rust_log)
            .arg("serve")
            .env("SLUGBASE__SERVER__PORT", port.to_string())
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let server =
            Server { child: Some(child), base: format!("http://127.0.0.1:{port}"), log_path };
        server.wait_healthy().await;
        server
    }

    /// Runs a CLI command to completion over the same database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write as _;
        let mut child = spawn_piped(self.command("info,sqlx=warn,sea_orm=warn").args(args));
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    }
}

impl Env {
    /// Runs a command to completion over the same database, with extra environment
    /// variables (a `serve` that must refuse to start, say).
    pub fn cli_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let child = spawn_piped(
            self.command("info,sqlx=warn,sea_orm=warn").args(args).envs(vars.iter().copied()),
        );
        child.wait_with_output().unwrap()
    }
}

/// Spawns `command` with its three standard streams piped.
pub fn spawn_piped(command: &mut Command) -> Child {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// A running `slugbase serve`.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub log_path: PathBuf,
}

impl Server {
    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = client.get(format!("{}/api/health", self.base)).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server did not become healthy; log:\n{}",
                std::fs::read_to_string(&self.log_path).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the process to exit on its own.
    pub fn terminate(&mut self) -> ExitStatus {
        self.stop_with("TERM")
    }

    /// Sends the signal (`TERM`, `INT`), then waits for the process to exit on its own.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("server did not stop within 30 s of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The current TOTP code for an `otpauth://` URL, `steps_ahead` 30-second steps ahead
/// (the server accepts ±1 step and never the same step twice).
pub fn totp_code(otpauth_url: &str, steps_ahead: u64) -> String {
    slugbase_testkit::totp::code_now(&slugbase_testkit::totp::from_url(otpauth_url), steps_ahead)
}

/// Users as the admin API lists them (an array, or `{"users": [...]}`).
pub fn user_list(body: &Value) -> Vec<Value> {
    match body {
        Value::Array(items) => items.clone(),
        other => other["users"].as_array().cloned().unwrap_or_default(),
    }
}

pub fn path_exists(path: &Path) -> bool {
    path.exists()
}

/// A new, empty PostgreSQL database on the server of `DATABASE_URL`, for a test that needs
/// the whole database to itself. `None` (skip) without `DATABASE_URL`, except under CI
/// where a missing server is a failure.
pub async fn fresh_postgres_database() -> Option<String> {
    use sea_orm::{ConnectionTrait as _, Database};
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide DATABASE_URL");
        return None;
    };
    let mut suffix = [0u8; 6];
    rand::fill(&mut suffix);
    let name =
        format!("slugbase_e2e_{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let admin = Database::connect(&url).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    admin.close().await.unwrap();
    let (base, query) = url.split_once('?').map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _db)| server);
    Some(match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    })
}

/// The SlugBase fixture (a database written by SlugBase itself, its environment, what it
/// means): `$SLUGBASE_IMPORT_FIXTURE`, else the repository's `tests/fixtures/slugbase-import`.
pub fn slugbase_fixture() -> Option<PathBuf> {
    let dir = std::env::var_os("SLUGBASE_IMPORT_FIXTURE").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/slugbase-import"),
        PathBuf::from,
    );
    if dir.join("slugbase.db").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the SlugBase fixture is missing at {}",
        dir.display()
    );
    eprintln!("skipped: no SlugBase fixture at {} (set SLUGBASE_IMPORT_FIXTURE)", dir.display());
    None
}
