//! What an MFA change commits with it ([`ChangeEffects`](crate::ports::ChangeEffects)):
//! the audit event, the sessions ended and the attempts given back, in the change's
//! transaction, and none of them when the storage refuses the change.

use std::sync::Arc;

use slugbase_domain::{
    AttemptCounter, AuditEventKind, AuditOutcome, MfaState, ProofKind, Release, TotpStep, UserId,
};

use crate::collaborators::attempt_limiter::{AttemptAccount, AttemptKey, AttemptKind};
use crate::ports::{
    AttemptRelease, AuditEvent, AuditQuery, ChangeEffects, EndSessions, MfaProof, ProofSignIn,
    SessionKind, SessionRecord, SessionRepository, Storage,
};

use super::outbox::{notices_with, stage_notice};
use super::{
    POLICY, audited, codes, concurrently, digest, enable, granted, reload, secret, session, t, user,
};

/// The stage of an MFA change with effects: the user has three sessions (`<p>keep`,
/// `<p>other1`, `<p>other2`), a bystander has one (`<p>bystander`), and one attempt is
/// reserved on the user's account and on an address.
struct Stage {
    user: UserId,
    account: String,
    address: String,
}

impl Stage {
    async fn new<S: Storage>(store: &S, p: &str) -> Self {
        let u = user(store, &format!("{p}@example.com")).await;
        let bystander = user(store, &format!("{p}-bystander@example.com")).await;
        for (id, owner) in [("keep", u.id), ("other1", u.id), ("other2", u.id)]
            .into_iter()
            .chain([("bystander", bystander.id)])
        {
            let record = session(&format!("{p}{id}"), owner, 600);
            SessionRepository::create(store, record).await.expect("create session");
        }
        let account = AttemptKey::account(AttemptKind::SecondFactor, &AttemptAccount::User(u.id));
        let octet = p.bytes().map(u32::from).sum::<u32>() % 250;
        let address = AttemptKey::address(&format!("192.0.2.{octet}"));
        let stage = Self { user: u.id, account, address };
        stage.reserve(store, 5).await;
        stage
    }

    async fn reserve<S: Storage>(&self, store: &S, at: i64) {
        for key in [&self.account, &self.address] {
            granted(store.reserve(key, &POLICY, t(at)).await.expect("reserve"));
        }
    }

    /// What a successful change commits: `kind` audited at `at`, the attempts reserved at
    /// [`Self::new`] given back, and the sessions `keep` says ended.
    fn effects(&self, kind: AuditEventKind, at: i64, keep: Option<&str>) -> ChangeEffects {
        let release =
            |key: &String, outcome| AttemptRelease { key: key.clone(), reserved_in: t(5), outcome };
        ChangeEffects {
            audit: AuditEvent {
                at: t(at),
                user_id: Some(self.user),
                actor_id: None,
                kind,
                outcome: AuditOutcome::Success,
                proof: Some(ProofKind::BackupCode),
                detail: None,
                client_addr: Some("192.0.2.9".to_owned()),
                user_agent: Some("contract".to_owned()),
            },
            also_audit: Vec::new(),
            start_session: None,
            end_sessions: keep.map(|k| EndSessions { keep: Some(digest(k)) }),
            releases: vec![
                release(&self.account, Release::Succeeded),
                release(&self.address, Release::NotAGuess),
            ],
            cleared_attempts: Vec::new(),
            notice: Some(stage_notice(self.user, kind, at)),
        }
    }

    /// How many stored events equal `event`.
    async fn stored<S: Storage>(&self, store: &S, event: &AuditEvent) -> usize {
        let query = AuditQuery {
            user_id: Some(self.user),
            kind: None,
            limit: 100,
            ..AuditQuery::default()
        };
        let events = store.query(query).await.expect("query");
        events.iter().filter(|e| e.event == *event).count()
    }

