//! The notice outbox: e-mails to an account's owner, written in the transaction of the change
//! they report and delivered afterwards by a task on every instance (at least once).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{NoticeId, NoticeKind, NoticeStatus, User, UserId};

use super::audit::AuditEvent;
use super::store_error::{Listed, StoreResult};
use crate::caller::ClientInfo;

/// A notice to send: what happened to whose account, when, from where. Holds no secret,
/// code, token or password — there is no field that could.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Stable id (the e-mail's `Message-ID`).
    pub id: NoticeId,
    /// What happened.
    pub kind: NoticeKind,
    /// Whose account.
    pub user_id: Option<UserId>,
    /// The account's e-mail address.
    pub recipient: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// From which address.
    pub client_addr: Option<String>,
    /// With which user agent.
    pub user_agent: Option<String>,
    /// Backup codes left (after one was used to sign in).
    pub codes_left: Option<u32>,
    /// The API token's name, or the OIDC provider's.
    pub subject: Option<String>,
}

impl Notice {
    /// A `kind` notice to `user`'s address about a change made at `at` by `client`.
    #[must_use]
    pub fn about(kind: NoticeKind, user: &User, client: &ClientInfo, at: DateTime<Utc>) -> Self {
        Self {
            id: NoticeId::generate(),
            kind,
            user_id: Some(user.id),
            recipient: user.email.as_str().to_owned(),
            at,
            client_addr: client.address.clone(),
            user_agent: client.user_agent.clone(),
            codes_left: None,
            subject: None,
        }
    }

    /// With the number of backup codes left.
    #[must_use]
    pub const fn with_codes_left(mut self, left: u32) -> Self {
        self.codes_left = Some(left);
        self
    }

    /// With the token's or provider's name.
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

/// A stored notice and where its delivery stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The notice.
    pub notice: Notice,
    /// Pending, sent or failed.
    pub status: NoticeStatus,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Not to be tried before.
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed (the mail server's answer, never the body).
    pub last_error: Option<String>,
    /// When the mail server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
}

/// Which stored notices to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxQuery {
    /// Only this status.
    pub status: Option<NoticeStatus>,
    /// Page size.
    pub limit: u32,
    /// Rows to skip (newest first).
    pub offset: u64,
}

/// Which finished notices a purge deletes. A pending notice is never purged: there is no
/// variant that could name one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticePurge {
    /// Sent notices accepted by the mail server (`sent_at`) before this time.
    Sent {
        /// Exclusive bound on `sent_at`.
        before: DateTime<Utc>,
    },
    /// Failed notices whose last attempt was due (`next_attempt_at`) before this time.
    Failed {
        /// Exclusive bound on `next_attempt_at`.
        before: DateTime<Utc>,
    },
}

/// How the outbox stands: what the metrics report of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxStanding {
    /// Notices not sent yet (due or waiting for their retry).
    pub pending: u64,
    /// Notices given up on.
    pub failed: u64,
    /// When the oldest pending notice was stored, if any.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The outbox.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OutboxRepository: Send + Sync {
    /// Stores a pending notice on its own, due at once (for notices that report no change of
    /// their own, such as a lockout reached by an attempt already counted).
    ///
    /// # Errors
    /// Storage failures only.
    async fn enqueue(&self, notice: Notice) -> StoreResult<()>;

    /// Claims up to `limit` due notices (pending, `next_attempt_at <= now`, not held by
    /// another sender's claim) until `lease_until`, oldest first, and returns them.
    ///
    /// # Errors
    /// Storage failures only. MUST be atomic: of concurrent claims (on any instance) each
    /// notice goes to at most one while its lease lasts — on PostgreSQL without waiting for
    /// rows another claim holds (`FOR UPDATE SKIP LOCKED`). A notice whose lease ran out
    /// (its sender crashed) MUST be claimable again.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>>;

    /// Gives back what a sender claimed and will not send (it is stopping): each of `ids`
    /// still pending and still held by the claim that ends at `lease_until` (this sender's)
    /// is claimable again at once, not when the lease runs out. Returns how many it freed.
    ///
    /// # Errors
    /// Storage failures only. MUST leave alone a notice claimed since by another sender (its
    /// lease ends at another time), and a notice no longer pending.
    async fn release_claims(
        &self,
        ids: &[NoticeId],
        lease_until: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// The notice was accepted by the mail server: status `sent`, claim released.
    ///
    /// # Errors
    /// Storage failures only.
    async fn mark_sent(&self, id: NoticeId, attempts: u32, at: DateTime<Utc>) -> StoreResult<()>;

    /// The attempt failed: stays pending with `attempts` made, next try at `next_attempt_at`,
    /// claim released.
    ///
    /// # Errors
    /// Storage failures only.
    async fn retry_later(
        &self,
        id: NoticeId,
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()>;

    /// Given up: status `failed` and `audit` stored, in one transaction.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing.
    async fn mark_failed(
        &self,
        id: NoticeId,
        attempts: u32,
        error: &str,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    /// Stored notices, newest first; a stored notice that does not decode is logged (its id
    /// only, never its recipient or body) and listed as [`Listed::Damaged`] in its place, so
    /// one bad row never fails the page.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list_notices_listed(
        &self,
        query: OutboxQuery,
    ) -> StoreResult<Vec<Listed<OutboxMessage>>>;

    /// Stored notices, newest first, every one decoded
    /// ([`OutboxRepository::list_notices_listed`] for a page shown to people).
    ///
    /// # Errors
    /// Storage failures, and a stored notice that does not decode.
    async fn list_notices(&self, query: OutboxQuery) -> StoreResult<Vec<OutboxMessage>> {
        Listed::all_ok(self.list_notices_listed(query).await?)
    }

    /// Counts pending and failed notices and finds the oldest pending one (for metrics).
    ///
    /// # Errors
    /// Storage failures only.
    async fn outbox_standing(&self) -> StoreResult<OutboxStanding>;

    /// Deletes at most `limit` notices that `purge` names, and returns how many it deleted
    /// (fewer than `limit`: none of them are left). Bounded so that one call never holds
    /// the database's write lock (SQLite) or many row locks for long; call again for more.
    ///
    /// # Errors
    /// Storage failures only. MUST delete only notices of the purge's status and before its
    /// time — never a pending notice, never one of the other status.
    async fn purge_notices(&self, purge: NoticePurge, limit: u32) -> StoreResult<u64>;
}
