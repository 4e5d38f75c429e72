//! The real binary's logs, captured over a full lifecycle at trace level, contain no
//! password, TOTP secret, otpauth URL, TOTP code, backup code, session id, CSRF token,
//! API token or key. Also: SIGTERM stops the server cleanly.

mod common;

use common::{Env, totp_code};
use reqwest::StatusCode;
use serde_json::json;
use slugbase_testkit::steps::{PASSWORD, backup_codes};
use slugbase_testkit::{Api, Reply};

/// Every secret the test saw, to be searched for in the logs.
#[derive(Default)]
struct Secrets {
    /// Compared as substrings.
    strings: Vec<(String, &'static str)>,
    /// TOTP codes: six digits, searched with digit boundaries (a timestamp's fraction
    /// could otherwise contain them by chance).
    codes: Vec<String>,
}

impl Secrets {
    fn add(&mut self, value: impl Into<String>, what: &'static str) {
        let value = value.into();
        assert!(!value.is_empty());
        self.strings.push((value, what));
    }

    fn cookies(&mut self, reply: &Reply) {
        for (name, value) in &reply.set_cookies {
            if !value.is_empty() {
                self.add(value.clone(), if name == "_csrf" { "csrf cookie" } else { "session id" });
            }
        }
    }
}

fn contains_code(log: &str, code: &str) -> bool {
    log.match_indices(code).any(|(at, _)| {
        let before = log[..at].chars().next_back();
        let after = log[at + code.len()..].chars().next();
        let digitish = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || c == '.');
        !digitish(before) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_the_logs_of_a_full_lifecycle() {
    let env = Env::new();
    // Everything, down to third-party trace lines: a secret must not appear at any level.
    let mut server = env.start("serve.log", "trace").await;
    let mut secrets = Secrets::default();
    for key in env.key_values() {
        secrets.add(key, "configured key");
    }
    secrets.add(PASSWORD, "password");
    let email = "ada@example.com";

    // Setup: first admin, cookie session.
    let mut api = Api::new(&server.base);
    assert_eq!(api.get("/api/auth/setup/status").await.body["initialized"], false);
    let setup = api
        .post("/api/auth/setup", json!({ "email": email, "name": "Ada", "password": PASSWORD }))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{setup:?}");
    secrets.cookies(&setup);
    let csrf = api.refresh_csrf().await;
    secrets.add(csrf, "csrf token");

    // A token, used for the MFA lifecycle.
    let token = api.make_token("ci").await;
    secrets.add(token.clone(), "api token");
    let bearer = Api::with_bearer(&server.base, &token);

    let begin = bearer.post("/api/auth/mfa/enroll/begin", json!({})).await;
    assert_eq!(begin.status, StatusCode::OK, "{begin:?}");
    let url = begin.body["otpauth_url"].as_str().unwrap().to_owned();
    let secret = begin.body["secret"].as_str().unwrap().to_owned();
    secrets.add(url.clone(), "otpauth url");
    secrets.add(secret, "totp secret");
    let wrong = bearer.post("/api/auth/mfa/enroll/confirm", json!({ "code": "000000" })).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{wrong:?}");
    let code = totp_code(&url, 0);
    secrets.codes.push(code.clone());
    let confirm = bearer.post("/api/auth/mfa/enroll/confirm", json!({ "code": code })).await;
    assert_eq!(confirm.status, StatusCode::OK, "{confirm:?}");
    let codes = backup_codes(&confirm.body);
    for code in &codes {
        secrets.add(code.clone(), "backup code");
    }

    // Sign out, a wrong password, then password + TOTP.
    let logout = api.post("/api/auth/logout", json!({})).await;
    assert_eq!(logout.status, StatusCode::OK, "{logout:?}");
    let mut login_api = Api::new(&server.base);
    let bad = login_api
        .post("/api/auth/login", json!({ "email": email, "password": "wrong password 42" }))
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{bad:?}");
    secrets.add("wrong password 42", "wrong password");
    let login =
        login_api.post("/api/auth/login", json!({ "email": email, "password": PASSWORD })).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    assert_eq!(login.body["mfa_required"], true);
    secrets.cookies(&login);
    let code = totp_code(&url, 1);
    secrets.codes.push(code.clone());
    let verify = login_api.post("/api/auth/mfa/verify", json!({ "code": code })).await;
    assert_eq!(verify.status, StatusCode::OK, "{verify:?}");
    secrets.cookies(&verify);
    let csrf = login_api.refresh_csrf().await;
    secrets.add(csrf, "csrf token");

    // Regenerate with a backup code, then disable with a new one (cookie + CSRF).
    let regen = login_api
        .post("/api/auth/mfa/backup/regenerate", json!({ "code": codes[0], "password": PASSWORD }))
        .await;
    assert_eq!(regen.status, StatusCode::OK, "{regen:?}");
    let new_codes = backup_codes(&regen.body);
    for code in &new_codes {
        secrets.add(code.clone(), "backup code");
    }
    let reused = login_api
        .post("/api/auth/mfa/disable", json!({ "code": codes[1], "password": PASSWORD }))
        .await;
    assert_eq!(
        reused.status,
        StatusCode::BAD_REQUEST,
        "old codes died with the regeneration: {reused:?}"
    );
    let disable = login_api
        .post("/api/auth/mfa/disable", json!({ "code": new_codes[0], "password": PASSWORD }))
        .await;
    assert_eq!(disable.status, StatusCode::OK, "{disable:?}");

    // Admin work: another user, MFA reset, token revoke.
    let body =
        json!({ "email": "bob@example.com", "name": "Bob", "password": "bob password 1234" });
    secrets.add("bob password 1234", "password");
    let bob = bearer.post("/api/admin/users", body).await;
    assert_eq!(bob.status, StatusCode::CREATED, "{bob:?}");
    let bob_id = bob.body["id"].as_str().unwrap().to_owned();
    let reset = bearer.post(&format!("/api/admin/users/{bob_id}/mfa/reset"), json!({})).await;
    assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
    let tokens = bearer.get("/api/tokens").await;
    let id = tokens.body[0]["id"].as_str().unwrap().to_owned();
    let revoke = bearer.delete(&format!("/api/tokens/{id}")).await;
    assert_eq!(revoke.status, StatusCode::OK, "{revoke:?}");
    assert_eq!(bearer.get("/api/auth/me").await.status, StatusCode::UNAUTHORIZED);

    // Graceful stop on SIGTERM.
    let status = server.terminate();
    assert!(status.success(), "SIGTERM must stop the server cleanly: {status:?}");

    let log = server.log();
    eprintln!("checked {} log lines", log.lines().count());
    if std::env::var_os("SLUGBASE_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    assert!(log.contains("audit"), "the audit events are logged:\n{log}");
    for (value, what) in &secrets.strings {
        assert!(!log.contains(value.as_str()), "a {what} appears in the logs");
    }
    for code in &secrets.codes {
        assert!(!contains_code(&log, code), "a TOTP code appears in the logs");
    }
    assert!(!log.contains("otpauth://"), "an otpauth URL appears in the logs");
    assert!(!log.contains("sb_"), "something shaped like an API token appears in the logs");
}

#[test]
fn the_code_search_ignores_digits_inside_longer_numbers() {
    assert!(contains_code("code=123456 ok", "123456"));
    assert!(contains_code("\"123456\"", "123456"));
    assert!(!contains_code("2026-11-27T21:53:57.123456Z", "123456"));
    assert!(!contains_code("id 91234567", "123456"));
}
