//! The account pages (`/login`, `/`, `/admin`): what the server sends (security headers,
//! compiled-in assets, no inline script or style), and the journeys a person makes, in real
//! Chromium (`tests/browser/journeys.mjs`, playwright-core with Debian's `/usr/bin/chromium`,
//! axe-core on every screen) against the real service on a SQLite file, with real TOTP codes
//! computed from the key the browser read off the page.
//!
//! Screenshots of every screen go to `$SLUGBASE_SCREENSHOTS` (default
//! `<target>/tmp/screenshots`). Without Chromium, Node or `npm ci` in `tests/browser`, each
//! browser test prints one skip line; under `CI=true` it fails.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_testkit::browser::{Journey, browser_available};
use slugbase_testkit::oidc::{
    OidcProvider, callback_url, configure, free_port, wait_until_discovered,
};
use slugbase_testkit::{Api, TestApp, steps};

fn screenshots() -> PathBuf {
    std::env::var_os("SLUGBASE_SCREENSHOTS").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        PathBuf::from,
    )
}

/// Audit events of `kind` for everyone, newest first.
async fn audit(admin: &Api, kind: &str) -> Vec<Value> {
    let body =
        admin.get(&format!("/api/admin/audit-log?event={kind}")).await.expect(StatusCode::OK);
    body["events"].as_array().cloned().unwrap_or_else(|| panic!("{body}"))
}

async fn raw_get(app: &TestApp, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.url(path));
    if let Some(tag) = etag {
        request = request.header("If-None-Match", tag);
    }
    request.send().await.expect("the page answers")
}

const PAGES: [&str; 3] = ["/", "/login", "/admin"];

