//! Passkeys through the real server: a software authenticator (webauthn-authenticator-rs's
//! `SoftPasskey`) registers against the service at `http://localhost:<port>` — the RP ID is
//! the public URL's host, and WebAuthn needs a domain, not 127.0.0.1 — then the passkey is
//! listed, renamed and removed with the proof disabling MFA needs.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use slugbase_testkit::oidc::free_port;
use slugbase_testkit::steps::PASSWORD;
use slugbase_testkit::{Api, TestApp, detail_fields};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::CreationChallengeResponse;

pub(crate) const BEGIN: &str = "/api/auth/passkeys/register/begin";
pub(crate) const FINISH: &str = "/api/auth/passkeys/register/finish";
pub(crate) const LIST: &str = "/api/auth/passkeys";

/// The service on a port chosen first, so that its public URL — the WebAuthn origin — can
/// name it: `http://localhost:<port>`.
pub(crate) async fn app_on_localhost() -> (TestApp, Url) {
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let public = origin.clone();
    let app = TestApp::builder()
        .with_config(move |c| {
            c.server.port = port;
            c.server.public_base_url = public;
        })
        .spawn()
        .await;
    (app, Url::parse(&origin).unwrap())
}

/// A software authenticator that verifies its user (user verification is required).
pub(crate) fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

/// Begins a registration and has `authenticator` answer it for `origin`; the ceremony id
/// and the credential, as the browser would send them.
pub(crate) async fn answered(
    api: &Api,
    authenticator: &mut SoftPasskey,
    origin: &Url,
) -> (String, Value) {
    let begin = api.post(BEGIN, json!({})).await.expect(StatusCode::OK);
    let ceremony_id = begin["ceremony_id"].as_str().unwrap().to_owned();
    let options: CreationChallengeResponse = serde_json::from_value(begin["options"].clone())
        .unwrap_or_else(|e| panic!("creation options: {e}: {begin}"));
    let credential = authenticator.do_registration(origin.clone(), options).unwrap();
    (ceremony_id, serde_json::to_value(&credential).unwrap())
}

pub(crate) async fn events(admin: &Api, kind: &str) -> Vec<Value> {
    let page =
        admin.get(&format!("/api/admin/audit-log?event={kind}")).await.expect(StatusCode::OK);
    page["events"].as_array().cloned().unwrap_or_else(|| panic!("no events: {page}"))
}

#[tokio::test]
async fn a_passkey_is_registered_listed_renamed_and_removed_with_a_real_code_and_password() {
    let (app, origin) = app_on_localhost().await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "pk@example.com", Some(PASSWORD)).await;
    let user = app.login("pk@example.com", PASSWORD).await;

    // A passkey beside TOTP (passkeys alone: tests/api/passkey_only.rs).
    let (secret, _codes) = app.enable_mfa(&user).await;

    // Register, name it.
    let mut key = authenticator();
    let (ceremony_id, credential) = answered(&user, &mut key, &origin).await;
    let finish = json!({"ceremony_id": ceremony_id, "credential": credential, "name": " Laptop "});
    let created = user.post(FINISH, &finish).await.expect(StatusCode::CREATED);
    assert_eq!(created["name"], "Laptop", "{created}");
    assert_eq!(created["last_used_at"], Value::Null);
    let id = created["id"].as_str().unwrap().to_owned();

    // The ceremony was taken: the same answer again is refused, and stores nothing.
    let replayed = user.post(FINISH, &finish).await;
    let body = replayed.expect_error(StatusCode::BAD_REQUEST, "PASSKEY_CEREMONY_INVALID");
    assert_eq!(detail_fields(&body), ["ceremony_id"]);

    let listed = user.get(LIST).await.expect(StatusCode::OK);
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let entry = &listed[0];
    assert_eq!((entry["id"].as_str(), entry["name"].as_str()), (Some(id.as_str()), Some("Laptop")));
    for field in ["created_at", "last_used_at", "backup_eligible", "backed_up"] {
        assert!(entry.get(field).is_some(), "{field}: {entry}");
    }
    assert!(entry.get("credential").is_none() && entry.get("passkey").is_none(), "{entry}");

    // Rename: validated, and only one's own.
    let path = format!("{LIST}/{id}");
    let renamed = user.send(Method::PATCH, &path, Some(&json!({"name": "Work laptop"}))).await;
    renamed.unwrap().expect(StatusCode::OK);
    let bad = user.send(Method::PATCH, &path, Some(&json!({"name": "a\nb"}))).await.unwrap();
    let body = bad.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["name"]);
    let listed = user.get(LIST).await.expect(StatusCode::OK);
    assert_eq!(listed[0]["name"], "Work laptop");

    // Someone else's passkey is not found, whatever they send.
    app.create_user(&admin, "other@example.com", Some(PASSWORD)).await;
    let other = app.login("other@example.com", PASSWORD).await;
    let (other_secret, _) = app.enable_mfa(&other).await;
    let stolen = other.send(Method::PATCH, &path, Some(&json!({"name": "Mine"}))).await.unwrap();
    stolen.expect_error(StatusCode::NOT_FOUND, "PASSKEY_NOT_FOUND");
    let code = app.fresh_code(&other_secret);
    let remove = format!("{path}/remove");
    let stolen = other.post(&remove, json!({"code": code, "password": PASSWORD})).await;
    stolen.expect_error(StatusCode::NOT_FOUND, "PASSKEY_NOT_FOUND");

    // Removal needs the proof disabling MFA needs.
    let body = user
        .post(&remove, json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["code"]);
    let code = app.fresh_code(&secret);
    let res = user.post(&remove, json!({"code": code})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "PASSWORD_REQUIRED");
    let wrong = app.wrong_code(&secret);
    let res = user.post(&remove, json!({"code": wrong, "password": PASSWORD})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");
    let code = app.fresh_code(&secret);
    let res = user.post(&remove, json!({"code": code, "password": "not the password"})).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSWORD");
    assert_eq!(user.get(LIST).await.expect(StatusCode::OK).as_array().unwrap().len(), 1);

    let code = app.fresh_code(&secret);
    let removed = user.post(&remove, json!({"code": code, "password": PASSWORD})).await;
    assert_eq!(removed.expect(StatusCode::OK), json!({"ok": true}));
    assert_eq!(user.get(LIST).await.expect(StatusCode::OK), json!([]));
    let again =
        user.post(&remove, json!({"code": app.fresh_code(&secret), "password": PASSWORD})).await;
    again.expect_error(StatusCode::NOT_FOUND, "PASSKEY_NOT_FOUND");
    let status = user.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], true, "TOTP stays on");

    // Audited, with the notices in the outbox; no credential in any of it.
    assert_eq!(events(&admin, "passkey_added").await.len(), 1);
    assert_eq!(events(&admin, "passkey_removed").await.len(), 1);
    let failures = events(&admin, "passkey_remove_fail").await;
    let reasons: Vec<_> = failures.iter().map(|e| e["reason"].clone()).collect();
    assert!(reasons.contains(&json!("INVALID_CODE")), "{reasons:?}");
    assert!(!events(&admin, "passkey_add_fail").await.is_empty(), "the replayed finish");
    let outbox = admin.get("/api/admin/outbox").await.expect(StatusCode::OK);
    let kinds: Vec<_> =
        outbox["notices"].as_array().unwrap().iter().map(|n| n["kind"].clone()).collect();
    assert!(kinds.contains(&json!("passkey_added")), "{kinds:?}");
    assert!(kinds.contains(&json!("passkey_removed")), "{kinds:?}");
    let everything = format!("{outbox} {}", admin.get("/api/admin/audit-log").await.body);
    assert!(!everything.contains(credential_id(&credential)), "no credential id in the log");
}

