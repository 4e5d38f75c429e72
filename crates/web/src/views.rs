//! JSON bodies the API sends and (for the document) receives.
//!
//! Request bodies are parsed by hand (see `extract`) so that the order of checks is the
//! contract's and every type error names its field; the request types here describe them
//! for the OpenAPI document.

use chrono::{DateTime, Utc};
use serde::Serialize;
use slugbase_domain::User;
use utoipa::ToSchema;
use uuid::Uuid;

/// An account as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id.
    pub id: Uuid,
    /// E-mail (lower-cased).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Administrator.
    pub is_admin: bool,
    /// MFA is on.
    pub mfa_enabled: bool,
    /// The account has a local password (false: OIDC-only).
    pub has_password: bool,
    /// OIDC provider the account is linked to.
    pub oidc_provider: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// A configured policy requires this user to enroll in MFA and they have not yet.
    pub mfa_enrollment_required: bool,
}

impl UserView {
    /// The view of `user`.
    #[must_use]
    pub fn new(user: &User, mfa_enrollment_required: bool) -> Self {
        Self {
            id: *user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            is_admin: user.is_admin,
            mfa_enabled: user.mfa.is_enabled(),
            has_password: user.login.has_password(),
            oidc_provider: user.oidc_provider.clone(),
            created_at: user.created_at,
            mfa_enrollment_required,
        }
    }
}

/// `{"ok": true}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OkView {
    /// Always true.
    pub ok: bool,
}

impl OkView {
    /// The success body.
    pub const OK: Self = Self { ok: true };
}

/// `{"message": "…"}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// What happened.
    pub message: String,
}

/// Body of disable and backup-code regeneration.
#[derive(Clone, Debug, ToSchema)]
pub struct BothFactorsRequest {
    /// TOTP or unused backup code.
    #[schema(example = "example_string")]
    pub code: String,
    /// Required when the user has a local password (omit for OIDC-only).
    #[schema(example = "example_string")]
    pub password: Option<String>,
}

/// Body carrying only a code.
#[derive(Clone, Debug, ToSchema)]
pub struct CodeRequest {
    /// TOTP code (verify also accepts an unused backup code).
    pub code: String,
}

/// Login body.
#[derive(Clone, Debug, ToSchema)]
pub struct LoginRequest {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

/// First-admin body.
#[derive(Clone, Debug, ToSchema)]
pub struct SetupRequest {
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Password, at least 8 characters.
    pub password: String,
}

/// Admin create-user body.
#[derive(Clone, Debug, ToSchema)]
pub struct CreateUserRequest {
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Password; omit for an OIDC-only user.
    pub password: Option<String>,
    /// Administrator (default false).
    pub is_admin: Option<bool>,
}

/// Create-token body.
#[derive(Clone, Debug, ToSchema)]
pub struct CreateTokenRequest {
    /// Label.
    pub name: String,
}
