//! A passkey as the proof of possession, through the real server and a software
//! authenticator: the login's second step, disable and backup-code regeneration — and the
//! answers that must prove nothing: a replayed assertion, an answer whose counter fell
//! behind (a cloned authenticator), an answer sent with a code.

use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_testkit::oidc::free_port;
use slugbase_testkit::steps::{PASSWORD, login_pending};
use slugbase_testkit::{Api, TestApp, detail_fields};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::RequestChallengeResponse;

use crate::passkeys::{FINISH, LIST, answered, app_on_localhost, authenticator, events};

pub(crate) const VERIFY: &str = "/api/auth/mfa/verify";
pub(crate) const VERIFY_CHALLENGE: &str = "/api/auth/mfa/verify/challenge";
pub(crate) const CHALLENGE: &str = "/api/auth/mfa/challenge";
const EMAIL: &str = "pk@example.com";

/// An account with MFA on and one passkey: the admin's client, the user's signed-in client,
/// the TOTP secret and the authenticator holding the passkey.
async fn account_with_a_passkey(app: &TestApp, origin: &Url) -> (Api, Api, String, SoftPasskey) {
    let admin = app.setup_admin().await;
    app.create_user(&admin, EMAIL, Some(PASSWORD)).await;
    let user = app.login(EMAIL, PASSWORD).await;
    let (secret, _codes) = app.enable_mfa(&user).await;
    let mut key = authenticator();
    let (ceremony_id, credential) = answered(&user, &mut key, origin).await;
    let finish = json!({"ceremony_id": ceremony_id, "credential": credential});
    user.post(FINISH, &finish).await.expect(StatusCode::CREATED);
    (admin, user, secret, key)
}

/// Asks `api` for a challenge at `path` and has `key` answer it for `origin`: the body to
/// send in place of a code (`ceremony_id` and `credential`).
pub(crate) async fn assertion(api: &Api, path: &str, key: &mut SoftPasskey, origin: &Url) -> Value {
    let begin = api.post(path, json!({})).await.expect(StatusCode::OK);
    let public_key = &begin["options"]["publicKey"];
    assert_eq!(public_key["userVerification"], "required", "{begin}");
    let options: RequestChallengeResponse = serde_json::from_value(begin["options"].clone())
        .unwrap_or_else(|e| panic!("request options: {e}: {begin}"));
    let credential = key.do_authentication(origin.clone(), options).unwrap();
    json!({"ceremony_id": begin["ceremony_id"], "credential": credential})
}

/// A new browser with the password step of a login done.
async fn pending(app: &TestApp) -> Api {
    let api = app.client();
    login_pending(&api, EMAIL, PASSWORD).await;
    api
}

fn proofs(events: &[Value]) -> Vec<Value> {
    events.iter().map(|e| e["proof"].clone()).collect()
}

#[tokio::test]
async fn a_login_steps_up_with_a_passkey_and_a_replayed_or_fallen_behind_answer_is_refused() {
    let (app, origin) = app_on_localhost().await;
    let (admin, _user, _secret, mut key) = account_with_a_passkey(&app, &origin).await;

    // Password, then the passkey in place of a code: signed in. The second step can name the
    // account and knows a passkey is there to offer.
    let browser = pending(&app).await;
    let account = browser.get("/api/auth/mfa/pending").await.expect(StatusCode::OK);
    let expected = json!({"email": EMAIL, "name": account["name"], "passkeys": true, "totp": true});
    assert_eq!(account, expected);
    assert!(account["name"].is_string());
    let answer = assertion(&browser, VERIFY_CHALLENGE, &mut key, &origin).await;
    let me = browser.post(VERIFY, &answer).await.expect(StatusCode::OK);
    assert_eq!(me["email"], EMAIL, "{me}");
    browser.get("/api/auth/me").await.expect(StatusCode::OK);
    let listed = browser.get(LIST).await.expect(StatusCode::OK);
    assert!(listed[0]["last_used_at"].is_string(), "the use is recorded: {listed}");
    assert!(proofs(&events(&admin, "login_success").await).contains(&json!("passkey")));

    // The same answer again, in another login: its challenge answered once already.
    let replay = pending(&app).await;
    let res = replay.post(VERIFY, &answer).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSKEY");

    // Two challenges answered in turn; the later answer is used first. The earlier one's
    // counter is then behind the stored one — what a cloned authenticator shows: refused,
    // and audited as such.
    let (first, second) = (pending(&app).await, pending(&app).await);
    let early = assertion(&first, VERIFY_CHALLENGE, &mut key, &origin).await;
    let late = assertion(&second, VERIFY_CHALLENGE, &mut key, &origin).await;
    second.post(VERIFY, &late).await.expect(StatusCode::OK);
    let res = first.post(VERIFY, &early).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSKEY");
    let regressed = events(&admin, "passkey_counter_regressed").await;
    assert_eq!(regressed.len(), 1, "{regressed:?}");
    let failures = events(&admin, "mfa_verify_fail").await;
    let reasons: Vec<_> = failures.iter().map(|e| e["reason"].clone()).collect();
    assert_eq!(reasons, [json!("INVALID_PASSKEY"), json!("INVALID_PASSKEY")], "{failures:?}");

    // The refused answers count as wrong codes do: the pending state dies with the fifth.
    for _ in 0..3 {
        first.post(VERIFY, &early).await.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSKEY");
    }
    let res = first.post(VERIFY, json!({"code": "123456"})).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CODE");
    let res = first.post(VERIFY, &early).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "MFA_PENDING_INVALID");

    // No pending login, no challenge.
    let res = app.client().post(VERIFY_CHALLENGE, json!({})).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "MFA_PENDING_INVALID");
}

