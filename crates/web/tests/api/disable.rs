//! Every row of the disable table, once with a cookie session (+ CSRF) and once with a
//! Bearer API token (no CSRF); the seed page's request as written; concurrency.

use std::ops::Deref;

use reqwest::{Method, StatusCode};
use serde_json::json;
use slugbase_application::AuthSettings;
use slugbase_domain::{MfaPolicy, MfaScope};
use slugbase_testkit::steps::{self, PASSWORD};
use slugbase_testkit::{Api, Reply, TestApp, TestAppBuilder, detail_fields};

const DISABLE: &str = "/api/auth/mfa/disable";

/// How the caller authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Cookie,
    Bearer,
}

/// A caller of either kind: `api` sends the requests (the browser itself, or a client that
/// carries only an API token); `session` is the browser (to enroll and to make tokens).
struct Caller {
    api: Api,
    session: Api,
}

impl Caller {
    async fn new(app: &TestApp, session: Api, via: Via) -> Self {
        let api = match via {
            Via::Cookie => session.clone(),
            Via::Bearer => app.api_token(&session).await,
        };
        Self { api, session }
    }

    /// The API token, for a Bearer caller.
    fn token(&self) -> &str {
        self.api.bearer.as_deref().unwrap()
    }
}

impl Deref for Caller {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// An app with an admin and a local user "user@example.com" signed in via `via`.
async fn app_with_user(via: Via, builder: TestAppBuilder) -> (TestApp, Caller) {
    let app = builder.spawn().await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "user@example.com", Some(PASSWORD)).await;
    let session = app.login("user@example.com", PASSWORD).await;
    let caller = Caller::new(&app, session, via).await;
    (app, caller)
}

async fn mfa_enabled(api: &Api) -> bool {
    let status = api.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    status["enabled"].as_bool().unwrap()
}

/// Rows 1, 4, 5, 6, 7, 8 and success, in order, on one user.
async fn rows_in_order(via: Via) {
    let (app, caller) = app_with_user(via, TestApp::builder()).await;

    // Row 1: no credentials at all, and credentials that are not valid.
    let res = app.client().post(DISABLE, json!({"code": "123456"})).await;
    let body = res.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(body["message"], "Authentication required. Please provide a valid API token");
    let res = app.bearer("sb_not-a-real-token").post(DISABLE, json!({"code": "123456"})).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let res = Api::exchange(
        app.client()
            .request(Method::POST, DISABLE)
            .header("Cookie", "slugbase.sid=not-a-session")
            .header("X-CSRF-Token", "x")
            .json(&json!({"code": "123456"})),
    )
    .await;
    res.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Row 4: the body is checked before anything about MFA.
    let body = caller
        .post(DISABLE, json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["code"]);
    let res = caller.post(DISABLE, json!({"code": 123_456, "password": PASSWORD})).await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["code"]);
    let res = caller.post(DISABLE, json!({"code": "123456", "password": 5})).await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["password"]);

    // Row 5: MFA is not on.
    let res = caller.post(DISABLE, json!({"code": "123456", "password": PASSWORD})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED");

    let (secret, _backup) = app.enable_mfa(&caller.session).await;
    assert!(mfa_enabled(&caller).await);

    // Row 6: a local user must send the password (absent, null or empty).
    for body in [
        json!({"code": app.fresh_code(&secret)}),
        json!({"code": app.fresh_code(&secret), "password": null}),
        json!({"code": app.fresh_code(&secret), "password": ""}),
    ] {
        let body = caller
            .post(DISABLE, body)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "PASSWORD_REQUIRED");
        assert_eq!(detail_fields(&body), ["password"]);
    }

    // Row 7: wrong password, even with a valid code.
    let res = caller
        .post(DISABLE, json!({"code": app.fresh_code(&secret), "password": "wrong password"}))
        .await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSWORD");

    // Row 8: a wrong code, a malformed code.
    let wrong = app.wrong_code(&secret);
    for code in [wrong.as_str(), "abc", "1234567"] {
        let res = caller.post(DISABLE, json!({"code": code, "password": PASSWORD})).await;
        let body = res.expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");
        assert_eq!(detail_fields(&body), ["code"]);
        assert_eq!(body["details"][0]["message"], "TOTP or unused backup code is invalid");
    }
    assert!(mfa_enabled(&caller).await, "no failure may change anything");

    // Success, with whitespace inside the code and unknown fields ignored.
    let code = app.fresh_code(&secret);
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let res = caller.post(DISABLE, json!({"code": spaced, "password": PASSWORD, "extra": 1})).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
    assert!(!mfa_enabled(&caller).await);

    // And then it is off: row 5 again.
    let res =
        caller.post(DISABLE, json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED");
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
    let (app, caller) = app_with_user(Via::Cookie, TestApp::builder()).await;
    let (secret, _) = app.enable_mfa(&caller.session).await;
    let session = &caller.session;
    // The session's cookies without its CSRF token.
    let without_csrf = || session.http().post(app.url(DISABLE));
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});

    // No header.
    let res = Api::exchange(without_csrf().json(&body)).await;
    res.expect_error(StatusCode::FORBIDDEN, "CSRF_INVALID");
    // A made-up token.
    let res =
        Api::exchange(without_csrf().header("X-CSRF-Token", "forged.value").json(&body)).await;
    res.expect_error(StatusCode::FORBIDDEN, "CSRF_INVALID");
    // A genuine token of another browser (and so another session / cookie).
    let other = app.login_with_mfa("user@example.com", &secret).await;
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    let other_csrf = other.csrf.as_deref().unwrap();
    let res = Api::exchange(without_csrf().header("X-CSRF-Token", other_csrf).json(&body)).await;
    res.expect_error(StatusCode::FORBIDDEN, "CSRF_INVALID");
    // CSRF comes before the attempt limit and the body.
    let res = Api::exchange(without_csrf().json(&json!({"code": 1}))).await;
    res.expect_error(StatusCode::FORBIDDEN, "CSRF_INVALID");
    assert!(mfa_enabled(&caller).await);

    // The body field `csrfToken` (SlugBase clients) works like the header.
    let mut with_field = body.clone();
    with_field["csrfToken"] = json!(session.csrf);
    let res = Api::exchange(without_csrf().json(&with_field)).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
}

