//! The contract of the OIDC storage: login flows, links to provider accounts, and the
//! provider authentication a session carries.

use std::sync::Arc;

use slugbase_domain::{AuditEventKind, LoginMethod, UserId};

use crate::ports::{
    AuditEvent, AuditQuery, LinkOutcome, OidcFlowRecord, SessionIdpAuth, SessionRepository,
    Storage, StoreError, UserRepository,
};

use super::{concurrently, digest, event, new_user, reload, session, t, user};

fn flow(label: &str, expires: i64) -> OidcFlowRecord {
    OidcFlowRecord {
        id_hash: digest(label),
        provider: "corp".to_owned(),
        state: format!("state-{label}"),
        nonce: format!("nonce-{label}"),
        pkce_verifier: format!("verifier-{label}"),
        return_to: Some("/after".to_owned()),
        created_at: t(0),
        expires_at: t(expires),
    }
}

fn oidc_event(at: i64, user: UserId, kind: AuditEventKind) -> AuditEvent {
    AuditEvent { detail: Some("provider=corp".to_owned()), ..event(at, Some(user), kind) }
}

async fn events_of<S: Storage>(store: &S, kind: AuditEventKind) -> Vec<AuditEvent> {
    let query = AuditQuery { kind: Some(kind), limit: 100, ..AuditQuery::default() };
    store.query(query).await.expect("query").into_iter().map(|e| e.event).collect()
}

/// A flow reads back field for field; of 20 concurrent takes exactly one gets it, and it is
/// gone after.
pub async fn an_oidc_flow_round_trips_and_is_taken_exactly_once_under_concurrency<S: Storage>(
    store: Arc<S>,
) {
    store.create_flow(flow("f1", 600)).await.expect("create flow");
    store.create_flow(flow("f2", 600)).await.expect("create flow");
    let taken = concurrently(20, |_| {
        let store = Arc::clone(&store);
        async move { store.take_flow(&digest("f1")).await.expect("take") }
    })
    .await;
    let winners: Vec<_> = taken.into_iter().flatten().collect();
    assert_eq!(winners, [flow("f1", 600)], "exactly one take gets the flow, intact");
    assert_eq!(store.take_flow(&digest("f1")).await.expect("take"), None);
    assert_eq!(store.take_flow(&digest("f2")).await.expect("take"), Some(flow("f2", 600)));
    assert_eq!(store.take_flow(&digest("nope")).await.expect("take"), None);
}

/// Flows past their expiry are deleted; live ones stay.
pub async fn expired_oidc_flows_are_deleted<S: Storage>(store: Arc<S>) {
    store.create_flow(flow("old", 10)).await.expect("create flow");
    store.create_flow(flow("new", 1000)).await.expect("create flow");
    assert_eq!(store.delete_expired_flows(t(500)).await.expect("purge"), 1);
    assert_eq!(store.take_flow(&digest("old")).await.expect("take"), None);
    assert!(store.take_flow(&digest("new")).await.expect("take").is_some());
}

/// A link finds its user and sets the user's provider, with its audit event; a second
/// subject for the same account or the same subject for another account is refused
/// (nothing stored); another provider may link the same account.
pub async fn an_oidc_link_is_stored_with_its_event_and_never_doubled<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let b = user(&*store, "b@example.com").await;
    let linked = AuditEventKind::OidcLinked;
    let outcome = store.link("corp", "sub-a", a.id, oidc_event(1, a.id, linked), None).await;
    assert_eq!(outcome.expect("link"), LinkOutcome::Linked);
    assert_eq!(
        store.find_linked_user("corp", "sub-a").await.expect("find").map(|u| u.id),
        Some(a.id)
    );
    assert_eq!(reload(&*store, a.id).await.oidc_provider.as_deref(), Some("corp"));
    assert_eq!(store.find_linked_user("corp", "sub-b").await.expect("find"), None);
    assert_eq!(store.find_linked_user("other", "sub-a").await.expect("find"), None);

    let again = store.link("corp", "sub-a2", a.id, oidc_event(2, a.id, linked), None).await;
    assert_eq!(again.expect("link"), LinkOutcome::Refused, "one subject per account and provider");
    let stolen = store.link("corp", "sub-a", b.id, oidc_event(3, b.id, linked), None).await;
    assert_eq!(stolen.expect("link"), LinkOutcome::Refused, "a subject links one account");
    assert_eq!(reload(&*store, b.id).await.oidc_provider, None);
    let gone =
        store.link("corp", "sub-x", UserId::generate(), oidc_event(4, a.id, linked), None).await;
    assert_eq!(gone.expect("link"), LinkOutcome::Refused, "no such user");
    let elsewhere = store.link("other", "sub-a", a.id, oidc_event(5, a.id, linked), None).await;
    assert_eq!(elsewhere.expect("link"), LinkOutcome::Linked);
    assert_eq!(
        reload(&*store, a.id).await.oidc_provider.as_deref(),
        Some("corp"),
        "the first stays"
    );

    let events = events_of(&*store, linked).await;
    assert_eq!(events.len(), 2, "only the stored links are audited: {events:?}");
    assert_eq!(events[1], oidc_event(1, a.id, linked));

    // Deleting the user deletes the link.
    assert!(UserRepository::delete(&*store, a.id, &[]).await.expect("delete"));
    assert_eq!(store.find_linked_user("corp", "sub-a").await.expect("find"), None);
}

