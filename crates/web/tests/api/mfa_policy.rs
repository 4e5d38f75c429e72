//! The MFA policy for everyone (`security.require_mfa`, `security.grace_days`), set the way
//! an operator sets it, through the real server and its manual clock: the grace period
//! starts at the first sign-in and counts down; past it, sessions and API tokens reach only
//! enrolment until MFA is on (with a real TOTP code), then everything again; `admins`
//! leaves other users alone and `off` changes nothing; the older `require_mfa_for_admins`
//! still refuses an administrator's disable; the admin list shows who is out of policy.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use slugbase_application::ports::Clock as _;
use slugbase_server::config::RequireMfa;
use slugbase_testkit::steps::{ADMIN_EMAIL, PASSWORD};
use slugbase_testkit::{Api, TestApp, TestAppBuilder};

const USER: &str = "user@example.com";
const REQUIRED: &str = "MFA_ENROLLMENT_REQUIRED";

/// The service with `require_mfa = scope` and `grace_days = days`.
fn policy(scope: RequireMfa, days: u32) -> TestAppBuilder {
    TestApp::builder().with_config(move |c| {
        c.security.require_mfa = Some(scope);
        c.security.grace_days = days;
    })
}

/// Sessions that outlive the grace periods the tests step through (a day idle, a month in
/// all), so one session can be seen before and after its owner's grace period ends.
fn long_sessions(builder: TestAppBuilder) -> TestAppBuilder {
    builder.with_config(|c| {
        c.security.session_idle_secs = 40 * 86_400;
        c.security.session_absolute_secs = 40 * 86_400;
    })
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap_or_else(|| panic!("a time, got {value}")).parse().unwrap()
}

/// The service's time now, as storage keeps it (milliseconds).
fn stored_now(app: &TestApp) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(app.clock.now().timestamp_millis()).unwrap()
}

/// The first administrator (enrolled when `enrol`), and a local user [`USER`] they created.
async fn admin_and_user(app: &TestApp, enrol: bool) -> Api {
    let admin = app.setup_admin().await;
    if enrol {
        app.enable_mfa(&admin).await;
    }
    app.create_user(&admin, USER, Some(PASSWORD)).await;
    admin
}

/// What a caller held to enrolment meets on a route that is not enrolment's.
async fn refused(api: &Api, method: Method, path: &str) {
    let res = Api::exchange(api.request(method.clone(), path).json(&json!({}))).await;
    let body = res.expect_error(StatusCode::FORBIDDEN, REQUIRED);
    assert!(body["message"].as_str().unwrap().contains("enroll"), "{method} {path}: {body}");
}

#[tokio::test]
async fn within_the_grace_period_a_user_has_a_full_session_and_sees_the_days_left() {
    // Arrange
    let app = policy(RequireMfa::All, 14).spawn().await;
    admin_and_user(&app, true).await;
    let signed_in_at = stored_now(&app);

    // Act: the first sign-in under the policy.
    let user = app.login(USER, PASSWORD).await;

    // Assert: a full session; the grace period runs from this sign-in.
    let me = user.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["mfa_policy_status"], "in_grace");
    assert_eq!(me["mfa_enrollment_required"], true);
    assert_eq!(time(&me["mfa_grace_started_at"]), signed_in_at);
    assert_eq!(time(&me["mfa_grace_ends_at"]), signed_in_at + days(14));
    let status = user.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], false);
    assert_eq!(status["required"], true);
    assert_eq!(status["policy_status"], "in_grace");
    assert_eq!(status["grace_days_left"], 14);
    assert_eq!(time(&status["grace_ends_at"]), signed_in_at + days(14));
    user.get("/api/auth/sessions").await.expect(StatusCode::OK);
    user.get("/api/tokens").await.expect(StatusCode::OK);

    // Ten days later, a new sign-in keeps the start: four days left.
    app.clock.advance(days(10));
    let again = app.login(USER, PASSWORD).await;
    let status = again.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["grace_days_left"], 4);
    assert_eq!(time(&status["grace_started_at"]), signed_in_at);
    again.get("/api/auth/sessions").await.expect(StatusCode::OK);
}