#[tokio::test]
async fn every_page_is_served_from_the_binary_with_a_strict_policy_and_never_cached() {
    let app = TestApp::spawn().await;
    for path in PAGES {
        let res = raw_get(&app, path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let header = |name: &str| {
            res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        assert_eq!(header("content-type"), "text/html; charset=utf-8", "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        let html = res.text().await.expect("the page");
        assert!(html.starts_with("<!doctype html>") && html.contains("</html>"), "{path}");
        assert!(!html.contains("{{"), "{path}: a layout placeholder is left");
        assert_no_inline_script_or_style(path, &html);
        for asset in referenced_assets(&html) {
            let res = raw_get(&app, &asset, None).await;
            assert_eq!(res.status(), StatusCode::OK, "{path} loads {asset}");
        }
        let head = reqwest::Client::new().head(app.url(path)).send().await.expect("HEAD");
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert!(head.headers().contains_key("content-security-policy"), "HEAD {path}");
    }
}

/// No `<script>` without `src`, no `<style>`, no `style=` or `on…=` attribute: the policy
/// forbids them and the pages do not need them.
fn assert_no_inline_script_or_style(path: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<style"), "{path} has a <style> element");
    assert!(!lower.contains(" style="), "{path} has a style attribute");
    for script in lower.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(tag.contains(" src="), "{path} has an inline script");
    }
    for tag in lower.split('<').skip(1) {
        let head = tag.split('>').next().unwrap_or_default();
        assert!(
            !head.split_whitespace().skip(1).any(|attr| attr.starts_with("on")),
            "{path} has an inline event handler: <{head}>"
        );
    }
}

fn referenced_assets(html: &str) -> Vec<String> {
    html.split(['"', '\'']).filter(|part| part.starts_with("/assets/")).map(str::to_owned).collect()
}

#[tokio::test]
async fn assets_are_revalidated_by_their_digest_and_unknown_ones_are_a_json_404() {
    let app = TestApp::spawn().await;
    let res = raw_get(&app, "/assets/account.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().expect("ascii"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(res.headers()["cache-control"].to_str().expect("ascii"), "no-cache");
    let tag = res.headers()["etag"].to_str().expect("ascii").to_owned();
    assert!(res.text().await.expect("body").contains("/api/auth/mfa/disable"));

    let again = raw_get(&app, "/assets/account.js", Some(&tag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let other = raw_get(&app, "/assets/style.css", Some(&tag)).await;
    assert_eq!(other.status(), StatusCode::OK, "another file's tag does not match");

    for missing in ["/assets/nope.js", "/assets/account.html", "/assets/..%2Fpages.rs"] {
        let reply = app.client().get(missing).await;
        reply.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
}

/// The service on a SQLite file, nothing else configured.
async fn fresh_app() -> Option<TestApp> {
    if !browser_available() {
        return None;
    }
    Some(TestApp::spawn().await)
}

/// The password the lifecycle journey changes to.
const NEW_PASSWORD: &str = "a much longer passphrase 2026";

/// Also along the way: another device signed out from the sessions list, an API token
/// created (shown once, working) and revoked, the password changed (a mismatch and a common
/// password refused by their fields first).
#[tokio::test]
async fn first_admin_enrolls_signs_in_with_totp_and_disables_mfa_with_a_backup_code() {
    let Some(app) = fresh_app().await else { return };
    Journey::new("lifecycle", &screenshots())
        .params(json!({
            "email": steps::ADMIN_EMAIL,
            "password": steps::PASSWORD,
            "new_password": NEW_PASSWORD,
            "name": "Ada Admin",
        }))
        .run(&app)
        .await;

    // What the browser did, as the service recorded it.
    let old = app.client();
    let refused = old
        .post("/api/auth/login", json!({"email": steps::ADMIN_EMAIL, "password": steps::PASSWORD}))
        .await;
    refused.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let admin = app.login(steps::ADMIN_EMAIL, NEW_PASSWORD).await;
    let status = admin.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], false, "{status}");
    let disabled = audit(&admin, "mfa_disable_success").await;
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["proof"], "backup_code", "disabled with a backup code");
    assert_eq!(audit(&admin, "mfa_enroll_confirm_success").await.len(), 1);
    let verified = audit(&admin, "mfa_verify_success").await;
    let in_chromium: Vec<&Value> = verified
        .iter()
        .filter(|e| e["user_agent"].as_str().is_some_and(|a| a.contains("HeadlessChrome")))
        .collect();
    assert_eq!(in_chromium.len(), 1, "the browser signed in with the TOTP step: {verified:?}");
    assert_eq!(in_chromium[0]["proof"], "totp");
    assert_eq!(verified.len(), 2, "and the other device: {verified:?}");
    assert_eq!(audit(&admin, "setup_completed").await.len(), 1);
    assert_eq!(audit(&admin, "session_revoked").await.len(), 1, "the other device");
    assert_eq!(audit(&admin, "api_token_revoked").await.len(), 1);
    assert_eq!(audit(&admin, "password_changed").await.len(), 1);
}

/// Also: signing in through the provider again takes the TOTP step and still lands where
/// the sign-in was meant to go (`return_to` carried through `/login?mfa=required`).
#[tokio::test]
async fn an_oidc_only_user_disables_mfa_with_a_code_and_never_sees_a_password_field() {
    if !browser_available() {
        return;
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let Some(provider) = OidcProvider::start(&[callback_url(&base)]).await else { return };
    let app = configure(TestApp::builder(), port, &provider.issuer).spawn().await;
    wait_until_discovered(&app.address, Duration::from_secs(20)).await;
    let admin = app.setup_admin().await;
    let email = "olivia@example.com";
    provider
        .next_login(json!({"sub": "olivia-sub", "email": email, "email_verified": true, "name": "Olivia Idp"}))
        .await;

    Journey::new("oidc_only", &screenshots()).params(json!({"email": email})).run(&app).await;

    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    let olivia = users
        .as_array()
        .and_then(|all| all.iter().find(|u| u["email"] == email))
        .cloned()
        .unwrap_or_else(|| panic!("{users}"));
    assert_eq!(olivia["login_method"], "oidc", "{olivia}");
    assert_eq!(olivia["mfa_enabled"], false, "{olivia}");
    let disabled = audit(&admin, "mfa_disable_success").await;
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["user_id"], olivia["id"]);
    assert_eq!(disabled[0]["proof"], "totp");
    let verified = audit(&admin, "mfa_verify_success").await;
    assert_eq!(verified.len(), 1, "the second provider login took the TOTP step: {verified:?}");
    assert_eq!(verified[0]["user_id"], olivia["id"]);
}

/// An administrator and a user with MFA on (enrolled through the API); the user's secret.
async fn admin_and_mfa_user(app: &TestApp, email: &str) -> (Api, String) {
    let admin = app.setup_admin().await;
    app.create_user(&admin, email, Some(steps::PASSWORD)).await;
    let user = app.login(email, steps::PASSWORD).await;
    let (secret, _) = app.enable_mfa(&user).await;
    (admin, secret)
}

#[tokio::test]
async fn a_wrong_code_is_shown_next_to_the_code_field_and_changes_nothing() {
    let Some(app) = fresh_app().await else { return };
    let email = "walter@example.com";
    let (admin, secret) = admin_and_mfa_user(&app, email).await;

    Journey::new("wrong_code", &screenshots())
        .params(json!({"email": email, "password": steps::PASSWORD, "secret": secret}))
        .run(&app)
        .await;

    let reasons: Vec<Value> =
        audit(&admin, "mfa_disable_fail").await.iter().map(|e| e["reason"].clone()).collect();
    assert_eq!(reasons, [json!("INVALID_PASSWORD"), json!("INVALID_CODE")], "newest first");
    assert_eq!(audit(&admin, "mfa_verify_fail").await.len(), 1);
    assert!(audit(&admin, "mfa_disable_success").await.is_empty());
}

#[tokio::test]
async fn past_the_attempt_limit_the_page_says_when_to_try_again() {
    if !browser_available() {
        return;
    }
    let app = TestApp::builder()
        .with_config(|c| c.security.limits.second_factor_account.max_failures = 2)
        .spawn()
        .await;
    let email = "hasty@example.com";
    let (admin, secret) = admin_and_mfa_user(&app, email).await;

    Journey::new("throttled", &screenshots())
        .params(
            json!({"email": email, "password": steps::PASSWORD, "secret": secret, "failures": 2}),
        )
        .run(&app)
        .await;

    assert_eq!(audit(&admin, "mfa_verify_fail").await.len(), 2, "the 429 is no third failure");
    assert!(audit(&admin, "mfa_verify_success").await.is_empty(), "the right code waited too");
}

/// Issue 25: with a short window, the countdown of a 429 reaches 0, the buttons come back
/// and the right code signs in.
#[tokio::test]
async fn past_the_attempt_limit_the_wait_ends_and_the_code_works_again() {
    if !browser_available() {
        return;
    }
    let app = TestApp::builder()
        .with_config(|c| {
            c.security.limits.second_factor_account.max_failures = 2;
            c.security.limits.second_factor_account.window_secs = 20;
        })
        .spawn()
        .await;
    let email = "patient@example.com";
    let (admin, secret) = admin_and_mfa_user(&app, email).await;

    Journey::new("throttled_wait_ends", &screenshots())
        .params(json!({
            "email": email, "password": steps::PASSWORD, "secret": secret, "failures": 2,
            "waitEnds": true,
        }))
        .run(&app)
        .await;

    assert_eq!(audit(&admin, "mfa_verify_fail").await.len(), 2);
    assert_eq!(audit(&admin, "mfa_verify_success").await.len(), 1, "signed in after the wait");
}

/// Issue 25: a locked account (consecutive failures past `lockout_after`) gets no clock but
/// the one way out: an administrator.
#[tokio::test]
async fn a_locked_account_is_told_to_contact_an_administrator() {
    if !browser_available() {
        return;
    }
    let app = TestApp::builder()
        .with_config(|c| {
            c.security.limits.second_factor_account.max_failures = 10;
            c.security.limits.second_factor_account.lockout_after = 2;
        })
        .spawn()
        .await;
    let email = "locked@example.com";
    let (admin, secret) = admin_and_mfa_user(&app, email).await;

    Journey::new("locked_out", &screenshots())
        .params(json!({
            "email": email, "password": steps::PASSWORD, "secret": secret, "failures": 2,
            "locked": true,
        }))
        .run(&app)
        .await;

    assert!(audit(&admin, "mfa_verify_success").await.is_empty(), "a locked account stays out");
}

/// Issue 22: the docs page got the pages' header set; its policy must still let Swagger UI
/// render (a blank page under a new policy would be a regression).
#[tokio::test]
async fn the_api_docs_render_in_chromium_under_their_policy() {
    let Some(app) = fresh_app().await else { return };
    Journey::new("api_docs", &screenshots()).run(&app).await;
}

/// Every spelling of "another host" the issue and the WHATWG parser know, and a few
/// same-origin targets that must survive.
const RETURN_TO_SPELLINGS: &[&str] = &[
    "https://evil.example/x",
    "HTTPS://EVIL.EXAMPLE/x",
    "//evil.example/x",
    "  //evil.example/x",
    "/\\evil.example/x",
    "\\/evil.example/x",
    "/.//evil.example/x",
    "/..//evil.example/x",
    "/x/..//evil.example/x",
    "/%2e//evil.example/x",
    "/%2F%2Fevil.example/x",
    "/%5Cevil",
    "/\t/evil.example/x",
    "/\n/evil.example/x",
    "javascript:alert(1)",
    " JavaScript:alert(1)",
    "http:/\\evil.example/x",
    "/x/../admin?tab=a b#top",
];

/// The open redirect of issue 22: the page resolved `return_to` with the URL parser and
/// then handed `//evil.example/x` (what `/.//evil.example/x` becomes) to `location.assign`.
#[tokio::test]
async fn no_return_to_spelling_takes_the_browser_off_the_site_signed_in_or_not() {
    let Some(app) = fresh_app().await else { return };
    app.setup_admin().await;
    let base = app.url("/");
    let base = base.trim_end_matches('/');
    // What the server's rule makes of each: the page's rule must agree, and the browser
    // must land exactly there.
    let cases: Vec<Value> = RETURN_TO_SPELLINGS
        .iter()
        .map(|raw| {
            let expected = slugbase_domain::ReturnTo::resolve(raw, base)
                .map_or_else(|_| "/".to_owned(), slugbase_domain::ReturnTo::into_string);
            json!({"raw": raw, "expected": expected})
        })
        .collect();
    assert!(cases.iter().any(|c| c["expected"] == "/admin?tab=a%20b#top"), "{cases:?}");

    Journey::new("open_redirect", &screenshots())
        .params(json!({"email": steps::ADMIN_EMAIL, "password": steps::PASSWORD, "cases": cases}))
        .run(&app)
        .await;
}

#[tokio::test]
async fn an_administrator_resets_a_users_mfa_after_confirming() {
    let Some(app) = fresh_app().await else { return };
    let email = "locked.out@example.com";
    let (admin, user_secret) = admin_and_mfa_user(&app, email).await;
    // The administrator has MFA on too: their own row must not offer the reset.
    let (admin_secret, _) = app.enable_mfa(&admin).await;
    // A wrong second-factor code at the user's sign-in: a refusal for the audit log's
    // outcome filter to find, and to say in words.
    let user = Api::new(&app.address);
    steps::login_pending(&user, email, steps::PASSWORD).await;
    steps::verify(&user, &app.wrong_code(&user_secret)).await.expect(StatusCode::UNAUTHORIZED);

    Journey::new("admin_reset", &screenshots())
        .params(json!({
            "email": steps::ADMIN_EMAIL,
            "password": steps::PASSWORD,
            "user_email": email,
            "secret": admin_secret,
        }))
        .run(&app)
        .await;

    // The user signs in with the password alone now.
    let user = app.login(email, steps::PASSWORD).await;
    let status = user.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], false, "{status}");
    let resets = audit(&admin, "mfa_reset_by_admin").await;
    assert_eq!(resets.len(), 1, "one reset (the cancelled dialog did nothing): {resets:?}");
    let created = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    assert!(created.to_string().contains("new.person@example.com"), "{created}");
}

/// Issue 24: passkeys in the pages, with Chromium's virtual authenticator. The service is
/// reached at `http://localhost:<port>` (its `public_base_url`): WebAuthn needs a domain.
#[tokio::test]
async fn a_user_adds_a_passkey_signs_in_with_it_and_turns_mfa_off_with_it() {
    if !browser_available() {
        return;
    }
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let public = origin.clone();
    let app = TestApp::builder()
        .with_config(move |c| {
            c.server.port = port;
            c.server.public_base_url = public;
        })
        .spawn()
        .await;
    let admin = app.setup_admin().await;
    let email = "pia.passkey@example.com";
    app.create_user(&admin, email, Some(steps::PASSWORD)).await;

    Journey::new("passkeys", &screenshots())
        .base_url(&origin)
        .params(json!({"email": email, "password": steps::PASSWORD}))
        .run(&app)
        .await;

    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    let pia = users
        .as_array()
        .and_then(|all| all.iter().find(|u| u["email"] == email))
        .cloned()
        .unwrap_or_else(|| panic!("{users}"));
    assert_eq!(pia["mfa_enabled"], false, "{pia}");
    let added = audit(&admin, "passkey_added").await;
    assert_eq!(added.len(), 2, "added, removed, added again: {added:?}");
    assert!(added.iter().all(|e| e["user_id"] == pia["id"]), "{added:?}");
    assert_eq!(audit(&admin, "passkey_renamed").await.len(), 1);
    let regenerated = audit(&admin, "mfa_backup_regenerate_success").await;
    assert_eq!(regenerated.len(), 1, "{regenerated:?}");
    assert_eq!(regenerated[0]["proof"], "passkey", "{regenerated:?}");
    let removed = audit(&admin, "passkey_removed").await;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["proof"], "passkey", "removed with the passkey itself: {removed:?}");
    assert!(audit(&admin, "passkey_remove_fail").await.is_empty());
    let verified = audit(&admin, "mfa_verify_success").await;
    assert_eq!(verified.len(), 1, "one second step, with the passkey: {verified:?}");
    assert_eq!(verified[0]["user_id"], pia["id"]);
    assert_eq!(verified[0]["proof"], "passkey", "{verified:?}");
    assert!(verified[0]["user_agent"].as_str().is_some_and(|a| a.contains("HeadlessChrome")));
    let disabled = audit(&admin, "mfa_disable_success").await;
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["user_id"], pia["id"]);
    assert_eq!(disabled[0]["proof"], "passkey", "{disabled:?}");
    assert!(audit(&admin, "mfa_verify_fail").await.is_empty());
    // One sign-in with the passkey alone: no password step before it.
    let logins = audit(&admin, "login_success").await;
    let by_passkey: Vec<_> =
        logins.iter().filter(|e| e["user_id"] == pia["id"] && e["proof"] == "passkey").collect();
    assert_eq!(by_passkey.len(), 2, "the second step and the passkey alone: {logins:?}");
    assert!(audit(&admin, "login_fail").await.is_empty());
    // Turning MFA off took the passkeys with it.
    let pia_api = app.login(email, steps::PASSWORD).await;
    let left = pia_api.get("/api/auth/passkeys").await.expect(StatusCode::OK);
    assert_eq!(left, json!([]), "{left}");
}

