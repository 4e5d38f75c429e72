//! OIDC login end to end against a real OpenID provider (npm `oidc-provider`, started by
//! these tests on 127.0.0.1 from `tests/oidc-provider/`): the real redirects (followed by
//! hand, cookies kept), the real token endpoint, JWKS and ID token signatures.
//!
//! Without Node or `npm ci` each test prints one skip line; under `CI=true` it fails.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_server::config::DefaultRole;
use slugbase_testkit::oidc::{
    OidcBrowser, OidcProvider, PROVIDER_KEY, callback_url, configure, free_port, test_provider,
    wait_until_discovered,
};
use slugbase_testkit::{TestApp, TestAppBuilder, steps};

const LOGIN: &str = "/api/auth/testidp";

/// The service with the test provider configured (`tune` adds settings), and the provider
/// itself; `None` when the provider cannot run here (one skip line printed).
async fn start_with(
    tune: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
) -> Option<(TestApp, OidcProvider)> {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = OidcProvider::start(&[callback_url(&base)]).await?;
    let app = tune(configure(TestApp::builder(), port, &provider.issuer)).spawn().await;
    assert_eq!(app.address, base);
    wait_until_discovered(&app.address, Duration::from_secs(20)).await;
    Some((app, provider))
}

async fn start() -> Option<(TestApp, OidcProvider)> {
    start_with(|b| b).await
}

fn account(sub: &str, email: &str, verified: bool) -> Value {
    json!({"sub": sub, "email": email, "email_verified": verified, "name": "Olivia Idp"})
}

/// The browser's signed-in client (CSRF token fetched).
async fn signed_in(browser: &OidcBrowser) -> slugbase_testkit::Api {
    let mut api = browser.api.clone();
    api.refresh_csrf().await;
    api
}

/// Audit events of `kind`, newest first, read by the administrator.
async fn audit(admin: &slugbase_testkit::Api, kind: &str) -> Vec<Value> {
    let body =
        admin.get(&format!("/api/admin/audit-log?event={kind}")).await.expect(StatusCode::OK);
    body["events"].as_array().cloned().unwrap_or_else(|| panic!("{body}"))
}

fn has_cookie(reply: &slugbase_testkit::Reply, name: &str) -> bool {
    reply.set_cookies.iter().any(|(n, v)| n == name && !v.is_empty())
}

#[tokio::test]
async fn an_oidc_only_user_who_exists_only_at_the_provider_signs_in_enrolls_totp_and_disables_it_with_a_code_alone()
 {
    let Some((app, provider)) = start().await else { return };
    provider.next_login(account("olivia-sub", "olivia@example.com", true)).await;

    // Sign in through the provider: the first login creates the OIDC-only user.
    let browser = OidcBrowser::new(&app.address);
    let landed = browser.login_lands_on("/").await;
    assert!(has_cookie(&landed, "slugbase.sid"), "{landed:?}");
    let mut api = signed_in(&browser).await;
    let me = api.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["email"], "olivia@example.com");
    assert_eq!(me["has_password"], false);
    assert_eq!(me["oidc_provider"], PROVIDER_KEY);
    assert_eq!(me["name"], "Olivia Idp");

    // Enroll TOTP over the session cookie + CSRF.
    let enrollment = steps::enroll_mfa(&api, |secret| app.fresh_code(secret)).await;
    let status = api.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], true);

    // Disable with {"code"} alone: no password, exactly as the seed page
    // (`docs/seed-mfa-disable.txt`) describes.
    let code = app.fresh_code(&enrollment.secret);
    let res = api.post("/api/auth/mfa/disable", json!({ "code": code })).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
    let status = api.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], false);

    // Without the CSRF token the cookie session may not change anything.
    api.csrf = None;
    let res = api.post("/api/auth/mfa/enroll/begin", json!({})).await;
    res.expect_error(StatusCode::FORBIDDEN, "CSRF_INVALID");
    api.refresh_csrf().await;
}

