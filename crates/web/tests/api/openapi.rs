//! The OpenAPI document lists exactly the routes the server serves, and the docs page
//! works with no internet.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use slugbase_testkit::{Api, TestApp, detail_fields};

#[tokio::test]
async fn openapi_json_is_3_1_and_lists_exactly_the_served_routes() {
    let app = TestApp::spawn().await;
    let doc = app.client().get("/openapi.json").await.expect(StatusCode::OK);
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
        let res = Api::exchange(app.client().request(method.clone(), &path)).await;
        let reason = res.reason();
        assert!(
            reason != "NOT_FOUND" && reason != "METHOD_NOT_ALLOWED",
            "{method} {path}: {res:?}"
        );
        assert!(res.status != StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
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
    // Its fields, and either `code` (the seed's body) or a passkey's answer.
    let either = &schema["allOf"][1]["oneOf"];
    assert_eq!(either[0]["required"], serde_json::json!(["code"]), "{schema}");
    assert_eq!(either[1]["required"], serde_json::json!(["ceremony_id", "credential"]));
    for status in ["200", "400", "401", "403", "429"] {
        assert!(disable["responses"][status].is_object(), "{status}");
    }
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let not_following =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = Api::exchange(not_following.get(app.url("/api-docs"))).await;
    assert_eq!(res.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers["location"], "/api-docs/");

    let res = client.get("/api-docs/").await;
    assert_eq!(res.status, StatusCode::OK);
    let html = res.body.as_str().unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet is local: nothing from a CDN.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "{html}");
    for asset in [
        "/api-docs/swagger-ui-bundle.js",
        "/api-docs/swagger-ui.css",
        "/api-docs/swagger-initializer.js",
    ] {
        let res = client.get(asset).await;
        assert_eq!(res.status, StatusCode::OK, "{asset}");
        let text = res.body.as_str().unwrap();
        assert!(text.len() > 100, "{asset}");
        if asset.ends_with("initializer.js") {
            assert!(text.contains("/openapi.json"), "{text}");
        }
    }
    // An unknown asset is a 404 in the contract's error shape, not the library's text.
    let res = client.get("/api-docs/no-such-file.js").await;
    res.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

/// Issue 22: the docs page could be framed. Every path under `/api-docs` (the redirect, the
/// page, each compiled-in file, an unknown one) carries the pages' header set.
#[tokio::test]
async fn every_docs_path_carries_the_pages_security_headers() {
    let app = TestApp::spawn().await;
    let not_following =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (path, status) in [
        ("/api-docs", StatusCode::PERMANENT_REDIRECT),
        ("/api-docs/", StatusCode::OK),
        ("/api-docs/index.html", StatusCode::OK),
        ("/api-docs/index.css", StatusCode::OK),
        ("/api-docs/swagger-ui.css", StatusCode::OK),
        ("/api-docs/swagger-ui-bundle.js", StatusCode::OK),
        ("/api-docs/swagger-ui-standalone-preset.js", StatusCode::OK),
        ("/api-docs/swagger-initializer.js", StatusCode::OK),
        ("/api-docs/favicon-32x32.png", StatusCode::OK),
        ("/api-docs/favicon-16x16.png", StatusCode::OK),
        ("/api-docs/oauth2-redirect.html", StatusCode::OK),
        ("/api-docs/no-such-file.js", StatusCode::NOT_FOUND),
        ("//api-docs//", StatusCode::OK),
    ] {
        let res = Api::exchange(not_following.get(app.url(path))).await;
        assert_eq!(res.status, status, "{path}");
        let header = |name: &str| {
            res.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        assert_eq!(header("content-security-policy"), slugbase_web::DOCS_CONTENT_SECURITY_POLICY);
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self';",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "connect-src 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-eval") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header("cross-origin-opener-policy"), "same-origin", "{path}");
    }
    // The account pages keep their own, stricter policy.
    let res = Api::exchange(not_following.get(app.url("/login"))).await;
    assert_eq!(res.headers["content-security-policy"], slugbase_web::CONTENT_SECURITY_POLICY);
}

/// Follows `$ref`s inside the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').unwrap();
            resolve(doc, doc.pointer(pointer).unwrap_or_else(|| panic!("{reference}")))
        }
        None => schema,
    }
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.clone(), path.clone(), op));
        }
    }
    ops
}

