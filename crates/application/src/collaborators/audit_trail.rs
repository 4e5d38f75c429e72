//! The audit trail: one stored event and one structured log line per security event.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::{AuditEventKind, AuditOutcome, ProofKind, UserId};

use crate::caller::ClientInfo;
use crate::ports::{AuditEvent, AuditLog, Clock};

/// Records audit events in the audit log, stamped with the clock's time.
#[derive(Clone)]
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditTrail").finish_non_exhaustive()
    }
}

impl AuditTrail {
    /// A trail over the audit `log`, stamping events with `clock`.
    #[must_use]
    pub fn new(log: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { log, clock }
    }

    /// Records an audit event and writes one structured log line for it. The operation has
    /// already happened, so a failed write is logged loudly rather than turned into an
    /// error the client would misread as "nothing changed".
    pub(crate) async fn record(&self, entry: AuditEntry<'_>) {
        let event = self.event(entry);
        Self::log_line(&event);
        let kind = event.kind;
        if let Err(error) = self.log.record(event).await {
            tracing::error!(error = %error, event = kind.as_str(), "audit event could not be stored");
        }
    }

    /// The event `entry` describes, stamped now, for storage to commit with the change it
    /// records ([`ChangeEffects`](crate::ports::ChangeEffects)).
    pub(crate) fn event(&self, entry: AuditEntry<'_>) -> AuditEvent {
        let outcome = match entry.reason {
            None => AuditOutcome::Success,
            Some(reason) => AuditOutcome::Failure(reason.to_owned()),
        };
        AuditEvent {
            at: self.clock.now(),
            user_id: entry.user,
            actor_id: entry.actor,
            kind: entry.kind,
            outcome,
            proof: entry.proof,
            detail: entry.detail,
            client_addr: entry.client.address.clone(),
            user_agent: entry.client.user_agent.clone(),
        }
    }

    /// Writes the structured log line of an event (target `audit`): by [`Self::record`], or
    /// by the use case once storage committed the event with its change.
    pub(crate) fn log_line(event: &AuditEvent) {
        let reason = match &event.outcome {
            AuditOutcome::Success => None,
            AuditOutcome::Failure(reason) => Some(reason.as_str()),
        };
        tracing::info!(
            target: "audit",
            event = event.kind.as_str(),
            user.id = event.user_id.map(|u| u.to_string()),
            actor.id = event.actor_id.map(|u| u.to_string()),
            outcome = if reason.is_none() { "success" } else { "failure" },
            reason,
            proof = event.proof.map(ProofKind::as_str),
            detail = event.detail.as_deref(),
            client.addr = event.client_addr.as_deref(),
            "audit event"
        );
    }
}

/// What [`AuditTrail::record`] records: a success unless [`Self::failure`] names a reason.
pub(crate) struct AuditEntry<'a> {
    kind: AuditEventKind,
    user: Option<UserId>,
    actor: Option<UserId>,
    reason: Option<&'a str>,
    proof: Option<ProofKind>,
    detail: Option<String>,
    client: &'a ClientInfo,
}

impl<'a> AuditEntry<'a> {
    /// A successful `kind` event on `user`'s account, by the user themself.
    pub(crate) const fn new(
        kind: AuditEventKind,
        user: Option<UserId>,
        client: &'a ClientInfo,
    ) -> Self {
        Self { kind, user, actor: None, reason: None, proof: None, detail: None, client }
    }

    /// The event is a failure, for this reason.
    pub(crate) const fn failure(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The kind of second factor presented.
    pub(crate) const fn with_proof(mut self, proof: Option<ProofKind>) -> Self {
        self.proof = proof;
        self
    }

    /// What else the event names (never a secret).
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Who acted, when not the user themself (`None`: the operator at the command line).
    pub(crate) const fn with_actor(mut self, actor: Option<UserId>) -> Self {
        self.actor = actor;
        self
    }
}
