//! The contract of passkey storage: credentials (stored with their effects, unique by
//! credential id, renamed and removed only by their owner, removed only with a spent proof),
//! the sign counter's compare-and-set, and single-use ceremony state.

use std::sync::Arc;

use slugbase_domain::{AuditEventKind, NoticeId, NoticeKind, PasskeyId, TotpStep, UserId};

use crate::ports::{
    AuditEvent, AuditQuery, CeremonyKind, CeremonyRecord, CeremonyState, ChangeEffects, Listed,
    MfaProof, Notice, PasskeyData, PasskeyRecord, PasskeyRemoval, PasskeyUse, PasskeyUseOutcome,
    Storage, StoreError, UserRepository,
};

use super::outbox::notices_with;
use super::{concurrently, digest, enable, event, reload, session, t, user};

pub(super) fn passkey(user: UserId, label: &str, created: i64) -> PasskeyRecord {
    PasskeyRecord {
        id: PasskeyId::generate(),
        user_id: user,
        credential_id: format!("cred-{label}").into_bytes(),
        passkey: PasskeyData::new(format!(r#"{{"cred":"{label}","counter":0}}"#)),
        name: format!("Key {label}"),
        created_at: t(created),
        last_used_at: None,
        sign_count: 0,
        backup_eligible: true,
        backup_state: label.len().is_multiple_of(2),
    }
}

fn notice(user: UserId, kind: NoticeKind, label: &str) -> Notice {
    Notice {
        id: NoticeId::generate(),
        kind,
        user_id: Some(user),
        recipient: "owner@example.com".to_owned(),
        at: t(40),
        client_addr: Some("192.0.2.8".to_owned()),
        user_agent: Some("contract".to_owned()),
        codes_left: None,
        subject: Some(label.to_owned()),
    }
}

/// What adding (or removing) a passkey commits: its event and its notice.
pub(super) fn effects(user: UserId, kind: AuditEventKind, label: &str) -> ChangeEffects {
    let notice_kind = match kind {
        AuditEventKind::PasskeyAdded => NoticeKind::PasskeyAdded,
        _ => NoticeKind::PasskeyRemoved,
    };
    let audit =
        AuditEvent { detail: Some(format!("passkey={label}")), ..event(40, Some(user), kind) };
    ChangeEffects::audited(audit).with_notice(notice(user, notice_kind, label))
}

pub(super) async fn stored_events<S: Storage>(store: &S, event: &AuditEvent) -> usize {
    let query = AuditQuery { user_id: event.user_id, limit: 1000, ..AuditQuery::default() };
    let events = store.query(query).await.expect("query");
    events.iter().filter(|e| e.event == *event).count()
}

pub(super) async fn listed<S: Storage>(store: &S, user: UserId) -> Vec<PasskeyRecord> {
    let rows = store.passkeys_of(user).await.expect("list passkeys");
    Listed::all_ok(rows).expect("every passkey decodes")
}

/// A passkey is stored with its event and notice, reads back field for field (listed oldest
/// first, found by credential id); a second one with a taken credential id — even another
/// user's — is a conflict that stores nothing; deleting the user deletes their passkeys.
pub async fn a_passkey_is_stored_with_its_effects_and_its_credential_id_is_unique<S: Storage>(
    store: Arc<S>,
) {
    let a = user(&*store, "pk-a@example.com").await;
    let b = user(&*store, "pk-b@example.com").await;
    let second = passkey(a.id, "a2", 20);
    let first = passkey(a.id, "a1", 10);
    let added = effects(a.id, AuditEventKind::PasskeyAdded, "a2");
    store.create_passkey(second.clone(), &added).await.expect("create");
    store
        .create_passkey(first.clone(), &effects(a.id, AuditEventKind::PasskeyAdded, "a1"))
        .await
        .expect("create");
    assert_eq!(listed(&*store, a.id).await, [first.clone(), second.clone()], "oldest first");
    assert_eq!(stored_events(&*store, &added.audit).await, 1, "the event once");
    assert_eq!(notices_with(&*store, added.notice.as_ref().expect("notice")).await, 1);
    assert!(listed(&*store, b.id).await.is_empty(), "another user's list is empty");
    let found = store.find_passkey(&second.credential_id).await.expect("find");
    assert_eq!(found, Some(second.clone()));
    assert_eq!(store.find_passkey(b"no-such-credential").await.expect("find"), None);

    let mut stolen = passkey(b.id, "a1", 30);
    stolen.credential_id = first.credential_id.clone();
    let refused = effects(b.id, AuditEventKind::PasskeyAdded, "stolen");
    let conflict = store.create_passkey(stolen, &refused).await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict("passkeys.credential_id"))),
        "{conflict:?}"
    );
    assert!(listed(&*store, b.id).await.is_empty(), "nothing stored");
    assert_eq!(stored_events(&*store, &refused.audit).await, 0, "no event");
    assert_eq!(notices_with(&*store, refused.notice.as_ref().expect("notice")).await, 0);

    assert!(UserRepository::delete(&*store, a.id, &[]).await.expect("delete"));
    assert_eq!(store.find_passkey(&first.credential_id).await.expect("find"), None, "cascaded");
    assert!(listed(&*store, a.id).await.is_empty());
}

