//! JSON bodies the API receives: each type is both what the OpenAPI document shows
//! (`ToSchema`) and what the body is read into ([`JsonRequest`]), then turned into the use
//! case's input. Bodies are read field by field (not with serde) so that every type error
//! names its field and all of them are reported at once.

use slugbase_application::collaborators::both_factors::BothFactorsInput;
use slugbase_application::collaborators::new_account::NewAccountInput;
use slugbase_application::collaborators::passkey_ceremonies::PasskeyAssertion;
use slugbase_application::collaborators::second_factor::Possession;
use slugbase_application::use_cases::passkeys::FinishRegistrationInput;
use slugbase_application::{
    use_cases::change_password::ChangePasswordInput, use_cases::login::LoginInput,
};
use slugbase_domain::email::MAX_EMAIL_LENGTH;
use slugbase_domain::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use slugbase_domain::user::MAX_NAME_CHARS;
use slugbase_domain::{MAX_PASSKEY_NAME_CHARS, Password};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::extract::{Fields, JsonRequest};

/// Body of disable, backup-code regeneration and passkey removal: proof of possession —
/// `code`, or a passkey's answer (`ceremony_id` + `credential`) — and the password.
#[derive(Clone, Debug, ToSchema)]
pub struct BothFactorsRequest {
    /// TOTP or unused backup code. Required unless `credential` is sent instead.
    #[schema(example = "example_string")]
    pub code: Option<String>,
    /// Required when the user has a local password (omit for OIDC-only).
    #[schema(example = "example_string")]
    pub password: Option<String>,
    /// With `credential`: the `ceremony_id` of `POST /api/auth/mfa/challenge`.
    pub ceremony_id: Option<String>,
    /// In place of `code`: what `navigator.credentials.get()` returned for that challenge,
    /// JSON-serialised (binary fields base64url).
    #[schema(value_type = Option<Object>)]
    pub credential: Option<String>,
}

impl JsonRequest for BothFactorsRequest {
    /// `code` a string, `password` a string or absent (`null` = absent), or `ceremony_id` and
    /// `credential` in place of `code`; other fields are ignored.
    fn read(fields: &mut Fields) -> Self {
        let (code, ceremony_id, credential) = read_possession(fields);
        Self { code, password: fields.optional_string("password"), ceremony_id, credential }
    }
}

impl From<BothFactorsRequest> for BothFactorsInput {
    fn from(request: BothFactorsRequest) -> Self {
        Self {
            possession: possession(request.code, request.ceremony_id, request.credential),
            password: request.password.map(Password::new),
        }
    }
}

/// Body of `POST /api/auth/mfa/verify`: a code, or a passkey's answer.
#[derive(Clone, Debug, ToSchema)]
pub struct VerifyRequest {
    /// TOTP or unused backup code. Required unless `credential` is sent instead.
    pub code: Option<String>,
    /// With `credential`: the `ceremony_id` of `POST /api/auth/mfa/verify/challenge`.
    pub ceremony_id: Option<String>,
    /// In place of `code`: what `navigator.credentials.get()` returned for that challenge,
    /// JSON-serialised (binary fields base64url).
    #[schema(value_type = Option<Object>)]
    pub credential: Option<String>,
}

impl JsonRequest for VerifyRequest {
    fn read(fields: &mut Fields) -> Self {
        let (code, ceremony_id, credential) = read_possession(fields);
        Self { code, ceremony_id, credential }
    }
}

impl From<VerifyRequest> for Possession {
    fn from(request: VerifyRequest) -> Self {
        possession(request.code, request.ceremony_id, request.credential)
    }
}

/// Reads proof of possession: `code` (a string), or `credential` (an object) with its
/// `ceremony_id` (a string). One of the two must come, not both; without either, `code` is
/// what is missing (as the seed's contract says).
fn read_possession(fields: &mut Fields) -> (Option<String>, Option<String>, Option<String>) {
    let credential = fields.optional_object("credential");
    if credential.is_none() {
        let code = fields.required_string("code");
        return (Some(code), None, None);
    }
    let ceremony_id = fields.required_string("ceremony_id");
    if fields.optional_string("code").is_some() {
        fields.reject("code", "send code or credential, not both");
    }
    (None, Some(ceremony_id), credential)
}

