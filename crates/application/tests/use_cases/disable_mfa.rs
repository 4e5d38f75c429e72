//! `DisableMfa`: every row of the table in `docs/api.md` § POST /api/auth/mfa/disable (rows
//! 3–8), their precedence, and what success and failure leave behind.

use slugbase_application::ports::ChangeEffects;
use slugbase_application::ports::{EndSessions, MfaProof, StoreError};
use slugbase_application::{
    AuthSettings, Caller, InputRejected, Unexpected,
    collaborators::both_factors::{BothFactorsInput, MfaChangeError},
};
use slugbase_domain::{
    AuditEventKind, AuditOutcome, DisableDenied, Password, ProofKind, TotpStep, User, UserId,
};

use crate::support::*;

/// A TOTP code the fixture verifier accepts, for the step after the last accepted one.
const GOOD_TOTP: &str = "246810";
const GOOD_STEP: u64 = LAST_STEP + 1;
/// A backup code as a user might type it, and its normalised form.
const TYPED_BACKUP: &str = "0123 4567 89AB CDEF";
const BACKUP: &str = "0123456789abcdef";

fn input(code: &str, password: Option<&str>) -> Result<BothFactorsInput, InputRejected> {
    Ok(BothFactorsInput::with_code(code.to_owned(), password.map(Password::new)))
}

async fn run(
    deps: MockDeps,
    settings: AuthSettings,
    caller: &Caller,
    input: Result<BothFactorsInput, InputRejected>,
) -> Result<(), MfaChangeError> {
    UseCases::new(deps.build(), settings).disable_mfa.execute(caller, &client(), input).await
}

/// The hasher accepts exactly [`RIGHT_PASSWORD`] against the fixture hash, once.
fn password_checked(deps: &mut MockDeps) {
    deps.passwords
        .expect_verify()
        .times(1)
        .withf(|_, hash| *hash == Some(&password_hash()))
        .returning(|password, _| Ok(password.expose() == RIGHT_PASSWORD));
}

/// Spending the proof is refused outright: used on failure paths to state that the
/// repository's disable is never reached.
fn never_disabled(deps: &mut MockDeps) {
    deps.mfa.expect_disable_with_proof().times(0);
}

/// Expects the disable with exactly `proof` for `user`, once, and answers `spent`; the spy
/// holds the effects it was asked to commit with it.
fn disables_with(deps: &mut MockDeps, user: &User, proof: MfaProof, spent: bool) -> EffectsSpy {
    let user_id = user.id;
    let spy = EffectsSpy::default();
    let seen = spy.clone();
    deps.mfa
        .expect_disable_with_proof()
        .times(1)
        .withf(move |u, p, at, _| *u == user_id && *p == proof && *at == now())
        .returning(move |_, _, _, effects| {
            seen.saw(effects);
            Ok(spent)
        });
    spy
}

/// The disable's success event with `proof`, committed with both attempts given back and
/// `end_sessions`.
fn disabled(user: UserId, proof: ProofKind, end_sessions: Option<EndSessions>) -> ChangeEffects {
    success_effects(AuditEventKind::MfaDisableSuccess, user, Some(proof), end_sessions)
}