    async fn alive<S: Storage>(store: &S, id: &str) -> bool {
        store.find(&digest(id)).await.expect("find").is_some()
    }

    /// `effects` were committed: the event once, only `<p>keep` (and the bystander) left
    /// when sessions end, the reserved attempts given back and the account's run ended.
    async fn assert_applied<S: Storage>(&self, store: &S, p: &str, effects: &ChangeEffects) {
        assert_eq!(self.stored(store, &effects.audit).await, 1, "the event is stored once");
        if let Some(notice) = &effects.notice {
            assert_eq!(notices_with(store, notice).await, 1, "the notice is stored once");
        }
        let others_end = effects.end_sessions.is_some();
        assert!(Self::alive(store, &format!("{p}keep")).await, "the kept session stays");
        for other in ["other1", "other2"] {
            let alive = Self::alive(store, &format!("{p}{other}")).await;
            assert_eq!(alive, !others_end, "{other}: ended exactly when asked");
        }
        assert!(Self::alive(store, &format!("{p}bystander")).await, "another user's stays");
        let account = store.get(&self.account).await.expect("get");
        let released = AttemptCounter { window_start: t(5), failures: 0, consecutive: 0 };
        assert_eq!(account, Some(released), "the attempt is given back, the run ended");
        let address = store.get(&self.address).await.expect("get").expect("address counter");
        assert_eq!((address.failures, address.consecutive), (0, 0), "the address's place too");
    }

    /// None of `effects` happened: no event, every session alive, both attempts counted.
    async fn assert_untouched<S: Storage>(&self, store: &S, p: &str, effects: &ChangeEffects) {
        assert_eq!(self.stored(store, &effects.audit).await, 0, "no event");
        if let Some(notice) = &effects.notice {
            assert_eq!(notices_with(store, notice).await, 0, "no notice");
        }
        for id in ["keep", "other1", "other2", "bystander"] {
            assert!(Self::alive(store, &format!("{p}{id}")).await, "{id} still alive");
        }
        for key in [&self.account, &self.address] {
            let counter = store.get(key).await.expect("get").expect("counter");
            assert_eq!((counter.failures, counter.consecutive), (1, 1), "{key} still counted");
        }
    }
}

/// A pending-MFA state `id` of `user`.
fn pending_session(id: &str, user: UserId) -> SessionRecord {
    SessionRecord { kind: SessionKind::PendingMfa, ..session(id, user, 600) }
}

impl Stage {
    /// What a sign-in commits: [`Self::effects`] for the verify event, the login event
    /// after it and the new session `new`.
    fn sign_in_effects(&self, new: &str, user: UserId) -> ChangeEffects {
        let mut effects = self.effects(AuditEventKind::MfaVerifySuccess, 30, None);
        let login = AuditEvent { kind: AuditEventKind::LoginSuccess, ..effects.audit.clone() };
        effects.also_audit.push(login);
        effects.start_session = Some(session(new, user, 900));
        effects
    }
}

/// A sign-in with a second factor: the pending state ends, the proof is spent, the new
/// session is stored, both events once and the reserved attempts given back — together.
/// By TOTP and by backup code.
pub async fn a_sign_in_with_a_proof_commits_the_session_and_both_events_with_the_spend<
    S: Storage,
