//! Delivery of the notice outbox: claim due notices, send each, record the outcome.
//!
//! Every instance runs it (the server's delivery task). A claim holds a notice for a lease,
//! so two instances never send the same notice at once; a sender that crashes mid-send
//! leaves its notices to come back when the lease runs out — at least once, never zero.
//! Failed attempts are retried with exponential backoff up to the configured number of
//! attempts, then the notice is marked failed and an audit event says so.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use slugbase_domain::{AuditEventKind, retry_delay_secs};

use crate::caller::ClientInfo;
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::error::Unexpected;
use crate::ports::{Clock, Mailer, OutboxMessage, OutboxRepository};

/// How delivery retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts per notice before it is marked failed.
    pub max_attempts: u32,
    /// Wait after the first failed attempt, doubled after each further one.
    pub retry_base_secs: u32,
    /// Longest wait between attempts.
    pub retry_cap_secs: u32,
    /// How long a claim holds a notice (longer than one send can take).
    pub lease_secs: u32,
    /// Notices claimed at once.
    pub batch: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_base_secs: 30,
            retry_cap_secs: 3600,
            lease_secs: 120,
            batch: 20,
        }
    }
}

/// What became of one notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The mail server accepted it.
    Sent,
    /// It failed and will be retried.
    Retrying,
    /// It failed for the last time (or for good) and is marked failed.
    Failed,
}

/// A batch of notices claimed by one sender, held until `lease_until`.
#[derive(Debug)]
pub struct Claimed {
    /// The notices, oldest first.
    pub messages: Vec<OutboxMessage>,
    /// When the claim runs out (and names it: see [`DeliverNotices::release`]).
    pub lease_until: DateTime<Utc>,
}

/// Sends what the outbox holds.
#[derive(Clone)]
pub struct DeliverNotices {
    outbox: Arc<dyn OutboxRepository>,
    mailer: Arc<dyn Mailer>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
}

impl fmt::Debug for DeliverNotices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliverNotices").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl DeliverNotices {
    /// Delivery from `outbox` through `mailer` at the `clock`'s time, failures recorded in
    /// `audit`, retried as `policy` says.
    #[must_use]
    pub fn new(
        outbox: Arc<dyn OutboxRepository>,
        mailer: Arc<dyn Mailer>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
    ) -> Self {
        Self { outbox, mailer, audit, clock, policy }
    }

    /// Claims the notices due now (at most one batch) until the policy's lease.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn claim(&self) -> Result<Claimed, Unexpected> {
        let now = self.clock.now();
        let lease_until = now + TimeDelta::seconds(i64::from(self.policy.lease_secs));
        let messages = self.outbox.claim_due(now, lease_until, self.policy.batch).await?;
        Ok(Claimed { messages, lease_until })
    }

    /// Gives back `unsent`, claimed in `claimed` and not delivered because the sender is
    /// stopping: they are due again at once (for another instance, or this one after its
    /// restart), not when the lease runs out. How many were given back.
    ///
    /// # Errors
    /// Storage failures (the notices then come back when the lease runs out).
    pub async fn release(
        &self,
        claimed: &Claimed,
        unsent: &[OutboxMessage],
    ) -> Result<u64, Unexpected> {
        let ids: Vec<_> = unsent.iter().map(|message| message.notice.id).collect();
        Ok(self.outbox.release_claims(&ids, claimed.lease_until).await?)
    }

    /// Sends one claimed notice and records the outcome.
    ///
    /// # Errors
    /// Storage failures while recording (the claim then runs out and the notice comes back).
    pub async fn deliver(&self, message: &OutboxMessage) -> Result<Delivery, Unexpected> {
        let id = message.notice.id;
        let attempts = message.attempts.saturating_add(1);
        let error = match self.mailer.send(message).await {
            Ok(()) => {
                self.outbox.mark_sent(id, attempts, self.clock.now()).await?;
                tracing::info!(
                    notice.id = %id,
                    notice.kind = message.notice.kind.as_str(),
                    attempts,
                    "notice sent"
                );
                return Ok(Delivery::Sent);
            }
            Err(error) => error,
        };
        if error.permanent || attempts >= self.policy.max_attempts {
            let nobody = ClientInfo::default();
            let entry = AuditEntry::new(
                AuditEventKind::NoticeDeliveryFailed,
                message.notice.user_id,
                &nobody,
            )
            .failure(message.notice.kind.as_str());
            let event = self.audit.event(entry);
            self.outbox.mark_failed(id, attempts, &error.message, event.clone()).await?;
            AuditTrail::log_line(&event);
            tracing::error!(
                notice.id = %id,
                notice.kind = message.notice.kind.as_str(),
                attempts,
                error = %error.message,
                "notice could not be delivered; giving up"
            );
            return Ok(Delivery::Failed);
        }
        let delay =
            retry_delay_secs(attempts, self.policy.retry_base_secs, self.policy.retry_cap_secs);
        let next = self.clock.now() + TimeDelta::seconds(i64::from(delay));
        self.outbox.retry_later(id, attempts, next, &error.message).await?;
        tracing::warn!(
            notice.id = %id,
            notice.kind = message.notice.kind.as_str(),
            attempts,
            retry_in_secs = delay,
            error = %error.message,
            "notice delivery failed; will retry"
        );
        Ok(Delivery::Retrying)
    }

    /// Claims what is due and delivers it, one after the other; how many were handled.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn run_once(&self) -> Result<usize, Unexpected> {
        let claimed = self.claim().await?;
        for message in &claimed.messages {
            self.deliver(message).await?;
        }
        Ok(claimed.messages.len())
    }
}
