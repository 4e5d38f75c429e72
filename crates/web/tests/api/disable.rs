//! Every row of the disable table, once with a cookie session (+ CSRF) and once with a
//! Bearer API token (no CSRF); the seed page's request as written; concurrency.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use slugbase_application::AuthSettings;
use slugbase_domain::MfaPolicy;

use crate::helpers::{
    AppOptions, Bearer, PASSWORD, Session, TestApp, detail_fields, error, json, plain, spawn_app,
    spawn_app_with,
};

const DISABLE: &str = "/api/auth/mfa/disable";

/// How the caller authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Cookie,
    Bearer,
}

/// A caller of either kind.
enum Caller {
    Cookie(Session),
    Bearer(Bearer, Session),
}

impl Caller {
    async fn new(app: &TestApp, session: Session, via: Via) -> Self {
        match via {
            Via::Cookie => Self::Cookie(session),
            Via::Bearer => Self::Bearer(app.api_token(&session).await, session),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Response {
        match self {
            Self::Cookie(s) => s.post(path, body).await,
            Self::Bearer(b, _) => b.post(path, body).await,
        }
    }

    async fn get(&self, path: &str) -> Response {
        match self {
            Self::Cookie(s) => s.get(path).await,
            Self::Bearer(b, _) => b.get(path).await,
        }
    }

    /// The browser session (to enroll and to make tokens).
    fn session(&self) -> &Session {
        match self {
            Self::Cookie(s) | Self::Bearer(_, s) => s,
        }
    }
}

/// An app with an admin and a local user "user@example.com" signed in via `via`.
async fn app_with_user(via: Via, options: AppOptions) -> (TestApp, Caller) {
    let app = spawn_app_with(options).await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "user@example.com", Some(PASSWORD)).await;
    let session = app.login("user@example.com", PASSWORD).await;
    let caller = Caller::new(&app, session, via).await;
    (app, caller)
}

async fn mfa_enabled(caller: &Caller) -> bool {
    let status = json(caller.get("/api/auth/mfa/status").await, StatusCode::OK).await;
    status["enabled"].as_bool().unwrap()
}

/// Rows 1, 4, 5, 6, 7, 8 and success, in order, on one user.
async fn rows_in_order(via: Via) {
    let (app, caller) = app_with_user(via, AppOptions::default()).await;

    // Row 1: no credentials at all, and credentials that are not valid.
    let res = plain().post(app.url(DISABLE)).json(&json!({"code": "123456"})).send().await.unwrap();
    let body = error(res, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
    assert_eq!(body["message"], "Authentication required. Please provide a valid API token");
    let res = plain()
        .post(app.url(DISABLE))
        .bearer_auth("sb_not-a-real-token")
        .json(&json!({"code": "123456"}))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
    let res = plain()
        .post(app.url(DISABLE))
        .header("Cookie", "slugbase.sid=not-a-session")
        .header("X-CSRF-Token", "x")
        .json(&json!({"code": "123456"}))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;

    // Row 4: the body is checked before anything about MFA.
    let body =
        error(caller.post(DISABLE, &json!({})).await, StatusCode::BAD_REQUEST, "VALIDATION_FAILED")
            .await;
    assert_eq!(detail_fields(&body), ["code"]);
    let res = caller.post(DISABLE, &json!({"code": 123_456, "password": PASSWORD})).await;
    let body = error(res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(detail_fields(&body), ["code"]);
    let res = caller.post(DISABLE, &json!({"code": "123456", "password": 5})).await;
    let body = error(res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(detail_fields(&body), ["password"]);

    // Row 5: MFA is not on.
    let res = caller.post(DISABLE, &json!({"code": "123456", "password": PASSWORD})).await;
    error(res, StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED").await;

    let (secret, _backup) = app.enable_mfa(caller.session()).await;
    assert!(mfa_enabled(&caller).await);

    // Row 6: a local user must send the password (absent, null or empty).
    for body in [
        json!({"code": app.fresh_code(&secret)}),
        json!({"code": app.fresh_code(&secret), "password": null}),
        json!({"code": app.fresh_code(&secret), "password": ""}),
    ] {
        let body =
            error(caller.post(DISABLE, &body).await, StatusCode::BAD_REQUEST, "PASSWORD_REQUIRED")
                .await;
        assert_eq!(detail_fields(&body), ["password"]);
    }

    // Row 7: wrong password, even with a valid code.
    let res = caller
        .post(DISABLE, &json!({"code": app.fresh_code(&secret), "password": "wrong password"}))
        .await;
    error(res, StatusCode::UNAUTHORIZED, "INVALID_PASSWORD").await;

    // Row 8: a wrong code, a malformed code.
    let wrong = app.wrong_code(&secret);
    for code in [wrong.as_str(), "abc", "1234567"] {
        let res = caller.post(DISABLE, &json!({"code": code, "password": PASSWORD})).await;
        let body = error(res, StatusCode::BAD_REQUEST, "INVALID_CODE").await;
        assert_eq!(detail_fields(&body), ["code"]);
        assert_eq!(body["details"][0]["message"], "TOTP or unused backup code is invalid");
    }
    assert!(mfa_enabled(&caller).await, "no failure may change anything");

    // Success, with whitespace inside the code and unknown fields ignored.
    let code = app.fresh_code(&secret);
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let res =
        caller.post(DISABLE, &json!({"code": spaced, "password": PASSWORD, "extra": 1})).await;
    assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));
    assert!(!mfa_enabled(&caller).await);

    // And then it is off: row 5 again.
    let res =
        caller.post(DISABLE, &json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    error(res, StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED").await;
}

#[tokio::test]
async fn every_row_of_the_disable_table_with_a_cookie_session() {
    rows_in_order(Via::Cookie).await;
}

#[tokio::test]
async fn every_row_of_the_disable_table_with_a_bearer_token() {
    rows_in_order(Via::Bearer).await;
}

/// Row 2: a cookie-authenticated disable needs a CSRF token the server signed for this
/// session, equal to the `_csrf` cookie; authentication is checked first.
#[tokio::test]
async fn cookie_disable_without_a_valid_csrf_token_is_403_and_changes_nothing() {
    let (app, caller) = app_with_user(Via::Cookie, AppOptions::default()).await;
    let (secret, _) = app.enable_mfa(caller.session()).await;
    let session = caller.session();
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});

    // No header.
    let res = session.client.post(app.url(DISABLE)).json(&body).send().await.unwrap();
    error(res, StatusCode::FORBIDDEN, "CSRF_INVALID").await;
    // A made-up token.
    let res = session
        .client
        .post(app.url(DISABLE))
        .header("X-CSRF-Token", "forged.value")
        .json(&body)
        .send()
        .await
        .unwrap();
    error(res, StatusCode::FORBIDDEN, "CSRF_INVALID").await;
    // A genuine token of another browser (and so another session / cookie).
    let other = app.login_with_mfa("user@example.com", &secret).await;
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    let res = session
        .client
        .post(app.url(DISABLE))
        .header("X-CSRF-Token", &other.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    error(res, StatusCode::FORBIDDEN, "CSRF_INVALID").await;
    // CSRF comes before the attempt limit and the body.
    let res = session.client.post(app.url(DISABLE)).json(&json!({"code": 1})).send().await.unwrap();
    error(res, StatusCode::FORBIDDEN, "CSRF_INVALID").await;
    assert!(mfa_enabled(&caller).await);

    // The body field `csrfToken` (SlugBase clients) works like the header.
    let mut with_field = body.clone();
    with_field["csrfToken"] = json!(session.csrf);
    let res = session.client.post(app.url(DISABLE)).json(&with_field).send().await.unwrap();
    assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));
}

/// Row 5b.
async fn policy_row(via: Via) {
    let settings = AuthSettings {
        mfa_policy: MfaPolicy { require_mfa_for_admins: true },
        ..AuthSettings::default()
    };
    let app = spawn_app_with(AppOptions { settings, ..AppOptions::default() }).await;
    let admin = app.setup_admin().await;
    let me = json(admin.get("/api/auth/me").await, StatusCode::OK).await;
    assert_eq!(me["mfa_enrollment_required"], true);
    let caller = Caller::new(&app, admin, via).await;
    let (secret, _) = app.enable_mfa(caller.session()).await;
    let me = json(caller.get("/api/auth/me").await, StatusCode::OK).await;
    assert_eq!(me["mfa_enrollment_required"], false);
    let res =
        caller.post(DISABLE, &json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    error(res, StatusCode::FORBIDDEN, "MFA_REQUIRED_BY_POLICY").await;
    assert!(mfa_enabled(&caller).await);
}

#[tokio::test]
async fn an_admin_bound_by_policy_cannot_disable_with_a_cookie_session() {
    policy_row(Via::Cookie).await;
}

#[tokio::test]
async fn an_admin_bound_by_policy_cannot_disable_with_a_bearer_token() {
    policy_row(Via::Bearer).await;
}

/// Row 3: past the limit even a correct request is 429 with `Retry-After`, before the body
/// is looked at; the window passing lets it through.
async fn limit_row(via: Via) {
    let (app, caller) = app_with_user(via, AppOptions::default()).await;
    let (secret, _) = app.enable_mfa(caller.session()).await;
    let limit = AuthSettings::default().limits.second_factor_account.max_failures;
    for _ in 0..limit {
        let res = caller
            .post(DISABLE, &json!({"code": app.wrong_code(&secret), "password": PASSWORD}))
            .await;
        error(res, StatusCode::BAD_REQUEST, "INVALID_CODE").await;
    }
    let res =
        caller.post(DISABLE, &json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    error(res, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS").await;
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!(secs > 0);
    let res = caller.post(DISABLE, &json!({"code": 1})).await;
    error(res, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS").await;
    // The limit comes before anything about the body: bad JSON, another content type, too
    // large.
    let huge = json!({"code": "1", "password": "x".repeat(64 * 1024)});
    let res = caller.post(DISABLE, &huge).await;
    error(res, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS").await;
    let req = match &caller {
        Caller::Cookie(s) => s.client.post(app.url(DISABLE)).header("X-CSRF-Token", &s.csrf),
        Caller::Bearer(b, _) => b.client.post(app.url(DISABLE)).bearer_auth(&b.token),
    };
    let req = req.header("Content-Type", "text/plain").body("{");
    error(req.send().await.unwrap(), StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS").await;
    assert!(mfa_enabled(&caller).await);

    app.clock.advance(chrono::TimeDelta::seconds(i64::try_from(secs).unwrap() + 1));
    let res =
        caller.post(DISABLE, &json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));
}

#[tokio::test]
async fn past_the_attempt_limit_disable_is_429_with_a_cookie_session() {
    limit_row(Via::Cookie).await;
}

#[tokio::test]
async fn past_the_attempt_limit_disable_is_429_with_a_bearer_token() {
    limit_row(Via::Bearer).await;
}

/// Row 8's other half: a TOTP code accepted once (at login) is never accepted again, and
/// a backup code works exactly once.
async fn replay_and_backup_codes(via: Via) {
    let (app, caller) = app_with_user(via, AppOptions::default()).await;
    let (secret, backup) = app.enable_mfa(caller.session()).await;
    // The code just accepted by login verify, replayed.
    let _again = app.login_with_mfa("user@example.com", &secret).await;
    let replayed = app.code_now(&secret);
    let res = caller.post(DISABLE, &json!({"code": replayed, "password": PASSWORD})).await;
    error(res, StatusCode::BAD_REQUEST, "INVALID_CODE").await;

    // A backup code, upper-cased and spaced: accepted once.
    let spaced = format!("{} {}", backup[0][..8].to_uppercase(), &backup[0][8..]);
    let res = caller.post(DISABLE, &json!({"code": spaced, "password": PASSWORD})).await;
    assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));
    // Disabling deleted every backup code: after a new enrollment the old ones are dead.
    let begin =
        json(caller.post("/api/auth/mfa/enroll/begin", &json!({})).await, StatusCode::OK).await;
    let secret = begin["secret"].as_str().unwrap().to_owned();
    let res = caller
        .post("/api/auth/mfa/enroll/confirm", &json!({"code": app.fresh_code(&secret)}))
        .await;
    json(res, StatusCode::OK).await;
    let res = caller.post(DISABLE, &json!({"code": backup[1], "password": PASSWORD})).await;
    error(res, StatusCode::BAD_REQUEST, "INVALID_CODE").await;
}

#[tokio::test]
async fn replayed_totp_and_spent_backup_codes_are_refused_with_a_cookie_session() {
    replay_and_backup_codes(Via::Cookie).await;
}

#[tokio::test]
async fn replayed_totp_and_spent_backup_codes_are_refused_with_a_bearer_token() {
    replay_and_backup_codes(Via::Bearer).await;
}

/// The seed page's curl example, headers and body as written, with a real API token, a
/// real password and a real code in place of the placeholders.
#[tokio::test]
async fn the_seed_pages_curl_request_as_written_disables_mfa() {
    let (app, caller) = app_with_user(Via::Bearer, AppOptions::default()).await;
    let Caller::Bearer(bearer, session) = &caller else { unreachable!() };
    let (secret, _) = app.enable_mfa(session).await;
    let body = format!(
        "{{\n\"code\": \"{}\",\n\"password\": \"{}\"\n}}",
        app.fresh_code(&secret),
        PASSWORD
    );
    let res = plain()
        .post(app.url("/api/auth/mfa/disable"))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {}", bearer.token))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));
    assert!(!mfa_enabled(&caller).await);
}

/// The page writes the URL as `//api/auth/mfa/disable` and the header as
/// `Bearer YOUR_API_TOKEN (API token)`: filling in only the placeholders works too.
#[tokio::test]
async fn the_seed_pages_url_and_header_with_only_the_placeholders_filled_in_work() {
    let (app, caller) = app_with_user(Via::Bearer, AppOptions::default()).await;
    let Caller::Bearer(bearer, session) = &caller else { unreachable!() };
    let (secret, _) = app.enable_mfa(session).await;
    let body = format!(
        "{{\n\"code\": \"{}\",\n\"password\": \"{}\"\n}}",
        app.fresh_code(&secret),
        PASSWORD
    );
    let res = plain()
        .post(format!("{}//api/auth/mfa/disable", app.address))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {} (API token)", bearer.token))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));
}

/// An OIDC-only user (created through the admin API without a password) disables with the
/// code alone; a password they send is ignored.
#[tokio::test]
async fn an_oidc_only_user_disables_with_the_code_alone() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let created = app.create_user(&admin, "oidc@example.com", None).await;
    assert_eq!(created["has_password"], false);
    // No password login for them:
    let res = plain()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "oidc@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;

    // OIDC login is a later issue: mint their first API token through the use case the
    // server runs, then do everything else over HTTP.
    let email = slugbase_domain::Email::parse("oidc@example.com").unwrap();
    let user = app.use_cases.admin.find_by_email(&email).await.unwrap().unwrap();
    let caller = slugbase_application::Caller {
        user,
        auth: slugbase_application::CallerAuth::ApiToken(slugbase_domain::ApiTokenId::generate()),
        backup_codes_remaining: 0,
    };
    let created = app
        .use_cases
        .api_tokens
        .create(&caller, &slugbase_application::ClientInfo::default(), Ok("oidc".to_owned()))
        .await
        .unwrap();
    let bearer = Bearer {
        client: plain(),
        token: created.token.expose().to_owned(),
        base: app.address.clone(),
    };

    let begin =
        json(bearer.post("/api/auth/mfa/enroll/begin", &json!({})).await, StatusCode::OK).await;
    let secret = begin["secret"].as_str().unwrap().to_owned();
    let res = bearer
        .post("/api/auth/mfa/enroll/confirm", &json!({"code": app.fresh_code(&secret)}))
        .await;
    json(res, StatusCode::OK).await;

    let res = bearer.post(DISABLE, &json!({"code": app.wrong_code(&secret)})).await;
    error(res, StatusCode::BAD_REQUEST, "INVALID_CODE").await;
    let res = bearer.post(DISABLE, &json!({"code": app.fresh_code(&secret)})).await;
    assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));
    let status = json(bearer.get("/api/auth/mfa/status").await, StatusCode::OK).await;
    assert_eq!(status["enabled"], false);
}

/// 20 concurrent disables carrying one backup code: exactly one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_disables_with_one_backup_code_succeed_exactly_once() {
    let (app, caller) = app_with_user(Via::Bearer, AppOptions::default()).await;
    let Caller::Bearer(bearer, session) = &caller else { unreachable!() };
    let (_secret, backup) = app.enable_mfa(session).await;
    let code = backup[0].clone();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = bearer.client.clone();
        let url = app.url(DISABLE);
        let token = bearer.token.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"code": code, "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            // A loser that authenticates after the winner committed finds MFA already off.
            StatusCode::BAD_REQUEST => assert!(
                body["reason"] == "INVALID_CODE" || body["reason"] == "MFA_NOT_ENABLED",
                "{body}"
            ),
            StatusCode::TOO_MANY_REQUESTS => assert_eq!(body["reason"], "TOO_MANY_ATTEMPTS"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, 1);
    assert!(!mfa_enabled(&caller).await);
}

/// Disabling ends the user's other sessions but keeps the calling one and API tokens.
#[tokio::test]
async fn disable_ends_other_sessions_and_keeps_the_caller_and_tokens() {
    let (app, caller) = app_with_user(Via::Cookie, AppOptions::default()).await;
    let session = caller.session();
    let (secret, _) = app.enable_mfa(session).await;
    let token = app.api_token(session).await;
    let other = app.login_with_mfa("user@example.com", &secret).await;
    json(other.get("/api/auth/me").await, StatusCode::OK).await;

    let res = session
        .post(DISABLE, &json!({"code": app.fresh_code(&secret), "password": PASSWORD}))
        .await;
    json(res, StatusCode::OK).await;

    json(session.get("/api/auth/me").await, StatusCode::OK).await;
    json(token.get("/api/auth/me").await, StatusCode::OK).await;
    error(other.get("/api/auth/me").await, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
}

/// 20 concurrent login verifies (each with its own pending state) carrying one backup
/// code: exactly one gets a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_verifies_with_one_backup_code_sign_in_exactly_once() {
    let (app, caller) = app_with_user(Via::Cookie, AppOptions::default()).await;
    let (_secret, backup) = app.enable_mfa(caller.session()).await;
    let mut browsers = Vec::new();
    for _ in 0..20 {
        let browser = crate::helpers::browser();
        let res = browser
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "user@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(json(res, StatusCode::OK).await, json!({"mfa_required": true}));
        browsers.push(browser);
    }
    let tasks: Vec<_> = browsers
        .into_iter()
        .map(|browser| {
            let url = app.url("/api/auth/mfa/verify");
            let code = backup[0].clone();
            tokio::spawn(async move {
                let res = browser.post(url).json(&json!({"code": code})).send().await.unwrap();
                (res.status(), res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => assert_eq!(body["reason"], "INVALID_CODE", "{body}"),
            StatusCode::TOO_MANY_REQUESTS => assert_eq!(body["reason"], "TOO_MANY_ATTEMPTS"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, 1);
}