fn denied(result: Result<(), MfaChangeError>) -> DisableDenied {
    match result {
        Err(MfaChangeError::Denied(denied)) => denied,
        other => panic!("expected a denial, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Row 3: attempt limits
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_account_over_its_attempt_limit_is_refused_before_anything_else_is_called() {
    // Arrange: only the attempt counters are readable; every other port panics if called.
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_with(second_factor_key(user.id), counter(10));
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act: with a perfectly good password and code.
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert
    match result {
        Err(MfaChangeError::TooManyAttempts(t)) => {
            assert!(!t.locked_out);
            assert!(t.retry_after_secs > 0 && t.retry_after_secs <= 900 - 60);
        }
        other => panic!("expected TooManyAttempts, got {other:?}"),
    }
}

#[tokio::test]
async fn an_address_over_its_attempt_limit_is_refused_even_for_a_fresh_account() {
    // Arrange
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_with(address_key(), counter(60));
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert
    assert!(matches!(result, Err(MfaChangeError::TooManyAttempts(_))), "{result:?}");
}

#[tokio::test]
async fn an_account_past_the_consecutive_failure_limit_is_locked_out() {
    // Arrange: 100 consecutive failures, though the current window holds only one.
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    let locked = slugbase_domain::AttemptCounter {
        window_start: now_plus(-10),
        failures: 1,
        consecutive: 100,
    };
    deps.attempts_with(second_factor_key(user.id), locked);
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert
    match result {
        Err(MfaChangeError::TooManyAttempts(t)) => assert!(t.locked_out),
        other => panic!("expected a lockout, got {other:?}"),
    }
}

#[tokio::test]
async fn the_attempt_limit_is_checked_before_the_body_is_validated() {
    // Arrange
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_with(second_factor_key(user.id), counter(10));
    let caller = session_caller(user);
    let bad_body = Err(InputRejected);

    // Act
    let result = run(deps, settings(), &caller, bad_body).await;

    // Assert
    assert!(matches!(result, Err(MfaChangeError::TooManyAttempts(_))), "{result:?}");
}

// ---------------------------------------------------------------------------------------
// Row 4: validation
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_malformed_body_is_reported_after_the_throttle_check_and_nothing_else_runs() {
    // Arrange: both counters reserve a place; nothing else may be touched.
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    never_disabled(&mut deps);
    let caller = session_caller(user);
    let bad_body = Err(InputRejected);

    // Act
    let result = run(deps, settings(), &caller, bad_body).await;

    // Assert
    assert!(matches!(result, Err(MfaChangeError::InputRejected(_))), "{result:?}");
    // Both places were given back: a malformed body is no guess.
    assert_eq!(attempts.given_back(), [second_factor_key(user_id), address_key()]);
    assert!(attempts.failures().is_empty());
}

// ---------------------------------------------------------------------------------------
// Row 5: MFA not enabled
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn mfa_not_enabled_is_decided_before_any_password_or_code_is_checked() {
    // Arrange: no hasher, TOTP, cipher or MFA repository expectations: any call panics.
    let user = local_user();
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act: wrong password, garbage code.
    let result = run(deps, settings(), &caller, input("garbage", Some("wrong"))).await;

    // Assert: refused, audited, not counted (its reserved place was given back).
    assert_eq!(denied(result), DisableDenied::MfaNotEnabled);
    assert!(attempts.failures().is_empty());
    let event = audit.only();
    assert_audit(
        &event,
        AuditEventKind::MfaDisableFail,
        Some(user_id),
        Some("MFA_NOT_ENABLED"),
        None,
    );
}

#[tokio::test]
async fn a_pending_enrollment_is_not_enabled_mfa() {
    // Arrange
    let user = with_pending_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_audit();
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert
    assert_eq!(denied(result), DisableDenied::MfaNotEnabled);
}

// ---------------------------------------------------------------------------------------
// Row 5b: policy
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_cannot_disable_mfa_when_policy_requires_it_even_with_both_factors() {
    // Arrange: neither factor is checked (no hasher / TOTP / cipher expectations).
    let user = with_mfa(admin_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let audit = deps.record_audit();
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act
    let result = run(
        deps,
        settings_requiring_mfa_for_admins(),
        &caller,
        input(GOOD_TOTP, Some(RIGHT_PASSWORD)),
    )
    .await;

    // Assert: refused and audited, not counted as a guess.
    assert_eq!(denied(result), DisableDenied::RequiredByPolicy);
    assert_audit(
        &audit.only(),
        AuditEventKind::MfaDisableFail,
        Some(user_id),
        Some("MFA_REQUIRED_BY_POLICY"),
        None,
    );
}

#[tokio::test]
async fn an_admin_without_mfa_under_the_policy_gets_mfa_not_enabled_as_row_5_comes_first() {
    // Arrange
    let user = admin_user();
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let audit = deps.record_audit();
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act
    let result = run(
        deps,
        settings_requiring_mfa_for_admins(),
        &caller,
        input(GOOD_TOTP, Some(RIGHT_PASSWORD)),
    )
    .await;

    // Assert
    assert_eq!(denied(result), DisableDenied::MfaNotEnabled);
    assert_eq!(audit.only().outcome, AuditOutcome::Failure("MFA_NOT_ENABLED".to_owned()));
}

#[tokio::test]
async fn the_admin_policy_does_not_stop_a_non_admin() {
    // Arrange
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_audit();
    deps.record_attempts();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    disables_with(&mut deps, &user, MfaProof::TotpStep(TotpStep::new(GOOD_STEP)), true);
    let caller = session_caller(user);

    // Act
    let result = run(
        deps,
        settings_requiring_mfa_for_admins(),
        &caller,
        input(GOOD_TOTP, Some(RIGHT_PASSWORD)),
    )
    .await;

    // Assert
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn an_admin_may_disable_mfa_when_no_policy_requires_it() {
    // Arrange
    let user = with_mfa(admin_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_audit();
    deps.record_attempts();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    disables_with(&mut deps, &user, MfaProof::TotpStep(TotpStep::new(GOOD_STEP)), true);
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert
    assert!(result.is_ok(), "{result:?}");
}

// ---------------------------------------------------------------------------------------
// Row 6: password required
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_local_user_without_a_password_gets_password_required_and_it_counts() {
    for password in [None, Some("")] {
        // Arrange: no hasher, TOTP or cipher expectations.
        let user = with_mfa(local_user());
        let user_id = user.id;
        let mut deps = MockDeps::new();
        deps.attempts_allowed();
        let attempts = deps.record_attempts();
        let audit = deps.record_audit();
        never_disabled(&mut deps);
        let caller = session_caller(user);

        // Act
        let result = run(deps, settings(), &caller, input(GOOD_TOTP, password)).await;

        // Assert
        assert_eq!(denied(result), DisableDenied::PasswordRequired, "password {password:?}");
        assert_eq!(attempts.failures(), [second_factor_key(user_id), address_key()]);
        assert!(attempts.successes().is_empty());
        assert_audit(
            &audit.only(),
            AuditEventKind::MfaDisableFail,
            Some(user_id),
            Some("PASSWORD_REQUIRED"),
            None,
        );
    }
}

// ---------------------------------------------------------------------------------------
// Row 7: wrong password
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_wrong_password_gets_invalid_password_and_it_counts() {
    // Arrange: the code is never looked at (no TOTP or cipher expectations).
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    password_checked(&mut deps);
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some("wrong password"))).await;

    // Assert
    assert_eq!(denied(result), DisableDenied::InvalidPassword);
    assert_eq!(attempts.failures(), [second_factor_key(user_id), address_key()]);
    assert_audit(
        &audit.only(),
        AuditEventKind::MfaDisableFail,
        Some(user_id),
        Some("INVALID_PASSWORD"),
        None,
    );
}

#[tokio::test]
async fn a_wrong_password_and_a_wrong_code_give_invalid_password_without_checking_the_code() {
    // Arrange: TOTP, cipher and backup hasher unarranged: any call panics.
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_attempts();
    deps.record_audit();
    password_checked(&mut deps);
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input("000000", Some("wrong password"))).await;

    // Assert
    assert_eq!(denied(result), DisableDenied::InvalidPassword);
}

// ---------------------------------------------------------------------------------------
// Row 8: invalid code
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_code_that_is_no_code_at_all_gets_invalid_code_without_touching_the_secret() {
    for code in ["", "   ", "12345", "1234567", "not-a-code", "0123456789abcdeg", "١٢٣٤٥٦"] {
        // Arrange: cipher, TOTP and backup hasher unarranged.
        let user = with_mfa(local_user());
        let user_id = user.id;
        let mut deps = MockDeps::new();
        deps.attempts_allowed();
        let attempts = deps.record_attempts();
        let audit = deps.record_audit();
        password_checked(&mut deps);
        never_disabled(&mut deps);
        let caller = session_caller(user);

        // Act
        let result = run(deps, settings(), &caller, input(code, Some(RIGHT_PASSWORD))).await;

        // Assert
        assert_eq!(denied(result), DisableDenied::InvalidCode, "code {code:?}");
        assert_eq!(attempts.failures(), [second_factor_key(user_id), address_key()]);
        assert_audit(
            &audit.only(),
            AuditEventKind::MfaDisableFail,
            Some(user_id),
            Some("INVALID_CODE"),
            None,
        );
    }
}

#[tokio::test]
async fn a_wrong_totp_gets_invalid_code_and_it_counts() {
    // Arrange
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input("135791", Some(RIGHT_PASSWORD))).await;

    // Assert
    assert_eq!(denied(result), DisableDenied::InvalidCode);
    assert_eq!(attempts.failures(), [second_factor_key(user_id), address_key()]);
    assert!(attempts.successes().is_empty());
    assert_audit(
        &audit.only(),
        AuditEventKind::MfaDisableFail,
        Some(user_id),
        Some("INVALID_CODE"),
        Some(ProofKind::Totp),
    );
}

#[tokio::test]
async fn a_totp_for_an_already_accepted_step_is_a_replay_and_gets_invalid_code() {
    for step in [LAST_STEP, LAST_STEP - 1] {
        // Arrange: the code is right for the secret, but its step is not newer.
        let user = with_mfa(local_user());
        let mut deps = MockDeps::new();
        deps.attempts_allowed();
        let attempts = deps.record_attempts();
        deps.record_audit();
        password_checked(&mut deps);
        deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, step);
        never_disabled(&mut deps);
        let caller = session_caller(user);

        // Act
        let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

        // Assert
        assert_eq!(denied(result), DisableDenied::InvalidCode, "step {step}");
        assert_eq!(attempts.failures().len(), 2);
    }
}

#[tokio::test]
async fn a_backup_code_the_repository_refuses_gets_invalid_code_and_it_counts() {
    // Arrange: a well-formed backup code; storage says it is not the user's or is used.
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    password_checked(&mut deps);
    deps.backup_digest_is_tagged();
    disables_with(&mut deps, &user, backup_proof(BACKUP), false);
    let caller = session_caller(user);

    // Act: sessions and success counters are unarranged, so they cannot be touched.
    let result = run(deps, settings(), &caller, input(TYPED_BACKUP, Some(RIGHT_PASSWORD))).await;

    // Assert
    assert_eq!(denied(result), DisableDenied::InvalidCode);
    assert_eq!(attempts.failures(), [second_factor_key(user_id), address_key()]);
    assert!(attempts.successes().is_empty());
    assert_audit(
        &audit.only(),
        AuditEventKind::MfaDisableFail,
        Some(user_id),
        Some("INVALID_CODE"),
        Some(ProofKind::BackupCode),
    );
}

#[tokio::test]
async fn a_totp_that_loses_the_race_to_another_request_gets_invalid_code() {
    // Arrange: the TOTP is fresh when checked, but a concurrent request spent its step first.
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    disables_with(&mut deps, &user, MfaProof::TotpStep(TotpStep::new(GOOD_STEP)), false);
    let caller = session_caller(user);

    // Act: no session is ended (delete_for_user unarranged).
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert
    assert_eq!(denied(result), DisableDenied::InvalidCode);
    assert_eq!(attempts.failures().len(), 2);
    assert!(attempts.successes().is_empty());
    assert_audit(
        &audit.only(),
        AuditEventKind::MfaDisableFail,
        Some(user_id),
        Some("INVALID_CODE"),
        Some(ProofKind::Totp),
    );
}

// ---------------------------------------------------------------------------------------
// OIDC-only users
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_oidc_only_user_sending_a_bogus_password_with_a_valid_code_succeeds() {
    for password in [Some("bogus"), None, Some("")] {
        // Arrange: the hasher is unarranged: it must never be asked.
        let user = with_mfa(oidc_user());
        let mut deps = MockDeps::new();
        deps.attempts_allowed();
        deps.record_attempts();
        deps.record_audit();
        deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
        disables_with(&mut deps, &user, MfaProof::TotpStep(TotpStep::new(GOOD_STEP)), true);
        let caller = session_caller(user);

        // Act
        let result = run(deps, settings(), &caller, input(GOOD_TOTP, password)).await;

        // Assert
        assert!(result.is_ok(), "password {password:?}: {result:?}");
    }
}

#[tokio::test]
async fn an_oidc_only_user_with_a_wrong_code_gets_invalid_code() {
    // Arrange
    let user = with_mfa(oidc_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_attempts();
    deps.record_audit();
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input("999999", None)).await;

    // Assert
    assert_eq!(denied(result), DisableDenied::InvalidCode);
}

// ---------------------------------------------------------------------------------------
// Success
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_fresh_totp_and_the_password_disable_mfa_once_and_end_the_other_sessions() {
    // Arrange: the session store and the audit log are unarranged: the disable's own
    // transaction ends the sessions and stores the event, nothing runs after it.
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    let effects =
        disables_with(&mut deps, &user, MfaProof::TotpStep(TotpStep::new(GOOD_STEP)), true);
    let caller = session_caller(user);

    // Act: spaces inside the code are ignored.
    let result = run(deps, settings(), &caller, input(" 246 810 ", Some(RIGHT_PASSWORD))).await;

    // Assert: one transaction with the event, the other sessions' end (the caller's stays)
    // and both attempts given back; no release outside it.
    assert!(result.is_ok(), "{result:?}");
    let committed = effects.only();
    let keep = Some(EndSessions { keep: Some(caller_session()) });
    assert_eq!(committed, disabled(user_id, ProofKind::Totp, keep));
    assert!(attempts.successes().is_empty() && attempts.given_back().is_empty());
    let logged = format!("{committed:?}");
    assert!(!logged.contains(GOOD_TOTP) && !logged.contains(RIGHT_PASSWORD), "{logged}");
    // The "MFA disabled" notice commits with it, to the account's address, from the client.
    let notice = effects.notice().expect("a notice commits with the change");
    assert_eq!(notice.kind, slugbase_domain::NoticeKind::MfaDisabled);
    assert_eq!(notice.user_id, Some(user_id));
    assert_eq!(notice.client_addr.as_deref(), Some(CLIENT_ADDR));
    let noticed = format!("{notice:?}");
    assert!(!noticed.contains(GOOD_TOTP) && !noticed.contains(RIGHT_PASSWORD), "{noticed}");
}

#[tokio::test]
async fn an_unused_backup_code_disables_mfa_and_an_api_token_caller_keeps_no_session() {
    // Arrange: upper case and spaces; the digest is taken of the normalised code.
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    password_checked(&mut deps);
    deps.backup_digest_is_tagged();
    let effects = disables_with(&mut deps, &user, backup_proof(BACKUP), true);
    let caller = token_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input(TYPED_BACKUP, Some(RIGHT_PASSWORD))).await;

    // Assert: every session of the user ends with the change.
    assert!(result.is_ok(), "{result:?}");
    let committed = effects.only();
    let every_session = Some(EndSessions { keep: None });
    assert_eq!(committed, disabled(user_id, ProofKind::BackupCode, every_session));
    assert!(attempts.successes().is_empty());
    assert!(!format!("{committed:?}").to_lowercase().contains(BACKUP));
}

