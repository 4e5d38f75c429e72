//! The load driver: C concurrent client tasks, each taking the next request index until a
//! deadline or a request budget is reached, timing every request; and the statistics
//! (throughput, p50/p90/p99 over every sample, sorted — exact, not HDR-bucketed).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Figures of one measured phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that failed or got an unexpected status.
    pub errors: u64,
    /// Wall time of the phase, seconds.
    pub elapsed_secs: f64,
    /// Expected answers per second.
    pub throughput: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile latency, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Slowest request, milliseconds.
    pub max_ms: f64,
    /// Client concurrency.
    pub concurrency: usize,
}

/// The `q`-quantile (0..=1) of sorted samples, nearest rank.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank within a sample vector"
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Stats {
    /// Statistics of `samples` (latencies of expected answers) over `elapsed`.
    #[must_use]
    pub fn from_samples(
        mut samples: Vec<Duration>,
        errors: u64,
        elapsed: Duration,
        concurrency: usize,
    ) -> Self {
        samples.sort_unstable();
        let ok = samples.len() as u64;
        let secs = elapsed.as_secs_f64().max(1e-9);
        #[expect(clippy::cast_precision_loss, reason = "request counts are far below 2^52")]
        let throughput = ok as f64 / secs;
        Self {
            ok,
            errors,
            elapsed_secs: secs,
            throughput,
            p50_ms: ms(quantile(&samples, 0.50)),
            p90_ms: ms(quantile(&samples, 0.90)),
            p99_ms: ms(quantile(&samples, 0.99)),
            max_ms: ms(samples.last().copied().unwrap_or_default()),
            concurrency,
        }
    }
}

/// How long a phase runs.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Stop starting requests after this long.
    pub duration: Duration,
    /// Stop after this many requests at most.
    pub max_requests: usize,
}

impl Budget {
    /// Runs for `duration`, with no request limit.
    #[must_use]
    pub const fn timed(duration: Duration) -> Self {
        Self { duration, max_requests: usize::MAX }
    }
}

/// Runs `request(i)` for i = 0, 1, 2, … from `concurrency` tasks until the budget is spent.
/// `request` returns whether the answer was the expected one.
pub async fn drive<F, Fut>(concurrency: usize, budget: Budget, request: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + budget.duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let request = request.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0u64;
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= budget.max_requests {
                    break;
                }
                let t0 = Instant::now();
                if request(i).await {
                    samples.push(t0.elapsed());
                } else {
                    errors += 1;
                }
            }
            (samples, errors)
        }));
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    for task in tasks {
        match task.await {
            Ok((s, e)) => {
                samples.extend(s);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    Stats::from_samples(samples, errors, started.elapsed(), concurrency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let stats = Stats::from_samples(samples, 0, Duration::from_secs(2), 1);
        assert_eq!(stats.ok, 100);
        assert!((stats.p50_ms - 50.0).abs() < 1e-9);
        assert!((stats.p90_ms - 90.0).abs() < 1e-9);
        assert!((stats.p99_ms - 99.0).abs() < 1e-9);
        assert!((stats.max_ms - 100.0).abs() < 1e-9);
        assert!((stats.throughput - 50.0).abs() < 1e-9);
    }

    #[test]
    fn no_samples_give_zero_latencies_not_a_panic() {
        let stats = Stats::from_samples(Vec::new(), 3, Duration::from_secs(1), 4);
        assert_eq!(stats.ok, 0);
        assert_eq!(stats.errors, 3);
        assert!(stats.p99_ms.abs() < f64::EPSILON);
    }
}
