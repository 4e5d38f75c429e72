//! The app over mocks, and what the tests ask of its answers.

use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use chrono::{TimeZone, Utc};
use serde_json::Value;
use slugbase_application::UseCases;
use slugbase_application::use_cases::admin::MockAdminUseCase;
use slugbase_application::use_cases::api_tokens::MockApiTokensUseCase;
use slugbase_application::use_cases::authenticate::MockAuthenticateUseCase;
use slugbase_application::use_cases::change_password::MockChangePasswordUseCase;
use slugbase_application::use_cases::disable_mfa::MockDisableMfaUseCase;
use slugbase_application::use_cases::enroll::{
    MockEnrollBeginUseCase, MockEnrollCancelUseCase, MockEnrollConfirmUseCase,
};
use slugbase_application::use_cases::health::MockHealthUseCase;
use slugbase_application::use_cases::login::MockLoginUseCase;
use slugbase_application::use_cases::logout::MockLogoutUseCase;
use slugbase_application::use_cases::mfa_status::MockMfaStatusUseCase;
use slugbase_application::use_cases::oidc_login::MockOidcLoginUseCase;
use slugbase_application::use_cases::passkey_sign_in::MockPasskeySignInUseCase;
use slugbase_application::use_cases::passkeys::MockPasskeysUseCase;
use slugbase_application::use_cases::regenerate_backup_codes::MockRegenerateBackupCodesUseCase;
use slugbase_application::use_cases::sessions::MockManageSessionsUseCase;
use slugbase_application::use_cases::setup::MockSetupUseCase;
use slugbase_application::use_cases::verify_login::MockVerifyLoginUseCase;
use slugbase_application::{Caller, CallerAuth, Unexpected};
use slugbase_domain::{
    ApiTokenId, DisplayName, Email, LoginMethod, MfaStanding, MfaState, User, UserId,
};
use slugbase_web::{AppState, OpenApiJson, WebConfig};

/// The Bearer token every signed-in request sends.
pub const TOKEN: &str = "sb_handler_test";

/// One mock per use case; a mock without expectations panics when called, so a test
/// arranges only what the request should reach.
#[derive(Default)]
pub struct Mocks {
    pub disable_mfa: MockDisableMfaUseCase,
    pub mfa_status: MockMfaStatusUseCase,
    pub enroll_begin: MockEnrollBeginUseCase,
    pub enroll_confirm: MockEnrollConfirmUseCase,
    pub enroll_cancel: MockEnrollCancelUseCase,
    pub regenerate_backup_codes: MockRegenerateBackupCodesUseCase,
    pub login: MockLoginUseCase,
    pub verify_login: MockVerifyLoginUseCase,
    pub logout: MockLogoutUseCase,
    pub authenticate: MockAuthenticateUseCase,
    pub api_tokens: MockApiTokensUseCase,
    pub setup: MockSetupUseCase,
    pub admin: MockAdminUseCase,
    pub health: MockHealthUseCase,
    pub oidc_login: MockOidcLoginUseCase,
    pub change_password: MockChangePasswordUseCase,
    pub sessions: MockManageSessionsUseCase,
    pub passkeys: MockPasskeysUseCase,
    pub passkey_sign_in: MockPasskeySignInUseCase,
}

impl std::fmt::Debug for Mocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mocks").finish_non_exhaustive()
    }
}

impl Mocks {
    /// Every request's Bearer token belongs to a (non-admin) user.
    pub fn signed_in() -> Self {
        let mut mocks = Self::default();
        mocks.authenticate.expect_api_token().returning(|_| Ok(caller()));
        mocks
    }
}

