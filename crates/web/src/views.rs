//! JSON bodies the API sends and (for the document) receives.
//!
//! Request bodies are parsed by hand (see `extract`) so that the order of checks is the
//! contract's and every type error names its field; the request types here describe them
//! for the OpenAPI document.

use chrono::{DateTime, Utc};
use serde::Serialize;
use slugbase_domain::User;
use slugbase_domain::email::MAX_EMAIL_LENGTH;
use slugbase_domain::password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use slugbase_domain::user::MAX_NAME_CHARS;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
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
    #[schema(schema_with = email_schema)]
    pub email: String,
    /// Display name.
    #[schema(schema_with = display_name_schema)]
    pub name: String,
    /// Password, at least 8 characters.
    #[schema(schema_with = new_password_schema)]
    pub password: String,
}

/// Admin create-user body.
#[derive(Clone, Debug, ToSchema)]
pub struct CreateUserRequest {
    /// E-mail.
    #[schema(schema_with = email_schema)]
    pub email: String,
    /// Display name.
    #[schema(schema_with = display_name_schema)]
    pub name: String,
    /// Password; omit for an OIDC-only user.
    #[schema(schema_with = optional_new_password_schema)]
    pub password: Option<String>,
    /// Administrator (default false).
    pub is_admin: Option<bool>,
}

/// Create-token body.
#[derive(Clone, Debug, ToSchema)]
pub struct CreateTokenRequest {
    /// Label.
    #[schema(schema_with = token_name_schema)]
    pub name: String,
}

// The string rules below are the server's own (`slugbase_domain::{Email, DisplayName,
// NewPassword}`, `slugbase_application::tokens`), written as JSON Schema so that clients —
// and schemathesis — see exactly what is accepted. The patterns use only what ECMA-262 and
// Python's `re` read alike.

/// What `str::trim` strips and `char::is_whitespace` means (Unicode `White_Space`), as the
/// inside of a regex character class.
const WHITESPACE: &str =
    r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// Control characters (Unicode `Cc`, what `char::is_control` means), likewise.
const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";
/// Longest API token name, in characters (as `slugbase_application::tokens` checks it).
const MAX_TOKEN_NAME_CHARS: usize = 100;

/// A label as the server takes it: trimmed, then 1 to `max` characters, none of them a
/// control character. Said by the pattern alone, which sees the untrimmed value: a
/// `maxLength` would refuse padding the server trims away.
fn label_schema(max: usize, description: &str) -> Object {
    let inner = max.saturating_sub(2);
    let pattern = format!(
        "^[{WHITESPACE}]*[^{WHITESPACE}{CONTROL}](?:[^{CONTROL}]{{0,{inner}}}[^{WHITESPACE}{CONTROL}])?[{WHITESPACE}]*$"
    );
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// A display name (`DisplayName::parse`).
fn display_name_schema() -> Object {
    label_schema(
        MAX_NAME_CHARS,
        "Display name: 1 to 100 characters once surrounding whitespace is trimmed, no control characters.",
    )
}

/// An API token name (`ApiTokens::create`).
fn token_name_schema() -> Object {
    label_schema(
        MAX_TOKEN_NAME_CHARS,
        "Label: 1 to 100 characters once surrounding whitespace is trimmed, no control characters.",
    )
}

/// An e-mail address as `Email::parse` accepts it: trimmed; one `@`; a non-empty local part;
/// a domain of two or more non-empty dot-separated labels; no whitespace or control
/// character inside; at most 254 bytes once trimmed (said in the description only: JSON
/// Schema counts characters, and of the untrimmed value).
fn email_schema() -> Object {
    let part = format!("[^@{WHITESPACE}{CONTROL}]");
    let label = format!("[^@.{WHITESPACE}{CONTROL}]");
    let pattern = format!("^[{WHITESPACE}]*{part}+@{label}+(?:\\.{label}+)+[{WHITESPACE}]*$");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(pattern))
        .description(Some(format!(
            "E-mail (stored lower-cased): `local@domain.tld`, surrounding whitespace trimmed, at most {MAX_EMAIL_LENGTH} bytes."
        )))
        .build()
}

/// A new account's password (`NewPassword::parse`): at least 8 characters, at most 1024
/// bytes (`maxLength` counts characters, so it is the bound for ASCII passwords).
fn new_password_builder() -> ObjectBuilder {
    ObjectBuilder::new()
        .min_length(Some(MIN_PASSWORD_CHARS))
        .max_length(Some(MAX_PASSWORD_BYTES))
        .description(Some("Password: at least 8 characters, at most 1024 bytes (UTF-8)."))
}

fn new_password_schema() -> Object {
    new_password_builder().schema_type(Type::String).build()
}

/// The same, or `null`/absent (an OIDC-only user).
fn optional_new_password_schema() -> Object {
    new_password_builder()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "Password: at least 8 characters, at most 1024 bytes (UTF-8); omit (or null) for an OIDC-only user.",
        ))
        .build()
}
