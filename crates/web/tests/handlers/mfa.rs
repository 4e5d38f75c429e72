//! `/api/auth/mfa/*` (except verify): every `MfaChangeError`, `EnrollError` and
//! `EnrollConfirmError` variant, and every body rejection, in the contract's order.

use actix_web::test::TestRequest;
use slugbase_application::InputRejected;
use slugbase_application::collaborators::attempt_limiter::TooManyAttempts;
use slugbase_application::collaborators::second_factor::Possession;
use slugbase_application::{
    collaborators::both_factors::MfaChangeError,
    use_cases::enroll::{EnrollConfirmError, EnrollError},
};
use slugbase_domain::DisableDenied;

use crate::support::{
    Case, Mocks, Row, assert_opaque, internal, oversized, post_json, send, unavailable, with_token,
};

const DISABLE: &str = "/api/auth/mfa/disable";
const REGENERATE: &str = "/api/auth/mfa/backup/regenerate";
const VALID: &str = r#"{"code": "123456", "password": "secret"}"#;

/// What disable and regenerate answer to one error of theirs.
struct Expected {
    status: u16,
    reason: &'static str,
    details: &'static [&'static str],
    retry_after: Option<&'static str>,
}

fn mfa_change_cases() -> Vec<(fn() -> MfaChangeError, Expected)> {
    let e =
        |status, reason, details, retry_after| Expected { status, reason, details, retry_after };
    vec![
        (
            || {
                MfaChangeError::TooManyAttempts(TooManyAttempts {
                    retry_after_secs: 42,
                    locked_out: false,
                })
            },
            e(429, "TOO_MANY_ATTEMPTS", &[], Some("42")),
        ),
        (
            || {
                MfaChangeError::TooManyAttempts(TooManyAttempts {
                    retry_after_secs: 0,
                    locked_out: true,
                })
            },
            e(429, "TOO_MANY_ATTEMPTS", &[], Some("1")),
        ),
        (
            || MfaChangeError::Denied(DisableDenied::MfaNotEnabled),
            e(400, "MFA_NOT_ENABLED", &[], None),
        ),
        (
            || MfaChangeError::Denied(DisableDenied::RequiredByPolicy),
            e(403, "MFA_REQUIRED_BY_POLICY", &[], None),
        ),
        (
            || MfaChangeError::Denied(DisableDenied::PasswordRequired),
            e(400, "PASSWORD_REQUIRED", &["password"], None),
        ),
        (
            || MfaChangeError::Denied(DisableDenied::InvalidPassword),
            e(401, "INVALID_PASSWORD", &["password"], None),
        ),
        (
            || MfaChangeError::Denied(DisableDenied::InvalidCode),
            e(400, "INVALID_CODE", &["code"], None),
        ),
        // Handed back without a rejection the handler kept: a bare 400.
        (|| MfaChangeError::InputRejected(InputRejected), e(400, "VALIDATION_FAILED", &[], None)),
        // Every 503 says when to retry.
        (
            || MfaChangeError::Unexpected(unavailable()),
            e(503, "SERVICE_UNAVAILABLE", &[], Some("5")),
        ),
        (|| MfaChangeError::Unexpected(internal()), e(500, "INTERNAL_ERROR", &[], None)),
    ]
}

#[actix_web::test]
async fn every_mfa_change_error_of_disable_and_regenerate_has_its_status_reason_and_details() {
    for path in [DISABLE, REGENERATE] {
        for (error, expected) in mfa_change_cases() {
            // Arrange
            let mut mocks = Mocks::signed_in();
            if path == DISABLE {
                mocks.disable_mfa.expect_execute().times(1).returning(move |_, _, _| Err(error()));
            } else {
                mocks
                    .regenerate_backup_codes
                    .expect_execute()
                    .times(1)
                    .returning(move |_, _, _| Err(error()));
            }

            // Act
            let answer = send(mocks, post_json(path, VALID)).await;

            // Assert
            let details = answer.error(expected.status, expected.reason);
            assert_eq!(details, expected.details, "{path} {answer:?}");
            assert_eq!(answer.header("retry-after"), expected.retry_after, "{path} {answer:?}");
            assert_opaque(&answer);
        }
    }
}