/// A passkey is renamed by its owner only.
pub async fn a_passkey_is_renamed_by_its_owner_only<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "pk-a@example.com").await;
    let b = user(&*store, "pk-b@example.com").await;
    let key = passkey(a.id, "r", 10);
    store
        .create_passkey(key.clone(), &effects(a.id, AuditEventKind::PasskeyAdded, "r"))
        .await
        .expect("create");
    assert!(!store.rename_passkey(b.id, key.id, "Mine now").await.expect("rename"));
    assert!(!store.rename_passkey(a.id, PasskeyId::generate(), "Nope").await.expect("rename"));
    assert_eq!(listed(&*store, a.id).await[0].name, key.name);
    assert!(store.rename_passkey(a.id, key.id, "Work laptop").await.expect("rename"));
    assert_eq!(listed(&*store, a.id).await[0].name, "Work laptop");
}

/// Removal spends the proof and commits the event and notice with it; another user's
/// passkey is not found and spends nothing; an unspendable proof changes nothing; a
/// removed passkey is gone.
pub async fn a_passkey_is_removed_with_a_spent_proof_and_its_effects_or_not_at_all<S: Storage>(
    store: Arc<S>,
) {
    let a = user(&*store, "pk-a@example.com").await;
    let b = user(&*store, "pk-b@example.com").await;
    let a_codes = enable(&*store, a.id, "pa").await;
    enable(&*store, b.id, "pb").await;
    let key = passkey(a.id, "rm", 10);
    store
        .create_passkey(key.clone(), &effects(a.id, AuditEventKind::PasskeyAdded, "rm"))
        .await
        .expect("create");
    let removed = effects(a.id, AuditEventKind::PasskeyRemoved, "rm");
    let code = MfaProof::BackupCode(a_codes[0].clone());

    let by_b = store.remove_passkey(b.id, key.id, &code, t(41), &removed).await.expect("remove");
    assert_eq!(by_b, PasskeyRemoval::NotFound, "another user's passkey");
    let unknown = store.remove_passkey(a.id, PasskeyId::generate(), &code, t(41), &removed);
    assert_eq!(unknown.await.expect("remove"), PasskeyRemoval::NotFound);
    let replay = MfaProof::TotpStep(TotpStep::new(100));
    let refused =
        store.remove_passkey(a.id, key.id, &replay, t(41), &removed).await.expect("remove");
    assert_eq!(refused, PasskeyRemoval::ProofRefused, "step 100 was accepted at enrollment");
    assert_eq!(listed(&*store, a.id).await, std::slice::from_ref(&key), "still there");
    assert_eq!(stored_events(&*store, &removed.audit).await, 0, "no event");
    assert_eq!(notices_with(&*store, removed.notice.as_ref().expect("notice")).await, 0);

    let done = store.remove_passkey(a.id, key.id, &code, t(41), &removed).await.expect("remove");
    assert_eq!(done, PasskeyRemoval::Removed);
    assert!(listed(&*store, a.id).await.is_empty());
    assert_eq!(stored_events(&*store, &removed.audit).await, 1, "the event once");
    assert_eq!(notices_with(&*store, removed.notice.as_ref().expect("notice")).await, 1);
    assert!(!store.spend_proof(a.id, &code, t(42)).await.expect("spend"), "the code is spent");
    let again = MfaProof::BackupCode(a_codes[1].clone());
    let twice = store.remove_passkey(a.id, key.id, &again, t(43), &removed).await.expect("remove");
    assert_eq!(twice, PasskeyRemoval::NotFound);
    assert!(store.spend_proof(a.id, &again, t(44)).await.expect("spend"), "not spent by it");
}

