//! The contract of the attempt counters: reservations and releases follow the domain's
//! rule ([`AttemptCounter`](slugbase_domain::AttemptCounter)), under concurrency too.

use std::sync::Arc;

use slugbase_domain::{AttemptCounter, AttemptPolicy, Release, Throttle};

use crate::ports::{Reservation, Storage};

use super::{POLICY, concurrently, granted, t};

/// Reservations follow [`AttemptCounter::reserve`]: each counts a failure until the limit,
/// then they are refused with the domain's throttle and count nothing; a new window takes
/// them again; clear forgets.
pub async fn attempt_counters_follow_the_domain_rule<S: Storage>(store: Arc<S>) {
    let key = "sf:user:00000000-0000-0000-0000-000000000001";
    assert_eq!(store.get(key).await.expect("get"), None);
    let mut expected = None;
    for at in [0, 10, 20, 30, 40] {
        let next = AttemptCounter::reserve(expected, &POLICY, t(at)).expect("allowed");
        expected = Some(next);
        let counter = granted(store.reserve(key, &POLICY, t(at)).await.expect("reserve"));
        assert_eq!(counter, next);
    }
    assert_eq!(
        store.get(key).await.expect("get"),
        Some(AttemptCounter { window_start: t(0), failures: 5, consecutive: 5 })
    );
    assert_eq!(
        store.reserve(key, &POLICY, t(100)).await.expect("reserve"),
        Reservation::Refused(Throttle::Blocked { retry_after_secs: 800, locked_out: false })
    );
    assert_eq!(store.get(key).await.expect("get"), expected, "a refusal counts nothing");
    let later = granted(store.reserve(key, &POLICY, t(1000)).await.expect("reserve"));
    assert_eq!(later, AttemptCounter { window_start: t(1000), failures: 1, consecutive: 6 });
    assert_eq!(store.get("addr:192.0.2.1").await.expect("get"), None, "keys are separate");
    store.clear(key).await.expect("clear");
    assert_eq!(store.get(key).await.expect("get"), None);
    store.clear("never-seen").await.expect("clear an unknown key");
}

/// Releases follow [`AttemptCounter::released`]: a success gives the place back and ends the
/// run; a non-guess gives back the place and one step of the run; a release into a window
/// that has since been replaced gives back no place; an unknown key stays unknown.
pub async fn releasing_a_reservation_follows_the_domain_rule<S: Storage>(store: Arc<S>) {
    let key = "sf:user:00000000-0000-0000-0000-000000000002";
    let mut last = None;
    for at in [0, 1, 2] {
        last = Some(granted(store.reserve(key, &POLICY, t(at)).await.expect("reserve")));
    }
    let window = last.expect("reserved").window_start;
    store.release(key, window, Release::NotAGuess).await.expect("release");
    assert_eq!(
        store.get(key).await.expect("get"),
        Some(AttemptCounter { window_start: t(0), failures: 2, consecutive: 2 })
    );
    store.release(key, window, Release::Succeeded).await.expect("release");
    assert_eq!(
        store.get(key).await.expect("get"),
        Some(AttemptCounter { window_start: t(0), failures: 1, consecutive: 0 })
    );
    // Reserved in the old window, released after a new one began: the new one owes nothing.
    let new = granted(store.reserve(key, &POLICY, t(1000)).await.expect("reserve"));
    assert_eq!((new.window_start, new.failures), (t(1000), 1));
    store.release(key, window, Release::NotAGuess).await.expect("release");
    assert_eq!(
        store.get(key).await.expect("get"),
        Some(AttemptCounter { window_start: t(1000), failures: 1, consecutive: 0 })
    );
    store.release("never-seen", t(0), Release::Succeeded).await.expect("release unknown");
    assert_eq!(store.get("never-seen").await.expect("get"), None);
}

/// Fifty concurrent reservations under a limit of a hundred: every one is granted and
/// counted once.
pub async fn concurrent_reservations_lose_no_count_below_the_limit<S: Storage>(store: Arc<S>) {
    let key = "addr:198.51.100.9";
    let policy = AttemptPolicy { max_failures: 100, ..POLICY };
    let mut failures = concurrently(50, |_| {
        let store = Arc::clone(&store);
        async move { granted(store.reserve(key, &policy, t(5)).await.expect("reserve")).failures }
    })
    .await;
    failures.sort_unstable();
    assert_eq!(failures, (1..=50).collect::<Vec<u32>>(), "each reservation saw its own count");
    let counter = store.get(key).await.expect("get").expect("exists");
    assert_eq!((counter.failures, counter.consecutive), (50, 50));
}

/// The race the limiter exists for: two hundred reservations released at the same moment
/// against a limit of five are granted exactly five places; the rest are refused with the
/// time to wait, and the counter shows five.
pub async fn two_hundred_concurrent_reservations_grant_exactly_the_limit<S: Storage>(
    store: Arc<S>,
) {
    let key = "sf:user:00000000-0000-0000-0000-000000000003";
    let results = concurrently(200, |_| {
        let store = Arc::clone(&store);
        async move { store.reserve(key, &POLICY, t(5)).await.expect("reserve") }
    })
    .await;
    let granted = results.iter().filter(|r| matches!(r, Reservation::Granted(_))).count();
    assert_eq!(granted, 5, "exactly the limit is granted");
    for refused in results.iter().filter(|r| matches!(r, Reservation::Refused(_))) {
        assert_eq!(
            *refused,
            // The window began with the first reservation, at the same instant.
            Reservation::Refused(Throttle::Blocked { retry_after_secs: 900, locked_out: false })
        );
    }
    let counter = store.get(key).await.expect("get").expect("exists");
    assert_eq!((counter.failures, counter.consecutive), (5, 5));
}

/// A lockout holds under concurrency too: with three consecutive failures allowed in all,
/// of a hundred concurrent reservations across windows three are granted, and the key then
/// stays locked in later windows.
pub async fn concurrent_reservations_never_pass_a_lockout<S: Storage>(store: Arc<S>) {
    let key = "sf:user:00000000-0000-0000-0000-000000000004";
    let policy = AttemptPolicy { max_failures: 100, window_secs: 900, lockout_after: Some(3) };
    let results = concurrently(100, |_| {
        let store = Arc::clone(&store);
        async move { store.reserve(key, &policy, t(5)).await.expect("reserve") }
    })
    .await;
    let granted = results.iter().filter(|r| matches!(r, Reservation::Granted(_))).count();
    assert_eq!(granted, 3);
    assert_eq!(
        store.reserve(key, &policy, t(100_000)).await.expect("reserve"),
        Reservation::Refused(Throttle::Blocked { retry_after_secs: 900, locked_out: true })
    );
}
