//! The contract of the MFA operations of [`UserRepository`](crate::ports::UserRepository):
//! enrollment, spending a proof exactly once, disable, regenerate, reset.

use std::sync::Arc;

use slugbase_domain::{MfaState, TotpStep, UserId};

use crate::ports::{CancelOutcome, MfaProof, SecretDigest, Storage};

use super::{audited, codes, concurrently, count_true, digest, enable, reload, secret, t, user};

/// Enrollment: begin stores a pending secret, a second begin replaces it, cancel drops it
/// (idempotently); unknown users are refused.
pub async fn enrollment_begins_replaces_and_cancels_while_disabled<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "enroll@example.com").await;
    assert!(store.begin_enrollment(u.id, secret("a")).await.expect("begin"));
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("a") });
    assert!(store.begin_enrollment(u.id, secret("b")).await.expect("begin"));
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("b") });
    assert_eq!(store.cancel_enrollment(u.id).await.expect("cancel"), CancelOutcome::Cancelled);
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
    assert_eq!(store.cancel_enrollment(u.id).await.expect("cancel"), CancelOutcome::Cancelled);
    assert!(!store.begin_enrollment(UserId::generate(), secret("x")).await.expect("begin"));
}

/// Confirm turns MFA on with the enrollment time and the step, stores exactly the codes,
/// and from then on begin and cancel change nothing.
pub async fn confirm_enables_mfa_with_the_step_and_exactly_the_given_codes<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "confirm@example.com").await;
    let pending = secret("p");
    assert!(store.begin_enrollment(u.id, pending.clone()).await.expect("begin"));
    let confirmed = store
        .confirm_enrollment(
            u.id,
            &pending,
            TotpStep::new(77),
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
            secret: Some(pending.clone()),
            enrolled_at: t(20),
            last_totp_step: Some(TotpStep::new(77)),
            pending: None,
        }
    );
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    assert!(!store.begin_enrollment(u.id, secret("q")).await.expect("begin"));
    assert_eq!(store.cancel_enrollment(u.id).await.expect("cancel"), CancelOutcome::AlreadyEnabled);
    let again = store
        .confirm_enrollment(
            u.id,
            &pending,
            TotpStep::new(78),
            codes("d", 10),
            t(21),
            &audited(u.id),
        )
        .await
        .expect("confirm");
    assert!(!again, "an enabled account cannot be confirmed again");
    assert!(reload(&*store, u.id).await.mfa.is_enabled());
    let old = MfaProof::BackupCode(digest("c0"));
    assert!(store.spend_proof(u.id, &old, t(22)).await.expect("spend"), "codes unchanged");
}

/// Confirm with a secret that is no longer the pending one (or with none pending) does
/// nothing.
pub async fn confirm_with_a_stale_pending_secret_changes_nothing<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "stale@example.com").await;
    let nothing_pending = store
        .confirm_enrollment(
            u.id,
            &secret("a"),
            TotpStep::new(1),
            codes("x", 10),
            t(1),
            &audited(u.id),
        )
        .await
        .expect("confirm");
    assert!(!nothing_pending);
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
    assert!(store.begin_enrollment(u.id, secret("a")).await.expect("begin"));
    assert!(store.begin_enrollment(u.id, secret("b")).await.expect("begin"));
    let stale = store
        .confirm_enrollment(
            u.id,
            &secret("a"),
            TotpStep::new(1),
            codes("x", 10),
            t(1),
            &audited(u.id),
        )
        .await
        .expect("confirm");
    assert!(!stale);
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("b") });
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
}

