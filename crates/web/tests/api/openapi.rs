//! The OpenAPI document lists exactly the routes the server serves, and the docs page
//! works with no internet.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{json, plain, spawn_app};

#[tokio::test]
async fn openapi_json_is_3_1_and_lists_exactly_the_served_routes() {
    let app = spawn_app().await;
    let doc =
        json(plain().get(app.url("/openapi.json")).send().await.unwrap(), StatusCode::OK).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);

    // The document's operations are the route table's, one for one.
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete", "head", "options", "trace"]
                .contains(&method.as_str())
            {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let registered: BTreeSet<(String, String)> = slugbase_web::route_list().into_iter().collect();
    assert_eq!(documented, registered);
    for expected in [
        ("POST", "/api/auth/mfa/disable"),
        ("GET", "/api/csrf-token"),
        ("DELETE", "/api/tokens/{id}"),
        ("POST", "/api/admin/users/{id}/mfa/reset"),
        ("GET", "/api-docs"),
    ] {
        assert!(
            documented.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?}"
        );
    }

    // What OpenAPI 3.1 requires of each operation (checked with openapi-spec-validator
    // once; these are the rules a change here could break).
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["operationId"].is_string(), "{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}");
            for (status, response) in responses {
                assert!(response["description"].is_string(), "{method} {path} {status}");
            }
        }
    }

    // And the server answers every documented operation (not with its 404/405).
    for (method, path) in &documented {
        let path = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let res = plain().request(method.clone(), app.url(&path)).send().await.unwrap();
        let status = res.status();
        let body: Option<Value> = res.json().await.ok();
        let reason = body.as_ref().and_then(|b| b["reason"].as_str()).unwrap_or("");
        assert!(
            reason != "NOT_FOUND" && reason != "METHOD_NOT_ALLOWED",
            "{method} {path}: {status} {body:?}"
        );
        assert!(status != StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
}

#[tokio::test]
async fn the_document_carries_both_security_schemes_and_the_seed_text() {
    let doc = serde_json::to_value(slugbase_web::openapi()).unwrap();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session_cookie"]["type"], "apiKey");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "slugbase.sid");
    assert_eq!(schemes["bearer_token"]["type"], "http");
    assert_eq!(schemes["bearer_token"]["scheme"], "bearer");

    let disable = &doc["paths"]["/api/auth/mfa/disable"]["post"];
    let description = disable["description"].as_str().unwrap();
    assert!(description.contains("Requires a valid TOTP or unused backup code. Local (password) users must also send password."));
    assert!(description.contains("OIDC-only users omit password."));
    assert!(description.contains("curl -X POST \"//api/auth/mfa/disable\""));
    assert!(description.contains("-H \"Authorization: Bearer YOUR_API_TOKEN (API token)\""));
    for example in [
        "response = requests.post(url, headers=headers, json=data)",
        "const response = await fetch(\"//api/auth/mfa/disable\", {",
        "req.Header.Set(\"Authorization\", \"Bearer YOUR_API_TOKEN (API token)\")",
        "request = Net::HTTP::Post.new(uri)",
    ] {
        assert!(description.contains(example), "{example}");
    }
    assert_eq!(disable["summary"], "Disable MFA");
    let security = disable["security"].as_array().unwrap();
    assert_eq!(security.len(), 2);
    let body = &disable["requestBody"]["content"]["application/json"]["schema"];
    assert!(body.to_string().contains("BothFactorsRequest"), "{body}");
    let schema = &doc["components"]["schemas"]["BothFactorsRequest"];
    assert_eq!(schema["required"], serde_json::json!(["code"]));
    for status in ["200", "400", "401", "403", "429"] {
        assert!(disable["responses"][status].is_object(), "{status}");
    }
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary() {
    let app = spawn_app().await;
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = client.get(app.url("/api-docs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers()["location"], "/api-docs/");

    let res = plain().get(app.url("/api-docs/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet is local: nothing from a CDN.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "{html}");
    for asset in [
        "/api-docs/swagger-ui-bundle.js",
        "/api-docs/swagger-ui.css",
        "/api-docs/swagger-initializer.js",
    ] {
        let res = plain().get(app.url(asset)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        let text = res.text().await.unwrap();
        assert!(text.len() > 100, "{asset}");
        if asset.ends_with("initializer.js") {
            assert!(text.contains("/openapi.json"), "{text}");
        }
    }
    // An unknown asset is a 404 in the seed's shape, not the library's text.
    let res = plain().get(app.url("/api-docs/no-such-file.js")).send().await.unwrap();
    crate::helpers::error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}
