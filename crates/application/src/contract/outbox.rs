//! The storage contract's checks of the notice outbox and of the changes that commit a notice
//! (password change, a backup code spent at login, a new API token), run by
//! [`storage_contract_tests!`](crate::storage_contract_tests) with the others.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use slugbase_domain::{
    ApiTokenId, AuditEventKind, AuditOutcome, DisplayName, Email, EncryptedSecret, LoginMethod,
    NoticeId, NoticeKind, NoticeStatus, PasswordHash, TotpStep, User, UserId,
};

use crate::ports::{
    ApiTokenRecord, AuditEvent, AuditQuery, ChangeEffects, EndSessions, MfaProof, NewUser, Notice,
    NoticePurge, OutboxQuery, OutboxStanding, ProofSignIn, SecretDigest, SessionKind,
    SessionRecord, Storage,
};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid time")
}

async fn a_user<S: Storage>(store: &S, email: &str) -> User {
    let new = NewUser {
        id: UserId::generate(),
        email: Email::parse(email).expect("valid email"),
        name: DisplayName::parse("Outbox User").expect("valid name"),
        login: LoginMethod::Local(PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$b2xk")),
        oidc_provider: None,
        is_admin: false,
        created_at: at(0),
    };
    crate::ports::UserRepository::create(store, new).await.expect("create user")
}

fn hex(label: &str) -> SecretDigest {
    let hex: String = label.bytes().map(|b| format!("{b:02x}")).collect();
    SecretDigest::from_hex(format!("{hex:0>64}"))
}

fn a_notice(user: Option<UserId>, kind: NoticeKind, secs: i64) -> Notice {
    Notice {
        id: NoticeId::generate(),
        kind,
        user_id: user,
        recipient: "owner@example.com".to_owned(),
        at: at(secs),
        client_addr: Some("192.0.2.7".to_owned()),
        user_agent: Some("contract".to_owned()),
        codes_left: Some(3),
        subject: Some("laptop".to_owned()),
    }
}

fn an_event(user: UserId, kind: AuditEventKind, secs: i64) -> AuditEvent {
    AuditEvent {
        at: at(secs),
        user_id: Some(user),
        actor_id: None,
        kind,
        outcome: AuditOutcome::Success,
        proof: None,
        client_addr: None,
        user_agent: None,
        detail: None,
    }
}

/// The notice an MFA change of the storage contract's stage reports.
pub(super) fn stage_notice(user: UserId, kind: AuditEventKind, secs: i64) -> Notice {
    let kind = match kind {
        AuditEventKind::MfaEnrollConfirmSuccess => NoticeKind::MfaEnabled,
        AuditEventKind::MfaBackupRegenerateSuccess => NoticeKind::BackupCodesRegenerated,
        AuditEventKind::MfaResetByAdmin => NoticeKind::MfaResetByAdmin,
        _ => NoticeKind::MfaDisabled,
    };
    a_notice(Some(user), kind, secs)
}

/// How many stored notices equal `notice` (with its delivery fields as first stored).
pub(super) async fn notices_with<S: Storage>(store: &S, notice: &Notice) -> usize {
    let query = OutboxQuery { status: None, limit: 10_000, offset: 0 };
    let all = store.list_notices(query).await.expect("list notices");
    all.iter().filter(|m| m.notice == *notice).count()
}

/// A stored notice is claimed by one sender, held for the lease, and claimable again once the
/// lease has run out (a sender that crashed mid-send).
pub async fn a_notice_is_claimed_by_one_sender_until_its_lease_runs_out<S: Storage>(store: Arc<S>) {
    let notice = a_notice(None, NoticeKind::PasswordChanged, 100);
    store.enqueue(notice.clone()).await.expect("enqueue");
    assert!(store.claim_due(at(99), at(160), 10).await.expect("claim").is_empty(), "not due yet");
    let first = store.claim_due(at(100), at(160), 10).await.expect("claim");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].notice, notice);
    assert_eq!((first[0].status, first[0].attempts), (NoticeStatus::Pending, 0));
    assert!(store.claim_due(at(150), at(210), 10).await.expect("claim").is_empty(), "held");
    let again = store.claim_due(at(161), at(220), 10).await.expect("claim");
    assert_eq!(again.len(), 1, "the lease ran out: the notice comes back");
}