/// Twenty concurrent confirms, each with its own ten codes: exactly one enables MFA, and
/// exactly its ten codes are stored.
pub async fn twenty_concurrent_confirms_enable_once_with_exactly_ten_codes<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "race@example.com").await;
    let pending = secret("race");
    assert!(store.begin_enrollment(u.id, pending.clone()).await.expect("begin"));
    let results = concurrently(20, |i| {
        let store = Arc::clone(&store);
        let pending = pending.clone();
        async move {
            store
                .confirm_enrollment(
                    u.id,
                    &pending,
                    TotpStep::new(100),
                    codes(&format!("r{i}-"), 10),
                    t(5),
                    &audited(u.id),
                )
                .await
                .expect("confirm")
        }
    })
    .await;
    assert_eq!(count_true(&results), 1, "exactly one confirm wins");
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    let winner = results.iter().position(|&won| won).expect("a winner");
    let loser = (winner + 1) % 20;
    let losing = MfaProof::BackupCode(digest(&format!("r{loser}-0")));
    assert!(!store.spend_proof(u.id, &losing, t(6)).await.expect("spend"), "loser's codes absent");
    for code in codes(&format!("r{winner}-"), 10) {
        let proof = MfaProof::BackupCode(code);
        assert!(store.spend_proof(u.id, &proof, t(6)).await.expect("spend"), "winner's codes");
    }
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
}

/// A TOTP step is spent only if newer than the last accepted one, and then becomes the last.
pub async fn a_totp_step_is_accepted_only_when_newer_than_the_last<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "totp@example.com").await;
    enable(&*store, u.id, "t").await;
    let spend = |step: u64| {
        let store = Arc::clone(&store);
        async move {
            store
                .spend_proof(u.id, &MfaProof::TotpStep(TotpStep::new(step)), t(30))
                .await
                .expect("spend")
        }
    };
    assert!(!spend(100).await, "the step used to confirm is spent");
    assert!(!spend(99).await, "older steps are replays");
    assert!(spend(101).await);
    assert!(!spend(101).await, "a step is accepted once");
    assert!(spend(105).await);
    assert!(!spend(103).await);
    let MfaState::Enabled { last_totp_step, .. } = reload(&*store, u.id).await.mfa else {
        panic!("MFA stays enabled");
    };
    assert_eq!(last_totp_step, Some(TotpStep::new(105)));
}

/// Fifty concurrent acceptances of one TOTP step: exactly one succeeds.
pub async fn concurrent_acceptances_of_one_totp_step_succeed_exactly_once<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "totp-race@example.com").await;
    enable(&*store, u.id, "t").await;
    let results = concurrently(50, |_| {
        let store = Arc::clone(&store);
        async move {
            let proof = MfaProof::TotpStep(TotpStep::new(200));
            store.spend_proof(u.id, &proof, t(40)).await.expect("spend")
        }
    })
    .await;
    assert_eq!(count_true(&results), 1);
}

/// A backup code is spent once, only by its owner, and unknown codes are refused.
pub async fn a_backup_code_works_exactly_once_and_only_for_its_user<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let b = user(&*store, "b@example.com").await;
    let a_codes = enable(&*store, a.id, "a").await;
    enable(&*store, b.id, "b").await;
    let proof = MfaProof::BackupCode(a_codes[3].clone());
    assert!(!store.spend_proof(b.id, &proof, t(50)).await.expect("spend"), "not b's code");
    assert!(store.spend_proof(a.id, &proof, t(50)).await.expect("spend"));
    assert!(!store.spend_proof(a.id, &proof, t(51)).await.expect("spend"), "used");
    let unknown = MfaProof::BackupCode(digest("unknown"));
    assert!(!store.spend_proof(a.id, &unknown, t(52)).await.expect("spend"));
    assert_eq!(store.backup_codes_remaining(a.id).await.expect("codes"), 9);
    assert_eq!(store.backup_codes_remaining(b.id).await.expect("codes"), 10);
}

/// Fifty concurrent spends of one backup code: exactly one succeeds.
pub async fn fifty_concurrent_spends_of_one_backup_code_succeed_exactly_once<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "code-race@example.com").await;
    let codes = enable(&*store, u.id, "k").await;
    let results = concurrently(50, |_| {
        let store = Arc::clone(&store);
        let proof = MfaProof::BackupCode(codes[0].clone());
        async move { store.spend_proof(u.id, &proof, t(60)).await.expect("spend") }
    })
    .await;
    assert_eq!(count_true(&results), 1);
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 9);
}