#[tokio::test]
async fn login_answers_the_user_or_mfa_required() {
    let doc = serde_json::to_value(slugbase_web::openapi()).unwrap();
    let ok = &doc["paths"]["/api/auth/login"]["post"]["responses"]["200"];
    let schema = resolve(&doc, &ok["content"]["application/json"]["schema"]);
    let one_of = schema["oneOf"].as_array().unwrap_or_else(|| panic!("{schema}"));
    assert_eq!(one_of.len(), 2, "{schema}");
    let user = resolve(&doc, &one_of[0]);
    let mfa = resolve(&doc, &one_of[1]);
    assert_eq!(user, &doc["components"]["schemas"]["UserView"]);
    assert!(user["required"].as_array().unwrap().contains(&json!("email")), "{user}");
    assert_eq!(mfa["required"], json!(["mfa_required"]), "{mfa}");
    assert_eq!(mfa["properties"]["mfa_required"]["type"], "boolean", "{mfa}");
}

#[tokio::test]
async fn every_operation_that_reads_a_body_documents_408_413_and_415() {
    let doc = serde_json::to_value(slugbase_web::openapi()).unwrap();
    let mut with_body = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        // enroll begin / cancel and the passkey ceremonies' begin steps take no fields but
        // still read (and judge) a body.
        let bodyless = [
            "/api/auth/passkeys/register/begin",
            "/api/auth/mfa/challenge",
            "/api/auth/passkeys/sign-in/begin",
            "/api/auth/mfa/verify/challenge",
        ];
        if op.get("requestBody").is_some()
            || path.starts_with("/api/auth/mfa/enroll/")
            || bodyless.contains(&path.as_str())
        {
            for status in ["408", "413", "415"] {
                let response = &op["responses"][status];
                assert!(response.is_object(), "{method} {path} lacks {status}");
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
            }
            with_body.insert(op["operationId"].as_str().unwrap().to_owned());
        }
    }
    let expected = [
        "setup",
        "login",
        "verify",
        "disable",
        "enroll_begin",
        "enroll_confirm",
        "enroll_cancel",
        "regenerate_backup_codes",
        "create_token",
        "create_user",
        "change_password",
        "passkey_register_begin",
        "passkey_register_finish",
        "rename_passkey",
        "remove_passkey",
        "passkey_challenge",
        "verify_passkey_challenge",
        "passkey_sign_in_begin",
        "passkey_sign_in_finish",
    ];
    assert_eq!(with_body, expected.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>());
}

#[tokio::test]
async fn path_ids_are_uuids_and_a_malformed_one_is_a_documented_400() {
    let doc = serde_json::to_value(slugbase_web::openapi()).unwrap();
    let mut seen = 0;
    for (method, path, op) in operations(&doc) {
        if !path.contains("{id}") {
            continue;
        }
        if path == "/api/auth/sessions/{id}" {
            // A session's public handle is 32 hex digits, not a UUID: any other text is a
            // session the caller does not have (404).
            assert!(op["responses"]["404"].is_object(), "{method} {path} lacks 404");
            continue;
        }
        seen += 1;
        let param = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "id" && p["in"] == "path")
            .unwrap_or_else(|| panic!("{method} {path}"));
        assert_eq!(param["schema"]["type"], "string", "{method} {path}");
        assert_eq!(param["schema"]["format"], "uuid", "{method} {path}");
        assert!(op["responses"]["400"].is_object(), "{method} {path} lacks 400");
    }
    assert_eq!(seen, 5);

    // And the server does answer 400 in the error shape.
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    for path in ["/api/tokens/not-a-uuid", "/api/admin/users/not-a-uuid"] {
        let body =
            admin.delete(path).await.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(detail_fields(&body), ["id"], "{path}");
    }
}

#[tokio::test]
async fn audit_log_parameters_are_typed_as_the_server_checks_them() {
    let doc = serde_json::to_value(slugbase_web::openapi()).unwrap();
    let params = doc["paths"]["/api/admin/audit-log"]["get"]["parameters"].as_array().unwrap();
    let param = |name: &str| {
        let p = params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(p["in"], "query", "{name}");
        assert_eq!(p["required"], false, "{name}");
        p["schema"].clone()
    };
    let known: Vec<Value> =
        slugbase_domain::AuditEventKind::ALL.iter().map(|k| json!(k.as_str())).collect();
    assert_eq!(param("event"), json!({"type": "string", "enum": known}));
    assert_eq!(param("user_id")["format"], "uuid");
    let limit = param("limit");
    assert_eq!(
        (&limit["type"], &limit["minimum"], &limit["maximum"]),
        (&json!("integer"), &json!(1), &json!(200))
    );
    let offset = param("offset");
    assert_eq!(
        (&offset["type"], &offset["minimum"], &offset["maximum"]),
        (&json!("integer"), &json!(0), &json!(u64::MAX))
    );

    // The edges of those ranges are the server's.
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    for (query, status) in [
        ("limit=1", StatusCode::OK),
        ("limit=200", StatusCode::OK),
        ("limit=0", StatusCode::BAD_REQUEST),
        ("limit=201", StatusCode::BAD_REQUEST),
        ("offset=0", StatusCode::OK),
        ("offset=18446744073709551615", StatusCode::OK),
        ("offset=-1", StatusCode::BAD_REQUEST),
        ("offset=18446744073709551616", StatusCode::BAD_REQUEST),
        ("event=user_deleted", StatusCode::OK),
        ("event=nope", StatusCode::BAD_REQUEST),
        ("user_id=not-a-uuid", StatusCode::BAD_REQUEST),
    ] {
        let res = admin.get(&format!("/api/admin/audit-log?{query}")).await;
        assert_eq!(res.status, status, "{query}");
    }
}

