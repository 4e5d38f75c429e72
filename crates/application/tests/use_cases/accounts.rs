//! The smaller use cases: first-admin setup, API tokens, logout, MFA status, enroll cancel.

use slugbase_application::collaborators::new_account::NewAccountInput;
use slugbase_application::ports::{CancelOutcome, SessionKind, SessionRecord};
use slugbase_application::use_cases::api_tokens::CreateApiTokenError;
use slugbase_application::use_cases::enroll::EnrollError;
use slugbase_application::use_cases::setup::SetupError;
use slugbase_application::{Caller, InputRejected};
use slugbase_domain::{AuditEventKind, LoginMethod, MfaState, NoticeKind, User};

use crate::support::*;

const RANDOM_32: [u8; 32] = [7; 32];
const RANDOM_B64: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc";

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

fn first_admin() -> Result<NewAccountInput, InputRejected> {
    Ok(NewAccountInput {
        email: "root@example.com".to_owned(),
        name: "Root".to_owned(),
        password: Some("a long enough password".to_owned()),
        is_admin: false,
    })
}

#[tokio::test]
async fn setup_is_refused_once_any_user_exists_and_nothing_is_hashed() {
    // Arrange: hasher and create_first_admin unarranged.
    let mut deps = MockDeps::new();
    deps.users.expect_count().returning(|| Ok(1));
    let use_case = UseCases::new(deps.build(), settings()).setup;

    // Act
    let result = use_case.execute(&client(), first_admin()).await;

    // Assert
    assert!(matches!(result, Err(SetupError::AlreadyInitialized)), "{result:?}");
}

#[tokio::test]
async fn setup_that_loses_the_race_for_the_first_admin_is_refused_without_a_session() {
    // Arrange: storage's atomic create says someone else got there first.
    let mut deps = MockDeps::new();
    deps.users.expect_count().returning(|| Ok(0));
    deps.passwords.expect_hash().times(1).returning(|_| Ok(password_hash()));
    deps.users.expect_create_first_admin().times(1).returning(|_| Ok(None));
    let use_case = UseCases::new(deps.build(), settings()).setup;

    // Act: sessions and audit unarranged.
    let result = use_case.execute(&client(), first_admin()).await;

    // Assert
    assert!(matches!(result, Err(SetupError::AlreadyInitialized)), "{result:?}");
}

#[tokio::test]
async fn setup_creates_an_administrator_with_a_hashed_password_and_signs_them_in() {
    // Arrange
    let mut deps = MockDeps::new();
    deps.users.expect_count().returning(|| Ok(0));
    deps.passwords
        .expect_hash()
        .times(1)
        .withf(|p| p.expose() == "a long enough password")
        .returning(|_| Ok(password_hash()));
    deps.users
        .expect_create_first_admin()
        .times(1)
        .withf(|new| new.is_admin && new.login == LoginMethod::Local(password_hash()))
        .returning(|new| {
            Ok(Some(User {
                id: new.id,
                email: new.email,
                name: new.name,
                login: new.login,
                oidc_provider: None,
                is_admin: new.is_admin,
                mfa: MfaState::Disabled,
                created_at: new.created_at,
                mfa_grace_started_at: None,
            }))
        });
    deps.random.expect_bytes_32().return_const(RANDOM_32);
    deps.token_digest_is_tagged();
    deps.sessions
        .expect_create()
        .times(1)
        .withf(|s| s.kind == SessionKind::Full && s.id_hash == token_digest(RANDOM_B64))
        .returning(|_| Ok(()));
    let audit = deps.record_audit();
    let use_case = UseCases::new(deps.build(), settings()).setup;

    // Act
    let (user, session) = use_case.execute(&client(), first_admin()).await.expect("set up");

    // Assert
    assert!(user.is_admin);
    assert_eq!(session.expose(), RANDOM_B64);
    assert_audit(&audit.only(), AuditEventKind::SetupCompleted, Some(user.id), None, None);
}

// ---------------------------------------------------------------------------------------
// API tokens
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_api_token_is_sb_prefixed_and_only_its_digest_is_stored() {
    // Arrange
    let user = local_user();
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.random.expect_bytes_32().times(1).return_const(RANDOM_32);
    deps.token_digest_is_tagged();
    let expected_token = format!("sb_{RANDOM_B64}");
    let stored_hash = token_digest(&expected_token);
    let email = user.email.as_str().to_owned();
    deps.tokens
        .expect_create_with_notice()
        .times(1)
        .withf(move |r, notice| {
            r.user_id == user_id
                && r.name == "ci runner"
                && r.token_hash == stored_hash
                && r.created_at == now()
                && r.last_used_at.is_none()
                // Reported to the owner in the same write: kind, address, the token's name,
                // never the token.
                && notice.kind == NoticeKind::ApiTokenCreated
                && notice.recipient == email
                && notice.user_id == Some(user_id)
                && notice.subject.as_deref() == Some("ci runner")
        })
        .returning(|_, _| Ok(()));
    let audit = deps.record_audit();
    let use_case = UseCases::new(deps.build(), settings()).api_tokens;

    // Act: the name is trimmed.
    let created = use_case
        .create(&session_caller(user), &client(), Ok("  ci runner ".to_owned()))
        .await
        .expect("created");

    // Assert
    assert_eq!(created.token.expose(), expected_token);
    assert_eq!(created.view.name, "ci runner");
    assert!(!format!("{created:?}").contains(RANDOM_B64), "Debug shows the token");
    assert_audit(&audit.only(), AuditEventKind::ApiTokenCreated, Some(user_id), None, None);
}