/// A stopping sender gives back what it claimed and did not send: due again at once. Only
/// its own claim is given back — not a claim another sender took after its lease ran out —
/// and never a notice sent meanwhile.
pub async fn a_stopping_sender_gives_back_only_its_own_unsent_claims<S: Storage>(store: Arc<S>) {
    let (kept, given, sent) = (
        a_notice(None, NoticeKind::MfaEnabled, 100),
        a_notice(None, NoticeKind::MfaDisabled, 101),
        a_notice(None, NoticeKind::PasswordChanged, 102),
    );
    for notice in [&kept, &given, &sent] {
        store.enqueue(notice.clone()).await.expect("enqueue");
    }
    let mine = store.claim_due(at(110), at(170), 10).await.expect("claim");
    assert_eq!(mine.len(), 3);
    store.mark_sent(sent.id, 1, at(111)).await.expect("sent");
    assert_eq!(store.release_claims(&[], at(170)).await.expect("nothing to give back"), 0);
    // Another sender's claim: the first lease ran out and `kept` and `given` were claimed again.
    let ids = [kept.id, given.id, sent.id];
    let other = store.claim_due(at(171), at(230), 10).await.expect("claim");
    assert_eq!(other.len(), 2, "kept and given came back after the first lease");
    let other_given = store.release_claims(&[given.id], at(230)).await.expect("release");
    assert_eq!(other_given, 1, "the other sender gives back `given`");

    // The first sender, stopping late, names its old lease: nothing of the other's is freed.
    assert_eq!(store.release_claims(&ids, at(170)).await.expect("release"), 0);
    let now = store.claim_due(at(172), at(240), 10).await.expect("claim");
    let now: Vec<_> = now.iter().map(|m| m.notice.id).collect();
    assert_eq!(now, [given.id], "only the given-back notice is due: `kept` is still held");
    assert_eq!(
        store.release_claims(&[sent.id], at(240)).await.expect("release"),
        0,
        "sent stays sent"
    );
    let query = OutboxQuery { status: Some(NoticeStatus::Sent), limit: 10, offset: 0 };
    assert_eq!(store.list_notices(query).await.expect("list").len(), 1);
}

/// The outbox's standing counts pending and failed notices, and finds the oldest pending
/// one (a notice waiting for its retry is pending too; sent ones are not counted).
pub async fn the_outbox_standing_counts_pending_and_failed_notices<S: Storage>(store: Arc<S>) {
    assert_eq!(store.outbox_standing().await.expect("standing"), OutboxStanding::default());
    let user = a_user(&*store, "standing@example.com").await;
    let notices: Vec<_> =
        (0..4).map(|i| a_notice(Some(user.id), NoticeKind::MfaEnabled, 100 + i)).collect();
    for notice in &notices {
        store.enqueue(notice.clone()).await.expect("enqueue");
    }
    assert_eq!(store.claim_due(at(110), at(170), 10).await.expect("claim").len(), 4);
    store.mark_sent(notices[0].id, 1, at(111)).await.expect("sent");
    let event = an_event(user.id, AuditEventKind::NoticeDeliveryFailed, 112);
    store.mark_failed(notices[1].id, 8, "550 no", event).await.expect("failed");
    store.retry_later(notices[2].id, 1, at(400), "421 later").await.expect("retry");
    let standing = store.outbox_standing().await.expect("standing");
    assert_eq!(
        standing,
        OutboxStanding { pending: 2, failed: 1, oldest_pending: Some(at(102)) },
        "the retried notice and the untouched one are pending, the oldest stored at 102"
    );
}

/// Of many concurrent claims, each notice goes to exactly one.
pub async fn concurrent_claims_hand_out_each_notice_once<S: Storage>(store: Arc<S>) {
    let mut ids = Vec::new();
    for i in 0..30 {
        let notice = a_notice(None, NoticeKind::MfaDisabled, i);
        ids.push(notice.id);
        store.enqueue(notice).await.expect("enqueue");
    }
    let claims = (0..10).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.claim_due(at(100), at(400), 4).await.expect("claim") })
    });
    let mut claimed: Vec<NoticeId> = Vec::new();
    for claim in futures::future::join_all(claims).await {
        claimed.extend(claim.expect("task").into_iter().map(|m| m.notice.id));
    }
    let rest = store.claim_due(at(100), at(400), 100).await.expect("claim");
    claimed.extend(rest.into_iter().map(|m| m.notice.id));
    claimed.sort();
    ids.sort();
    assert_eq!(claimed, ids, "every notice claimed exactly once");
}

