//! Recognising callers: session cookies (idle and absolute expiry) and API tokens, each
//! resolved with its owner and the owner's unused backup codes in one storage call — the
//! user repository is never asked (its mock has no expectations and would panic).

use slugbase_application::ports::{
    ApiTokenRecord, CallerRecord, SessionKind, SessionRecord, StoreError,
};
use slugbase_application::use_cases::authenticate::AuthError;
use slugbase_application::{Caller, CallerAuth};
use slugbase_domain::{ApiTokenId, User};

use crate::support::*;

const SESSION_ID: &str = "session-cookie-value";
const TOKEN: &str = "sb_c2VjcmV0LXRva2VuLXZhbHVlLWZvci10ZXN0cw";

fn full_session(user: &User, last_seen_secs_ago: i64, expires_in_secs: i64) -> SessionRecord {
    SessionRecord {
        id_hash: token_digest(SESSION_ID),
        user_id: user.id,
        kind: SessionKind::Full,
        created_at: now_plus(-3_600),
        last_seen_at: now_plus(-last_seen_secs_ago),
        expires_at: now_plus(expires_in_secs),
        failed_attempts: 0,
        client_addr: None,
        user_agent: None,
    }
}

/// Unused backup codes the storage reports for the fixture owner.
const CODES_LEFT: u32 = 7;

/// The session is found, with `user` as its owner and [`CODES_LEFT`] codes, in one call.
fn session_found(deps: &mut MockDeps, record: SessionRecord, user: &User) {
    deps.token_digest_is_tagged();
    let found =
        CallerRecord { credential: record, user: user.clone(), backup_codes_remaining: CODES_LEFT };
    deps.sessions
        .expect_find_caller()
        .times(1)
        .withf(|digest| *digest == token_digest(SESSION_ID))
        .returning(move |_| Ok(Some(found.clone())));
}

async fn by_session(deps: MockDeps) -> Result<Caller, AuthError> {
    let background = deps.background.clone();
    let caller = UseCases::new(deps.build(), settings()).authenticate.session(SESSION_ID).await;
    background.run_queued().await;
    caller
}

#[tokio::test]
async fn a_live_session_names_its_user_and_records_activity_once_a_minute() {
    for (seen_secs_ago, touched) in [(120, true), (10, false)] {
        // Arrange
        let user = local_user();
        let mut deps = MockDeps::new();
        session_found(&mut deps, full_session(&user, seen_secs_ago, 3_600), &user);
        deps.sessions
            .expect_touch()
            .times(usize::from(touched))
            .withf(|digest, at| *digest == token_digest(SESSION_ID) && *at == now())
            .returning(|_, _| Ok(()));

        let background = deps.background.clone();
        let use_case = UseCases::new(deps.build(), settings()).authenticate;

        // Act
        let caller = use_case.session(SESSION_ID).await.expect("authenticated");

        // Assert: answered before the activity write, which waits off the request's path.
        assert_eq!(caller.user, user);
        assert_eq!(caller.auth, CallerAuth::Session(token_digest(SESSION_ID)));
        assert_eq!(caller.backup_codes_remaining, CODES_LEFT);
        assert_eq!(background.len(), usize::from(touched));
        background.run_queued().await;
    }
}

#[tokio::test]
async fn an_idle_or_too_old_session_is_refused_and_deleted() {
    // Idle limit 30 minutes; absolute expiry is `expires_at`.
    let user = local_user();
    let idle = full_session(&user, 30 * 60, 3_600);
    let too_old = full_session(&user, 5, 0);
    for (label, record) in [("idle", idle), ("absolute", too_old)] {
        // Arrange: no "last seen" write.
        let mut deps = MockDeps::new();
        session_found(&mut deps, record, &user);
        deps.sessions
            .expect_delete()
            .times(1)
            .withf(|digest| *digest == token_digest(SESSION_ID))
            .returning(|_| Ok(true));

        // Act
        let result = by_session(deps).await;

        // Assert
        assert!(matches!(result, Err(AuthError::Unauthenticated)), "{label}: {result:?}");
    }
}

