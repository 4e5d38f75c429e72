//! Authentication and CSRF before everything; login, verify, setup and logout: every
//! `AuthError`, `LoginError`, `VerifyLoginError` and `SetupError` variant.

use actix_web::cookie::Cookie;
use actix_web::test::TestRequest;
use slugbase_application::collaborators::attempt_limiter::TooManyAttempts;
use slugbase_application::use_cases::setup::SetupError;
use slugbase_application::{Caller, InputRejected, ValidationErrors};
use slugbase_application::{
    use_cases::authenticate::AuthError, use_cases::login::LoginError,
    use_cases::verify_login::VerifyLoginError,
};
use slugbase_domain::MfaStanding;

use crate::support::{
    Case, Mocks, Row, assert_opaque, caller, internal, oversized, post_json, send, unavailable,
    with_token,
};

fn too_many() -> TooManyAttempts {
    TooManyAttempts { retry_after_secs: 7, locked_out: false }
}

#[actix_web::test]
async fn no_credentials_are_401_without_asking_anyone() {
    let answer = send(Mocks::default(), TestRequest::get().uri("/api/auth/me")).await;
    answer.error(401, "UNAUTHENTICATED");
    assert_eq!(answer.body["message"], "Authentication required. Please provide a valid API token");
}

#[actix_web::test]
async fn every_auth_error_of_a_token_or_a_session_has_its_status() {
    let cases: [Row<AuthError>; 3] = [
        (|| AuthError::Unauthenticated, 401, "UNAUTHENTICATED"),
        (|| AuthError::Unexpected(unavailable()), 503, "SERVICE_UNAVAILABLE"),
        (|| AuthError::Unexpected(internal()), 500, "INTERNAL_ERROR"),
    ];
    for (error, status, reason) in cases {
        let mut mocks = Mocks::default();
        mocks.authenticate.expect_api_token().times(1).returning(move |_| Err(error()));
        let answer = send(mocks, with_token(TestRequest::get().uri("/api/auth/me"))).await;
        answer.error(status, reason);
        assert_opaque(&answer);

        // A session that fails: unauthenticated falls through to the (absent) token, an
        // outage is answered at once.
        let mut mocks = Mocks::default();
        mocks.authenticate.expect_session().times(1).returning(move |_| Err(error()));
        let req = TestRequest::get().uri("/api/auth/me").cookie(Cookie::new("slugbase.sid", "s1"));
        send(mocks, req).await.error(status, reason);
    }
}

#[actix_web::test]
async fn a_caller_held_to_enrolment_gets_403_before_any_use_case_but_enrolments_own() {
    let overdue = || {
        let since = chrono::Utc::now();
        Caller { mfa_standing: MfaStanding::Overdue { started_at: since, since }, ..caller() }
    };
    // Everything else: the use cases stay unarranged, so reaching one would panic.
    for req in [
        TestRequest::get().uri("/api/tokens"),
        TestRequest::get().uri("/api/auth/sessions"),
        TestRequest::get().uri("/api/admin/users"),
        TestRequest::post().uri("/api/auth/mfa/disable"),
    ] {
        let mut mocks = Mocks::default();
        mocks.authenticate.expect_api_token().times(1).returning(move |_| Ok(overdue()));
        let answer = send(mocks, with_token(req)).await;
        answer.error(403, "MFA_ENROLLMENT_REQUIRED");
        assert!(answer.body["message"].as_str().unwrap().contains("enroll/begin"), "{answer:?}");
    }
    // `/api/auth/me` answers, and says why.
    let mut mocks = Mocks::default();
    mocks.authenticate.expect_api_token().times(1).returning(move |_| Ok(overdue()));
    let answer = send(mocks, with_token(TestRequest::get().uri("/api/auth/me"))).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["mfa_policy_status"], "overdue");
    assert_eq!(answer.body["mfa_enrollment_required"], true);
}

#[actix_web::test]
async fn a_cookie_caller_without_a_csrf_token_is_403_before_the_use_case_runs() {
    let mut mocks = Mocks::default();
    mocks.authenticate.expect_session().times(1).returning(|_| Ok(caller()));
    let req = TestRequest::post()
        .uri("/api/auth/mfa/disable")
        .cookie(Cookie::new("slugbase.sid", "s1"))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(oversized());
    send(mocks, req).await.error(403, "CSRF_INVALID");
}

