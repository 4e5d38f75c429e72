//! MFA with passkeys alone, through the real server and a software authenticator: the first
//! passkey of an account without MFA turns MFA on and shows the backup codes once; the login
//! then asks for the passkey or a backup code (never a TOTP code the account cannot have);
//! the last factor is not removed with a passkey, and MFA goes off with a passkey or a
//! backup code.

use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_testkit::steps::{PASSWORD, login_pending};
use slugbase_testkit::{Api, TestApp};
use url::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::passkey_proof::{CHALLENGE, VERIFY, VERIFY_CHALLENGE, assertion};
use crate::passkeys::{FINISH, LIST, answered, app_on_localhost, authenticator, events};

const EMAIL: &str = "alone@example.com";
const STATUS: &str = "/api/auth/mfa/status";

/// An account with MFA off, signed in: the admin's client and the user's.
async fn account_without_mfa(app: &TestApp) -> (Api, Api) {
    let admin = app.setup_admin().await;
    app.create_user(&admin, EMAIL, Some(PASSWORD)).await;
    let user = app.login(EMAIL, PASSWORD).await;
    (admin, user)
}

/// Registers a passkey held by `key`; the registration's answer.
async fn register(user: &Api, key: &mut SoftPasskey, origin: &Url) -> Value {
    let (ceremony_id, credential) = answered(user, key, origin).await;
    let finish = json!({"ceremony_id": ceremony_id, "credential": credential});
    user.post(FINISH, &finish).await.expect(StatusCode::CREATED)
}

fn codes_of(registered: &Value) -> Vec<String> {
    let codes = registered["backup_codes"].as_array().unwrap_or_else(|| panic!("{registered}"));
    codes.iter().map(|c| c.as_str().unwrap().to_owned()).collect()
}

/// A new browser with the password step of a login done.
async fn pending(app: &TestApp) -> Api {
    let api = app.client();
    login_pending(&api, EMAIL, PASSWORD).await;
    api
}

#[tokio::test]
async fn a_first_passkey_turns_mfa_on_with_codes_shown_once_and_the_login_asks_for_no_totp() {
    let (app, origin) = app_on_localhost().await;
    let (admin, user) = account_without_mfa(&app).await;
    let status = user.get(STATUS).await.expect(StatusCode::OK);
    assert_eq!(
        (&status["enabled"], &status["totp"], &status["passkeys"]),
        (&json!(false), &json!(false), &json!(0))
    );

    // The first passkey: MFA on, ten codes shown this once.
    let mut key = authenticator();
    let first = register(&user, &mut key, &origin).await;
    let codes = codes_of(&first);
    assert_eq!(codes.len(), 10, "{first}");
    assert!(codes.iter().all(|c| c.len() == 16), "{first}");
    let status = user.get(STATUS).await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!((&status["totp"], &status["passkeys"]), (&json!(false), &json!(1)), "{status}");
    assert_eq!(status["backup_codes_remaining"], 10, "{status}");
    let on = events(&admin, "mfa_enroll_confirm_success").await;
    assert_eq!(on.len(), 1, "{on:?}");
    assert_eq!(on[0]["proof"], "passkey", "{on:?}");
    assert_eq!(events(&admin, "passkey_added").await.len(), 1);
    // The codes are never shown again: a second passkey comes without them.
    let mut spare = authenticator();
    let second = register(&user, &mut spare, &origin).await;
    assert!(second.get("backup_codes").is_none(), "{second}");
    assert_eq!(user.get(LIST).await.expect(StatusCode::OK).as_array().map(Vec::len), Some(2));

    // The login goes to the second step, which knows there is no TOTP to ask for.
    let browser = pending(&app).await;
    let account = browser.get("/api/auth/mfa/pending").await.expect(StatusCode::OK);
    assert_eq!((&account["passkeys"], &account["totp"]), (&json!(true), &json!(false)));
    // A six-digit code proves nothing (there is no TOTP secret), and is no 500.
    let res = browser.post(VERIFY, json!({"code": "123456"})).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CODE");
    // A backup code signs in.
    let me = browser.post(VERIFY, json!({"code": codes[0]})).await.expect(StatusCode::OK);
    assert_eq!(me["email"], EMAIL, "{me}");
    // So does the passkey.
    let browser = pending(&app).await;
    let answer = assertion(&browser, VERIFY_CHALLENGE, &mut key, &origin).await;
    let me = browser.post(VERIFY, &answer).await.expect(StatusCode::OK);
    assert_eq!(me["email"], EMAIL, "{me}");
    browser.get("/api/auth/me").await.expect(StatusCode::OK);

    // TOTP may be added beside the passkeys without MFA going off.
    let (secret, totp_codes) = app.enable_mfa(&user).await;
    assert_eq!(totp_codes.len(), 10);
    let status = user.get(STATUS).await.expect(StatusCode::OK);
    assert_eq!(
        (&status["enabled"], &status["totp"], &status["passkeys"]),
        (&json!(true), &json!(true), &json!(2))
    );
    let browser = pending(&app).await;
    let account = browser.get("/api/auth/mfa/pending").await.expect(StatusCode::OK);
    assert_eq!(account["totp"], true, "{account}");
    let code = app.fresh_code(&secret);
    browser.post(VERIFY, json!({"code": code})).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn the_last_factor_stays_and_mfa_goes_off_with_a_passkey_or_a_backup_code() {
    let (app, origin) = app_on_localhost().await;
    let (admin, user) = account_without_mfa(&app).await;
    let mut key = authenticator();
    let codes = codes_of(&register(&user, &mut key, &origin).await);
    let listed = user.get(LIST).await.expect(StatusCode::OK);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let remove = format!("{LIST}/{id}/remove");

    // The only factor: 409, pointing to disable; the code is not spent, no attempt counted.
    let res = user.post(&remove, json!({"code": codes[0], "password": PASSWORD})).await;
    let body = res.expect_error(StatusCode::CONFLICT, "LAST_SECOND_FACTOR");
    assert!(body.to_string().contains("/api/auth/mfa/disable"), "{body}");
    assert!(!body.to_string().contains(&codes[0]), "no code in the answer");
    let status = user.get(STATUS).await.expect(StatusCode::OK);
    assert_eq!(status["backup_codes_remaining"], 10, "{status}");
    assert_eq!(user.get(LIST).await.expect(StatusCode::OK).as_array().map(Vec::len), Some(1));

    // With a second passkey, one may go (with a backup code); then the other is the last.
    let mut spare = authenticator();
    register(&user, &mut spare, &origin).await;
    user.post(&remove, json!({"code": codes[0], "password": PASSWORD}))
        .await
        .expect(StatusCode::OK);
    let listed = user.get(LIST).await.expect(StatusCode::OK);
    let other = listed[0]["id"].as_str().unwrap().to_owned();
    let res = user
        .post(&format!("{LIST}/{other}/remove"), json!({"code": codes[1], "password": PASSWORD}))
        .await;
    res.expect_error(StatusCode::CONFLICT, "LAST_SECOND_FACTOR");

    // MFA off with the passkey (and the password): every factor goes.
    let mut body = assertion(&user, CHALLENGE, &mut spare, &origin).await;
    body["password"] = json!(PASSWORD);
    user.post("/api/auth/mfa/disable", &body).await.expect(StatusCode::OK);
    let status = user.get(STATUS).await.expect(StatusCode::OK);
    assert_eq!((&status["enabled"], &status["passkeys"]), (&json!(false), &json!(0)), "{status}");
    assert_eq!(user.get(LIST).await.expect(StatusCode::OK), json!([]));

    // On again with a passkey; off with a backup code (and the password).
    let mut again = authenticator();
    let codes = codes_of(&register(&user, &mut again, &origin).await);
    let res = user.post("/api/auth/mfa/disable", json!({"code": codes[9]})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "PASSWORD_REQUIRED");
    let off = json!({"code": codes[9], "password": PASSWORD});
    user.post("/api/auth/mfa/disable", &off).await.expect(StatusCode::OK);
    let status = user.get(STATUS).await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], false, "{status}");
    let proofs: Vec<Value> =
        events(&admin, "mfa_disable_success").await.iter().map(|e| e["proof"].clone()).collect();
    assert_eq!(proofs, [json!("backup_code"), json!("passkey")], "newest first");
    // Signing in needs the password only again.
    app.login(EMAIL, PASSWORD).await;
}

