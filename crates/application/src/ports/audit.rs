//! The audit log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{AuditEventKind, AuditOutcome, ProofKind, UserId};

use super::store_error::{Listed, StoreResult};

/// One audit event. Holds no secret, code or password — by construction: there is no
/// field that could.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Whose account (absent for a login with an unknown e-mail).
    pub user_id: Option<UserId>,
    /// Who acted, when not the user (an administrator).
    pub actor_id: Option<UserId>,
    /// What happened.
    pub kind: AuditEventKind,
    /// Success, or the failure reason.
    pub outcome: AuditOutcome,
    /// The kind of second factor presented.
    pub proof: Option<ProofKind>,
    /// What else the event names, never a secret: the OIDC provider, the trusted `amr`.
    pub detail: Option<String>,
    /// Client address.
    pub client_addr: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// A stored audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAuditEvent {
    /// Sequence number (newer events have larger ids).
    pub id: i64,
    /// The event.
    pub event: AuditEvent,
}

/// An outcome to filter the audit log by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeFilter {
    /// Operations that did what was asked.
    Success,
    /// Refusals, whatever their reason.
    Failure,
}

impl OutcomeFilter {
    /// Whether `outcome` passes the filter.
    #[must_use]
    pub const fn admits(self, outcome: &AuditOutcome) -> bool {
        matches!(
            (self, outcome),
            (Self::Success, AuditOutcome::Success) | (Self::Failure, AuditOutcome::Failure(_))
        )
    }
}

/// Which events to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this user's.
    pub user_id: Option<UserId>,
    /// Only this kind.
    pub kind: Option<AuditEventKind>,
    /// Only successes, or only failures.
    pub outcome: Option<OutcomeFilter>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: u32,
    /// Events to skip (newest first).
    pub offset: u64,
}

/// The audit log.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an event.
    ///
    /// # Errors
    /// Storage failures only.
    async fn record(&self, event: AuditEvent) -> StoreResult<()>;

    /// Reads events, newest first; a stored event that does not decode is logged and listed
    /// as [`Listed::Damaged`] in its place, so one bad row never fails the page.
    ///
    /// # Errors
    /// Storage failures only.
    async fn query_listed(&self, query: AuditQuery) -> StoreResult<Vec<Listed<StoredAuditEvent>>>;

    /// Reads events, newest first, every one decoded ([`AuditLog::query_listed`] for a page
    /// shown to people).
    ///
    /// # Errors
    /// Storage failures, and a stored event that does not decode.
    async fn query(&self, query: AuditQuery) -> StoreResult<Vec<StoredAuditEvent>> {
        Listed::all_ok(self.query_listed(query).await?)
    }

    /// Deletes events older than `before`; returns how many (retention).
    ///
    /// # Errors
    /// Storage failures only.
    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
