//! API tokens, administration, health: every `CreateApiTokenError` and `AdminError`
//! variant, path and query problems, and `Unexpected` of the rest.

use actix_web::test::TestRequest;
use serde_json::json;
use slugbase_application::use_cases::admin::AdminError;
use slugbase_application::use_cases::api_tokens::CreateApiTokenError;
use slugbase_application::use_cases::health::{HealthReport, Readiness};
use slugbase_application::{InputRejected, ValidationErrors};

use crate::support::{
    Case, Mocks, assert_opaque, internal, post_json, send, unavailable, with_token,
};

const SOME_ID: &str = "00000000-0000-0000-0000-000000000001";

#[actix_web::test]
async fn every_create_token_error_has_its_status_reason_and_details() {
    let cases: Vec<Case<CreateApiTokenError, &str>> = vec![
        (
            || CreateApiTokenError::Validation(ValidationErrors::field("name", "too long")),
            r#"{"name": "x"}"#,
            400,
            "VALIDATION_FAILED",
            vec!["name"],
        ),
        (
            || CreateApiTokenError::InputRejected(InputRejected),
            r#"{"name": 7}"#,
            400,
            "VALIDATION_FAILED",
            vec!["name"],
        ),
        (
            || CreateApiTokenError::Unexpected(unavailable()),
            r#"{"name": "x"}"#,
            503,
            "SERVICE_UNAVAILABLE",
            vec![],
        ),
        (
            || CreateApiTokenError::Unexpected(internal()),
            r#"{"name": "x"}"#,
            500,
            "INTERNAL_ERROR",
            vec![],
        ),
    ];
    for (error, body, status, reason, details) in cases {
        let mut mocks = Mocks::signed_in();
        mocks.api_tokens.expect_create().times(1).returning(move |_, _, _| Err(error()));
        let answer = send(mocks, post_json("/api/tokens", body)).await;
        assert_eq!(answer.error(status, reason), details, "{answer:?}");
        assert_opaque(&answer);
    }
}

#[actix_web::test]
async fn listing_and_revoking_tokens_map_their_failures() {
    let mut mocks = Mocks::signed_in();
    mocks.api_tokens.expect_list().times(1).returning(|_| Err(unavailable()));
    send(mocks, with_token(TestRequest::get().uri("/api/tokens")))
        .await
        .error(503, "SERVICE_UNAVAILABLE");

    let mut mocks = Mocks::signed_in();
    mocks.api_tokens.expect_revoke().times(1).returning(|_, _, _| Ok(false));
    let req = with_token(TestRequest::delete().uri(&format!("/api/tokens/{SOME_ID}")));
    send(mocks, req).await.error(404, "TOKEN_NOT_FOUND");

    let mut mocks = Mocks::signed_in();
    mocks.api_tokens.expect_revoke().times(1).returning(|_, _, _| Err(internal()));
    let req = with_token(TestRequest::delete().uri(&format!("/api/tokens/{SOME_ID}")));
    assert_opaque(&send(mocks, req).await);

    // A malformed id never reaches the use case.
    let req = with_token(TestRequest::delete().uri("/api/tokens/not-a-uuid"));
    assert_eq!(send(Mocks::signed_in(), req).await.error(400, "VALIDATION_FAILED"), ["id"]);
}

#[actix_web::test]
async fn every_admin_error_has_its_status_reason_and_details() {
    let valid = r#"{"email": "a@b.example", "name": "A"}"#;
    let cases: Vec<Case<AdminError, &str>> = vec![
        (|| AdminError::Forbidden, "{", 403, "FORBIDDEN", vec![]),
        (
            || AdminError::Validation(ValidationErrors::field("password", "too short")),
            valid,
            400,
            "VALIDATION_FAILED",
            vec!["password"],
        ),
        (
            || AdminError::InputRejected(InputRejected),
            r#"{"email": "a@b.example", "name": "A", "is_admin": "yes"}"#,
            400,
            "VALIDATION_FAILED",
            vec!["is_admin"],
        ),
        (|| AdminError::EmailTaken, valid, 409, "EMAIL_EXISTS", vec!["email"]),
        (|| AdminError::NotFound, valid, 404, "USER_NOT_FOUND", vec![]),
        (|| AdminError::CannotDeleteSelf, valid, 400, "CANNOT_DELETE_SELF", vec![]),
        (|| AdminError::CannotResetOwnMfa, valid, 403, "ADMIN_SELF_RESET_FORBIDDEN", vec![]),
        (|| AdminError::OidcNotConfigured, valid, 400, "OIDC_NOT_CONFIGURED", vec!["password"]),
        (|| AdminError::Unexpected(unavailable()), valid, 503, "SERVICE_UNAVAILABLE", vec![]),
        (|| AdminError::Unexpected(internal()), valid, 500, "INTERNAL_ERROR", vec![]),
    ];
    for (error, body, status, reason, details) in cases {
        let mut mocks = Mocks::signed_in();
        mocks.admin.expect_create_user().times(1).returning(move |_, _, _| Err(error()));
        let answer = send(mocks, post_json("/api/admin/users", body)).await;
        assert_eq!(answer.error(status, reason), details, "{answer:?}");
        assert_opaque(&answer);

        // The other admin operations share the mapping.
        let mut mocks = Mocks::signed_in();
        mocks.admin.expect_delete_user().times(1).returning(move |_, _, _| Err(error()));
        let req = with_token(TestRequest::delete().uri(&format!("/api/admin/users/{SOME_ID}")));
        send(mocks, req).await.error(status, reason);

        let mut mocks = Mocks::signed_in();
        mocks.admin.expect_reset_mfa().times(1).returning(move |_, _, _| Err(error()));
        let req =
            with_token(TestRequest::post().uri(&format!("/api/admin/users/{SOME_ID}/mfa/reset")));
        send(mocks, req).await.error(status, reason);

        let mut mocks = Mocks::signed_in();
        mocks.admin.expect_list_users().times(1).returning(move |_| Err(error()));
        send(mocks, with_token(TestRequest::get().uri("/api/admin/users")))
            .await
            .error(status, reason);

        let mut mocks = Mocks::signed_in();
        mocks.admin.expect_audit_log().times(1).returning(move |_, _| Err(error()));
        send(mocks, with_token(TestRequest::get().uri("/api/admin/audit-log")))
            .await
            .error(status, reason);
    }
}

