//! The contract of MFA with passkeys alone: the first passkey of an account without MFA
//! turns MFA on with its backup codes (once, under concurrency), a TOTP enrollment in
//! progress is kept apart from the confirmed secret (so it can begin beside passkeys without
//! turning MFA off), and the last second factor is never removed with a passkey.

use std::sync::Arc;

use slugbase_domain::{AuditEventKind, MfaState, NoticeKind, TotpStep, UserId};

use crate::ports::{
    AuditEvent, CancelOutcome, ChangeEffects, MfaProof, MfaTurnOn, PasskeyRemoval, Storage,
    StoreError,
};

use super::outbox::notices_with;
use super::passkeys::{effects, listed, passkey, stored_events};
use super::{audited, codes, concurrently, count_true, enable, event, reload, secret, t, user};

/// What turning MFA on with a first passkey commits: ten codes `"<prefix>0"..`, its event
/// and its notice.
fn turn_on(user: UserId, prefix: &str, at: i64) -> MfaTurnOn {
    let audit = AuditEvent {
        detail: Some(format!("turn-on={prefix}")),
        ..event(at, Some(user), AuditEventKind::MfaEnrollConfirmSuccess)
    };
    let mut notice = super::passkeys::effects(user, AuditEventKind::PasskeyAdded, prefix)
        .notice
        .expect("notice");
    notice.kind = NoticeKind::MfaEnabled;
    MfaTurnOn {
        backup_codes: codes(prefix, 10),
        at: t(at),
        effects: ChangeEffects::audited(audit).with_notice(notice),
    }
}

/// MFA on with passkeys alone since `at`, with `pending` as the TOTP enrollment in progress.
fn passkeys_alone(at: i64, pending: Option<&str>) -> MfaState {
    MfaState::Enabled {
        secret: None,
        enrolled_at: t(at),
        last_totp_step: None,
        pending: pending.map(secret),
    }
}

/// The first passkey of an account with MFA off turns MFA on, with exactly its codes, its
/// event and notice beside the passkey's own, and keeps a TOTP enrollment in progress
/// pending; a second one finds MFA on and stores only itself and its own effects; a taken
/// credential id stores nothing at all (MFA stays off).
pub async fn a_first_passkey_turns_mfa_on_with_its_codes_and_later_ones_store_only_themselves<
    S: Storage,
>(
    store: Arc<S>,
) {
    let u = user(&*store, "first-pk@example.com").await;
    let other = user(&*store, "first-pk-other@example.com").await;
    assert!(store.begin_enrollment(u.id, secret("p")).await.expect("begin"));

    let first = passkey(u.id, "f1", 10);
    let added = effects(u.id, AuditEventKind::PasskeyAdded, "f1");
    let on = turn_on(u.id, "f", 10);
    assert!(store.create_first_passkey(first.clone(), &added, &on).await.expect("create"));
    assert_eq!(reload(&*store, u.id).await.mfa, passkeys_alone(10, Some("p")));
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    let code = MfaProof::BackupCode(on.backup_codes[3].clone());
    assert!(store.spend_proof(u.id, &code, t(11)).await.expect("spend"), "its codes work");
    assert_eq!(stored_events(&*store, &added.audit).await, 1);
    assert_eq!(stored_events(&*store, &on.effects.audit).await, 1);
    assert_eq!(notices_with(&*store, added.notice.as_ref().expect("notice")).await, 1);
    assert_eq!(notices_with(&*store, on.effects.notice.as_ref().expect("notice")).await, 1);

    let second = passkey(u.id, "f2", 20);
    let added2 = effects(u.id, AuditEventKind::PasskeyAdded, "f2");
    let on2 = turn_on(u.id, "g", 20);
    assert!(!store.create_first_passkey(second.clone(), &added2, &on2).await.expect("create"));
    assert_eq!(reload(&*store, u.id).await.mfa, passkeys_alone(10, Some("p")), "unchanged");
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 9, "the first codes");
    let new_code = MfaProof::BackupCode(on2.backup_codes[0].clone());
    assert!(!store.spend_proof(u.id, &new_code, t(21)).await.expect("spend"), "not stored");
    assert_eq!(listed(&*store, u.id).await, [first.clone(), second]);
    assert_eq!(stored_events(&*store, &added2.audit).await, 1, "its own event");
    assert_eq!(stored_events(&*store, &on2.effects.audit).await, 0, "no second turn-on");

    let mut stolen = passkey(other.id, "x", 30);
    stolen.credential_id = first.credential_id.clone();
    let refused = effects(other.id, AuditEventKind::PasskeyAdded, "x");
    let on3 = turn_on(other.id, "h", 30);
    let conflict = store.create_first_passkey(stolen, &refused, &on3).await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict("passkeys.credential_id"))),
        "{conflict:?}"
    );
    assert_eq!(reload(&*store, other.id).await.mfa, MfaState::Disabled, "MFA stays off");
    assert_eq!(store.backup_codes_remaining(other.id).await.expect("codes"), 0);
    assert_eq!(stored_events(&*store, &on3.effects.audit).await, 0);
    assert!(listed(&*store, other.id).await.is_empty());
}

