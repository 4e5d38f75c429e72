//! Issue 22, item 5: no administrative path strips a factor without proof, and no account
//! is created that nobody could ever sign in to — over HTTP on SQLite, PostgreSQL and
//! MariaDB.

#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_infrastructure::testing::{mysql_url, postgres_url};
use slugbase_testkit::oidc::with_unreachable_provider;
use slugbase_testkit::{Api, Backend, TestApp, TestAppBuilder, detail_fields, steps};

async fn events(admin: &Api, kind: &str) -> Vec<Value> {
    let body =
        admin.get(&format!("/api/admin/audit-log?event={kind}")).await.expect(StatusCode::OK);
    body["events"].as_array().cloned().unwrap_or_else(|| panic!("{body}"))
}

/// An administrator with MFA on asks to reset their own: refused (403, its own reason,
/// pointing at the disable operation), audited as a failure, nothing changed — by session
/// and by API token. Another administrator still can (the locked-out path).
async fn self_reset_is_refused(app: &TestApp) {
    let admin = app.setup_admin().await;
    let (_secret, _codes) = app.enable_mfa(&admin).await;
    let me = admin.get("/api/auth/me").await.expect(StatusCode::OK);
    let my_id = me["id"].as_str().unwrap().to_owned();
    let token = app.api_token(&admin).await;

    for caller in [&admin, &token] {
        let res = caller.post(&format!("/api/admin/users/{my_id}/mfa/reset"), json!({})).await;
        let body = res.expect_error(StatusCode::FORBIDDEN, "ADMIN_SELF_RESET_FORBIDDEN");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("/api/auth/mfa/disable"), "{body}");
    }
    // Still on, and the session that asked still works.
    let status = admin.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], true, "{status}");
    let refused = events(&admin, "mfa_reset_by_admin_fail").await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    for event in &refused {
        assert_eq!(event["outcome"], "failure", "{event}");
        assert_eq!(event["reason"], "ADMIN_SELF_RESET_FORBIDDEN", "{event}");
        assert_eq!(event["user_id"], my_id.as_str(), "{event}");
        assert_eq!(event["actor_id"], my_id.as_str(), "{event}");
    }
    assert!(events(&admin, "mfa_reset_by_admin").await.is_empty());
    // The admin signs in with the second factor still.
    let again = app.client();
    let answer = again
        .post("/api/auth/login", json!({"email": steps::ADMIN_EMAIL, "password": steps::PASSWORD}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(answer["mfa_required"], true, "{answer}");

    // A second administrator resets the first one's MFA: allowed, as for any user.
    let other = "second.admin@example.com";
    let res = admin
        .post(
            "/api/admin/users",
            json!({"email": other, "name": "Second", "password": steps::PASSWORD, "is_admin": true}),
        )
        .await;
    res.expect(StatusCode::CREATED);
    let second = app.login(other, steps::PASSWORD).await;
    second
        .post(&format!("/api/admin/users/{my_id}/mfa/reset"), json!({}))
        .await
        .expect(StatusCode::OK);
}

/// Without a provider an OIDC-only user is refused (400, its own reason, on `password`)
/// and nothing is stored; with a password the same user is created.
async fn oidc_only_needs_a_provider(app: &TestApp) {
    let admin = app.setup_admin().await;
    let res =
        admin.post("/api/admin/users", json!({"email": "svc@example.com", "name": "Svc"})).await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "OIDC_NOT_CONFIGURED");
    assert_eq!(detail_fields(&body), ["password"], "{body}");
    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    assert!(!users.to_string().contains("svc@example.com"), "{users}");
    assert!(events(&admin, "user_created").await.is_empty());
    let res = admin
        .post(
            "/api/admin/users",
            json!({"email": "svc@example.com", "name": "Svc", "password": steps::PASSWORD}),
        )
        .await;
    res.expect(StatusCode::CREATED);
}

async fn scenario(builder: impl Fn() -> TestAppBuilder) {
    self_reset_is_refused(&builder().spawn().await).await;
    oidc_only_needs_a_provider(&builder().spawn().await).await;
    // With a provider configured (whether or not it answers), OIDC-only users are fine.
    let app = with_unreachable_provider(builder()).spawn().await;
    let admin = app.setup_admin().await;
    let res =
        admin.post("/api/admin/users", json!({"email": "svc@example.com", "name": "Svc"})).await;
    assert_eq!(res.expect(StatusCode::CREATED)["has_password"], false);
}

#[tokio::test]
async fn no_admin_strips_their_own_factor_or_creates_an_unreachable_account_on_sqlite() {
    scenario(TestApp::builder).await;
}

#[tokio::test]
async fn no_admin_strips_their_own_factor_or_creates_an_unreachable_account_on_postgres() {
    let Some(url) = postgres_url().await else { return };
    // Each app its own database: three in a row.
    let mut urls = vec![url];
    for _ in 0..2 {
        urls.push(postgres_url().await.expect("a second database"));
    }
    let urls = std::sync::Mutex::new(urls);
    scenario(|| TestApp::builder().backend(Backend::Url(urls.lock().unwrap().pop().unwrap())))
        .await;
}

#[tokio::test]
async fn no_admin_strips_their_own_factor_or_creates_an_unreachable_account_on_mariadb() {
    let Some(url) = mysql_url().await else { return };
    let mut urls = vec![url];
    for _ in 0..2 {
        urls.push(mysql_url().await.expect("a second database"));
    }
    let urls = std::sync::Mutex::new(urls);
    scenario(|| TestApp::builder().backend(Backend::Url(urls.lock().unwrap().pop().unwrap())))
        .await;
}