#[tokio::test]
async fn an_account_without_a_passkey_gets_no_challenge_and_a_code_still_signs_in() {
    let (app, _origin) = app_on_localhost().await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, EMAIL, Some(PASSWORD)).await;
    let user = app.login(EMAIL, PASSWORD).await;
    let (secret, _codes) = app.enable_mfa(&user).await;

    let browser = pending(&app).await;
    let account = browser.get("/api/auth/mfa/pending").await.expect(StatusCode::OK);
    assert_eq!((&account["email"], &account["passkeys"]), (&json!(EMAIL), &json!(false)));
    let res = app.client().get("/api/auth/mfa/pending").await;
    res.expect_error(StatusCode::UNAUTHORIZED, "MFA_PENDING_INVALID");
    let res = browser.post(VERIFY_CHALLENGE, json!({})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "NO_PASSKEYS");
    let res = user.post(CHALLENGE, json!({})).await;
    res.expect_error(StatusCode::BAD_REQUEST, "NO_PASSKEYS");
    // Made-up answers prove nothing and count as wrong codes.
    let made_up = json!({"ceremony_id": "nope", "credential": {"id": "x"}});
    browser.post(VERIFY, &made_up).await.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSKEY");
    let code = app.fresh_code(&secret);
    let me = browser.post(VERIFY, json!({"code": code})).await.expect(StatusCode::OK);
    assert_eq!(me["email"], EMAIL);
}

#[tokio::test]
async fn mfa_is_turned_off_with_a_passkey_which_goes_with_it_and_codes_are_regenerated_with_one() {
    let (app, origin) = app_on_localhost().await;
    let (admin, user, secret, mut key) = account_with_a_passkey(&app, &origin).await;

    // New backup codes, proven with the passkey and the password.
    let mut body = assertion(&user, CHALLENGE, &mut key, &origin).await;
    body["password"] = json!(PASSWORD);
    let codes = user.post("/api/auth/mfa/backup/regenerate", &body).await.expect(StatusCode::OK);
    assert_eq!(codes["backup_codes"].as_array().map(Vec::len), Some(10), "{codes}");

    // A code and an answer together: the client must choose.
    let mut both = assertion(&user, CHALLENGE, &mut key, &origin).await;
    both["code"] = json!(app.fresh_code(&secret));
    both["password"] = json!(PASSWORD);
    let res = user.post("/api/auth/mfa/disable", &both).await;
    let refused = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&refused), ["code"]);
    // A credential that is not an object.
    let res = user
        .post(
            "/api/auth/mfa/disable",
            json!({"ceremony_id": "x", "credential": "x", "password": PASSWORD}),
        )
        .await;
    let refused = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert!(detail_fields(&refused).contains(&"credential".to_owned()), "{refused}");

    // The checks keep their order: the password before the passkey, whose challenge a wrong
    // password leaves unanswered.
    let mut body = assertion(&user, CHALLENGE, &mut key, &origin).await;
    body["password"] = json!("not the password");
    let res = user.post("/api/auth/mfa/disable", &body).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSWORD");
    body["password"] = json!(PASSWORD);
    let off = user.post("/api/auth/mfa/disable", &body).await.expect(StatusCode::OK);
    assert_eq!(off, json!({"ok": true}));

    let status = user.get("/api/auth/mfa/status").await.expect(StatusCode::OK);
    assert_eq!(status["enabled"], false, "{status}");
    assert_eq!(user.get(LIST).await.expect(StatusCode::OK), json!([]), "no factor stays");
    assert_eq!(proofs(&events(&admin, "mfa_disable_success").await), [json!("passkey")]);
    let regenerated = events(&admin, "mfa_backup_regenerate_success").await;
    assert_eq!(proofs(&regenerated), [json!("passkey")]);

    // Signing in again needs the password only.
    app.login(EMAIL, PASSWORD).await;
}