#[actix_web::test]
async fn every_login_error_has_its_status_reason_and_details() {
    let text_plain = || {
        TestRequest::post()
            .uri("/api/auth/login")
            .insert_header(("Content-Type", "text/plain"))
            .set_payload("{}")
    };
    let json = |body: &str| post_json("/api/auth/login", body);
    let valid = r#"{"email": "a@b.example", "password": "pw"}"#;
    let cases: Vec<Case<LoginError, TestRequest>> = vec![
        (|| LoginError::TooManyAttempts(too_many()), json(valid), 429, "TOO_MANY_ATTEMPTS", vec![]),
        (
            || LoginError::InputRejected(InputRejected),
            json(r#"{"email": 1}"#),
            400,
            "VALIDATION_FAILED",
            vec!["email", "password"],
        ),
        (
            || LoginError::InputRejected(InputRejected),
            text_plain(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            vec![],
        ),
        (|| LoginError::InvalidCredentials, json(valid), 401, "INVALID_CREDENTIALS", vec![]),
        (|| LoginError::Unexpected(unavailable()), json(valid), 503, "SERVICE_UNAVAILABLE", vec![]),
        (|| LoginError::Unexpected(internal()), json(valid), 500, "INTERNAL_ERROR", vec![]),
    ];
    for (error, req, status, reason, details) in cases {
        let mut mocks = Mocks::default();
        mocks.login.expect_execute().times(1).returning(move |_, _| Err(error()));
        let answer = send(mocks, req).await;
        assert_eq!(answer.error(status, reason), details, "{answer:?}");
        if status == 429 {
            assert_eq!(answer.header("retry-after"), Some("7"));
        }
        assert_opaque(&answer);
    }
}

#[actix_web::test]
async fn every_verify_error_has_its_status_reason_and_details() {
    let code = r#"{"code": "123456"}"#;
    let cases: Vec<Case<VerifyLoginError, String>> = vec![
        // The pending state is checked before the body: even a body too large is 401.
        (|| VerifyLoginError::PendingInvalid, oversized(), 401, "MFA_PENDING_INVALID", vec![]),
        (
            || VerifyLoginError::TooManyAttempts(too_many()),
            code.to_owned(),
            429,
            "TOO_MANY_ATTEMPTS",
            vec![],
        ),
        (
            || VerifyLoginError::InputRejected(InputRejected),
            "{}".to_owned(),
            400,
            "VALIDATION_FAILED",
            vec!["code"],
        ),
        (
            || VerifyLoginError::InputRejected(InputRejected),
            oversized(),
            413,
            "PAYLOAD_TOO_LARGE",
            vec![],
        ),
        (|| VerifyLoginError::InvalidCode, code.to_owned(), 401, "INVALID_CODE", vec!["code"]),
        (
            || VerifyLoginError::Unexpected(unavailable()),
            code.to_owned(),
            503,
            "SERVICE_UNAVAILABLE",
            vec![],
        ),
        (
            || VerifyLoginError::Unexpected(internal()),
            code.to_owned(),
            500,
            "INTERNAL_ERROR",
            vec![],
        ),
    ];
    for (error, body, status, reason, details) in cases {
        let mut mocks = Mocks::default();
        mocks
            .verify_login
            .expect_execute()
            .times(1)
            .withf(|pending, _, _| *pending == Some("p1"))
            .returning(move |_, _, _| Err(error()));
        let req = TestRequest::post()
            .uri("/api/auth/mfa/verify")
            .cookie(Cookie::new("slugbase.mfa_pending", "p1"))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body);
        let answer = send(mocks, req).await;
        assert_eq!(answer.error(status, reason), details, "{answer:?}");
        assert_opaque(&answer);
    }
}

#[actix_web::test]
async fn every_setup_error_has_its_status_reason_and_details() {
    let valid = r#"{"email": "a@b.example", "name": "A", "password": "long enough"}"#;
    let cases: Vec<Case<SetupError, &str>> = vec![
        // Checked before the body.
        (|| SetupError::AlreadyInitialized, "{", 403, "ALREADY_INITIALIZED", vec![]),
        (
            || SetupError::Validation(ValidationErrors::field("email", "not an e-mail")),
            valid,
            400,
            "VALIDATION_FAILED",
            vec!["email"],
        ),
        (
            || SetupError::InputRejected(InputRejected),
            r#"{"is_admin": "yes"}"#,
            400,
            "VALIDATION_FAILED",
            vec!["email", "name", "password", "is_admin"],
        ),
        (|| SetupError::Unexpected(unavailable()), valid, 503, "SERVICE_UNAVAILABLE", vec![]),
        (|| SetupError::Unexpected(internal()), valid, 500, "INTERNAL_ERROR", vec![]),
    ];
    for (error, body, status, reason, details) in cases {
        let mut mocks = Mocks::default();
        mocks.setup.expect_execute().times(1).returning(move |_, _| Err(error()));
        let answer = send(mocks, post_json("/api/auth/setup", body)).await;
        assert_eq!(answer.error(status, reason), details, "{answer:?}");
        assert_opaque(&answer);
    }
}

#[actix_web::test]
async fn setup_status_and_logout_map_outages_to_503() {
    let mut mocks = Mocks::default();
    mocks.setup.expect_is_initialized().times(1).returning(|| Err(unavailable()));
    send(mocks, TestRequest::get().uri("/api/auth/setup/status"))
        .await
        .error(503, "SERVICE_UNAVAILABLE");

    let mut mocks = Mocks::default();
    mocks.logout.expect_execute().times(1).returning(|_, _, _| Err(internal()));
    let req = TestRequest::post().uri("/api/auth/logout").cookie(Cookie::new("slugbase.sid", "s1"));
    let answer = send(mocks, req).await;
    answer.error(500, "INTERNAL_ERROR");
    assert_opaque(&answer);
}
