//! Work a request starts but does not wait for.

use std::future::Future;
use std::pin::Pin;

/// A piece of background work: it reports its own failures (logs them); nothing waits for it.
pub type BackgroundWork = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs work off the request that asked for it: the throttled "last used" / "last seen"
/// writes of authentication, which must not hold up (or fail) the request they record.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Background: Send + Sync {
    /// Starts `work` and returns at once. The work may still be running when the request
    /// has been answered; it may be dropped unfinished when the process stops.
    fn run(&self, work: BackgroundWork);
}