#[tokio::test]
async fn past_the_grace_period_a_session_reaches_only_enrolment_until_mfa_is_on() {
    // Arrange: signed in during the grace period, with an API token made then.
    let app = long_sessions(policy(RequireMfa::All, 14)).spawn().await;
    admin_and_user(&app, true).await;
    let mut user = app.login(USER, PASSWORD).await;
    let token = app.bearer(&user.make_token("script").await);
    user.get("/api/auth/sessions").await.expect(StatusCode::OK);

    // Act: the grace period ends while the session lives.
    app.clock.advance(days(14));

    // Assert: the same session and the token are held to enrolment.
    for caller in [&user, &token] {
        refused(caller, Method::GET, "/api/auth/sessions").await;
        refused(caller, Method::GET, "/api/tokens").await;
        refused(caller, Method::POST, "/api/tokens").await;
        refused(caller, Method::POST, "/api/auth/password").await;
        refused(caller, Method::GET, "/api/auth/passkeys").await;
        let me = caller.get("/api/auth/me").await.expect(StatusCode::OK);
        assert_eq!(me["mfa_policy_status"], "overdue");
        let status = caller.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
        assert_eq!(
            (&status["policy_status"], &status["grace_days_left"]),
            (&json!("overdue"), &json!(0))
        );
    }
    // A new sign-in is let in, and held to enrolment the same way.
    let fresh = app.login(USER, PASSWORD).await;
    refused(&fresh, Method::GET, "/api/auth/sessions").await;

    // Enrolment, with a real code from the secret the server handed out…
    let (secret, codes) = app.enable_mfa(&user).await;
    assert_eq!(codes.len(), 10);

    // …and the same session and token reach everything again, no new sign-in.
    let sessions = user.get("/api/auth/sessions").await.expect(StatusCode::OK);
    assert!(sessions.as_array().unwrap().iter().any(|s| s["current"] == true), "{sessions}");
    token.get("/api/tokens").await.expect(StatusCode::OK);
    fresh.get("/api/tokens").await.expect(StatusCode::OK);
    let status = user.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["policy_status"], "enrolled");
    assert_eq!(status["grace_days_left"], Value::Null);
    // The next sign-in asks for the code.
    app.login_with_mfa(USER, &secret).await.get("/api/tokens").await.expect(StatusCode::OK);
}

#[tokio::test]
async fn with_no_grace_period_the_first_sign_in_is_held_to_enrolment() {
    // Arrange: `admins`, no grace: the first administrator's setup is their first sign-in.
    let app = policy(RequireMfa::Admins, 0).spawn().await;

    // Act
    let admin = app.setup_admin().await;

    // Assert
    let me = admin.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["mfa_policy_status"], "overdue");
    refused(&admin, Method::GET, "/api/admin/users").await;
    app.enable_mfa(&admin).await;
    admin.get("/api/admin/users").await.expect(StatusCode::OK);
}

#[tokio::test]
async fn the_admins_scope_leaves_other_users_alone() {
    // Arrange
    let app = long_sessions(policy(RequireMfa::Admins, 0)).spawn().await;
    admin_and_user(&app, true).await;

    // Act
    let user = app.login(USER, PASSWORD).await;
    app.clock.advance(days(30));

    // Assert: never required, never held, free to turn MFA on and off.
    let status = user.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(
        (&status["required"], &status["policy_status"]),
        (&json!(false), &json!("not_required"))
    );
    assert_eq!(status["grace_days_left"], Value::Null);
    user.get("/api/auth/sessions").await.expect(StatusCode::OK);
    let (secret, _) = app.enable_mfa(&user).await;
    let disable = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    user.post("/api/auth/mfa/disable", disable).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn off_changes_nothing_and_starts_no_grace_period() {
    // Arrange: the default configuration.
    let app = TestApp::spawn().await;
    admin_and_user(&app, false).await;

    // Act
    app.login(USER, PASSWORD).await;
    app.clock.advance(days(400));
    let user = app.login(USER, PASSWORD).await;

    // Assert
    user.get("/api/auth/sessions").await.expect(StatusCode::OK);
    let status = user.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["policy_status"], "not_required");
    assert_eq!(status["required"], false);
    let admin = app.login(ADMIN_EMAIL, PASSWORD).await;
    let listed = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    for entry in listed.as_array().unwrap() {
        assert_eq!(entry["mfa_policy_status"], "not_required", "{entry}");
        assert_eq!(entry["mfa_grace_started_at"], Value::Null, "{entry}");
        assert_eq!(entry["mfa_enrollment_required"], false, "{entry}");
    }
}

