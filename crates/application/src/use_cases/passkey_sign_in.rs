//! `POST /api/auth/passkeys/sign-in/begin` and `…/finish`: signing in with a discoverable
//! passkey alone, no e-mail address or password typed. A passkey needs user verification (a
//! PIN or biometrics on the authenticator), so its answer counts as both factors: something
//! held, and something known or been.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::{AuditEventKind, ProofKind, User};

use crate::caller::ClientInfo;
use crate::collaborators::attempt::Attempt;
use crate::collaborators::attempt_limiter::{
    AttemptAccount, AttemptKind, AttemptLimiter, LimitError, TooManyAttempts,
};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::passkey_ceremonies::{
    CeremonyOptions, ChallengeError, PasskeyAssertion, PasskeyCeremonies,
};
use crate::collaborators::sessions::SessionIssuer;
use crate::error::{InputRejected, Unexpected, unexpected_from_ports};
use crate::plain_token::PlainToken;
use crate::ports::{Clock, MfaRepository, SessionKind, UserRepository};

/// Why a passwordless sign-in did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PasskeySignInError {
    /// The adapter could not read the body (it says why).
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
    /// The answer proves nothing: no live challenge (each answers once), no account or
    /// passkey of it, a failed verification, a counter that did not move forward.
    #[error("the passkey was not accepted")]
    InvalidPasskey,
    /// The account it names is over its attempt limit.
    #[error(transparent)]
    TooManyAttempts(TooManyAttempts),
    /// Passkeys cannot work with the server's configuration.
    #[error("passkeys are not available on this server")]
    Unavailable,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

unexpected_from_ports!(PasskeySignInError);

impl From<LimitError> for PasskeySignInError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::TooMany(t) => Self::TooManyAttempts(t),
            LimitError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

/// What the web adapter calls for a passwordless sign-in; [`PasskeySignIn`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasskeySignInUseCase: Send + Sync {
    /// Options for `navigator.credentials.get()` naming no credential (the authenticator
    /// offers the discoverable ones it holds for this site), user verification required,
    /// and a single-use, five-minute ceremony id.
    ///
    /// Each start stores a challenge before anyone is known, so starts are counted per
    /// client address (`security.limits.sign_in_starts`).
    ///
    /// # Errors
    /// [`PasskeySignInError::TooManyAttempts`] past that count,
    /// [`PasskeySignInError::Unavailable`], [`PasskeySignInError::Unexpected`].
    async fn begin(&self, client: &ClientInfo) -> Result<CeremonyOptions, PasskeySignInError>;

    /// Verifies the answer and starts a session for the account it names: the passkey's
    /// counter spent, the session and `login_success` (proof `passkey`) stored, in one
    /// transaction. A refused answer for a known account counts against its sign-in limit
    /// (the one wrong passwords count against: a window, never a lockout).
    ///
    /// # Errors
    /// [`PasskeySignInError`].
    async fn finish(
        &self,
        client: &ClientInfo,
        input: Result<PasskeyAssertion, InputRejected>,
    ) -> Result<(User, PlainToken), PasskeySignInError>;
}

/// Signing in with a passkey alone.
#[derive(Clone)]
pub struct PasskeySignIn {
    ceremonies: PasskeyCeremonies,
    users: Arc<dyn UserRepository>,
    limiter: AttemptLimiter,
    mfa: Arc<dyn MfaRepository>,
    issuer: SessionIssuer,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for PasskeySignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeySignIn").finish_non_exhaustive()
    }
}

impl PasskeySignIn {
    /// The use case: answers checked by `ceremonies`, accounts read from `users`, attempts
    /// counted by `limiter`, the passkey spent with the new session (from `issuer`) by `mfa`,
    /// events in `audit` at the `clock`'s time.
    #[must_use]
    pub fn new(
        ceremonies: PasskeyCeremonies,
        users: Arc<dyn UserRepository>,
        limiter: AttemptLimiter,
        mfa: Arc<dyn MfaRepository>,
        issuer: SessionIssuer,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { ceremonies, users, limiter, mfa, issuer, audit, clock }
    }

    /// An answer that names no account of ours: audited without one, counted nowhere.
    async fn unknown(&self, client: &ClientInfo) -> PasskeySignInError {
        let entry =
            AuditEntry::new(AuditEventKind::LoginFail, None, client).failure("INVALID_PASSKEY");
        self.audit.record(entry.with_proof(Some(ProofKind::Passkey))).await;
        PasskeySignInError::InvalidPasskey
    }
}

#[async_trait]
impl PasskeySignInUseCase for PasskeySignIn {
    #[tracing::instrument(name = "passkey_sign_in_begin", skip_all)]
    async fn begin(&self, client: &ClientInfo) -> Result<CeremonyOptions, PasskeySignInError> {
        let address = client.address.as_deref();
        self.limiter.count_sign_in_start(address, self.clock.now()).await?;
        match self.ceremonies.sign_in_challenge().await {
            Ok(options) => Ok(options),
            Err(ChallengeError::Unavailable | ChallengeError::NoPasskeys) => {
                Err(PasskeySignInError::Unavailable)
            }
            Err(ChallengeError::Unexpected(u)) => Err(u.into()),
        }
    }

    #[tracing::instrument(name = "passkey_sign_in_finish", skip_all)]
    async fn finish(
        &self,
        client: &ClientInfo,
        input: Result<PasskeyAssertion, InputRejected>,
    ) -> Result<(User, PlainToken), PasskeySignInError> {
        let assertion = input?;
        let Some(claim) = self.ceremonies.sign_in_claim(&assertion).await? else {
            return Err(self.unknown(client).await);
        };
        let Some(user) = self.users.find_by_id(claim.user()).await? else {
            return Err(self.unknown(client).await);
        };
        // The account is known from here: its sign-in limit applies, before verifying — the
        // one wrong passwords count against (keyed by the e-mail), a window and never a
        // lockout. Anyone may send an answer naming any account, so a second-factor count
        // here would let a stranger lock the account out; the owner's passkey cannot be
        // guessed, and a pause is all a flood may cost them, as with passwords.
        let address = client.address.as_deref();
        let now = self.clock.now();
        let account = AttemptAccount::Email(user.email.as_str().to_owned());
        let ticket = self.limiter.reserve(AttemptKind::Password, &account, address, now).await?;
        let attempt = Attempt::new(&self.limiter, &self.audit, &self.clock, &user, client, ticket);
        let passkey = Some(ProofKind::Passkey);
        let proof = if user.mfa.is_enabled() {
            self.ceremonies.sign_in_proof(&claim, client, &assertion).await?
        } else {
            // Passkeys go with MFA: one left behind proves nothing.
            None
        };
        if let Some(proof) = proof {
            let (token, session) = self.issuer.prepare(user.id, SessionKind::Full, client);
            let mut effects = attempt.effects(AuditEventKind::LoginSuccess, passkey);
            effects.start_session = Some(session);
            if self.mfa.spend_proof_with(user.id, &proof, now, &effects).await? {
                attempt.committed(&effects);
                return Ok((user, token));
            }
            // Another use of the passkey moved its counter first.
        }
        attempt.failed(AuditEventKind::LoginFail, "INVALID_PASSKEY", passkey).await;
        Err(PasskeySignInError::InvalidPasskey)
    }
}
