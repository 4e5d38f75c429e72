//! The contract of [`ApiTokenRepository`](crate::ports::ApiTokenRepository): tokens found by
//! hash until revoked, and the caller a token resolves to.

use std::sync::Arc;

use slugbase_domain::ApiTokenId;

use crate::ports::{ApiTokenRepository, CallerRecord, Storage};

use super::{digest, owners_with_codes, t, token, user};

/// A token is found by its hash and listed until revoked; revoking twice reports false.
pub async fn an_api_token_is_found_by_hash_until_revoked<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "tok@example.com").await;
    let record = token("ci", u.id, 5);
    ApiTokenRepository::create(&*store, record.clone()).await.expect("create");
    assert_eq!(store.find_active(&record.token_hash).await.expect("find"), Some(record.clone()));
    ApiTokenRepository::touch(&*store, record.id, t(9)).await.expect("touch");
    let used = store.find_active(&record.token_hash).await.expect("find").expect("active");
    assert_eq!(used.last_used_at, Some(t(9)));
    assert_eq!(store.list_for_user(u.id).await.expect("list"), vec![used]);
    assert!(store.revoke(u.id, record.id, t(10)).await.expect("revoke"));
    assert_eq!(store.find_active(&record.token_hash).await.expect("find"), None);
    assert!(store.list_for_user(u.id).await.expect("list").is_empty());
    assert!(!store.revoke(u.id, record.id, t(11)).await.expect("revoke"), "already revoked");
    assert!(!store.revoke(u.id, ApiTokenId::generate(), t(11)).await.expect("revoke"));
}

/// Revoking another user's token reports false and leaves it active.
pub async fn another_users_token_cannot_be_revoked<S: Storage>(store: Arc<S>) {
    let owner = user(&*store, "owner@example.com").await;
    let other = user(&*store, "other@example.com").await;
    let record = token("mine", owner.id, 0);
    ApiTokenRepository::create(&*store, record.clone()).await.expect("create");
    assert!(!store.revoke(other.id, record.id, t(1)).await.expect("revoke"));
    assert!(store.find_active(&record.token_hash).await.expect("find").is_some());
}

/// Each user's active tokens, oldest first.
pub async fn tokens_are_listed_oldest_first_per_user<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let b = user(&*store, "b@example.com").await;
    for (label, owner, created) in [("a-late", a.id, 30), ("b-1", b.id, 10), ("a-early", a.id, 10)]
    {
        ApiTokenRepository::create(&*store, token(label, owner, created)).await.expect("create");
    }
    let names: Vec<String> =
        store.list_for_user(a.id).await.expect("list").into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["a-early", "a-late"]);
    assert_eq!(store.list_for_user(b.id).await.expect("list").len(), 1);
}

/// `find_caller` reads an active token with its owner as stored and the owner's unused
/// backup codes — not the spent ones, not another user's; a revoked token is gone on the
/// very next call.
pub async fn a_token_resolves_to_its_owner_and_unused_backup_codes_until_revoked<S: Storage>(
    store: Arc<S>,
) {
    let (a, b, c) = owners_with_codes(&*store).await;
    let (mine, theirs, admin) =
        (token("a-ci", a.id, 5), token("b-ci", b.id, 6), token("c", c.id, 7));
    for record in [&mine, &theirs, &admin] {
        ApiTokenRepository::create(&*store, record.clone()).await.expect("create");
    }
    let found = ApiTokenRepository::find_caller(&*store, &mine.token_hash).await.expect("find");
    let expected =
        CallerRecord { credential: mine.clone(), user: a.clone(), backup_codes_remaining: 8 };
    assert_eq!(found, Some(expected));
    ApiTokenRepository::touch(&*store, mine.id, t(9)).await.expect("touch");
    let found = ApiTokenRepository::find_caller(&*store, &mine.token_hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.credential.last_used_at, Some(t(9)));
    let found = ApiTokenRepository::find_caller(&*store, &theirs.token_hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!((found.user, found.backup_codes_remaining), (b, 10));
    let found = ApiTokenRepository::find_caller(&*store, &admin.token_hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!((found.user, found.backup_codes_remaining), (c, 0));

    assert!(store.revoke(a.id, mine.id, t(10)).await.expect("revoke"));
    assert_eq!(
        ApiTokenRepository::find_caller(&*store, &mine.token_hash).await.expect("find"),
        None
    );
    assert_eq!(
        ApiTokenRepository::find_caller(&*store, &digest("nope")).await.expect("find"),
        None
    );
    assert!(
        ApiTokenRepository::find_caller(&*store, &theirs.token_hash).await.expect("find").is_some()
    );
}
