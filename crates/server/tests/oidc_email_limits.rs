//! Issue 22, item 3 through a real OpenID provider (npm `oidc-provider`, see `oidc.rs`): an
//! ID token whose e-mail is within 254 bytes as sent but beyond once lower-cased creates no
//! account (`/login?error=email_unusable`), and the user list keeps answering.
//!
//! Without Node or `npm ci` each test prints one skip line; under `CI=true` it fails.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use slugbase_testkit::TestApp;
use slugbase_testkit::oidc::{
    OidcBrowser, OidcProvider, callback_url, configure, free_port, wait_until_discovered,
};

async fn start() -> Option<(TestApp, OidcProvider)> {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = OidcProvider::start(&[callback_url(&base)]).await?;
    let app = configure(TestApp::builder(), port, &provider.issuer).spawn().await;
    wait_until_discovered(&app.address, Duration::from_secs(20)).await;
    Some((app, provider))
}

#[tokio::test]
async fn an_idp_email_that_grows_past_254_bytes_when_lower_cased_creates_no_account() {
    let Some((app, provider)) = start().await else { return };
    let admin = app.setup_admin().await;
    // "a@" + "Ⱥ"×100 + ".io" (205 bytes, 305 lower-cased); 84 × "İ" + "@example.com".
    let growing_a = format!("a@{}.io", "\u{23a}".repeat(100));
    let growing_i = format!("{}@example.com", "\u{130}".repeat(84));
    for (sub, email) in [("grow-a", &growing_a), ("grow-i", &growing_i)] {
        provider
            .next_login(json!({"sub": sub, "email": email, "email_verified": true, "name": "G"}))
            .await;
        let browser = OidcBrowser::new(&app.address);
        browser.login_lands_on("/login?error=email_unusable").await;
        browser
            .api
            .get("/api/auth/me")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    assert_eq!(users.as_array().map_or(0, Vec::len), 1, "only the admin: {users}");
    let refused =
        admin.get("/api/admin/audit-log?event=oidc_login_fail").await.expect(StatusCode::OK);
    let events = refused["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["detail"].as_str().is_some_and(|d| d.contains("email_unusable"))),
        "{refused}"
    );
}
