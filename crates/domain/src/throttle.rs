//! Attempt limiting: how failures add up and when they block.
//!
//! A counter counts failures in a fixed window (`window_start` + `window`), and — for
//! accounts — the consecutive failures since the last success. The storage adapters keep
//! counters in the database and apply these rules inside one transaction, so every
//! instance of the service shares them.

use chrono::{DateTime, TimeDelta, Utc};

/// Limits for one kind of counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptPolicy {
    /// Failures allowed per window; the next attempt is refused.
    pub max_failures: u32,
    /// Length of a window, in seconds.
    pub window_secs: u32,
    /// Consecutive failures (across windows, reset by a success) after which the key stays
    /// blocked until an administrator resets it (NIST SP 800-63B §5.2.2). `None`: never.
    pub lockout_after: Option<u32>,
}

/// How many failures a key has collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptCounter {
    /// Start of the current window.
    pub window_start: DateTime<Utc>,
    /// Failures in the current window.
    pub failures: u32,
    /// Failures since the last success.
    pub consecutive: u32,
}

/// Whether an attempt may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Throttle {
    /// Go ahead.
    Allowed,
    /// Refuse; the client may try again after this many seconds.
    Blocked {
        /// Seconds until the window ends (for a locked-out account: a full window, as a
        /// hint; only an administrator unlocks it).
        retry_after_secs: u32,
        /// The account is locked until an administrator resets it.
        locked_out: bool,
    },
}

impl AttemptPolicy {
    fn window(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.window_secs))
    }
}

