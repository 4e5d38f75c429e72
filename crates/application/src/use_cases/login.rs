//! `POST /api/auth/login`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::{
    AuditEventKind, Email, LoginMethod, Password, PasswordHash, PasswordHashKind, User, UserId,
};

use crate::caller::ClientInfo;
use crate::collaborators::attempt_limiter::{
    AttemptAccount, AttemptKind, AttemptLimiter, LimitError, TooManyAttempts,
};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::mfa_policy::MfaPolicyCheck;
use crate::collaborators::sessions::SessionIssuer;
use crate::error::{InputRejected, Unexpected, unexpected_from_ports};
use crate::plain_token::PlainToken;
use crate::ports::{ChangeEffects, Clock, PasswordHasher, SessionKind, UserRepository};

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
    /// No MFA: a session (`slugbase.sid`) — one that reaches only enrolment while the MFA
    /// policy holds the account to it ([`MfaStanding::Overdue`](slugbase_domain::MfaStanding)).
    SignedIn {
        /// The account (with its grace period's start, when this login started it).
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
    /// The adapter could not read the input from the request (it says why).
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
    /// Unknown e-mail, wrong password, or an OIDC-only account: always the same answer.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<LimitError> for LoginError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::TooMany(t) => Self::TooManyAttempts(t),
            LimitError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

unexpected_from_ports!(LoginError);

/// Longest e-mail kept in an attempt-counter key (longer input is not an address anyway).
const MAX_KEY_EMAIL: usize = 254;

/// `POST /api/auth/login`: e-mail + password. An unknown e-mail costs the same time as a
/// wrong password (the hasher verifies against a dummy hash).
#[derive(Clone)]
pub struct Login {
    limiter: AttemptLimiter,
    users: Arc<dyn UserRepository>,
    passwords: Arc<dyn PasswordHasher>,
    issuer: SessionIssuer,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    policy: MfaPolicyCheck,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login").field("limiter", &self.limiter).finish_non_exhaustive()
    }
}

impl Login {
    /// The use case: `limiter` counts the attempt at the `clock`'s time, `users` finds the
    /// account, `passwords` checks the password, `issuer` starts the session (or the
    /// pending-MFA state), `audit` records the outcome; `policy` starts the account's MFA
    /// grace period when this is its first sign-in under a policy that requires MFA of it.
    #[must_use]
    pub fn new(
        limiter: AttemptLimiter,
        users: Arc<dyn UserRepository>,
        passwords: Arc<dyn PasswordHasher>,
        issuer: SessionIssuer,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
        policy: MfaPolicyCheck,
    ) -> Self {
        Self { limiter, users, passwords, issuer, audit, clock, policy }
    }
}

impl Login {
    /// Starts the sign-in's session (or pending-MFA state). With a `legacy` hash (imported
    /// from SlugBase, just verified) the hash is replaced by an Argon2id one of `password`
    /// in the same transaction as the session, audited `password_hash_upgraded`; when a
    /// concurrent sign-in replaced it first, the session starts alone (the password was
    /// right all the same).
    async fn start(
        &self,
        user: UserId,
        kind: SessionKind,
        legacy: Option<&PasswordHash>,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<PlainToken, LoginError> {
        let Some(old) = legacy else { return Ok(self.issuer.start(user, kind, client).await?) };
        let new = self.passwords.hash(password).await?;
        let (token, record) = self.issuer.prepare(user, kind, client);
        let event = self.audit.event(AuditEntry::new(
            AuditEventKind::PasswordHashUpgraded,
            Some(user),
            client,
        ));
        let effects =
            ChangeEffects { start_session: Some(record), ..ChangeEffects::audited(event) };
        if self.users.upgrade_password_hash(user, old, new, &effects).await? {
            AuditTrail::log_line(&effects.audit);
            return Ok(token);
        }
        Ok(self.issuer.start(user, kind, client).await?)
    }
}

/// What the web adapter calls for `POST /api/auth/login`; [`Login`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LoginUseCase: Send + Sync {
    /// See [`Login::execute`].
    ///
    /// # Errors
    /// [`LoginError`].
    async fn execute(
        &self,
        client: &ClientInfo,
        input: Result<LoginInput, InputRejected>,
    ) -> Result<LoginOutcome, LoginError>;
}

#[async_trait]
impl LoginUseCase for Login {
    /// Checks the credentials.
    ///
    /// # Errors
    /// [`LoginError`].
    #[tracing::instrument(name = "login", skip_all)]
    async fn execute(
        &self,
        client: &ClientInfo,
        input: Result<LoginInput, InputRejected>,
    ) -> Result<LoginOutcome, LoginError> {
        let input = input?;
        let email = Email::parse(&input.email).ok();
        let key = email.as_ref().map_or_else(
            || input.email.trim().to_lowercase().chars().take(MAX_KEY_EMAIL).collect(),
            |e| e.as_str().to_owned(),
        );
        let account = AttemptAccount::Email(key);
        let address = client.address.as_deref();
        // Counted before the hash is checked, so a burst of guesses cannot all pass a check
        // that only sees failures already recorded.
        let ticket = self
            .limiter
            .reserve(AttemptKind::Password, &account, address, self.clock.now())
            .await?;

        let user = match &email {
            Some(email) => self.users.find_by_email(email).await?,
            None => None,
        };
        let hash = user.as_ref().and_then(|u| match &u.login {
            LoginMethod::Local(hash) => Some(hash),
            LoginMethod::OidcOnly => None,
        });
        let verified = self.passwords.verify(&input.password, hash).await?;
        // An imported SlugBase hash is replaced by ours with this sign-in's session.
        let legacy = hash.filter(|h| h.kind() == PasswordHashKind::LegacyBcrypt).cloned();
        let mut user = match user {
            Some(user) if verified && hash.is_some() => user,
            user => {
                ticket.failed();
                let entry = AuditEntry::new(AuditEventKind::LoginFail, user.map(|u| u.id), client)
                    .failure("INVALID_CREDENTIALS");
                self.audit.record(entry).await;
                return Err(LoginError::InvalidCredentials);
            }
        };
        self.limiter.succeeded(ticket).await?;
        let password = &input.password;
        if user.mfa.is_enabled() {
            let pending = self
                .start(user.id, SessionKind::PendingMfa, legacy.as_ref(), password, client)
                .await?;
            return Ok(LoginOutcome::MfaRequired { pending });
        }
        // The grace period starts before the session exists, so the session's first request
        // already sees it.
        self.policy.at_sign_in(&mut user).await?;
        let session =
            self.start(user.id, SessionKind::Full, legacy.as_ref(), password, client).await?;
        self.audit
            .record(AuditEntry::new(AuditEventKind::LoginSuccess, Some(user.id), client))
            .await;
        Ok(LoginOutcome::SignedIn { user: Box::new(user), session })
    }
}
