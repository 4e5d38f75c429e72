//! One request's reserved attempt, carried once: who makes it, from where, and its ticket.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use slugbase_domain::{AuditEventKind, ProofKind, User};

use crate::caller::ClientInfo;
use crate::collaborators::attempt_limiter::{AttemptLimiter, AttemptTicket};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::error::Unexpected;
use crate::ports::{ChangeEffects, Clock};

/// An attempt reserved for one request (a guess at a code or a password, on `user`'s
/// account, from `client`). It ends one way: given back (no guess), failed (counted and
/// audited), or committed with the change it succeeded at.
pub(crate) struct Attempt<'a> {
    limiter: &'a AttemptLimiter,
    audit: &'a AuditTrail,
    clock: &'a Arc<dyn Clock>,
    user: &'a User,
    client: &'a ClientInfo,
    ticket: AttemptTicket,
}

impl<'a> Attempt<'a> {
    /// `ticket`, reserved by `limiter` for `user` from `client`; refusals are recorded in
    /// `audit` at the `clock`'s time.
    pub(crate) const fn new(
        limiter: &'a AttemptLimiter,
        audit: &'a AuditTrail,
        clock: &'a Arc<dyn Clock>,
        user: &'a User,
        client: &'a ClientInfo,
        ticket: AttemptTicket,
    ) -> Self {
        Self { limiter, audit, clock, user, client, ticket }
    }

    /// The account the attempt is made against.
    pub(crate) const fn user(&self) -> &'a User {
        self.user
    }

    /// Where the attempt comes from.
    pub(crate) const fn client(&self) -> &'a ClientInfo {
        self.client
    }

    /// The time now, by the clock refusals are recorded at.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The request never came to a guess: the attempt is given back.
    ///
    /// # Errors
    /// If storage fails.
    pub(crate) async fn release(self) -> Result<(), Unexpected> {
        self.limiter.release(self.ticket).await
    }

    /// The guess failed: the attempt stays counted (a second-factor lockout reached is
    /// reported to the owner) and `event` is audited as a failure for `reason`.
    pub(crate) async fn failed(
        self,
        event: AuditEventKind,
        reason: &str,
        proof: Option<ProofKind>,
    ) {
        self.limiter.failed(self.ticket, self.user, self.client, self.clock.now()).await;
        let entry = AuditEntry::new(event, Some(self.user.id), self.client)
            .failure(reason)
            .with_proof(proof);
        self.audit.record(entry).await;
    }

    /// The request was refused before it came to a guess: the attempt is given back and
    /// `event` is audited as a failure for `reason`.
    ///
    /// # Errors
    /// If storage fails (then nothing is audited).
    pub(crate) async fn refused(
        self,
        event: AuditEventKind,
        reason: &str,
        proof: Option<ProofKind>,
    ) -> Result<(), Unexpected> {
        self.limiter.release(self.ticket).await?;
        let entry = AuditEntry::new(event, Some(self.user.id), self.client)
            .failure(reason)
            .with_proof(proof);
        self.audit.record(entry).await;
        Ok(())
    }

    /// What the change this attempt succeeds at commits with it, in its transaction: the
    /// success `event` (made with `proof`, if a second factor) and the attempt given back with
    /// the account's consecutive-failure run ended. The caller adds what else it commits.
    pub(crate) fn effects(&self, event: AuditEventKind, proof: Option<ProofKind>) -> ChangeEffects {
        let entry = AuditEntry::new(event, Some(self.user.id), self.client).with_proof(proof);
        let mut effects = ChangeEffects::audited(self.audit.event(entry));
        effects.releases = self.ticket.success_releases();
        effects
    }

    /// Storage committed the change with its `effects`: nothing is left to do or to fail but
    /// the audit events' log lines.
    pub(crate) fn committed(self, effects: &ChangeEffects) {
        self.ticket.released_with_change();
        AuditTrail::log_line(&effects.audit);
        effects.also_audit.iter().for_each(AuditTrail::log_line);
    }
}