/// With MFA pending or off, no proof is spent and nothing changes.
pub async fn proofs_are_refused_while_mfa_is_not_enabled<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "off@example.com").await;
    let step = MfaProof::TotpStep(TotpStep::new(500));
    assert!(!store.spend_proof(u.id, &step, t(1)).await.expect("spend"));
    assert!(store.begin_enrollment(u.id, secret("p")).await.expect("begin"));
    assert!(!store.spend_proof(u.id, &step, t(1)).await.expect("spend"));
    assert!(!store.disable_with_proof(u.id, &step, t(1), &audited(u.id)).await.expect("disable"));
    assert!(
        !store
            .regenerate_with_proof(u.id, &step, codes("n", 10), t(1), &audited(u.id))
            .await
            .expect("regen")
    );
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("p") });
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
    assert!(!store.spend_proof(UserId::generate(), &step, t(1)).await.expect("spend"));
}

/// Disable with a fresh proof: flag off, secret erased, every code deleted, replay state
/// reset — so a new enrollment starts from nothing.
pub async fn disable_with_proof_clears_flag_secret_codes_and_step<S: Storage>(store: Arc<S>) {
    for (n, proof) in
        [MfaProof::TotpStep(TotpStep::new(150)), MfaProof::BackupCode(codes("d", 10)[2].clone())]
            .into_iter()
            .enumerate()
    {
        let u = user(&*store, &format!("disable{n}@example.com")).await;
        enable(&*store, u.id, "d").await;
        assert!(
            store.disable_with_proof(u.id, &proof, t(70), &audited(u.id)).await.expect("disable")
        );
        assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
        assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
        let old_code = MfaProof::BackupCode(codes("d", 10)[5].clone());
        assert!(!store.spend_proof(u.id, &old_code, t(71)).await.expect("spend"));
        // Re-enroll: the old replay state is gone, and the old codes stay gone.
        assert!(store.begin_enrollment(u.id, secret("new")).await.expect("begin"));
        assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("new") });
        let ok = store
            .confirm_enrollment(
                u.id,
                &secret("new"),
                TotpStep::new(3),
                codes("e", 10),
                t(72),
                &audited(u.id),
            )
            .await
            .expect("confirm");
        assert!(ok);
        assert!(!store.spend_proof(u.id, &old_code, t(73)).await.expect("spend"));
        let four = MfaProof::TotpStep(TotpStep::new(4));
        assert!(store.spend_proof(u.id, &four, t(73)).await.expect("spend"));
        assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    }
}

/// Disable with a replayed step or a used code: refused, nothing changes.
pub async fn disable_with_an_unspendable_proof_changes_nothing<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "keep@example.com").await;
    let codes = enable(&*store, u.id, "u").await;
    let used = MfaProof::BackupCode(codes[0].clone());
    assert!(store.spend_proof(u.id, &used, t(80)).await.expect("spend"));
    let before = reload(&*store, u.id).await;
    for proof in [
        MfaProof::TotpStep(TotpStep::new(100)),
        MfaProof::TotpStep(TotpStep::new(1)),
        used.clone(),
        MfaProof::BackupCode(digest("not-a-code")),
    ] {
        assert!(
            !store.disable_with_proof(u.id, &proof, t(81), &audited(u.id)).await.expect("disable")
        );
    }
    assert_eq!(reload(&*store, u.id).await, before);
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 9);
}

