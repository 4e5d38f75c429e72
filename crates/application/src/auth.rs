//! Signing in and out, and recognising callers.

use chrono::TimeDelta;
use slugbase_domain::{AuditEventKind, Email, LoginMethod, MfaState, Password, User};

use crate::attempts::{AttemptAccount, AttemptKind, LimitError, TooManyAttempts};
use crate::core::{AuditEntry, use_case};
use crate::error::{Unexpected, ValidationErrors};
use crate::ports::{SessionKind, SessionRecord};
use crate::{Caller, CallerAuth, ClientInfo, PlainToken};

/// Prefix of personal API tokens.
pub const API_TOKEN_PREFIX: &str = "sb_";

/// The login body.
#[derive(Clone, Debug)]
pub struct LoginInput {
    /// E-mail as typed.
    pub email: String,
    /// Password.
    pub password: Password,
}

/// How a correct password login continues.
#[derive(Clone, Debug)]
pub enum LoginOutcome {
    /// No MFA: a session (`slugbase.sid`).
    SignedIn {
        /// The account.
        user: Box<User>,
        /// Session id for the cookie.
        session: PlainToken,
    },
    /// MFA on: a pending-MFA state (`slugbase.mfa_pending`), good only for verify.
    MfaRequired {
        /// Pending id for the cookie.
        pending: PlainToken,
    },
}

/// Why login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Over the attempt limit.
    #[error(transparent)]
    TooManyAttempts(TooManyAttempts),
    /// Body malformed.
    #[error(transparent)]
    Validation(ValidationErrors),
    /// Unknown e-mail, wrong password, or an OIDC-only account: always the same answer.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

macro_rules! from_limit_error {
    ($error:ident) => {
        impl From<LimitError> for $error {
            fn from(e: LimitError) -> Self {
                match e {
                    LimitError::TooMany(t) => Self::TooManyAttempts(t),
                    LimitError::Unexpected(u) => Self::Unexpected(u),
                }
            }
        }
    };
}
from_limit_error!(LoginError);
from_limit_error!(VerifyLoginError);

/// Longest e-mail kept in an attempt-counter key (longer input is not an address anyway).
const MAX_KEY_EMAIL: usize = 254;

use_case! {
    /// `POST /api/auth/login`: e-mail + password. An unknown e-mail costs the same time as a
    /// wrong password (the hasher verifies against a dummy hash).
    Login
}

impl Login {
    /// Checks the credentials.
    ///
    /// # Errors
    /// [`LoginError`].
    #[tracing::instrument(name = "login", skip_all)]
    pub async fn execute(
        &self,
        client: &ClientInfo,
        input: Result<LoginInput, ValidationErrors>,
    ) -> Result<LoginOutcome, LoginError> {
        let core = &self.core;
        let input = input.map_err(LoginError::Validation)?;
        let email = Email::parse(&input.email).ok();
        let key = email.as_ref().map_or_else(
            || input.email.trim().to_lowercase().chars().take(MAX_KEY_EMAIL).collect(),
            |e| e.as_str().to_owned(),
        );
        let account = AttemptAccount::Email(key);
        let address = client.address.as_deref();
        // Counted before the hash is checked, so a burst of guesses cannot all pass a check
        // that only sees failures already recorded.
        let ticket =
            core.limiter.reserve(AttemptKind::Password, &account, address, core.now()).await?;

        let user = match &email {
            Some(email) => core.deps.users.find_by_email(email).await?,
            None => None,
        };
        let hash = user.as_ref().and_then(|u| match &u.login {
            LoginMethod::Local(hash) => Some(hash),
            LoginMethod::OidcOnly => None,
        });
        let verified = core.deps.passwords.verify(&input.password, hash).await?;
        let user = match user {
            Some(user) if verified && hash.is_some() => user,
            user => {
                ticket.failed();
                let entry = AuditEntry::new(AuditEventKind::LoginFail, user.map(|u| u.id), client)
                    .failed("INVALID_CREDENTIALS");
                core.audit(entry).await;
                return Err(LoginError::InvalidCredentials);
            }
        };
        core.limiter.succeeded(ticket).await?;
        if user.mfa.is_enabled() {
            let pending = core.start_session(user.id, SessionKind::PendingMfa).await?;
            return Ok(LoginOutcome::MfaRequired { pending });
        }
        let session = core.start_session(user.id, SessionKind::Full).await?;
        core.audit(AuditEntry::new(AuditEventKind::LoginSuccess, Some(user.id), client)).await;
        Ok(LoginOutcome::SignedIn { user: Box::new(user), session })
    }
}

