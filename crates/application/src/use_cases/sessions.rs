//! `GET /api/auth/sessions`, `DELETE /api/auth/sessions/{id}`,
//! `POST /api/auth/sessions/revoke-others`: the caller's own signed-in sessions.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::AuditEventKind;

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::sessions::SessionExpiry;
use crate::error::Unexpected;
use crate::ports::{
    Clock, DamagedRow, Listed, SecretDigest, SessionKind, SessionRecord, SessionRepository,
    TokenDigest,
};

/// Hex characters of a session's public handle (128 bits).
const HANDLE_HEX_CHARS: usize = 32;

/// A live session as its owner sees it. `id` is a public handle derived one-way from the
/// stored digest: it names the session but cannot be turned into its cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    /// Public handle.
    pub id: String,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Last request seen.
    pub last_seen_at: DateTime<Utc>,
    /// Client address that started it.
    pub ip: Option<String>,
    /// User agent that started it.
    pub user_agent: Option<String>,
    /// The session the request came with.
    pub current: bool,
}

/// The caller's sessions: list them, end one, end all but the current one.
#[derive(Clone)]
pub struct ManageSessions {
    sessions: Arc<dyn SessionRepository>,
    token_digest: Arc<dyn TokenDigest>,
    expiry: SessionExpiry,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ManageSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManageSessions").finish_non_exhaustive()
    }
}

impl ManageSessions {
    /// The use case over `sessions`; handles are made with `token_digest`, liveness judged
    /// by `expiry` at the `clock`'s time, endings recorded in `audit`.
    #[must_use]
    pub fn new(
        sessions: Arc<dyn SessionRepository>,
        token_digest: Arc<dyn TokenDigest>,
        expiry: SessionExpiry,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { sessions, token_digest, expiry, audit, clock }
    }

    /// The public handle of a stored session.
    fn handle(&self, id_hash: &SecretDigest) -> String {
        let digest = self.token_digest.digest(&format!("session-handle:{}", id_hash.as_str()));
        digest.as_str().chars().take(HANDLE_HEX_CHARS).collect()
    }

    /// The caller's signed-in sessions that are alive, oldest first, and those that do not
    /// decode (whether they are alive cannot be told), as damaged under their public handle
    /// (logged so; never the stored digest).
    async fn live(&self, caller: &Caller) -> Result<Vec<Listed<SessionRecord>>, Unexpected> {
        let now = self.clock.now();
        let all = self.sessions.sessions_of_listed(caller.user.id).await?;
        Ok(all
            .into_iter()
            .filter_map(|listed| match listed {
                Listed::Ok(s) => (s.kind == SessionKind::Full && self.expiry.is_alive(&s, now))
                    .then_some(Listed::Ok(s)),
                Listed::Damaged(row) => Some(Listed::Damaged(self.damaged(row))),
            })
            .collect())
    }

    /// A damaged session row, named by its public handle instead of the stored digest, and
    /// logged so. A row whose digest does not read has no handle: its `id` is empty and its
    /// problem says so.
    fn damaged(&self, row: DamagedRow) -> DamagedRow {
        let DamagedRow { id: stored, problem } = row;
        let named = if stored.is_empty() {
            DamagedRow {
                id: String::new(),
                problem: format!("{problem}; the session's handle cannot be derived"),
            }
        } else {
            DamagedRow { id: self.handle(&SecretDigest::from_hex(stored)), problem }
        };
        named.log("sessions")
    }
}

/// What the web adapter calls for the session endpoints; [`ManageSessions`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ManageSessionsUseCase: Send + Sync {
    /// See [`ManageSessions::list`].
    ///
    /// # Errors
    /// Storage failures.
    async fn list(&self, caller: &Caller) -> Result<Vec<Listed<SessionView>>, Unexpected>;

    /// See [`ManageSessions::revoke`].
    ///
    /// # Errors
    /// Storage failures.
    async fn revoke<'a>(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        handle: &'a str,
    ) -> Result<bool, Unexpected>;

    /// See [`ManageSessions::revoke_others`].
    ///
    /// # Errors
    /// Storage failures.
    async fn revoke_others(&self, caller: &Caller, client: &ClientInfo) -> Result<u64, Unexpected>;
}

#[async_trait]
impl ManageSessionsUseCase for ManageSessions {
    /// The caller's live sessions; a stored session that does not decode is listed as
    /// damaged by its public handle, never failing the list.
    ///
    /// # Errors
    /// Storage failures.
    async fn list(&self, caller: &Caller) -> Result<Vec<Listed<SessionView>>, Unexpected> {
        let current = caller.session();
        Ok(self
            .live(caller)
            .await?
            .into_iter()
            .map(|listed| {
                listed.map(|s| SessionView {
                    id: self.handle(&s.id_hash),
                    created_at: s.created_at,
                    last_seen_at: s.last_seen_at,
                    current: current == Some(&s.id_hash),
                    ip: s.client_addr,
                    user_agent: s.user_agent,
                })
            })
            .collect())
    }

    /// Ends the caller's session with this handle; `false` when the caller has no such
    /// session (someone else's handle is no different from a made-up one).
    ///
    /// # Errors
    /// Storage failures.
    async fn revoke<'a>(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        handle: &'a str,
    ) -> Result<bool, Unexpected> {
        // A damaged row is not ended by handle (its kind cannot be told); revoke-others ends
        // it with the rest.
        let sessions = self.sessions.sessions_of_listed(caller.user.id).await?;
        let Some(session) = sessions
            .into_iter()
            .filter_map(Listed::ok)
            .find(|s| s.kind == SessionKind::Full && self.handle(&s.id_hash) == handle)
        else {
            return Ok(false);
        };
        if !self.sessions.delete(&session.id_hash).await? {
            return Ok(false);
        }
        let entry = AuditEntry::new(AuditEventKind::SessionRevoked, Some(caller.user.id), client);
        self.audit.record(entry).await;
        Ok(true)
    }

    /// Ends every session of the caller's but the current one (all of them for an API
    /// token caller); returns how many.
    ///
    /// # Errors
    /// Storage failures.
    async fn revoke_others(&self, caller: &Caller, client: &ClientInfo) -> Result<u64, Unexpected> {
        let ended = self.sessions.delete_for_user(caller.user.id, caller.session()).await?;
        let entry =
            AuditEntry::new(AuditEventKind::SessionsRevokedOthers, Some(caller.user.id), client);
        self.audit.record(entry).await;
        Ok(ended)
    }
}