#[actix_web::test]
async fn a_locked_account_is_told_so_in_the_429() {
    let mut mocks = Mocks::signed_in();
    mocks.disable_mfa.expect_execute().returning(|_, _, _| {
        Err(MfaChangeError::TooManyAttempts(TooManyAttempts {
            retry_after_secs: 9,
            locked_out: true,
        }))
    });
    let answer = send(mocks, post_json(DISABLE, VALID)).await;
    answer.error(429, "TOO_MANY_ATTEMPTS");
    assert!(answer.body["message"].as_str().unwrap().contains("locked"), "{answer:?}");
}

#[actix_web::test]
async fn a_valid_body_reaches_disable_parsed_and_success_is_ok_true() {
    let mut mocks = Mocks::signed_in();
    mocks
        .disable_mfa
        .expect_execute()
        .times(1)
        .withf(|_, _, input| {
            input.as_ref().is_ok_and(|i| {
                i.possession == Possession::Code("123456".to_owned()) && i.password.is_some()
            })
        })
        .returning(|_, _, _| Ok(()));
    let answer = send(mocks, post_json(DISABLE, VALID)).await;
    assert_eq!((answer.status, answer.body.clone()), (200, serde_json::json!({"ok": true})));
}

/// Each body rejection, handed to the use case as `InputRejected` and answered with its
/// own status when the use case hands it back.
#[actix_web::test]
async fn every_body_rejection_is_answered_with_its_own_status_when_the_use_case_reports_it() {
    let text = |body: &str| {
        with_token(TestRequest::post().uri(DISABLE))
            .insert_header(("Content-Type", "text/plain"))
            .set_payload(body.to_owned())
    };
    let cases: Vec<(TestRequest, u16, &str, Vec<&str>)> = vec![
        (post_json(DISABLE, &oversized()), 413, "PAYLOAD_TOO_LARGE", vec![]),
        (text(VALID), 415, "UNSUPPORTED_MEDIA_TYPE", vec![]),
        (
            with_token(TestRequest::post().uri(DISABLE)).set_payload(VALID),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            vec![],
        ),
        (post_json(DISABLE, "{\"code\": "), 400, "VALIDATION_FAILED", vec!["body"]),
        (post_json(DISABLE, "[1, 2]"), 400, "VALIDATION_FAILED", vec!["body"]),
        (
            post_json(DISABLE, r#"{"code": true, "password": {}}"#),
            400,
            "VALIDATION_FAILED",
            vec!["code", "password"],
        ),
        (post_json(DISABLE, ""), 400, "VALIDATION_FAILED", vec!["code"]),
    ];
    for (req, status, reason, details) in cases {
        let mut mocks = Mocks::signed_in();
        mocks
            .disable_mfa
            .expect_execute()
            .times(1)
            .withf(|_, _, input| *input.as_ref().unwrap_err() == InputRejected)
            .returning(|_, _, _| Err(MfaChangeError::InputRejected(InputRejected)));
        let answer = send(mocks, req).await;
        assert_eq!(answer.error(status, reason), details, "{answer:?}");
    }
}

/// Row 3 before row 4: a throttled caller gets 429 whatever the body.
#[actix_web::test]
async fn the_attempt_limit_wins_over_a_rejected_body() {
    for body in [oversized(), "{".to_owned(), r#"{"code": 1}"#.to_owned()] {
        let mut mocks = Mocks::signed_in();
        mocks.disable_mfa.expect_execute().times(1).withf(|_, _, input| input.is_err()).returning(
            |_, _, _| {
                Err(MfaChangeError::TooManyAttempts(TooManyAttempts {
                    retry_after_secs: 5,
                    locked_out: false,
                }))
            },
        );
        let answer = send(mocks, post_json(DISABLE, &body)).await;
        answer.error(429, "TOO_MANY_ATTEMPTS");
        assert_eq!(answer.header("retry-after"), Some("5"));
    }
}

#[actix_web::test]
async fn every_enroll_error_of_begin_and_cancel_has_its_status() {
    let cases: [Row<EnrollError>; 3] = [
        (|| EnrollError::AlreadyEnabled, 409, "MFA_ALREADY_ENABLED"),
        (|| EnrollError::Unexpected(unavailable()), 503, "SERVICE_UNAVAILABLE"),
        (|| EnrollError::Unexpected(internal()), 500, "INTERNAL_ERROR"),
    ];
    for (error, status, reason) in cases {
        let mut mocks = Mocks::signed_in();
        mocks.enroll_begin.expect_execute().times(1).returning(move |_, _| Err(error()));
        let answer = send(mocks, post_json("/api/auth/mfa/enroll/begin", "")).await;
        answer.error(status, reason);
        assert_opaque(&answer);

        let mut mocks = Mocks::signed_in();
        mocks.enroll_cancel.expect_execute().times(1).returning(move |_, _| Err(error()));
        let answer = send(mocks, post_json("/api/auth/mfa/enroll/cancel", "{}")).await;
        answer.error(status, reason);
    }
}

/// Begin and cancel take no input: a body too large or not JSON is refused before the use
/// case runs (its mock has no expectations and would panic).
#[actix_web::test]
async fn enroll_begin_and_cancel_refuse_an_unacceptable_body_without_running() {
    for path in ["/api/auth/mfa/enroll/begin", "/api/auth/mfa/enroll/cancel"] {
        let answer = send(Mocks::signed_in(), post_json(path, &oversized())).await;
        answer.error(413, "PAYLOAD_TOO_LARGE");
        let req = with_token(TestRequest::post().uri(path))
            .insert_header(("Content-Type", "text/plain"))
            .set_payload("hello");
        send(Mocks::signed_in(), req).await.error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
}

#[actix_web::test]
async fn every_enroll_confirm_error_has_its_status_reason_and_details() {
    let cases: Vec<Case<EnrollConfirmError, &str>> = vec![
        (
            || {
                EnrollConfirmError::TooManyAttempts(TooManyAttempts {
                    retry_after_secs: 3,
                    locked_out: false,
                })
            },
            r#"{"code": "123456"}"#,
            429,
            "TOO_MANY_ATTEMPTS",
            vec![],
        ),
        (
            || EnrollConfirmError::InputRejected(InputRejected),
            r#"{"code": 5}"#,
            400,
            "VALIDATION_FAILED",
            vec!["code"],
        ),
        (
            || EnrollConfirmError::AlreadyEnabled,
            r#"{"code": "123456"}"#,
            409,
            "MFA_ALREADY_ENABLED",
            vec![],
        ),
        (|| EnrollConfirmError::NoPending, r#"{"code": "123456"}"#, 400, "MFA_NO_PENDING", vec![]),
        (
            || EnrollConfirmError::InvalidCode,
            r#"{"code": "123456"}"#,
            400,
            "INVALID_CODE",
            vec!["code"],
        ),
        (
            || EnrollConfirmError::Unexpected(unavailable()),
            r#"{"code": "123456"}"#,
            503,
            "SERVICE_UNAVAILABLE",
            vec![],
        ),
        (
            || EnrollConfirmError::Unexpected(internal()),
            r#"{"code": "123456"}"#,
            500,
            "INTERNAL_ERROR",
            vec![],
        ),
    ];
    for (error, body, status, reason, details) in cases {
        let mut mocks = Mocks::signed_in();
        mocks.enroll_confirm.expect_execute().times(1).returning(move |_, _, _| Err(error()));
        let answer = send(mocks, post_json("/api/auth/mfa/enroll/confirm", body)).await;
        assert_eq!(answer.error(status, reason), details, "{answer:?}");
        if status == 429 {
            assert_eq!(answer.header("retry-after"), Some("3"));
        }
        assert_opaque(&answer);
    }
}

#[actix_web::test]
async fn mfa_status_maps_an_outage_to_503_and_a_bug_to_an_opaque_500() {
    for (error, status) in [(unavailable as fn() -> _, 503), (internal, 500)] {
        let mut mocks = Mocks::signed_in();
        mocks.mfa_status.expect_execute().times(1).returning(move |_| Err(error()));
        let answer = send(mocks, with_token(TestRequest::get().uri("/api/auth/mfa/status"))).await;
        answer.error(status, if status == 503 { "SERVICE_UNAVAILABLE" } else { "INTERNAL_ERROR" });
        assert_opaque(&answer);
    }
}