>(
    store: Arc<S>,
) {
    for (p, by_code) in [("sia", false), ("sib", true)] {
        let stage = Stage::new(&*store, p).await;
        let codes = enable(&*store, stage.user, p).await;
        let pending = format!("{p}pending");
        SessionRepository::create(&*store, pending_session(&pending, stage.user))
            .await
            .expect("create pending");
        let proof = if by_code {
            MfaProof::BackupCode(codes[3].clone())
        } else {
            MfaProof::TotpStep(TotpStep::new(101))
        };
        let new = format!("{p}new");
        let effects = stage.sign_in_effects(&new, stage.user);
        let outcome = store
            .sign_in_with_proof(stage.user, &digest(&pending), &proof, t(30), &effects)
            .await
            .expect("sign in");
        assert_eq!(outcome, ProofSignIn::SignedIn);
        assert!(!Stage::alive(&*store, &pending).await, "the pending state ended");
        let started = store.find(&digest(&new)).await.expect("find").expect("new session");
        assert_eq!((started.user_id, started.kind), (stage.user, SessionKind::Full));
        stage.assert_applied(&*store, p, &effects).await;
        assert_eq!(stage.stored(&*store, &effects.also_audit[0]).await, 1, "login event once");
        assert!(!store.spend_proof(stage.user, &proof, t(31)).await.expect("spend"), "spent");
        assert!(reload(&*store, stage.user).await.mfa.is_enabled(), "MFA stays on");
    }
}

/// A sign-in whose proof cannot be spent changes nothing (the pending state stays, no
/// session, no event, the attempts stay counted); one whose pending state is gone — or is
/// another user's — spends nothing.
pub async fn a_refused_sign_in_changes_nothing_and_a_gone_pending_state_spends_nothing<
    S: Storage,
>(
    store: Arc<S>,
) {
    let p = "sir";
    let stage = Stage::new(&*store, p).await;
    let codes = enable(&*store, stage.user, p).await;
    let pending = format!("{p}pending");
    SessionRepository::create(&*store, pending_session(&pending, stage.user))
        .await
        .expect("create pending");
    let spent = MfaProof::BackupCode(codes[0].clone());
    assert!(store.spend_proof(stage.user, &spent, t(20)).await.expect("spend"));
    let new = format!("{p}new");
    let effects = stage.sign_in_effects(&new, stage.user);
    let pending_digest = digest(&pending);
    for proof in [spent, MfaProof::TotpStep(TotpStep::new(100))] {
        let outcome = store
            .sign_in_with_proof(stage.user, &pending_digest, &proof, t(30), &effects)
            .await
            .expect("sign in");
        assert_eq!(outcome, ProofSignIn::ProofRefused);
    }
    assert!(Stage::alive(&*store, &pending).await, "the pending state stays");
    assert!(!Stage::alive(&*store, &new).await, "no session started");
    stage.assert_untouched(&*store, p, &effects).await;
    assert_eq!(stage.stored(&*store, &effects.also_audit[0]).await, 0, "no login event");

    // Another user's pending state does not sign this user in, and spends nothing.
    let other = user(&*store, "sir-other@example.com").await;
    let theirs = format!("{p}theirs");
    SessionRepository::create(&*store, pending_session(&theirs, other.id))
        .await
        .expect("create pending");
    let fresh = MfaProof::BackupCode(codes[1].clone());
    let outcome = store
        .sign_in_with_proof(stage.user, &digest(&theirs), &fresh, t(30), &effects)
        .await
        .expect("sign in");
    assert_eq!(outcome, ProofSignIn::PendingGone);
    assert!(Stage::alive(&*store, &theirs).await, "their pending state stays");
    // A full session is no pending state either; a deleted pending state is gone.
    let full = format!("{p}keep");
    let outcome = store
        .sign_in_with_proof(stage.user, &digest(&full), &fresh, t(30), &effects)
        .await
        .expect("sign in");
    assert_eq!(outcome, ProofSignIn::PendingGone);
    assert!(SessionRepository::delete(&*store, &pending_digest).await.expect("delete"));
    let outcome = store
        .sign_in_with_proof(stage.user, &pending_digest, &fresh, t(30), &effects)
        .await
        .expect("sign in");
    assert_eq!(outcome, ProofSignIn::PendingGone);
    assert!(!Stage::alive(&*store, &new).await, "no session started");
    stage.assert_untouched(&*store, p, &effects).await;
    assert!(store.spend_proof(stage.user, &fresh, t(31)).await.expect("spend"), "unspent");
}