#[tokio::test]
async fn other_sessions_stay_when_the_setting_is_off() {
    // Arrange: delete_for_user unarranged.
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_attempts();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    let effects =
        disables_with(&mut deps, &user, MfaProof::TotpStep(TotpStep::new(GOOD_STEP)), true);
    let caller = session_caller(user);
    let settings = AuthSettings { end_other_sessions_on_mfa_change: false, ..settings() };

    // Act
    let result = run(deps, settings, &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert: the event and the releases still commit with the change; no session ends.
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(effects.only(), disabled(user_id, ProofKind::Totp, None));
}

// ---------------------------------------------------------------------------------------
// Storage failures
// ---------------------------------------------------------------------------------------

fn unavailable() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("connection refused"))
}

#[tokio::test]
async fn an_unreachable_attempt_store_surfaces_as_unavailable() {
    // Arrange
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts.expect_reserve().returning(|_, _, _| Err(unavailable()));
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert
    assert!(
        matches!(result, Err(MfaChangeError::Unexpected(Unexpected::Unavailable(_)))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_unreachable_mfa_repository_surfaces_as_unavailable_and_nothing_follows() {
    // Arrange: sessions, success counter and audit unarranged.
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    deps.mfa.expect_disable_with_proof().times(1).returning(|_, _, _, _| Err(unavailable()));
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert
    assert!(
        matches!(result, Err(MfaChangeError::Unexpected(Unexpected::Unavailable(_)))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_sealed_secret_that_cannot_be_opened_is_an_internal_error_not_a_wrong_code() {
    // Arrange
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    password_checked(&mut deps);
    deps.cipher
        .expect_decrypt()
        .returning(|_, _| Err(slugbase_application::ports::CipherError::Corrupt));
    never_disabled(&mut deps);
    let caller = session_caller(user);

    // Act
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert
    assert!(
        matches!(result, Err(MfaChangeError::Unexpected(Unexpected::Internal(_)))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_disable_the_repository_cannot_commit_records_no_success_and_keeps_the_attempt() {
    // Arrange: the transaction with every effect fails as a whole; sessions, audit log and
    // success releases are unarranged: nothing is attempted on the side.
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    deps.mfa.expect_disable_with_proof().times(1).returning(|_, _, _, _| Err(unavailable()));
    let caller = session_caller(user);
    let user_id = caller.user.id;

    // Act
    let result = run(deps, settings(), &caller, input(GOOD_TOTP, Some(RIGHT_PASSWORD))).await;

    // Assert: 503, and the reserved attempt stays counted (storage gave nothing back).
    assert!(
        matches!(result, Err(MfaChangeError::Unexpected(Unexpected::Unavailable(_)))),
        "{result:?}"
    );
    assert_eq!(attempts.failures(), [second_factor_key(user_id), address_key()]);
}
