//! `Passkeys`: registration (the ceremony taken once, the credential verified, stored with
//! its event and notice, and MFA turned on with backup codes by the first one), rename, and
//! removal with disable's proof (never of the last factor).

use std::sync::atomic::{AtomicU8, Ordering};

use slugbase_application::ports::{
    CeremonyKind, CeremonyStart, CeremonyState, Listed, MfaProof, PasskeyData, PasskeyRecord,
    PasskeyRemoval, StoreError, VerifiedPasskey, WebAuthnError,
};
use slugbase_application::use_cases::passkeys::{
    FinishRegistrationInput, MAX_PASSKEYS_PER_USER, PasskeyError,
};
use slugbase_application::{
    Caller, InputRejected,
    collaborators::both_factors::{BothFactorsInput, MfaChangeError},
};
use slugbase_domain::{
    AuditEventKind, AuditOutcome, DisableDenied, MfaState, NoticeKind, PasskeyId, PasskeyNameError,
    Password, ProofKind, TotpStep, UserId,
};

use crate::support::*;

const GOOD_TOTP: &str = "246810";

fn stored(user: UserId, label: &str) -> PasskeyRecord {
    PasskeyRecord {
        id: PasskeyId::generate(),
        user_id: user,
        credential_id: label.as_bytes().to_vec(),
        passkey: PasskeyData::new("{}"),
        name: format!("Key {label}"),
        created_at: now_plus(-60),
        last_used_at: None,
        sign_count: 0,
        backup_eligible: false,
        backup_state: false,
    }
}

fn owns(deps: &mut MockDeps, passkeys: Vec<PasskeyRecord>) {
    deps.passkeys
        .expect_passkeys_of()
        .returning(move |_| Ok(passkeys.iter().cloned().map(Listed::Ok).collect()));
}

fn finish_input(name: Option<&str>) -> Result<FinishRegistrationInput, InputRejected> {
    Ok(FinishRegistrationInput {
        ceremony_id: "ceremony".to_owned(),
        credential_json: r#"{"id":"x"}"#.to_owned(),
        name: name.map(str::to_owned),
    })
}

fn verified() -> VerifiedPasskey {
    VerifiedPasskey {
        credential_id: b"new-credential".to_vec(),
        passkey: PasskeyData::new(r#"{"cred":{}}"#),
        sign_count: 3,
        backup_eligible: true,
        backup_state: true,
    }
}

async fn finish(deps: MockDeps, caller: &Caller, name: Option<&str>) -> Result<(), PasskeyError> {
    let use_cases = UseCases::new(deps.build(), settings());
    use_cases.passkeys.finish_registration(caller, &client(), finish_input(name)).await.map(|_| ())
}

/// Random bytes for backup codes: distinct on every call.
fn random_backup_bytes(deps: &mut MockDeps) {
    let next = AtomicU8::new(0);
    deps.random.expect_bytes_8().returning(move || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        [0xca, 0xfe, 0x00, 0x11, 0x22, 0x33, i, 0xff - i]
    });
}

/// A registration that storage answers with `turned_on`, for an account with MFA off.
fn first_registration(deps: &mut MockDeps, user: UserId, turned_on: bool) {
    deps.token_digest_is_tagged().backup_digest_is_tagged();
    random_backup_bytes(deps);
    deps.passkeys.expect_take_ceremony().returning(|_, _, _, _| Ok(Some(CeremonyState::new("s"))));
    deps.webauthn.expect_finish_registration().returning(|_, _| Ok(verified()));
    deps.passkeys
        .expect_create_first_passkey()
        .times(1)
        .withf(move |record, effects, on| {
            let notice = on.effects.notice.as_ref().expect("a notice");
            record.user_id == user
                && effects.audit.kind == AuditEventKind::PasskeyAdded
                && on.backup_codes.len() == 10
                && on.backup_codes.iter().all(|c| c.as_str().starts_with("hmac:"))
                && on.at == now()
                && on.effects.audit.kind == AuditEventKind::MfaEnrollConfirmSuccess
                && on.effects.audit.proof == Some(ProofKind::Passkey)
                && notice.kind == NoticeKind::MfaEnabled
        })
        .returning(move |_, _, _| Ok(turned_on));
}

