//! Enrollment begin / confirm / cancel and backup-code regeneration over HTTP.

use reqwest::StatusCode;
use serde_json::json;
use slugbase_testkit::steps::{PASSWORD, backup_codes};
use slugbase_testkit::{TestApp, detail_fields};

#[tokio::test]
async fn enrollment_can_be_cancelled_and_refuses_what_does_not_fit() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    // Nothing pending yet.
    let res = admin.post("/api/auth/mfa/enroll/confirm", json!({"code": "123456"})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "MFA_NO_PENDING");
    let res = admin.post("/api/auth/mfa/enroll/confirm", json!({})).await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["code"]);

    // Begin, cancel (twice: idempotent); the cancelled secret cannot be confirmed.
    let begin = admin.post("/api/auth/mfa/enroll/begin", json!({})).await.expect(StatusCode::OK);
    let secret = begin["secret"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let res = admin.post("/api/auth/mfa/enroll/cancel", json!({})).await;
        assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
    }
    let res =
        admin.post("/api/auth/mfa/enroll/confirm", json!({"code": app.fresh_code(&secret)})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "MFA_NO_PENDING");

    // A new begin replaces the secret: a code from the old one is wrong.
    let first = admin.post("/api/auth/mfa/enroll/begin", json!({})).await.expect(StatusCode::OK);
    let second = admin.post("/api/auth/mfa/enroll/begin", json!({})).await.expect(StatusCode::OK);
    let (first, second) = (first["secret"].as_str().unwrap(), second["secret"].as_str().unwrap());
    assert_ne!(first, second);
    let res =
        admin.post("/api/auth/mfa/enroll/confirm", json!({"code": app.fresh_code(first)})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");
    let res =
        admin.post("/api/auth/mfa/enroll/confirm", json!({"code": app.fresh_code(second)})).await;
    res.expect(StatusCode::OK);

    // Enabled: begin, confirm and cancel are 409.
    for path in ["/api/auth/mfa/enroll/begin", "/api/auth/mfa/enroll/cancel"] {
        admin.post(path, json!({})).await.expect_error(StatusCode::CONFLICT, "MFA_ALREADY_ENABLED");
    }
    let res =
        admin.post("/api/auth/mfa/enroll/confirm", json!({"code": app.fresh_code(second)})).await;
    res.expect_error(StatusCode::CONFLICT, "MFA_ALREADY_ENABLED");
}

#[tokio::test]
async fn regenerating_backup_codes_needs_both_factors_and_kills_the_old_set() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let (secret, old) = app.enable_mfa(&admin).await;
    const REGENERATE: &str = "/api/auth/mfa/backup/regenerate";

    let res = admin.post(REGENERATE, json!({"code": app.fresh_code(&secret)})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "PASSWORD_REQUIRED");
    let res = admin
        .post(REGENERATE, json!({"code": app.wrong_code(&secret), "password": PASSWORD}))
        .await;
    res.expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");

    // A backup code of the old set pays for the new set.
    let res = admin.post(REGENERATE, json!({"code": old[0], "password": PASSWORD})).await;
    let new = backup_codes(&res.expect(StatusCode::OK));
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    let status = admin.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["backup_codes_remaining"], 10);

    // The old set is dead, the new one works.
    let res =
        admin.post("/api/auth/mfa/disable", json!({"code": old[1], "password": PASSWORD})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");
    let res =
        admin.post("/api/auth/mfa/disable", json!({"code": new[0], "password": PASSWORD})).await;
    assert_eq!(res.expect(StatusCode::OK), json!({"ok": true}));
    let res = admin.post(REGENERATE, json!({"code": new[1], "password": PASSWORD})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED");
}