/// `security.require_mfa = "all"`: a user whose grace period is over signs in, is held on
/// the account page with only the two-factor card and a message saying why, enrols there
/// with a real code, and gets the rest of the page back without signing in again.
#[tokio::test]
async fn a_user_past_the_mfa_grace_period_enrols_on_the_account_page_and_gets_the_rest_back() {
    if !browser_available() {
        return;
    }
    let app = TestApp::builder()
        .with_config(|c| {
            c.security.require_mfa = Some(slugbase_server::config::RequireMfa::All);
            c.security.grace_days = 7;
        })
        .spawn()
        .await;
    let email = "held@example.com";
    let admin = app.setup_admin().await;
    let (admin_secret, _) = app.enable_mfa(&admin).await;
    app.create_user(&admin, email, Some(steps::PASSWORD)).await;
    // The first sign-in under the policy starts the grace period; a week later it is over.
    app.login(email, steps::PASSWORD).await;
    app.clock.advance(chrono::TimeDelta::days(7));

    Journey::new("mfa_policy", &screenshots())
        .params(json!({"email": email, "password": steps::PASSWORD}))
        .run(&app)
        .await;

    // What the browser did, as the service recorded it.
    let admin = app.login_with_mfa(steps::ADMIN_EMAIL, &admin_secret).await;
    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    let held = users
        .as_array()
        .and_then(|all| all.iter().find(|u| u["email"] == email))
        .cloned()
        .unwrap_or_else(|| panic!("{users}"));
    assert_eq!(held["mfa_enabled"], true, "{held}");
    assert_eq!(held["mfa_policy_status"], "enrolled", "{held}");
    let confirmed = audit(&admin, "mfa_enroll_confirm_success").await;
    assert!(confirmed.iter().any(|e| e["user_id"] == held["id"]), "{confirmed:?}");
}

