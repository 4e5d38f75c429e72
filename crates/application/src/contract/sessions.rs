//! The contract of [`SessionRepository`](crate::ports::SessionRepository): sessions, pending
//! MFA states and their attempts, and the caller a session resolves to.

use std::sync::Arc;

use crate::ports::{CallerRecord, SessionKind, SessionRecord, SessionRepository, Storage};

use super::{concurrently, count_true, digest, owners_with_codes, session, t, user};

/// A session reads back as stored; `touch` moves only `last_seen_at`.
pub async fn a_session_round_trips_and_is_touched<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "s@example.com").await;
    let mut record = session("s1", u.id, 3600);
    record.kind = SessionKind::PendingMfa;
    SessionRepository::create(&*store, record.clone()).await.expect("create");
    assert_eq!(store.find(&record.id_hash).await.expect("find"), Some(record.clone()));
    SessionRepository::touch(&*store, &record.id_hash, t(60)).await.expect("touch");
    let touched = store.find(&record.id_hash).await.expect("find").expect("exists");
    assert_eq!(touched, SessionRecord { last_seen_at: t(60), ..record });
    assert_eq!(store.find(&digest("nope")).await.expect("find"), None);
}

/// Of concurrent deletes of one session exactly one reports it existed.
pub async fn deleting_a_session_succeeds_exactly_once_under_concurrency<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "once@example.com").await;
    SessionRepository::create(&*store, session("pending", u.id, 600)).await.expect("create");
    let results = concurrently(20, |_| {
        let store = Arc::clone(&store);
        async move { SessionRepository::delete(&*store, &digest("pending")).await.expect("delete") }
    })
    .await;
    assert_eq!(count_true(&results), 1);
    assert_eq!(store.find(&digest("pending")).await.expect("find"), None);
}

/// Attempts on a pending-MFA state are reserved 1, 2, 3, … up to the maximum, and of many
/// concurrent reservations exactly the places left are granted.
pub async fn a_pending_session_grants_at_most_its_attempts_under_concurrency<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "fails@example.com").await;
    let id = digest("mfa-pending");
    SessionRepository::create(&*store, session("mfa-pending", u.id, 600)).await.expect("create");
    assert_eq!(store.reserve_attempt(&id, 5).await.expect("reserve"), Some(1));
    assert_eq!(store.reserve_attempt(&id, 5).await.expect("reserve"), Some(2));
    let mut seen: Vec<u32> = concurrently(50, |_| {
        let store = Arc::clone(&store);
        let id = id.clone();
        async move { store.reserve_attempt(&id, 5).await.expect("reserve") }
    })
    .await
    .into_iter()
    .flatten()
    .collect();
    seen.sort_unstable();
    assert_eq!(seen, [3, 4, 5], "exactly the three places left were granted, once each");
    let stored = store.find(&id).await.expect("find").expect("exists");
    assert_eq!(stored.failed_attempts, 5);
    assert_eq!(store.reserve_attempt(&id, 5).await.expect("reserve"), None, "used up");
    assert_eq!(store.reserve_attempt(&digest("gone"), 5).await.expect("reserve"), None);
}

/// `delete_for_user` deletes the user's other sessions, keeps `keep` and others' sessions.
pub async fn sessions_of_a_user_are_deleted_except_the_kept_one<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let b = user(&*store, "b@example.com").await;
    for (id, owner) in [("a1", a.id), ("a2", a.id), ("a3", a.id), ("b1", b.id)] {
        SessionRepository::create(&*store, session(id, owner, 600)).await.expect("create");
    }
    assert_eq!(store.delete_for_user(a.id, Some(&digest("a2"))).await.expect("delete"), 2);
    assert!(store.find(&digest("a2")).await.expect("find").is_some());
    assert!(store.find(&digest("a1")).await.expect("find").is_none());
    assert!(store.find(&digest("b1")).await.expect("find").is_some());
    assert_eq!(store.delete_for_user(a.id, None).await.expect("delete"), 1);
    assert!(store.find(&digest("a2")).await.expect("find").is_none());
}

/// `delete_expired` deletes sessions whose absolute expiry has passed, and only those.
pub async fn expired_sessions_are_deleted<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "exp@example.com").await;
    for (id, expires) in [("old", 100), ("older", 50), ("live", 1000)] {
        SessionRepository::create(&*store, session(id, u.id, expires)).await.expect("create");
    }
    assert_eq!(store.delete_expired(t(500)).await.expect("purge"), 2);
    assert!(store.find(&digest("live")).await.expect("find").is_some());
    assert!(store.find(&digest("old")).await.expect("find").is_none());
    assert_eq!(store.delete_expired(t(500)).await.expect("purge"), 0);
}

/// `find_caller` reads a session (pending or expired too) with its owner as stored and the
/// owner's unused backup codes — not the spent ones, not another user's; a deleted session
/// is gone on the very next call.
pub async fn a_session_resolves_to_its_owner_and_unused_backup_codes_until_deleted<S: Storage>(
    store: Arc<S>,
) {
    let (a, b, c) = owners_with_codes(&*store).await;
    let mut pending = session("a-pending", a.id, 5);
    pending.kind = SessionKind::PendingMfa;
    for record in [session("a1", a.id, 600), pending, session("b1", b.id, 600)] {
        SessionRepository::create(&*store, record).await.expect("create");
    }
    SessionRepository::create(&*store, session("c1", c.id, 600)).await.expect("create");
    let found = SessionRepository::find_caller(&*store, &digest("a1")).await.expect("find");
    let expected = CallerRecord {
        credential: session("a1", a.id, 600),
        user: a.clone(),
        backup_codes_remaining: 8,
    };
    assert_eq!(found, Some(expected));
    let found = SessionRepository::find_caller(&*store, &digest("a-pending"))
        .await
        .expect("find")
        .expect("found");
    assert_eq!((found.credential.kind, found.user.id), (SessionKind::PendingMfa, a.id));
    assert_eq!(found.credential.expires_at, t(5), "expired sessions are returned too");
    let found =
        SessionRepository::find_caller(&*store, &digest("b1")).await.expect("find").expect("found");
    assert_eq!((found.user, found.backup_codes_remaining), (b, 10));
    let found =
        SessionRepository::find_caller(&*store, &digest("c1")).await.expect("find").expect("found");
    assert_eq!((found.user, found.backup_codes_remaining), (c, 0));

    assert!(SessionRepository::delete(&*store, &digest("a1")).await.expect("delete"));
    assert_eq!(SessionRepository::find_caller(&*store, &digest("a1")).await.expect("find"), None);
    assert_eq!(SessionRepository::find_caller(&*store, &digest("nope")).await.expect("find"), None);
    assert!(SessionRepository::find_caller(&*store, &digest("b1")).await.expect("find").is_some());
}
