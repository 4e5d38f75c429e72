//! The whole life of an account over HTTP only, and the session rules around it.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    ADMIN_EMAIL, AppOptions, PASSWORD, browser, csrf_token, error, json, plain, spawn_app,
    spawn_app_with,
};

/// The `Set-Cookie` headers of a response.
fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (n, v) = first.split_once('=')?;
        (n.trim() == name && !v.is_empty()).then(|| v.to_owned())
    })
}

/// setup → login → CSRF token → API token → enroll begin → confirm → logout → login →
/// `mfa_required` → verify → disable → login without MFA.
#[tokio::test]
async fn the_full_lifecycle_over_http() {
    let app = spawn_app().await;
    let status =
        json(plain().get(app.url("/api/auth/setup/status")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(status, json!({"initialized": false}));

    // Setup (signs in), and it works once only.
    let browser = browser();
    let res = browser
        .post(app.url("/api/auth/setup"))
        .json(&json!({"email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let admin = json(res, StatusCode::OK).await;
    assert_eq!(admin["is_admin"], true);
    assert_eq!(admin["has_password"], true);
    let res = plain()
        .post(app.url("/api/auth/setup"))
        .json(&json!({"email": "x@example.com", "name": "X", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::FORBIDDEN, "ALREADY_INITIALIZED").await;
    let status =
        json(plain().get(app.url("/api/auth/setup/status")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(status, json!({"initialized": true}));

    // Login: the session cookie's attributes.
    let res = browser
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&res);
    let sid_cookie = cookies.iter().find(|c| c.starts_with("slugbase.sid=")).unwrap().clone();
    for attr in ["HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(sid_cookie.contains(attr), "{sid_cookie}");
    }
    assert!(!sid_cookie.contains("Secure"), "plain http base URL: {sid_cookie}");
    let first_sid = cookie_value(&cookies, "slugbase.sid").unwrap();
    let me = json(res, StatusCode::OK).await;
    assert_eq!(me["email"], ADMIN_EMAIL);

    // CSRF token: in the body and the `_csrf` cookie.
    let res = browser.get(app.url("/api/csrf-token")).send().await.unwrap();
    let csrf_cookie = set_cookies(&res).into_iter().find(|c| c.starts_with("_csrf=")).unwrap();
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"),
        "{csrf_cookie}"
    );
    let csrf = json(res, StatusCode::OK).await["csrfToken"].as_str().unwrap().to_owned();

    // API token.
    let res = browser
        .post(app.url("/api/tokens"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    let token = json(res, StatusCode::CREATED).await;
    let token = token["token"].as_str().unwrap().to_owned();
    let listed =
        json(browser.get(app.url("/api/tokens")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&token), "the list never shows the secret");

    // Enroll begin: secret, otpauth URL, QR code as a PNG data URL.
    let res = browser
        .post(app.url("/api/auth/mfa/enroll/begin"))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    let begin = json(res, StatusCode::OK).await;
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
        .post(app.url("/api/auth/mfa/enroll/confirm"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"code": app.fresh_code(&secret)}))
        .send()
        .await
        .unwrap();
    let codes = json(res, StatusCode::OK).await;
    let codes = codes["backup_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 16));
    let status =
        json(browser.get(app.url("/api/auth/mfa/status")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(status["enabled"], true);
    assert_eq!(status["backup_codes_remaining"], 10);

    // Logout: revoked on the server, both cookies cleared.
    let res = browser.post(app.url("/api/auth/logout")).send().await.unwrap();
    let cleared = set_cookies(&res);
    assert!(
        cleared.iter().any(|c| c.starts_with("slugbase.sid=") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(
        cleared.iter().any(|c| c.starts_with("slugbase.mfa_pending=") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_eq!(json(res, StatusCode::OK).await, json!({"message": "Logged out"}));
    error(
        browser.get(app.url("/api/auth/me")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    )
    .await;
    // The old cookie value, replayed by hand, is dead too.
    let res = plain()
        .get(app.url("/api/auth/me"))
        .header("Cookie", format!("slugbase.sid={first_sid}"))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
    // The API token lives on.
    json(
        plain().get(app.url("/api/auth/me")).bearer_auth(&token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;

    // Login again: MFA required, a pending cookie and no session.
    let res = browser
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&res);
    let pending_cookie = cookies.iter().find(|c| c.starts_with("slugbase.mfa_pending=")).unwrap();
    assert!(
        pending_cookie.contains("Max-Age=300") && pending_cookie.contains("HttpOnly"),
        "{pending_cookie}"
    );
    let pending = cookie_value(&cookies, "slugbase.mfa_pending").unwrap();
    assert!(cookie_value(&cookies, "slugbase.sid").is_none());
    assert_eq!(json(res, StatusCode::OK).await, json!({"mfa_required": true}));
    // The pending cookie authenticates nothing but verify.
    let res = plain()
        .get(app.url("/api/auth/me"))
        .header("Cookie", format!("slugbase.mfa_pending={pending}; slugbase.sid={pending}"))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;

    // Without the pending cookie, verify is 401 before the body is looked at.
    let res = plain()
        .post(app.url("/api/auth/mfa/verify"))
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED, "MFA_PENDING_INVALID").await;

    // Verify: a wrong code, then the right one; a fresh session id.
    let res = browser
        .post(app.url("/api/auth/mfa/verify"))
        .json(&json!({"code": app.wrong_code(&secret)}))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::BAD_REQUEST, "INVALID_CODE").await;
    let res = browser
        .post(app.url("/api/auth/mfa/verify"))
        .json(&json!({"code": app.fresh_code(&secret)}))
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&res);
    let new_sid = cookie_value(&cookies, "slugbase.sid").unwrap();
    assert_ne!(new_sid, first_sid);
    assert!(
        cookies.iter().any(|c| c.starts_with("slugbase.mfa_pending=") && c.contains("Max-Age=0"))
    );
    json(res, StatusCode::OK).await;
    // The pending state was single-use.
    let res = plain()
        .post(app.url("/api/auth/mfa/verify"))
        .header("Cookie", format!("slugbase.mfa_pending={pending}"))
        .json(&json!({"code": app.fresh_code(&secret)}))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED, "MFA_PENDING_INVALID").await;

    // Disable (the CSRF token of the old session is no good for the new one).
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    let res = browser
        .post(app.url("/api/auth/mfa/disable"))
        .header("X-CSRF-Token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    error(res, StatusCode::FORBIDDEN, "CSRF_INVALID").await;
    let csrf = csrf_token(&browser, &app.address).await;
    let res = browser
        .post(app.url("/api/auth/mfa/disable"))
        .header("X-CSRF-Token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));

    // Login without MFA.
    let fresh = crate::helpers::browser();
    let res = fresh
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let me = json(res, StatusCode::OK).await;
    assert_eq!(me["mfa_enabled"], false);
    assert_eq!(
        json(fresh.get(app.url("/api/auth/me")).send().await.unwrap(), StatusCode::OK).await["email"],
        ADMIN_EMAIL
    );

    // The audit log recorded the disable, with the proof kind and no secret.
    let log = json(
        fresh.get(app.url("/api/admin/audit-log?event=mfa_disable_success")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["proof"], "totp");
    assert_eq!(events[0]["client_addr"], "127.0.0.1");
    assert!(!log.to_string().contains(&secret));
}

#[tokio::test]
async fn wrong_credentials_are_always_401_invalid_credentials() {
    let app = spawn_app().await;
    app.setup_admin().await;
    for (email, password) in [(ADMIN_EMAIL, "wrong password"), ("nobody@example.com", PASSWORD)] {
        let res = plain()
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        error(res, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    }
}

#[tokio::test]
async fn a_revoked_api_token_fails_on_the_very_next_request() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let bearer = app.api_token(&admin).await;
    json(bearer.get("/api/auth/me").await, StatusCode::OK).await;
    let listed = json(admin.get("/api/tokens").await, StatusCode::OK).await;
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        json(admin.delete(&format!("/api/tokens/{id}")).await, StatusCode::OK).await,
        json!({"ok": true})
    );
    error(bearer.get("/api/auth/me").await, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
    error(
        admin.delete(&format!("/api/tokens/{id}")).await,
        StatusCode::NOT_FOUND,
        "TOKEN_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn an_expired_session_fails_on_the_very_next_request() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    json(admin.get("/api/auth/me").await, StatusCode::OK).await;
    let idle = i64::from(slugbase_application::AuthSettings::default().session_idle_secs);
    app.clock.advance(chrono::TimeDelta::seconds(idle + 1));
    error(admin.get("/api/auth/me").await, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn admin_endpoints_refuse_non_admins_and_manage_users() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let user = app.create_user(&admin, "user@example.com", Some(PASSWORD)).await;
    let res = admin
        .post(
            "/api/admin/users",
            &json!({"email": "USER@example.com", "name": "Dup", "password": PASSWORD}),
        )
        .await;
    error(res, StatusCode::CONFLICT, "EMAIL_EXISTS").await;
    let users = json(admin.get("/api/admin/users").await, StatusCode::OK).await;
    assert_eq!(users.as_array().unwrap().len(), 2);

    let session = app.login("user@example.com", PASSWORD).await;
    error(session.get("/api/admin/users").await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    error(session.get("/api/admin/audit-log").await, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    // Admin MFA reset for a locked-out user, then delete.
    let (_secret, _) = app.enable_mfa(&session).await;
    let id = user["id"].as_str().unwrap();
    json(admin.post(&format!("/api/admin/users/{id}/mfa/reset"), &json!({})).await, StatusCode::OK)
        .await;
    let relog = app.login("user@example.com", PASSWORD).await;
    assert_eq!(json(relog.get("/api/auth/me").await, StatusCode::OK).await["mfa_enabled"], false);
    json(admin.delete(&format!("/api/admin/users/{id}")).await, StatusCode::OK).await;
    error(relog.get("/api/auth/me").await, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
    error(
        admin.delete(&format!("/api/admin/users/{id}")).await,
        StatusCode::NOT_FOUND,
        "USER_NOT_FOUND",
    )
    .await;
}

/// `X-Forwarded-For` is believed only from a configured proxy, and then only its right-most
/// untrusted entry.
#[tokio::test]
async fn client_addresses_come_from_trusted_proxies_only() {
    for (trusted, expected) in
        [(vec![], "127.0.0.1"), (vec!["127.0.0.1".parse().unwrap()], "203.0.113.9")]
    {
        let app =
            spawn_app_with(AppOptions { trusted_proxies: trusted, ..AppOptions::default() }).await;
        let admin = app.setup_admin().await;
        let res = plain()
            .post(app.url("/api/auth/login"))
            .header("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
            .json(&json!({"email": ADMIN_EMAIL, "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        error(res, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
        let log =
            json(admin.get("/api/admin/audit-log?event=login_fail").await, StatusCode::OK).await;
        assert_eq!(log["events"][0]["client_addr"], expected, "{log}");
    }
}

#[tokio::test]
async fn health_version_and_providers_answer_without_authentication() {
    let app = spawn_app().await;
    assert_eq!(
        json(plain().get(app.url("/api/health")).send().await.unwrap(), StatusCode::OK).await,
        json!({"status": "ok"})
    );
    let version =
        json(plain().get(app.url("/api/version")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(version["commit"], "test");
    assert!(version["version"].is_string());
    assert_eq!(
        json(plain().get(app.url("/api/auth/providers")).send().await.unwrap(), StatusCode::OK)
            .await,
        json!([])
    );
}

#[tokio::test]
async fn logging_in_again_revokes_the_session_the_browser_held_before() {
    let app = spawn_app().await;
    let res = plain()
        .post(app.url("/api/auth/setup"))
        .json(&json!({"email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let first = cookie_value(&set_cookies(&res), "slugbase.sid").unwrap();
    let me = |sid: String| {
        plain().get(app.url("/api/auth/me")).header("Cookie", format!("slugbase.sid={sid}")).send()
    };
    assert_eq!(me(first.clone()).await.unwrap().status(), StatusCode::OK);

    let res = plain()
        .post(app.url("/api/auth/login"))
        .header("Cookie", format!("slugbase.sid={first}"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let second = cookie_value(&set_cookies(&res), "slugbase.sid").unwrap();

    assert_ne!(first, second);
    error(me(first).await.unwrap(), StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
    assert_eq!(me(second).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_safe_offered_one_is_kept() {
    let app = spawn_app().await;
    let id_of = |res: &reqwest::Response| {
        res.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned())
    };

    // A fresh id on success and on an error.
    let ok = plain().get(app.url("/api/health")).send().await.unwrap();
    let missing = plain().get(app.url("/api/nope")).send().await.unwrap();
    let (a, b) = (id_of(&ok).unwrap(), id_of(&missing).unwrap());
    assert_eq!(a.len(), 36, "{a}");
    assert_ne!(a, b);

    // A proxy's id threads through; one that could forge log text is replaced.
    let kept = plain()
        .get(app.url("/api/health"))
        .header("X-Request-Id", "lb-7f3a.42_x")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&kept).as_deref(), Some("lb-7f3a.42_x"));
    let replaced = plain()
        .get(app.url("/api/health"))
        .header("X-Request-Id", "evil id\" level=error")
        .send()
        .await
        .unwrap();
    let replaced = id_of(&replaced).unwrap();
    assert!(!replaced.contains("evil"), "{replaced}");
    assert_eq!(replaced.len(), 36);
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_base_url_is_https() {
    let options = AppOptions {
        public_base_url: Some("https://auth.example.com".to_owned()),
        ..AppOptions::default()
    };
    let app = spawn_app_with(options).await;
    let res = plain()
        .post(app.url("/api/auth/setup"))
        .json(&json!({"email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&res);
    let sid = cookies.iter().find(|c| c.starts_with("slugbase.sid=")).unwrap();
    assert!(
        sid.contains("Secure") && sid.contains("HttpOnly") && sid.contains("SameSite=Lax"),
        "{sid}"
    );
    let res = plain().get(app.url("/api/csrf-token")).send().await.unwrap();
    let csrf = set_cookies(&res).into_iter().find(|c| c.starts_with("_csrf=")).unwrap();
    assert!(csrf.contains("Secure") && csrf.contains("SameSite=Strict"), "{csrf}");
}