#[tokio::test]
async fn registration_begins_while_mfa_is_off() {
    let user = local_user();
    assert_eq!(user.mfa, MfaState::Disabled);
    let mut deps = MockDeps::new();
    owns(&mut deps, Vec::new());
    deps.random.expect_bytes_32().returning(|| [7; 32]);
    deps.token_digest_is_tagged();
    deps.webauthn.expect_start_registration().times(1).returning(|_, _| {
        Ok(CeremonyStart {
            options_json: r#"{"publicKey":{}}"#.to_owned(),
            state: CeremonyState::new("state"),
        })
    });
    deps.passkeys.expect_delete_expired_ceremonies().returning(|_| Ok(0));
    deps.passkeys.expect_put_ceremony().times(1).returning(|_| Ok(()));
    let caller = session_caller(user);
    let result = UseCases::new(deps.build(), settings()).passkeys.begin_registration(&caller).await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn the_first_passkey_turns_mfa_on_and_returns_the_codes_once() {
    let user = local_user();
    let mut deps = MockDeps::new();
    first_registration(&mut deps, user.id, true);
    let caller = session_caller(user);
    let use_cases = UseCases::new(deps.build(), settings());
    let registered = use_cases
        .passkeys
        .finish_registration(&caller, &client(), finish_input(None))
        .await
        .expect("registered");
    let codes = registered.backup_codes.clone().expect("the codes");
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.expose().len() == 16), "16 hex characters each");
    assert!(!format!("{registered:?}").contains(codes[0].expose()), "Debug shows no code");
}

#[tokio::test]
async fn a_registration_that_finds_mfa_on_returns_no_codes() {
    let user = local_user();
    let mut deps = MockDeps::new();
    first_registration(&mut deps, user.id, false);
    let caller = session_caller(user);
    let use_cases = UseCases::new(deps.build(), settings());
    let registered = use_cases
        .passkeys
        .finish_registration(&caller, &client(), finish_input(None))
        .await
        .expect("registered");
    assert!(registered.backup_codes.is_none());
}

#[tokio::test]
async fn the_last_factor_is_refused_before_any_attempt_is_counted() {
    let mut user = with_mfa(local_user());
    if let MfaState::Enabled { secret, .. } = &mut user.mfa {
        *secret = None;
    }
    let key = stored(user.id, "only");
    let mut deps = MockDeps::new();
    owns(&mut deps, vec![key.clone()]);
    deps.passkeys.expect_remove_passkey().times(0);
    let spy = deps.record_attempts();
    let caller = session_caller(user);
    let use_cases = UseCases::new(deps.build(), settings());
    let input = proof_input("0123456789abcdef", Some(RIGHT_PASSWORD));
    let result = use_cases.passkeys.remove(&caller, &client(), key.id, input).await;
    assert!(matches!(result, Err(PasskeyError::LastFactor)), "{result:?}");
    assert!(spy.failures().is_empty());
}

