//! Every malformed input gets the seed's error shape with the right status; never HTML,
//! never a 500 for a client's mistake.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    AppOptions, Backend, PASSWORD, detail_fields, error, json, plain, spawn_app, spawn_app_with,
};

const DISABLE: &str = "/api/auth/mfa/disable";

#[tokio::test]
async fn bad_json_and_wrong_types_are_400_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let bearer = app.api_token(&admin).await;
    let post_raw = |body: &'static str| {
        plain()
            .post(app.url(DISABLE))
            .bearer_auth(&bearer.token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    for raw in ["{", "{\"code\": }", "not json", "{\"code\": \"1\",}"] {
        let body =
            error(post_raw(raw).await.unwrap(), StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
        assert_eq!(detail_fields(&body), ["body"], "{raw}");
    }
    for raw in ["[]", "\"code\"", "42", "null"] {
        let body =
            error(post_raw(raw).await.unwrap(), StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
        assert_eq!(detail_fields(&body), ["body"], "{raw}");
    }
    for (raw, fields) in [
        (r#"{"code": 123456, "password": "x"}"#, vec!["code"]),
        (r#"{"code": ["1"], "password": "x"}"#, vec!["code"]),
        (r#"{"code": null, "password": "x"}"#, vec!["code"]),
        (r#"{"code": "123456", "password": 1}"#, vec!["password"]),
        (r#"{"code": true, "password": {}}"#, vec!["code", "password"]),
        ("", vec!["code"]),
    ] {
        let body =
            error(post_raw(raw).await.unwrap(), StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
        assert_eq!(detail_fields(&body), fields, "{raw}");
    }
    // Other endpoints parse the same way.
    let res = plain()
        .post(app.url("/api/auth/login"))
        .header("Content-Type", "application/json")
        .body("{\"email\": 1}")
        .send()
        .await
        .unwrap();
    let body = error(res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(detail_fields(&body), ["email", "password"]);
    let res = admin.post("/api/tokens", &json!({"name": 7})).await;
    let body = error(res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(detail_fields(&body), ["name"]);
    let res = admin
        .post("/api/admin/users", &json!({"email": "a@b.example", "name": "A", "is_admin": "yes"}))
        .await;
    let body = error(res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(detail_fields(&body), ["is_admin"]);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app_with(AppOptions { body_limit_bytes: 1024, ..AppOptions::default() }).await;
    let admin = app.setup_admin().await;
    let bearer = app.api_token(&admin).await;
    let big = json!({"code": "123456", "password": "x".repeat(2000)});
    let res =
        plain().post(app.url(DISABLE)).bearer_auth(&bearer.token).json(&big).send().await.unwrap();
    error(res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    // Streamed without a Content-Length, too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b' '; 200])).collect();
    let res = plain()
        .post(app.url(DISABLE))
        .bearer_auth(&bearer.token)
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn the_default_limit_is_16_kib() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let bearer = app.api_token(&admin).await;
    let res = plain()
        .post(app.url(DISABLE))
        .bearer_auth(&bearer.token)
        .json(&json!({"code": "123456", "password": "x".repeat(17 * 1024)}))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    // Just under it is parsed (and answered by the use case).
    let res = plain()
        .post(app.url(DISABLE))
        .bearer_auth(&bearer.token)
        .json(&json!({"code": "123456", "password": "x".repeat(15 * 1024)}))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED").await;
}

#[tokio::test]
async fn a_body_of_another_content_type_is_415() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let bearer = app.api_token(&admin).await;
    let body = format!("{{\"code\": \"123456\", \"password\": \"{PASSWORD}\"}}");
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut req = plain().post(app.url(DISABLE)).bearer_auth(&bearer.token).body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        error(
            req.send().await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .await;
    }
    let res = plain()
        .post(app.url("/api/auth/login"))
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE").await;
    // `application/json; charset=utf-8` is JSON.
    let res = plain()
        .post(app.url(DISABLE))
        .bearer_auth(&bearer.token)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    error(res, StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED").await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_seed_shape() {
    let app = spawn_app().await;
    for path in ["/", "/nope", "/api/auth/mfa/disable/extra", "/api/tokens/a/b"] {
        let res = plain().get(app.url(path)).send().await.unwrap();
        error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }
    let res = plain().post(app.url("/api/unknown")).json(&json!({})).send().await.unwrap();
    error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    let res = plain().get(app.url(DISABLE)).send().await.unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    error(res, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    let res = plain().put(app.url("/api/tokens")).send().await.unwrap();
    error(res, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    let res = plain().delete(app.url("/api/health")).send().await.unwrap();
    error(res, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn malformed_path_and_query_parameters_are_400_naming_them() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let res = admin.delete("/api/tokens/not-a-uuid").await;
    let body = error(res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(detail_fields(&body), ["id"]);
    let res = admin.get("/api/admin/audit-log?limit=lots&user_id=x").await;
    let body = error(res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(detail_fields(&body), ["user_id", "limit"]);
    let res = admin.get("/api/admin/audit-log?limit=10").await;
    let page = json(res, StatusCode::OK).await;
    assert!(page["events"].as_array().is_some_and(|e| !e.is_empty()));
}

/// A database that is down is 503 (never a 500, never a hang), and the service recovers.
#[tokio::test]
async fn a_database_that_is_down_is_503_then_recovers() {
    let app =
        spawn_app_with(AppOptions { backend: Backend::Memory, ..AppOptions::default() }).await;
    let admin = app.setup_admin().await;
    let bearer = app.api_token(&admin).await;
    let store = app.memory.clone().unwrap();

    store.set_available(false);
    error(
        plain().get(app.url("/api/health")).send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let res = bearer.post(DISABLE, &json!({"code": "123456", "password": PASSWORD})).await;
    error(res, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE").await;

    store.set_available(true);
    let health =
        json(plain().get(app.url("/api/health")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(health, json!({"status": "ok"}));
    let res = bearer.post(DISABLE, &json!({"code": "123456", "password": PASSWORD})).await;
    error(res, StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED").await;
}