/// Twenty concurrent disables with one backup code: exactly one succeeds.
pub async fn concurrent_disables_with_one_backup_code_succeed_exactly_once<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "disable-race@example.com").await;
    let codes = enable(&*store, u.id, "z").await;
    let results = concurrently(20, |_| {
        let store = Arc::clone(&store);
        let proof = MfaProof::BackupCode(codes[1].clone());
        async move {
            store.disable_with_proof(u.id, &proof, t(90), &audited(u.id)).await.expect("disable")
        }
    })
    .await;
    assert_eq!(count_true(&results), 1);
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
}

/// Disables (by TOTP) racing regenerations (by backup code) on one user: no call fails
/// (no deadlock between the user row and the code rows), exactly one disable wins, and MFA
/// ends off with no codes.
pub async fn concurrent_disables_and_regenerations_never_fail_and_one_disable_wins<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "mixed@example.com").await;
    let codes = enable(&*store, u.id, "m").await;
    let results = concurrently(20, |i| {
        let store = Arc::clone(&store);
        let code = codes[i % 10].clone();
        async move {
            if i % 2 == 0 {
                let proof = MfaProof::TotpStep(TotpStep::new(300 + i as u64));
                (true, store.disable_with_proof(u.id, &proof, t(95), &audited(u.id)).await)
            } else {
                let proof = MfaProof::BackupCode(code);
                let fresh = codes_for(i);
                (
                    false,
                    store.regenerate_with_proof(u.id, &proof, fresh, t(95), &audited(u.id)).await,
                )
            }
        }
    })
    .await;
    let mut disabled = 0;
    for (is_disable, result) in results {
        let spent = result.expect("no storage error under contention");
        if is_disable && spent {
            disabled += 1;
        }
    }
    assert_eq!(disabled, 1, "exactly one disable wins");
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
}

fn codes_for(i: usize) -> Vec<SecretDigest> {
    codes(&format!("regen{i}-"), 10)
}

/// Regenerate with a fresh proof replaces every code; with a spent proof it changes nothing.
pub async fn regenerate_with_proof_replaces_every_code<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "regen@example.com").await;
    let old = enable(&*store, u.id, "o").await;
    let fresh = codes("f", 10);
    let proof = MfaProof::BackupCode(old[0].clone());
    assert!(
        store
            .regenerate_with_proof(u.id, &proof, fresh.clone(), t(100), &audited(u.id))
            .await
            .expect("regen")
    );
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    let old_code = MfaProof::BackupCode(old[1].clone());
    assert!(!store.spend_proof(u.id, &old_code, t(101)).await.expect("spend"), "old codes gone");
    let replay = MfaProof::TotpStep(TotpStep::new(100));
    let refused = store
        .regenerate_with_proof(u.id, &replay, codes("g", 10), t(102), &audited(u.id))
        .await
        .expect("regen");
    assert!(!refused);
    let new_code = MfaProof::BackupCode(fresh[9].clone());
    assert!(store.spend_proof(u.id, &new_code, t(103)).await.expect("spend"), "new codes work");
    assert!(reload(&*store, u.id).await.mfa.is_enabled());
}

/// Administrative reset turns MFA off from enabled or pending and reports whether it was on.
pub async fn reset_turns_mfa_off_from_any_state<S: Storage>(store: Arc<S>) {
    let enabled = user(&*store, "en@example.com").await;
    enable(&*store, enabled.id, "r").await;
    assert!(store.reset(enabled.id, &audited(enabled.id)).await.expect("reset"));
    assert_eq!(reload(&*store, enabled.id).await.mfa, MfaState::Disabled);
    assert_eq!(store.backup_codes_remaining(enabled.id).await.expect("codes"), 0);

    let pending = user(&*store, "pe@example.com").await;
    assert!(store.begin_enrollment(pending.id, secret("p")).await.expect("begin"));
    assert!(store.reset(pending.id, &audited(pending.id)).await.expect("reset"));
    assert_eq!(reload(&*store, pending.id).await.mfa, MfaState::Disabled);

    let off = user(&*store, "of@example.com").await;
    assert!(!store.reset(off.id, &audited(off.id)).await.expect("reset"));
}
