//! The whole life of an account over HTTP only, and the session rules around it.

use reqwest::{Method, StatusCode};
use serde_json::json;
use slugbase_testkit::steps::{ADMIN_EMAIL, PASSWORD};
use slugbase_testkit::{Api, Reply, TestApp};

/// The `Set-Cookie` headers of a response, attributes and all.
fn set_cookies(reply: &Reply) -> Vec<String> {
    reply.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// The non-empty value a response sets for cookie `name`.
fn cookie_value(reply: &Reply, name: &str) -> Option<String> {
    reply.set_cookies.iter().find(|(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.clone())
}

/// The first administrator's setup, sent by `api`.
async fn first_setup(api: &Api) -> Reply {
    api.post(
        "/api/auth/setup",
        json!({"email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD}),
    )
    .await
}

/// `method path` with nothing but `cookie` as the `Cookie` header.
async fn with_cookie(app: &TestApp, method: Method, path: &str, cookie: &str) -> Reply {
    Api::exchange(app.client().request(method, path).header("Cookie", cookie)).await
}

/// setup → login → CSRF token → API token → enroll begin → confirm → logout → login →
/// `mfa_required` → verify → disable → login without MFA.
#[tokio::test]
async fn the_full_lifecycle_over_http() {
    let app = TestApp::spawn().await;
    let status = app.client().get("/api/auth/setup/status").await.expect(StatusCode::OK);
    assert_eq!(status, json!({"initialized": false}));

    // Setup (signs in), and it works once only.
    let mut browser = app.client();
    let res = first_setup(&browser).await;
    let admin = res.expect(StatusCode::OK);
    assert_eq!(admin["is_admin"], true);
    assert_eq!(admin["has_password"], true);
    let res = app
        .client()
        .post(
            "/api/auth/setup",
            json!({"email": "x@example.com", "name": "X", "password": PASSWORD}),
        )
        .await;
    res.expect_error(StatusCode::FORBIDDEN, "ALREADY_INITIALIZED");
    let status = app.client().get("/api/auth/setup/status").await.expect(StatusCode::OK);
    assert_eq!(status, json!({"initialized": true}));

    // Login: the session cookie's attributes.
    let res =
        browser.post("/api/auth/login", json!({"email": ADMIN_EMAIL, "password": PASSWORD})).await;
    let cookies = set_cookies(&res);
    let sid_cookie = cookies.iter().find(|c| c.starts_with("slugbase.sid=")).unwrap().clone();
    for attr in ["HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(sid_cookie.contains(attr), "{sid_cookie}");
    }
    assert!(!sid_cookie.contains("Secure"), "plain http base URL: {sid_cookie}");
    let first_sid = cookie_value(&res, "slugbase.sid").unwrap();
    let me = res.expect(StatusCode::OK);
    assert_eq!(me["email"], ADMIN_EMAIL);

    // CSRF token: in the body and the `_csrf` cookie.
    let res = browser.get("/api/csrf-token").await;
    let csrf_cookie = set_cookies(&res).into_iter().find(|c| c.starts_with("_csrf=")).unwrap();
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"),
        "{csrf_cookie}"
    );
    let csrf = res.expect(StatusCode::OK)["csrfToken"].as_str().unwrap().to_owned();
    browser.csrf = Some(csrf.clone());

    // API token.
    let token =
        browser.post("/api/tokens", json!({"name": "ci"})).await.expect(StatusCode::CREATED);
    let token = token["token"].as_str().unwrap().to_owned();
    let listed = browser.get("/api/tokens").await.expect(StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&token), "the list never shows the secret");

    // Enroll begin (no body at all): secret, otpauth URL, QR code as a PNG data URL.
    let res = Api::exchange(browser.request(Method::POST, "/api/auth/mfa/enroll/begin")).await;
    let begin = res.expect(StatusCode::OK);
    let secret = begin["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32);
    let url = begin["otpauth_url"].as_str().unwrap();
    assert!(
        url.starts_with("otpauth://totp/SlugBase:admin%40example.com?")
            || url.starts_with("otpauth://totp/SlugBase:admin@example.com?"),
        "{url}"
    );
    assert!(url.contains(&format!("secret={secret}")));
    let qr = begin["qr_png"].as_str().unwrap();
    let png = qr.strip_prefix("data:image/png;base64,").unwrap();
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD.decode(png).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // Confirm: ten backup codes.
    let res = browser
        .post("/api/auth/mfa/enroll/confirm", json!({"code": app.fresh_code(&secret)}))
        .await;
    let codes = res.expect(StatusCode::OK);
    let codes = codes["backup_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 16));
    let status = browser.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], true);
    assert_eq!(status["backup_codes_remaining"], 10);

    // Logout (no CSRF token, no body): revoked on the server, both cookies cleared.
    let res = Api::exchange(browser.http().post(app.url("/api/auth/logout"))).await;
    let cleared = set_cookies(&res);
    assert!(
        cleared.iter().any(|c| c.starts_with("slugbase.sid=") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(
        cleared.iter().any(|c| c.starts_with("slugbase.mfa_pending=") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_eq!(res.expect(StatusCode::OK), json!({"message": "Logged out"}));
    browser.csrf = None;
    browser.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // The old cookie value, replayed by hand, is dead too.
    let res =
        with_cookie(&app, Method::GET, "/api/auth/me", &format!("slugbase.sid={first_sid}")).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // The API token lives on.
    app.bearer(&token).get("/api/auth/me").await.expect(StatusCode::OK);

    // Login again: MFA required, a pending cookie and no session.
    let res =
        browser.post("/api/auth/login", json!({"email": ADMIN_EMAIL, "password": PASSWORD})).await;
    let cookies = set_cookies(&res);
    let pending_cookie = cookies.iter().find(|c| c.starts_with("slugbase.mfa_pending=")).unwrap();
    assert!(
        pending_cookie.contains("Max-Age=300") && pending_cookie.contains("HttpOnly"),
        "{pending_cookie}"
    );
    let pending = cookie_value(&res, "slugbase.mfa_pending").unwrap();
    assert!(cookie_value(&res, "slugbase.sid").is_none());
    assert_eq!(res.expect(StatusCode::OK), json!({"mfa_required": true}));
    // The pending cookie authenticates nothing but verify.
    let both = format!("slugbase.mfa_pending={pending}; slugbase.sid={pending}");
    let res = with_cookie(&app, Method::GET, "/api/auth/me", &both).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Without the pending cookie, verify is 401 before the body is looked at.
    let res = app.client().post_raw("/api/auth/mfa/verify", Some("text/plain"), "x").await;
    res.expect_error(StatusCode::UNAUTHORIZED, "MFA_PENDING_INVALID");

    // Verify: a wrong code, then the right one; a fresh session id.
    let res = browser.post("/api/auth/mfa/verify", json!({"code": app.wrong_code(&secret)})).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CODE");
    // A malformed code is no different at this step: 401 INVALID_CODE, not 400.
    let res = browser.post("/api/auth/mfa/verify", json!({"code": "12ab"})).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CODE");
    let res = browser.post("/api/auth/mfa/verify", json!({"code": app.fresh_code(&secret)})).await;
    let cookies = set_cookies(&res);
    let new_sid = cookie_value(&res, "slugbase.sid").unwrap();
    assert_ne!(new_sid, first_sid);
    assert!(
        cookies.iter().any(|c| c.starts_with("slugbase.mfa_pending=") && c.contains("Max-Age=0"))
    );
    res.expect(StatusCode::OK);
    // The pending state was single-use.
    let res = Api::exchange(
        app.client()
            .request(Method::POST, "/api/auth/mfa/verify")
            .header("Cookie", format!("slugbase.mfa_pending={pending}"))
            .json(&json!({"code": app.fresh_code(&secret)})),
    )
    .await;
    res.expect_error(StatusCode::UNAUTHORIZED, "MFA_PENDING_INVALID");

    // Disable (the CSRF token of the old session is no good for the new one).
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    browser.csrf = Some(csrf);
    let res = browser.post("/api/auth/mfa/disable", &body).await;
    res.expect_error(StatusCode::FORBIDDEN, "CSRF_INVALID");
    browser.refresh_csrf().await;
    let res = browser.post("/api/auth/mfa/disable", &body).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));

    // Login without MFA.
    let fresh = app.client();
    let res =
        fresh.post("/api/auth/login", json!({"email": ADMIN_EMAIL, "password": PASSWORD})).await;
    let me = res.expect(StatusCode::OK);
    assert_eq!(me["mfa_enabled"], false);
    assert_eq!(fresh.get("/api/auth/me").await.expect(StatusCode::OK)["email"], ADMIN_EMAIL);

    // The audit log recorded the disable, with the proof kind and no secret.
    let log =
        fresh.get("/api/admin/audit-log?event=mfa_disable_success").await.expect(StatusCode::OK);
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["proof"], "totp");
    assert_eq!(events[0]["client_addr"], "127.0.0.1");
    assert!(!log.to_string().contains(&secret));
}

#[tokio::test]
async fn wrong_credentials_are_always_401_invalid_credentials() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    for (email, password) in [(ADMIN_EMAIL, "wrong password"), ("nobody@example.com", PASSWORD)] {
        let res = app
            .client()
            .post("/api/auth/login", json!({"email": email, "password": password}))
            .await;
        res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    }
}

#[tokio::test]
async fn a_revoked_api_token_fails_on_the_very_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let bearer = app.api_token(&admin).await;
    bearer.get("/api/auth/me").await.expect(StatusCode::OK);
    let listed = admin.get("/api/tokens").await.expect(StatusCode::OK);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        admin.delete(&format!("/api/tokens/{id}")).await.expect(StatusCode::OK),
        json!({"ok": true})
    );
    bearer.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let res = admin.delete(&format!("/api/tokens/{id}")).await;
    res.expect_error(StatusCode::NOT_FOUND, "TOKEN_NOT_FOUND");
}