/// A use is recorded only when the counter moves forward (or the authenticator keeps none:
/// 0 after 0); a counter at or below the stored one writes nothing.
pub async fn a_passkey_use_is_recorded_only_when_its_counter_moves_forward<S: Storage>(
    store: Arc<S>,
) {
    let a = user(&*store, "pk-a@example.com").await;
    let counting = passkey(a.id, "cnt", 10);
    let counterless = passkey(a.id, "zero", 11);
    for key in [&counting, &counterless] {
        store
            .create_passkey(key.clone(), &effects(a.id, AuditEventKind::PasskeyAdded, "c"))
            .await
            .expect("create");
    }
    let used = |key: &PasskeyRecord, count: u32, at: i64| PasskeyUse {
        credential_id: key.credential_id.clone(),
        passkey: PasskeyData::new(format!(r#"{{"counter":{count}}}"#)),
        sign_count: count,
        backup_state: true,
        at: t(at),
    };
    let first = used(&counting, 5, 50);
    assert_eq!(store.record_passkey_use(&first).await.expect("use"), PasskeyUseOutcome::Recorded);
    for (count, what) in [(5, "the same counter"), (4, "a lower counter"), (0, "a reset counter")] {
        let outcome = store.record_passkey_use(&used(&counting, count, 60)).await.expect("use");
        assert_eq!(outcome, PasskeyUseOutcome::CounterRegressed, "{what}");
    }
    let stored = store.find_passkey(&counting.credential_id).await.expect("find").expect("there");
    assert_eq!(
        (stored.sign_count, stored.passkey, stored.last_used_at, stored.backup_state),
        (5, first.passkey.clone(), Some(t(50)), true),
        "the first use, nothing of the refused ones"
    );
    for at in [70, 71] {
        let outcome = store.record_passkey_use(&used(&counterless, 0, at)).await.expect("use");
        assert_eq!(outcome, PasskeyUseOutcome::Recorded, "no counter: 0 after 0");
    }
    let stored =
        store.find_passkey(&counterless.credential_id).await.expect("find").expect("there");
    assert_eq!(stored.last_used_at, Some(t(71)));
    let mut unknown = used(&counting, 9, 80);
    unknown.credential_id = b"no-such-credential".to_vec();
    let outcome = store.record_passkey_use(&unknown).await.expect("use");
    assert_eq!(outcome, PasskeyUseOutcome::NotFound);
}

/// Of twenty concurrent uses carrying one counter exactly one is recorded (a cloned
/// authenticator racing the real one gets no use of its own).
pub async fn concurrent_uses_with_one_counter_are_recorded_once<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "pk-a@example.com").await;
    let key = passkey(a.id, "race", 10);
    store
        .create_passkey(key.clone(), &effects(a.id, AuditEventKind::PasskeyAdded, "r"))
        .await
        .expect("create");
    let outcomes = concurrently(20, |i| {
        let store = Arc::clone(&store);
        let used = PasskeyUse {
            credential_id: key.credential_id.clone(),
            passkey: PasskeyData::new(format!(r#"{{"use":{i}}}"#)),
            sign_count: 7,
            backup_state: false,
            at: t(60),
        };
        async move { store.record_passkey_use(&used).await.expect("use") }
    })
    .await;
    let recorded = outcomes.iter().filter(|o| **o == PasskeyUseOutcome::Recorded).count();
    assert_eq!(recorded, 1, "{outcomes:?}");
    let stored = store.find_passkey(&key.credential_id).await.expect("find").expect("there");
    assert_eq!(stored.sign_count, 7);
}

/// A passkey is a proof storage spends like a code: only the owner's passkey, only while
/// MFA is on, only with a counter that moves forward; of concurrent disables with one
/// counter exactly one commits.
pub async fn a_passkey_proof_is_spent_for_its_owner_only_with_a_counter_that_moves_forward<
    S: Storage,
>(
    store: Arc<S>,
) {
    let a = user(&*store, "pk-a@example.com").await;
    let b = user(&*store, "pk-b@example.com").await;
    enable(&*store, a.id, "pa").await;
    enable(&*store, b.id, "pb").await;
    let key = passkey(a.id, "proof", 10);
    store
        .create_passkey(key.clone(), &effects(a.id, AuditEventKind::PasskeyAdded, "p"))
        .await
        .expect("create");
    let proof = |count: u32, at: i64| {
        MfaProof::Passkey(PasskeyUse {
            credential_id: key.credential_id.clone(),
            passkey: PasskeyData::new(format!(r#"{{"counter":{count}}}"#)),
            sign_count: count,
            backup_state: false,
            at: t(at),
        })
    };
    assert!(!store.spend_proof(b.id, &proof(3, 50), t(50)).await.expect("spend"), "not b's");
    assert!(store.spend_proof(a.id, &proof(3, 51), t(51)).await.expect("spend"));
    assert!(!store.spend_proof(a.id, &proof(3, 52), t(52)).await.expect("spend"), "a replay");
    assert!(!store.spend_proof(a.id, &proof(2, 53), t(53)).await.expect("spend"), "behind");
    let stored = store.find_passkey(&key.credential_id).await.expect("find").expect("there");
    assert_eq!((stored.sign_count, stored.last_used_at), (3, Some(t(51))));

    let outcomes = concurrently(10, |_| {
        let store = Arc::clone(&store);
        let proof = proof(9, 60);
        let done = ChangeEffects::audited(event(60, Some(a.id), AuditEventKind::MfaDisableSuccess));
        async move { store.disable_with_proof(a.id, &proof, t(60), &done).await.expect("disable") }
    })
    .await;
    assert_eq!(outcomes.iter().filter(|o| **o).count(), 1, "{outcomes:?}");
    assert!(!reload(&*store, a.id).await.mfa.is_enabled());
    // MFA off: no passkey of a's stays, and none would prove anything.
    assert!(listed(&*store, a.id).await.is_empty(), "the passkeys go with MFA");
    assert!(!store.spend_proof(a.id, &proof(20, 70), t(70)).await.expect("spend"));
}

/// A sign-in with a passkey alone commits its session and event with the spend of the
/// counter, in one transaction; an answer whose counter cannot be spent commits neither.
pub async fn a_passkey_sign_in_commits_its_session_with_the_spend_or_nothing<S: Storage>(
    store: Arc<S>,
) {
    let a = user(&*store, "pk-a@example.com").await;
    enable(&*store, a.id, "pa").await;
    let key = passkey(a.id, "signin", 10);
    store
        .create_passkey(key.clone(), &effects(a.id, AuditEventKind::PasskeyAdded, "s"))
        .await
        .expect("create");
    let proof = MfaProof::Passkey(PasskeyUse {
        credential_id: key.credential_id.clone(),
        passkey: PasskeyData::new(r#"{"counter":4}"#),
        sign_count: 4,
        backup_state: false,
        at: t(50),
    });
    let signed_in = |id: &str| {
        let mut done = ChangeEffects::audited(event(50, Some(a.id), AuditEventKind::LoginSuccess));
        done.start_session = Some(session(id, a.id, 600));
        done
    };
    let first = signed_in("pk-first");
    assert!(store.spend_proof_with(a.id, &proof, t(50), &first).await.expect("sign in"));
    assert!(store.find(&digest("pk-first")).await.expect("find").is_some(), "the session");
    assert_eq!(stored_events(&*store, &first.audit).await, 1, "its event once");

    let replay = signed_in("pk-replay");
    assert!(!store.spend_proof_with(a.id, &proof, t(51), &replay).await.expect("sign in"));
    assert!(store.find(&digest("pk-replay")).await.expect("find").is_none(), "no session");
}

/// Turning MFA off — by the user with proof, or by an administrator's reset — removes every
/// passkey of that user and no one else's.
pub async fn disable_and_reset_remove_the_users_passkeys_and_no_one_elses<S: Storage>(
    store: Arc<S>,
) {
    let a = user(&*store, "pk-a@example.com").await;
    let b = user(&*store, "pk-b@example.com").await;
    let a_codes = enable(&*store, a.id, "pa").await;
    enable(&*store, b.id, "pb").await;
    for (owner, label, created) in [(a.id, "a1", 10), (a.id, "a2", 11), (b.id, "b1", 12)] {
        let key = passkey(owner, label, created);
        store
            .create_passkey(key, &effects(owner, AuditEventKind::PasskeyAdded, label))
            .await
            .expect("create");
    }
    let off = ChangeEffects::audited(event(41, Some(a.id), AuditEventKind::MfaDisableSuccess));
    let code = MfaProof::BackupCode(a_codes[0].clone());
    assert!(store.disable_with_proof(a.id, &code, t(41), &off).await.expect("disable"));
    assert!(listed(&*store, a.id).await.is_empty());
    assert_eq!(listed(&*store, b.id).await.len(), 1, "b's passkey stays");
    let reset = ChangeEffects::audited(event(42, Some(b.id), AuditEventKind::MfaResetByAdmin));
    assert!(store.reset(b.id, &reset).await.expect("reset"));
    assert!(listed(&*store, b.id).await.is_empty());
}

fn ceremony(label: &str, user: UserId, kind: CeremonyKind, expires: i64) -> CeremonyRecord {
    CeremonyRecord { user_id: Some(user), ..no_ones(label, kind, expires) }
}

/// A ceremony stored for no user (a passwordless sign-in's).
fn no_ones(label: &str, kind: CeremonyKind, expires: i64) -> CeremonyRecord {
    CeremonyRecord {
        id_hash: digest(label),
        user_id: None,
        kind,
        state: CeremonyState::new(format!(r#"{{"challenge":"{label}"}}"#)),
        created_at: t(0),
        expires_at: t(expires),
    }
}

/// A ceremony is taken once, by its owner, for its kind, before it expires; a take by
/// another user or for another kind neither gets nor removes it.
pub async fn a_ceremony_is_taken_once_by_its_owner_before_it_expires<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "pk-a@example.com").await;
    let b = user(&*store, "pk-b@example.com").await;
    let reg = CeremonyKind::Registration;
    let live = ceremony("live", a.id, reg, 300);
    store.put_ceremony(live.clone()).await.expect("put");
    store.put_ceremony(ceremony("old", a.id, reg, 100)).await.expect("put");
    let sign_in = no_ones("anyone", CeremonyKind::SignIn, 300);
    store.put_ceremony(sign_in.clone()).await.expect("put");
    let take = |label: &'static str, who: Option<UserId>, kind: CeremonyKind, now: i64| {
        let store = Arc::clone(&store);
        async move { store.take_ceremony(&digest(label), who, kind, t(now)).await.expect("take") }
    };
    let (a_id, b_id) = (Some(a.id), Some(b.id));
    assert_eq!(take("live", b_id, reg, 10).await, None, "another user's");
    assert_eq!(take("live", None, reg, 10).await, None, "a user's, asked for as no one's");
    let sign_in_kind = CeremonyKind::SignIn;
    assert_eq!(take("anyone", a_id, sign_in_kind, 10).await, None, "no one's, asked for as a's");
    assert_eq!(take("anyone", None, sign_in_kind, 10).await, Some(sign_in.state.clone()));
    assert_eq!(take("anyone", None, sign_in_kind, 11).await, None, "once");
    assert_eq!(take("live", a_id, CeremonyKind::Authentication, 10).await, None, "another kind");
    assert_eq!(take("live", a_id, reg, 10).await, Some(live.state.clone()), "intact");
    assert_eq!(take("live", a_id, reg, 11).await, None, "a second take gets nothing");
    assert_eq!(take("old", a_id, reg, 100).await, None, "expired at 100");
    assert_eq!(take("old", a_id, reg, 50).await, None, "and gone with the expired take");
    assert_eq!(take("never", a_id, reg, 10).await, None);
}

/// Of twenty concurrent takes of one ceremony exactly one gets it (a passwordless sign-in's,
/// which anyone holding its id may answer, so the race is open to all).
pub async fn concurrent_takes_of_one_ceremony_succeed_exactly_once<S: Storage>(store: Arc<S>) {
    let kind = CeremonyKind::SignIn;
    let record = no_ones("race", kind, 300);
    store.put_ceremony(record.clone()).await.expect("put");
    let taken = concurrently(20, |_| {
        let store = Arc::clone(&store);
        async move { store.take_ceremony(&digest("race"), None, kind, t(5)).await.expect("take") }
    })
    .await;
    let winners: Vec<_> = taken.into_iter().flatten().collect();
    assert_eq!(winners, [record.state], "exactly one take gets it, intact");
}

/// Ceremonies past their expiry are deleted; live ones stay; a deleted user's go with them.
pub async fn expired_ceremonies_are_deleted<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "pk-a@example.com").await;
    let b = user(&*store, "pk-b@example.com").await;
    let reg = CeremonyKind::Registration;
    store.put_ceremony(ceremony("old", a.id, reg, 10)).await.expect("put");
    store.put_ceremony(ceremony("new", a.id, reg, 1000)).await.expect("put");
    store.put_ceremony(ceremony("b", b.id, reg, 1000)).await.expect("put");
    assert_eq!(store.delete_expired_ceremonies(t(500)).await.expect("purge"), 1);
    let new = store.take_ceremony(&digest("new"), Some(a.id), reg, t(501)).await.expect("take");
    assert!(new.is_some(), "the live one stays");
    assert!(UserRepository::delete(&*store, b.id, &[]).await.expect("delete"));
    assert_eq!(
        store.delete_expired_ceremonies(t(2000)).await.expect("purge"),
        0,
        "b's went with b"
    );
}
