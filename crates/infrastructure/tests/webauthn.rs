//! The WebAuthn relying party (`webauthn-rs`) against a software authenticator
//! (webauthn-authenticator-rs's `SoftPasskey`), with the passkey stored in the in-memory
//! store: registration, an assertion, and the counter's compare-and-set refusing a replayed
//! or lowered counter.

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use std::sync::Arc;

use chrono::Utc;
use slugbase_application::ClientInfo;
use slugbase_application::collaborators::audit_trail::AuditTrail;
use slugbase_application::collaborators::passkey_use::PasskeyUseRecorder;
use slugbase_application::ports::{AuditEvent, NewUser};
use slugbase_application::ports::{AuditLog, AuditQuery};
use slugbase_application::ports::{
    CeremonyState, ChangeEffects, PasskeyOwner, PasskeyRecord, PasskeyRepository, PasskeyUse,
    PasskeyUseOutcome, UserRepository, WebAuthn, WebAuthnError,
};
use slugbase_domain::{
    AuditEventKind, AuditOutcome, DisplayName, Email, LoginMethod, PasskeyId, UserId,
};
use slugbase_infrastructure::crypto::SystemClock;
use slugbase_infrastructure::memory::InMemoryStore;
use slugbase_infrastructure::webauthn::WebauthnRelyingParty;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

const ORIGIN: &str = "http://localhost:8080";

fn owner(user: UserId) -> PasskeyOwner<'static> {
    PasskeyOwner { user_id: user, name: "ann@example.com", display_name: "Ann" }
}

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

/// Registers a new software passkey for `user` through `rp`.
fn register(
    rp: &WebauthnRelyingParty,
    key: &mut SoftPasskey,
    user: UserId,
) -> slugbase_application::ports::VerifiedPasskey {
    let start = rp.start_registration(owner(user), &[]).unwrap();
    let options: CreationChallengeResponse = serde_json::from_str(&start.options_json).unwrap();
    let answer = key.do_registration(origin(), options).unwrap();
    let json = serde_json::to_string(&answer).unwrap();
    rp.finish_registration(&json, &start.state).unwrap()
}

#[test]
fn a_public_url_with_an_ip_address_leaves_passkeys_unavailable() {
    let rp = WebauthnRelyingParty::new("http://127.0.0.1:8080", "SlugBase");
    assert!(rp.availability().unwrap_err().contains("IP address"));
    let refused = rp.start_registration(owner(UserId::generate()), &[]);
    assert!(matches!(refused, Err(WebAuthnError::Unavailable(_))), "{refused:?}");
    assert!(
        WebauthnRelyingParty::new("https://auth.example.com", "SlugBase").availability().is_ok()
    );
    assert!(WebauthnRelyingParty::new(ORIGIN, "SlugBase").availability().is_ok());
}

