//! A real SMTP server on 127.0.0.1 for the mail tests: Python's aiosmtpd
//! (`scripts/smtp-test-server.py`), started by the test on a free port, stoppable and
//! restartable on the same port. aiosmtpd comes from `scripts/aiosmtpd.sh` (which `.ci/run`
//! runs): the interpreter is `SLUGBASE_AIOSMTPD_PYTHON`, else the script's default venv.
//! Without it a test prints one skip line — or fails, under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The interpreter `scripts/aiosmtpd.sh` installs into by default.
const DEFAULT_PYTHON: &str = "/var/tmp/slugbase-aiosmtpd-1.4.6/bin/python";

/// One message the server accepted.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// The whole message as received (headers and body).
    pub data: String,
}

impl ReceivedMail {
    /// The first value of header `name` (case-insensitive), unfolded.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<String> {
        let mut lines = self.data.lines().take_while(|l| !l.is_empty()).peekable();
        while let Some(line) = lines.next() {
            let Some((key, value)) = line.split_once(':') else { continue };
            if key.eq_ignore_ascii_case(name) {
                let mut value = value.trim().to_owned();
                while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                    value.push(' ');
                    value.push_str(next.trim());
                    lines.next();
                }
                return Some(value);
            }
        }
        None
    }

    /// `Subject:`.
    #[must_use]
    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }
}

/// The aiosmtpd server process and what it received.
#[derive(Debug)]
pub struct SmtpServer {
    python: PathBuf,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

/// The interpreter with aiosmtpd, if there is one.
fn python_with_aiosmtpd() -> Option<PathBuf> {
    let python = std::env::var_os("SLUGBASE_AIOSMTPD_PYTHON")
        .map_or_else(|| PathBuf::from(DEFAULT_PYTHON), PathBuf::from);
    let ok = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp-test-server.py")
}

impl SmtpServer {
    /// Starts the server on a free port. `None` (after one line on stderr) when aiosmtpd is
    /// not installed.
    ///
    /// # Panics
    /// Under `CI=true` when aiosmtpd is missing; when the server does not start.
    #[must_use]
    pub fn start() -> Option<Self> {
        static SAID: std::sync::Once = std::sync::Once::new();
        let python = python_with_aiosmtpd();
        let missing = python
            .is_none()
            .then(|| "aiosmtpd is not installed (run scripts/aiosmtpd.sh)".to_owned());
        if !crate::prerequisite::available_or_skip("mail", &SAID, missing) {
            return None;
        }
        let python = python?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut server = Self { python, port: free_port(), dir, child: None };
        server.resume();
        Some(server)
    }

    /// The port it listens on (the same after a restart).
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server: connections are refused until [`Self::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (waits until it listens).
    ///
    /// # Panics
    /// When it does not start within 20 s.
    pub fn resume(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = Command::new(&self.python)
                .arg(script())
                .arg(self.port.to_string())
                .arg(self.dir.path().join("mail"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the SMTP test server starts");
            // Listening: a TCP connection succeeds (the old process's port may take a moment).
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.child = Some(child);
                    return;
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(Instant::now() < deadline, "the SMTP test server did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every message received so far.
    #[must_use]
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail")) else {
            return Vec::new();
        };
        let mut mails = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default()
            };
            mails.push(ReceivedMail {
                mail_from: value["mail_from"].as_str().unwrap_or_default().to_owned(),
                rcpt_tos: strings(&value["rcpt_tos"]),
                data: value["data"].as_str().unwrap_or_default().to_owned(),
            });
        }
        mails
    }

    /// Waits (up to `timeout`) until some received message satisfies `found`; returns it.
    ///
    /// # Panics
    /// When none does in time (with what did arrive).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        found: impl Fn(&ReceivedMail) -> bool,
    ) -> ReceivedMail {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mail) = self.messages().into_iter().find(|m| found(m)) {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "no such message within {timeout:?}; received: {:#?}",
                self.messages().iter().map(ReceivedMail::subject).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
