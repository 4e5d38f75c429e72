//! `POST /api/auth/mfa/verify`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::{AuditEventKind, MfaState, NoticeKind, ProofKind, User};

use crate::caller::ClientInfo;
use crate::collaborators::attempt::Attempt;
use crate::collaborators::attempt_limiter::{AttemptLimiter, LimitError, TooManyAttempts};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::passkey_ceremonies::{
    CeremonyOptions, ChallengeError, PasskeyCeremonies,
};
use crate::collaborators::second_factor::{Holder, Possession, SecondFactorCheck};
use crate::collaborators::sessions::{SessionExpiry, SessionIssuer};
use crate::error::{InputRejected, Unexpected, unexpected_from_ports};
use crate::plain_token::PlainToken;
use crate::ports::{
    ChangeEffects, Clock, MfaRepository, Notice, OidcRepository, ProofSignIn, SecretDigest,
    SessionKind, SessionRepository, TokenDigest, UserRepository,
};

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
    /// The adapter could not read the input from the request (it says why).
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
    /// Wrong, used or replayed code.
    #[error("TOTP or unused backup code is invalid")]
    InvalidCode,
    /// A passkey's answer that proves nothing (see [`PasskeyCeremonies`]).
    #[error("the passkey could not be verified")]
    InvalidPasskey,
    /// A passkey challenge for an account without passkeys.
    #[error("this account has no passkey")]
    NoPasskeys,
    /// Passkeys cannot work with the server's configuration.
    #[error("passkeys are not available on this server")]
    PasskeysUnavailable,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<LimitError> for VerifyLoginError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::TooMany(t) => Self::TooManyAttempts(t),
            LimitError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

unexpected_from_ports!(VerifyLoginError);

