//! Enrollment begin / confirm / cancel and backup-code regeneration over HTTP.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, detail_fields, error, json, spawn_app};

#[tokio::test]
async fn enrollment_can_be_cancelled_and_refuses_what_does_not_fit() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    // Nothing pending yet.
    let res = admin.post("/api/auth/mfa/enroll/confirm", &json!({"code": "123456"})).await;
    error(res, StatusCode::BAD_REQUEST, "MFA_NO_PENDING").await;
    let res = admin.post("/api/auth/mfa/enroll/confirm", &json!({})).await;
    let body = error(res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(detail_fields(&body), ["code"]);

    // Begin, cancel (twice: idempotent); the cancelled secret cannot be confirmed.
    let begin =
        json(admin.post("/api/auth/mfa/enroll/begin", &json!({})).await, StatusCode::OK).await;
    let secret = begin["secret"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let res = admin.post("/api/auth/mfa/enroll/cancel", &json!({})).await;
        assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));
    }
    let res =
        admin.post("/api/auth/mfa/enroll/confirm", &json!({"code": app.fresh_code(&secret)})).await;
    error(res, StatusCode::BAD_REQUEST, "MFA_NO_PENDING").await;

    // A new begin replaces the secret: a code from the old one is wrong.
    let first =
        json(admin.post("/api/auth/mfa/enroll/begin", &json!({})).await, StatusCode::OK).await;
    let second =
        json(admin.post("/api/auth/mfa/enroll/begin", &json!({})).await, StatusCode::OK).await;
    let (first, second) = (first["secret"].as_str().unwrap(), second["secret"].as_str().unwrap());
    assert_ne!(first, second);
    let res =
        admin.post("/api/auth/mfa/enroll/confirm", &json!({"code": app.fresh_code(first)})).await;
    error(res, StatusCode::BAD_REQUEST, "INVALID_CODE").await;
    let res =
        admin.post("/api/auth/mfa/enroll/confirm", &json!({"code": app.fresh_code(second)})).await;
    json(res, StatusCode::OK).await;

    // Enabled: begin, confirm and cancel are 409.
    for path in ["/api/auth/mfa/enroll/begin", "/api/auth/mfa/enroll/cancel"] {
        error(admin.post(path, &json!({})).await, StatusCode::CONFLICT, "MFA_ALREADY_ENABLED")
            .await;
    }
    let res =
        admin.post("/api/auth/mfa/enroll/confirm", &json!({"code": app.fresh_code(second)})).await;
    error(res, StatusCode::CONFLICT, "MFA_ALREADY_ENABLED").await;
}

#[tokio::test]
async fn regenerating_backup_codes_needs_both_factors_and_kills_the_old_set() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let (secret, old) = app.enable_mfa(&admin).await;
    const REGENERATE: &str = "/api/auth/mfa/backup/regenerate";

    let res = admin.post(REGENERATE, &json!({"code": app.fresh_code(&secret)})).await;
    error(res, StatusCode::BAD_REQUEST, "PASSWORD_REQUIRED").await;
    let res = admin
        .post(REGENERATE, &json!({"code": app.wrong_code(&secret), "password": PASSWORD}))
        .await;
    error(res, StatusCode::BAD_REQUEST, "INVALID_CODE").await;

    // A backup code of the old set pays for the new set.
    let res = admin.post(REGENERATE, &json!({"code": old[0], "password": PASSWORD})).await;
    let body = json(res, StatusCode::OK).await;
    let new: Vec<String> = body["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    let status = json(admin.get("/api/auth/mfa/status").await, StatusCode::OK).await;
    assert_eq!(status["backup_codes_remaining"], 10);

    // The old set is dead, the new one works.
    let res =
        admin.post("/api/auth/mfa/disable", &json!({"code": old[1], "password": PASSWORD})).await;
    error(res, StatusCode::BAD_REQUEST, "INVALID_CODE").await;
    let res =
        admin.post("/api/auth/mfa/disable", &json!({"code": new[0], "password": PASSWORD})).await;
    assert_eq!(json(res, StatusCode::OK).await, json!({"ok": true}));
    let res = admin.post(REGENERATE, &json!({"code": new[1], "password": PASSWORD})).await;
    error(res, StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED").await;
}