#[actix_web::test]
async fn a_malformed_audit_query_is_400_naming_each_parameter_without_running() {
    let req = with_token(TestRequest::get().uri("/api/admin/audit-log?limit=lots&user_id=x"));
    let answer = send(Mocks::signed_in(), req).await;
    assert_eq!(answer.error(400, "VALIDATION_FAILED"), ["user_id", "limit"]);
}

#[actix_web::test]
async fn health_is_503_while_storage_is_down_and_an_opaque_500_on_a_bug() {
    for (error, status, reason) in
        [(unavailable as fn() -> _, 503, "DATABASE_UNAVAILABLE"), (internal, 500, "INTERNAL_ERROR")]
    {
        let mut mocks = Mocks::default();
        mocks.health.expect_check().times(1).returning(move || Err(error()));
        let answer = send(mocks, TestRequest::get().uri("/api/health")).await;
        answer.error(status, reason);
        assert_opaque(&answer);
        if status == 503 {
            assert_eq!(answer.body["status"], "unavailable", "{:?}", answer.body);
            assert_eq!(answer.header("retry-after"), Some("5"));
        }
    }
}

#[actix_web::test]
async fn health_is_ok_or_degraded_with_its_reason_while_reads_get_through() {
    for (report, expected) in [
        (HealthReport::Ok, json!({"status": "ok"})),
        (
            HealthReport::WritesUnavailable,
            json!({"status": "degraded", "reason": "DATABASE_WRITES_UNAVAILABLE"}),
        ),
    ] {
        let mut mocks = Mocks::default();
        mocks.health.expect_check().times(1).returning(move || Ok(report));
        let answer = send(mocks, TestRequest::get().uri("/api/health")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["status"], expected["status"]);
        assert_eq!(answer.body.get("reason"), expected.get("reason"));
        assert_eq!(answer.body.get("message").is_some(), expected.get("reason").is_some());
    }
}

#[actix_web::test]
async fn readiness_is_503_with_its_reason_until_ready_and_liveness_asks_nothing() {
    let pending = Readiness::MigrationsPending { pending: vec!["m2_new".to_owned()] };
    for (readiness, reason) in [
        (Ok(pending), "MIGRATIONS_PENDING"),
        (Ok(Readiness::SchemaUnreadable), "SCHEMA_UNREADABLE"),
        (Err(unavailable as fn() -> _), "DATABASE_UNAVAILABLE"),
    ] {
        let mut mocks = Mocks::default();
        mocks.health.expect_ready().times(1).returning(move || match &readiness {
            Ok(found) => Ok(found.clone()),
            Err(error) => Err(error()),
        });
        let answer = send(mocks, TestRequest::get().uri("/api/health/ready")).await;
        answer.error(503, reason);
        assert_opaque(&answer);
        assert_eq!(answer.body["status"], "not_ready", "{:?}", answer.body);
        assert_eq!(answer.header("retry-after"), Some("5"));
        if reason == "MIGRATIONS_PENDING" {
            assert_eq!(
                answer.body["details"],
                json!([{"field": "migrations", "message": "m2_new"}])
            );
        }
    }
    let mut mocks = Mocks::default();
    mocks.health.expect_ready().times(1).returning(|| Ok(Readiness::Ready));
    let answer = send(mocks, TestRequest::get().uri("/api/health/ready")).await;
    assert_eq!((answer.status, answer.body.clone()), (200, json!({"status": "ready"})));
    // No expectation set: liveness calls no use case (a call would fail the mock).
    let answer = send(Mocks::default(), TestRequest::get().uri("/api/health/live")).await;
    assert_eq!((answer.status, answer.body.clone()), (200, json!({"status": "alive"})));
}

/// Every 503 carries `Retry-After`, whichever use case reports the outage.
#[actix_web::test]
async fn an_outage_is_503_with_retry_after() {
    let mut mocks = Mocks::signed_in();
    mocks.admin.expect_list_users().returning(|_| Err(AdminError::Unexpected(unavailable())));
    let answer = send(mocks, with_token(TestRequest::get().uri("/api/admin/users"))).await;
    answer.error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(answer.header("retry-after"), Some("5"));
}
