//! [`Background`] on tokio: each piece of work is a task on the runtime of the request that
//! started it (an actix worker's), so the request returns without waiting for it.

use slugbase_application::ports::{Background, BackgroundWork};

/// Spawns background work on the current tokio runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioBackground;

impl Background for TokioBackground {
    fn run(&self, work: BackgroundWork) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(work);
            }
            // Only reachable from outside any runtime, which the server never is: the work
            // is a throttled activity write, so dropping it loses one timestamp.
            Err(_) => tracing::warn!("no tokio runtime to run background work on; dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn work_runs_after_run_returns_without_being_awaited() {
        let (gate, opened) =
            (Arc::new(tokio::sync::Notify::new()), Arc::new(AtomicBool::new(false)));
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (wait, flag) = (Arc::clone(&gate), Arc::clone(&opened));
        TokioBackground.run(Box::pin(async move {
            wait.notified().await;
            flag.store(true, Ordering::SeqCst);
            let _ = done_tx.send(());
        }));
        // `run` returned while the work still waits on its gate.
        assert!(!opened.load(Ordering::SeqCst));
        gate.notify_one();
        done_rx.await.expect("the work ran");
        assert!(opened.load(Ordering::SeqCst));
    }
}
