//! The usual multi-step flows over HTTP, written once: the first administrator, a user, a
//! login (with or without the second factor), an API token, an MFA enrollment. Each asserts
//! that its steps succeeded, so a test reads as the part it is about.
//!
//! They take a base URL or an [`Api`], so they serve the in-process [`crate::TestApp`]
//! (whose methods wrap them with its manual clock's codes) and a spawned binary alike
//! (codes from the wall clock: [`wall_code`]).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Api, Reply, totp};

/// E-mail of the first administrator.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// Password of every account the steps create unless told otherwise.
pub const PASSWORD: &str = "correct horse battery staple";

/// An enrollment: the secret, its `otpauth://` URL and the backup codes.
#[derive(Clone, Debug)]
pub struct Enrollment {
    /// Base32 TOTP secret.
    pub secret: String,
    /// `otpauth://totp/…`.
    pub otpauth_url: String,
    /// The ten backup codes.
    pub backup_codes: Vec<String>,
}

/// The strings of the body's `backup_codes` array.
///
/// # Panics
/// When there is no such array of strings.
#[must_use]
pub fn backup_codes(body: &Value) -> Vec<String> {
    body["backup_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("no backup_codes: {body}"))
        .iter()
        .map(|c| c.as_str().expect("a backup code").to_owned())
        .collect()
}

/// The current code for `secret` by the wall clock, for a service on the system clock.
#[must_use]
pub fn wall_code(secret: &str) -> String {
    totp::code_now(&totp::from_secret(secret), 0)
}

/// Sets up the first administrator ([`ADMIN_EMAIL`], [`PASSWORD`]); returns their signed-in
/// browser with its CSRF token.
///
/// # Panics
/// When setup is refused.
pub async fn setup_admin(base: &str) -> Api {
    let mut api = Api::new(base);
    let body = api
        .post(
            "/api/auth/setup",
            json!({"email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["email"], ADMIN_EMAIL, "{body}");
    api.refresh_csrf().await;
    api
}

/// Creates a local user (or, without a password, an OIDC-only one) through the admin API;
/// returns the created user.
///
/// # Panics
/// When the admin API refuses.
pub async fn create_user(admin: &Api, email: &str, password: Option<&str>) -> Value {
    let mut body = json!({"email": email, "name": "User"});
    if let Some(password) = password {
        body["password"] = json!(password);
    }
    admin.post("/api/admin/users", body).await.expect(StatusCode::CREATED)
}

/// Logs in a user without MFA; returns their browser with its CSRF token.
///
/// # Panics
/// When the login does not sign in.
pub async fn login(base: &str, email: &str, password: &str) -> Api {
    let mut api = Api::new(base);
    let body = api
        .post("/api/auth/login", json!({"email": email, "password": password}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["email"], email, "{body}");
    assert!(body.get("mfa_required").is_none(), "{body}");
    api.refresh_csrf().await;
    api
}

/// The password step of a login that must ask for the second factor.
///
/// # Panics
/// On any other answer.
pub async fn login_pending(api: &Api, email: &str, password: &str) {
    let body = api
        .post("/api/auth/login", json!({"email": email, "password": password}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(body, json!({"mfa_required": true}));
}

/// The second step of a login: the code.
pub async fn verify(api: &Api, code: &str) -> Reply {
    api.post("/api/auth/mfa/verify", json!({"code": code})).await
}

/// Logs in a user with MFA (password, then `code`); returns their browser with its CSRF
/// token.
///
/// # Panics
/// When either step fails.
pub async fn login_with_mfa(base: &str, email: &str, password: &str, code: &str) -> Api {
    let mut api = Api::new(base);
    login_pending(&api, email, password).await;
    verify(&api, code).await.expect(StatusCode::OK);
    api.refresh_csrf().await;
    api
}

/// Creates a personal API token named `name` with `api`'s credentials; returns it.
///
/// # Panics
/// When the server refuses.
pub async fn create_token(api: &Api, name: &str) -> String {
    let body = api.post("/api/tokens", json!({"name": name})).await.expect(StatusCode::CREATED);
    let token = body["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("sb_"), "{token}");
    token
}

/// Enrolls `api`'s user in MFA (begin, then confirm with `code(secret)`).
///
/// # Panics
/// When either step fails or the backup codes are not ten.
pub async fn enroll_mfa(api: &Api, code: impl FnOnce(&str) -> String) -> Enrollment {
    let begin = api.post("/api/auth/mfa/enroll/begin", json!({})).await.expect(StatusCode::OK);
    let secret = begin["secret"].as_str().expect("secret").to_owned();
    let otpauth_url = begin["otpauth_url"].as_str().expect("otpauth_url").to_owned();
    let confirm = api
        .post("/api/auth/mfa/enroll/confirm", json!({"code": code(&secret)}))
        .await
        .expect(StatusCode::OK);
    let backup_codes = backup_codes(&confirm);
    assert_eq!(backup_codes.len(), 10, "{confirm}");
    Enrollment { secret, otpauth_url, backup_codes }
}