const SIGN_IN_BEGIN: &str = "/api/auth/passkeys/sign-in/begin";
const SIGN_IN_FINISH: &str = "/api/auth/passkeys/sign-in/finish";

/// The user handle a discoverable passkey of account `id` answers with: the id's 16 bytes,
/// base64url.
fn user_handle(id: &str) -> String {
    use base64::Engine as _;
    let id = uuid::Uuid::parse_str(id).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Asks for a sign-in challenge and has `key` answer it as a discoverable passkey would:
/// `SoftPasskey` keeps no discoverable credentials, so the test names the credential it
/// holds (`credential_id`, base64url) to it, and puts the account's user handle (`handle`)
/// into the answer — the handle is not signed, which is why the server checks that the
/// passkey it finds belongs to the account the handle names.
async fn sign_in_answer(
    api: &Api,
    key: &mut SoftPasskey,
    origin: &Url,
    credential_id: &str,
    handle: &str,
) -> Value {
    let begin = api.post(SIGN_IN_BEGIN, json!({})).await.expect(StatusCode::OK);
    let mut options = begin["options"].clone();
    assert_eq!(options["publicKey"]["userVerification"], "required", "{begin}");
    let named = options["publicKey"].get("allowCredentials").cloned().unwrap_or(json!([]));
    assert_eq!(named, json!([]), "a sign-in names no credential: {begin}");
    options["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": credential_id}]);
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let credential = key.do_authentication(origin.clone(), options).unwrap();
    let mut credential = serde_json::to_value(&credential).unwrap();
    credential["response"]["userHandle"] = json!(handle);
    json!({"ceremony_id": begin["ceremony_id"], "credential": credential})
}

#[tokio::test]
async fn a_passkey_alone_signs_in_once_per_answer_and_only_the_account_that_holds_it() {
    let (app, origin) = app_on_localhost().await;
    let (admin, user, secret, mut key) = account_with_a_passkey(&app, &origin).await;
    let listed = user.get(LIST).await.expect(StatusCode::OK);
    let passkey_id = listed[0]["id"].as_str().unwrap().to_owned();
    let me = user.get("/api/auth/me").await.expect(StatusCode::OK);
    let handle = user_handle(me["id"].as_str().unwrap());
    // The credential id as the authenticator knows it.
    let challenge = assertion(&user, CHALLENGE, &mut key, &origin).await;
    let credential_id = challenge["credential"]["id"].as_str().unwrap().to_owned();

    // No e-mail, no password: the passkey alone.
    let browser = app.client();
    let answer = sign_in_answer(&browser, &mut key, &origin, &credential_id, &handle).await;
    let signed_in = browser.post(SIGN_IN_FINISH, &answer).await.expect(StatusCode::OK);
    assert_eq!(signed_in["email"], EMAIL, "{signed_in}");
    browser.get("/api/auth/me").await.expect(StatusCode::OK);
    let logins = events(&admin, "login_success").await;
    assert_eq!(logins[0]["proof"], "passkey", "{logins:?}");

    // The same answer again: its challenge answered once already.
    let again = app.client().post(SIGN_IN_FINISH, &answer).await;
    again.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSKEY");

    // The handle names another account (the admin's): that account holds no such passkey.
    let admin_me = admin.get("/api/auth/me").await.expect(StatusCode::OK);
    let theirs = user_handle(admin_me["id"].as_str().unwrap());
    let forged = sign_in_answer(&app.client(), &mut key, &origin, &credential_id, &theirs).await;
    let res = app.client().post(SIGN_IN_FINISH, &forged).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSKEY");
    // No handle at all; a made-up answer; fields of the wrong type.
    let mut handless =
        sign_in_answer(&app.client(), &mut key, &origin, &credential_id, &handle).await;
    handless["credential"]["response"]["userHandle"] = Value::Null;
    let res = app.client().post(SIGN_IN_FINISH, &handless).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSKEY");
    let made_up = json!({"ceremony_id": "nope", "credential": {"id": "x"}});
    let res = app.client().post(SIGN_IN_FINISH, &made_up).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSKEY");
    let res = app.client().post(SIGN_IN_FINISH, json!({"ceremony_id": 1, "credential": "x"})).await;
    let body = res.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), ["ceremony_id", "credential"]);

    // A passkey removed (with proof) signs nobody in.
    let code = app.fresh_code(&secret);
    let remove = format!("{LIST}/{passkey_id}/remove");
    user.post(&remove, json!({"code": code, "password": PASSWORD})).await.expect(StatusCode::OK);
    let late = sign_in_answer(&app.client(), &mut key, &origin, &credential_id, &handle).await;
    let res = app.client().post(SIGN_IN_FINISH, &late).await;
    res.expect_error(StatusCode::UNAUTHORIZED, "INVALID_PASSKEY");
    let failures = events(&admin, "login_fail").await;
    assert!(failures.iter().all(|e| e["reason"] == "INVALID_PASSKEY"), "{failures:?}");
}

