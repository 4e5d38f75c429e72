//! The checks of an MFA change that needs both factors (disable, regenerate backup codes):
//! rows 3–8 of the table under `POST /api/auth/mfa/disable` in `docs/api.md`.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::{
    AuditEventKind, DisableDenied, MfaOperation, MfaPolicy, NoticeKind, Password, ProofKind,
    second_factor_gate,
};

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::attempt::Attempt;
use crate::collaborators::attempt_limiter::{AttemptLimiter, LimitError, TooManyAttempts};
use crate::collaborators::audit_trail::AuditTrail;
use crate::collaborators::second_factor::{Holder, Possession, SecondFactorCheck};
use crate::error::{InputRejected, Unexpected, unexpected_from_ports};
use crate::ports::{
    ChangeEffects, Clock, EndSessions, MfaProof, Notice, OidcRepository, PasswordHasher,
};

/// The optional re-authentication policy for OIDC-only users' MFA disable: the session's
/// provider authentication (`auth_time`) must be younger than `max_age_secs`.
#[derive(Clone)]
pub struct ReauthPolicy {
    oidc: Arc<dyn OidcRepository>,
    max_age_secs: u32,
}

impl fmt::Debug for ReauthPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReauthPolicy")
            .field("max_age_secs", &self.max_age_secs)
            .finish_non_exhaustive()
    }
}

impl ReauthPolicy {
    /// The policy over `oidc` (where sessions' provider authentication is kept); `None`
    /// when `max_age_secs` is 0 (off).
    #[must_use]
    pub fn new(oidc: Arc<dyn OidcRepository>, max_age_secs: u32) -> Option<Self> {
        (max_age_secs > 0).then_some(Self { oidc, max_age_secs })
    }
}

/// The body of disable and regenerate: proof of possession (a code, or an answer from a
/// passkey) and, for local users, the password.
#[derive(Clone, Debug)]
pub struct BothFactorsInput {
    /// A TOTP code or unused backup code, or a passkey's answer to a challenge.
    pub possession: Possession,
    /// Required when the user has a local password; ignored for OIDC-only users.
    pub password: Option<Password>,
}

impl BothFactorsInput {
    /// The seed's body: a typed `code` and, for local users, the `password`.
    #[must_use]
    pub fn with_code(code: impl Into<String>, password: Option<Password>) -> Self {
        Self { possession: Possession::Code(code.into()), password }
    }
}

/// Row 8's refusal for a proof of `kind` that was not accepted.
const fn not_accepted(kind: Option<ProofKind>) -> DisableDenied {
    match kind {
        Some(ProofKind::Passkey) => DisableDenied::InvalidPasskey,
        _ => DisableDenied::InvalidCode,
    }
}

/// Why disable (or regenerate) was refused — one variant per row of the table.
#[derive(Debug, thiserror::Error)]
pub enum MfaChangeError {
    /// Row 3: the account or the address is over its attempt limit.
    #[error(transparent)]
    TooManyAttempts(TooManyAttempts),
    /// Row 4: the adapter could not read the body as the contract asks for it.
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
    /// Rows 5–8.
    #[error(transparent)]
    Denied(DisableDenied),
    /// `security.oidc_reauth_max_age_secs`: an OIDC-only user's disable needs a session
    /// whose provider authentication is recent enough (401 `REAUTH_REQUIRED`).
    #[error("a recent sign-in at the identity provider is required")]
    ReauthRequired,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<LimitError> for MfaChangeError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::TooMany(t) => Self::TooManyAttempts(t),
            LimitError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

unexpected_from_ports!(MfaChangeError);

/// The audit events and notice of one MFA change.
struct MfaChangeEvents {
    success: AuditEventKind,
    failure: AuditEventKind,
    /// The e-mail notice a committed change sends.
    notice: NoticeKind,
}

impl MfaChangeEvents {
    const fn of(operation: MfaOperation) -> Self {
        match operation {
            MfaOperation::Disable => Self {
                success: AuditEventKind::MfaDisableSuccess,
                failure: AuditEventKind::MfaDisableFail,
                notice: NoticeKind::MfaDisabled,
            },
            MfaOperation::RegenerateBackupCodes => Self {
                success: AuditEventKind::MfaBackupRegenerateSuccess,
                failure: AuditEventKind::MfaBackupRegenerateFail,
                notice: NoticeKind::BackupCodesRegenerated,
            },
            MfaOperation::RemovePasskey => Self {
                success: AuditEventKind::PasskeyRemoved,
                failure: AuditEventKind::PasskeyRemoveFail,
                notice: NoticeKind::PasskeyRemoved,
            },
        }
    }
}

/// Rows 3–8 for an MFA change that needs both factors: the attempt limit, the body, the
/// policy and state gate, the password, the second factor.
#[derive(Clone)]
pub struct BothFactorsCheck {
    limiter: AttemptLimiter,
    passwords: Arc<dyn PasswordHasher>,
    second_factor: SecondFactorCheck,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    mfa_policy: MfaPolicy,
    reauth: Option<ReauthPolicy>,
}

impl fmt::Debug for BothFactorsCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BothFactorsCheck")
            .field("limiter", &self.limiter)
            .field("mfa_policy", &self.mfa_policy)
            .finish_non_exhaustive()
    }
}