#[tokio::test]
async fn require_mfa_for_admins_still_refuses_an_administrators_disable() {
    // Arrange: only the older key, as an existing deployment has it.
    let app =
        TestApp::builder().with_config(|c| c.security.require_mfa_for_admins = true).spawn().await;
    let admin = admin_and_user(&app, false).await;
    let me = admin.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["mfa_enrollment_required"], true);
    assert_eq!(me["mfa_policy_status"], "in_grace");
    let (secret, _) = app.enable_mfa(&admin).await;

    // Act
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    let res = admin.post("/api/auth/mfa/disable", body).await;

    // Assert: refused; new backup codes are still allowed; other users may disable.
    res.expect_error(StatusCode::FORBIDDEN, "MFA_REQUIRED_BY_POLICY");
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    let codes = admin.post("/api/auth/mfa/backup/regenerate", body).await.expect(StatusCode::OK);
    assert_eq!(codes["backup_codes"].as_array().unwrap().len(), 10);
    let user = app.login(USER, PASSWORD).await;
    let (secret, _) = app.enable_mfa(&user).await;
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    user.post("/api/auth/mfa/disable", body).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn under_all_nobody_may_disable_mfa_but_backup_codes_can_be_renewed() {
    // Arrange
    let app = policy(RequireMfa::All, 14).spawn().await;
    admin_and_user(&app, true).await;
    let user = app.login(USER, PASSWORD).await;
    let (secret, _) = app.enable_mfa(&user).await;

    // Act
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    let res = user.post("/api/auth/mfa/disable", body).await;

    // Assert
    res.expect_error(StatusCode::FORBIDDEN, "MFA_REQUIRED_BY_POLICY");
    let body = json!({"code": app.fresh_code(&secret), "password": PASSWORD});
    user.post("/api/auth/mfa/backup/regenerate", body).await.expect(StatusCode::OK);
    let status = user.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], true);
}

#[tokio::test]
async fn the_admin_list_shows_who_is_out_of_policy_and_since_when() {
    // Arrange: an enrolled administrator; one user past the grace period, one inside it,
    // one who has not signed in since the policy.
    let app = policy(RequireMfa::All, 14).spawn().await;
    let admin = app.setup_admin().await;
    let (admin_secret, _) = app.enable_mfa(&admin).await;
    for email in ["late@example.com", "soon@example.com", "never@example.com"] {
        app.create_user(&admin, email, Some(PASSWORD)).await;
    }
    let late_started = stored_now(&app);
    app.login("late@example.com", PASSWORD).await;
    app.clock.advance(days(15));
    let soon_started = stored_now(&app);
    app.login("soon@example.com", PASSWORD).await;

    // Act
    let admin = app.login_with_mfa(ADMIN_EMAIL, &admin_secret).await;
    let listed = admin.get("/api/admin/users").await.expect(StatusCode::OK);

    // Assert
    let entry = |email: &str| {
        listed.as_array().unwrap().iter().find(|u| u["email"] == email).unwrap().clone()
    };
    let admin_entry = entry(ADMIN_EMAIL);
    assert_eq!(admin_entry["mfa_policy_status"], "enrolled");
    assert_eq!(admin_entry["mfa_enrollment_required"], false);
    let late = entry("late@example.com");
    assert_eq!(late["mfa_policy_status"], "overdue");
    assert_eq!(late["mfa_enrollment_required"], true);
    assert_eq!(time(&late["mfa_grace_started_at"]), late_started);
    assert_eq!(time(&late["mfa_grace_ends_at"]), late_started + days(14), "out of policy since");
    let soon = entry("soon@example.com");
    assert_eq!(soon["mfa_policy_status"], "in_grace");
    assert_eq!(time(&soon["mfa_grace_ends_at"]), soon_started + days(14));
    let never = entry("never@example.com");
    assert_eq!(never["mfa_policy_status"], "grace_not_started");
    assert_eq!(never["mfa_enrollment_required"], true);
    assert_eq!(
        (&never["mfa_grace_started_at"], &never["mfa_grace_ends_at"]),
        (&Value::Null, &Value::Null)
    );
}

#[tokio::test]
async fn every_secured_operation_but_enrolments_refuses_a_held_caller_as_the_document_says() {
    // Arrange: a user past the grace period, calling with an API token made before.
    let app = policy(RequireMfa::All, 1).spawn().await;
    admin_and_user(&app, true).await;
    let mut user = app.login(USER, PASSWORD).await;
    let token = app.bearer(&user.make_token("script").await);
    app.clock.advance(days(1));
    let doc = app.client().get("/openapi.json").await.expect(StatusCode::OK);

    // Act and assert, operation by operation.
    let mut secured = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["security"].as_array().is_none_or(Vec::is_empty) {
                continue;
            }
            secured += 1;
            let id = op["operationId"].as_str().unwrap();
            let url = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = Api::exchange(token.request(method.clone(), &url).json(&json!({}))).await;
            let forbidden = &op["responses"]["403"]["description"];
            if slugbase_web::ENROLMENT_OPERATIONS.contains(&id) {
                assert_ne!(res.reason(), REQUIRED, "{method} {path} is enrolment's: {res:?}");
                assert!(!forbidden.to_string().contains(REQUIRED), "{method} {path}: {forbidden}");
            } else {
                res.expect_error(StatusCode::FORBIDDEN, REQUIRED);
                assert!(forbidden.to_string().contains(REQUIRED), "{method} {path}: {forbidden}");
            }
        }
    }
    assert!(secured > 20, "{secured} secured operations");
}
