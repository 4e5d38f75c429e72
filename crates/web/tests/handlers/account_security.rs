//! Password change and sessions: every `ChangePasswordError` variant to its status, reason
//! and details, and the session endpoints' failures.

use actix_web::test::TestRequest;
use slugbase_application::collaborators::attempt_limiter::TooManyAttempts;
use slugbase_application::use_cases::change_password::ChangePasswordError;
use slugbase_application::{InputRejected, ValidationErrors};

use crate::support::{
    Case, Mocks, assert_opaque, internal, post_json, send, unavailable, with_token,
};

const BODY: &str = r#"{"current_password": "old one here", "new_password": "new one here"}"#;

#[actix_web::test]
async fn every_change_password_error_has_its_status_reason_and_details() {
    let cases: Vec<Case<ChangePasswordError, &str>> = vec![
        (
            || {
                ChangePasswordError::TooManyAttempts(TooManyAttempts {
                    retry_after_secs: 9,
                    locked_out: false,
                })
            },
            BODY,
            429,
            "TOO_MANY_ATTEMPTS",
            vec![],
        ),
        (
            || ChangePasswordError::InputRejected(InputRejected),
            r#"{"current_password": 1}"#,
            400,
            "VALIDATION_FAILED",
            vec!["current_password", "new_password"],
        ),
        (
            || {
                ChangePasswordError::Validation(ValidationErrors::field(
                    "new_password",
                    "too common",
                ))
            },
            BODY,
            400,
            "VALIDATION_FAILED",
            vec!["new_password"],
        ),
        (|| ChangePasswordError::PasswordNotSet, BODY, 400, "PASSWORD_NOT_SET", vec![]),
        (
            || ChangePasswordError::InvalidPassword,
            BODY,
            401,
            "INVALID_PASSWORD",
            vec!["current_password"],
        ),
        (|| ChangePasswordError::NotFound, BODY, 401, "UNAUTHENTICATED", vec![]),
        (
            || ChangePasswordError::Unexpected(unavailable()),
            BODY,
            503,
            "SERVICE_UNAVAILABLE",
            vec![],
        ),
        (|| ChangePasswordError::Unexpected(internal()), BODY, 500, "INTERNAL_ERROR", vec![]),
    ];
    for (error, body, status, reason, details) in cases {
        let mut mocks = Mocks::signed_in();
        mocks.change_password.expect_execute().times(1).returning(move |_, _, _| Err(error()));
        let answer = send(mocks, post_json("/api/auth/password", body)).await;
        assert_eq!(answer.error(status, reason), details, "{answer:?}");
        assert_opaque(&answer);
    }
}

#[actix_web::test]
async fn the_session_endpoints_map_their_failures() {
    let mut mocks = Mocks::signed_in();
    mocks.sessions.expect_list().times(1).returning(|_| Err(unavailable()));
    let answer = send(mocks, with_token(TestRequest::get().uri("/api/auth/sessions"))).await;
    answer.error(503, "SERVICE_UNAVAILABLE");

    let mut mocks = Mocks::signed_in();
    mocks.sessions.expect_revoke().times(1).returning(|_, _, _| Ok(false));
    let req = with_token(TestRequest::delete().uri("/api/auth/sessions/abc"));
    send(mocks, req).await.error(404, "SESSION_NOT_FOUND");

    let mut mocks = Mocks::signed_in();
    mocks.sessions.expect_revoke_others().times(1).returning(|_, _| Err(internal()));
    let req = with_token(TestRequest::post().uri("/api/auth/sessions/revoke-others"));
    let answer = send(mocks, req).await;
    answer.error(500, "INTERNAL_ERROR");
    assert_opaque(&answer);
}
