//! A passkey's answer as the proof of `DisableMfa`, over mocked ports: the ceremony taken
//! once, the passkey found and checked to be the caller's, the assertion verified, a counter
//! that fell behind refused and audited before anything is spent, and a good answer spent
//! with the change.

use slugbase_application::collaborators::both_factors::{BothFactorsInput, MfaChangeError};
use slugbase_application::collaborators::passkey_ceremonies::PasskeyAssertion;
use slugbase_application::collaborators::second_factor::Possession;
use slugbase_application::ports::{
    CeremonyKind, CeremonyState, MfaProof, PasskeyData, PasskeyRecord, VerifiedPasskey,
};
use slugbase_application::{Caller, InputRejected};
use slugbase_domain::{AuditEventKind, DisableDenied, PasskeyId, Password, ProofKind, UserId};

use crate::support::*;

const CREDENTIAL: &[u8] = b"credential-1";

fn answer() -> Result<BothFactorsInput, InputRejected> {
    let assertion = PasskeyAssertion {
        ceremony_id: "ceremony".to_owned(),
        credential_json: r#"{"id":"Y3JlZGVudGlhbC0x"}"#.to_owned(),
    };
    Ok(BothFactorsInput {
        possession: Possession::Passkey(assertion),
        password: Some(Password::new(RIGHT_PASSWORD)),
    })
}

fn passkey_of(user: UserId, sign_count: u32) -> PasskeyRecord {
    PasskeyRecord {
        id: PasskeyId::generate(),
        user_id: user,
        credential_id: CREDENTIAL.to_vec(),
        passkey: PasskeyData::new(r#"{"stored":true}"#),
        name: "Laptop".to_owned(),
        created_at: now_plus(-600),
        last_used_at: None,
        sign_count,
        backup_eligible: false,
        backup_state: false,
    }
}

/// The ports answer for a live ceremony of `caller`'s, a stored passkey `stored`, and an
/// assertion carrying `asserted_count`.
fn arrange(deps: &mut MockDeps, caller: &Caller, stored: PasskeyRecord, asserted_count: u32) {
    let user = caller.user.id;
    deps.attempts_allowed().token_digest_is_tagged();
    deps.passwords.expect_verify().returning(|p, _| Ok(p.expose() == RIGHT_PASSWORD));
    deps.passkeys
        .expect_take_ceremony()
        .times(1)
        .withf(move |id_hash, u, kind, at| {
            *id_hash == token_digest("ceremony")
                && *u == Some(user)
                && *kind == CeremonyKind::Authentication
                && *at == now()
        })
        .returning(|_, _, _, _| Ok(Some(CeremonyState::new("state"))));
    deps.webauthn.expect_assertion_credential_id().returning(|_| Ok(CREDENTIAL.to_vec()));
    deps.passkeys.expect_find_passkey().returning(move |_| Ok(Some(stored.clone())));
    deps.webauthn.expect_finish_authentication().returning(move |_, _, _| {
        Ok(VerifiedPasskey {
            credential_id: CREDENTIAL.to_vec(),
            passkey: PasskeyData::new(r#"{"updated":true}"#),
            sign_count: asserted_count,
            backup_eligible: false,
            backup_state: true,
        })
    });
}

#[tokio::test]
async fn an_answer_whose_counter_fell_behind_is_refused_audited_and_spends_nothing() {
    let caller = session_caller(with_mfa(local_user()));
    let mut deps = MockDeps::new();
    arrange(&mut deps, &caller, passkey_of(caller.user.id, 7), 5);
    deps.mfa.expect_disable_with_proof().times(0);
    let audit = deps.record_audit();
    let spy = deps.record_attempts();
    let use_cases = UseCases::new(deps.build(), settings());

    let result = use_cases.disable_mfa.execute(&caller, &client(), answer()).await;

    assert!(
        matches!(result, Err(MfaChangeError::Denied(DisableDenied::InvalidPasskey))),
        "{result:?}"
    );
    let kinds: Vec<_> = audit.events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [AuditEventKind::PasskeyCounterRegressed, AuditEventKind::MfaDisableFail]);
    let refused = audit.events()[1].clone();
    assert_eq!(refused.proof, Some(ProofKind::Passkey));
    assert_eq!(spy.failures().len(), 2, "counted like a wrong code: account and address");
}

#[tokio::test]
async fn another_users_passkey_proves_nothing_and_is_never_verified() {
    let caller = session_caller(with_mfa(local_user()));
    let mut deps = MockDeps::new();
    arrange(&mut deps, &caller, passkey_of(UserId::generate(), 0), 9);
    deps.webauthn.checkpoint();
    deps.webauthn.expect_assertion_credential_id().returning(|_| Ok(CREDENTIAL.to_vec()));
    deps.webauthn.expect_finish_authentication().times(0);
    deps.mfa.expect_disable_with_proof().times(0);
    let audit = deps.record_audit();
    let use_cases = UseCases::new(deps.build(), settings());

    let result = use_cases.disable_mfa.execute(&caller, &client(), answer()).await;

    assert!(
        matches!(result, Err(MfaChangeError::Denied(DisableDenied::InvalidPasskey))),
        "{result:?}"
    );
    assert_eq!(audit.only().kind, AuditEventKind::MfaDisableFail);
}

#[tokio::test]
async fn a_good_answer_is_spent_with_the_change_as_the_counter_it_carries() {
    let caller = session_caller(with_mfa(local_user()));
    let mut deps = MockDeps::new();
    arrange(&mut deps, &caller, passkey_of(caller.user.id, 7), 8);
    let user = caller.user.id;
    deps.mfa
        .expect_disable_with_proof()
        .times(1)
        .withf(move |u, proof, at, effects| {
            let MfaProof::Passkey(used) = proof else { return false };
            *u == user
                && used.credential_id == CREDENTIAL
                && used.sign_count == 8
                && used.backup_state
                && used.passkey == PasskeyData::new(r#"{"updated":true}"#)
                && *at == now()
                && effects.audit.kind == AuditEventKind::MfaDisableSuccess
                && effects.audit.proof == Some(ProofKind::Passkey)
        })
        .returning(|_, _, _, _| Ok(true));
    let use_cases = UseCases::new(deps.build(), settings());

    use_cases.disable_mfa.execute(&caller, &client(), answer()).await.expect("MFA off");
}