/// Why verify failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyLoginError {
    /// No pending-MFA state, expired, used, or dropped after too many wrong codes (401
    /// `MFA_PENDING_INVALID`).
    #[error("pending MFA login is invalid or expired")]
    PendingInvalid,
    /// Over the attempt limit.
    #[error(transparent)]
    TooManyAttempts(TooManyAttempts),
    /// Body malformed.
    #[error(transparent)]
    Validation(ValidationErrors),
    /// Wrong, used or replayed code.
    #[error("TOTP or unused backup code is invalid")]
    InvalidCode,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

use_case! {
    /// `POST /api/auth/mfa/verify`: the second step of a login with MFA. The pending state
    /// is server-side and single-use.
    VerifyLogin
}

impl VerifyLogin {
    /// Checks the code; on success ends the pending state and starts a session.
    ///
    /// # Errors
    /// [`VerifyLoginError`]; the pending state is checked before the body.
    #[tracing::instrument(name = "verify_login", skip_all)]
    pub async fn execute(
        &self,
        pending: Option<&str>,
        client: &ClientInfo,
        code: Result<String, ValidationErrors>,
    ) -> Result<(User, PlainToken), VerifyLoginError> {
        let core = &self.core;
        let Some(pending) = pending else { return Err(VerifyLoginError::PendingInvalid) };
        let digest = core.deps.token_digest.digest(pending);
        let session = core.deps.sessions.find(&digest).await?;
        let session = match session {
            Some(s) if s.kind == SessionKind::PendingMfa && core.session_alive(&s, core.now()) => s,
            _ => return Err(VerifyLoginError::PendingInvalid),
        };
        let user = core.deps.users.find_by_id(session.user_id).await?;
        let Some(user) = user else { return Err(VerifyLoginError::PendingInvalid) };
        let account = AttemptAccount::User(user.id);
        let address = client.address.as_deref();
        let ticket =
            core.limiter.reserve(AttemptKind::SecondFactor, &account, address, core.now()).await?;
        let code = match code {
            Ok(code) => code,
            Err(errors) => {
                core.limiter.release(ticket).await?;
                return Err(VerifyLoginError::Validation(errors));
            }
        };

        let MfaState::Enabled { secret, last_totp_step, .. } = &user.mfa else {
            // MFA was reset since the password step: start over.
            core.limiter.release(ticket).await?;
            core.deps.sessions.delete(&digest).await?;
            return Err(VerifyLoginError::PendingInvalid);
        };
        // The pending state's own budget is reserved before the code is checked too.
        let max = core.settings.pending_mfa_max_attempts;
        let Some(attempts) = core.deps.sessions.reserve_attempt(&digest, max).await? else {
            core.limiter.release(ticket).await?;
            core.deps.sessions.delete(&digest).await?;
            return Err(VerifyLoginError::PendingInvalid);
        };
        let (kind, proof) = core.proof_for(user.id, secret, *last_totp_step, &code)?;
        let spent = match &proof {
            Some(proof) => core.deps.mfa.spend_proof(user.id, proof, core.now()).await?,
            None => false,
        };
        if !spent {
            if attempts >= max {
                core.deps.sessions.delete(&digest).await?;
            }
            ticket.failed();
            let entry = AuditEntry::new(AuditEventKind::MfaVerifyFail, Some(user.id), client)
                .failed("INVALID_CODE")
                .proof(kind);
            core.audit(entry).await;
            return Err(VerifyLoginError::InvalidCode);
        }
        if !core.deps.sessions.delete(&digest).await? {
            // A concurrent verify with the same pending state won; this code was right.
            core.limiter.release(ticket).await?;
            return Err(VerifyLoginError::PendingInvalid);
        }
        let token = core.start_session(user.id, SessionKind::Full).await?;
        core.limiter.succeeded(ticket).await?;
        core.audit(
            AuditEntry::new(AuditEventKind::MfaVerifySuccess, Some(user.id), client).proof(kind),
        )
        .await;
        core.audit(
            AuditEntry::new(AuditEventKind::LoginSuccess, Some(user.id), client).proof(kind),
        )
        .await;
        Ok((user, token))
    }
}