impl BothFactorsCheck {
    /// The check: attempts counted by `limiter` at the `clock`'s time, passwords verified
    /// by `passwords`, codes by `second_factor`, refusals recorded in `audit`, and
    /// `mfa_policy` applied by the gate.
    #[must_use]
    pub fn new(
        limiter: AttemptLimiter,
        passwords: Arc<dyn PasswordHasher>,
        second_factor: SecondFactorCheck,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
        mfa_policy: MfaPolicy,
    ) -> Self {
        Self { limiter, passwords, second_factor, audit, clock, mfa_policy, reauth: None }
    }

    /// Applies the OIDC re-authentication policy to disable (none: off).
    #[must_use]
    pub fn with_reauth(mut self, reauth: Option<ReauthPolicy>) -> Self {
        self.reauth = reauth;
        self
    }

    /// Whether the re-authentication policy lets `caller` go on: always, unless it is on,
    /// the operation is disable and the user is OIDC-only; then only with a session whose
    /// provider authentication is younger than the policy's maximum.
    async fn reauth_satisfied(
        &self,
        operation: MfaOperation,
        caller: &Caller,
    ) -> Result<bool, MfaChangeError> {
        let Some(policy) = &self.reauth else { return Ok(true) };
        if operation != MfaOperation::Disable || caller.user.login.has_password() {
            return Ok(true);
        }
        // An API token carries no provider authentication: it cannot satisfy the policy.
        let Some(session) = caller.session() else { return Ok(false) };
        let Some(auth) = policy.oidc.session_auth(session).await? else { return Ok(false) };
        let age = self.clock.now() - auth.auth_time;
        Ok(age.num_seconds() < i64::from(policy.max_age_secs))
    }

