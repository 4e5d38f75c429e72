//! Password login and the MFA verify step that follows it.

use slugbase_application::collaborators::second_factor::Possession;
use slugbase_application::ports::{AuditEvent, MfaProof, ProofSignIn, SessionKind, SessionRecord};
use slugbase_application::{
    InputRejected,
    use_cases::login::{LoginError, LoginInput, LoginOutcome},
    use_cases::verify_login::VerifyLoginError,
};
use slugbase_domain::{
    AuditEventKind, LoginMethod, NoticeKind, Password, ProofKind, TotpStep, User,
};

use crate::support::*;

const GOOD_TOTP: &str = "246810";
const GOOD_STEP: u64 = LAST_STEP + 1;
/// What the random mock hands out as 32 bytes, and the session id that makes.
const RANDOM_32: [u8; 32] = [7; 32];
const SESSION_ID: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc";

fn login_input(email: &str, password: &str) -> Result<LoginInput, InputRejected> {
    Ok(LoginInput { email: email.to_owned(), password: Password::new(password) })
}

fn password_key(email: &str) -> String {
    format!("pw:email:{email}")
}

/// The hasher answers `true` for [`RIGHT_PASSWORD`], and expects to be asked once with
/// `hash` (`None`: the dummy-hash path for unknown or OIDC-only accounts).
fn hasher_expects(deps: &mut MockDeps, hash: Option<slugbase_domain::PasswordHash>, answer: bool) {
    deps.passwords
        .expect_verify()
        .times(1)
        .withf(move |_, h| *h == hash.as_ref())
        .returning(move |password, _| Ok(answer && password.expose() == RIGHT_PASSWORD));
}

/// Expects exactly one session of `kind` for `user`, with the lifetime `secs`.
fn session_created(deps: &mut MockDeps, user: &User, kind: SessionKind, secs: i64) {
    let user_id = user.id;
    deps.random.expect_bytes_32().times(1).return_const(RANDOM_32);
    deps.token_digest_is_tagged();
    deps.sessions
        .expect_create()
        .times(1)
        .withf(move |s| {
            s.user_id == user_id
                && s.kind == kind
                && s.id_hash == token_digest(SESSION_ID)
                && s.created_at == now()
                && s.last_seen_at == now()
                && s.expires_at == now_plus(secs)
                && s.failed_attempts == 0
        })
        .returning(|_| Ok(()));
}

// ---------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_email_still_runs_the_hasher_and_gets_invalid_credentials() {
    // Arrange
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    deps.users.expect_find_by_email().times(1).returning(|_| Ok(None));
    hasher_expects(&mut deps, None, false);
    let use_case = UseCases::new(deps.build(), settings()).login;

    // Act
    let result =
        use_case.execute(&client(), login_input(" Nobody@Example.com ", RIGHT_PASSWORD)).await;

    // Assert: counted under the normalised e-mail; no session (sessions unarranged).
    assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
    assert_eq!(attempts.failures(), [password_key("nobody@example.com"), address_key()]);
    assert_audit(&audit.only(), AuditEventKind::LoginFail, None, Some("INVALID_CREDENTIALS"), None);
}

#[tokio::test]
async fn an_email_that_does_not_parse_is_never_looked_up_but_still_costs_a_hash() {
    // Arrange: the user repository is unarranged.
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_attempts();
    deps.record_audit();
    hasher_expects(&mut deps, None, false);
    let use_case = UseCases::new(deps.build(), settings()).login;

    // Act
    let result = use_case.execute(&client(), login_input("not an email", RIGHT_PASSWORD)).await;

    // Assert
    assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
}

#[tokio::test]
async fn an_oidc_only_user_cannot_log_in_with_a_password_even_if_the_hasher_said_yes() {
    // Arrange: a (broken) hasher answering true must not let an OIDC-only account in.
    let user = oidc_user();
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_attempts();
    let audit = deps.record_audit();
    deps.users.expect_find_by_email().returning(move |_| Ok(Some(user.clone())));
    deps.passwords
        .expect_verify()
        .times(1)
        .withf(|_, hash| hash.is_none())
        .returning(|_, _| Ok(true));
    let use_case = UseCases::new(deps.build(), settings()).login;

    // Act
    let result =
        use_case.execute(&client(), login_input("grace@example.com", RIGHT_PASSWORD)).await;

    // Assert
    assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
    assert_audit(
        &audit.only(),
        AuditEventKind::LoginFail,
        Some(user_id),
        Some("INVALID_CREDENTIALS"),
        None,
    );
}