use_case! {
    /// `POST /api/auth/logout`: revokes the server-side session (and any pending state).
    Logout
}

impl Logout {
    /// Ends whatever the cookies name. Idempotent.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn execute(
        &self,
        session: Option<&str>,
        pending: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), Unexpected> {
        let core = &self.core;
        for token in [session, pending].into_iter().flatten() {
            let digest = core.deps.token_digest.digest(token);
            let Some(record) = core.deps.sessions.find(&digest).await? else { continue };
            if core.deps.sessions.delete(&digest).await? && record.kind == SessionKind::Full {
                core.audit(AuditEntry::new(AuditEventKind::Logout, Some(record.user_id), client))
                    .await;
            }
        }
        Ok(())
    }
}

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

use_case! {
    /// Recognises callers by session cookie or API token, on every request.
    Authenticate
}

impl Authenticate {
    /// The caller behind a `slugbase.sid` value. Expired (idle or absolute) and revoked
    /// sessions fail at once.
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`].
    pub async fn session(&self, session_id: &str) -> Result<Caller, AuthError> {
        let core = &self.core;
        let now = core.now();
        let digest = core.deps.token_digest.digest(session_id);
        let session = core.deps.sessions.find(&digest).await?;
        let Some(session) = session.filter(|s| s.kind == SessionKind::Full) else {
            return Err(AuthError::Unauthenticated);
        };
        if !core.session_alive(&session, now) {
            core.deps.sessions.delete(&digest).await?;
            return Err(AuthError::Unauthenticated);
        }
        let user = self.user(&session).await?;
        let interval = TimeDelta::seconds(i64::from(core.settings.touch_interval_secs));
        if now >= session.last_seen_at + interval {
            core.deps.sessions.touch(&digest, now).await?;
        }
        Ok(Caller { user, auth: CallerAuth::Session(digest) })
    }

    async fn user(&self, session: &SessionRecord) -> Result<User, AuthError> {
        let user = self.core.deps.users.find_by_id(session.user_id).await?;
        user.ok_or(AuthError::Unauthenticated)
    }

    /// The caller behind `Authorization: Bearer sb_…`. A revoked token fails at once.
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`].
    pub async fn api_token(&self, token: &str) -> Result<Caller, AuthError> {
        let core = &self.core;
        if !token.starts_with(API_TOKEN_PREFIX) {
            return Err(AuthError::Unauthenticated);
        }
        let digest = core.deps.token_digest.digest(token);
        let record = core.deps.tokens.find_active(&digest).await?;
        let Some(record) = record else { return Err(AuthError::Unauthenticated) };
        let user = core.deps.users.find_by_id(record.user_id).await?;
        let Some(user) = user else { return Err(AuthError::Unauthenticated) };
        let now = core.now();
        let interval = TimeDelta::seconds(i64::from(core.settings.touch_interval_secs));
        if record.last_used_at.is_none_or(|at| now >= at + interval) {
            core.deps.tokens.touch(record.id, now).await?;
        }
        Ok(Caller { user, auth: CallerAuth::ApiToken(record.id) })
    }
}