#[tokio::test]
async fn an_api_token_name_must_be_one_to_a_hundred_printable_characters() {
    for name in ["", "   ", "line\nbreak", &"x".repeat(101)] {
        // Arrange: randomness and storage unarranged.
        let use_case = UseCases::new(MockDeps::new().build(), settings()).api_tokens;

        // Act
        let result =
            use_case.create(&session_caller(local_user()), &client(), Ok(name.to_owned())).await;

        // Assert
        match result {
            Err(CreateApiTokenError::Validation(errors)) => assert_eq!(errors.0[0].field, "name"),
            other => panic!("{name:?}: expected a validation error, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Logout
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn logout_deletes_the_session_and_the_pending_state_and_audits_only_the_session() {
    // Arrange
    let user = local_user();
    let user_id = user.id;
    let record = |id: &str, kind| SessionRecord {
        id_hash: token_digest(id),
        user_id,
        kind,
        created_at: now_plus(-60),
        last_seen_at: now_plus(-60),
        expires_at: now_plus(600),
        failed_attempts: 0,
        client_addr: None,
        user_agent: None,
    };
    let full = record("sid", SessionKind::Full);
    let pending = record("pending", SessionKind::PendingMfa);
    let mut deps = MockDeps::new();
    deps.token_digest_is_tagged();
    deps.sessions.expect_find().times(2).returning(move |digest| {
        Ok([full.clone(), pending.clone()].into_iter().find(|r| r.id_hash == *digest))
    });
    deps.sessions
        .expect_delete()
        .times(2)
        .withf(|d| *d == token_digest("sid") || *d == token_digest("pending"))
        .returning(|_| Ok(true));
    let audit = deps.record_audit();
    let use_case = UseCases::new(deps.build(), settings()).logout;

    // Act
    use_case.execute(Some("sid"), Some("pending"), &client()).await.expect("logged out");

    // Assert
    assert_audit(&audit.only(), AuditEventKind::Logout, Some(user_id), None, None);
}

#[tokio::test]
async fn logout_without_cookies_touches_nothing() {
    // Arrange
    let use_case = UseCases::new(MockDeps::new().build(), settings()).logout;

    // Act
    let result = use_case.execute(None, None, &client()).await;

    // Assert
    assert!(result.is_ok(), "{result:?}");
}

// ---------------------------------------------------------------------------------------
// MFA status and enroll cancel
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn mfa_status_shows_the_callers_backup_codes_left_only_when_mfa_is_on() {
    // Arrange: the count comes with the caller (authentication read it).
    let mut deps = MockDeps::new();
    deps.passkeys.expect_passkeys_of().times(1).returning(|_| Ok(Vec::new()));
    let use_case = UseCases::new(deps.build(), settings()).mfa_status;
    let on = Caller { backup_codes_remaining: 7, ..session_caller(with_mfa(local_user())) };
    let pending =
        Caller { backup_codes_remaining: 4, ..token_caller(with_pending_mfa(local_user())) };

    // Act
    let enabled = use_case.execute(&on).await.expect("status");
    let pending = use_case.execute(&pending).await.expect("status");

    // Assert
    assert!(enabled.enabled);
    assert!(enabled.totp);
    assert_eq!(enabled.passkeys, 0);
    assert_eq!(enabled.enrolled_at, Some(now_plus(-3_600)));
    assert_eq!(enabled.backup_codes_remaining, 7);
    assert!(!pending.enabled && pending.enrolled_at.is_none());
    assert_eq!(pending.backup_codes_remaining, 0);
}

#[tokio::test]
async fn mfa_status_reads_nothing_but_the_passkeys_and_those_only_while_mfa_is_on() {
    // Arrange: every other port is a mock without expectations — any call would panic.
    let mut deps = MockDeps::new();
    deps.passkeys.expect_passkeys_of().times(2).returning(|_| Ok(Vec::new()));
    let use_case = UseCases::new(deps.build(), settings()).mfa_status;
    let callers = [
        Caller { backup_codes_remaining: 10, ..token_caller(with_mfa(oidc_user())) },
        Caller { backup_codes_remaining: 0, ..session_caller(with_mfa(admin_user())) },
        session_caller(with_pending_mfa(local_user())),
        token_caller(local_user()),
    ];

    for caller in &callers {
        // Act
        let status = use_case.execute(caller).await;

        // Assert
        let status = status.expect("answered from the caller");
        let expected = if status.enabled { caller.backup_codes_remaining } else { 0 };
        assert_eq!(status.enabled, caller.user.mfa.is_enabled());
        assert_eq!(status.backup_codes_remaining, expected);
    }
}

#[tokio::test]
async fn cancelling_an_enrollment_is_idempotent_but_refused_once_mfa_is_on() {
    for (outcome, refused) in
        [(CancelOutcome::Cancelled, false), (CancelOutcome::AlreadyEnabled, true)]
    {
        // Arrange
        let user = with_pending_mfa(local_user());
        let mut deps = MockDeps::new();
        deps.mfa.expect_cancel_enrollment().times(1).returning(move |_| Ok(outcome));
        let audit = deps.record_audit();
        let use_case = UseCases::new(deps.build(), settings()).enroll_cancel;

        // Act
        let result = use_case.execute(&session_caller(user), &client()).await;

        // Assert
        if refused {
            assert!(matches!(result, Err(EnrollError::AlreadyEnabled)), "{result:?}");
            assert!(audit.events().is_empty());
        } else {
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(audit.only().kind, AuditEventKind::MfaEnrollCancel);
        }
    }
}
