//! The MFA policy (`security.require_mfa`, `security.grace_days`) in the use cases: a
//! sign-in starts a covered user's grace period before their session exists, once; every
//! authenticated request carries where the caller stands; a session or token from before
//! the policy starts the grace period off the request's path.

use mockall::Sequence;
use slugbase_application::ports::{CallerRecord, SessionKind, SessionRecord};
use slugbase_application::use_cases::login::{LoginInput, LoginOutcome};
use slugbase_application::{AuthSettings, Caller};
use slugbase_domain::{MfaPolicy, MfaScope, MfaStanding, Password, User};

use crate::support::*;

const DAY: i64 = 86_400;
const SESSION_ID: &str = "session-cookie-value";
const RANDOM_32: [u8; 32] = [7; 32];

/// Settings with `require_mfa = scope` and `grace_days = 14`.
fn policy(scope: MfaScope) -> AuthSettings {
    AuthSettings { mfa_policy: MfaPolicy { scope, grace_days: 14 }, ..settings() }
}

/// `user` whose grace period started `days_ago` days before [`now`].
fn grace_started(user: User, days_ago: i64) -> User {
    User { mfa_grace_started_at: Some(now_plus(-days_ago * DAY)), ..user }
}

/// A correct password login of `user` as far as the session: attempts allowed, the account
/// found, the password right, the audit recorded.
fn password_accepted(deps: &mut MockDeps, user: &User) {
    deps.attempts_allowed();
    deps.record_attempts();
    deps.record_audit();
    let found = user.clone();
    deps.users.expect_find_by_email().returning(move |_| Ok(Some(found.clone())));
    deps.passwords.expect_verify().times(1).returning(|_, _| Ok(true));
    deps.random.expect_bytes_32().return_const(RANDOM_32);
    deps.token_digest_is_tagged();
}

async fn login(deps: MockDeps, settings: AuthSettings) -> User {
    let input = LoginInput { email: "ada@example.com".into(), password: Password::new("pw") };
    let outcome = UseCases::new(deps.build(), settings)
        .login
        .execute(&client(), Ok(input))
        .await
        .expect("login succeeds");
    match outcome {
        LoginOutcome::SignedIn { user, .. } => *user,
        other @ LoginOutcome::MfaRequired { .. } => panic!("expected a session, got {other:?}"),
    }
}

#[tokio::test]
async fn a_first_sign_in_under_the_policy_starts_the_grace_period_before_the_session() {
    // Arrange: the start is stored, then the session; in that order, once each.
    let user = local_user();
    let user_id = user.id;
    let mut deps = MockDeps::new();
    password_accepted(&mut deps, &user);
    let mut order = Sequence::new();
    deps.users
        .expect_start_mfa_grace()
        .times(1)
        .in_sequence(&mut order)
        .withf(move |id, at| *id == user_id && *at == now())
        .returning(|_, at| Ok(Some(at)));
    deps.sessions
        .expect_create()
        .times(1)
        .in_sequence(&mut order)
        .withf(|s| s.kind == SessionKind::Full)
        .returning(|_| Ok(()));

    // Act
    let signed_in = login(deps, policy(MfaScope::All)).await;

    // Assert: the user comes back with the start, as a read would show it.
    assert_eq!(signed_in.mfa_grace_started_at, Some(now()));
}

#[tokio::test]
async fn a_sign_in_keeps_the_start_another_sign_in_stored_first() {
    // Arrange: a concurrent sign-in won the race; storage answers with its start.
    let user = local_user();
    let mut deps = MockDeps::new();
    password_accepted(&mut deps, &user);
    deps.users.expect_start_mfa_grace().times(1).returning(|_, _| Ok(Some(now_plus(-5))));
    deps.sessions.expect_create().times(1).returning(|_| Ok(()));

    // Act
    let signed_in = login(deps, policy(MfaScope::All)).await;

    // Assert
    assert_eq!(signed_in.mfa_grace_started_at, Some(now_plus(-5)));
}

#[tokio::test]
async fn a_sign_in_writes_no_start_when_one_is_stored_or_the_policy_does_not_cover_the_user() {
    for (user, settings) in [
        (grace_started(local_user(), 3), policy(MfaScope::All)),
        (local_user(), policy(MfaScope::Admins)),
        (admin_user(), policy(MfaScope::Off)),
    ] {
        // Arrange: `start_mfa_grace` unarranged (a call would panic).
        let expected = user.mfa_grace_started_at;
        let mut deps = MockDeps::new();
        password_accepted(&mut deps, &user);
        deps.sessions.expect_create().times(1).returning(|_| Ok(()));

        // Act
        let signed_in = login(deps, settings).await;

        // Assert
        assert_eq!(signed_in.mfa_grace_started_at, expected);
    }
}