/// Twenty sign-ins with one pending state at once, each with its own valid backup code:
/// exactly one signs in; the others spend nothing and start no session.
pub async fn concurrent_sign_ins_with_one_pending_state_succeed_exactly_once<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "sic@example.com").await;
    let codes = enable(&*store, u.id, "sic").await;
    SessionRepository::create(&*store, pending_session("sicpending", u.id))
        .await
        .expect("create pending");
    let outcomes = concurrently(10, |i| {
        let store = Arc::clone(&store);
        let code = codes[i].clone();
        async move {
            let mut effects = audited(u.id);
            effects.start_session = Some(session(&format!("sicnew{i}"), u.id, 900));
            let proof = MfaProof::BackupCode(code);
            store
                .sign_in_with_proof(u.id, &digest("sicpending"), &proof, t(30), &effects)
                .await
                .expect("sign in")
        }
    })
    .await;
    let winners: Vec<usize> = (0..10).filter(|&i| outcomes[i] == ProofSignIn::SignedIn).collect();
    assert_eq!(winners.len(), 1, "exactly one sign-in: {outcomes:?}");
    assert!(outcomes.iter().all(|o| *o != ProofSignIn::ProofRefused), "{outcomes:?}");
    for (i, code) in codes.iter().enumerate().take(10) {
        let alive = store.find(&digest(&format!("sicnew{i}"))).await.expect("find").is_some();
        assert_eq!(alive, winners == [i], "session {i} exists only for the winner");
        let proof = MfaProof::BackupCode(code.clone());
        let unspent = store.spend_proof(u.id, &proof, t(31)).await.expect("spend");
        assert_eq!(unspent, winners != [i], "code {i} spent only by the winner");
    }
}

/// A disable with effects: with the proof spent and MFA off, the event is stored, every
/// other session of the user ended (the kept one and other users' stay), and the reserved
/// attempts given back — all in the disable's transaction. By TOTP and by backup code.
pub async fn a_disable_commits_its_audit_event_session_ends_and_releases_with_it<S: Storage>(
    store: Arc<S>,
) {
    for (p, by_code) in [("fxa", false), ("fxb", true)] {
        let stage = Stage::new(&*store, p).await;
        let codes = enable(&*store, stage.user, p).await;
        let proof = if by_code {
            MfaProof::BackupCode(codes[4].clone())
        } else {
            MfaProof::TotpStep(TotpStep::new(101))
        };
        let keep = format!("{p}keep");
        let effects = stage.effects(AuditEventKind::MfaDisableSuccess, 30, Some(&keep));
        assert!(store.disable_with_proof(stage.user, &proof, t(30), &effects).await.expect("ok"));
        assert_eq!(reload(&*store, stage.user).await.mfa, MfaState::Disabled);
        stage.assert_applied(&*store, p, &effects).await;
    }
}

/// A disable the storage refuses (spent backup code, replayed step, MFA already off)
/// applies none of its effects.
pub async fn a_refused_disable_applies_none_of_its_effects<S: Storage>(store: Arc<S>) {
    let p = "fxr";
    let stage = Stage::new(&*store, p).await;
    let codes = enable(&*store, stage.user, p).await;
    let spent = MfaProof::BackupCode(codes[0].clone());
    assert!(store.spend_proof(stage.user, &spent, t(20)).await.expect("spend"));
    let keep = format!("{p}keep");
    let effects = stage.effects(AuditEventKind::MfaDisableSuccess, 30, Some(&keep));
    for proof in [spent, MfaProof::TotpStep(TotpStep::new(100))] {
        assert!(!store.disable_with_proof(stage.user, &proof, t(30), &effects).await.expect("ok"));
    }
    assert!(reload(&*store, stage.user).await.mfa.is_enabled());
    stage.assert_untouched(&*store, p, &effects).await;
    // Once MFA is off, a disable with a fresh step is refused too, and adds nothing.
    let off = audited(stage.user);
    let fresh = MfaProof::TotpStep(TotpStep::new(200));
    assert!(store.disable_with_proof(stage.user, &fresh, t(31), &off).await.expect("ok"));
    let late = MfaProof::TotpStep(TotpStep::new(201));
    assert!(!store.disable_with_proof(stage.user, &late, t(32), &effects).await.expect("ok"));
    assert_eq!(stage.stored(&*store, &effects.audit).await, 0);
}