#[tokio::test]
async fn request_strings_carry_the_servers_length_rules() {
    let doc = serde_json::to_value(slugbase_web::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let lengths = |schema: &str, field: &str| {
        let s = &schemas[schema]["properties"][field];
        (s["minLength"].as_u64(), s["maxLength"].as_u64(), s["pattern"].is_string())
    };
    // Names are trimmed before their length is checked, so the pattern carries the bound
    // (1 + up to 98 + 1 characters between optional whitespace), not a maxLength.
    let name_bound = |schema: &str| {
        let pattern = schemas[schema]["properties"]["name"]["pattern"].as_str().unwrap();
        assert!(pattern.contains("{0,98}"), "{schema}: {pattern}");
    };
    assert_eq!(lengths("CreateTokenRequest", "name"), (Some(1), None, true));
    name_bound("CreateTokenRequest");
    for schema in ["CreateUserRequest", "SetupRequest"] {
        assert_eq!(lengths(schema, "email"), (Some(1), None, true), "{schema}");
        assert_eq!(lengths(schema, "name"), (Some(1), None, true), "{schema}");
        name_bound(schema);
        assert_eq!(lengths(schema, "password"), (Some(8), Some(128), false), "{schema}");
    }
    assert_eq!(schemas["CreateUserRequest"]["required"], json!(["email", "name"]));
    assert_eq!(schemas["SetupRequest"]["required"], json!(["email", "name", "password"]));
    assert_eq!(schemas["CreateTokenRequest"]["required"], json!(["name"]));

    // The server refuses exactly what those bounds exclude (users without a password: an
    // OIDC provider is configured).
    let app = slugbase_testkit::oidc::with_unreachable_provider(TestApp::builder()).spawn().await;
    let admin = app.setup_admin().await;
    for (name, status) in [
        (String::new(), StatusCode::BAD_REQUEST),
        ("   ".to_owned(), StatusCode::BAD_REQUEST),
        ("a\u{1}b".to_owned(), StatusCode::BAD_REQUEST),
        ("x".repeat(101), StatusCode::BAD_REQUEST),
        ("x".repeat(100), StatusCode::CREATED),
        (" label ".to_owned(), StatusCode::CREATED),
    ] {
        let res = admin.post("/api/tokens", json!({"name": name})).await;
        assert_eq!(res.status, status, "{name:?}");
    }
    for (email, name, status) in [
        ("", "", StatusCode::BAD_REQUEST),
        ("a@example.com", " ", StatusCode::BAD_REQUEST),
        ("a@example", "A", StatusCode::BAD_REQUEST),
        ("a@example.com", &"n".repeat(101), StatusCode::BAD_REQUEST),
        ("a@example.com", &"n".repeat(100), StatusCode::CREATED),
        (" B@Example.com ", " B ", StatusCode::CREATED),
    ] {
        let res = admin.post("/api/admin/users", json!({"email": email, "name": name})).await;
        assert_eq!(res.status, status, "{email:?} {name:?}");
    }
    let long_local = format!("{}@example.com", "l".repeat(254 - "@example.com".len()));
    let res = admin.post("/api/admin/users", json!({"email": long_local, "name": "L"})).await;
    assert_eq!(res.status, StatusCode::CREATED);
    let too_long = format!("l{long_local}");
    let res = admin.post("/api/admin/users", json!({"email": too_long, "name": "L"})).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // 8 to 128 characters, as the schema says ("12345678" is on the common list: 400 too).
    for (password, status) in [
        ("1234567".to_owned(), StatusCode::BAD_REQUEST),
        ("12345678".to_owned(), StatusCode::BAD_REQUEST),
        ("x7k2m9q4".to_owned(), StatusCode::CREATED),
        ("\u{e9}".repeat(128), StatusCode::CREATED),
        ("\u{e9}".repeat(129), StatusCode::BAD_REQUEST),
    ] {
        let email = format!("p{}-{}@example.com", password.len(), status.as_u16());
        let body = json!({"email": email, "name": "P", "password": password});
        assert_eq!(admin.post("/api/admin/users", &body).await.status, status, "{password}");
    }
}