/// What [`read_possession`] read, once it read without a fault.
fn possession(
    code: Option<String>,
    ceremony_id: Option<String>,
    credential: Option<String>,
) -> Possession {
    match (credential, code) {
        (Some(credential_json), _) => Possession::Passkey(PasskeyAssertion {
            ceremony_id: ceremony_id.unwrap_or_default(),
            credential_json,
        }),
        (None, code) => Possession::Code(code.unwrap_or_default()),
    }
}

/// Body carrying only a code.
#[derive(Clone, Debug, ToSchema)]
pub struct CodeRequest {
    /// TOTP code (verify also accepts an unused backup code).
    pub code: String,
}

impl JsonRequest for CodeRequest {
    fn read(fields: &mut Fields) -> Self {
        Self { code: fields.required_string("code") }
    }
}

/// Login body.
#[derive(Clone, Debug, ToSchema)]
pub struct LoginRequest {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

impl JsonRequest for LoginRequest {
    fn read(fields: &mut Fields) -> Self {
        Self {
            email: fields.required_string("email"),
            password: fields.required_string("password"),
        }
    }
}

impl From<LoginRequest> for LoginInput {
    fn from(request: LoginRequest) -> Self {
        Self { email: request.email, password: Password::new(request.password) }
    }
}

/// Password change body.
#[derive(Clone, Debug, ToSchema)]
pub struct ChangePasswordRequest {
    /// The password the account has now.
    pub current_password: String,
    /// The new password: 8–128 characters, not a common password, not the current one.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

impl JsonRequest for ChangePasswordRequest {
    fn read(fields: &mut Fields) -> Self {
        Self {
            current_password: fields.required_string("current_password"),
            new_password: fields.required_string("new_password"),
        }
    }
}

impl From<ChangePasswordRequest> for ChangePasswordInput {
    fn from(request: ChangePasswordRequest) -> Self {
        Self {
            current_password: Password::new(request.current_password),
            new_password: Password::new(request.new_password),
        }
    }
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

impl JsonRequest for SetupRequest {
    fn read(fields: &mut Fields) -> Self {
        let email = fields.required_string("email");
        let name = fields.required_string("name");
        let password = fields.required_string("password");
        // The first account is an administrator whatever it says, but an `is_admin` of the
        // wrong type has always been refused like any other field: it still is.
        let _ = fields.optional_bool("is_admin");
        Self { email, name, password }
    }
}

impl From<SetupRequest> for NewAccountInput {
    fn from(request: SetupRequest) -> Self {
        Self {
            email: request.email,
            name: request.name,
            password: Some(request.password),
            is_admin: false,
        }
    }
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

impl JsonRequest for CreateUserRequest {
    fn read(fields: &mut Fields) -> Self {
        Self {
            email: fields.required_string("email"),
            name: fields.required_string("name"),
            password: fields.optional_string("password"),
            is_admin: fields.optional_bool("is_admin"),
        }
    }
}

impl From<CreateUserRequest> for NewAccountInput {
    fn from(request: CreateUserRequest) -> Self {
        Self {
            email: request.email,
            name: request.name,
            password: request.password,
            is_admin: request.is_admin.unwrap_or(false),
        }
    }
}

/// Create-token body.
#[derive(Clone, Debug, ToSchema)]
pub struct CreateTokenRequest {
    /// Label.
    #[schema(schema_with = token_name_schema)]
    pub name: String,
}

impl JsonRequest for CreateTokenRequest {
    fn read(fields: &mut Fields) -> Self {
        Self { name: fields.required_string("name") }
    }
}

/// Body of `POST /api/auth/passkeys/register/finish`.
#[derive(Clone, Debug, ToSchema)]
pub struct FinishPasskeyRegistrationRequest {
    /// The `ceremony_id` the options came with (single use, five minutes).
    pub ceremony_id: String,
    /// What `navigator.credentials.create()` returned, JSON-serialised as WebAuthn Level 3
    /// `toJSON()` writes it (binary fields base64url): `{"id", "rawId", "type",
    /// "response": {"attestationObject", "clientDataJSON"}, …}`.
    #[schema(value_type = Object)]
    pub credential: String,
    /// A name for the passkey; default "Passkey".
    #[schema(schema_with = optional_passkey_name_schema)]
    pub name: Option<String>,
}

impl JsonRequest for FinishPasskeyRegistrationRequest {
    fn read(fields: &mut Fields) -> Self {
        Self {
            ceremony_id: fields.required_string("ceremony_id"),
            credential: fields.required_object("credential"),
            name: fields.optional_string("name"),
        }
    }
}

impl From<FinishPasskeyRegistrationRequest> for FinishRegistrationInput {
    fn from(request: FinishPasskeyRegistrationRequest) -> Self {
        Self {
            ceremony_id: request.ceremony_id,
            credential_json: request.credential,
            name: request.name,
        }
    }
}

/// Body of `POST /api/auth/passkeys/sign-in/finish`: the answer to a sign-in challenge.
#[derive(Clone, Debug, ToSchema)]
pub struct PasskeySignInRequest {
    /// The `ceremony_id` of `POST /api/auth/passkeys/sign-in/begin` (single use, five
    /// minutes).
    pub ceremony_id: String,
    /// What `navigator.credentials.get()` returned, JSON-serialised (binary fields
    /// base64url); its `response.userHandle` names the account.
    #[schema(value_type = Object)]
    pub credential: String,
}

impl JsonRequest for PasskeySignInRequest {
    fn read(fields: &mut Fields) -> Self {
        Self {
            ceremony_id: fields.required_string("ceremony_id"),
            credential: fields.required_object("credential"),
        }
    }
}

impl From<PasskeySignInRequest> for PasskeyAssertion {
    fn from(request: PasskeySignInRequest) -> Self {
        Self { ceremony_id: request.ceremony_id, credential_json: request.credential }
    }
}

/// Body of `PATCH /api/auth/passkeys/{id}`.
#[derive(Clone, Debug, ToSchema)]
pub struct RenamePasskeyRequest {
    /// The new name.
    #[schema(schema_with = passkey_name_schema)]
    pub name: String,
}

impl JsonRequest for RenamePasskeyRequest {
    fn read(fields: &mut Fields) -> Self {
        Self { name: fields.required_string("name") }
    }
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
/// Control characters and Unicode's text-direction controls: what a label may not hold
/// (`slugbase_domain::label`).
const NOT_IN_LABEL: &str = r"\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069";
/// Longest API token name, in characters (as `slugbase_application::tokens` checks it).
const MAX_TOKEN_NAME_CHARS: usize = 100;

/// A label as the server takes it: trimmed, then 1 to `max` characters, none of them a
/// control character. Said by the pattern alone, which sees the untrimmed value: a
/// `maxLength` would refuse padding the server trims away.
fn label_schema(max: usize, description: &str) -> Object {
    let inner = max.saturating_sub(2);
    let pattern = format!(
        "^[{WHITESPACE}]*[^{WHITESPACE}{NOT_IN_LABEL}](?:[^{NOT_IN_LABEL}]{{0,{inner}}}[^{WHITESPACE}{NOT_IN_LABEL}])?[{WHITESPACE}]*$"
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
        "Display name: 1 to 100 characters once surrounding whitespace is trimmed, no control or text-direction characters.",
    )
}

/// An API token name (`ApiTokens::create`).
fn token_name_schema() -> Object {
    label_schema(
        MAX_TOKEN_NAME_CHARS,
        "Label: 1 to 100 characters once surrounding whitespace is trimmed, no control or text-direction characters.",
    )
}

/// A passkey name (`PasskeyName::parse`).
fn passkey_name_schema() -> Object {
    label_schema(
        MAX_PASSKEY_NAME_CHARS,
        "Passkey name: 1 to 64 characters once surrounding whitespace is trimmed, no control or text-direction characters.",
    )
}

/// The same, or `null`/absent (the default name).
fn optional_passkey_name_schema() -> Object {
    let mut schema = passkey_name_schema();
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    schema.description = Some(
        "Passkey name: 1 to 64 characters once surrounding whitespace is trimmed, no control or text-direction characters; omit (or null) for \"Passkey\".".to_owned(),
    );
    schema
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

/// A new account's password (`check_password_policy`, the one policy of every path): 8 to
/// 128 characters (`minLength`/`maxLength` count them as the server does), not on the
/// common-password list (said in the description only).
fn new_password_builder() -> ObjectBuilder {
    ObjectBuilder::new()
        .min_length(Some(MIN_PASSWORD_CHARS))
        .max_length(Some(MAX_PASSWORD_CHARS))
        .description(Some("Password: 8 to 128 characters, not on the common-password list."))
}

fn new_password_schema() -> Object {
    new_password_builder().schema_type(Type::String).build()
}

/// The same, or `null`/absent (an OIDC-only user).
fn optional_new_password_schema() -> Object {
    new_password_builder()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "Password: 8 to 128 characters, not on the common-password list; omit (or null) for an OIDC-only user.",
        ))
        .build()
}
