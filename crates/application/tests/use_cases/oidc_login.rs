//! OIDC login over mocked ports: the flow is taken before anything else, an unverified
//! e-mail never links, a trusted `amr` skips the step-up; and the re-authentication policy
//! of an OIDC-only user's disable.

use std::sync::Arc;

use slugbase_application::collaborators::both_factors::{BothFactorsInput, MfaChangeError};
use slugbase_application::ports::{
    ConfiguredProvider, IdentityProviders, MockIdentityProvider, OidcFlowRecord, ProviderIdentity,
    ProviderPolicy, SessionIdpAuth,
};
use slugbase_application::use_cases::oidc_login::{
    CallbackInput, CallbackOutcome, OidcError, OidcFailure,
};
use slugbase_application::{AuthSettings, UseCases};
use slugbase_domain::{AuditEventKind, User};

use crate::support::*;

const FLOW_COOKIE: &str = "flow-cookie";

fn policy() -> ProviderPolicy {
    ProviderPolicy {
        display_name: "Corp".to_owned(),
        issuer_url: "https://idp.example.com".to_owned(),
        auto_create_users: true,
        default_admin: false,
        link_verified_email: true,
        trust_idp_mfa_amr: vec!["hwk".to_owned()],
    }
}

fn identity(email: &str, verified: bool, amr: &[&str]) -> ProviderIdentity {
    ProviderIdentity {
        issuer: "https://idp.example.com".to_owned(),
        subject: "sub-1".to_owned(),
        email: Some(email.to_owned()),
        email_verified: verified,
        name: Some("Ada".to_owned()),
        amr: amr.iter().map(|s| (*s).to_owned()).collect(),
        auth_time: None,
    }
}

fn stored_flow() -> OidcFlowRecord {
    OidcFlowRecord {
        id_hash: token_digest(FLOW_COOKIE),
        provider: "corp".to_owned(),
        state: "the-state".to_owned(),
        nonce: "the-nonce".to_owned(),
        pkce_verifier: "the-verifier".to_owned(),
        return_to: None,
        created_at: now(),
        expires_at: now_plus(600),
    }
}

fn callback(state: &str) -> CallbackInput {
    CallbackInput {
        flow: Some(FLOW_COOKIE.to_owned()),
        state: Some(state.to_owned()),
        code: Some("the-code".to_owned()),
        error: None,
    }
}

/// The use case over `deps` with provider `corp` answering `finish` with `identity` (or
/// never asked, with `None`).
fn oidc_login(mut deps: MockDeps, identity: Option<ProviderIdentity>) -> UseCases {
    let mut provider = MockIdentityProvider::new();
    if let Some(identity) = identity {
        provider
            .expect_finish()
            .times(1)
            .withf(|code, verifier, nonce| {
                code == "the-code" && verifier == "the-verifier" && nonce == "the-nonce"
            })
            .returning(move |_, _, _| Ok(identity.clone()));
    }
    deps.token_digest_is_tagged();
    deps.oidc.expect_take_flow().times(1).returning(|_| Ok(Some(stored_flow())));
    let mut built = deps.build();
    let mut providers = IdentityProviders::default();
    providers.0.insert(
        "corp".to_owned(),
        ConfiguredProvider { policy: policy(), provider: Arc::new(provider) },
    );
    built.identity_providers = providers;
    UseCases::new(built, settings())
}

#[tokio::test]
async fn a_state_that_does_not_match_uses_the_flow_up_without_asking_the_provider() {
    let mut deps = MockDeps::new();
    let audit = deps.record_audit();
    let use_case = oidc_login(deps, None).oidc_login;
    let result = use_case.callback("corp", callback("forged"), &client()).await;
    assert!(matches!(result, Err(OidcError::Failed(OidcFailure::StateInvalid))), "{result:?}");
    assert_audit(&audit.only(), AuditEventKind::OidcLoginFail, None, Some("state_invalid"), None);
}

