//! The contract of [`UserRepository`](crate::ports::UserRepository): users stored, found,
//! listed, the first administrator, and what deleting one takes with it.

use std::sync::Arc;

use slugbase_domain::{AuditEventKind, Email, LoginMethod, MfaState, PasswordHash, UserId};

use crate::collaborators::attempt_limiter::{AttemptAccount, AttemptKey, AttemptKind};
use crate::ports::{
    ApiTokenRepository, AuditQuery, SessionRepository, Storage, StoreError, UserRepository,
};

use super::{
    POLICY, concurrently, count_true, digest, enable, event, granted, new_user, reload, session, t,
    token, user,
};

/// `create` stores every field; both finders return the same user, MFA disabled.
pub async fn a_created_user_is_found_by_id_and_by_email<S: Storage>(store: Arc<S>) {
    let mut input = new_user("Ada@Example.com", 5);
    input.is_admin = true;
    input.oidc_provider = Some("corp".to_owned());
    let created = UserRepository::create(&*store, input.clone()).await.expect("create");
    assert_eq!(created.id, input.id);
    assert_eq!(created.email.as_str(), "ada@example.com");
    assert_eq!(created.name, input.name);
    assert_eq!(created.login, input.login);
    assert_eq!(created.oidc_provider.as_deref(), Some("corp"));
    assert!(created.is_admin);
    assert_eq!(created.mfa, MfaState::Disabled);
    assert_eq!(created.created_at, t(5));
    assert_eq!(store.find_by_id(input.id).await.expect("find"), Some(created.clone()));
    let email = Email::parse("ada@example.com").expect("email");
    assert_eq!(store.find_by_email(&email).await.expect("find"), Some(created));
    let other = Email::parse("nobody@example.com").expect("email");
    assert_eq!(store.find_by_email(&other).await.expect("find"), None);
    assert_eq!(store.find_by_id(UserId::generate()).await.expect("find"), None);
}

/// An OIDC-only user has no password, and reads back that way.
pub async fn an_oidc_only_user_round_trips_without_a_password<S: Storage>(store: Arc<S>) {
    let mut input = new_user("oidc@example.com", 0);
    input.login = LoginMethod::OidcOnly;
    input.oidc_provider = Some("google".to_owned());
    UserRepository::create(&*store, input.clone()).await.expect("create");
    let read = reload(&*store, input.id).await;
    assert_eq!(read.login, LoginMethod::OidcOnly);
    assert_eq!(read.oidc_provider.as_deref(), Some("google"));
    assert!(!read.is_admin);
}

/// A second user with the same (normalised) e-mail is a conflict and is not stored.
pub async fn a_taken_email_is_a_conflict<S: Storage>(store: Arc<S>) {
    user(&*store, "taken@example.com").await;
    let err = UserRepository::create(&*store, new_user("TAKEN@example.com", 1))
        .await
        .expect_err("duplicate e-mail");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    assert_eq!(store.count().await.expect("count"), 1);
}

/// `list` returns users oldest first; `count` counts them.
pub async fn users_are_listed_oldest_first_and_counted<S: Storage>(store: Arc<S>) {
    assert_eq!(store.count().await.expect("count"), 0);
    assert!(store.list().await.expect("list").is_empty());
    for (email, created) in [("c@example.com", 30), ("a@example.com", 10), ("b@example.com", 20)] {
        UserRepository::create(&*store, new_user(email, created)).await.expect("create");
    }
    let emails: Vec<String> = store
        .list()
        .await
        .expect("list")
        .iter()
        .map(|u| u.as_ok().expect("every row decodes").email.as_str().to_owned())
        .collect();
    assert_eq!(emails, ["a@example.com", "b@example.com", "c@example.com"]);
    assert_eq!(store.count().await.expect("count"), 3);
}

