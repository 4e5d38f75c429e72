//! The `slugbase` command line, run as a process: help, key generation, operator commands
//! over a real SQLite file and over a fresh MariaDB database, and the configuration refusals.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

mod common;

use std::process::{Command, Stdio};

use common::{BIN, Env};
use reqwest::StatusCode;
use slugbase_testkit::Api;
use slugbase_testkit::steps;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_subcommand_and_each_has_its_own_help() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = text(&output.stdout);
    for sub in ["serve", "migrate", "user", "mfa", "token", "keys"] {
        assert!(help.contains(sub), "{sub} missing from:\n{help}");
    }
    for args in [
        &["serve", "--help"][..],
        &["migrate", "--help"],
        &["user", "create", "--help"],
        &["user", "list", "--help"],
        &["user", "set-password", "--help"],
        &["mfa", "reset", "--help"],
        &["token", "create", "--help"],
        &["keys", "generate", "--help"],
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(text(&output.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn keys_generate_prints_a_usable_set_without_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .args(["keys", "generate", "--format", "env"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let env = text(&output.stdout);
    let vars: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(vars.len(), 4, "{env}");
    // The printed set is accepted by the test profile.
    let mut command = Command::new(BIN);
    command
        .current_dir(dir.path())
        .env("SLUGBASE_PROFILE", "test")
        .env("SLUGBASE__DATABASE__URL", format!("sqlite://{}/k.db?mode=rwc", dir.path().display()))
        .arg("migrate");
    for (k, v) in &vars {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_create_users_tokens_and_reset_mfa_from_the_command_line() {
    operators_scenario(Env::new()).await;
}

/// The same commands with `database.url = "mysql://…"` (a fresh MariaDB database), after
/// `slugbase migrate` — run twice: the second finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_use_every_command_on_mariadb() {
    let Some(url) = slugbase_infrastructure::testing::mysql_url().await else { return };
    let env = Env::with_database(&url);
    for _ in 0..2 {
        let migrated = env.cli(&["migrate"], None);
        assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    }
    operators_scenario(env).await;
}

/// `args` run with an OIDC provider configured (nobody answers for it: the CLI never asks).
fn with_a_provider(env: &Env, args: &[&str]) -> std::process::Output {
    let mut command = env.command_of(BIN, "info,sqlx=warn,sea_orm=warn");
    command
        .env("SLUGBASE__OIDC__PROVIDERS__CORP__ISSUER_URL", "http://127.0.0.1:9")
        .env("SLUGBASE__OIDC__PROVIDERS__CORP__CLIENT_ID", "slugbase")
        .env("SLUGBASE__OIDC__PROVIDERS__CORP__CLIENT_SECRET", "not-a-real-secret")
        .args(args);
    common::spawn_piped(&mut command).wait_with_output().unwrap()
}

async fn operators_scenario(env: Env) {
    let password = "operator chosen pw 1";
    let created = env.cli(
        &["user", "create", "--email", "root@example.com", "--name", "Root", "--admin"],
        Some(&format!("{password}\n")),
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(!text(&created.stderr).contains(password));
    // Issue 22: an OIDC-only user while no provider is configured could never sign in.
    let args = ["user", "create", "--email", "svc@example.com", "--oidc-only"];
    let refused = env.cli(&args, None);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("no OIDC provider is configured"),
        "{}",
        text(&refused.stderr)
    );
    let oidc = with_a_provider(&env, &args);
    assert!(oidc.status.success(), "{}", text(&oidc.stderr));
    let duplicate =
        env.cli(&["user", "create", "--email", "root@example.com"], Some("another pw 123\n"));
    assert!(!duplicate.status.success());
    assert!(text(&duplicate.stderr).contains("exists"), "{}", text(&duplicate.stderr));

    let list = env.cli(&["user", "list"], None);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let listing = text(&list.stdout);
    assert!(
        listing.contains("root@example.com") && listing.contains("svc@example.com"),
        "{listing}"
    );
    // The login method and provider columns: the OIDC-only account says `oidc`, linked to no
    // provider yet; the local one `password`.
    let row = |email: &str| {
        listing
            .lines()
            .find(|l| l.contains(email))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    let svc = row("svc@example.com").expect("svc listed");
    assert_eq!(svc[svc.len() - 2..], ["oidc", "-"], "{listing}");
    let root = row("root@example.com").expect("root listed");
    assert_eq!(root[root.len() - 2..], ["password", "-"], "{listing}");
    assert!(
        listing.lines().next().is_some_and(|h| h.ends_with("login          provider")),
        "{listing}"
    );

    let minted =
        env.cli(&["token", "create", "--email", "root@example.com", "--name", "cli"], None);
    assert!(minted.status.success(), "{}", text(&minted.stderr));
    let token = text(&minted.stdout).trim().to_owned();
    assert!(token.starts_with("sb_"), "stdout carries only the token: {token}");
    assert!(!text(&minted.stderr).contains(&token), "the token is printed once, on stdout");

    // The server accepts the CLI's user and token.
    let mut server = env.start("serve.log", "info,sqlx=warn,sea_orm=warn").await;
    let api = Api::with_bearer(&server.base, &token);
    let me = api.get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["is_admin"], true);
    steps::enroll_mfa(&api, steps::wall_code).await;
    steps::login_pending(&Api::new(&server.base), "root@example.com", password).await;

    // Lost authenticator: the operator resets MFA; the account signs in with the password.
    let reset = env.cli(&["mfa", "reset", "--email", "root@example.com"], None);
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    let status = api.get("/api/auth/mfa/status").await;
    assert_eq!(status.body["enabled"], false, "{status:?}");
    assert_eq!(status.body["backup_codes_remaining"], 0, "{status:?}");
    steps::login(&server.base, "root@example.com", password).await;
    // The operator's actions are in the audit log, as from the CLI, with no actor.
    let audit = api.get("/api/admin/audit-log").await;
    assert_eq!(audit.status, StatusCode::OK, "{audit:?}");
    let events = audit.body["events"].as_array().unwrap();
    let cli_events: Vec<&str> = events
        .iter()
        .filter(|e| e["client_addr"] == "local-cli")
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for kind in ["user_created", "api_token_created", "mfa_reset_by_admin"] {
        assert!(cli_events.contains(&kind), "{kind} missing from {cli_events:?}");
    }
    let unknown = env.cli(&["mfa", "reset", "--email", "nobody@example.com"], None);
    assert!(!unknown.status.success());
    let _ = server.terminate();
}

/// `user set-password` reads the password from stdin (never an argument), applies the change
/// policy, ends the user's sessions and is audited; the old password stops working.
#[tokio::test]
async fn operators_set_a_password_from_stdin() {
    let env = Env::new();
    let old = "operator chosen pw 1";
    let created = env.cli(
        &["user", "create", "--email", "ann@example.com", "--admin"],
        Some(&format!("{old}\n")),
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let mut server = env.start("serve.log", "info,sqlx=warn,sea_orm=warn").await;
    let browser = steps::login(&server.base, "ann@example.com", old).await;

    // Refused: too short, too common, unknown user; nothing changes.
    for (email, password, says) in [
        ("ann@example.com", "short", "at least 8"),
        ("ann@example.com", "password123", "too common"),
        ("nobody@example.com", "a fine new password", "no user"),
    ] {
        let refused =
            env.cli(&["user", "set-password", "--email", email], Some(&format!("{password}\n")));
        assert!(!refused.status.success(), "{password}");
        assert!(text(&refused.stderr).contains(says), "{}", text(&refused.stderr));
        assert!(!text(&refused.stderr).contains(password) || password == "short");
    }
    browser.get("/api/auth/me").await.expect(StatusCode::OK);

    let new = "a fine new password";
    let set =
        env.cli(&["user", "set-password", "--email", "ann@example.com"], Some(&format!("{new}\n")));
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert!(!text(&set.stdout).contains(new) && !text(&set.stderr).contains(new));
    browser.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    Api::new(&server.base)
        .post("/api/auth/login", serde_json::json!({"email": "ann@example.com", "password": old}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let admin = steps::login(&server.base, "ann@example.com", new).await;
    let audit =
        admin.get("/api/admin/audit-log?event=password_changed").await.expect(StatusCode::OK);
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["client_addr"], "local-cli");
    let _ = server.terminate();
}

#[test]
fn production_refuses_to_start_without_keys_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env("SLUGBASE_PROFILE", "production")
        .env("SLUGBASE__SERVER__PUBLIC_BASE_URL", "https://auth.example.com")
        .env("SLUGBASE__DATABASE__URL", format!("sqlite://{}/p.db?mode=rwc", dir.path().display()))
        .arg("serve")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    for key in ["keys.encryption.k1", "keys.backup_code", "keys.csrf"] {
        assert!(stderr.contains(key), "{key} not named in:\n{stderr}");
    }
    assert!(!dir.path().join("p.db").exists(), "nothing starts before the configuration is valid");
}

#[test]
fn production_refuses_an_insecure_setting_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env("SLUGBASE_PROFILE", "production")
        .arg("serve")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("server.public_base_url"), "{}", text(&output.stderr));
}

#[test]
fn an_invalid_setting_stops_startup_with_a_message_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env("SLUGBASE__SERVER__PORT", "not-a-port")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("server.port"), "{}", text(&output.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_serves_sqlite_under_data_with_keys_generated_once() {
    // Nothing configured but a port: the development profile from an empty directory.
    let dir = tempfile::tempdir().unwrap();
    let start = |log: &str| {
        let port = common::free_port();
        let file = std::fs::File::create(dir.path().join(log)).unwrap();
        let child = Command::new(BIN)
            .current_dir(dir.path())
            .env("SLUGBASE__SERVER__PORT", port.to_string())
            .env("SLUGBASE__ARGON2__MEMORY_KIB", "64")
            .env("SLUGBASE__ARGON2__ITERATIONS", "1")
            .env_remove("SLUGBASE_PROFILE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        (child, format!("http://127.0.0.1:{port}"))
    };
    let wait = |base: String| async move {
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{base}/api/health")).send().await {
                return (r.status(), r.text().await.unwrap());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no answer from {base}");
    };
    let (mut child, base) = start("first.log");
    let (status, body) = wait(base).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys = dir.path().join("data/dev-keys.toml");
    assert!(dir.path().join("data/slugbase.db").exists());
    assert!(keys.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let generated = std::fs::read_to_string(&keys).unwrap();
    let log = std::fs::read_to_string(dir.path().join("first.log")).unwrap();
    assert!(log.contains("generated development keys"), "{log}");
    for line in generated.lines().filter_map(|l| l.split_once(" = \"")) {
        assert!(!log.contains(line.1.trim_end_matches('"')), "a key appears in the log");
    }

    let (mut child, base) = start("second.log");
    let (status, _) = wait(base).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), generated, "keys are generated once");
    let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    assert!(!log.contains("generated development keys"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_logs_are_json_lines() {
    let env = Env::new();
    let mut server = env
        .start_with(
            "serve.log",
            "info",
            &[
                ("SLUGBASE_PROFILE", "production"),
                ("SLUGBASE__SERVER__PUBLIC_BASE_URL", "https://auth.example.com"),
            ],
        )
        .await;
    let api = Api::new(&server.base);
    assert_eq!(api.get("/api/health").await.status, StatusCode::OK);
    let status = server.terminate();
    assert!(status.success());
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 3, "{log}");
    for line in &lines {
        assert!(line["timestamp"].is_string() && line["level"].is_string(), "{line}");
    }
    assert!(
        lines.iter().any(|l| l["message"] == "listening" && l["profile"] == "production"),
        "{log}"
    );
}

#[test]
fn on_a_terminal_user_create_prompts_twice_for_the_password() {
    // `script` (util-linux) gives the command a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to provide a terminal");
        return;
    }
    let env = Env::new();
    let command = format!("{BIN} user create --email tty@example.com --admin");
    let mut child =
        common::spawn_piped(env.command_of("script", "info").args(["-qec", &command, "/dev/null"]));
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(2));
        input.write_all(b"terminal pw 12345\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        input.write_all(b"terminal pw 12345\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let output = child.wait_with_output().unwrap();
    let shown = text(&output.stdout);
    assert!(output.status.success(), "{shown}{}", text(&output.stderr));
    assert!(shown.contains("Password:") && shown.contains("Repeat password:"), "{shown}");
    assert!(shown.contains("created user"), "{shown}");
    let list = env.cli(&["user", "list"], None);
    assert!(text(&list.stdout).contains("tty@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_the_server_cleanly_like_sigterm() {
    let env = Env::new();
    let mut server = env.start("serve.log", "info").await;
    assert_eq!(Api::new(&server.base).get("/api/health").await.status, StatusCode::OK);
    let status = server.stop_with("INT");
    assert!(status.success(), "exit after SIGINT: {status:?}\n{}", server.log());
    assert!(server.log().contains("shutdown requested"), "{}", server.log());
}