/// Anyone may send a passwordless answer naming any account. A refused one counts against the
/// account's sign-in window (the one wrong passwords count against), never its second factor:
/// a stranger can cost the owner a pause, as with passwords, but never a lockout.
#[tokio::test]
async fn refused_passwordless_answers_count_in_the_sign_in_window_not_toward_a_lockout() {
    let port = free_port();
    let origin = Url::parse(&format!("http://localhost:{port}")).unwrap();
    let public = origin.as_str().trim_end_matches('/').to_owned();
    let app = TestApp::builder()
        .with_config(move |c| {
            c.server.port = port;
            c.server.public_base_url = public;
            c.security.limits.password_account.max_failures = 4;
            c.security.limits.second_factor_account.lockout_after = 2;
        })
        .spawn()
        .await;
    let (_admin, user, secret, mut key) = account_with_a_passkey(&app, &origin).await;
    let me = user.get("/api/auth/me").await.expect(StatusCode::OK);
    let handle = user_handle(me["id"].as_str().unwrap());
    let challenge = assertion(&user, CHALLENGE, &mut key, &origin).await;
    let credential_id = challenge["credential"]["id"].as_str().unwrap().to_owned();

    for left in [3, 2] {
        let mut forged =
            sign_in_answer(&app.client(), &mut key, &origin, &credential_id, &handle).await;
        forged["credential"]["response"]["signature"] = json!("AAAA");
        let res = app.client().post(SIGN_IN_FINISH, &forged).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{res:?}");
        let policy = res.header("ratelimit-policy").unwrap().to_owned();
        assert!(policy.starts_with(r#""account";q=4;"#), "the sign-in window: {policy}");
        let state = res.header("ratelimit").unwrap().to_owned();
        assert!(state.starts_with(&format!(r#""account";r={left};"#)), "{state}");
    }
    // Two refusals reached no second-factor lockout (set at 2): the owner's code still works.
    let browser = pending(&app).await;
    let code = app.fresh_code(&secret);
    browser.post(VERIFY, json!({"code": code})).await.expect(StatusCode::OK);
}

/// A passwordless sign-in stores its challenge before anyone is known: an address may start
/// only so many (`security.limits.sign_in_starts`), then 429 with Retry-After.
#[tokio::test]
async fn an_address_may_start_only_so_many_passwordless_sign_ins() {
    let port = free_port();
    let app = TestApp::builder()
        .with_config(move |c| {
            c.server.port = port;
            c.server.public_base_url = format!("http://localhost:{port}");
            c.security.limits.sign_in_starts.max_failures = 3;
        })
        .spawn()
        .await;
    for _ in 0..3 {
        app.client().post(SIGN_IN_BEGIN, json!({})).await.expect(StatusCode::OK);
    }
    let refused = app.client().post(SIGN_IN_BEGIN, json!({})).await;
    let retry = refused.header("retry-after").map(str::to_owned);
    refused.expect_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    assert!(retry.is_some_and(|s| s.parse::<u32>().is_ok_and(|n| (1..=300).contains(&n))));
}
