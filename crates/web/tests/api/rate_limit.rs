//! Issue 25 item 3 at the API: every response of a request that met an attempt limit says
//! how many tries are left, per limit, and when the window ends — the IETF `RateLimit-Policy`
//! and `RateLimit` fields — so a client can warn before the 429 and count down after it.

use reqwest::StatusCode;
use serde_json::json;
use slugbase_testkit::steps::{PASSWORD, login_pending};
use slugbase_testkit::{Reply, TestApp};

/// `(quota, window)` of each limit in `RateLimit-Policy`, by name.
fn policy(reply: &Reply) -> Vec<(String, u32, u32)> {
    let field = reply.header("ratelimit-policy").unwrap_or_else(|| panic!("no policy: {reply:?}"));
    items(field).into_iter().map(|(name, p)| (name, p["q"], p["w"])).collect()
}

/// `(remaining, reset)` of each limit in `RateLimit`, by name.
fn state(reply: &Reply) -> Vec<(String, u32, u32)> {
    let field = reply.header("ratelimit").unwrap_or_else(|| panic!("no state: {reply:?}"));
    items(field).into_iter().map(|(name, p)| (name, p["r"], p["t"])).collect()
}

/// A structured-field list of `"name";k=v;…` items (RFC 8941), as the tests need it read.
fn items(field: &str) -> Vec<(String, std::collections::HashMap<String, u32>)> {
    field
        .split(", ")
        .map(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap();
            assert!(name.starts_with('"') && name.ends_with('"'), "a string item: {field}");
            let params = parts
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.to_owned(), v.parse().unwrap_or_else(|_| panic!("an integer: {field}")))
                })
                .collect();
            (name.trim_matches('"').to_owned(), params)
        })
        .collect()
}

fn remaining(reply: &Reply, name: &str) -> u32 {
    state(reply).into_iter().find(|(n, ..)| n == name).map(|(_, r, _)| r).unwrap()
}

#[tokio::test]
async fn each_counted_try_says_how_many_are_left_and_a_429_says_none_until_the_window_ends() {
    let app = TestApp::builder()
        .with_config(|c| c.security.limits.password_account.max_failures = 3)
        .spawn()
        .await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "rl@example.com", Some(PASSWORD)).await;

    // Wrong passwords: the account's tries go down by one each, the window counts down.
    let wrong = json!({"email": "rl@example.com", "password": "not the password"});
    let first = app.client().post("/api/auth/login", &wrong).await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    let policies = policy(&first);
    assert_eq!(policies[0], ("account".to_owned(), 3, 900), "{policies:?}");
    assert_eq!(policies[1].0, "address");
    let (_, left, reset) = state(&first)[0].clone();
    assert_eq!(left, 2);
    assert!((1..=900).contains(&reset), "{reset}");
    let second = app.client().post("/api/auth/login", &wrong).await;
    assert_eq!(remaining(&second, "account"), 1);

    // The right password: its own try is given back, the earlier failures stay counted.
    let right = json!({"email": "rl@example.com", "password": PASSWORD});
    let ok = app.client().post("/api/auth/login", &right).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(remaining(&ok, "account"), 1);
    let third = app.client().post("/api/auth/login", &wrong).await;
    assert_eq!(remaining(&third, "account"), 0);

    // The 429: none left, and the reset is the Retry-After.
    let refused = app.client().post("/api/auth/login", &wrong).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let (_, left, reset) = state(&refused)[0].clone();
    assert_eq!(left, 0);
    assert_eq!(Some(reset.to_string().as_str()), refused.header("retry-after"));

    // A request that meets no limit carries no fields.
    let me = admin.get("/api/auth/me").await;
    assert!(me.header("ratelimit").is_none() && me.header("ratelimit-policy").is_none());
}

#[tokio::test]
async fn second_factor_tries_are_reported_at_verify_and_disable_alike() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "sf@example.com", Some(PASSWORD)).await;
    let user = app.login("sf@example.com", PASSWORD).await;
    let (secret, _codes) = app.enable_mfa(&user).await;

    let wrong = app.wrong_code(&secret);
    let res =
        user.post("/api/auth/mfa/disable", json!({"code": wrong, "password": PASSWORD})).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let before = remaining(&res, "account");
    // The login step of another browser counts against the same account's second factor.
    let browser = app.client();
    login_pending(&browser, "sf@example.com", PASSWORD).await;
    let res = browser.post("/api/auth/mfa/verify", json!({"code": app.wrong_code(&secret)})).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(remaining(&res, "account"), before - 1);
    // A body that is no guess gives its try back.
    let res = user.post("/api/auth/mfa/disable", json!({"code": 5})).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(remaining(&res, "account"), before - 1);
}

#[test]
fn the_document_names_both_fields_on_every_answer_of_the_operations_that_count_tries() {
    let doc = serde_json::to_value(slugbase_web::openapi()).unwrap();
    let mut counted = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let responses = op["responses"].as_object().unwrap();
            let with = responses.values().filter(|r| r["headers"].get("RateLimit").is_some());
            let n = with.count();
            if n > 0 {
                assert_eq!(n, responses.len(), "every answer of {}", op["operationId"]);
                assert!(responses.values().all(|r| r["headers"].get("RateLimit-Policy").is_some()));
                counted.push(op["operationId"].as_str().unwrap().to_owned());
            }
        }
    }
    counted.sort();
    let expected = [
        "change_password",
        "disable",
        "enroll_confirm",
        "login",
        "passkey_sign_in_finish",
        "regenerate_backup_codes",
        "remove_passkey",
        "verify",
    ];
    assert_eq!(counted, expected);
}