#[tokio::test]
async fn the_second_login_finds_the_user_by_subject_even_after_the_email_changed_at_the_provider() {
    let Some((app, provider)) = start().await else { return };
    let admin = app.setup_admin().await;
    provider.next_login(account("sub-42", "first@example.com", true)).await;
    OidcBrowser::new(&app.address).login_lands_on("/").await;
    provider.next_login(account("sub-42", "renamed@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    browser.login_lands_on("/").await;
    let me = browser.api.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["email"], "first@example.com", "the account is found by sub, not by e-mail");

    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    let users = users.as_array().cloned().expect("a list");
    assert_eq!(users.len(), 2, "one admin, one OIDC user: {users:?}");
    let oidc_user = users.iter().find(|u| u["email"] == "first@example.com").expect("listed");
    assert_eq!(oidc_user["login_method"], "oidc");
    assert_eq!(oidc_user["oidc_provider"], PROVIDER_KEY);
    let admin_user = users.iter().find(|u| u["email"] == steps::ADMIN_EMAIL).expect("listed");
    assert_eq!(admin_user["login_method"], "password");
    assert_eq!(admin_user["oidc_provider"], Value::Null);

    let created = audit(&admin, "oidc_user_created").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(audit(&admin, "oidc_login_success").await.len(), 2);
}

/// Keys the service and the CLI share (the CLI opens the same SQLite file).
/// Keys the app and the CLI share.
#[derive(Clone)]
struct SharedKeys {
    encryption_k1: String,
    backup_code: String,
    csrf: String,
}

fn shared_keys() -> SharedKeys {
    use slugbase_server::config::{encode_key, random_key};
    SharedKeys {
        encryption_k1: encode_key(&random_key()),
        backup_code: encode_key(&random_key()),
        csrf: encode_key(&random_key()),
    }
}

/// `slugbase user list` over `app`'s database with `keys`.
fn cli_user_list(app: &TestApp, keys: &SharedKeys) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_slugbase"));
    command
        .current_dir(app.dir.path())
        .env("SLUGBASE_PROFILE", "test")
        .env(
            "SLUGBASE__DATABASE__URL",
            format!("sqlite://{}?mode=rwc", app.dir.path().join("slugbase.db").display()),
        )
        .env("RUST_LOG", "warn")
        .env("SLUGBASE__KEYS__ENCRYPTION__K1", &keys.encryption_k1)
        .env("SLUGBASE__KEYS__BACKUP_CODE", &keys.backup_code)
        .env("SLUGBASE__KEYS__CSRF", &keys.csrf)
        .env_remove("SLUGBASE_CONFIG")
        .args(["user", "list"]);
    let output = command.output().expect("the CLI runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Recipients of the `oidc_linked` notices in the outbox.
async fn link_notices(admin: &slugbase_testkit::Api) -> Vec<String> {
    let page = admin.get("/api/admin/outbox").await.expect(StatusCode::OK);
    let notices = page["notices"].as_array().expect("notices").iter();
    notices
        .filter(|n| n["kind"] == "oidc_linked")
        .map(|n| n["recipient"].as_str().expect("recipient").to_owned())
        .collect()
}

#[tokio::test]
async fn a_verified_email_links_the_existing_local_account_once_and_is_audited() {
    let keys = shared_keys();
    let app_keys = keys.clone();
    let Some((app, provider)) = start_with(|b| {
        b.with_config(move |c| {
            c.keys.encryption.insert("k1".to_owned(), app_keys.encryption_k1);
            c.keys.backup_code = app_keys.backup_code;
            c.keys.csrf = app_keys.csrf;
        })
    })
    .await
    else {
        return;
    };
    let admin = app.setup_admin().await;
    app.create_user(&admin, "local@example.com", Some(steps::PASSWORD)).await;

    provider.next_login(account("local-sub", "local@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    browser.login_lands_on("/").await;
    let me = browser.api.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["email"], "local@example.com");
    assert_eq!(me["has_password"], true, "still a local account, now linked");
    assert_eq!(me["oidc_provider"], PROVIDER_KEY);
    assert_eq!(me["login_method"], "password+oidc");
    let linked = audit(&admin, "oidc_linked").await;
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["user_id"], me["id"], "{linked:?}");
    // The owner's "new sign-in provider" notice is in the outbox, written with the link.
    assert_eq!(link_notices(&admin).await, ["local@example.com"]);

    // Another subject of the same provider with the same verified e-mail: never linked too.
    provider.next_login(account("intruder-sub", "local@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    let landed = browser.login_lands_on("/login?error=auth_failed").await;
    assert!(!has_cookie(&landed, "slugbase.sid"));
    browser.api.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(audit(&admin, "oidc_linked").await.len(), 1);
    assert_eq!(link_notices(&admin).await.len(), 1, "a refused link writes no notice");
    let failures = audit(&admin, "oidc_login_fail").await;
    assert_eq!(failures.len(), 1, "{failures:?}");

    // The CLI lists the login method and the provider too.
    let listing = cli_user_list(&app, &keys);
    let row = listing.lines().find(|l| l.contains("local@example.com")).expect("listed");
    assert!(row.trim_end().ends_with("password+oidc  testidp"), "{listing}");
    let row = listing.lines().find(|l| l.contains(steps::ADMIN_EMAIL)).expect("listed");
    assert!(row.trim_end().ends_with("password       -"), "{listing}");
}

#[tokio::test]
async fn an_unverified_email_never_signs_in_as_or_links_to_an_existing_account() {
    let Some((app, provider)) = start().await else { return };
    let admin = app.setup_admin().await;
    provider.next_login(account("attacker-sub", steps::ADMIN_EMAIL, false)).await;
    let browser = OidcBrowser::new(&app.address);
    let landed = browser.login_lands_on("/login?error=auth_failed").await;
    assert!(!has_cookie(&landed, "slugbase.sid"), "{landed:?}");
    browser.api.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let failures = audit(&admin, "oidc_login_fail").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(audit(&admin, "oidc_linked").await.len(), 0);
    assert_eq!(failures[0]["reason"], "auth_failed", "{failures:?}");
    assert!(failures[0]["detail"].as_str().unwrap().contains("email_not_verified"), "{failures:?}");
    let me = admin.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["oidc_provider"], Value::Null, "nothing was linked");
    // The admin still signs in with the password; the provider's account got nothing.
    app.login(steps::ADMIN_EMAIL, steps::PASSWORD).await;
}

#[tokio::test]
async fn with_auto_create_off_an_unknown_person_is_refused_and_without_an_email_too() {
    let Some((app, provider)) =
        start_with(|b| b.with_config(|c| test_provider(c).auto_create_users = false)).await
    else {
        return;
    };
    let admin = app.setup_admin().await;
    provider.next_login(account("stranger", "stranger@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    browser.login_lands_on("/login?error=auto_create_disabled").await;
    browser.api.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    provider.next_login(json!({"sub": "no-mail"})).await;
    OidcBrowser::new(&app.address).login_lands_on("/login?error=email_required").await;
    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    assert_eq!(users.as_array().map_or(0, Vec::len), 1, "only the admin: {users}");
}

#[tokio::test]
async fn an_mfa_user_signing_in_with_oidc_gets_the_totp_step_unless_the_provider_amr_is_trusted() {
    let Some((app, provider)) = start_with(|b| {
        b.with_config(|c| test_provider(c).trust_idp_mfa_amr = vec!["hwk".into(), "otp".into()])
    })
    .await
    else {
        return;
    };
    let admin = app.setup_admin().await;
    provider.next_login(account("mfa-sub", "mfa@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    browser.login_lands_on("/").await;
    let api = signed_in(&browser).await;
    let enrollment = steps::enroll_mfa(&api, |secret| app.fresh_code(secret)).await;

    // MFA on: the provider's login alone gives only the pending-MFA state.
    let browser = OidcBrowser::new(&app.address);
    let landed = browser.login_lands_on("/login?mfa=required").await;
    assert!(has_cookie(&landed, "slugbase.mfa_pending"), "{landed:?}");
    assert!(!has_cookie(&landed, "slugbase.sid"), "{landed:?}");
    browser.api.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // A wrong code: 401 INVALID_CODE (the login step); then the right one gives the session.
    let wrong = app.wrong_code(&enrollment.secret);
    let res = browser.api.post("/api/auth/mfa/verify", json!({ "code": wrong })).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CODE");
    let code = app.fresh_code(&enrollment.secret);
    let res = browser.api.post("/api/auth/mfa/verify", json!({ "code": code })).await;
    assert_eq!(res.expect(StatusCode::OK)["email"], "mfa@example.com");
    browser.api.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(audit(&admin, "oidc_login_success").await.len(), 1, "only the first login");

    // The provider did MFA itself (amr "otp", trusted): no step-up, audited with the amr.
    let mut trusted = account("mfa-sub", "mfa@example.com", true);
    trusted["amr"] = json!(["pwd", "otp"]);
    provider.next_login(trusted).await;
    let browser = OidcBrowser::new(&app.address);
    let landed = browser.login_lands_on("/").await;
    assert!(has_cookie(&landed, "slugbase.sid"), "{landed:?}");
    browser.api.get("/api/auth/me").await.expect(StatusCode::OK);
    let successes = audit(&admin, "oidc_login_success").await;
    assert_eq!(successes.len(), 2, "{successes:?}");
    assert!(successes[0].to_string().contains("otp"), "the trusted amr is audited: {successes:?}");

    // An amr the configuration does not trust changes nothing.
    let mut untrusted = account("mfa-sub", "mfa@example.com", true);
    untrusted["amr"] = json!(["pwd", "sms"]);
    provider.next_login(untrusted).await;
    OidcBrowser::new(&app.address).login_lands_on("/login?mfa=required").await;
}

#[tokio::test]
async fn a_tampered_state_uses_the_flow_up_and_a_replayed_callback_gives_no_session() {
    let Some((app, provider)) = start().await else { return };
    provider.next_login(account("tamper-sub", "tamper@example.com", true)).await;

    // Tampered state: refused, and the flow (with the code's PKCE verifier) is gone.
    let browser = OidcBrowser::new(&app.address);
    let callback = browser.until_callback(LOGIN).await;
    let tampered = callback.replace("state=", "state=x");
    let res = browser.get(&tampered).await;
    assert_eq!(res.header("location"), Some("/login?error=state_invalid"), "{res:?}");
    assert!(!has_cookie(&res, "slugbase.sid"));
    let res = browser.get(&callback).await;
    assert_eq!(res.header("location"), Some("/login?error=state_invalid"), "{res:?}");
    browser.api.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // A good login, then the same callback URL replayed: no second session.
    let browser = OidcBrowser::new(&app.address);
    let callback = browser.until_callback(LOGIN).await;
    let res = browser.get(&callback).await;
    assert_eq!(res.header("location"), Some("/"), "{res:?}");
    let replay = browser.get(&callback).await;
    assert_eq!(replay.header("location"), Some("/login?error=state_invalid"), "{replay:?}");
    assert!(!has_cookie(&replay, "slugbase.sid"), "{replay:?}");
    // Replayed from another browser (no flow cookie at all): nothing either.
    let other = OidcBrowser::new(&app.address);
    let res = other.get(&callback).await;
    assert_eq!(res.header("location"), Some("/login?error=state_invalid"), "{res:?}");
    other.api.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // The provider refusing (error=access_denied) is auth_failed.
    let browser = OidcBrowser::new(&app.address);
    let callback = browser.until_callback(LOGIN).await;
    let state = callback.split("state=").nth(1).unwrap().split('&').next().unwrap();
    let denied = format!("{}?error=access_denied&state={state}", callback_url(&app.address));
    let res = browser.get(&denied).await;
    assert_eq!(res.header("location"), Some("/login?error=auth_failed"), "{res:?}");
}

#[tokio::test]
async fn an_id_token_with_a_wrong_nonce_audience_signature_or_expiry_is_refused() {
    let Some((app, provider)) = start().await else { return };
    let admin = app.setup_admin().await;
    provider.next_login(account("bad-token-sub", "bad@example.com", true)).await;
    for mode in ["wrong_nonce", "wrong_audience", "expired", "bad_signature"] {
        provider.misbehave(Some(mode)).await;
        let browser = OidcBrowser::new(&app.address);
        let landed = browser.login_lands_on("/login?error=auth_failed").await;
        assert!(!has_cookie(&landed, "slugbase.sid"), "{mode}: {landed:?}");
        browser
            .api
            .get("/api/auth/me")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    assert_eq!(audit(&admin, "oidc_login_fail").await.len(), 4);
    assert_eq!(audit(&admin, "oidc_user_created").await.len(), 0, "no token made an account");
    // Well-behaved again: the same person signs in.
    provider.misbehave(None).await;
    OidcBrowser::new(&app.address).login_lands_on("/").await;
}

#[tokio::test]
async fn a_provider_down_at_start_is_retried_and_its_login_works_once_it_is_up() {
    if !slugbase_testkit::oidc::provider_available() {
        return;
    }
    let port = free_port();
    let provider_port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let issuer = format!("http://127.0.0.1:{provider_port}");
    // The service starts although its provider is down.
    let app = configure(TestApp::builder(), port, &issuer).spawn().await;
    let providers = app.client().get("/api/auth/providers").await.expect(StatusCode::OK);
    assert_eq!(
        providers,
        json!([{
            "provider_key": PROVIDER_KEY,
            "display_name": "Test IdP",
            "issuer_url": issuer,
            "callback_url": callback_url(&base),
        }])
    );
    let browser = OidcBrowser::new(&app.address);
    let res = browser.get(LOGIN).await;
    assert_eq!(res.status, StatusCode::FOUND);
    assert_eq!(res.header("location"), Some("/login?error=provider_unavailable"), "{res:?}");
    assert!(!has_cookie(&res, "slugbase.oidc_flow"));

    let Some(provider) = OidcProvider::start_on(provider_port, &[callback_url(&base)]).await else {
        return;
    };
    wait_until_discovered(&app.address, Duration::from_secs(30)).await;
    provider.next_login(account("late-sub", "late@example.com", true)).await;
    OidcBrowser::new(&app.address).login_lands_on("/").await;
}

#[tokio::test]
async fn the_login_honours_a_same_origin_return_to_and_refuses_others_and_unknown_providers() {
    let Some((app, provider)) = start().await else { return };
    provider.next_login(account("rt-sub", "rt@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    let landed = browser.login(&format!("{LOGIN}?return_to=/account/security")).await;
    assert_eq!(landed.header("location"), Some("/account/security"), "{landed:?}");

    // The redirect to the provider carries PKCE S256, state and nonce, and the flow cookie
    // is HttpOnly.
    let res = OidcBrowser::new(&app.address).get(LOGIN).await;
    let location = res.header("location").unwrap().to_owned();
    assert!(location.starts_with(&provider.issuer), "{location}");
    for part in
        ["code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "response_type=code"]
    {
        assert!(location.contains(part), "{part} in {location}");
    }
    let cookie = res
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("slugbase.oidc_flow="))
        .expect("flow cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("Max-Age=600"), "{cookie}");

    // Every spelling a browser reads as another host (issue 22: the dot-segment ones were
    // accepted and carried through the MFA step).
    for bad in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil",
        "/.//evil.example/x",
        "/..//evil.example/x",
        "/x/..//evil.example/x",
        "/%2e//evil.example/x",
        "\\/evil.example/x",
        "/\t/evil.example/x",
        "  //evil.example/x",
        "HTTPS://EVIL.EXAMPLE/x",
        "javascript:alert(1)",
    ] {
        let res = app.client().get(&format!("{LOGIN}?return_to={}", urlencode(bad))).await;
        let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(slugbase_testkit::detail_fields(&body), ["return_to"], "{bad}");
    }
    let res = app.client().get(&format!("{LOGIN}?max_age=soon")).await;
    res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    let res = OidcBrowser::new(&app.address).get("/api/auth/nope").await;
    res.expect_error(StatusCode::NOT_FOUND, "PROVIDER_NOT_FOUND");
    let res = OidcBrowser::new(&app.address).get("/api/auth/nope/callback?code=x&state=y").await;
    res.expect_error(StatusCode::NOT_FOUND, "PROVIDER_NOT_FOUND");
    // The fixed routes beside it keep their 405.
    let res = app.client().get("/api/auth/login").await;
    assert_eq!(res.header("allow"), Some("POST"));
    res.expect_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(
            |b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            },
        )
        .collect()
}

#[tokio::test]
async fn with_the_reauth_policy_an_oidc_only_user_disables_only_after_a_fresh_provider_login() {
    let Some((app, provider)) =
        start_with(|b| b.with_config(|c| c.security.oidc_reauth_max_age_secs = 300)).await
    else {
        return;
    };
    provider.next_login(account("reauth-sub", "reauth@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    browser.login_lands_on("/").await;
    let mut api = signed_in(&browser).await;
    let enrollment = steps::enroll_mfa(&api, |secret| app.fresh_code(secret)).await;

    // Time passes at the service: the provider authentication is now too old.
    app.clock.advance(chrono::TimeDelta::seconds(600));
    let code = app.fresh_code(&enrollment.secret);
    let res = api.post("/api/auth/mfa/disable", json!({ "code": code })).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "REAUTH_REQUIRED");
    // An API token carries no provider authentication at all.
    let token = app.api_token(&api).await;
    let code = app.fresh_code(&enrollment.secret);
    let res = token.post("/api/auth/mfa/disable", json!({ "code": code })).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "REAUTH_REQUIRED");

    // A fresh login at the provider (prompt=login, max_age), in the same browser.
    let reauth = format!("{LOGIN}?prompt=login&max_age=300&return_to=/account");
    let redirect = browser.get(&reauth).await;
    let location = redirect.header("location").unwrap().to_owned();
    assert!(location.contains("prompt=login") && location.contains("max_age=300"), "{location}");
    let landed = browser.login(&reauth).await;
    // MFA is on: the provider's login is followed by the TOTP step, as always, which then
    // goes on to the login's own destination.
    assert_eq!(
        landed.header("location"),
        Some("/login?mfa=required&return_to=%2Faccount"),
        "{landed:?}"
    );
    // The service's clock is set back to the provider's time (plus a minute, and past the
    // TOTP steps used so far).
    app.clock.set(chrono::Utc::now() + chrono::TimeDelta::seconds(60));
    let code = app.code_now(&enrollment.secret);
    let res = browser.api.post("/api/auth/mfa/verify", json!({ "code": code })).await;
    res.expect(StatusCode::OK);
    // Still nothing for the API token, which has no provider login of its own.
    let code = app.fresh_code(&enrollment.secret);
    let res = token.post("/api/auth/mfa/disable", json!({ "code": code })).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "REAUTH_REQUIRED");
    // The new session carries the provider's fresh auth_time: the disable goes through.
    api.refresh_csrf().await;
    let code = app.fresh_code(&enrollment.secret);
    let res = api.post("/api/auth/mfa/disable", json!({ "code": code })).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
}

#[tokio::test]
async fn with_linking_off_a_verified_email_is_refused_and_new_users_get_the_default_role() {
    let Some((app, provider)) = start_with(|b| {
        b.with_config(|c| {
            test_provider(c).link_verified_email = false;
            test_provider(c).default_role = DefaultRole::Admin;
        })
    })
    .await
    else {
        return;
    };
    let admin = app.setup_admin().await;
    app.create_user(&admin, "local@example.com", Some(steps::PASSWORD)).await;
    provider.next_login(account("verified-sub", "local@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    browser.login_lands_on("/login?error=auth_failed").await;
    let failures = audit(&admin, "oidc_login_fail").await;
    assert!(failures[0]["detail"].as_str().unwrap().contains("linking_disabled"), "{failures:?}");
    assert_eq!(audit(&admin, "oidc_linked").await.len(), 0);

    provider.next_login(account("new-sub", "new@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    browser.login_lands_on("/").await;
    let me = browser.api.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(
        (me["email"].as_str(), me["is_admin"].as_bool()),
        (Some("new@example.com"), Some(true))
    );
    assert_eq!(me["has_password"], false);
}

/// One whole login in a fresh browser at the test provider, landing on `expected`.
async fn login_lands_on(app: &TestApp, expected: &str) {
    OidcBrowser::new(&app.address).login_lands_on(expected).await;
}

#[tokio::test]
async fn after_the_provider_rotates_its_signing_key_logins_go_on_with_one_shared_jwks_refetch() {
    let Some((app, provider)) = start().await else { return };
    provider.next_login(account("rotate-sub", "rotate@example.com", true)).await;
    login_lands_on(&app, "/").await;
    let fetches = provider.jwks_fetches().await;

    // The provider rotates its key while the service runs: the old one leaves the JWKS, the
    // new one (a kid the service has never seen) signs every ID token from now on.
    assert_eq!(provider.rotate_keys().await, "test-key-2");
    // Four logins at once, no restart of the service: every one verifies, and they share
    // one JWKS fetch.
    tokio::join!(
        login_lands_on(&app, "/"),
        login_lands_on(&app, "/"),
        login_lands_on(&app, "/"),
        login_lands_on(&app, "/"),
    );
    assert_eq!(provider.jwks_fetches().await, fetches + 1, "one refetch for all of them");
    // The refreshed keys stay: the next login needs no fetch.
    login_lands_on(&app, "/").await;
    assert_eq!(provider.jwks_fetches().await, fetches + 1);
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_at_most_once_per_interval_and_fails_the_login() {
    let Some((app, provider)) =
        start_with(|b| b.with_config(|c| c.oidc.jwks_refresh_min_interval_secs = 3600)).await
    else {
        return;
    };
    let admin = app.setup_admin().await;
    provider.next_login(account("kid-sub", "kid@example.com", true)).await;
    let fetches = provider.jwks_fetches().await;

    // ID tokens under a kid the provider never had (the key is not there either), one after
    // the other, then several at once, then with odd kids: each login fails as a bad token
    // does, and the provider sees one JWKS fetch for all of them within the interval.
    provider.forge_kid("forged-kid").await;
    for _ in 0..5 {
        login_lands_on(&app, "/login?error=auth_failed").await;
    }
    tokio::join!(
        login_lands_on(&app, "/login?error=auth_failed"),
        login_lands_on(&app, "/login?error=auth_failed"),
        login_lands_on(&app, "/login?error=auth_failed"),
    );
    let long = "é".repeat(4000);
    for kid in ["", "../../jwks?x=1", "kid\"\u{0}\n<script>", "test-key-1 ", &long] {
        provider.forge_kid(kid).await;
        login_lands_on(&app, "/login?error=auth_failed").await;
    }
    assert_eq!(provider.jwks_fetches().await, fetches + 1, "one refetch per interval");
    let failures = audit(&admin, "oidc_login_fail").await;
    assert_eq!(failures.len(), 13, "{failures:?}");
    assert!(failures.iter().all(|f| f["reason"] == "auth_failed"), "{failures:?}");
    assert_eq!(audit(&admin, "oidc_user_created").await.len(), 0, "no token made an account");

    // The provider's real key still verifies without any fetch.
    provider.misbehave(None).await;
    login_lands_on(&app, "/").await;
    assert_eq!(provider.jwks_fetches().await, fetches + 1);
}

#[tokio::test]
async fn a_huge_jwks_is_refused_and_a_later_refetch_past_the_interval_recovers() {
    let Some((app, provider)) =
        start_with(|b| b.with_config(|c| c.oidc.jwks_refresh_min_interval_secs = 1)).await
    else {
        return;
    };
    let admin = app.setup_admin().await;
    provider.next_login(account("huge-sub", "huge@example.com", true)).await;
    provider.rotate_keys().await;
    // The provider's JWKS now holds the new key, padded to 2 MiB: the service stops reading
    // at 1 MiB, keeps the keys it had, and the login fails as any unverifiable token does.
    provider.jwks_answer(Some("huge")).await;
    let fetches = provider.jwks_fetches().await;
    login_lands_on(&app, "/login?error=auth_failed").await;
    assert_eq!(provider.jwks_fetches().await, fetches + 1, "fetched once, and refused");
    let failures = audit(&admin, "oidc_login_fail").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["reason"], "auth_failed", "{failures:?}");

    // A usual JWKS again; once the 1 s interval since the refused fetch has passed (a wait,
    // not a timed assertion: the monotonic clock has then moved on by more than 1 s), the
    // next login fetches it and signs in.
    provider.jwks_answer(None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    login_lands_on(&app, "/").await;
    assert_eq!(provider.jwks_fetches().await, fetches + 2);
}

/// Issue 24: an OIDC login that needs the second step gets the passkey's choice as a password
/// login does: the same pending state, the same challenge, the same verify. The service is
/// reached at `http://localhost:<port>` (WebAuthn binds passkeys to a domain).
#[tokio::test]
async fn an_oidc_login_that_needs_the_second_step_takes_a_passkey_as_well_as_a_code() {
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

    let port = free_port();
    let base = format!("http://localhost:{port}");
    let Some(provider) = OidcProvider::start(&[callback_url(&base)]).await else { return };
    let public = base.clone();
    let app = configure(TestApp::builder(), port, &provider.issuer)
        .with_config(move |c| c.server.public_base_url = public)
        .spawn()
        .await;
    wait_until_discovered(&app.address, Duration::from_secs(20)).await;
    let admin = app.setup_admin().await;
    let origin = url::Url::parse(&base).unwrap();

    // An OIDC-only user signs in, turns MFA on and adds a passkey.
    provider.next_login(account("pk-sub", "pk@example.com", true)).await;
    let browser = OidcBrowser::new(&base);
    browser.login_lands_on("/").await;
    let api = signed_in(&browser).await;
    steps::enroll_mfa(&api, |secret| app.fresh_code(secret)).await;
    let mut key = SoftPasskey::new(true);
    let begin =
        api.post("/api/auth/passkeys/register/begin", json!({})).await.expect(StatusCode::OK);
    let options: CreationChallengeResponse =
        serde_json::from_value(begin["options"].clone()).unwrap();
    let credential = key.do_registration(origin.clone(), options).unwrap();
    let finish = json!({"ceremony_id": begin["ceremony_id"], "credential": credential});
    api.post("/api/auth/passkeys/register/finish", &finish).await.expect(StatusCode::CREATED);

    // The provider's login alone gives the pending state; the passkey completes it.
    provider.next_login(account("pk-sub", "pk@example.com", true)).await;
    let browser = OidcBrowser::new(&base);
    browser.login_lands_on("/login?mfa=required").await;
    let challenge = browser.api.post("/api/auth/mfa/verify/challenge", json!({})).await;
    let challenge = challenge.expect(StatusCode::OK);
    let options: RequestChallengeResponse =
        serde_json::from_value(challenge["options"].clone()).unwrap();
    let credential = key.do_authentication(origin, options).unwrap();
    let answer = json!({"ceremony_id": challenge["ceremony_id"], "credential": credential});
    let me = browser.api.post("/api/auth/mfa/verify", &answer).await.expect(StatusCode::OK);
    assert_eq!(me["email"], "pk@example.com", "{me}");
    browser.api.get("/api/auth/me").await.expect(StatusCode::OK);
    let verified = audit(&admin, "mfa_verify_success").await;
    assert_eq!(verified[0]["proof"], "passkey", "{verified:?}");
}

/// The MFA policy holds OIDC logins to the same rule as password ones: the first login
/// under `require_mfa` starts the grace period (a full session, to `return_to`); once it is
/// over, the login lands on the account page whatever `return_to` says, with a session
/// that reaches only enrolment until TOTP is on — then everything, and the next login takes
/// the TOTP step.
#[tokio::test]
async fn an_oidc_login_past_the_mfa_grace_period_lands_on_the_account_page_held_to_enrolment() {
    use slugbase_server::config::RequireMfa;
    let Some((app, provider)) = start_with(|b| {
        b.with_config(|c| {
            c.security.require_mfa = Some(RequireMfa::All);
            c.security.grace_days = 1;
        })
    })
    .await
    else {
        return;
    };
    let login = format!("{LOGIN}?return_to=%2Fadmin");

    // Inside the grace period: where the login asked to go, with a full session.
    provider.next_login(account("held-sub", "held@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    let landed = browser.login(&login).await;
    assert_eq!(landed.header("location"), Some("/admin"), "{landed:?}");
    let api = signed_in(&browser).await;
    api.get("/api/auth/sessions").await.expect(StatusCode::OK);
    let status = api.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(
        (&status["policy_status"], &status["grace_days_left"]),
        (&json!("in_grace"), &json!(1))
    );

    // A day later: to the account page, held to enrolment.
    app.clock.advance(chrono::TimeDelta::days(1));
    provider.next_login(account("held-sub", "held@example.com", true)).await;
    let browser = OidcBrowser::new(&app.address);
    let landed = browser.login(&login).await;
    assert_eq!(landed.header("location"), Some("/"), "{landed:?}");
    let api = signed_in(&browser).await;
    api.get("/api/auth/sessions")
        .await
        .expect_error(StatusCode::FORBIDDEN, "MFA_ENROLLMENT_REQUIRED");
    let me = api.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["mfa_policy_status"], "overdue");

    // Enrolled with a real code: the same session reaches everything.
    steps::enroll_mfa(&api, |secret| app.fresh_code(secret)).await;
    api.get("/api/auth/sessions").await.expect(StatusCode::OK);
    provider.next_login(account("held-sub", "held@example.com", true)).await;
    let landed = OidcBrowser::new(&app.address).login(&login).await;
    assert_eq!(landed.header("location"), Some("/login?mfa=required&return_to=%2Fadmin"));
}
