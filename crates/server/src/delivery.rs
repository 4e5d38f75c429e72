//! The notice delivery task: every instance looks for due notices every
//! `mail.poll_interval_ms`, claims them (a lease, so instances never send the same notice at
//! once) and sends them one after the other. Stopping lets the send in progress finish; the
//! claimed notices not yet sent come back when their lease runs out.

use std::time::Duration;

use slugbase_application::accounts::DeliverNotices;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running delivery loop.
#[derive(Debug)]
pub struct DeliveryTask {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl DeliveryTask {
    /// Starts delivering with `deliver`, looking every `interval`.
    #[must_use]
    pub fn spawn(deliver: DeliverNotices, interval: Duration) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let handle = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    () = tokio::time::sleep(interval) => {}
                }
                let claimed = match deliver.claim().await {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::warn!(%error, "cannot claim due notices; retrying");
                        continue;
                    }
                };
                for message in &claimed {
                    if *stopped.borrow() {
                        break;
                    }
                    // Not raced against the stop signal: a send in progress finishes.
                    if let Err(error) = deliver.deliver(message).await {
                        tracing::warn!(%error, "cannot record a notice's delivery; it comes back after its lease");
                    }
                }
                if *stopped.borrow() {
                    break;
                }
            }
        });
        Self { stop, handle }
    }

    /// Stops after the send in progress (if any) and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.handle.await {
            tracing::warn!(%error, "the notice delivery task ended abnormally");
        }
    }
}