#[tokio::test]
async fn an_unverified_email_never_links_to_or_signs_in_as_the_existing_account() {
    let mut deps = MockDeps::new();
    let audit = deps.record_audit();
    let existing = local_user();
    let id = existing.id;
    deps.oidc.expect_find_linked_user().times(1).returning(|_, _| Ok(None));
    deps.users.expect_find_by_email().times(1).returning(move |_| Ok(Some(existing.clone())));
    // No link, no user, no session: those mocks are not arranged, so a call would panic.
    let use_case = oidc_login(deps, Some(identity("ada@example.com", false, &[]))).oidc_login;
    let result = use_case.callback("corp", callback("the-state"), &client()).await;
    assert!(matches!(result, Err(OidcError::Failed(OidcFailure::AuthFailed))), "{result:?}");
    let event = audit.only();
    assert_audit(&event, AuditEventKind::OidcLoginFail, Some(id), Some("auth_failed"), None);
    assert!(event.detail.as_deref().is_some_and(|d| d.contains("email_not_verified")), "{event:?}");
}

/// The linked MFA user, signing in with `amr`: the kind of session started.
async fn mfa_user_signs_in_with(amr: &[&str]) -> (Result<CallbackOutcome, OidcError>, AuditSpy) {
    let mut deps = MockDeps::new();
    let audit = deps.record_audit();
    let user: User = with_mfa(oidc_user());
    deps.oidc.expect_find_linked_user().times(1).returning(move |_, _| Ok(Some(user.clone())));
    deps.random.expect_bytes_32().times(1).return_const([7; 32]);
    deps.sessions.expect_create().times(1).returning(|_| Ok(()));
    let use_case = oidc_login(deps, Some(identity("grace@example.com", true, amr))).oidc_login;
    (use_case.callback("corp", callback("the-state"), &client()).await, audit)
}

#[tokio::test]
async fn an_mfa_user_gets_the_pending_state_unless_the_amr_is_trusted() {
    let (result, audit) = mfa_user_signs_in_with(&["pwd", "otp"]).await;
    assert!(matches!(result, Ok(CallbackOutcome::MfaRequired { .. })), "{result:?}");
    assert!(audit.events().is_empty(), "success is audited after the TOTP step");

    let (result, audit) = mfa_user_signs_in_with(&["pwd", "hwk"]).await;
    assert!(matches!(result, Ok(CallbackOutcome::SignedIn { .. })), "{result:?}");
    let event = audit.only();
    assert_eq!(event.kind, AuditEventKind::OidcLoginSuccess);
    assert!(event.detail.as_deref().is_some_and(|d| d.contains("idp_mfa_amr=hwk")), "{event:?}");
}

fn reauth_settings() -> AuthSettings {
    AuthSettings { oidc_reauth_max_age_secs: 300, ..settings() }
}

async fn disable_with_provider_login(
    caller: slugbase_application::Caller,
    auth: Option<SessionIdpAuth>,
) -> (Result<(), MfaChangeError>, AttemptSpy) {
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    deps.record_audit();
    deps.oidc = slugbase_application::ports::MockOidcRepository::new();
    deps.oidc.expect_session_auth().returning(move |_| Ok(auth.clone()));
    let use_case = UseCases::new(deps.build(), reauth_settings()).disable_mfa;
    let input = Ok(BothFactorsInput::with_code("123456".to_owned(), None));
    let result = use_case.execute(&caller, &client(), input).await;
    (result, attempts)
}

#[tokio::test]
async fn with_the_reauth_policy_a_stale_or_missing_provider_login_is_refused_before_the_code() {
    let stale = SessionIdpAuth { provider: "corp".to_owned(), auth_time: now_plus(-301) };
    for (caller, auth) in [
        (session_caller(with_mfa(oidc_user())), Some(stale)),
        (session_caller(with_mfa(oidc_user())), None),
        (token_caller(with_mfa(oidc_user())), None),
    ] {
        // The code is never looked at: the cipher and TOTP mocks are not arranged.
        let (result, attempts) = disable_with_provider_login(caller, auth).await;
        assert!(matches!(result, Err(MfaChangeError::ReauthRequired)), "{result:?}");
        assert!(attempts.failures().is_empty(), "not counted as a guess");
    }
}
