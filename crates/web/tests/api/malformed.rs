//! Every malformed input gets the contract's error shape with the right status; never HTML,
//! never a 500 for a client's mistake.

use reqwest::{Method, StatusCode};
use serde_json::json;
use slugbase_testkit::steps::PASSWORD;
use slugbase_testkit::{Api, Backend, TestApp, assert_seed_shape, detail_fields};

const DISABLE: &str = "/api/auth/mfa/disable";

/// An app with its first administrator and a client carrying only their API token.
async fn app_with_bearer(app: TestApp) -> (TestApp, Api, Api) {
    let admin = app.setup_admin().await;
    let bearer = app.api_token(&admin).await;
    (app, admin, bearer)
}

#[tokio::test]
async fn bad_json_and_wrong_types_are_400_naming_the_field() {
    let (app, admin, bearer) = app_with_bearer(TestApp::spawn().await).await;
    let post_raw = |body: &'static str| bearer.post_raw(DISABLE, Some("application/json"), body);
    for raw in ["{", "{\"code\": }", "not json", "{\"code\": \"1\",}"] {
        let body = post_raw(raw).await.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(detail_fields(&body), ["body"], "{raw}");
    }
    for raw in ["[]", "\"code\"", "42", "null"] {
        let body = post_raw(raw).await.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
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
        let body = post_raw(raw).await.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(detail_fields(&body), fields, "{raw}");
    }
    // Other endpoints parse the same way.
    let res =
        app.client().post_raw("/api/auth/login", Some("application/json"), "{\"email\": 1}").await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["email", "password"]);
    let res = admin.post("/api/tokens", json!({"name": 7})).await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["name"]);
    let res = admin
        .post("/api/admin/users", json!({"email": "a@b.example", "name": "A", "is_admin": "yes"}))
        .await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["is_admin"]);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = TestApp::builder().with_config(|c| c.server.body_limit_bytes = 1024).spawn().await;
    let (_app, _admin, bearer) = app_with_bearer(app).await;
    let big = json!({"code": "123456", "password": "x".repeat(2000)});
    let res = bearer.post(DISABLE, big).await;
    res.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    // Streamed without a Content-Length, too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b' '; 200])).collect();
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let res = bearer.post_raw(DISABLE, Some("application/json"), stream).await;
    res.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn the_default_limit_is_16_kib() {
    let (_app, _admin, bearer) = app_with_bearer(TestApp::spawn().await).await;
    let res =
        bearer.post(DISABLE, json!({"code": "123456", "password": "x".repeat(17 * 1024)})).await;
    res.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    // Just under it is parsed (and answered by the use case).
    let res =
        bearer.post(DISABLE, json!({"code": "123456", "password": "x".repeat(15 * 1024)})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED");
}

#[tokio::test]
async fn a_body_of_another_content_type_is_415() {
    let (app, _admin, bearer) = app_with_bearer(TestApp::spawn().await).await;
    let body = format!("{{\"code\": \"123456\", \"password\": \"{PASSWORD}\"}}");
    let disable = |content_type| bearer.post_raw(DISABLE, content_type, body.clone());
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let res = disable(content_type).await;
        res.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    }
    let res = app.client().post_raw("/api/auth/login", Some("text/plain"), "{}").await;
    res.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    // `application/json; charset=utf-8` is JSON.
    let res = disable(Some("application/json; charset=utf-8")).await;
    res.expect_error(StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED");
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_seed_shape() {
    let app = TestApp::spawn().await;
    let client = app.client();
    // (`/` is the account page: crates/web/tests/pages.rs.)
    for path in ["/nope", "/assets/nope.js", "/api/auth/mfa/disable/extra", "/api/tokens/a/b"] {
        client.get(path).await.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    client.post("/api/unknown", json!({})).await.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    let res = client.get(DISABLE).await;
    assert_eq!(res.headers["allow"], "POST");
    res.expect_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    let res = Api::exchange(client.request(Method::PUT, "/api/tokens")).await;
    res.expect_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    let res = client.delete("/api/health").await;
    res.expect_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn malformed_path_and_query_parameters_are_400_naming_them() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let res = admin.delete("/api/tokens/not-a-uuid").await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["id"]);
    let res = admin.get("/api/admin/audit-log?limit=lots&user_id=x").await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["user_id", "limit"]);
    let res = admin.get("/api/admin/audit-log?limit=10").await;
    let page = res.expect(StatusCode::OK);
    assert!(page["events"].as_array().is_some_and(|e| !e.is_empty()));
}

/// A database that is down is 503 (never a 500, never a hang), and the service recovers.
#[tokio::test]
async fn a_database_that_is_down_is_503_then_recovers() {
    let app = TestApp::builder().backend(Backend::Memory).spawn().await;
    let (app, _admin, bearer) = app_with_bearer(app).await;
    let store = app.memory.clone().unwrap();

    store.set_available(false);
    // Health: the contract's error shape plus `"status": "unavailable"`, and when to retry.
    let res = app.client().get("/api/health").await;
    assert_eq!(res.retry_after(), Some(5), "{res:?}");
    let mut body = res.expect(StatusCode::SERVICE_UNAVAILABLE);
    let status = body.as_object_mut().and_then(|o| o.remove("status"));
    assert_eq!(status, Some(json!("unavailable")), "{body}");
    assert_seed_shape(&body, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "DATABASE_UNAVAILABLE", "{body}");
    let res = bearer.post(DISABLE, json!({"code": "123456", "password": PASSWORD})).await;
    assert_eq!(res.retry_after(), Some(5), "{res:?}");
    res.expect_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");

    store.set_available(true);
    let health = app.client().get("/api/health").await.expect(StatusCode::OK);
    assert_eq!(health, json!({"status": "ok"}));
    let res = bearer.post(DISABLE, json!({"code": "123456", "password": PASSWORD})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "MFA_NOT_ENABLED");
}

#[tokio::test]
async fn a_body_with_a_key_given_twice_is_400_naming_it_on_every_json_endpoint() {
    // Setup, before there is an administrator.
    let fresh = TestApp::spawn().await;
    let res = fresh
        .client()
        .post_raw(
            "/api/auth/setup",
            Some("application/json"),
            r#"{"email":"root@example.com","name":"Root","password":"a long password 1","email":"other@example.com"}"#,
        )
        .await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["email"]);

    let (app, admin, bearer) = app_with_bearer(TestApp::spawn().await).await;
    let cases: [(&Api, &str, &str, &str); 6] = [
        (&bearer, "/api/tokens", r#"{"name":"first","name":"second"}"#, "name"),
        // The same key after unescaping.
        (&bearer, "/api/tokens", r#"{"n\u0061me":"first","name":"second"}"#, "name"),
        (&bearer, DISABLE, r#"{"code":"123456","password":"x","code":"654321"}"#, "code"),
        (
            &admin,
            "/api/admin/users",
            r#"{"email":"a@example.com","name":"A","is_admin":false,"is_admin":true}"#,
            "is_admin",
        ),
        // At depth, named by its path.
        (
            &bearer,
            "/api/tokens",
            r#"{"name":"n","extra":{"inner":[{"k":1,"k":2}]}}"#,
            "extra.inner[0].k",
        ),
        (
            &app.client(),
            "/api/auth/login",
            r#"{"email":"a@example.com","password":"x","password":"y"}"#,
            "password",
        ),
    ];
    for (api, path, raw, field) in cases {
        let res = api.post_raw(path, Some("application/json"), raw).await;
        let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(detail_fields(&body), [field], "{path} {raw}");
    }
    // The same keys once each are accepted.
    let res = bearer.post_raw("/api/tokens", Some("application/json"), r#"{"name":"once"}"#).await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
}
