//! Recognising callers: cookie sessions and API tokens.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use chrono::TimeDelta;

use crate::caller::{Caller, CallerAuth};
use crate::collaborators::mfa_policy::MfaPolicyCheck;
use crate::collaborators::sessions::SessionExpiry;
use crate::collaborators::token_minter::API_TOKEN_PREFIX;
use crate::error::{Unexpected, unexpected_from_ports};
use crate::ports::{
    ApiTokenRepository, Background, CallerRecord, Clock, SessionKind, SessionRepository,
    TokenDigest,
};

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No valid session or token (401 `UNAUTHENTICATED`).
    #[error("authentication required")]
    Unauthenticated,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

unexpected_from_ports!(AuthError);

/// Recognises callers by session cookie or API token, on every request: one storage round
/// trip reads the credential, its owner and the owner's unused backup codes (nothing is
/// cached, so a deleted session or revoked token fails on the very next request), and where
/// the owner stands with the MFA policy at that moment ([`Caller::mfa_standing`]). The
/// throttled "last seen" / "last used" write — and, once per user, the start of an MFA grace
/// period no sign-in has started — is handed to [`Background`]: the request neither waits
/// for it nor fails with it.
#[derive(Clone)]
pub struct Authenticate {
    token_digest: Arc<dyn TokenDigest>,
    sessions: Arc<dyn SessionRepository>,
    expiry: SessionExpiry,
    tokens: Arc<dyn ApiTokenRepository>,
    clock: Arc<dyn Clock>,
    touch_interval_secs: u32,
    background: Arc<dyn Background>,
    policy: MfaPolicyCheck,
}

impl fmt::Debug for Authenticate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticate")
            .field("expiry", &self.expiry)
            .field("touch_interval_secs", &self.touch_interval_secs)
            .finish_non_exhaustive()
    }
}

impl Authenticate {
    /// The use case: sessions (judged by `expiry`) and `tokens` are looked up, each with its
    /// owner, by their `token_digest`; activity is written back at most every
    /// `touch_interval_secs` by the `clock`, on `background`; the owner is judged by
    /// `policy`.
    #[must_use]
    #[expect(clippy::too_many_arguments, reason = "a use case names every port it holds")]
    pub fn new(
        token_digest: Arc<dyn TokenDigest>,
        sessions: Arc<dyn SessionRepository>,
        expiry: SessionExpiry,
        tokens: Arc<dyn ApiTokenRepository>,
        clock: Arc<dyn Clock>,
        touch_interval_secs: u32,
        background: Arc<dyn Background>,
        policy: MfaPolicyCheck,
    ) -> Self {
        Self {
            token_digest,
            sessions,
            expiry,
            tokens,
            clock,
            touch_interval_secs,
            background,
            policy,
        }
    }

    /// The caller for `found`'s owner at `now`, with their standing under the MFA policy.
    fn caller<R>(
        &self,
        found: CallerRecord<R>,
        auth: CallerAuth,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Caller {
        let mut user = found.user;
        let mfa_standing = self.policy.on_request(&mut user, now, self.background.as_ref());
        Caller { user, auth, backup_codes_remaining: found.backup_codes_remaining, mfa_standing }
    }
}

/// What the web adapter calls on every authenticated request; [`Authenticate`] implements
/// it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuthenticateUseCase: Send + Sync {
    /// See [`Authenticate::session`].
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`], or storage failures.
    async fn session(&self, session_id: &str) -> Result<Caller, AuthError>;

    /// See [`Authenticate::api_token`].
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`], or storage failures.
    async fn api_token(&self, token: &str) -> Result<Caller, AuthError>;
}

#[async_trait]
impl AuthenticateUseCase for Authenticate {
    /// The caller behind a `slugbase.sid` value. Expired (idle or absolute) and revoked
    /// sessions fail at once.
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`].
    async fn session(&self, session_id: &str) -> Result<Caller, AuthError> {
        let now = self.clock.now();
        let digest = self.token_digest.digest(session_id);
        // One round trip: the session, its owner and the owner's unused backup codes.
        let found = self.sessions.find_caller(&digest).await?;
        let Some(found) = found.filter(|f| f.credential.kind == SessionKind::Full) else {
            return Err(AuthError::Unauthenticated);
        };
        let session = &found.credential;
        if !self.expiry.is_alive(session, now) {
            self.sessions.delete(&digest).await?;
            return Err(AuthError::Unauthenticated);
        }
        // Besides deleting an expired session, the only other write on this path — at most
        // once per interval per session, and off the request's path: the throttled "last
        // seen" idle expiry counts from. If it fails, idle expiry counts from the last one
        // that did not.
        let interval = TimeDelta::seconds(i64::from(self.touch_interval_secs));
        if now >= session.last_seen_at + interval {
            let (sessions, digest) = (Arc::clone(&self.sessions), digest.clone());
            self.background.run(Box::pin(async move {
                if let Err(error) = sessions.touch(&digest, now).await {
                    tracing::warn!(%error, "recording a session's last activity failed");
                }
            }));
        }
        Ok(self.caller(found, CallerAuth::Session(digest), now))
    }

    /// The caller behind `Authorization: Bearer sb_…`. A revoked token fails at once.
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`].
    async fn api_token(&self, token: &str) -> Result<Caller, AuthError> {
        if !token.starts_with(API_TOKEN_PREFIX) {
            return Err(AuthError::Unauthenticated);
        }
        let digest = self.token_digest.digest(token);
        // One round trip: the token (unless revoked), its owner and the owner's unused
        // backup codes.
        let found = self.tokens.find_caller(&digest).await?;
        let Some(found) = found else { return Err(AuthError::Unauthenticated) };
        let record = &found.credential;
        // The only write on this path, at most once per interval per token and off the
        // request's path: the throttled "last used" shown in the token list.
        let now = self.clock.now();
        let interval = TimeDelta::seconds(i64::from(self.touch_interval_secs));
        if record.last_used_at.is_none_or(|at| now >= at + interval) {
            let (tokens, id) = (Arc::clone(&self.tokens), record.id);
            self.background.run(Box::pin(async move {
                if let Err(error) = tokens.touch(id, now).await {
                    tracing::warn!(%error, "recording an API token's last use failed");
                }
            }));
        }
        let auth = CallerAuth::ApiToken(record.id);
        Ok(self.caller(found, auth, now))
    }
}