impl From<Mocks> for UseCases {
    fn from(m: Mocks) -> Self {
        use std::sync::Arc;
        Self {
            disable_mfa: Arc::new(m.disable_mfa),
            mfa_status: Arc::new(m.mfa_status),
            enroll_begin: Arc::new(m.enroll_begin),
            enroll_confirm: Arc::new(m.enroll_confirm),
            enroll_cancel: Arc::new(m.enroll_cancel),
            regenerate_backup_codes: Arc::new(m.regenerate_backup_codes),
            login: Arc::new(m.login),
            verify_login: Arc::new(m.verify_login),
            logout: Arc::new(m.logout),
            authenticate: Arc::new(m.authenticate),
            api_tokens: Arc::new(m.api_tokens),
            setup: Arc::new(m.setup),
            admin: Arc::new(m.admin),
            oidc_login: Arc::new(m.oidc_login),
            health: Arc::new(m.health),
            change_password: Arc::new(m.change_password),
            sessions: Arc::new(m.sessions),
            passkeys: Arc::new(m.passkeys),
            passkey_sign_in: Arc::new(m.passkey_sign_in),
        }
    }
}

/// An OIDC-only user without MFA, calling with an API token.
pub fn caller() -> Caller {
    let user = User {
        id: UserId::generate(),
        email: Email::parse("user@example.com").unwrap(),
        name: DisplayName::parse("User").unwrap(),
        login: LoginMethod::OidcOnly,
        oidc_provider: None,
        is_admin: false,
        mfa: MfaState::Disabled,
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        mfa_grace_started_at: None,
    };
    Caller {
        user,
        auth: CallerAuth::ApiToken(ApiTokenId::generate()),
        backup_codes_remaining: 0,
        mfa_standing: MfaStanding::NotRequired,
    }
}

/// Storage down (503).
pub fn unavailable() -> Unexpected {
    Unexpected::Unavailable(anyhow::anyhow!("connection refused to db.internal:5432"))
}

/// A bug or corrupt data (500); the cause must not reach the client.
pub fn internal() -> Unexpected {
    Unexpected::Internal(anyhow::anyhow!("SELECT secret FROM totp WHERE code = '123456'"))
}

/// A POST with a JSON body and the Bearer token.
pub fn post_json(path: &str, body: &str) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_owned())
}

/// A request with the Bearer token.
pub fn with_token(req: TestRequest) -> TestRequest {
    req.insert_header(("Authorization", format!("Bearer {TOKEN}")))
}

/// A JSON body larger than the default 16 KiB limit.
pub fn oversized() -> String {
    format!("{{\"code\": \"123456\", \"password\": \"{}\"}}", "x".repeat(17 * 1024))
}

/// Status, headers and JSON body of a response.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts the contract's error shape (`docs/api.md` § Conventions) with this status
    /// and reason; returns the `details` field names.
    #[track_caller]
    pub fn error(&self, status: u16, reason: &str) -> Vec<String> {
        assert_eq!((self.status, self.body["reason"].as_str()), (status, Some(reason)), "{self:?}");
        assert_eq!(self.body["code"], status, "{self:?}");
        assert!(self.body["error"].is_string() && self.body["message"].is_string(), "{self:?}");
        self.body["details"]
            .as_array()
            .map(|d| d.iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `req` to the app over `mocks`.
pub async fn send(mocks: Mocks, req: TestRequest) -> Answer {
    let config = WebConfig::new("http://localhost", [7; 32]);
    let state = Data::new(AppState::new(mocks, config));
    let doc = Data::new(OpenApiJson::generate().unwrap());
    let app = test::init_service(slugbase_web::app(state, doc)).await;
    let res = test::call_service(&app, req.to_request()).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = test::read_body(res).await;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, headers, body }
}

/// Asserts that an opaque 500 / a 503 says nothing of its cause.
#[track_caller]
pub fn assert_opaque(answer: &Answer) {
    let text = answer.body.to_string();
    assert!(!text.contains("SELECT") && !text.contains("123456"), "{text}");
    assert!(!text.contains("db.internal"), "{text}");
}

/// One row of a mapping table: a factory for the use case's error, what to send, and the
/// status, reason and `details` fields expected.
pub type Case<E, R> = (fn() -> E, R, u16, &'static str, Vec<&'static str>);

/// One row of a mapping table without a request of its own.
pub type Row<E> = (fn() -> E, u16, &'static str);
