//! `/api/auth/passkeys`: every `PasskeyError` variant to its answer, body rejections on
//! each route, and a path id that is not a UUID.

use actix_web::test::TestRequest;
use slugbase_application::collaborators::both_factors::MfaChangeError;
use slugbase_application::use_cases::passkeys::PasskeyError;
use slugbase_domain::{DisableDenied, PasskeyNameError};

use crate::support::{
    Mocks, Row, assert_opaque, internal, post_json, send, unavailable, with_token,
};

const FINISH: &str = "/api/auth/passkeys/register/finish";
const VALID_FINISH: &str = r#"{"ceremony_id": "c", "credential": {"id": "x"}}"#;

/// A use-case error, and the status, reason and `details` fields it is answered with.
type FinishCase = (fn() -> PasskeyError, u16, &'static str, &'static [&'static str]);

fn finish_cases() -> Vec<FinishCase> {
    vec![
        (
            || PasskeyError::InvalidName(PasskeyNameError::TooLong),
            400,
            "VALIDATION_FAILED",
            &["name"],
        ),
        (|| PasskeyError::CeremonyInvalid, 400, "PASSKEY_CEREMONY_INVALID", &["ceremony_id"]),
        (|| PasskeyError::CredentialRejected, 400, "PASSKEY_REJECTED", &["credential"]),
        (|| PasskeyError::AlreadyRegistered, 409, "PASSKEY_ALREADY_REGISTERED", &[]),
        (|| PasskeyError::TooManyPasskeys, 409, "PASSKEY_LIMIT_REACHED", &[]),
        (|| PasskeyError::Unavailable, 400, "PASSKEYS_UNAVAILABLE", &[]),
        (|| PasskeyError::NotFound, 404, "PASSKEY_NOT_FOUND", &[]),
        (|| PasskeyError::Unexpected(unavailable()), 503, "SERVICE_UNAVAILABLE", &[]),
        (|| PasskeyError::Unexpected(internal()), 500, "INTERNAL_ERROR", &[]),
    ]
}

#[actix_web::test]
async fn every_registration_error_has_its_answer_in_the_error_shape() {
    for (error, status, reason, details) in finish_cases() {
        let mut mocks = Mocks::signed_in();
        mocks.passkeys.expect_finish_registration().times(1).returning(move |_, _, _| Err(error()));
        let answer = send(mocks, post_json(FINISH, VALID_FINISH)).await;
        assert_eq!(answer.error(status, reason), details.to_vec(), "{reason}");
        assert_opaque(&answer);
        if status == 503 {
            assert_eq!(answer.header("Retry-After"), Some("5"));
        }
    }
}

#[actix_web::test]
async fn a_finish_body_of_the_wrong_shape_names_its_fields() {
    let bodies = [
        (r#"{}"#, vec!["ceremony_id", "credential"]),
        (
            r#"{"ceremony_id": 1, "credential": "x", "name": 3}"#,
            vec!["ceremony_id", "credential", "name"],
        ),
        (r#"{"ceremony_id": "c", "credential": []}"#, vec!["credential"]),
    ];
    for (body, fields) in bodies {
        let mut mocks = Mocks::signed_in();
        mocks.passkeys.expect_finish_registration().times(1).returning(|_, _, input| {
            Err(input.map(|_| PasskeyError::Unavailable).unwrap_or_else(Into::into))
        });
        let answer = send(mocks, post_json(FINISH, body)).await;
        assert_eq!(answer.error(400, "VALIDATION_FAILED"), fields, "{body}");
    }
    let mut mocks = Mocks::signed_in();
    mocks
        .passkeys
        .expect_finish_registration()
        .times(1)
        .returning(|_, _, input| Err(input.expect_err("rejected").into()));
    let answer = send(mocks, post_json(FINISH, "{not json")).await;
    assert_eq!(answer.error(400, "VALIDATION_FAILED"), ["body"]);
}

#[actix_web::test]
async fn removal_answers_like_disable_and_a_stranger_gets_404() {
    let id = uuid::Uuid::now_v7();
    let path = format!("/api/auth/passkeys/{id}/remove");
    let cases: Vec<Row<PasskeyError>> = vec![
        (|| PasskeyError::NotFound, 404, "PASSKEY_NOT_FOUND"),
        (|| PasskeyError::LastFactor, 409, "LAST_SECOND_FACTOR"),
        (
            || PasskeyError::Change(MfaChangeError::Denied(DisableDenied::InvalidCode)),
            400,
            "INVALID_CODE",
        ),
        (
            || PasskeyError::Change(MfaChangeError::Denied(DisableDenied::InvalidPassword)),
            401,
            "INVALID_PASSWORD",
        ),
        (
            || PasskeyError::Change(MfaChangeError::Denied(DisableDenied::PasswordRequired)),
            400,
            "PASSWORD_REQUIRED",
        ),
    ];
    for (error, status, reason) in cases {
        let mut mocks = Mocks::signed_in();
        mocks
            .passkeys
            .expect_remove()
            .times(1)
            .withf(move |_, _, passkey, _| *passkey.as_uuid() == id)
            .returning(move |_, _, _, _| Err(error()));
        let answer = send(mocks, post_json(&path, r#"{"code": "123456"}"#)).await;
        answer.error(status, reason);
    }
    // A missing code is reported where the use case reaches its input (after the limit).
    let mut mocks = Mocks::signed_in();
    mocks.passkeys.expect_remove().times(1).returning(|_, _, _, input| {
        Err(PasskeyError::Change(MfaChangeError::InputRejected(input.expect_err("rejected"))))
    });
    let answer = send(mocks, post_json(&path, "{}")).await;
    assert_eq!(answer.error(400, "VALIDATION_FAILED"), ["code"]);
}

#[actix_web::test]
async fn a_path_id_that_is_not_a_uuid_is_a_validation_error_and_reaches_no_use_case() {
    let answer = send(Mocks::signed_in(), post_json("/api/auth/passkeys/nope/remove", "{}")).await;
    assert_eq!(answer.error(400, "VALIDATION_FAILED"), ["id"]);
    let req = with_token(TestRequest::patch().uri("/api/auth/passkeys/nope"))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(r#"{"name": "x"}"#);
    let answer = send(Mocks::signed_in(), req).await;
    assert_eq!(answer.error(400, "VALIDATION_FAILED"), ["id"]);
}

#[actix_web::test]
async fn begin_without_credentials_is_401_and_rename_of_a_strangers_passkey_404() {
    let answer =
        send(Mocks::default(), TestRequest::post().uri("/api/auth/passkeys/register/begin")).await;
    answer.error(401, "UNAUTHENTICATED");
    let mut mocks = Mocks::signed_in();
    mocks.passkeys.expect_rename().times(1).returning(|_, _, _, _| Err(PasskeyError::NotFound));
    let path = format!("/api/auth/passkeys/{}", uuid::Uuid::now_v7());
    let req = with_token(TestRequest::patch().uri(&path))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(r#"{"name": "x"}"#);
    send(mocks, req).await.error(404, "PASSKEY_NOT_FOUND");
}
