//! HAProxy in front of three instances, for the load-balancer test and the scale benchmark:
//! Debian's `haproxy` (2.6; `scripts/haproxy.sh` installs it, `SLUGBASE_HAPROXY` says
//! where it is), run as a child process on 127.0.0.1 with the repository's own
//! configuration, `deploy/haproxy/haproxy.cfg` — the one the compose profile uses, so the
//! test proves what the documentation ships. Its runtime API (on a loopback port) drains,
//! readies and reports the servers `s1`, `s2`, `s3`.
//!
//! Without HAProxy a test prints one skip line — or fails, under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Where Debian installs it.
const DEBIAN_BINARY: &str = "/usr/sbin/haproxy";

/// The response header naming the instance that answered (set by the configuration when
/// `SLUGBASE_LB_SHOW_INSTANCE=1`, as here; absent on HAProxy's own answers: a 502 for a request whose instance died, a 503 when no
/// instance is up).
pub const INSTANCE_HEADER: &str = "x-slugbase-instance";

/// The configuration's server names, in the order of the instances given.
pub const SERVERS: [&str; 3] = ["s1", "s2", "s3"];

/// The configuration's backend.
const BACKEND: &str = "slugbase";

/// The HAProxy binary that answers `-v`: `$SLUGBASE_HAPROXY`, else Debian's, else `haproxy`
/// on the `PATH`.
#[must_use]
pub fn binary() -> Option<PathBuf> {
    let candidates = std::env::var_os("SLUGBASE_HAPROXY").map_or_else(
        || vec![PathBuf::from(DEBIAN_BINARY), PathBuf::from("haproxy")],
        |path| vec![PathBuf::from(path)],
    );
    candidates.into_iter().find(|candidate| {
        Command::new(candidate)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The HAProxy binary, or `None` after one line on stderr for the whole test binary.
///
/// # Panics
/// Under `CI=true` when there is none.
#[must_use]
pub fn available() -> Option<PathBuf> {
    static SAID: std::sync::Once = std::sync::Once::new();
    let found = binary();
    let missing = found.is_none().then(|| {
        "haproxy is not installed (run scripts/haproxy.sh, or set SLUGBASE_HAPROXY)".to_owned()
    });
    if !crate::prerequisite::available_or_skip("load-balancer", &SAID, missing) {
        return None;
    }
    found
}

/// The committed configuration (`deploy/haproxy/haproxy.cfg`).
#[must_use]
pub fn config_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/haproxy/haproxy.cfg")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// One server as the runtime API's `show stat` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerStat {
    /// `s1`, `s2`, `s3`.
    pub name: String,
    /// `UP`, `DOWN`, `DRAIN`, `MAINT`, `UP 1/2` (going up), …
    pub status: String,
    /// Requests it is serving now.
    pub current: u64,
    /// Requests it served in all.
    pub total: u64,
    /// Connection attempts and requests retried on it.
    pub retries: u64,
    /// Requests moved from it to another server.
    pub redispatches: u64,
}

/// A running HAProxy, killed when dropped.
#[derive(Debug)]
pub struct Haproxy {
    child: Option<Child>,
    dir: TempDir,
    port: u16,
    admin_port: u16,
}

impl Haproxy {
    /// Starts HAProxy (`binary`, from [`available`] or [`binary`]) in front of `instances`
    /// (three `host:port`, for `s1`, `s2`, `s3`) on a free port of 127.0.0.1 and waits
    /// until every instance is `UP`.
    ///
    /// # Panics
    /// When HAProxy does not start or an instance does not come up within 30 s.
    pub async fn start(binary: &Path, instances: &[String; 3]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (port, admin_port) = (free_port(), free_port());
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("a log file");
        let child = Command::new(binary)
            .arg("-f")
            .arg(config_path())
            // Foreground, no master process: the test owns exactly one process.
            .arg("-db")
            .env("SLUGBASE_LB_BIND", format!("127.0.0.1:{port}"))
            .env("SLUGBASE_LB_ADMIN", format!("ipv4@127.0.0.1:{admin_port}"))
            .env("SLUGBASE_INSTANCE_1", &instances[0])
            .env("SLUGBASE_INSTANCE_2", &instances[1])
            .env("SLUGBASE_INSTANCE_3", &instances[2])
            .env("SLUGBASE_LB_SHOW_INSTANCE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .expect("haproxy starts");
        let proxy = Self { child: Some(child), dir, port, admin_port };
        for server in SERVERS {
            proxy.wait_status(server, "UP", Duration::from_secs(30)).await;
        }
        proxy
    }

    /// `http://127.0.0.1:<port>`: where clients connect.
    #[must_use]
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything HAProxy logged (one line per request, `option httplog`).
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// Sends one command to the runtime API and returns its answer.
    ///
    /// # Panics
    /// When the runtime API cannot be reached.
    pub async fn admin(&self, command: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match tokio::net::TcpStream::connect(("127.0.0.1", self.admin_port)).await {
                Ok(stream) => break stream,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "the HAProxy runtime API does not answer: {e}\n{}",
                        self.log()
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        stream.write_all(format!("{command}\n").as_bytes()).await.expect("a command is sent");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("an answer");
        answer
    }

    /// The three servers as `show stat` reports them.
    ///
    /// # Panics
    /// When the answer is not the CSV `show stat` writes.
    pub async fn servers(&self) -> Vec<ServerStat> {
        let csv = self.admin("show stat").await;
        let mut lines = csv.lines();
        let header: Vec<&str> =
            lines.next().unwrap_or_default().trim_start_matches("# ").split(',').collect();
        let column = |name: &str| {
            header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name}: {csv}"))
        };
        let (px, sv, status, scur, stot, wretr, wredis) = (
            column("pxname"),
            column("svname"),
            column("status"),
            column("scur"),
            column("stot"),
            column("wretr"),
            column("wredis"),
        );
        let number = |fields: &[&str], at: usize| fields[at].parse::<u64>().unwrap_or(0);
        lines
            .map(|line| line.split(',').collect::<Vec<_>>())
            .filter(|f| f.len() > wredis && f[px] == BACKEND && SERVERS.contains(&f[sv]))
            .map(|f| ServerStat {
                name: f[sv].to_owned(),
                status: f[status].to_owned(),
                current: number(&f, scur),
                total: number(&f, stot),
                retries: number(&f, wretr),
                redispatches: number(&f, wredis),
            })
            .collect()
    }

    /// One server's line of [`Haproxy::servers`].
    ///
    /// # Panics
    /// When HAProxy does not know `server`.
    pub async fn server(&self, server: &str) -> ServerStat {
        self.servers()
            .await
            .into_iter()
            .find(|s| s.name == server)
            .unwrap_or_else(|| panic!("HAProxy has no server {server}"))
    }

    /// Waits until `server`'s status is `status` (`UP`, `DOWN`, `DRAIN`, `MAINT`).
    ///
    /// # Panics
    /// When it is not within `timeout`.
    pub async fn wait_status(&self, server: &str, status: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.server(server).await;
            if now.status == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "HAProxy's {server} is {now:?}, not {status}, after {timeout:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sets `server`'s administrative state (`ready`, `drain`, `maint`).
    ///
    /// # Panics
    /// When HAProxy refuses.
    pub async fn set_state(&self, server: &str, state: &str) {
        let answer = self.admin(&format!("set server {BACKEND}/{server} state {state}")).await;
        assert!(answer.trim().is_empty(), "set server {server} state {state}: {answer}");
    }

    /// Takes `server` out of rotation (`drain`: no new request goes to it) and waits until
    /// the requests it was serving are answered.
    ///
    /// # Panics
    /// When they are not within 30 s.
    pub async fn drain(&self, server: &str) {
        self.set_state(server, "drain").await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.server(server).await.current > 0 {
            assert!(Instant::now() < deadline, "{server} still serves requests after 30 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Puts `server` back into rotation and waits until HAProxy's health check has it `UP`.
    ///
    /// # Panics
    /// When it is not `UP` within 30 s.
    pub async fn ready(&self, server: &str) {
        self.set_state(server, "ready").await;
        self.wait_status(server, "UP", Duration::from_secs(30)).await;
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