impl From<ChallengeError> for VerifyLoginError {
    fn from(e: ChallengeError) -> Self {
        match e {
            ChallengeError::NoPasskeys => Self::NoPasskeys,
            ChallengeError::Unavailable => Self::PasskeysUnavailable,
            ChallengeError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

/// `POST /api/auth/mfa/verify`: the second step of a login with MFA. The pending state
/// is server-side and single-use.
#[derive(Clone)]
pub struct VerifyLogin {
    token_digest: Arc<dyn TokenDigest>,
    sessions: Arc<dyn SessionRepository>,
    expiry: SessionExpiry,
    pending_max_attempts: u32,
    users: Arc<dyn UserRepository>,
    limiter: AttemptLimiter,
    second_factor: SecondFactorCheck,
    mfa: Arc<dyn MfaRepository>,
    issuer: SessionIssuer,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    oidc: Arc<dyn OidcRepository>,
    ceremonies: Option<PasskeyCeremonies>,
}

impl fmt::Debug for VerifyLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyLogin")
            .field("expiry", &self.expiry)
            .field("pending_max_attempts", &self.pending_max_attempts)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl VerifyLogin {
    /// The use case: the pending state is found in `sessions` by its `token_digest`, judged
    /// by `expiry` and allowed `pending_max_attempts` wrong codes; `users` reads the account,
    /// `limiter` counts the attempt, `second_factor` checks the code and `mfa` spends it at
    /// the `clock`'s time; `issuer` starts the session and `audit` records the outcome;
    /// `oidc` carries an OIDC login's provider `auth_time` over to the new session.
    #[must_use]
    #[expect(clippy::too_many_arguments, reason = "a use case names every port it holds")]
    pub fn new(
        token_digest: Arc<dyn TokenDigest>,
        sessions: Arc<dyn SessionRepository>,
        expiry: SessionExpiry,
        pending_max_attempts: u32,
        users: Arc<dyn UserRepository>,
        limiter: AttemptLimiter,
        second_factor: SecondFactorCheck,
        mfa: Arc<dyn MfaRepository>,
        issuer: SessionIssuer,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
        oidc: Arc<dyn OidcRepository>,
    ) -> Self {
        Self {
            token_digest,
            sessions,
            expiry,
            pending_max_attempts,
            users,
            limiter,
            second_factor,
            mfa,
            issuer,
            audit,
            clock,
            oidc,
            ceremonies: None,
        }
    }

    /// Offers the step-up with a passkey: challenges from `ceremonies`, answered through
    /// the second-factor check (which must accept passkeys too).
    #[must_use]
    pub fn with_passkeys(mut self, ceremonies: PasskeyCeremonies) -> Self {
        self.ceremonies = Some(ceremonies);
        self
    }

    /// The live pending-MFA state named by the cookie value `pending`, with its digest and
    /// its user.
    async fn pending_state(
        &self,
        pending: Option<&str>,
    ) -> Result<(SecretDigest, User), VerifyLoginError> {
        let Some(pending) = pending else { return Err(VerifyLoginError::PendingInvalid) };
        let digest = self.token_digest.digest(pending);
        let session = match self.sessions.find(&digest).await? {
            Some(s)
                if s.kind == SessionKind::PendingMfa
                    && self.expiry.is_alive(&s, self.clock.now()) =>
            {
                s
            }
            _ => return Err(VerifyLoginError::PendingInvalid),
        };
        let user = self.users.find_by_id(session.user_id).await?;
        let Some(user) = user else { return Err(VerifyLoginError::PendingInvalid) };
        Ok((digest, user))
    }

    /// What a sign-in commits with the end of the pending state and the spend, in one
    /// transaction: the new session (its id is returned for the cookie), the verify and
    /// login events, and the reserved attempt given back.
    fn sign_in_effects(
        &self,
        attempt: &Attempt<'_>,
        proof: ProofKind,
    ) -> (PlainToken, ChangeEffects) {
        let (user, client) = (attempt.user(), attempt.client());
        let (token, session) = self.issuer.prepare(user.id, SessionKind::Full, client);
        let mut effects = attempt.effects(AuditEventKind::MfaVerifySuccess, Some(proof));
        let login = AuditEntry::new(AuditEventKind::LoginSuccess, Some(user.id), client)
            .with_proof(Some(proof));
        effects.also_audit.push(self.audit.event(login));
        effects.start_session = Some(session);
        (token, effects)
    }
}

/// The account a pending login is signing in.
#[derive(Clone, Debug)]
pub struct PendingAccount {
    /// The account.
    pub user: User,
    /// It has a passkey to answer a challenge with.
    pub passkeys: bool,
}

/// What the web adapter calls for `POST /api/auth/mfa/verify`; [`VerifyLogin`] implements
/// it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait VerifyLoginUseCase: Send + Sync {
    /// See [`VerifyLogin::execute`].
    ///
    /// # Errors
    /// [`VerifyLoginError`]; the pending state is checked before the body.
    async fn execute<'a>(
        &self,
        pending: Option<&'a str>,
        client: &ClientInfo,
        possession: Result<Possession, InputRejected>,
    ) -> Result<(User, PlainToken), VerifyLoginError>;

    /// Who the pending login `pending` is signing in, for the second step's page to name:
    /// the account's e-mail and name, and whether it has a passkey to offer.
    ///
    /// # Errors
    /// [`VerifyLoginError::PendingInvalid`], [`VerifyLoginError::Unexpected`].
    async fn pending_account<'a>(
        &self,
        pending: Option<&'a str>,
    ) -> Result<PendingAccount, VerifyLoginError>;

    /// Starts the step-up with a passkey for the pending login `pending`: options for
    /// `navigator.credentials.get()` listing the account's passkeys, and a single-use
    /// ceremony id to answer [`Self::execute`] with. Counts no attempt: the answer does.
    ///
    /// # Errors
    /// [`VerifyLoginError::PendingInvalid`], [`VerifyLoginError::NoPasskeys`],
    /// [`VerifyLoginError::PasskeysUnavailable`], [`VerifyLoginError::Unexpected`].
    async fn passkey_challenge<'a>(
        &self,
        pending: Option<&'a str>,
    ) -> Result<CeremonyOptions, VerifyLoginError>;
}