#[tokio::test]
async fn registration_options_exclude_the_users_passkeys_and_store_the_state_once() {
    let user = with_mfa(local_user());
    let mine = vec![stored(user.id, "a"), stored(user.id, "b")];
    let mut deps = MockDeps::new();
    owns(&mut deps, mine);
    deps.random.expect_bytes_32().returning(|| [7; 32]);
    deps.token_digest_is_tagged();
    deps.webauthn
        .expect_start_registration()
        .times(1)
        .withf(|owner, exclude| {
            owner.name == "ada@example.com" && exclude == [b"a".to_vec(), b"b".to_vec()]
        })
        .returning(|_, _| {
            Ok(CeremonyStart {
                options_json: r#"{"publicKey":{}}"#.to_owned(),
                state: CeremonyState::new("secret-state"),
            })
        });
    deps.passkeys.expect_delete_expired_ceremonies().times(1).returning(|_| Ok(0));
    let user_id = user.id;
    deps.passkeys
        .expect_put_ceremony()
        .times(1)
        .withf(move |c| {
            c.user_id == Some(user_id)
                && c.kind == CeremonyKind::Registration
                && c.state == CeremonyState::new("secret-state")
                && c.expires_at == now_plus(300)
                && c.id_hash.as_str().starts_with("sha:")
        })
        .returning(|_| Ok(()));
    let caller = session_caller(user);

    let use_cases = UseCases::new(deps.build(), settings());
    let options = use_cases.passkeys.begin_registration(&caller).await.expect("options");

    assert_eq!(options.options_json, r#"{"publicKey":{}}"#);
    assert!(!options.ceremony_id.expose().is_empty());
}

#[tokio::test]
async fn an_account_with_the_most_passkeys_gets_no_options() {
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    owns(&mut deps, (0..MAX_PASSKEYS_PER_USER).map(|i| stored(user.id, &i.to_string())).collect());
    let caller = session_caller(user);
    let result = UseCases::new(deps.build(), settings()).passkeys.begin_registration(&caller).await;
    assert!(matches!(result, Err(PasskeyError::TooManyPasskeys)), "{result:?}");
}

#[tokio::test]
async fn an_unknown_expired_or_replayed_ceremony_is_refused_and_audited_without_verifying() {
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.token_digest_is_tagged();
    deps.passkeys.expect_take_ceremony().times(1).returning(|_, _, _, _| Ok(None));
    deps.webauthn.expect_finish_registration().times(0);
    deps.passkeys.expect_create_first_passkey().times(0);
    let audit = deps.record_audit();
    let caller = session_caller(user);

    let result = finish(deps, &caller, None).await;

    assert!(matches!(result, Err(PasskeyError::CeremonyInvalid)), "{result:?}");
    let event = audit.only();
    assert_eq!(event.kind, AuditEventKind::PasskeyAddFail);
    assert_eq!(event.outcome, AuditOutcome::Failure("PASSKEY_CEREMONY_INVALID".to_owned()));
}

#[tokio::test]
async fn a_bad_name_is_refused_before_the_ceremony_is_spent() {
    let deps = MockDeps::new();
    let caller = session_caller(with_mfa(local_user()));
    for (name, why) in
        [("", PasskeyNameError::Empty), ("a\u{7}", PasskeyNameError::ControlCharacter)]
    {
        let mut deps = MockDeps::new();
        deps.passkeys.expect_take_ceremony().times(0);
        let result = finish(deps, &caller, Some(name)).await;
        assert!(matches!(result, Err(PasskeyError::InvalidName(w)) if w == why), "{result:?}");
    }
    let result = UseCases::new(deps.build(), settings())
        .passkeys
        .finish_registration(&caller, &client(), Err(InputRejected))
        .await;
    assert!(matches!(result, Err(PasskeyError::InputRejected(_))), "{result:?}");
}

#[tokio::test]
async fn a_credential_that_fails_verification_is_refused_and_audited() {
    let mut deps = MockDeps::new();
    deps.token_digest_is_tagged();
    deps.passkeys
        .expect_take_ceremony()
        .returning(|_, _, _, _| Ok(Some(CeremonyState::new("state"))));
    deps.webauthn
        .expect_finish_registration()
        .returning(|_, _| Err(WebAuthnError::Rejected("InvalidRPIDHash".to_owned())));
    deps.passkeys.expect_create_first_passkey().times(0);
    let audit = deps.record_audit();
    let caller = session_caller(with_mfa(local_user()));

    let result = finish(deps, &caller, None).await;

    assert!(matches!(result, Err(PasskeyError::CredentialRejected)), "{result:?}");
    assert_eq!(audit.only().outcome, AuditOutcome::Failure("PASSKEY_REJECTED".to_owned()));
}

#[tokio::test]
async fn a_verified_passkey_is_stored_with_its_event_and_notice() {
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.token_digest_is_tagged();
    let user_id = user.id;
    deps.passkeys
        .expect_take_ceremony()
        .times(1)
        .withf(move |hash, u, kind, at| {
            hash.as_str() == "sha:ceremony"
                && *u == Some(user_id)
                && *kind == CeremonyKind::Registration
                && *at == now()
        })
        .returning(|_, _, _, _| Ok(Some(CeremonyState::new("state"))));
    deps.webauthn.expect_finish_registration().times(1).returning(|_, _| Ok(verified()));
    deps.backup_digest_is_tagged();
    random_backup_bytes(&mut deps);
    deps.passkeys
        .expect_create_first_passkey()
        .times(1)
        .withf(move |record, effects, _| {
            let notice = effects.notice.as_ref().expect("a notice");
            record.user_id == user_id
                && record.name == "Laptop"
                && record.credential_id == b"new-credential"
                && record.sign_count == 3
                && record.backup_eligible
                && effects.audit.kind == AuditEventKind::PasskeyAdded
                && effects.audit.detail == Some(format!("passkey={}", record.id))
                && notice.kind == NoticeKind::PasskeyAdded
                && notice.subject.as_deref() == Some("Laptop")
        })
        .returning(|_, _, _| Ok(false));
    let caller = session_caller(user);

    let use_cases = UseCases::new(deps.build(), settings());
    let client = client();
    let view =
        use_cases.passkeys.finish_registration(&caller, &client, finish_input(Some(" Laptop ")));
    let registered = view.await.expect("registered");

    let view = &registered.passkey;
    assert_eq!((view.name.as_str(), view.backup_state), ("Laptop", true));
    assert!(registered.backup_codes.is_none(), "MFA was on already");
}

#[tokio::test]
async fn a_credential_registered_already_is_a_clear_refusal() {
    let mut deps = MockDeps::new();
    deps.token_digest_is_tagged();
    deps.passkeys.expect_take_ceremony().returning(|_, _, _, _| Ok(Some(CeremonyState::new("s"))));
    deps.webauthn.expect_finish_registration().returning(|_, _| Ok(verified()));
    deps.backup_digest_is_tagged();
    random_backup_bytes(&mut deps);
    deps.passkeys
        .expect_create_first_passkey()
        .returning(|_, _, _| Err(StoreError::Conflict("passkeys.credential_id")));
    let audit = deps.record_audit();
    let caller = session_caller(with_mfa(local_user()));

    let result = finish(deps, &caller, None).await;

    assert!(matches!(result, Err(PasskeyError::AlreadyRegistered)), "{result:?}");
    assert_eq!(
        audit.only().outcome,
        AuditOutcome::Failure("PASSKEY_ALREADY_REGISTERED".to_owned())
    );
}

#[tokio::test]
async fn renaming_someone_elses_passkey_is_not_found_and_a_bad_name_never_reaches_storage() {
    let caller = session_caller(with_mfa(local_user()));
    let id = PasskeyId::generate();
    let mut deps = MockDeps::new();
    deps.passkeys.expect_rename_passkey().times(1).returning(|_, _, _| Ok(false));
    let use_cases = UseCases::new(deps.build(), settings());
    let result = use_cases.passkeys.rename(&caller, &client(), id, Ok("New".to_owned())).await;
    assert!(matches!(result, Err(PasskeyError::NotFound)), "{result:?}");
    let long = "x".repeat(65);
    let result = use_cases.passkeys.rename(&caller, &client(), id, Ok(long)).await;
    assert!(matches!(result, Err(PasskeyError::InvalidName(PasskeyNameError::TooLong))));
}

fn proof_input(code: &str, password: Option<&str>) -> Result<BothFactorsInput, InputRejected> {
    Ok(BothFactorsInput::with_code(code.to_owned(), password.map(Password::new)))
}

#[tokio::test]
async fn removing_an_unknown_passkey_is_not_found_before_any_attempt_is_counted() {
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    owns(&mut deps, vec![stored(user.id, "mine")]);
    deps.passkeys.expect_remove_passkey().times(0);
    let spy = deps.record_attempts();
    let caller = session_caller(user);
    let use_cases = UseCases::new(deps.build(), settings());
    let input = proof_input(GOOD_TOTP, Some(RIGHT_PASSWORD));
    let result = use_cases.passkeys.remove(&caller, &client(), PasskeyId::generate(), input).await;
    assert!(matches!(result, Err(PasskeyError::NotFound)), "{result:?}");
    assert!(spy.failures().is_empty());
}

#[tokio::test]
async fn a_wrong_password_refuses_removal_and_counts_an_attempt() {
    let user = with_mfa(local_user());
    let key = stored(user.id, "mine");
    let mut deps = MockDeps::new();
    owns(&mut deps, vec![key.clone()]);
    deps.attempts_allowed();
    deps.passwords.expect_verify().times(1).returning(|_, _| Ok(false));
    deps.passkeys.expect_remove_passkey().times(0);
    let audit = deps.record_audit();
    let spy = deps.record_attempts();
    let caller = session_caller(user);
    let use_cases = UseCases::new(deps.build(), settings());

    let input = proof_input(GOOD_TOTP, Some("wrong"));
    let result = use_cases.passkeys.remove(&caller, &client(), key.id, input).await;

    assert!(
        matches!(
            result,
            Err(PasskeyError::Change(MfaChangeError::Denied(DisableDenied::InvalidPassword)))
        ),
        "{result:?}"
    );
    assert_eq!(audit.only().kind, AuditEventKind::PasskeyRemoveFail);
    assert_eq!(spy.failures().len(), 2, "account and address");
}

#[tokio::test]
async fn a_removal_spends_the_code_with_its_event_and_notice() {
    let user = with_mfa(local_user());
    let key = stored(user.id, "mine");
    let mut deps = MockDeps::new();
    owns(&mut deps, vec![key.clone()]);
    deps.attempts_allowed();
    deps.passwords.expect_verify().returning(|p, _| Ok(p.expose() == RIGHT_PASSWORD));
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, LAST_STEP + 1);
    let (user_id, key_id) = (user.id, key.id);
    deps.passkeys
        .expect_remove_passkey()
        .times(1)
        .withf(move |u, id, proof, at, effects| {
            let notice = effects.notice.as_ref().expect("a notice");
            *u == user_id
                && *id == key_id
                && *proof == MfaProof::TotpStep(TotpStep::new(LAST_STEP + 1))
                && *at == now()
                && effects.audit.kind == AuditEventKind::PasskeyRemoved
                && effects.end_sessions.is_none()
                && notice.kind == NoticeKind::PasskeyRemoved
                && notice.subject.as_deref() == Some("Key mine")
        })
        .returning(|_, _, _, _, _| Ok(PasskeyRemoval::Removed));
    let caller = session_caller(user);
    let use_cases = UseCases::new(deps.build(), settings());

    let input = proof_input(GOOD_TOTP, Some(RIGHT_PASSWORD));
    use_cases.passkeys.remove(&caller, &client(), key.id, input).await.expect("removed");
}