fn session() -> SessionRecord {
    SessionRecord {
        id_hash: token_digest(SESSION_ID),
        user_id: slugbase_domain::UserId::generate(),
        kind: SessionKind::Full,
        created_at: now_plus(-60),
        // Seen just now: no activity write, so the only background work is the policy's.
        last_seen_at: now(),
        expires_at: now_plus(3_600),
        failed_attempts: 0,
        client_addr: None,
        user_agent: None,
    }
}

/// Authenticates [`SESSION_ID`], owned by `user`, under `settings`; the background work
/// that request queued is run afterwards and counted.
async fn caller_of(mut deps: MockDeps, user: &User, settings: AuthSettings) -> (Caller, usize) {
    deps.token_digest_is_tagged();
    let found =
        CallerRecord { credential: session(), user: user.clone(), backup_codes_remaining: 0 };
    deps.sessions.expect_find_caller().times(1).returning(move |_| Ok(Some(found.clone())));
    let background = deps.background.clone();
    let caller = UseCases::new(deps.build(), settings)
        .authenticate
        .session(SESSION_ID)
        .await
        .expect("authenticated");
    let queued = background.len();
    background.run_queued().await;
    (caller, queued)
}

#[tokio::test]
async fn a_caller_inside_the_grace_period_sees_the_days_left_and_past_it_is_overdue() {
    for (days_ago, expected) in [
        (
            10,
            MfaStanding::InGrace {
                started_at: now_plus(-10 * DAY),
                ends_at: now_plus(4 * DAY),
                days_left: 4,
            },
        ),
        (20, MfaStanding::Overdue { started_at: now_plus(-20 * DAY), since: now_plus(-6 * DAY) }),
    ] {
        // Arrange: no write at all (the user repository is unarranged).
        let user = grace_started(local_user(), days_ago);

        // Act
        let (caller, queued) = caller_of(MockDeps::new(), &user, policy(MfaScope::All)).await;

        // Assert
        assert_eq!(caller.mfa_standing, expected, "{days_ago} days in");
        assert_eq!(queued, 0);
    }
}

#[tokio::test]
async fn an_enrolled_or_uncovered_caller_is_never_held_to_enrolment() {
    for (user, settings, expected) in [
        (with_mfa(grace_started(local_user(), 400)), policy(MfaScope::All), MfaStanding::Enrolled),
        (grace_started(local_user(), 400), policy(MfaScope::Admins), MfaStanding::NotRequired),
        (grace_started(admin_user(), 400), settings(), MfaStanding::NotRequired),
    ] {
        let (caller, queued) = caller_of(MockDeps::new(), &user, settings).await;
        assert_eq!(caller.mfa_standing, expected);
        assert!(!caller.mfa_standing.confines_to_enrolment());
        assert_eq!(queued, 0);
    }
}

#[tokio::test]
async fn a_session_from_before_the_policy_starts_the_grace_period_off_the_requests_path() {
    // Arrange: covered, no MFA, no start stored yet.
    let user = admin_user();
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.users
        .expect_start_mfa_grace()
        .times(1)
        .withf(move |id, at| *id == user_id && *at == now())
        .returning(|_, at| Ok(Some(at)));

    // Act
    let (caller, queued) = caller_of(deps, &user, policy(MfaScope::Admins)).await;

    // Assert: the request already counts from now; the write waited in the background.
    assert_eq!(queued, 1);
    assert_eq!(caller.user.mfa_grace_started_at, Some(now()));
    assert_eq!(
        caller.mfa_standing,
        MfaStanding::InGrace { started_at: now(), ends_at: now_plus(14 * DAY), days_left: 14 }
    );
}

#[tokio::test]
async fn the_status_shows_the_standing_authentication_found() {
    // Arrange
    let standing = MfaStanding::InGrace { started_at: now(), ends_at: now_plus(DAY), days_left: 1 };
    let caller = Caller { mfa_standing: standing, ..session_caller(local_user()) };
    let use_case = UseCases::new(MockDeps::new().build(), policy(MfaScope::All)).mfa_status;

    // Act
    let view = use_case.execute(&caller).await.expect("status");

    // Assert
    assert!(!view.enabled);
    assert_eq!(view.policy, standing);
    assert_eq!(view.policy.grace_days_left(), Some(1));
}
