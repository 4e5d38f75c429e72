//! The notice delivery task: every instance looks for due notices every
//! `mail.poll_interval_ms`, claims them (a lease, so instances never send the same notice at
//! once) and sends them one after the other. Stopping lets the send in progress finish and
//! gives back the claimed notices not yet sent, so another instance sends them at once.

use std::time::Duration;

use slugbase_application::ports::OutboxMessage;
use slugbase_application::use_cases::deliver_notices::{Claimed, DeliverNotices};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running delivery loop.
#[derive(Debug)]
pub struct DeliveryTask {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// Gives back `unsent`, logging how many (never which recipients).
async fn release(deliver: &DeliverNotices, claimed: &Claimed, unsent: &[OutboxMessage]) {
    match deliver.release(claimed, unsent).await {
        Ok(freed) => tracing::info!(freed, "stopping: claimed notices not sent are due again"),
        Err(error) => {
            tracing::warn!(%error, "stopping: claimed notices come back after their lease");
        }
    }
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
                for (sent, message) in claimed.messages.iter().enumerate() {
                    if *stopped.borrow() {
                        // Stopping: the rest of the batch is given back, for another
                        // instance to send now rather than after the lease.
                        release(&deliver, &claimed, &claimed.messages[sent..]).await;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use chrono::Utc;
    use slugbase_application::collaborators::audit_trail::AuditTrail;
    use slugbase_application::ports::{
        MailError, Mailer, Notice, OutboxMessage, OutboxQuery, OutboxRepository as _,
    };
    use slugbase_application::use_cases::deliver_notices::DeliveryPolicy;
    use slugbase_domain::{NoticeId, NoticeKind, NoticeStatus};
    use slugbase_infrastructure::crypto::SystemClock;
    use slugbase_infrastructure::memory::InMemoryStore;
    use tokio::sync::Notify;

    use super::*;

    /// A mailer whose send takes a while, and says when it started and finished.
    struct SlowMailer {
        started: Arc<Notify>,
        finished: Arc<AtomicBool>,
    }

    #[async_trait]
    impl Mailer for SlowMailer {
        async fn send(&self, _: &OutboxMessage) -> Result<(), MailError> {
            self.started.notify_one();
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.finished.store(true, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn shutdown_lets_the_send_in_progress_finish_and_gives_back_the_rest_of_the_batch() {
        let store = Arc::new(InMemoryStore::new());
        for _ in 0..3 {
            let notice = Notice {
                id: NoticeId::generate(),
                kind: NoticeKind::MfaDisabled,
                user_id: None,
                recipient: "ann@example.com".to_owned(),
                at: Utc::now(),
                client_addr: None,
                user_agent: None,
                codes_left: None,
                subject: None,
            };
            store.enqueue(notice).await.unwrap();
        }
        let started = Arc::new(Notify::new());
        let finished = Arc::new(AtomicBool::new(false));
        let mailer = SlowMailer { started: started.clone(), finished: finished.clone() };
        let clock = Arc::new(SystemClock);
        let deliver = DeliverNotices::new(
            store.clone(),
            Arc::new(mailer),
            AuditTrail::new(store.clone(), clock.clone()),
            clock,
            DeliveryPolicy::default(),
        );
        let task = DeliveryTask::spawn(deliver, Duration::from_millis(10));

        started.notified().await;
        task.shutdown().await;

        assert!(finished.load(Ordering::SeqCst), "the send finished before shutdown returned");
        let query = OutboxQuery { status: None, limit: 10, offset: 0 };
        let stored = store.list_notices(query).await.unwrap();
        let sent = stored.iter().filter(|m| m.status == NoticeStatus::Sent).count();
        assert_eq!(sent, 1, "the send in progress finished and its outcome was recorded");
        // The two claimed but not sent are due again now, not when the lease runs out.
        let now = Utc::now();
        let again = store.claim_due(now, now + chrono::TimeDelta::minutes(1), 10).await.unwrap();
        assert_eq!(again.len(), 2, "the rest of the batch was given back");
    }
}