/// Of ten first passkeys registered at once on an account with MFA off, every one is stored
/// and exactly one turns MFA on: ten codes, one event.
pub async fn concurrent_first_passkeys_turn_mfa_on_exactly_once<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "race-pk@example.com").await;
    let results = concurrently(10, |i| {
        let store = Arc::clone(&store);
        async move {
            let key = passkey(u.id, &format!("r{i}"), 10);
            let added = effects(u.id, AuditEventKind::PasskeyAdded, &format!("r{i}"));
            let on = turn_on(u.id, &format!("r{i}-"), 10);
            store.create_first_passkey(key, &added, &on).await.expect("create")
        }
    })
    .await;
    assert_eq!(count_true(&results), 1, "{results:?}");
    assert_eq!(listed(&*store, u.id).await.len(), 10);
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    assert!(reload(&*store, u.id).await.mfa.is_enabled());
}

/// Beside passkeys alone, a TOTP enrollment begins, is cancelled and is confirmed without
/// MFA ever going off: confirm makes it the secret (the enrollment time stays the first
/// passkey's) and stores the codes; a TOTP step proves nothing before; and once TOTP is
/// confirmed, begin is refused. Disable clears a pending enrollment too.
pub async fn a_totp_enrollment_beside_passkeys_keeps_mfa_on_until_confirmed<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "beside@example.com").await;
    let key = passkey(u.id, "b", 10);
    let on = turn_on(u.id, "b", 10);
    let added = effects(u.id, AuditEventKind::PasskeyAdded, "b");
    assert!(store.create_first_passkey(key, &added, &on).await.expect("create"));
    let step = MfaProof::TotpStep(TotpStep::new(500));
    assert!(!store.spend_proof(u.id, &step, t(11)).await.expect("spend"), "no TOTP yet");

    assert!(store.begin_enrollment(u.id, secret("a")).await.expect("begin"));
    assert_eq!(reload(&*store, u.id).await.mfa, passkeys_alone(10, Some("a")));
    assert_eq!(store.cancel_enrollment(u.id).await.expect("cancel"), CancelOutcome::Cancelled);
    assert_eq!(reload(&*store, u.id).await.mfa, passkeys_alone(10, None), "MFA stays on");
    assert!(!store.spend_proof(u.id, &step, t(12)).await.expect("spend"));
    assert!(store.begin_enrollment(u.id, secret("b")).await.expect("begin"));
    let stale = store
        .confirm_enrollment(
            u.id,
            &secret("a"),
            TotpStep::new(7),
            codes("s", 10),
            t(20),
            &audited(u.id),
        )
        .await
        .expect("confirm");
    assert!(!stale, "a replaced enrollment confirms nothing");
    let confirmed = store
        .confirm_enrollment(
            u.id,
            &secret("b"),
            TotpStep::new(7),
            codes("c", 10),
            t(20),
            &audited(u.id),
        )
        .await
        .expect("confirm");
    assert!(confirmed);
    assert_eq!(
        reload(&*store, u.id).await.mfa,
        MfaState::Enabled {
            secret: Some(secret("b")),
            enrolled_at: t(10),
            last_totp_step: Some(TotpStep::new(7)),
            pending: None,
        }
    );
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    assert!(
        store.spend_proof(u.id, &MfaProof::TotpStep(TotpStep::new(8)), t(21)).await.expect("spend")
    );
    assert!(!store.begin_enrollment(u.id, secret("c")).await.expect("begin"));
    assert_eq!(store.cancel_enrollment(u.id).await.expect("cancel"), CancelOutcome::AlreadyEnabled);

    // A pending enrollment beside passkeys goes with MFA off.
    let v = user(&*store, "beside-off@example.com").await;
    let on = turn_on(v.id, "v", 10);
    let added = effects(v.id, AuditEventKind::PasskeyAdded, "v");
    assert!(store.create_first_passkey(passkey(v.id, "v", 10), &added, &on).await.expect("create"));
    assert!(store.begin_enrollment(v.id, secret("v")).await.expect("begin"));
    let code = MfaProof::BackupCode(on.backup_codes[0].clone());
    assert!(store.disable_with_proof(v.id, &code, t(30), &audited(v.id)).await.expect("disable"));
    assert_eq!(reload(&*store, v.id).await.mfa, MfaState::Disabled);
    assert!(listed(&*store, v.id).await.is_empty());
}