/// Sent, retried and failed notices are recorded; a failure stores its audit event with it.
pub async fn delivery_outcomes_are_recorded_and_failure_is_audited_with_it<S: Storage>(
    store: Arc<S>,
) {
    let user = a_user(&*store, "outcomes@example.com").await;
    let sent = a_notice(Some(user.id), NoticeKind::MfaEnabled, 1);
    let retried = a_notice(Some(user.id), NoticeKind::MfaDisabled, 2);
    let failed = a_notice(Some(user.id), NoticeKind::PasswordChanged, 3);
    for n in [&sent, &retried, &failed] {
        store.enqueue(n.clone()).await.expect("enqueue");
    }
    assert_eq!(store.claim_due(at(10), at(70), 10).await.expect("claim").len(), 3);
    store.mark_sent(sent.id, 1, at(11)).await.expect("sent");
    store.retry_later(retried.id, 1, at(40), "421 try later").await.expect("retry");
    let event = an_event(user.id, AuditEventKind::NoticeDeliveryFailed, 12);
    store.mark_failed(failed.id, 8, "550 no such user", event.clone()).await.expect("failed");

    let all = store.list_notices(OutboxQuery { status: None, limit: 10, offset: 0 }).await;
    let all = all.expect("list");
    let find = |id: NoticeId| all.iter().find(|m| m.notice.id == id).expect("stored").clone();
    let s = find(sent.id);
    assert_eq!((s.status, s.attempts, s.sent_at), (NoticeStatus::Sent, 1, Some(at(11))));
    let r = find(retried.id);
    assert_eq!((r.status, r.attempts, r.next_attempt_at), (NoticeStatus::Pending, 1, at(40)));
    assert_eq!(r.last_error.as_deref(), Some("421 try later"));
    let f = find(failed.id);
    assert_eq!((f.status, f.attempts), (NoticeStatus::Failed, 8));
    assert_eq!(f.last_error.as_deref(), Some("550 no such user"));
    let audit = store
        .query(AuditQuery {
            user_id: Some(user.id),
            kind: None,
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    assert!(audit.iter().any(|e| e.event == event), "the failure is audited");

    // Only the retried one comes back, and only when due (the claims were released).
    assert!(store.claim_due(at(39), at(99), 10).await.expect("claim").is_empty());
    let due = store.claim_due(at(40), at(99), 10).await.expect("claim");
    assert_eq!(due.iter().map(|m| m.notice.id).collect::<Vec<_>>(), vec![retried.id]);
}

/// The admin listing: newest first, filtered by status, paged.
pub async fn notices_are_listed_newest_first_by_status<S: Storage>(store: Arc<S>) {
    let old = a_notice(None, NoticeKind::MfaEnabled, 1);
    let new = a_notice(None, NoticeKind::MfaDisabled, 2);
    store.enqueue(old.clone()).await.expect("enqueue");
    store.enqueue(new.clone()).await.expect("enqueue");
    store.claim_due(at(5), at(65), 1).await.expect("claim");
    store.mark_sent(old.id, 1, at(6)).await.expect("sent");
    let list = |status, limit, offset| {
        let store = store.clone();
        async move {
            let query = OutboxQuery { status, limit, offset };
            let page = store.list_notices(query).await.expect("list");
            page.into_iter().map(|m| m.notice.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(list(None, 10, 0).await, vec![new.id, old.id]);
    assert_eq!(list(Some(NoticeStatus::Sent), 10, 0).await, vec![old.id]);
    assert_eq!(list(Some(NoticeStatus::Pending), 10, 0).await, vec![new.id]);
    assert_eq!(list(None, 1, 1).await, vec![old.id]);
}

/// A password change stores the hash, its event, its notice and ends the other sessions in
/// one operation; for an unknown user nothing is stored.
pub async fn a_password_change_commits_its_effects_with_the_hash<S: Storage>(store: Arc<S>) {
    let user = a_user(&*store, "pw-change@example.com").await;
    for id in ["pw-keep", "pw-other"] {
        let session = SessionRecord {
            id_hash: hex(id),
            user_id: user.id,
            kind: SessionKind::Full,
            created_at: at(0),
            last_seen_at: at(0),
            expires_at: at(600),
            failed_attempts: 0,
            client_addr: None,
            user_agent: None,
        };
        crate::ports::SessionRepository::create(&*store, session).await.expect("session");
    }
    let hash = PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$bmV3");
    let mut effects =
        ChangeEffects::audited(an_event(user.id, AuditEventKind::PasswordChanged, 20))
            .with_notice(a_notice(Some(user.id), NoticeKind::PasswordChanged, 20));
    effects.end_sessions = Some(EndSessions { keep: Some(hex("pw-keep")) });
    assert!(store.change_password(user.id, hash.clone(), &effects).await.expect("change"));
    let reloaded = store.find_by_id(user.id).await.expect("find").expect("exists");
    assert_eq!(reloaded.login, LoginMethod::Local(hash.clone()));
    assert!(store.find(&hex("pw-keep")).await.expect("find").is_some(), "the caller's stays");
    assert!(store.find(&hex("pw-other")).await.expect("find").is_none(), "others end");
    let notice = effects.notice.as_ref().expect("a notice");
    assert_eq!(notices_with(&*store, notice).await, 1);

    let ghost = UserId::generate();
    let effects = ChangeEffects::audited(an_event(ghost, AuditEventKind::PasswordChanged, 21))
        .with_notice(a_notice(Some(ghost), NoticeKind::PasswordChanged, 21));
    assert!(!store.change_password(ghost, hash, &effects).await.expect("change"));
    assert_eq!(notices_with(&*store, effects.notice.as_ref().expect("a notice")).await, 0);
    let events = store
        .query(AuditQuery { user_id: Some(ghost), kind: None, limit: 10, ..AuditQuery::default() })
        .await
        .expect("audit");
    assert!(events.is_empty(), "no event for a change that did not happen");
}

/// A backup code spent at login stores its notice with the sign-in; a code that cannot be
/// spent stores none.
pub async fn a_backup_code_spent_at_login_stores_its_notice_only_when_spent<S: Storage>(
    store: Arc<S>,
) {
    let user = a_user(&*store, "spent@example.com").await;
    let pending = EncryptedSecret::new("k1:spent".to_owned());
    assert!(store.begin_enrollment(user.id, pending.clone()).await.expect("begin"));
    let codes = vec![hex("spent-a"), hex("spent-b")];
    let confirm =
        ChangeEffects::audited(an_event(user.id, AuditEventKind::MfaEnrollConfirmSuccess, 1));
    let step = TotpStep::new(100);
    let confirmed = store.confirm_enrollment(user.id, &pending, step, codes, at(1), &confirm);
    assert!(confirmed.await.expect("confirm"));
    let proof = MfaProof::BackupCode(hex("spent-a"));
    for (label, secs) in [("pending-1", 5), ("pending-2", 6)] {
        let state = SessionRecord {
            id_hash: hex(label),
            user_id: user.id,
            kind: SessionKind::PendingMfa,
            created_at: at(0),
            last_seen_at: at(0),
            expires_at: at(300),
            failed_attempts: 0,
            client_addr: None,
            user_agent: None,
        };
        crate::ports::SessionRepository::create(&*store, state).await.expect("pending");
        let notice = a_notice(Some(user.id), NoticeKind::BackupCodeUsed, secs);
        let effects =
            ChangeEffects::audited(an_event(user.id, AuditEventKind::MfaVerifySuccess, secs))
                .with_notice(notice.clone());
        let state = hex(label);
        let outcome = store.sign_in_with_proof(user.id, &state, &proof, at(secs), &effects);
        let outcome = outcome.await.expect("sign in");
        let expected = if secs == 5 { ProofSignIn::SignedIn } else { ProofSignIn::ProofRefused };
        assert_eq!(outcome, expected, "{label}");
        let stored = usize::from(secs == 5);
        assert_eq!(notices_with(&*store, &notice).await, stored, "{label}: notice only if spent");
    }
}

/// A new API token and its notice are stored together.
pub async fn a_token_and_its_notice_are_stored_together<S: Storage>(store: Arc<S>) {
    let user = a_user(&*store, "token-notice@example.com").await;
    let token = ApiTokenRecord {
        id: ApiTokenId::generate(),
        user_id: user.id,
        name: "laptop".to_owned(),
        token_hash: hex("token-notice"),
        created_at: at(3),
        last_used_at: None,
    };
    let notice = a_notice(Some(user.id), NoticeKind::ApiTokenCreated, 3);
    store.create_with_notice(token.clone(), &notice).await.expect("create");
    assert_eq!(store.find_active(&token.token_hash).await.expect("find"), Some(token));
    assert_eq!(notices_with(&*store, &notice).await, 1);
}

/// A user's sessions are listed oldest first with the client that started them.
pub async fn sessions_of_a_user_keep_their_client<S: Storage>(store: Arc<S>) {
    let user = a_user(&*store, "clients@example.com").await;
    for (id, created, addr) in [("cl-new", 5, "192.0.2.2"), ("cl-old", 1, "192.0.2.1")] {
        let session = SessionRecord {
            id_hash: hex(id),
            user_id: user.id,
            kind: SessionKind::Full,
            created_at: at(created),
            last_seen_at: at(created),
            expires_at: at(600),
            failed_attempts: 0,
            client_addr: Some(addr.to_owned()),
            user_agent: Some(format!("agent {id}")),
        };
        crate::ports::SessionRepository::create(&*store, session).await.expect("session");
    }
    let listed = store.sessions_of(user.id).await.expect("list");
    let seen: Vec<_> = listed
        .iter()
        .map(|s| (s.id_hash.clone(), s.client_addr.clone(), s.user_agent.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (hex("cl-old"), Some("192.0.2.1".to_owned()), Some("agent cl-old".to_owned())),
            (hex("cl-new"), Some("192.0.2.2".to_owned()), Some("agent cl-new".to_owned())),
        ]
    );
}

/// A purge deletes sent notices by when they were sent and failed ones by their last
/// attempt, at most `limit` per call, and never a pending notice, however old.
pub async fn purges_delete_finished_notices_in_batches_and_never_pending_ones<S: Storage>(
    store: Arc<S>,
) {
    let user = a_user(&*store, "purge@example.com").await;
    let sent_old: Vec<Notice> =
        (1..=3).map(|s| a_notice(Some(user.id), NoticeKind::MfaEnabled, s)).collect();
    let sent_new = a_notice(Some(user.id), NoticeKind::MfaEnabled, 4);
    let failed_old = a_notice(Some(user.id), NoticeKind::PasswordChanged, 5);
    let failed_new = a_notice(Some(user.id), NoticeKind::PasswordChanged, 6);
    let retried = a_notice(Some(user.id), NoticeKind::MfaDisabled, 7);
    for n in sent_old.iter().chain([&sent_new, &failed_old, &failed_new, &retried]) {
        store.enqueue(n.clone()).await.expect("enqueue");
    }
    assert_eq!(store.claim_due(at(10), at(70), 100).await.expect("claim").len(), 7);
    for (n, s) in sent_old.iter().zip(11..) {
        store.mark_sent(n.id, 1, at(s)).await.expect("sent");
    }
    store.mark_sent(sent_new.id, 1, at(500)).await.expect("sent");
    let event = |s| an_event(user.id, AuditEventKind::NoticeDeliveryFailed, s);
    store.mark_failed(failed_old.id, 1, "550 no", event(20)).await.expect("failed");
    store.retry_later(failed_new.id, 1, at(600), "421 later").await.expect("retry");
    store.retry_later(retried.id, 1, at(900), "421 later").await.expect("retry");
    let again = store.claim_due(at(600), at(660), 100).await.expect("claim");
    assert_eq!(again.iter().map(|m| m.notice.id).collect::<Vec<_>>(), vec![failed_new.id]);
    store.mark_failed(failed_new.id, 2, "550 no", event(601)).await.expect("failed");
    // Pending since long before every cut-off below, never claimed.
    let pending = a_notice(Some(user.id), NoticeKind::ApiTokenCreated, 0);
    store.enqueue(pending.clone()).await.expect("enqueue");

    let sent = |secs| NoticePurge::Sent { before: at(secs) };
    let failed = |secs| NoticePurge::Failed { before: at(secs) };
    assert_eq!(store.purge_notices(sent(100), 2).await.expect("purge"), 2, "one batch");
    assert_eq!(store.purge_notices(sent(100), 2).await.expect("purge"), 1, "the rest");
    assert_eq!(store.purge_notices(sent(100), 2).await.expect("purge"), 0, "none left");
    assert_eq!(store.purge_notices(failed(100), 10).await.expect("purge"), 1, "failed_old");
    assert_eq!(store.purge_notices(failed(600), 10).await.expect("purge"), 0, "not before");
    let stored = |status| {
        let store = store.clone();
        async move {
            let query = OutboxQuery { status, limit: 100, offset: 0 };
            let mut ids: Vec<NoticeId> = store
                .list_notices(query)
                .await
                .expect("list")
                .into_iter()
                .map(|m| m.notice.id)
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(stored(Some(NoticeStatus::Sent)).await, vec![sent_new.id]);
    assert_eq!(stored(Some(NoticeStatus::Failed)).await, vec![failed_new.id]);

    let far = 10_000_000;
    assert_eq!(store.purge_notices(sent(far), 10).await.expect("purge"), 1, "sent_new");
    assert_eq!(store.purge_notices(failed(far), 10).await.expect("purge"), 1, "failed_new");
    let mut left = vec![pending.id, retried.id];
    left.sort();
    assert_eq!(stored(None).await, left, "pending notices are never purged");
    assert_eq!(stored(Some(NoticeStatus::Pending)).await, left);
}