/// Row 5b.
async fn policy_row(via: Via) {
    let settings = AuthSettings {
        mfa_policy: MfaPolicy { scope: MfaScope::Admins, ..MfaPolicy::default() },
        ..AuthSettings::default()
    };
    let app = TestApp::builder().auth_settings(settings).spawn().await;
    let admin = app.setup_admin().await;
    let me = admin.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["mfa_enrollment_required"], true);
    let caller = Caller::new(&app, admin, via).await;
    let (secret, _) = app.enable_mfa(&caller.session).await;
    let me = caller.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["mfa_enrollment_required"], false);
    let res =
        caller.post(DISABLE, json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    res.expect_error(StatusCode::FORBIDDEN, "MFA_REQUIRED_BY_POLICY");
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
    let (app, caller) = app_with_user(via, TestApp::builder()).await;
    let (secret, _) = app.enable_mfa(&caller.session).await;
    let limit = AuthSettings::default().limits.second_factor_account.max_failures;
    for _ in 0..limit {
        let res = caller
            .post(DISABLE, json!({"code": app.wrong_code(&secret), "password": PASSWORD}))
            .await;
        res.expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");
    }
    let res =
        caller.post(DISABLE, json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    let retry_after = res.retry_after();
    res.expect_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    let secs = retry_after.expect("Retry-After");
    assert!(secs > 0);
    let res = caller.post(DISABLE, json!({"code": 1})).await;
    res.expect_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    // The limit comes before anything about the body: bad JSON, another content type, too
    // large.
    let huge = json!({"code": "1", "password": "x".repeat(64 * 1024)});
    let res = caller.post(DISABLE, huge).await;
    res.expect_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    let res = caller.post_raw(DISABLE, Some("text/plain"), "{").await;
    res.expect_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    assert!(mfa_enabled(&caller).await);

    app.clock.advance(chrono::TimeDelta::seconds(i64::try_from(secs).unwrap() + 1));
    let res =
        caller.post(DISABLE, json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
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
    let (app, caller) = app_with_user(via, TestApp::builder()).await;
    let (secret, backup) = app.enable_mfa(&caller.session).await;
    // The code just accepted by login verify, replayed.
    let _again = app.login_with_mfa("user@example.com", &secret).await;
    let replayed = app.code_now(&secret);
    let res = caller.post(DISABLE, json!({"code": replayed, "password": PASSWORD})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");

    // A backup code grouped as the pages show it, with an en dash where one was typed: as
    // a guess it is wrong (the password), so it stays unspent.
    let b = &backup[0];
    let grouped = format!("{}-{}\u{2013}{}-{}", &b[..4], &b[4..8], &b[8..12], &b[12..]);
    let res = caller.post(DISABLE, json!({"code": grouped, "password": "wrong password"})).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSWORD");
    // Upper-cased and spaced: accepted once.
    let spaced = format!("{} {}", b[..8].to_uppercase(), &b[8..]);
    let res = caller.post(DISABLE, json!({"code": spaced, "password": PASSWORD})).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
    // Grouped with dashes: accepted too (a fresh enrollment's code).
    let (_, fresh) = app.enable_mfa(&caller).await;
    let f = &fresh[0];
    let grouped = format!("{}-{}-{}-{}", &f[..4], &f[4..8], &f[8..12], &f[12..]);
    let res = caller.post(DISABLE, json!({"code": grouped, "password": PASSWORD})).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
    // Disabling deleted every backup code: after a new enrollment the old ones are dead.
    app.enable_mfa(&caller).await;
    let res = caller.post(DISABLE, json!({"code": backup[1], "password": PASSWORD})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");
}

#[tokio::test]
async fn replayed_totp_and_spent_backup_codes_are_refused_with_a_cookie_session() {
    replay_and_backup_codes(Via::Cookie).await;
}

#[tokio::test]
async fn replayed_totp_and_spent_backup_codes_are_refused_with_a_bearer_token() {
    replay_and_backup_codes(Via::Bearer).await;
}

/// The seed page's curl example (`url`, the `Authorization` header's text after the token,
/// `body`) as written, with a real API token, a real password and a real code in place of
/// the placeholders.
async fn seed_page_request(app: &TestApp, url: &str, after_token: &str, caller: &Caller) -> Reply {
    let (secret, _) = app.enable_mfa(&caller.session).await;
    let body = format!(
        "{{\n\"code\": \"{}\",\n\"password\": \"{}\"\n}}",
        app.fresh_code(&secret),
        PASSWORD
    );
    let request = app
        .client()
        .http()
        .post(url)
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {}{after_token}", caller.token()))
        .body(body);
    Api::exchange(request).await
}

#[tokio::test]
async fn the_seed_pages_curl_request_as_written_disables_mfa() {
    let (app, caller) = app_with_user(Via::Bearer, TestApp::builder()).await;
    let res = seed_page_request(&app, &app.url("/api/auth/mfa/disable"), "", &caller).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
    assert!(!mfa_enabled(&caller).await);
}

/// The page writes the URL as `//api/auth/mfa/disable` and the header as
/// `Bearer YOUR_API_TOKEN (API token)`: filling in only the placeholders works too.
#[tokio::test]
async fn the_seed_pages_url_and_header_with_only_the_placeholders_filled_in_work() {
    let (app, caller) = app_with_user(Via::Bearer, TestApp::builder()).await;
    let url = format!("{}//api/auth/mfa/disable", app.address);
    let res = seed_page_request(&app, &url, " (API token)", &caller).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
}

/// An OIDC-only user (created through the admin API without a password) disables with the
/// code alone; a password they send is ignored.
#[tokio::test]
async fn an_oidc_only_user_disables_with_the_code_alone() {
    let app = slugbase_testkit::oidc::with_unreachable_provider(TestApp::builder()).spawn().await;
    let admin = app.setup_admin().await;
    let created = app.create_user(&admin, "oidc@example.com", None).await;
    assert_eq!(created["has_password"], false);
    // No password login for them:
    let res = app
        .client()
        .post("/api/auth/login", json!({"email": "oidc@example.com", "password": PASSWORD}))
        .await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");

    // OIDC login is a later issue: mint their first API token through the use case the
    // server runs, then do everything else over HTTP.
    let email = slugbase_domain::Email::parse("oidc@example.com").unwrap();
    let user = app.operator.admin.find_by_email(&email).await.unwrap().unwrap();
    let caller = slugbase_application::Caller {
        mfa_standing: app.use_cases.mfa_status.standing(&user),
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
    let bearer = app.bearer(created.token.expose());

    let (secret, _) = app.enable_mfa(&bearer).await;
    let res = bearer.post(DISABLE, json!({"code": app.wrong_code(&secret)})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");
    let res = bearer.post(DISABLE, json!({"code": app.fresh_code(&secret)})).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
    assert!(!mfa_enabled(&bearer).await);
}

/// Sends each request at once, each in a task of its own, and counts the successes; every
/// other answer must be one of `losers` (status and reason) or a 429 `TOO_MANY_ATTEMPTS`.
async fn exactly_one_succeeds(
    requests: Vec<(Api, &'static str, serde_json::Value)>,
    losers: &[(StatusCode, &str)],
) {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(api, path, body)| tokio::spawn(async move { api.post(path, body).await }))
        .collect();
    let mut ok = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => assert_eq!(reply.reason(), "TOO_MANY_ATTEMPTS"),
            status if losers.contains(&(status, reply.reason())) => {}
            other => panic!("unexpected {other}: {reply:?}"),
        }
    }
    assert_eq!(ok, 1);
}

/// 20 concurrent disables carrying one backup code: exactly one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_disables_with_one_backup_code_succeed_exactly_once() {
    let (app, caller) = app_with_user(Via::Bearer, TestApp::builder()).await;
    let (_secret, backup) = app.enable_mfa(&caller.session).await;
    let body = json!({"code": backup[0], "password": PASSWORD});
    let requests = (0..20).map(|_| (caller.api.clone(), DISABLE, body.clone())).collect();
    // A loser that authenticates after the winner committed finds MFA already off.
    let losers =
        [(StatusCode::BAD_REQUEST, "INVALID_CODE"), (StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED")];
    exactly_one_succeeds(requests, &losers).await;
    assert!(!mfa_enabled(&caller).await);
}

/// Disabling ends the user's other sessions but keeps the calling one and API tokens.
#[tokio::test]
async fn disable_ends_other_sessions_and_keeps_the_caller_and_tokens() {
    let (app, caller) = app_with_user(Via::Cookie, TestApp::builder()).await;
    let session = &caller.session;
    let (secret, _) = app.enable_mfa(session).await;
    let token = app.api_token(session).await;
    let other = app.login_with_mfa("user@example.com", &secret).await;
    other.get("/api/auth/me").await.expect(StatusCode::OK);

    let res =
        session.post(DISABLE, json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    res.expect(StatusCode::OK);

    session.get("/api/auth/me").await.expect(StatusCode::OK);
    token.get("/api/auth/me").await.expect(StatusCode::OK);
    other.get("/api/auth/me").await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

/// 20 concurrent login verifies (each with its own pending state) carrying one backup
/// code: exactly one gets a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_verifies_with_one_backup_code_sign_in_exactly_once() {
    let (app, caller) = app_with_user(Via::Cookie, TestApp::builder()).await;
    let (_secret, backup) = app.enable_mfa(&caller.session).await;
    let mut requests = Vec::new();
    for _ in 0..20 {
        let browser = app.client();
        steps::login_pending(&browser, "user@example.com", PASSWORD).await;
        requests.push((browser, "/api/auth/mfa/verify", json!({"code": backup[0]})));
    }
    // The login step answers a spent code 401 (as SlugBase does).
    exactly_one_succeeds(requests, &[(StatusCode::UNAUTHORIZED, "INVALID_CODE")]).await;
}
