//! `POST /api/auth/logout`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::AuditEventKind;

use crate::caller::ClientInfo;
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::error::Unexpected;
use crate::ports::{SessionKind, SessionRepository, TokenDigest};

/// `POST /api/auth/logout`: revokes the server-side session (and any pending state).
#[derive(Clone)]
pub struct Logout {
    token_digest: Arc<dyn TokenDigest>,
    sessions: Arc<dyn SessionRepository>,
    audit: AuditTrail,
}

impl fmt::Debug for Logout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logout").finish_non_exhaustive()
    }
}

impl Logout {
    /// The use case: sessions are found in `sessions` by their `token_digest` and deleted;
    /// `audit` records the end of a signed-in one.
    #[must_use]
    pub fn new(
        token_digest: Arc<dyn TokenDigest>,
        sessions: Arc<dyn SessionRepository>,
        audit: AuditTrail,
    ) -> Self {
        Self { token_digest, sessions, audit }
    }
}

/// What the web adapter calls for `POST /api/auth/logout` (and to revoke what a new login
/// replaces); [`Logout`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LogoutUseCase: Send + Sync {
    /// See [`Logout::execute`].
    ///
    /// # Errors
    /// Storage failures.
    async fn execute<'a>(
        &self,
        session: Option<&'a str>,
        pending: Option<&'a str>,
        client: &ClientInfo,
    ) -> Result<(), Unexpected>;
}

#[async_trait]
impl LogoutUseCase for Logout {
    /// Ends whatever the cookies name. Idempotent.
    ///
    /// # Errors
    /// Storage failures.
    async fn execute<'a>(
        &self,
        session: Option<&'a str>,
        pending: Option<&'a str>,
        client: &ClientInfo,
    ) -> Result<(), Unexpected> {
        for token in [session, pending].into_iter().flatten() {
            let digest = self.token_digest.digest(token);
            let Some(record) = self.sessions.find(&digest).await? else { continue };
            if self.sessions.delete(&digest).await? && record.kind == SessionKind::Full {
                let entry = AuditEntry::new(AuditEventKind::Logout, Some(record.user_id), client);
                self.audit.record(entry).await;
            }
        }
        Ok(())
    }
}