/// The first administrator is stored on an empty store only.
pub async fn the_first_admin_is_created_only_while_no_user_exists<S: Storage>(store: Arc<S>) {
    let mut admin = new_user("admin@example.com", 0);
    admin.is_admin = true;
    let created = store.create_first_admin(admin.clone()).await.expect("setup");
    assert_eq!(created.map(|u| u.id), Some(admin.id));
    assert!(reload(&*store, admin.id).await.is_admin);
    let again = store.create_first_admin(new_user("second@example.com", 1)).await.expect("setup");
    assert!(again.is_none(), "a second setup stores nothing");
    assert_eq!(store.count().await.expect("count"), 1);

    UserRepository::delete(&*store, admin.id, &[]).await.expect("delete");
    user(&*store, "plain@example.com").await;
    let late = store.create_first_admin(new_user("late@example.com", 2)).await.expect("setup");
    assert!(late.is_none(), "any existing user blocks the first-admin setup");
}

/// Of concurrent first-admin setups exactly one creates a user.
pub async fn concurrent_first_admin_setups_create_exactly_one<S: Storage>(store: Arc<S>) {
    let results = concurrently(20, |i| {
        let store = Arc::clone(&store);
        async move {
            let mut admin = new_user(&format!("admin{i}@example.com"), 0);
            admin.is_admin = true;
            store.create_first_admin(admin).await.expect("setup").is_some()
        }
    })
    .await;
    assert_eq!(count_true(&results), 1, "exactly one setup wins");
    assert_eq!(store.count().await.expect("count"), 1);
}

/// `set_password` replaces the hash (or sets one on an OIDC-only user); unknown users: false.
pub async fn set_password_replaces_the_hash_of_existing_users_only<S: Storage>(store: Arc<S>) {
    let mut input = new_user("pw@example.com", 0);
    input.login = LoginMethod::OidcOnly;
    UserRepository::create(&*store, input.clone()).await.expect("create");
    let hash = PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$bmV3$bmV3");
    assert!(store.set_password(input.id, hash.clone()).await.expect("set"));
    assert_eq!(reload(&*store, input.id).await.login, LoginMethod::Local(hash.clone()));
    assert!(!store.set_password(UserId::generate(), hash).await.expect("set"));
}

/// Deleting a user deletes their sessions, tokens, backup codes and attempt counters in
/// the same operation; audit events and other users' data stay.
pub async fn deleting_a_user_cascades_but_keeps_audit_events_and_other_users<S: Storage>(
    store: Arc<S>,
) {
    let gone = user(&*store, "gone@example.com").await;
    let kept = user(&*store, "kept@example.com").await;
    for u in [&gone, &kept] {
        enable(&*store, u.id, &u.id.to_string()[..8]).await;
        SessionRepository::create(&*store, session(&format!("s-{}", u.id), u.id, 1000))
            .await
            .expect("session");
        ApiTokenRepository::create(&*store, token(&format!("t-{}", u.id), u.id, 0))
            .await
            .expect("token");
        for kind in [AttemptKind::SecondFactor, AttemptKind::Password] {
            let key = AttemptKey::account(kind, &AttemptAccount::User(u.id));
            granted(store.reserve(&key, &POLICY, t(0)).await.expect("reserve"));
        }
        store.record(event(0, Some(u.id), AuditEventKind::LoginSuccess)).await.expect("audit");
    }

    let counters = AttemptKey::of_user(gone.id);
    assert!(UserRepository::delete(&*store, gone.id, &counters).await.expect("delete"));
    assert!(!UserRepository::delete(&*store, gone.id, &counters).await.expect("delete again"));
    assert_eq!(store.find_by_id(gone.id).await.expect("find"), None);
    assert_eq!(store.find(&digest(&format!("s-{}", gone.id))).await.expect("session"), None);
    assert_eq!(store.find_active(&digest(&format!("t-{}", gone.id))).await.expect("token"), None);
    assert!(store.list_for_user(gone.id).await.expect("tokens").is_empty());
    assert_eq!(store.backup_codes_remaining(gone.id).await.expect("codes"), 0);
    for kind in [AttemptKind::SecondFactor, AttemptKind::Password] {
        let key = AttemptKey::account(kind, &AttemptAccount::User(gone.id));
        assert_eq!(store.get(&key).await.expect("counter"), None, "{key} deleted");
    }
    let audit = AuditQuery { user_id: Some(gone.id), limit: 10, ..AuditQuery::default() };
    // The confirm's event (committed with it by `enable`) and the login's.
    assert_eq!(store.query(audit).await.expect("audit").len(), 2, "audit events outlive users");

    assert!(reload(&*store, kept.id).await.mfa.is_enabled());
    assert!(store.find(&digest(&format!("s-{}", kept.id))).await.expect("session").is_some());
    assert!(store.find_active(&digest(&format!("t-{}", kept.id))).await.expect("token").is_some());
    assert_eq!(store.backup_codes_remaining(kept.id).await.expect("codes"), 10);
    let key = AttemptKey::account(AttemptKind::SecondFactor, &AttemptAccount::User(kept.id));
    assert!(store.get(&key).await.expect("counter").is_some());
}