#[test]
fn registration_options_require_user_verification_exclude_known_credentials_and_keep_the_challenge_server_side()
 {
    let rp = WebauthnRelyingParty::new(ORIGIN, "SlugBase");
    let user = UserId::generate();
    let start = rp.start_registration(owner(user), &[b"known-credential".to_vec()]).unwrap();
    let options: serde_json::Value = serde_json::from_str(&start.options_json).unwrap();
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost", "{options}");
    assert_eq!(public_key["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(public_key["attestation"], "none");
    let excluded = public_key["excludeCredentials"].as_array().unwrap();
    assert_eq!(excluded.len(), 1, "{options}");
    assert_eq!(excluded[0]["id"], "a25vd24tY3JlZGVudGlhbA");
    assert!(!start.state.as_str().is_empty());
}

#[test]
fn a_credential_made_for_another_origin_or_garbage_is_refused() {
    let rp = WebauthnRelyingParty::new(ORIGIN, "SlugBase");
    let start = rp.start_registration(owner(UserId::generate()), &[]).unwrap();
    let options: CreationChallengeResponse = serde_json::from_str(&start.options_json).unwrap();
    let mut key = SoftPasskey::new(true);
    let phished =
        key.do_registration(Url::parse("http://localhost:9999").unwrap(), options).unwrap();
    let json = serde_json::to_string(&phished).unwrap();
    let refused = rp.finish_registration(&json, &start.state);
    assert!(matches!(refused, Err(WebAuthnError::Rejected(_))), "{refused:?}");
    let garbage = rp.finish_registration(r#"{"id": 1}"#, &start.state);
    assert!(matches!(garbage, Err(WebAuthnError::Malformed(_))), "{garbage:?}");
    let wrong_state = rp.finish_registration(&json, &CeremonyState::new("{}"));
    assert!(matches!(wrong_state, Err(WebAuthnError::Rejected(_))), "{wrong_state:?}");
}

#[tokio::test]
async fn an_assertion_is_verified_and_a_replayed_or_lowered_counter_is_refused_by_storage() {
    let rp = WebauthnRelyingParty::new(ORIGIN, "SlugBase");
    let store = Arc::new(InMemoryStore::new());
    let user = UserRepository::create(
        &*store,
        NewUser {
            id: UserId::generate(),
            email: Email::parse("ann@example.com").unwrap(),
            name: DisplayName::parse("Ann").unwrap(),
            login: LoginMethod::OidcOnly,
            oidc_provider: Some("corp".to_owned()),
            is_admin: false,
            created_at: Utc::now(),
        },
    )
    .await
    .unwrap();
    let mut key = SoftPasskey::new(true);
    let verified = register(&rp, &mut key, user.id);
    let record = PasskeyRecord {
        id: PasskeyId::generate(),
        user_id: user.id,
        credential_id: verified.credential_id.clone(),
        passkey: verified.passkey.clone(),
        name: "Soft".to_owned(),
        created_at: Utc::now(),
        last_used_at: None,
        sign_count: verified.sign_count,
        backup_eligible: verified.backup_eligible,
        backup_state: verified.backup_state,
    };
    let event = AuditEvent {
        at: Utc::now(),
        user_id: Some(user.id),
        actor_id: None,
        kind: AuditEventKind::PasskeyAdded,
        outcome: AuditOutcome::Success,
        proof: None,
        detail: None,
        client_addr: None,
        user_agent: None,
    };
    store.create_passkey(record, &ChangeEffects::audited(event)).await.unwrap();

    let stored = store.find_passkey(&verified.credential_id).await.unwrap().unwrap();
    let start = rp.start_authentication(std::slice::from_ref(&stored.passkey)).unwrap();
    let options: RequestChallengeResponse = serde_json::from_str(&start.options_json).unwrap();
    let assertion = key.do_authentication(origin(), options).unwrap();
    let json = serde_json::to_string(&assertion).unwrap();
    assert_eq!(rp.assertion_credential_id(&json).unwrap(), verified.credential_id);
    let asserted = rp.finish_authentication(&json, &start.state, &stored.passkey).unwrap();
    let used = PasskeyUse {
        credential_id: asserted.credential_id.clone(),
        passkey: asserted.passkey.clone(),
        sign_count: asserted.sign_count,
        backup_state: asserted.backup_state,
        at: Utc::now(),
    };
    assert_eq!(store.record_passkey_use(&used).await.unwrap(), PasskeyUseOutcome::Recorded);

    // The same assertion again (a replay of its counter), and a lowered counter (a clone
    // that fell behind): refused, nothing written.
    if asserted.sign_count > 0 {
        let replayed = store.record_passkey_use(&used).await.unwrap();
        assert_eq!(replayed, PasskeyUseOutcome::CounterRegressed);
        let lowered = PasskeyUse { sign_count: asserted.sign_count - 1, ..used.clone() };
        assert_eq!(
            store.record_passkey_use(&lowered).await.unwrap(),
            PasskeyUseOutcome::CounterRegressed
        );
    } else {
        let lowered_after = PasskeyUse { sign_count: 0, ..used.clone() };
        let ahead = PasskeyUse { sign_count: 10, ..used.clone() };
        assert_eq!(store.record_passkey_use(&ahead).await.unwrap(), PasskeyUseOutcome::Recorded);
        let refused = store.record_passkey_use(&lowered_after).await.unwrap();
        assert_eq!(refused, PasskeyUseOutcome::CounterRegressed);
    }
    let after = store.find_passkey(&verified.credential_id).await.unwrap().unwrap();
    assert!(after.last_used_at.is_some());

    // Through the recorder the step-up will use: refused, nothing written, and audited.
    let recorder = PasskeyUseRecorder::new(
        store.clone(),
        AuditTrail::new(store.clone(), Arc::new(SystemClock)),
    );
    let client = ClientInfo::new(Some("192.0.2.4".to_owned()), Some("soft"));
    assert!(after.sign_count > 0, "the stored counter moved forward above");
    let stale = PasskeyUse { sign_count: after.sign_count, ..used.clone() };
    let counts = recorder.record(user.id, after.id, &client, &stale).await.unwrap();
    assert!(!counts, "a counter that did not move forward does not count");
    let moved = PasskeyUse { sign_count: after.sign_count + 1, ..used.clone() };
    assert!(recorder.record(user.id, after.id, &client, &moved).await.unwrap());
    let query = AuditQuery {
        kind: Some(AuditEventKind::PasskeyCounterRegressed),
        limit: 10,
        ..AuditQuery::default()
    };
    let events = store.query(query).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0].event;
    assert_eq!(event.outcome, AuditOutcome::Failure("PASSKEY_COUNTER_REGRESSED".to_owned()));
    assert_eq!(event.detail, Some(format!("passkey={}", after.id)));
    assert_eq!(event.user_id, Some(user.id));

    // An assertion checked against another user's passkey is refused.
    let other = register(&rp, &mut SoftPasskey::new(true), user.id);
    let start = rp.start_authentication(std::slice::from_ref(&stored.passkey)).unwrap();
    let options: RequestChallengeResponse = serde_json::from_str(&start.options_json).unwrap();
    let assertion = key.do_authentication(origin(), options).unwrap();
    let json = serde_json::to_string(&assertion).unwrap();
    let refused = rp.finish_authentication(&json, &start.state, &other.passkey);
    assert!(matches!(refused, Err(WebAuthnError::Rejected(_))), "{refused:?}");
}