/// Of ten concurrent links of one account to different subjects, exactly one is stored.
pub async fn concurrent_links_of_one_account_store_exactly_one<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let outcomes =
        concurrently(10, |i| {
            let store = Arc::clone(&store);
            let event = oidc_event(1, a.id, AuditEventKind::OidcLinked);
            async move {
                store.link("corp", &format!("sub-{i}"), a.id, event, None).await.expect("link")
            }
        })
        .await;
    let linked = outcomes.iter().filter(|o| **o == LinkOutcome::Linked).count();
    assert_eq!(linked, 1, "{outcomes:?}");
    assert_eq!(events_of(&*store, AuditEventKind::OidcLinked).await.len(), 1);
}

/// An OIDC-only user is created linked, with its event; a taken e-mail or subject is a
/// conflict that stores nothing.
pub async fn a_linked_oidc_user_is_created_with_its_event_or_not_at_all<S: Storage>(store: Arc<S>) {
    let created_kind = AuditEventKind::OidcUserCreated;
    let mut input = new_user("o@example.com", 0);
    input.login = LoginMethod::OidcOnly;
    input.oidc_provider = Some("corp".to_owned());
    let id = input.id;
    let created = store
        .create_linked_user(input.clone(), "sub-o", oidc_event(1, id, created_kind))
        .await
        .expect("create");
    assert_eq!(created.login, LoginMethod::OidcOnly);
    assert_eq!(created.oidc_provider.as_deref(), Some("corp"));
    assert_eq!(reload(&*store, id).await, created);
    let found = store.find_linked_user("corp", "sub-o").await.expect("find");
    assert_eq!(found.map(|u| u.id), Some(id));
    assert_eq!(events_of(&*store, created_kind).await, [oidc_event(1, id, created_kind)]);

    let mut same_email = input.clone();
    same_email.id = UserId::generate();
    let conflict = store.create_linked_user(same_email, "sub-p", oidc_event(2, id, created_kind));
    assert!(matches!(conflict.await, Err(StoreError::Conflict(_))));
    let mut same_subject = new_user("p@example.com", 0);
    same_subject.login = LoginMethod::OidcOnly;
    same_subject.oidc_provider = Some("corp".to_owned());
    let other = same_subject.id;
    let conflict =
        store.create_linked_user(same_subject, "sub-o", oidc_event(3, other, created_kind));
    assert!(matches!(conflict.await, Err(StoreError::Conflict(_))));
    assert_eq!(store.find_by_id(other).await.expect("find"), None, "nothing stored");
    assert_eq!(UserRepository::count(&*store).await.expect("count"), 1);
    assert_eq!(events_of(&*store, created_kind).await.len(), 1);
}

/// A session's provider authentication reads back, is replaced by a newer one, and is gone
/// with the session.
pub async fn a_sessions_provider_authentication_lives_and_dies_with_the_session<S: Storage>(
    store: Arc<S>,
) {
    let a = user(&*store, "a@example.com").await;
    SessionRepository::create(&*store, session("s1", a.id, 100)).await.expect("session");
    assert_eq!(store.session_auth(&digest("s1")).await.expect("read"), None);
    let auth = |at| SessionIdpAuth { provider: "corp".to_owned(), auth_time: t(at) };
    store.record_session_auth(&digest("s1"), auth(5)).await.expect("record");
    assert_eq!(store.session_auth(&digest("s1")).await.expect("read"), Some(auth(5)));
    store.record_session_auth(&digest("s1"), auth(7)).await.expect("record again");
    assert_eq!(store.session_auth(&digest("s1")).await.expect("read"), Some(auth(7)));
    assert!(SessionRepository::delete(&*store, &digest("s1")).await.expect("delete"));
    assert_eq!(store.session_auth(&digest("s1")).await.expect("read"), None);
}