/// Confirm and regenerate commit their effects with the change, and none when refused (a
/// stale pending secret, a spent proof).
pub async fn confirm_and_regenerate_commit_their_effects_only_when_they_change_something<
    S: Storage,
>(
    store: Arc<S>,
) {
    let p = "fxc";
    let stage = Stage::new(&*store, p).await;
    let pending = secret(p);
    assert!(store.begin_enrollment(stage.user, pending.clone()).await.expect("begin"));
    let stale = stage.effects(AuditEventKind::MfaEnrollConfirmSuccess, 9, None);
    let refused = store
        .confirm_enrollment(
            stage.user,
            &secret("other"),
            TotpStep::new(1),
            codes(p, 10),
            t(9),
            &stale,
        )
        .await
        .expect("confirm");
    assert!(!refused);
    stage.assert_untouched(&*store, p, &stale).await;
    let confirm = stage.effects(AuditEventKind::MfaEnrollConfirmSuccess, 10, None);
    let confirmed = store
        .confirm_enrollment(stage.user, &pending, TotpStep::new(1), codes(p, 10), t(10), &confirm)
        .await
        .expect("confirm");
    assert!(confirmed);
    stage.assert_applied(&*store, p, &confirm).await;

    stage.reserve(&*store, 5).await;
    let regen = stage.effects(AuditEventKind::MfaBackupRegenerateSuccess, 11, None);
    let replay = MfaProof::TotpStep(TotpStep::new(1));
    let fresh = codes("fresh", 10);
    let refused = store
        .regenerate_with_proof(stage.user, &replay, fresh.clone(), t(11), &regen)
        .await
        .expect("regen");
    assert!(!refused);
    stage.assert_untouched(&*store, p, &regen).await;
    let proof = MfaProof::BackupCode(digest(&format!("{p}3")));
    assert!(
        store.regenerate_with_proof(stage.user, &proof, fresh, t(11), &regen).await.expect("ok")
    );
    stage.assert_applied(&*store, p, &regen).await;
}

/// Administrative reset: MFA off, the event stored, every session of the user ended (none
/// kept) and the counters named forgotten — also when MFA was already off.
pub async fn reset_commits_its_event_ends_every_session_and_forgets_the_counters<S: Storage>(
    store: Arc<S>,
) {
    for (p, on) in [("fxs", true), ("fxt", false)] {
        let stage = Stage::new(&*store, p).await;
        if on {
            enable(&*store, stage.user, p).await;
        }
        let mut effects = stage.effects(AuditEventKind::MfaResetByAdmin, 40, None);
        effects.end_sessions = Some(EndSessions { keep: None });
        effects.releases.clear();
        effects.cleared_attempts = vec![stage.account.clone()];
        assert_eq!(store.reset(stage.user, &effects).await.expect("reset"), on);
        assert_eq!(reload(&*store, stage.user).await.mfa, MfaState::Disabled);
        assert_eq!(stage.stored(&*store, &effects.audit).await, 1);
        for id in ["keep", "other1", "other2"] {
            assert!(!Stage::alive(&*store, &format!("{p}{id}")).await, "{id} ended");
        }
        assert!(Stage::alive(&*store, &format!("{p}bystander")).await);
        assert_eq!(store.get(&stage.account).await.expect("get"), None, "counter forgotten");
        assert!(store.get(&stage.address).await.expect("get").is_some(), "only those named");
    }
}
