//! Resident memory of this process (the server runs in it): `VmRSS` and `VmHWM` from
//! `/proc/self/status`, a background sampler for peaks, and a reset of the high-water mark
//! (`/proc/self/clear_refs` ← `5`) so a peak belongs to one phase only. Linux only; elsewhere
//! every figure is `None`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// `/proc/self/<file>`, or `/proc/<pid>/<file>` for another process (a server child).
fn proc_path(pid: Option<u32>, file: &str) -> String {
    pid.map_or_else(|| format!("/proc/self/{file}"), |pid| format!("/proc/{pid}/{file}"))
}

/// Reads one `Vm…:   1234 kB` line of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(proc_path(pid, "status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Current resident set size of this process (`None`) or of `pid`, KiB.
#[must_use]
pub fn current_kib(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// Resident anonymous memory of this process (`None`) or of `pid` (`RssAnon`: heap, stacks,
/// buffers), KiB — what the process alone holds. `VmRSS` also counts file pages it has
/// mapped (the binary, and the SQLite read path's memory-mapped database file), which are
/// the kernel's shared, reclaimable page cache.
#[must_use]
pub fn anon_kib(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "RssAnon")
}

/// Peak resident set size since start or the last [`reset_peak`], KiB.
#[must_use]
pub fn peak_kib(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "VmHWM")
}

/// Read system calls this process made so far (`syscr` of `/proc/self/io`: `read`,
/// `pread64`, … on files and sockets alike).
#[must_use]
pub fn read_syscalls(pid: Option<u32>) -> Option<u64> {
    let io = std::fs::read_to_string(proc_path(pid, "io")).ok()?;
    io.lines().find_map(|line| line.strip_prefix("syscr:")?.trim().parse().ok())
}

/// Resets the kernel's peak (`VmHWM`) to the current RSS. Returns whether it worked.
#[must_use]
pub fn reset_peak(pid: Option<u32>) -> bool {
    std::fs::write(proc_path(pid, "clear_refs"), "5").is_ok()
}

/// Samples a figure (e.g. [`current_kib`] or [`anon_kib`]) every few milliseconds on its own
/// thread and keeps the largest value.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `read` every `every`.
    #[must_use]
    pub fn start(pid: Option<u32>, every: Duration, read: fn(Option<u32>) -> Option<u64>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(read(pid).unwrap_or(0)));
        let thread = {
            let stop = stop.clone();
            let max = max.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = read(pid) {
                        max.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(every);
                }
            })
        };
        Self { stop, max, thread: Some(thread) }
    }

    /// Stops and returns the largest RSS seen, KiB.
    #[must_use]
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn rss_is_read_and_the_peak_is_at_least_the_current_value() {
        let now = current_kib(None).unwrap();
        assert!(now > 0);
        assert!(peak_kib(None).unwrap() >= now);
        assert!(current_kib(Some(std::process::id())).is_some());
        let anon = anon_kib(None).unwrap();
        assert!(anon > 0 && anon <= now, "anonymous memory is part of the RSS");
        let sampler = Sampler::start(None, Duration::from_millis(1), current_kib);
        std::thread::sleep(Duration::from_millis(5));
        assert!(sampler.finish() > 0);
        let sampler = Sampler::start(None, Duration::from_millis(1), anon_kib);
        std::thread::sleep(Duration::from_millis(5));
        assert!(sampler.finish() > 0);
    }
}