/// The last second factor stays: with passkeys alone, the last passkey is refused (nothing
/// spent, no effect) while another may go; of two concurrent removals of the last two,
/// exactly one succeeds. With TOTP, the only passkey may go.
pub async fn the_last_second_factor_is_never_removed_with_a_passkey<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "last@example.com").await;
    let on = turn_on(u.id, "l", 10);
    let one = passkey(u.id, "l1", 10);
    let two = passkey(u.id, "l2", 11);
    let added = effects(u.id, AuditEventKind::PasskeyAdded, "l1");
    assert!(store.create_first_passkey(one.clone(), &added, &on).await.expect("create"));
    let added = effects(u.id, AuditEventKind::PasskeyAdded, "l2");
    assert!(!store.create_first_passkey(two.clone(), &added, &on).await.expect("create"));
    let removed = effects(u.id, AuditEventKind::PasskeyRemoved, "l");
    let code = |i: usize| MfaProof::BackupCode(on.backup_codes[i].clone());

    let done = store.remove_passkey(u.id, one.id, &code(0), t(20), &removed).await.expect("rm");
    assert_eq!(done, PasskeyRemoval::Removed);
    let last = store.remove_passkey(u.id, two.id, &code(1), t(21), &removed).await.expect("rm");
    assert_eq!(last, PasskeyRemoval::LastFactor);
    assert_eq!(listed(&*store, u.id).await, std::slice::from_ref(&two));
    assert_eq!(stored_events(&*store, &removed.audit).await, 1, "the first removal's only");
    assert!(store.spend_proof(u.id, &code(1), t(22)).await.expect("spend"), "not spent");

    // Two left, both removed at once: one goes, the last stays.
    let three = passkey(u.id, "l3", 12);
    let added = effects(u.id, AuditEventKind::PasskeyAdded, "l3");
    store.create_passkey(three.clone(), &added).await.expect("create");
    let ids = [two.id, three.id];
    let outcomes = concurrently(2, |i| {
        let store = Arc::clone(&store);
        let proof = code(2 + i);
        let removed = effects(u.id, AuditEventKind::PasskeyRemoved, &format!("race{i}"));
        async move { store.remove_passkey(u.id, ids[i], &proof, t(30), &removed).await.expect("rm") }
    })
    .await;
    let gone = outcomes.iter().filter(|o| **o == PasskeyRemoval::Removed).count();
    let kept = outcomes.iter().filter(|o| **o == PasskeyRemoval::LastFactor).count();
    assert_eq!((gone, kept), (1, 1), "{outcomes:?}");
    assert_eq!(listed(&*store, u.id).await.len(), 1);

    // With TOTP on, the only passkey is not the last factor.
    let w = user(&*store, "last-totp@example.com").await;
    let w_codes = enable(&*store, w.id, "w").await;
    let only = passkey(w.id, "w1", 10);
    store
        .create_passkey(only.clone(), &effects(w.id, AuditEventKind::PasskeyAdded, "w1"))
        .await
        .expect("create");
    let proof = MfaProof::BackupCode(w_codes[0].clone());
    let removed = effects(w.id, AuditEventKind::PasskeyRemoved, "w1");
    let done = store.remove_passkey(w.id, only.id, &proof, t(40), &removed).await.expect("rm");
    assert_eq!(done, PasskeyRemoval::Removed);
}
