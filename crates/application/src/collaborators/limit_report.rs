//! What a request's attempt limits look like after it, for the HTTP adapter to send as the
//! IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers):
//! how many tries each limit allows per window, how many remain, and when the window ends.
//!
//! The limiter records here as it reserves and gives back attempts; an adapter that wants
//! the report runs the request inside [`reported`]. Outside it (the CLI, tests of use
//! cases) recording does nothing. A task-local keeps every use case's signature free of it.

use std::cell::RefCell;
use std::future::Future;

use chrono::{DateTime, Utc};
use slugbase_domain::{AttemptCounter, AttemptPolicy};

/// One limit that applied to the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitState {
    /// `account` (the account tried: a user's second factor, or the e-mail typed at login)
    /// or `address` (the client address).
    pub name: &'static str,
    /// Failures allowed per window.
    pub quota: u32,
    /// The window, in seconds.
    pub window_secs: u32,
    /// Tries left in the current window after this request.
    pub remaining: u32,
    /// Seconds until the current window ends.
    pub reset_secs: u32,
}

/// Every limit that applied to one request, in the order they were checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitReport {
    /// The limits.
    pub limits: Vec<LimitState>,
}

tokio::task_local! {
    static REPORT: RefCell<LimitReport>;
}

/// Runs `request` and returns its output with the limits it met (`None`: none applied).
pub async fn reported<F: Future>(request: F) -> (F::Output, Option<LimitReport>) {
    REPORT
        .scope(RefCell::new(LimitReport::default()), async move {
            let output = request.await;
            let report = REPORT.with(|r| r.take());
            (output, (!report.limits.is_empty()).then_some(report))
        })
        .await
}

fn record(update: impl FnOnce(&mut LimitReport)) {
    // Outside `reported` there is no report to keep: nothing to do.
    let _ = REPORT.try_with(|r| update(&mut r.borrow_mut()));
}

/// Seconds from `now` to the end of the window that started at `window_start`.
fn reset_secs(policy: &AttemptPolicy, window_start: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
    let end = window_start + chrono::TimeDelta::seconds(i64::from(policy.window_secs));
    u32::try_from((end - now).num_seconds().max(0)).unwrap_or(u32::MAX)
}

/// `name`'s limit granted an attempt and stands at `counter` (the attempt counted).
pub(crate) fn granted(
    name: &'static str,
    policy: &AttemptPolicy,
    counter: &AttemptCounter,
    now: DateTime<Utc>,
) {
    let state = LimitState {
        name,
        quota: policy.max_failures,
        window_secs: policy.window_secs,
        remaining: policy.max_failures.saturating_sub(counter.failures),
        reset_secs: reset_secs(policy, counter.window_start, now),
    };
    record(|r| {
        r.limits.retain(|l| l.name != name);
        r.limits.push(state);
    });
}

/// `name`'s limit refused the attempt: none remain until `retry_after_secs` have passed.
pub(crate) fn refused(name: &'static str, policy: &AttemptPolicy, retry_after_secs: u32) {
    let state = LimitState {
        name,
        quota: policy.max_failures,
        window_secs: policy.window_secs,
        remaining: 0,
        reset_secs: retry_after_secs,
    };
    record(|r| {
        r.limits.retain(|l| l.name != name);
        r.limits.push(state);
    });
}

/// The attempt `name`'s limit granted was given back (no guess, or a success).
pub(crate) fn given_back(name: &'static str) {
    record(|r| {
        for limit in r.limits.iter_mut().filter(|l| l.name == name) {
            limit.remaining = limit.remaining.saturating_add(1).min(limit.quota);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AttemptPolicy {
        AttemptPolicy { max_failures: 5, window_secs: 900, lockout_after: None }
    }

    #[tokio::test]
    async fn a_report_is_kept_only_inside_its_request() {
        let now = Utc::now();
        let counter = AttemptCounter { window_start: now, failures: 2, consecutive: 2 };
        granted("account", &policy(), &counter, now);
        let ((), report) = reported(async {
            granted("account", &policy(), &counter, now);
            granted("address", &policy(), &counter, now);
            given_back("address");
        })
        .await;
        let report = report.unwrap();
        assert_eq!(report.limits.len(), 2);
        assert_eq!((report.limits[0].remaining, report.limits[0].reset_secs), (3, 900));
        assert_eq!(report.limits[1].remaining, 4, "given back");
        let ((), none) = reported(async {}).await;
        assert_eq!(none, None);
        let ((), refusal) = reported(async { refused("account", &policy(), 42) }).await;
        let limit = &refusal.unwrap().limits[0];
        assert_eq!((limit.remaining, limit.reset_secs), (0, 42));
    }
}
