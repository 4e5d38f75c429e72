//! Sessions: starting them, telling whether one is still alive, ending the others after a
//! second-factor change.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use slugbase_domain::UserId;

use crate::caller::ClientInfo;
use crate::collaborators::token_minter::TokenMinter;
use crate::error::Unexpected;
use crate::plain_token::PlainToken;
use crate::ports::{
    Clock, EndSessions, SecretDigest, SessionKind, SessionRecord, SessionRepository, TokenDigest,
};

/// How long a new session lives, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLifetimes {
    /// A signed-in session, however active (absolute expiry).
    pub full_secs: u32,
    /// A pending-MFA state after a password login.
    pub pending_mfa_secs: u32,
}

/// Starts sessions: mints the id, stores only its digest.
#[derive(Clone)]
pub struct SessionIssuer {
    sessions: Arc<dyn SessionRepository>,
    token_digest: Arc<dyn TokenDigest>,
    minter: TokenMinter,
    clock: Arc<dyn Clock>,
    lifetimes: SessionLifetimes,
}

impl fmt::Debug for SessionIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionIssuer").field("lifetimes", &self.lifetimes).finish_non_exhaustive()
    }
}

impl SessionIssuer {
    /// An issuer storing sessions in `sessions` under their `token_digest`, with ids from
    /// `minter` and expiries from `clock` and `lifetimes`.
    #[must_use]
    pub fn new(
        sessions: Arc<dyn SessionRepository>,
        token_digest: Arc<dyn TokenDigest>,
        minter: TokenMinter,
        clock: Arc<dyn Clock>,
        lifetimes: SessionLifetimes,
    ) -> Self {
        Self { sessions, token_digest, minter, clock, lifetimes }
    }

    /// Creates and stores a session; returns the id for the cookie.
    pub(crate) async fn start(
        &self,
        user: UserId,
        kind: SessionKind,
        client: &ClientInfo,
    ) -> Result<PlainToken, Unexpected> {
        let (token, record) = self.prepare(user, kind, client);
        self.sessions.create(record).await?;
        Ok(token)
    }

    /// Mints a session without storing it: the id for the cookie and the record for a
    /// change to store in its own transaction
    /// ([`ChangeEffects::start_session`](crate::ports::ChangeEffects)).
    pub(crate) fn prepare(
        &self,
        user: UserId,
        kind: SessionKind,
        client: &ClientInfo,
    ) -> (PlainToken, SessionRecord) {
        let token = self.minter.mint("");
        let now = self.clock.now();
        let lifetime = match kind {
            SessionKind::Full => self.lifetimes.full_secs,
            SessionKind::PendingMfa => self.lifetimes.pending_mfa_secs,
        };
        let record = SessionRecord {
            id_hash: self.token_digest.digest(token.expose()),
            user_id: user,
            kind,
            created_at: now,
            last_seen_at: now,
            expires_at: now + TimeDelta::seconds(i64::from(lifetime)),
            failed_attempts: 0,
            client_addr: client.address.clone(),
            user_agent: client.user_agent.clone(),
        };
        (token, record)
    }
}

/// The expiry rule of stored sessions: absolute expiry, plus an idle limit for signed-in
/// sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionExpiry {
    idle_secs: u32,
}

impl SessionExpiry {
    /// A signed-in session unused for `idle_secs` is dead.
    #[must_use]
    pub const fn new(idle_secs: u32) -> Self {
        Self { idle_secs }
    }

    /// Whether a stored session is alive at `now`.
    pub(crate) fn is_alive(&self, session: &SessionRecord, now: DateTime<Utc>) -> bool {
        let idle = TimeDelta::seconds(i64::from(self.idle_secs));
        let idle_ok = session.kind == SessionKind::PendingMfa || now < session.last_seen_at + idle;
        now < session.expires_at && idle_ok
    }
}

/// Decides which sessions a change to a user's second factor ends, when configured to
/// (ASVS 5.0 7.4.3). Storage ends them in the change's own transaction
/// ([`ChangeEffects::end_sessions`](crate::ports::ChangeEffects)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRevoker {
    on_mfa_change: bool,
}

impl SessionRevoker {
    /// A revoker; with `on_mfa_change` off it ends nothing.
    #[must_use]
    pub const fn new(on_mfa_change: bool) -> Self {
        Self { on_mfa_change }
    }

    /// The sessions an MFA change ends: every one of the user's but `keep`, if configured.
    pub(crate) fn on_mfa_change(&self, keep: Option<&SecretDigest>) -> Option<EndSessions> {
        self.on_mfa_change.then(|| EndSessions { keep: keep.cloned() })
    }
}