#[async_trait]
impl VerifyLoginUseCase for VerifyLogin {
    /// Checks the code; on success ends the pending state and starts a session.
    ///
    /// # Errors
    /// [`VerifyLoginError`]; the pending state is checked before the body.
    #[tracing::instrument(name = "verify_login", skip_all)]
    async fn execute<'a>(
        &self,
        pending: Option<&'a str>,
        client: &ClientInfo,
        possession: Result<Possession, InputRejected>,
    ) -> Result<(User, PlainToken), VerifyLoginError> {
        let (digest, user) = self.pending_state(pending).await?;
        let address = client.address.as_deref();
        let (possession, ticket) = self
            .limiter
            .reserve_second_factor::<_, VerifyLoginError>(
                user.id,
                address,
                self.clock.now(),
                possession,
            )
            .await?;
        let attempt = Attempt::new(&self.limiter, &self.audit, &self.clock, &user, client, ticket);

        let MfaState::Enabled { secret, last_totp_step, .. } = &user.mfa else {
            // MFA was reset since the password step: start over.
            attempt.release().await?;
            self.sessions.delete(&digest).await?;
            return Err(VerifyLoginError::PendingInvalid);
        };
        // The pending state's own budget is reserved before the code is checked too.
        let max = self.pending_max_attempts;
        let Some(attempts_used) = self.sessions.reserve_attempt(&digest, max).await? else {
            attempt.release().await?;
            self.sessions.delete(&digest).await?;
            return Err(VerifyLoginError::PendingInvalid);
        };
        // With passkeys alone there is no secret: a TOTP code proves nothing, a backup code or
        // a passkey does.
        let secret = secret.as_ref();
        let holder = Holder { user: user.id, client, secret, last_step: *last_totp_step };
        let (kind, proof) = self.second_factor.proof_of(holder, &possession).await?;
        if let Some(proof) = &proof {
            // An OIDC login's provider authentication time goes with it to the new session
            // (read before the pending state, and with it this record, is deleted).
            let idp_auth = self.oidc.session_auth(&digest).await?;
            let now = self.clock.now();
            let (token, mut effects) = self.sign_in_effects(&attempt, proof.kind());
            if proof.backup_digests().is_some() {
                // A backup code used to sign in is reported to the account's owner, with the
                // count left, in the sign-in's own transaction.
                let left = codes_left_after(self.mfa.backup_codes_remaining(user.id).await?);
                let notice = Notice::about(NoticeKind::BackupCodeUsed, &user, client, now)
                    .with_codes_left(left);
                effects = effects.with_notice(notice);
            }
            match self.mfa.sign_in_with_proof(user.id, &digest, proof, now, &effects).await? {
                ProofSignIn::SignedIn => {
                    attempt.committed(&effects);
                    if let Some(auth) = idp_auth {
                        // After the commit: a session without it only means a fresh provider
                        // login before a disable under the re-auth policy (fails safe).
                        let new = self.token_digest.digest(token.expose());
                        self.oidc.record_session_auth(&new, auth).await?;
                    }
                    return Ok((user, token));
                }
                ProofSignIn::PendingGone => {
                    // A concurrent verify with the same pending state won.
                    attempt.release().await?;
                    return Err(VerifyLoginError::PendingInvalid);
                }
                ProofSignIn::ProofRefused => {}
            }
        }
        if attempts_used >= max {
            self.sessions.delete(&digest).await?;
        }
        if kind == Some(ProofKind::Passkey) {
            attempt.failed(AuditEventKind::MfaVerifyFail, "INVALID_PASSKEY", kind).await;
            return Err(VerifyLoginError::InvalidPasskey);
        }
        attempt.failed(AuditEventKind::MfaVerifyFail, "INVALID_CODE", kind).await;
        Err(VerifyLoginError::InvalidCode)
    }

    #[tracing::instrument(name = "verify_login_pending_account", skip_all)]
    async fn pending_account<'a>(
        &self,
        pending: Option<&'a str>,
    ) -> Result<PendingAccount, VerifyLoginError> {
        let (_, user) = self.pending_state(pending).await?;
        let passkeys = match &self.ceremonies {
            Some(ceremonies) => ceremonies.has_passkeys(user.id).await?,
            None => false,
        };
        Ok(PendingAccount { user, passkeys })
    }

    #[tracing::instrument(name = "verify_login_passkey_challenge", skip_all)]
    async fn passkey_challenge<'a>(
        &self,
        pending: Option<&'a str>,
    ) -> Result<CeremonyOptions, VerifyLoginError> {
        let (_, user) = self.pending_state(pending).await?;
        if !user.mfa.is_enabled() {
            return Err(VerifyLoginError::PendingInvalid);
        }
        let Some(ceremonies) = &self.ceremonies else {
            return Err(VerifyLoginError::PasskeysUnavailable);
        };
        Ok(ceremonies.challenge(user.id).await?)
    }
}

/// Backup codes left once the one being spent is: one fewer than unused now.
const fn codes_left_after(unused_now: u32) -> u32 {
    unused_now.saturating_sub(1)
}