/// The throttled "last used" write is off the request's path: while another connection holds
/// SQLite's write lock (a long writer, a CLI command), a Bearer request whose write is due
/// still answers at once — it used to wait for the lock — and the token's last use is
/// recorded once the lock is free.
#[tokio::test]
async fn a_due_last_use_write_waits_off_the_request_and_lands_after_it() {
    let app = TestApp::builder()
        .with_config(|c| c.database.sqlite_busy_timeout_ms = 30_000)
        .spawn()
        .await;
    let admin = app.setup_admin().await;
    let bearer = app.api_token(&admin).await;
    let listed = admin.get("/api/tokens").await.expect(StatusCode::OK);
    assert!(listed[0]["last_used_at"].is_null(), "never used yet: {listed}");

    let holder = rusqlite::Connection::open(app.dir.path().join("slugbase.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        bearer.get("/api/auth/mfa/status"),
    )
    .await;
    let status = answered.expect("answered while another connection holds the write lock");
    status.expect(StatusCode::OK);
    holder.execute_batch("ROLLBACK").unwrap();

    for _ in 0..200 {
        let listed = admin.get("/api/tokens").await.expect(StatusCode::OK);
        if !listed[0]["last_used_at"].is_null() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the token's last use was never recorded");
}

#[tokio::test]
async fn an_expired_session_fails_on_the_very_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    admin.get("/api/auth/me").await.expect(StatusCode::OK);
    let idle = i64::from(slugbase_application::AuthSettings::default().session_idle_secs);
    app.clock.advance(chrono::TimeDelta::seconds(idle + 1));
    admin.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn admin_endpoints_refuse_non_admins_and_manage_users() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let user = app.create_user(&admin, "user@example.com", Some(PASSWORD)).await;
    let res = admin
        .post(
            "/api/admin/users",
            json!({"email": "USER@example.com", "name": "Dup", "password": PASSWORD}),
        )
        .await;
    res.expect_error(StatusCode::CONFLICT, "EMAIL_EXISTS");
    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    assert_eq!(users.as_array().unwrap().len(), 2);

    let session = app.login("user@example.com", PASSWORD).await;
    session.get("/api/admin/users").await.expect_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    session.get("/api/admin/audit-log").await.expect_error(StatusCode::FORBIDDEN, "FORBIDDEN");

    // Admin MFA reset for a locked-out user, then delete.
    let (_secret, _) = app.enable_mfa(&session).await;
    let id = user["id"].as_str().unwrap();
    admin.post(&format!("/api/admin/users/{id}/mfa/reset"), json!({})).await.expect(StatusCode::OK);
    let relog = app.login("user@example.com", PASSWORD).await;
    assert_eq!(relog.get("/api/auth/me").await.expect(StatusCode::OK)["mfa_enabled"], false);
    admin.delete(&format!("/api/admin/users/{id}")).await.expect(StatusCode::OK);
    relog.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let res = admin.delete(&format!("/api/admin/users/{id}")).await;
    res.expect_error(StatusCode::NOT_FOUND, "USER_NOT_FOUND");
}

/// `X-Forwarded-For` is believed only from a configured proxy, and then only its right-most
/// untrusted entry.
#[tokio::test]
async fn client_addresses_come_from_trusted_proxies_only() {
    for (trusted, expected) in [(None, "127.0.0.1"), (Some("127.0.0.1"), "203.0.113.9")] {
        let mut builder = TestApp::builder();
        if let Some(proxies) = trusted {
            let proxy = proxies.parse().expect("an address");
            builder = builder.with_config(move |c| c.server.trusted_proxies = vec![proxy]);
        }
        let app = builder.spawn().await;
        let admin = app.setup_admin().await;
        let res = Api::exchange(
            app.client()
                .request(Method::POST, "/api/auth/login")
                .header("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
                .json(&json!({"email": ADMIN_EMAIL, "password": "wrong password"})),
        )
        .await;
        res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
        let log = admin.get("/api/admin/audit-log?event=login_fail").await.expect(StatusCode::OK);
        assert_eq!(log["events"][0]["client_addr"], expected, "{log}");
    }
}

/// `/api/version` reports the service's own version and build commit (`SLUGBASE_COMMIT` at
/// build time, else `unknown`).
#[tokio::test]
async fn health_version_and_providers_answer_without_authentication() {
    let app = TestApp::spawn().await;
    let client = app.client();
    assert_eq!(client.get("/api/health").await.expect(StatusCode::OK), json!({"status": "ok"}));
    let version = client.get("/api/version").await.expect(StatusCode::OK);
    assert_eq!(version["commit"], slugbase_server::COMMIT);
    assert_eq!(version["version"], slugbase_server::VERSION);
    assert_eq!(client.get("/api/auth/providers").await.expect(StatusCode::OK), json!([]));
}

#[tokio::test]
async fn logging_in_again_revokes_the_session_the_browser_held_before() {
    let app = TestApp::spawn().await;
    let res = first_setup(&app.client()).await;
    let first = cookie_value(&res, "slugbase.sid").unwrap();
    let app = &app;
    let me = |sid: String| async move {
        with_cookie(app, Method::GET, "/api/auth/me", &format!("slugbase.sid={sid}")).await
    };
    assert_eq!(me(first.clone()).await.status, StatusCode::OK);

    let res = Api::exchange(
        app.client()
            .request(Method::POST, "/api/auth/login")
            .header("Cookie", format!("slugbase.sid={first}"))
            .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD})),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let second = cookie_value(&res, "slugbase.sid").unwrap();

    assert_ne!(first, second);
    me(first).await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(me(second).await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_safe_offered_one_is_kept() {
    let app = TestApp::spawn().await;
    let id_of = |res: &Reply| res.header("x-request-id").map(str::to_owned);
    let health_with_id = |id: &'static str| {
        Api::exchange(app.client().request(Method::GET, "/api/health").header("X-Request-Id", id))
    };

    // A fresh id on success and on an error.
    let ok = app.client().get("/api/health").await;
    let missing = app.client().get("/api/nope").await;
    let (a, b) = (id_of(&ok).unwrap(), id_of(&missing).unwrap());
    assert_eq!(a.len(), 36, "{a}");
    assert_ne!(a, b);

    // A proxy's id threads through; one that could forge log text is replaced.
    let kept = health_with_id("lb-7f3a.42_x").await;
    assert_eq!(id_of(&kept).as_deref(), Some("lb-7f3a.42_x"));
    let replaced = health_with_id("evil id\" level=error").await;
    let replaced = id_of(&replaced).unwrap();
    assert!(!replaced.contains("evil"), "{replaced}");
    assert_eq!(replaced.len(), 36);
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_base_url_is_https() {
    let app = TestApp::builder()
        .with_config(|c| c.server.public_base_url = "https://auth.example.com".to_owned())
        .spawn()
        .await;
    let res = first_setup(&app.client()).await;
    let cookies = set_cookies(&res);
    let sid = cookies.iter().find(|c| c.starts_with("slugbase.sid=")).unwrap();
    assert!(
        sid.contains("Secure") && sid.contains("HttpOnly") && sid.contains("SameSite=Lax"),
        "{sid}"
    );
    let res = app.client().get("/api/csrf-token").await;
    let csrf = set_cookies(&res).into_iter().find(|c| c.starts_with("_csrf=")).unwrap();
    assert!(csrf.contains("Secure") && csrf.contains("SameSite=Strict"), "{csrf}");
}