    /// Rows 3–8 of `operation` for `caller` from `client`. On success returns the request's
    /// [`ProvenChange`] (the proof to spend and the reserved attempt); every refusal is
    /// audited and, for rows 6–8, counted.
    pub(crate) async fn check<'a>(
        &'a self,
        operation: MfaOperation,
        caller: &'a Caller,
        client: &'a ClientInfo,
        input: Result<BothFactorsInput, InputRejected>,
    ) -> Result<ProvenChange<'a>, MfaChangeError> {
        let user = &caller.user;
        let events = MfaChangeEvents::of(operation);
        // Row 3, counted before anything is evaluated: a burst of guesses cannot all pass a
        // check that only sees failures already recorded. Then row 4, the body.
        let address = client.address.as_deref();
        let (input, ticket) = self
            .limiter
            .reserve_second_factor::<_, MfaChangeError>(user.id, address, self.clock.now(), input)
            .await?;
        let attempt = Attempt::new(&self.limiter, &self.audit, &self.clock, user, client, ticket);

        let gate =
            match second_factor_gate(user, operation, self.mfa_policy, input.password.as_ref()) {
                Ok(gate) => gate,
                Err(denied) => return Err(refuse(attempt, &events, denied, None).await),
            };
        if !self.reauth_satisfied(operation, caller).await? {
            // Not a guess: the place is given back, the code stays unused.
            attempt.refused(events.failure, "REAUTH_REQUIRED", None).await?;
            return Err(MfaChangeError::ReauthRequired);
        }
        let password_ok = match gate.password_check {
            Some((hash, password)) => self.passwords.verify(password, Some(hash)).await?,
            None => true,
        };
        if !password_ok {
            return Err(refuse(attempt, &events, DisableDenied::InvalidPassword, None).await);
        }
        let holder =
            Holder { user: user.id, client, secret: gate.secret, last_step: gate.last_totp_step };
        match self.second_factor.proof_of(holder, &input.possession).await? {
            (_, Some(proof)) => Ok(ProvenChange { attempt, events, proof }),
            (kind, None) => Err(refuse(attempt, &events, not_accepted(kind), kind).await),
        }
    }
}

/// Audits a refusal, keeps its reserved attempt counted when it is a guess (gives it back
/// otherwise), and turns it into the error.
async fn refuse(
    attempt: Attempt<'_>,
    events: &MfaChangeEvents,
    denied: DisableDenied,
    proof: Option<ProofKind>,
) -> MfaChangeError {
    if denied.counts_as_attempt() {
        attempt.failed(events.failure, denied.reason(), proof).await;
    } else if let Err(e) = attempt.refused(events.failure, denied.reason(), proof).await {
        return e.into();
    }
    MfaChangeError::Denied(denied)
}

/// One request's MFA change once both factors are proven: who, from where, the reserved
/// attempt and the proof, carried once. The use case asks it for the [`Self::effects`] to
/// commit with the change, then [`Self::settle`]s it with what storage answered.
pub(crate) struct ProvenChange<'a> {
    attempt: Attempt<'a>,
    events: MfaChangeEvents,
    proof: MfaProof,
}

impl ProvenChange<'_> {
    /// The proof for storage to spend with the change.
    pub(crate) const fn proof(&self) -> &MfaProof {
        &self.proof
    }

    /// What the change commits with the spend, in one transaction: the success event, the
    /// reserved attempt given back, the sessions `end_sessions` names, and the notice.
    pub(crate) fn effects(&self, end_sessions: Option<EndSessions>) -> ChangeEffects {
        let mut effects = self.attempt.effects(self.events.success, Some(self.proof.kind()));
        effects.end_sessions = end_sessions;
        let (user, client) = (self.attempt.user(), self.attempt.client());
        effects.with_notice(Notice::about(self.events.notice, user, client, self.attempt.now()))
    }

    /// The change found nothing to change (what it was about is gone: a passkey removed
    /// meanwhile) and storage spent nothing: the attempt is given back and the refusal
    /// audited with `reason`.
    ///
    /// # Errors
    /// If storage fails.
    pub(crate) async fn abandon(self, reason: &str) -> Result<(), MfaChangeError> {
        let kind = Some(self.proof.kind());
        Ok(self.attempt.refused(self.events.failure, reason, kind).await?)
    }

    /// Storage answered whether it `committed` the change with its `effects`. If not, the
    /// proof was spent concurrently (a passkey's counter moved meanwhile) or MFA went off:
    /// the proof is no longer valid (row 8), and the refusal is counted and audited.
    ///
    /// # Errors
    /// [`DisableDenied::InvalidCode`] (or [`DisableDenied::InvalidPasskey`]) when nothing
    /// was committed.
    pub(crate) async fn settle(
        self,
        committed: bool,
        effects: &ChangeEffects,
    ) -> Result<(), MfaChangeError> {
        if committed {
            self.attempt.committed(effects);
            return Ok(());
        }
        let kind = Some(self.proof.kind());
        Err(refuse(self.attempt, &self.events, not_accepted(kind), kind).await)
    }
}