#[tokio::test]
async fn a_code_spent_concurrently_is_an_invalid_code_and_a_passkey_gone_meanwhile_not_found() {
    for (answer, expect_not_found) in
        [(PasskeyRemoval::ProofRefused, false), (PasskeyRemoval::NotFound, true)]
    {
        let user = with_mfa(oidc_user());
        let key = stored(user.id, "mine");
        let mut deps = MockDeps::new();
        owns(&mut deps, vec![key.clone()]);
        deps.attempts_allowed();
        deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, LAST_STEP + 1);
        deps.passkeys.expect_remove_passkey().times(1).returning(move |_, _, _, _, _| Ok(answer));
        let audit = deps.record_audit();
        let caller = token_caller(user);
        let use_cases = UseCases::new(deps.build(), settings());

        // An OIDC-only user proves possession with the code alone.
        let client = client();
        let result =
            use_cases.passkeys.remove(&caller, &client, key.id, proof_input(GOOD_TOTP, None));

        match result.await {
            Err(PasskeyError::NotFound) if expect_not_found => {}
            Err(PasskeyError::Change(MfaChangeError::Denied(DisableDenied::InvalidCode)))
                if !expect_not_found => {}
            other => panic!("{answer:?}: {other:?}"),
        }
        assert_eq!(audit.only().kind, AuditEventKind::PasskeyRemoveFail);
    }
}