/// The credential id as the browser sends it.
fn credential_id(credential: &Value) -> &str {
    credential["id"].as_str().unwrap()
}

#[tokio::test]
async fn bad_answers_to_a_registration_get_clear_errors_never_a_500() {
    let (app, origin) = app_on_localhost().await;
    let admin = app.setup_admin().await;
    app.enable_mfa(&admin).await;

    let begin = admin.post(BEGIN, json!({})).await.expect(StatusCode::OK);
    let ceremony_id = begin["ceremony_id"].as_str().unwrap().to_owned();

    // Field types.
    let res = admin.post(FINISH, json!({"ceremony_id": 5, "credential": "x"})).await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["ceremony_id", "credential"]);
    // A credential that does not parse: refused, and the ceremony is spent with it.
    let res = admin
        .post(FINISH, json!({"ceremony_id": ceremony_id, "credential": {"id": 1, "type": []}}))
        .await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "PASSKEY_REJECTED");
    assert_eq!(detail_fields(&body), ["credential"]);
    let res = admin.post(FINISH, json!({"ceremony_id": ceremony_id, "credential": {}})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "PASSKEY_CEREMONY_INVALID");
    // An unknown ceremony.
    let res = admin.post(FINISH, json!({"ceremony_id": "nope", "credential": {}})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "PASSKEY_CEREMONY_INVALID");

    // An answer made for another origin fails verification.
    let mut key = authenticator();
    let phishing = Url::parse("http://localhost:1").unwrap();
    let (ceremony_id, credential) = answered(&admin, &mut key, &phishing).await;
    let res =
        admin.post(FINISH, json!({"ceremony_id": ceremony_id, "credential": credential})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "PASSKEY_REJECTED");

    // An expired ceremony.
    let (ceremony_id, credential) = answered(&admin, &mut key, &origin).await;
    app.clock.advance(chrono::TimeDelta::seconds(301));
    let res =
        admin.post(FINISH, json!({"ceremony_id": ceremony_id, "credential": credential})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "PASSKEY_CEREMONY_INVALID");

    // A bad name refuses before the ceremony is spent; a good one then registers.
    let (ceremony_id, credential) = answered(&admin, &mut key, &origin).await;
    let long = "x".repeat(65);
    let res = admin
        .post(FINISH, json!({"ceremony_id": ceremony_id, "credential": credential, "name": long}))
        .await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["name"]);
    let res =
        admin.post(FINISH, json!({"ceremony_id": ceremony_id, "credential": credential})).await;
    assert_eq!(res.expect(StatusCode::CREATED)["name"], "Passkey");

    // A path id that is not a UUID.
    let res =
        admin.send(Method::PATCH, "/api/auth/passkeys/nope", Some(&json!({"name": "x"}))).await;
    res.unwrap().expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
}

#[tokio::test]
async fn passkeys_are_unavailable_while_the_public_url_names_an_ip_address() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.enable_mfa(&admin).await;
    let res = admin.post(BEGIN, json!({})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "PASSKEYS_UNAVAILABLE");
    assert_eq!(admin.get(LIST).await.expect(StatusCode::OK), json!([]));
}
