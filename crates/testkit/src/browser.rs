//! Real Chromium through the account pages: [`Journey`] runs one journey of
//! `tests/browser/journeys.mjs` (playwright-core driving Debian's `/usr/bin/chromium`, axe-core
//! in every screen) against a [`TestApp`] and answers its questions: the TOTP code for a
//! secret the browser read off the page, computed for the app's clock (which moves to a new
//! step for each code, so no code is a replay); a sign-in from another client, and whether it
//! is still signed in; whether an API token the page showed works.
//!
//! Without Chromium, Node or `npm ci` in `tests/browser`, [`browser_available`] prints one
//! skip line and says `false` — except under `CI=true`, where it panics.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;

use crate::{Api, TestApp, steps};

/// `tests/browser` of the repository.
#[must_use]
pub fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// The browser: `CHROMIUM` when set, else Debian's `/usr/bin/chromium`.
#[must_use]
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Whether the browser tests can run: `true`, or one skip line and `false` (outside CI).
///
/// # Panics
/// Under `CI=true` when Chromium, Node or the packages are missing.
#[must_use]
pub fn browser_available() -> bool {
    static SAID: std::sync::Once = std::sync::Once::new();
    let missing = if chromium().exists() {
        crate::prerequisite::node_package_missing(&browser_dir(), "playwright-core")
    } else {
        Some(format!("{} is missing (bash scripts/browser.sh installs it)", chromium().display()))
    };
    crate::prerequisite::available_or_skip("browser", &SAID, missing)
}

/// One journey of `journeys.mjs`, with its parameters and where its screenshots go.
#[derive(Debug)]
pub struct Journey {
    name: String,
    params: Value,
    screenshots: PathBuf,
    base_url: Option<String>,
}

impl Journey {
    /// The journey `name`, saving screenshots under `screenshots`.
    #[must_use]
    pub fn new(name: &str, screenshots: &Path) -> Self {
        Self {
            name: name.to_owned(),
            params: json!({}),
            screenshots: screenshots.to_owned(),
            base_url: None,
        }
    }

    /// Opens the service at `base_url` (e.g. `http://localhost:<port>`, the app's
    /// `server.public_base_url`, for WebAuthn, which needs a domain) instead of its
    /// `http://127.0.0.1:<port>` address.
    #[must_use]
    pub fn base_url(mut self, base_url: &str) -> Self {
        self.base_url = Some(base_url.trim_end_matches('/').to_owned());
        self
    }

    /// The accounts and values the journey needs (`{"email", "password", …}`).
    #[must_use]
    pub fn params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }

    /// Runs the journey against `app` until the browser is done; answers its questions.
    ///
    /// # Panics
    /// When the journey fails (its log and a screenshot of the failing screen say where), or
    /// asks something unknown.
    pub async fn run(self, app: &TestApp) {
        let mut child = Command::new("node")
            .current_dir(browser_dir())
            .arg("journeys.mjs")
            .arg(&self.name)
            .env("SLUGBASE_URL", self.base_url.as_deref().unwrap_or(&app.address))
            .env("CHROMIUM", chromium())
            .env("SCREENSHOT_DIR", &self.screenshots)
            .env("JOURNEY", self.params.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts journeys.mjs");
        let mut stdin = child.stdin.take().expect("the journey's stdin");
        let mut questions =
            BufReader::new(child.stdout.take().expect("the journey's stdout")).lines();
        let mut elsewhere = None;
        let journey = tokio::time::timeout(std::time::Duration::from_secs(180), async {
            while let Some(line) = questions.next_line().await.expect("the journey's output") {
                let question: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("journey {} said {line:?}: {e}", self.name));
                let answer = answer(app, &mut elsewhere, &question).await;
                stdin.write_all(format!("{answer}\n").as_bytes()).await.expect("answer sent");
            }
            child.wait().await.expect("the journey ends")
        })
        .await
        .unwrap_or_else(|_| panic!("journey {} took more than 3 minutes", self.name));
        assert!(journey.success(), "journey {} failed ({journey}); its log is above", self.name);
    }
}

/// The answer to one of the journey's questions; `elsewhere` is the journey's other client.
async fn answer(app: &TestApp, elsewhere: &mut Option<Api>, question: &Value) -> Value {
    let text = |key: &str| question[key].as_str().unwrap_or_default().to_owned();
    match question["ask"].as_str() {
        Some("code") => json!({ "code": app.fresh_code(&text("secret")) }),
        Some("wrong_code") => json!({ "code": app.wrong_code(&text("secret")) }),
        // Another device signs in as the same user (with the TOTP step when given a secret).
        Some("sign_in_elsewhere") => {
            let client = if question["secret"].is_string() {
                let code = app.fresh_code(&text("secret"));
                steps::login_with_mfa(&app.address, &text("email"), &text("password"), &code).await
            } else {
                app.login(&text("email"), &text("password")).await
            };
            *elsewhere = Some(client);
            json!({ "ok": true })
        }
        Some("elsewhere_signed_in") => {
            let client = elsewhere.as_ref().expect("sign_in_elsewhere was asked first");
            json!({ "signed_in": client.get("/api/auth/me").await.status == StatusCode::OK })
        }
        Some("token_works") => {
            let reply = app.bearer(&text("token")).get("/api/auth/me").await;
            json!({ "works": reply.status == StatusCode::OK })
        }
        _ => panic!("the journey asked something unknown: {question}"),
    }
}