/// `start_mfa_grace` stores a user's grace start once and never moves it; every read of the
/// user carries it (the finders, the list, and the caller reads of sessions and tokens —
/// SQLite's synchronous path included); an unknown user gets `None`.
pub async fn an_mfa_grace_start_is_stored_once_and_read_with_the_user<S: Storage>(store: Arc<S>) {
    let started = user(&*store, "grace@example.com").await;
    let other = user(&*store, "other@example.com").await;
    assert_eq!(started.mfa_grace_started_at, None, "a new user has no grace start");
    assert_eq!(store.start_mfa_grace(started.id, t(100)).await.expect("start"), Some(t(100)));
    let again = store.start_mfa_grace(started.id, t(200)).await.expect("start again");
    assert_eq!(again, Some(t(100)), "a stored start is never moved");

    assert_eq!(reload(&*store, started.id).await.mfa_grace_started_at, Some(t(100)));
    let by_email = store.find_by_email(&started.email).await.expect("find").expect("found");
    assert_eq!(by_email.mfa_grace_started_at, Some(t(100)));
    let listed: Vec<_> = store
        .list()
        .await
        .expect("list")
        .iter()
        .map(|u| {
            let u = u.as_ok().expect("every row decodes");
            (u.id, u.mfa_grace_started_at)
        })
        .collect();
    assert!(listed.contains(&(started.id, Some(t(100)))), "{listed:?}");
    assert!(listed.contains(&(other.id, None)), "other users keep theirs: {listed:?}");
    SessionRepository::create(&*store, session("grace-s", started.id, 1000)).await.expect("s");
    let by_session = SessionRepository::find_caller(&*store, &digest("grace-s"))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(by_session.user.mfa_grace_started_at, Some(t(100)));
    let record = token("grace-t", started.id, 0);
    ApiTokenRepository::create(&*store, record.clone()).await.expect("token");
    let by_token = ApiTokenRepository::find_caller(&*store, &record.token_hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(by_token.user.mfa_grace_started_at, Some(t(100)));

    assert_eq!(store.start_mfa_grace(UserId::generate(), t(100)).await.expect("start"), None);
    assert_eq!(reload(&*store, other.id).await.mfa_grace_started_at, None);

    // Concurrent first sign-ins: one start is stored, and every call returns that one.
    let racing = user(&*store, "racing@example.com").await;
    let starts =
        concurrently(20, |i| {
            let store = Arc::clone(&store);
            async move {
                store.start_mfa_grace(racing.id, t(300 + i64::try_from(i).expect("small"))).await
            }
        })
        .await;
    let stored = reload(&*store, racing.id).await.mfa_grace_started_at;
    assert!(stored.is_some_and(|at| at >= t(300) && at < t(320)), "{stored:?}");
    for start in starts {
        assert_eq!(start.expect("start"), stored, "every racer sees the stored start");
    }
}