impl AttemptCounter {
    /// The counter after one more failure at `now`: a window that has ended starts afresh.
    #[must_use]
    pub fn after_failure(
        current: Option<Self>,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> Self {
        match current {
            Some(c) if now < c.window_start + policy.window() => Self {
                window_start: c.window_start,
                failures: c.failures.saturating_add(1),
                consecutive: c.consecutive.saturating_add(1),
            },
            Some(c) => Self {
                window_start: now,
                failures: 1,
                consecutive: c.consecutive.saturating_add(1),
            },
            None => Self { window_start: now, failures: 1, consecutive: 1 },
        }
    }

    /// The counter after a success: the consecutive run ends; the window's failures stay,
    /// so interleaving one good attempt does not buy an attacker more guesses.
    #[must_use]
    pub const fn after_success(self) -> Self {
        Self { consecutive: 0, ..self }
    }

    /// Reserves one attempt at `now`, before it is evaluated: refused (`Err`, with the
    /// throttle to report) when the limit is reached, otherwise the counter with the attempt
    /// already counted as a failure. Counting first is what makes a limit hold when many
    /// guesses arrive at once: each one takes its place before the slow check, so at most
    /// `max_failures` of them are ever evaluated in a window, whatever the concurrency.
    ///
    /// # Errors
    /// [`Throttle::Blocked`] when the attempt may not go ahead.
    pub fn reserve(
        current: Option<Self>,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> Result<Self, Throttle> {
        match current.map(|c| c.throttle(policy, now)) {
            Some(blocked @ Throttle::Blocked { .. }) => Err(blocked),
            _ => Ok(Self::after_failure(current, policy, now)),
        }
    }

    /// Gives back an attempt reserved in the window that started at `reserved_in`: it was
    /// not a guess (a malformed request, a precondition that failed) or it succeeded.
    /// The window's count drops by one only while that window lasts (a new window never
    /// owes it anything); a success ends the consecutive run, anything else takes back its
    /// one step of it.
    #[must_use]
    pub fn released(self, reserved_in: DateTime<Utc>, outcome: Release) -> Self {
        let failures = if self.window_start == reserved_in {
            self.failures.saturating_sub(1)
        } else {
            self.failures
        };
        let consecutive = match outcome {
            Release::Succeeded => 0,
            Release::NotAGuess => self.consecutive.saturating_sub(1),
        };
        Self { window_start: self.window_start, failures, consecutive }
    }
}

/// Why a reserved attempt is given back ([`AttemptCounter::released`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The attempt succeeded: it was no failure, and the consecutive run ends.
    Succeeded,
    /// The request never came to a guess (malformed, or a precondition failed).
    NotAGuess,
}

impl AttemptCounter {
    /// Whether the next attempt is allowed at `now`.
    #[must_use]
    pub fn throttle(&self, policy: &AttemptPolicy, now: DateTime<Utc>) -> Throttle {
        if policy.lockout_after.is_some_and(|limit| self.consecutive >= limit) {
            return Throttle::Blocked { retry_after_secs: policy.window_secs, locked_out: true };
        }
        let window_end = self.window_start + policy.window();
        if now < window_end && self.failures >= policy.max_failures {
            // Rounded up: a client that waits exactly `Retry-After` seconds must find the
            // window over, not a fraction of a second short of it. At most one window: a
            // request whose `now` was read just before another instance opened the window
            // would otherwise see a few milliseconds more than the whole window.
            let left_ms = (window_end - now).num_milliseconds();
            let left = left_ms.saturating_add(999).div_euclid(1000).max(1);
            let retry_after_secs =
                u32::try_from(left).unwrap_or(policy.window_secs).min(policy.window_secs.max(1));
            return Throttle::Blocked { retry_after_secs, locked_out: false };
        }
        Throttle::Allowed
    }
}

impl Throttle {
    /// The stricter of two decisions (the longer wait wins).
    #[must_use]
    pub fn max(self, other: Self) -> Self {
        match (self, other) {
            (Self::Allowed, x) | (x, Self::Allowed) => x,
            (
                Self::Blocked { retry_after_secs: a, locked_out: la },
                Self::Blocked { retry_after_secs: b, locked_out: lb },
            ) => Self::Blocked { retry_after_secs: a.max(b), locked_out: la || lb },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: AttemptPolicy =
        AttemptPolicy { max_failures: 3, window_secs: 900, lockout_after: Some(5) };

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn failures(n: u32, start: i64) -> AttemptCounter {
        (0..n)
            .fold(None, |c, i| {
                Some(AttemptCounter::after_failure(c, &POLICY, t(start + i64::from(i))))
            })
            .unwrap()
    }

    /// Another instance opened the window a few milliseconds after this request read its
    /// clock: the wait is still at most one window.
    #[test]
    fn retry_after_never_exceeds_the_window() {
        let opened = t(10) + TimeDelta::milliseconds(7);
        let full = AttemptCounter { window_start: opened, failures: 3, consecutive: 3 };
        assert_eq!(
            full.throttle(&POLICY, t(10)),
            Throttle::Blocked { retry_after_secs: 900, locked_out: false }
        );
    }

    #[test]
    fn attempts_below_the_limit_are_allowed() {
        assert_eq!(failures(2, 0).throttle(&POLICY, t(10)), Throttle::Allowed);
    }

    #[test]
    fn the_limit_blocks_until_the_window_ends() {
        let c = failures(3, 0);
        assert_eq!(
            c.throttle(&POLICY, t(100)),
            Throttle::Blocked { retry_after_secs: 800, locked_out: false }
        );
        assert_eq!(c.throttle(&POLICY, t(900)), Throttle::Allowed);
    }

    #[test]
    fn retry_after_rounds_up_so_waiting_it_out_is_enough() {
        let c = failures(3, 0);
        let now = t(100) + TimeDelta::milliseconds(300);
        let Throttle::Blocked { retry_after_secs, .. } = c.throttle(&POLICY, now) else {
            panic!("blocked expected");
        };
        assert_eq!(retry_after_secs, 800, "799.7 s left rounds up to 800");
        let later = now + TimeDelta::seconds(i64::from(retry_after_secs));
        assert_eq!(c.throttle(&POLICY, later), Throttle::Allowed);
    }

    #[test]
    fn a_failure_after_the_window_starts_a_new_one() {
        let c = AttemptCounter::after_failure(Some(failures(3, 0)), &POLICY, t(1000));
        assert_eq!(c.window_start, t(1000));
        assert_eq!(c.failures, 1);
        assert_eq!(c.consecutive, 4);
    }

    #[test]
    fn consecutive_failures_lock_the_account_across_windows() {
        let mut c = failures(3, 0);
        c = AttemptCounter::after_failure(Some(c), &POLICY, t(1000));
        c = AttemptCounter::after_failure(Some(c), &POLICY, t(1001));
        assert_eq!(c.consecutive, 5);
        assert_eq!(
            c.throttle(&POLICY, t(100_000)),
            Throttle::Blocked { retry_after_secs: 900, locked_out: true }
        );
    }

    #[test]
    fn a_success_ends_the_consecutive_run_but_keeps_the_window() {
        let c = failures(2, 0).after_success();
        assert_eq!(c.consecutive, 0);
        assert_eq!(c.failures, 2);
    }

    #[test]
    fn without_a_lockout_policy_nothing_locks() {
        let policy = AttemptPolicy { lockout_after: None, ..POLICY };
        let c = AttemptCounter { window_start: t(0), failures: 0, consecutive: 10_000 };
        assert_eq!(c.throttle(&policy, t(1)), Throttle::Allowed);
    }

    #[test]
    fn a_reservation_counts_the_attempt_up_to_the_limit_and_then_refuses() {
        let mut c = None;
        for i in 0..3 {
            c = Some(AttemptCounter::reserve(c, &POLICY, t(i)).unwrap());
        }
        assert_eq!(c.unwrap().failures, 3);
        assert_eq!(
            AttemptCounter::reserve(c, &POLICY, t(10)),
            Err(Throttle::Blocked { retry_after_secs: 890, locked_out: false })
        );
        // A new window takes reservations again.
        assert_eq!(AttemptCounter::reserve(c, &POLICY, t(900)).unwrap().failures, 1);
    }

    #[test]
    fn a_released_reservation_is_given_back_only_in_its_own_window() {
        let c = AttemptCounter::reserve(Some(failures(2, 0)), &POLICY, t(5)).unwrap();
        assert_eq!((c.failures, c.consecutive), (3, 3));
        let back = c.released(t(0), Release::NotAGuess);
        assert_eq!((back.failures, back.consecutive), (2, 2));
        let ok = c.released(t(0), Release::Succeeded);
        assert_eq!((ok.failures, ok.consecutive), (2, 0));
        // Reserved in a window that has since been replaced: the new one owes nothing.
        let other = c.released(t(-900), Release::NotAGuess);
        assert_eq!(other.failures, 3);
        let empty = AttemptCounter { window_start: t(0), failures: 0, consecutive: 0 };
        assert_eq!(empty.released(t(0), Release::NotAGuess), empty);
    }

    #[test]
    fn the_stricter_throttle_wins() {
        let a = Throttle::Blocked { retry_after_secs: 10, locked_out: false };
        let b = Throttle::Blocked { retry_after_secs: 30, locked_out: true };
        assert_eq!(Throttle::Allowed.max(a), a);
        assert_eq!(a.max(Throttle::Allowed), a);
        assert_eq!(a.max(b), Throttle::Blocked { retry_after_secs: 30, locked_out: true });
    }
}
