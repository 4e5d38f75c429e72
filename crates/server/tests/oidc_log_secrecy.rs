//! The real binary's logs, captured at trace level over OIDC logins against the real test
//! provider (a new OIDC-only user, the MFA step after the provider, a refused ID token),
//! contain no authorization code, state, nonce, client secret, ID token, flow or session
//! cookie, CSRF token or TOTP code.

mod common;

use std::time::Duration;

use common::{Env, free_port, totp_code};
use reqwest::StatusCode;
use serde_json::json;
use slugbase_testkit::oidc::{
    CLIENT_SECRET, OidcBrowser, OidcProvider, PROVIDER_KEY, callback_url, wait_until_discovered,
};
use slugbase_testkit::{Reply, steps};

/// The `name=` query parameter of `url`.
fn query_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .to_owned()
}

fn cookie_values(reply: &Reply, into: &mut Vec<(String, String)>) {
    for (name, value) in &reply.set_cookies {
        if !value.is_empty() {
            into.push((value.clone(), name.clone()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_code_token_state_or_secret_of_an_oidc_login_appears_in_the_logs() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let Some(provider) = OidcProvider::start(&[callback_url(&base)]).await else { return };
    let env = Env::new();
    let key = PROVIDER_KEY.to_uppercase();
    let vars = [
        (format!("SLUGBASE__OIDC__PROVIDERS__{key}__ISSUER_URL"), provider.issuer.clone()),
        (format!("SLUGBASE__OIDC__PROVIDERS__{key}__CLIENT_ID"), "slugbase".to_owned()),
        (format!("SLUGBASE__OIDC__PROVIDERS__{key}__CLIENT_SECRET"), CLIENT_SECRET.to_owned()),
        ("SLUGBASE__SERVER__PUBLIC_BASE_URL".to_owned(), base.clone()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = env.start_on(port, "serve.log", "trace", &vars).await;
    wait_until_discovered(&server.base, Duration::from_secs(30)).await;
    let mut secrets: Vec<(String, String)> =
        vec![(CLIENT_SECRET.to_owned(), "client secret".into())];
    let mut codes = Vec::new();

    // A first login: the OIDC-only user is created.
    provider
        .next_login(json!({"sub": "log-sub", "email": "log@example.com", "email_verified": true}))
        .await;
    let browser = OidcBrowser::new(&server.base);
    let start = browser.get(&format!("/api/auth/{PROVIDER_KEY}")).await;
    cookie_values(&start, &mut secrets);
    let authorize = start.header("location").unwrap().to_owned();
    secrets.push((query_param(&authorize, "nonce"), "nonce".into()));
    secrets.push((query_param(&authorize, "code_challenge"), "PKCE challenge".into()));
    let callback = browser.until_callback(&format!("/api/auth/{PROVIDER_KEY}")).await;
    secrets.push((query_param(&callback, "code"), "authorization code".into()));
    secrets.push((query_param(&callback, "state"), "state".into()));
    let landed = browser.get(&callback).await;
    assert_eq!(landed.header("location"), Some("/"), "{landed:?}");
    cookie_values(&landed, &mut secrets);

    // MFA on, then the provider's login is followed by the TOTP step.
    let mut api = browser.api.clone();
    let csrf = api.refresh_csrf().await;
    secrets.push((csrf, "csrf token".into()));
    let enrollment = steps::enroll_mfa(&api, steps::wall_code).await;
    secrets.push((enrollment.secret.clone(), "totp secret".into()));
    let browser = OidcBrowser::new(&server.base);
    let callback = browser.until_callback(&format!("/api/auth/{PROVIDER_KEY}")).await;
    secrets.push((query_param(&callback, "code"), "authorization code".into()));
    let landed = browser.get(&callback).await;
    assert_eq!(landed.header("location"), Some("/login?mfa=required"), "{landed:?}");
    cookie_values(&landed, &mut secrets);
    let code = totp_code(&enrollment.otpauth_url, 1);
    codes.push(code.clone());
    let verify = browser.api.post("/api/auth/mfa/verify", json!({ "code": code })).await;
    assert_eq!(verify.status, StatusCode::OK, "{verify:?}");
    cookie_values(&verify, &mut secrets);

    // The provider rotates its signing key: the next login fetches its JWKS again (logged
    // with the provider and the jwks_uri, never key material); then an ID token under a
    // made-up kid is refused without another fetch (the interval has not passed).
    provider.rotate_keys().await;
    let browser = OidcBrowser::new(&server.base);
    let callback = browser.until_callback(&format!("/api/auth/{PROVIDER_KEY}")).await;
    secrets.push((query_param(&callback, "code"), "authorization code".into()));
    let landed = browser.get(&callback).await;
    assert_eq!(landed.header("location"), Some("/login?mfa=required"), "{landed:?}");
    cookie_values(&landed, &mut secrets);
    let jwks: serde_json::Value =
        reqwest::get(provider.url("/jwks")).await.unwrap().json().await.unwrap();
    for key in jwks["keys"].as_array().expect("keys") {
        secrets.push((key["n"].as_str().expect("n").to_owned(), "JWKS key".into()));
    }
    provider.forge_kid("forged-kid").await;
    let browser = OidcBrowser::new(&server.base);
    let callback = browser.until_callback(&format!("/api/auth/{PROVIDER_KEY}")).await;
    secrets.push((query_param(&callback, "code"), "authorization code".into()));
    let landed = browser.get(&callback).await;
    assert_eq!(landed.header("location"), Some("/login?error=auth_failed"), "{landed:?}");

    // A refused ID token (wrong nonce).
    provider.misbehave(Some("wrong_nonce")).await;
    let browser = OidcBrowser::new(&server.base);
    let callback = browser.until_callback(&format!("/api/auth/{PROVIDER_KEY}")).await;
    secrets.push((query_param(&callback, "code"), "authorization code".into()));
    let landed = browser.get(&callback).await;
    assert_eq!(landed.header("location"), Some("/login?error=auth_failed"), "{landed:?}");

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let log = server.log();
    assert!(log.contains("oidc_login_success") && log.contains("oidc_login_fail"), "{log}");
    assert!(log.contains("JWKS fetched again"), "{log}");
    for (value, what) in &secrets {
        assert!(!log.contains(value.as_str()), "a {what} appears in the logs");
    }
    for code in &codes {
        assert!(
            !log.contains(&format!("\"{code}\"")) && !log.contains(&format!("={code}")),
            "a TOTP code appears in the logs"
        );
    }
    // ID tokens and JWKS keys are JWTs / JSON; a JWT's header starts with `eyJ`.
    assert!(!log.contains("eyJ"), "something shaped like a JWT appears in the logs");
}