#[tokio::test]
async fn a_pending_mfa_state_is_not_a_session() {
    // Arrange
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    let pending = SessionRecord { kind: SessionKind::PendingMfa, ..full_session(&user, 5, 200) };
    session_found(&mut deps, pending, &user);

    // Act
    let result = by_session(deps).await;

    // Assert
    assert!(matches!(result, Err(AuthError::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn a_token_without_the_sb_prefix_never_reaches_storage() {
    for token in ["", "Bearer sb_x", "SB_abc", "abc", "session-cookie-value"] {
        // Arrange: digest and token repository unarranged.
        let use_case = UseCases::new(MockDeps::new().build(), settings()).authenticate;

        // Act
        let result = use_case.api_token(token).await;

        // Assert
        assert!(matches!(result, Err(AuthError::Unauthenticated)), "{token:?}: {result:?}");
    }
}

#[tokio::test]
async fn an_unknown_or_revoked_token_is_refused() {
    // Arrange
    let mut deps = MockDeps::new();
    deps.token_digest_is_tagged();
    deps.tokens
        .expect_find_caller()
        .times(1)
        .withf(|digest| *digest == token_digest(TOKEN))
        .returning(|_| Ok(None));
    let use_case = UseCases::new(deps.build(), settings()).authenticate;

    // Act
    let result = use_case.api_token(TOKEN).await;

    // Assert
    assert!(matches!(result, Err(AuthError::Unauthenticated)), "{result:?}");
}

/// `user`'s token [`TOKEN`], last used at `last_used_at`.
fn token_record(
    user: &User,
    id: ApiTokenId,
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
) -> ApiTokenRecord {
    ApiTokenRecord {
        id,
        user_id: user.id,
        name: "ci".to_owned(),
        token_hash: token_digest(TOKEN),
        created_at: now_plus(-600),
        last_used_at,
    }
}

/// The token is found, with `user` as its owner and `codes` unused codes, in one call.
fn token_found(deps: &mut MockDeps, record: ApiTokenRecord, user: &User, codes: u32) {
    deps.token_digest_is_tagged();
    let found =
        CallerRecord { credential: record, user: user.clone(), backup_codes_remaining: codes };
    deps.tokens
        .expect_find_caller()
        .times(1)
        .withf(|digest| *digest == token_digest(TOKEN))
        .returning(move |_| Ok(Some(found.clone())));
}

#[tokio::test]
async fn an_active_token_names_its_user_and_records_first_use() {
    // Arrange
    let user = local_user();
    let token_id = ApiTokenId::generate();
    let mut deps = MockDeps::new();
    token_found(&mut deps, token_record(&user, token_id, None), &user, 3);
    deps.tokens
        .expect_touch()
        .times(1)
        .withf(move |id, at| *id == token_id && *at == now())
        .returning(|_, _| Ok(()));
    let background = deps.background.clone();
    let use_case = UseCases::new(deps.build(), settings()).authenticate;

    // Act
    let caller = use_case.api_token(TOKEN).await.expect("authenticated");

    // Assert: answered first; the "last used" write waits off the request's path.
    assert_eq!(caller.user, user);
    assert_eq!(caller.auth, CallerAuth::ApiToken(token_id));
    assert_eq!(caller.session(), None);
    assert_eq!(caller.backup_codes_remaining, 3);
    assert_eq!(background.len(), 1);
    background.run_queued().await;
}

#[tokio::test]
async fn a_failed_last_use_write_does_not_fail_the_request() {
    // Arrange: storage answers the lookup, then refuses the write.
    let user = local_user();
    let mut deps = MockDeps::new();
    let record = token_record(&user, ApiTokenId::generate(), Some(now_plus(-3_600)));
    token_found(&mut deps, record, &user, 0);
    deps.tokens
        .expect_touch()
        .times(1)
        .returning(|_, _| Err(StoreError::Unavailable(anyhow::anyhow!("database is locked"))));
    let background = deps.background.clone();
    let use_case = UseCases::new(deps.build(), settings()).authenticate;

    // Act
    let caller = use_case.api_token(TOKEN).await;
    background.run_queued().await;

    // Assert: the caller is recognised; the failed write was only logged.
    assert_eq!(caller.expect("authenticated").user, user);
}