#[tokio::test]
async fn two_first_registrations_at_once_issue_the_codes_once() {
    let (app, origin) = app_on_localhost().await;
    let (admin, user) = account_without_mfa(&app).await;
    let (mut one, mut two) = (authenticator(), authenticator());
    let (id_one, cred_one) = answered(&user, &mut one, &origin).await;
    let (id_two, cred_two) = answered(&user, &mut two, &origin).await;
    let first = json!({"ceremony_id": id_one, "credential": cred_one});
    let second = json!({"ceremony_id": id_two, "credential": cred_two});
    let (a, b) = tokio::join!(user.post(FINISH, &first), user.post(FINISH, &second));
    let (a, b) = (a.expect(StatusCode::CREATED), b.expect(StatusCode::CREATED));
    let with_codes = [&a, &b].iter().filter(|r| r.get("backup_codes").is_some()).count();
    assert_eq!(with_codes, 1, "{a} {b}");
    let status = user.get(STATUS).await.expect(StatusCode::OK);
    assert_eq!((&status["passkeys"], &status["backup_codes_remaining"]), (&json!(2), &json!(10)));
    assert_eq!(events(&admin, "mfa_enroll_confirm_success").await.len(), 1);
    assert_eq!(events(&admin, "passkey_added").await.len(), 2);
}

#[tokio::test]
async fn a_user_the_policy_holds_to_enrolment_enrols_with_a_first_passkey() {
    // Arrange: every account must have MFA, with no grace period; the administrator enrols
    // with TOTP, the user signs in and is held to enrolment.
    let port = slugbase_testkit::oidc::free_port();
    let origin = format!("http://localhost:{port}");
    let public = origin.clone();
    let app = TestApp::builder()
        .with_config(move |c| {
            c.server.port = port;
            c.server.public_base_url = public;
            c.security.require_mfa = Some(slugbase_server::config::RequireMfa::All);
            c.security.grace_days = 0;
        })
        .spawn()
        .await;
    let admin = app.setup_admin().await;
    app.enable_mfa(&admin).await;
    app.create_user(&admin, EMAIL, Some(PASSWORD)).await;
    let user = app.login(EMAIL, PASSWORD).await;
    user.get("/api/tokens").await.expect_error(StatusCode::FORBIDDEN, "MFA_ENROLLMENT_REQUIRED");

    // Act: a passkey is enrolment too.
    let mut key = authenticator();
    let registered = register(&user, &mut key, &Url::parse(&origin).unwrap()).await;

    // Assert: MFA on with its codes, and the same session reaches everything again.
    assert_eq!(codes_of(&registered).len(), 10, "{registered}");
    let status = user.get(STATUS).await.expect(StatusCode::OK);
    assert_eq!((&status["enabled"], &status["policy_status"]), (&json!(true), &json!("enrolled")));
    user.get("/api/tokens").await.expect(StatusCode::OK);
}
