//! `POST /api/auth/password` and the session endpoints over HTTP: success and every error.

use reqwest::{Method, StatusCode};
use serde_json::json;
use slugbase_testkit::steps::{self, PASSWORD};
use slugbase_testkit::{Api, TestApp, detail_fields};

const PASSWORD_PATH: &str = "/api/auth/password";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// An app with an admin and a local user signed in twice (two browsers).
async fn app_with_two_sessions() -> (TestApp, Api, Api) {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "user@example.com", Some(PASSWORD)).await;
    let first = app.login("user@example.com", PASSWORD).await;
    let second = app.login("user@example.com", PASSWORD).await;
    (app, first, second)
}

fn change(current: &str, new: &str) -> serde_json::Value {
    json!({"current_password": current, "new_password": new})
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_the_new_password_works() {
    let (app, first, second) = app_with_two_sessions().await;

    first.post(PASSWORD_PATH, change(PASSWORD, NEW_PASSWORD)).await.expect(StatusCode::OK);

    first.get("/api/auth/me").await.expect(StatusCode::OK);
    second.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    app.client()
        .post("/api/auth/login", json!({"email": "user@example.com", "password": PASSWORD}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    app.login("user@example.com", NEW_PASSWORD).await;
    let admin = app.login(steps::ADMIN_EMAIL, PASSWORD).await;
    let events = admin.get("/api/admin/audit-log?event=password_changed").await;
    let events = events.expect(StatusCode::OK);
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
}

#[tokio::test]
async fn every_refusal_of_a_password_change_has_its_status_and_reason() {
    let (app, first, _) = app_with_two_sessions().await;

    // 401 without credentials; 403 with a cookie but no CSRF token.
    app.client()
        .post(PASSWORD_PATH, change(PASSWORD, NEW_PASSWORD))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let mut no_csrf_api = first.clone();
    no_csrf_api.csrf = None;
    no_csrf_api
        .post(PASSWORD_PATH, change(PASSWORD, NEW_PASSWORD))
        .await
        .expect_error(StatusCode::FORBIDDEN, "CSRF_INVALID");

    // 400 VALIDATION_FAILED: missing / wrong-typed fields, then each rule on the new one.
    let body = first
        .post(PASSWORD_PATH, json!({"current_password": 5}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["current_password", "new_password"], "{body}");
    for new in ["short", &"x".repeat(129), "password123", "Qwerty123", PASSWORD] {
        let body = first
            .post(PASSWORD_PATH, change(PASSWORD, new))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(detail_fields(&body), ["new_password"], "{new}: {body}");
    }
    // 415 for another content type.
    let raw = first.request(Method::POST, PASSWORD_PATH).header("content-type", "text/plain");
    let reply = Api::exchange(raw.body("x")).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{:?}", reply.body);

    // 401 INVALID_PASSWORD for a wrong current password; the password did not change.
    first
        .post(PASSWORD_PATH, change("not the password", NEW_PASSWORD))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSWORD");
    app.login("user@example.com", PASSWORD).await;
}

#[tokio::test]
async fn wrong_current_passwords_count_towards_logins_limit() {
    let app = TestApp::builder()
        .with_config(|c| c.security.limits.password_account.max_failures = 2)
        .spawn()
        .await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "user@example.com", Some(PASSWORD)).await;
    let user = app.login("user@example.com", PASSWORD).await;
    for _ in 0..2 {
        user.post(PASSWORD_PATH, change("wrong guess", NEW_PASSWORD))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSWORD");
    }
    let reply = user.post(PASSWORD_PATH, change(PASSWORD, NEW_PASSWORD)).await;
    assert!(reply.retry_after().is_some());
    reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    // Login shares the counter (password failures per account).
    app.client()
        .post("/api/auth/login", json!({"email": "user@example.com", "password": PASSWORD}))
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn an_oidc_only_user_has_no_password_to_change() {
    let app = slugbase_testkit::oidc::with_unreachable_provider(TestApp::builder()).spawn().await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "oidc@example.com", None).await;
    // The OIDC-only user has no way to sign in over HTTP yet: an operator token for them.
    let user = app.bearer(&cli_token(&app, "oidc@example.com").await);
    user.post(PASSWORD_PATH, change("anything at all", NEW_PASSWORD))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "PASSWORD_NOT_SET");
}

/// A token for `email`'s user through the use cases (what `slugbase token create` runs).
async fn cli_token(app: &TestApp, email: &str) -> String {
    let email = slugbase_domain::Email::parse(email).unwrap();
    let user = app.operator.admin.find_by_email(&email).await.unwrap().unwrap();
    let caller = slugbase_application::Caller {
        mfa_standing: app.use_cases.mfa_status.standing(&user),
        user,
        auth: slugbase_application::CallerAuth::ApiToken(slugbase_domain::ApiTokenId::generate()),
        backup_codes_remaining: 0,
    };
    let client = slugbase_application::ClientInfo::default();
    let created = app.use_cases.api_tokens.create(&caller, &client, Ok("t".into())).await.unwrap();
    created.token.expose().to_owned()
}

#[tokio::test]
async fn sessions_are_listed_ended_one_by_one_and_all_but_the_current() {
    let (app, first, second) = app_with_two_sessions().await;
    let third = app.login("user@example.com", PASSWORD).await;

    let listed = first.get("/api/auth/sessions").await.expect(StatusCode::OK);
    let sessions = listed.as_array().unwrap();
    assert_eq!(sessions.len(), 3, "{listed}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1, "{listed}");
    for s in sessions {
        assert_eq!(s["ip"], "127.0.0.1", "{s}");
        assert!(s["created_at"].is_string() && s["last_seen_at"].is_string(), "{s}");
        assert_eq!(s["id"].as_str().unwrap().len(), 32, "{s}");
    }
    // The handles are not the cookie values.
    let cookies = format!("{:?}", second.get("/api/auth/me").await.set_cookies);
    for s in sessions {
        assert!(!cookies.contains(s["id"].as_str().unwrap()));
    }

    // Ending the second browser's session: it is signed out at once.
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap();
    first.delete(&format!("/api/auth/sessions/{other}")).await.expect(StatusCode::OK);
    let alive_after_one = count_alive(&[&second, &third]).await;
    assert_eq!(alive_after_one, 1);
    // The same handle again, a made-up one: 404.
    first
        .delete(&format!("/api/auth/sessions/{other}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "SESSION_NOT_FOUND");
    first
        .delete("/api/auth/sessions/not-a-handle")
        .await
        .expect_error(StatusCode::NOT_FOUND, "SESSION_NOT_FOUND");

    // All but the current one.
    let body =
        first.post("/api/auth/sessions/revoke-others", json!({})).await.expect(StatusCode::OK);
    assert_eq!(body, json!({"revoked": 1}));
    assert_eq!(count_alive(&[&second, &third]).await, 0);
    first.get("/api/auth/me").await.expect(StatusCode::OK);
    let listed = first.get("/api/auth/sessions").await.expect(StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

async fn count_alive(apis: &[&Api]) -> usize {
    let mut alive = 0;
    for api in apis {
        if api.get("/api/auth/me").await.status == StatusCode::OK {
            alive += 1;
        }
    }
    alive
}

#[tokio::test]
async fn another_users_session_cannot_be_ended_and_every_refusal_has_its_reason() {
    let (app, first, _) = app_with_two_sessions().await;
    let admin = app.login(steps::ADMIN_EMAIL, PASSWORD).await;
    let theirs = admin.get("/api/auth/sessions").await.expect(StatusCode::OK);
    let theirs = theirs[0]["id"].as_str().unwrap().to_owned();

    first
        .delete(&format!("/api/auth/sessions/{theirs}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "SESSION_NOT_FOUND");
    admin.get("/api/auth/me").await.expect(StatusCode::OK);

    let anonymous = app.client();
    anonymous
        .get("/api/auth/sessions")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    anonymous
        .delete(&format!("/api/auth/sessions/{theirs}"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    anonymous
        .post("/api/auth/sessions/revoke-others", json!({}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let mut no_csrf = first.clone();
    no_csrf.csrf = None;
    no_csrf
        .post("/api/auth/sessions/revoke-others", json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "CSRF_INVALID");
    no_csrf
        .delete(&format!("/api/auth/sessions/{theirs}"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "CSRF_INVALID");

    // With an API token: every session is listed as not current, and revoke-others ends them
    // all (no CSRF needed).
    let mut browser = first.clone();
    let token = app.bearer(&browser.make_token("script").await);
    let listed = token.get("/api/auth/sessions").await.expect(StatusCode::OK);
    assert!(listed.as_array().unwrap().iter().all(|s| s["current"] == false), "{listed}");
    let body =
        token.post("/api/auth/sessions/revoke-others", json!({})).await.expect(StatusCode::OK);
    assert_eq!(body, json!({"revoked": 2}));
    first.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}