#[tokio::test]
async fn a_wrong_password_gets_invalid_credentials_and_counts() {
    // Arrange
    let user = local_user();
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    deps.record_audit();
    deps.users.expect_find_by_email().returning(move |_| Ok(Some(user.clone())));
    hasher_expects(&mut deps, Some(password_hash()), true);
    let use_case = UseCases::new(deps.build(), settings()).login;

    // Act
    let result = use_case.execute(&client(), login_input("ada@example.com", "nope")).await;

    // Assert
    assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
    assert_eq!(attempts.failures(), [password_key("ada@example.com"), address_key()]);
}

#[tokio::test]
async fn login_over_the_attempt_limit_is_refused_before_the_account_is_looked_up() {
    // Arrange
    let mut deps = MockDeps::new();
    deps.attempts_with(password_key("ada@example.com"), counter(10));
    let use_case = UseCases::new(deps.build(), settings()).login;

    // Act
    let result = use_case.execute(&client(), login_input("ada@example.com", RIGHT_PASSWORD)).await;

    // Assert
    assert!(matches!(result, Err(LoginError::TooManyAttempts(_))), "{result:?}");
}

#[tokio::test]
async fn a_user_without_mfa_is_signed_in_with_a_full_session() {
    // Arrange
    let user = local_user();
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    let found = user.clone();
    deps.users.expect_find_by_email().returning(move |_| Ok(Some(found.clone())));
    hasher_expects(&mut deps, Some(password_hash()), true);
    session_created(&mut deps, &user, SessionKind::Full, 12 * 3600);
    let use_case = UseCases::new(deps.build(), settings()).login;

    // Act
    let outcome = use_case
        .execute(&client(), login_input("ada@example.com", RIGHT_PASSWORD))
        .await
        .expect("login succeeds");

    // Assert
    match outcome {
        LoginOutcome::SignedIn { user, session } => {
            assert_eq!(user.id, user_id);
            assert_eq!(session.expose(), SESSION_ID);
        }
        other @ LoginOutcome::MfaRequired { .. } => panic!("expected a session, got {other:?}"),
    }
    assert_eq!(attempts.successes(), [password_key("ada@example.com")]);
    assert_audit(&audit.only(), AuditEventKind::LoginSuccess, Some(user_id), None, None);
}

#[tokio::test]
async fn a_user_with_mfa_gets_a_pending_state_and_no_session() {
    // Arrange
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_attempts();
    let found = user.clone();
    deps.users.expect_find_by_email().returning(move |_| Ok(Some(found.clone())));
    hasher_expects(&mut deps, Some(password_hash()), true);
    session_created(&mut deps, &user, SessionKind::PendingMfa, 5 * 60);
    let use_case = UseCases::new(deps.build(), settings()).login;

    // Act: no login_success yet (the audit log is unarranged).
    let outcome = use_case
        .execute(&client(), login_input("ada@example.com", RIGHT_PASSWORD))
        .await
        .expect("password accepted");

    // Assert
    match outcome {
        LoginOutcome::MfaRequired { pending } => assert_eq!(pending.expose(), SESSION_ID),
        other @ LoginOutcome::SignedIn { .. } => panic!("expected MFA, got {other:?}"),
    }
}

/// A SlugBase bcrypt hash, as the importer stores it.
fn imported_hash() -> slugbase_domain::PasswordHash {
    slugbase_domain::PasswordHash::from_phc(
        "$2a$10$abcdefghijklmnopqrstuu0123456789abcdefghijklmnopqrstu",
    )
}