/// On 127.0.0.1 (no domain, so no WebAuthn) and for an account without a passkey, the pages
/// say so and the code keeps working.
#[tokio::test]
async fn without_a_domain_the_pages_say_passkeys_are_unavailable_and_codes_still_work() {
    let Some(app) = fresh_app().await else { return };
    let email = "ip.only@example.com";
    let (admin, secret) = admin_and_mfa_user(&app, email).await;

    Journey::new("passkeys_unavailable", &screenshots())
        .params(json!({"email": email, "password": steps::PASSWORD, "secret": secret}))
        .run(&app)
        .await;

    let verified = audit(&admin, "mfa_verify_success").await;
    assert_eq!(verified.len(), 1, "{verified:?}");
    assert_eq!(verified[0]["proof"], "totp");
    assert!(
        audit(&admin, "mfa_verify_fail").await.is_empty(),
        "asking for a challenge is no attempt"
    );
    assert!(audit(&admin, "passkey_added").await.is_empty());
}

/// Issue 25: the account and admin pages at 1280 px and 360 px, in light and dark mode:
/// every action inside the window (tables become cards on a phone), no table clipped, a
/// focus ring of 3:1 or more, and a visible status banner for each action.
#[tokio::test]
async fn the_pages_fit_a_phone_and_a_desktop_in_light_and_dark_and_confirm_every_action() {
    let Some(app) = fresh_app().await else { return };
    let email = "card.holder@example.com";
    let (admin, _) = admin_and_mfa_user(&app, email).await;
    let (admin_secret, _) = app.enable_mfa(&admin).await;
    // Something in every table: other sessions to sign out, a token to revoke.
    steps::create_token(&admin, "nightly backup").await;
    for _ in 0..2 {
        app.login_with_mfa(steps::ADMIN_EMAIL, &admin_secret).await;
    }

    Journey::new("looks", &screenshots())
        .params(json!({
            "email": steps::ADMIN_EMAIL,
            "password": steps::PASSWORD,
            "secret": admin_secret,
            "user_email": email,
        }))
        .run(&app)
        .await;

    // What the browser did, as the service recorded it (the journey signed out every other
    // session, this test's own among them).
    let admin = app.login_with_mfa(steps::ADMIN_EMAIL, &admin_secret).await;
    assert_eq!(audit(&admin, "mfa_reset_by_admin").await.len(), 1);
    assert_eq!(audit(&admin, "api_token_revoked").await.len(), 1);
    let tokens = admin.get("/api/tokens").await.expect(StatusCode::OK);
    assert_eq!(tokens.as_array().map(Vec::len), Some(1), "nightly backup is left: {tokens}");
    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    assert!(!users.to_string().contains("added.here@example.com"), "added, then deleted: {users}");
    let sessions = admin.get("/api/auth/sessions").await.expect(StatusCode::OK);
    assert_eq!(
        sessions.as_array().map(Vec::len),
        Some(2),
        "this test's and the browser's: {sessions}"
    );
}
