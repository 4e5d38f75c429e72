//! The notice delivery task: every instance looks for due notices every
//! `mail.poll_interval_ms`, claims them (a lease, so instances never send the same notice at
//! once) and sends them one after the other. Stopping lets the send in progress finish; the
//! claimed notices not yet sent come back when their lease runs out.

use std::time::Duration;

use slugbase_application::use_cases::deliver_notices::DeliverNotices;
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
    async fn shutdown_lets_the_send_in_progress_finish_and_record_it() {
        let store = Arc::new(InMemoryStore::new());
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
        assert_eq!(stored[0].status, NoticeStatus::Sent, "and its outcome was recorded");
    }
}