#[tokio::test]
async fn an_imported_hash_is_replaced_by_ours_with_the_sign_ins_session_in_one_change() {
    // Arrange: an account imported from SlugBase, MFA on.
    let user = User { login: LoginMethod::Local(imported_hash()), ..with_mfa(local_user()) };
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_attempts();
    let found = user.clone();
    deps.users.expect_find_by_email().returning(move |_| Ok(Some(found.clone())));
    hasher_expects(&mut deps, Some(imported_hash()), true);
    deps.passwords.expect_hash().times(1).returning(|_| Ok(password_hash()));
    deps.random.expect_bytes_32().times(1).return_const(RANDOM_32);
    deps.token_digest_is_tagged();
    // No `sessions.create`: the pending state is stored with the new hash, or not at all.
    deps.users
        .expect_upgrade_password_hash()
        .times(1)
        .withf(move |id, old, new, effects| {
            let session = effects.start_session.as_ref();
            *id == user_id
                && *old == imported_hash()
                && *new == password_hash()
                && effects.audit.kind == AuditEventKind::PasswordHashUpgraded
                && session.is_some_and(|s| s.kind == SessionKind::PendingMfa)
                && session.is_some_and(|s| s.id_hash == token_digest(SESSION_ID))
        })
        .returning(|_, _, _, _| Ok(true));
    let use_case = UseCases::new(deps.build(), settings()).login;

    // Act
    let outcome = use_case
        .execute(&client(), login_input("ada@example.com", RIGHT_PASSWORD))
        .await
        .expect("password accepted");

    // Assert
    match outcome {
        LoginOutcome::MfaRequired { pending } => assert_eq!(pending.expose(), SESSION_ID),
        other @ LoginOutcome::SignedIn { .. } => panic!("expected MFA, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_password_for_an_imported_hash_replaces_nothing() {
    // Arrange: hashing and storage beyond the lookup are unarranged.
    let user = User { login: LoginMethod::Local(imported_hash()), ..local_user() };
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_attempts();
    deps.record_audit();
    deps.users.expect_find_by_email().returning(move |_| Ok(Some(user.clone())));
    hasher_expects(&mut deps, Some(imported_hash()), false);
    let use_case = UseCases::new(deps.build(), settings()).login;

    // Act
    let result = use_case.execute(&client(), login_input("ada@example.com", "wrong")).await;

    // Assert
    assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
}

// ---------------------------------------------------------------------------------------
// VerifyLogin
// ---------------------------------------------------------------------------------------

const PENDING_ID: &str = "pending-cookie-value";

fn pending_record(user: &User) -> SessionRecord {
    SessionRecord {
        id_hash: token_digest(PENDING_ID),
        user_id: user.id,
        kind: SessionKind::PendingMfa,
        created_at: now_plus(-60),
        last_seen_at: now_plus(-60),
        expires_at: now_plus(240),
        failed_attempts: 0,
        client_addr: None,
        user_agent: None,
    }
}

fn pending_found(deps: &mut MockDeps, record: Option<SessionRecord>) {
    deps.token_digest_is_tagged();
    deps.sessions
        .expect_find()
        .times(1)
        .withf(|digest| *digest == token_digest(PENDING_ID))
        .returning(move |_| Ok(record.clone()));
}

fn user_found(deps: &mut MockDeps, user: &User) {
    let user = user.clone();
    deps.users.expect_find_by_id().returning(move |_| Ok(Some(user.clone())));
}

/// A body the verify step must not even look at before the pending state checks out.
fn unread_body<T>() -> Result<T, InputRejected> {
    Err(InputRejected)
}

#[tokio::test]
async fn verify_without_a_pending_cookie_is_pending_invalid_and_touches_nothing() {
    // Arrange
    let use_case = UseCases::new(MockDeps::new().build(), settings()).verify_login;

    // Act
    let result = use_case.execute(None, &client(), unread_body()).await;

    // Assert
    assert!(matches!(result, Err(VerifyLoginError::PendingInvalid)), "{result:?}");
}

#[tokio::test]
async fn a_missing_expired_or_full_session_is_pending_invalid_before_the_body_is_looked_at() {
    let user = with_mfa(local_user());
    let expired = SessionRecord { expires_at: now(), ..pending_record(&user) };
    let full = SessionRecord { kind: SessionKind::Full, ..pending_record(&user) };
    for (label, record) in [("missing", None), ("expired", Some(expired)), ("full", Some(full))] {
        // Arrange: users, attempts, TOTP unarranged.
        let mut deps = MockDeps::new();
        pending_found(&mut deps, record);
        let use_case = UseCases::new(deps.build(), settings()).verify_login;

        // Act
        let result = use_case.execute(Some(PENDING_ID), &client(), unread_body()).await;

        // Assert
        assert!(matches!(result, Err(VerifyLoginError::PendingInvalid)), "{label}: {result:?}");
    }
}

#[tokio::test]
async fn a_wrong_code_counts_against_the_pending_state_and_the_account() {
    // Arrange: one earlier failure; the limit is five.
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    pending_found(&mut deps, Some(pending_record(&user)));
    user_found(&mut deps, &user);
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    deps.sessions.expect_reserve_attempt().times(1).returning(|_, _| Ok(Some(2)));
    deps.sessions.expect_delete().times(0);
    deps.mfa.expect_sign_in_with_proof().times(0);
    let use_case = UseCases::new(deps.build(), settings()).verify_login;

    // Act
    let result = use_case
        .execute(Some(PENDING_ID), &client(), Ok(Possession::Code("111111".to_owned())))
        .await;

    // Assert
    assert!(matches!(result, Err(VerifyLoginError::InvalidCode)), "{result:?}");
    assert_eq!(attempts.failures(), [second_factor_key(user_id), address_key()]);
    assert_audit(
        &audit.only(),
        AuditEventKind::MfaVerifyFail,
        Some(user_id),
        Some("INVALID_CODE"),
        Some(ProofKind::Totp),
    );
}

#[tokio::test]
async fn the_pending_state_is_dropped_at_the_maximum_number_of_wrong_codes() {
    // Arrange: a used backup code the repository refuses, for the fifth time.
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    pending_found(&mut deps, Some(pending_record(&user)));
    user_found(&mut deps, &user);
    deps.attempts_allowed();
    deps.record_attempts();
    deps.record_audit();
    deps.backup_digest_is_tagged();
    deps.random.expect_bytes_32().times(1).return_const(RANDOM_32);
    deps.token_digest_is_tagged();
    deps.mfa.expect_backup_codes_remaining().returning(|_| Ok(4));
    // A backup code signs in together with its "backup code used" notice (3 left after it).
    deps.mfa
        .expect_sign_in_with_proof()
        .times(1)
        .withf(|_, pending, proof, _, effects| {
            let notice = effects.notice.as_ref();
            *pending == token_digest(PENDING_ID)
                && *proof == backup_proof("00000000deadbeef")
                && notice.is_some_and(|n| n.kind == NoticeKind::BackupCodeUsed)
                && notice.is_some_and(|n| n.codes_left == Some(3))
        })
        .returning(|_, _, _, _, _| Ok(ProofSignIn::ProofRefused));
    deps.sessions.expect_reserve_attempt().times(1).returning(|_, _| Ok(Some(5)));
    deps.sessions
        .expect_delete()
        .times(1)
        .withf(|digest| *digest == token_digest(PENDING_ID))
        .returning(|_| Ok(true));
    let use_case = UseCases::new(deps.build(), settings()).verify_login;

    // Act
    let result = use_case
        .execute(Some(PENDING_ID), &client(), Ok(Possession::Code("00000000DEADBEEF".to_owned())))
        .await;

    // Assert
    assert!(matches!(result, Err(VerifyLoginError::InvalidCode)), "{result:?}");
}

#[tokio::test]
async fn a_right_code_ends_the_pending_state_and_starts_a_full_session_in_one_change() {
    // Arrange
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    pending_found(&mut deps, Some(pending_record(&user)));
    user_found(&mut deps, &user);
    deps.sessions.expect_reserve_attempt().times(1).returning(|_, _| Ok(Some(1)));
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    deps.random.expect_bytes_32().times(1).return_const(RANDOM_32);
    deps.token_digest_is_tagged();
    let effects = EffectsSpy::default();
    let seen = effects.clone();
    deps.mfa
        .expect_sign_in_with_proof()
        .times(1)
        .withf(move |u, pending, proof, at, _| {
            *u == user_id
                && *pending == token_digest(PENDING_ID)
                && *proof == MfaProof::TotpStep(TotpStep::new(GOOD_STEP))
                && *at == now()
        })
        .returning(move |_, _, _, _, effects| {
            seen.saw(effects);
            Ok(ProofSignIn::SignedIn)
        });
    deps.sessions.expect_create().times(0);
    deps.sessions.expect_delete().times(0);
    let use_case = UseCases::new(deps.build(), settings()).verify_login;

    // Act
    let (signed_in, session) = use_case
        .execute(Some(PENDING_ID), &client(), Ok(Possession::Code(GOOD_TOTP.to_owned())))
        .await
        .expect("verify succeeds");

    // Assert: the session, both events and the settled counters go with the spend.
    assert_eq!(signed_in.id, user_id);
    assert_eq!(session.expose(), SESSION_ID);
    let mut expected =
        success_effects(AuditEventKind::MfaVerifySuccess, user_id, Some(ProofKind::Totp), None);
    let login = AuditEvent { kind: AuditEventKind::LoginSuccess, ..expected.audit.clone() };
    expected.also_audit.push(login);
    expected.start_session = Some(SessionRecord {
        id_hash: token_digest(SESSION_ID),
        user_id,
        kind: SessionKind::Full,
        created_at: now(),
        last_seen_at: now(),
        expires_at: now_plus(12 * 3600),
        failed_attempts: 0,
        // The session remembers the client that started it (GET /api/auth/sessions).
        client_addr: Some(CLIENT_ADDR.to_owned()),
        user_agent: Some(CLIENT_UA.to_owned()),
    });
    assert_eq!(effects.only(), expected);
    assert!(audit.events().is_empty(), "no event outside the change's transaction");
    assert!(attempts.successes().is_empty(), "the counters are settled in the change");
}

#[tokio::test]
async fn a_verify_that_loses_the_pending_state_to_a_concurrent_one_gets_no_session() {
    // Arrange: another request ended the pending state first; storage spent nothing.
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    pending_found(&mut deps, Some(pending_record(&user)));
    user_found(&mut deps, &user);
    deps.sessions.expect_reserve_attempt().times(1).returning(|_, _| Ok(Some(1)));
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    deps.random.expect_bytes_32().times(1).return_const(RANDOM_32);
    deps.token_digest_is_tagged();
    deps.mfa
        .expect_sign_in_with_proof()
        .times(1)
        .returning(|_, _, _, _, _| Ok(ProofSignIn::PendingGone));
    deps.sessions.expect_create().times(0);
    let use_case = UseCases::new(deps.build(), settings()).verify_login;

    // Act
    let result = use_case
        .execute(Some(PENDING_ID), &client(), Ok(Possession::Code(GOOD_TOTP.to_owned())))
        .await;

    // Assert: no session, and the attempt is given back (it was no guess that failed).
    assert!(matches!(result, Err(VerifyLoginError::PendingInvalid)), "{result:?}");
    assert_eq!(attempts.given_back(), [second_factor_key(user_id), address_key()]);
}

#[tokio::test]
async fn a_pending_state_whose_attempts_are_used_up_evaluates_no_code() {
    // Arrange: the pending state has no place left (concurrent guesses took them all); no
    // cipher, TOTP or MFA repository is arranged: evaluating the code would panic.
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    pending_found(&mut deps, Some(pending_record(&user)));
    user_found(&mut deps, &user);
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    deps.sessions.expect_reserve_attempt().times(1).returning(|_, _| Ok(None));
    deps.sessions
        .expect_delete()
        .times(1)
        .withf(|digest| *digest == token_digest(PENDING_ID))
        .returning(|_| Ok(true));
    let use_case = UseCases::new(deps.build(), settings()).verify_login;

    // Act
    let result = use_case
        .execute(Some(PENDING_ID), &client(), Ok(Possession::Code(GOOD_TOTP.to_owned())))
        .await;

    // Assert: the pending state is gone, and the account's place was given back.
    assert!(matches!(result, Err(VerifyLoginError::PendingInvalid)), "{result:?}");
    assert!(attempts.failures().is_empty());
    assert_eq!(attempts.given_back(), [second_factor_key(user_id), address_key()]);
}
