//! The checks of an MFA change that needs both factors (disable, regenerate backup codes):
//! rows 3–8 of the table under `POST /api/auth/mfa/disable` in `docs/api.md`.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::{
    AuditEventKind, DisableDenied, MfaOperation, MfaPolicy, NoticeKind, Password, ProofKind,
    second_factor_gate,
};

use crate::attempts::{AttemptLimiter, AttemptTicket, LimitError, TooManyAttempts};
use crate::caller::{Caller, ClientInfo};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::second_factor::{
    SecondFactorCheck, second_factor_committed, second_factor_effects,
};
use crate::error::{InputRejected, Unexpected, unexpected_from_ports};
use crate::ports::{
    Clock, EndSessions, MfaChangeEffects, MfaProof, Notice, OidcRepository, PasswordHasher,
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

/// The body of disable and regenerate: a code and, for local users, the password.
#[derive(Clone, Debug)]
pub struct BothFactorsInput {
    /// TOTP code or unused backup code, as typed.
    pub code: String,
    /// Required when the user has a local password; ignored for OIDC-only users.
    pub password: Option<Password>,
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

/// The audit events one MFA change records.
pub(crate) struct MfaChangeEvents {
    pub(crate) success: AuditEventKind,
    pub(crate) failure: AuditEventKind,
    /// The e-mail notice a committed change sends.
    pub(crate) notice: NoticeKind,
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

    /// Rows 3–8. On success returns the proof to spend and the reserved attempt; every
    /// refusal is audited and, for rows 6–8, counted.
    pub(crate) async fn check(
        &self,
        operation: MfaOperation,
        events: &MfaChangeEvents,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<BothFactorsInput, InputRejected>,
    ) -> Result<(MfaProof, AttemptTicket), MfaChangeError> {
        let user = &caller.user;
        // Row 3, counted before anything is evaluated: a burst of guesses cannot all pass a
        // check that only sees failures already recorded. Then row 4, the body.
        let address = client.address.as_deref();
        let (input, ticket) = self
            .limiter
            .reserve_second_factor::<_, MfaChangeError>(user.id, address, self.clock.now(), input)
            .await?;

        let gate =
            match second_factor_gate(user, operation, self.mfa_policy, input.password.as_ref()) {
                Ok(gate) => gate,
                Err(denied) => {
                    return Err(self.refuse(events, caller, client, ticket, denied, None).await);
                }
            };
        if !self.reauth_satisfied(operation, caller).await? {
            // Not a guess: the place is given back, the code stays unused.
            self.limiter.release(ticket).await?;
            let entry =
                AuditEntry::new(events.failure, Some(user.id), client).failure("REAUTH_REQUIRED");
            self.audit.record(entry).await;
            return Err(MfaChangeError::ReauthRequired);
        }
        let password_ok = match gate.password_check {
            Some((hash, password)) => self.passwords.verify(password, Some(hash)).await?,
            None => true,
        };
        if !password_ok {
            let denied = DisableDenied::InvalidPassword;
            return Err(self.refuse(events, caller, client, ticket, denied, None).await);
        }
        let checked =
            self.second_factor.proof_for(user.id, gate.secret, gate.last_totp_step, &input.code)?;
        match checked {
            (_, Some(proof)) => Ok((proof, ticket)),
            (kind, None) => {
                let denied = DisableDenied::InvalidCode;
                Err(self.refuse(events, caller, client, ticket, denied, kind).await)
            }
        }
    }

    /// Audits a refusal, keeps its reserved attempt counted when it is a guess (gives it back
    /// otherwise), and turns it into the error.
    pub(crate) async fn refuse(
        &self,
        events: &MfaChangeEvents,
        caller: &Caller,
        client: &ClientInfo,
        ticket: AttemptTicket,
        denied: DisableDenied,
        proof: Option<ProofKind>,
    ) -> MfaChangeError {
        if denied.counts_as_attempt() {
            self.limiter.failed(ticket, &caller.user, client, self.clock.now()).await;
        } else if let Err(e) = self.limiter.release(ticket).await {
            return e.into();
        }
        let entry = AuditEntry::new(events.failure, Some(caller.user.id), client)
            .failure(denied.reason())
            .with_proof(proof);
        self.audit.record(entry).await;
        MfaChangeError::Denied(denied)
    }

    /// What the change the proof is spent on commits with it (see
    /// [`second_factor_effects`]): the success event, `ticket`'s attempt given back, and
    /// the sessions `end_sessions` names.
    pub(crate) fn effects(
        &self,
        events: &MfaChangeEvents,
        caller: &Caller,
        client: &ClientInfo,
        ticket: &AttemptTicket,
        proof: ProofKind,
        end_sessions: Option<EndSessions>,
    ) -> MfaChangeEffects {
        let user = caller.user.id;
        second_factor_effects(
            &self.audit,
            events.success,
            user,
            client,
            ticket,
            proof,
            end_sessions,
        )
        .with_notice(Notice::about(events.notice, &caller.user, client, self.clock.now()))
    }

    /// Storage committed the change with its `effects` (see [`second_factor_committed`]).
    pub(crate) fn committed(&self, effects: &MfaChangeEffects, ticket: AttemptTicket) {
        second_factor_committed(effects, ticket);
    }
}
