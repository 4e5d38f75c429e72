//! Races on one proof, on a multi-threaded runtime: whatever the interleaving, a backup
//! code, a TOTP step, an enrollment and the first-admin setup are each used exactly once.
//! Tasks start together behind a barrier so that they really contend.

mod mfa_support;

use std::sync::Arc;

use chrono::TimeDelta;
use mfa_support::{Harness, PASSWORD};
use slugbase_application::collaborators::new_account::NewAccountInput;
use slugbase_application::collaborators::second_factor::Possession;
use slugbase_application::ports::{AttemptRepository, MfaProof, MfaRepository, Reservation};
use slugbase_application::{
    collaborators::both_factors::MfaChangeError, use_cases::enroll::EnrollConfirmError,
};
use slugbase_domain::{AttemptPolicy, DisableDenied, MfaState};
use tokio::sync::Barrier;

/// Runs `n` copies of `task` at once and returns their results.
async fn race<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let fut = task(i);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.expect("a racing task panicked"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_disables_with_one_backup_code_yield_exactly_one_success() {
    let h = Arc::new(Harness::new());
    let admin = h.admin().await;
    let (user, session) = h.local_user(&admin, "race1@example.com").await;
    let (_, codes) = h.enable_mfa(&session).await;
    let caller = h.caller(&session).await;

    let results = race(50, |_| {
        let (h, caller, code) = (h.clone(), caller.clone(), codes[0].clone());
        async move {
            let both = h.both(&code, Some(PASSWORD));
            h.uc.disable_mfa.execute(&caller, &h.client, Ok(both)).await
        }
    })
    .await;

    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(
                r,
                Err(MfaChangeError::Denied(DisableDenied::InvalidCode)
                    | MfaChangeError::TooManyAttempts(_))
            ),
            "{r:?}"
        );
    }
    assert_eq!(h.caller(&session).await.user.mfa, MfaState::Disabled);
    assert_eq!(h.store.backup_codes_remaining(user.id).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_spends_of_one_backup_code_in_storage_yield_exactly_one_success() {
    let h = Arc::new(Harness::new());
    let admin = h.admin().await;
    let (user, session) = h.local_user(&admin, "race2@example.com").await;
    let (_, codes) = h.enable_mfa(&session).await;
    let proof = MfaProof::BackupCode(h.backup_digest(&codes[5]));

    let results = race(50, |_| {
        let (h, proof) = (h.clone(), proof.clone());
        async move { h.store.spend_proof(user.id, &proof, h.now()).await.unwrap() }
    })
    .await;

    assert_eq!(results.iter().filter(|spent| **spent).count(), 1);
    assert_eq!(h.store.backup_codes_remaining(user.id).await.unwrap(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_logins_verifying_one_backup_code_yield_exactly_one_session() {
    let h = Arc::new(Harness::new());
    let admin = h.admin().await;
    let (_, session) = h.local_user(&admin, "race3@example.com").await;
    let (_, codes) = h.enable_mfa(&session).await;
    let mut pendings = Vec::new();
    for _ in 0..50 {
        pendings.push(h.login_pending("race3@example.com").await);
    }

    let results = race(50, |i| {
        let (h, pending, code) = (h.clone(), pendings[i].clone(), codes[7].clone());
        async move {
            h.uc.verify_login
                .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(code)))
                .await
        }
    })
    .await;

    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    let caller = h.caller(&session).await;
    assert_eq!(h.uc.mfa_status.execute(&caller).await.unwrap().backup_codes_remaining, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_confirms_enable_mfa_once_with_exactly_ten_codes() {
    let h = Arc::new(Harness::new());
    let admin = h.admin().await;
    let (user, session) = h.local_user(&admin, "race4@example.com").await;
    let caller = h.caller(&session).await;
    let enrollment = h.uc.enroll_begin.execute(&caller, &h.client).await.unwrap();
    let caller = h.caller(&session).await; // sees the pending secret
    let code = h.totp_now(&enrollment.secret);

    let results = race(20, |_| {
        let (h, caller, code) = (h.clone(), caller.clone(), code.clone());
        async move { h.uc.enroll_confirm.execute(&caller, &h.client, Ok(code)).await }
    })
    .await;

    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1);
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(matches!(r, Err(EnrollConfirmError::AlreadyEnabled)), "{r:?}");
    }
    assert_eq!(h.store.backup_codes_remaining(user.id).await.unwrap(), 10);
    // The stored codes are exactly the winner's.
    for code in winners[0] {
        let proof = MfaProof::BackupCode(h.backup_digest(code.expose()));
        assert!(h.store.spend_proof(user.id, &proof, h.now()).await.unwrap());
    }
    assert_eq!(h.store.backup_codes_remaining(user.id).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_totp_step_yield_exactly_one_success() {
    let h = Arc::new(Harness::new());
    let admin = h.admin().await;
    let (_, session) = h.local_user(&admin, "race5@example.com").await;
    let (secret, _) = h.enable_mfa(&session).await;
    h.next_step();
    let code = h.totp_now(&secret);
    let mut pendings = Vec::new();
    for _ in 0..20 {
        pendings.push(h.login_pending("race5@example.com").await);
    }

    // Twenty logins finish with the same code.
    let results = race(20, |i| {
        let (h, pending, code) = (h.clone(), pendings[i].clone(), code.clone());
        async move {
            h.uc.verify_login
                .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(code)))
                .await
        }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);

    // The nineteen losers count as failed attempts; once their window has passed, twenty
    // disables race with one code.
    h.clock.advance(TimeDelta::seconds(901));
    let code = h.totp_now(&secret);
    let caller = h.caller(&session).await;
    let results = race(20, |_| {
        let (h, caller, code) = (h.clone(), caller.clone(), code.clone());
        async move {
            let both = h.both(&code, Some(PASSWORD));
            h.uc.disable_mfa.execute(&caller, &h.client, Ok(both)).await
        }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert_eq!(h.caller(&session).await.user.mfa, MfaState::Disabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_setups_create_exactly_one_first_admin() {
    let h = Arc::new(Harness::new());
    let results = race(20, |i| {
        let h = h.clone();
        async move {
            let input = NewAccountInput {
                email: format!("admin{i}@example.com"),
                name: "Admin".into(),
                password: Some(PASSWORD.into()),
                is_admin: true,
            };
            h.uc.setup.execute(&h.client, Ok(input)).await
        }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert_eq!(slugbase_application::ports::UserRepository::count(&*h.store).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_lose_no_count_and_never_pass_the_limit() {
    let h = Arc::new(Harness::new());
    let policy = AttemptPolicy { max_failures: 60, window_secs: 900, lockout_after: None };
    let results = race(100, |_| {
        let h = h.clone();
        async move { h.store.reserve("sf:user:x", &policy, h.now()).await.unwrap() }
    })
    .await;
    let granted = results.iter().filter(|r| matches!(r, Reservation::Granted(_))).count();
    assert_eq!(granted, 60, "exactly the limit is granted");
    let counter = h.store.get("sf:user:x").await.unwrap().unwrap();
    assert_eq!((counter.failures, counter.consecutive), (60, 60));
    // A later window starts afresh but keeps the consecutive run.
    h.clock.advance(TimeDelta::seconds(900));
    let Reservation::Granted(counter) =
        h.store.reserve("sf:user:x", &policy, h.now()).await.unwrap()
    else {
        panic!("a new window grants again");
    };
    assert_eq!((counter.failures, counter.consecutive), (1, 61));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_simultaneous_wrong_disables_evaluate_at_most_the_limit() {
    let h = Arc::new(Harness::new());
    let admin = h.admin().await;
    let (user, session) = h.local_user(&admin, "burst@example.com").await;
    let (secret, _) = h.enable_mfa(&session).await;
    let caller = h.caller(&session).await;
    let wrong = h.wrong_totp(&secret);

    let results = race(200, |_| {
        let (h, caller, wrong) = (h.clone(), caller.clone(), wrong.clone());
        async move {
            let both = h.both(&wrong, Some(PASSWORD));
            h.uc.disable_mfa.execute(&caller, &h.client, Ok(both)).await
        }
    })
    .await;

    let evaluated = results
        .iter()
        .filter(|r| matches!(r, Err(MfaChangeError::Denied(DisableDenied::InvalidCode))))
        .count();
    let throttled =
        results.iter().filter(|r| matches!(r, Err(MfaChangeError::TooManyAttempts(_)))).count();
    assert_eq!(evaluated, 10, "the default limit: ten guesses per account per window");
    assert_eq!(throttled, 190, "every other guess is refused before it is evaluated");
    let key = format!("sf:user:{}", user.id);
    let counter = h.store.get(&key).await.unwrap().unwrap();
    assert_eq!(counter.failures, 10);
    assert!(h.caller(&session).await.user.mfa.is_enabled());
}
