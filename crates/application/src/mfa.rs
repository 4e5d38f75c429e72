//! MFA use cases: disable (the headline operation), status, enrollment, backup codes.

use chrono::{DateTime, Utc};
use slugbase_domain::{
    AuditEventKind, DisableDenied, EncryptedSecret, MfaOperation, MfaState, Password, ProofKind,
    TotpCode, TotpSecret, second_factor_gate,
};

use crate::attempts::{AttemptAccount, AttemptKind, AttemptTicket, LimitError, TooManyAttempts};
use crate::core::{AuditEntry, use_case};
use crate::error::{Unexpected, ValidationErrors};
use crate::ports::{CancelOutcome, MfaProof};
use crate::{Caller, ClientInfo, PlainToken};

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
    /// Row 4: the body is not what the contract asks for.
    #[error(transparent)]
    Validation(ValidationErrors),
    /// Rows 5–8.
    #[error(transparent)]
    Denied(DisableDenied),
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

/// Errors of [`DisableMfa`].
pub type DisableMfaError = MfaChangeError;
/// Errors of [`RegenerateBackupCodes`].
pub type RegenerateBackupCodesError = MfaChangeError;

/// The events one operation records.
struct Events {
    success: AuditEventKind,
    failure: AuditEventKind,
}

impl crate::core::Core {
    /// Rows 3–8 for an operation that needs both factors. On success returns the proof to
    /// spend; every refusal is audited and, for rows 6–8, counted.
    async fn check_both_factors(
        &self,
        operation: MfaOperation,
        events: &Events,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<BothFactorsInput, ValidationErrors>,
    ) -> Result<(MfaProof, AttemptTicket), MfaChangeError> {
        let user = &caller.user;
        let account = AttemptAccount::User(user.id);
        let address = client.address.as_deref();
        // Row 3, counted before anything is evaluated: a burst of guesses cannot all pass a
        // check that only sees failures already recorded.
        let ticket =
            self.limiter.reserve(AttemptKind::SecondFactor, &account, address, self.now()).await?;
        let input = match input {
            Ok(input) => input,
            Err(errors) => {
                self.limiter.release(ticket).await?;
                return Err(MfaChangeError::Validation(errors));
            }
        };

        let gate = match second_factor_gate(
            user,
            operation,
            self.settings.mfa_policy,
            input.password.as_ref(),
        ) {
            Ok(gate) => gate,
            Err(denied) => {
                return Err(self.refuse(events, caller, client, ticket, denied, None).await);
            }
        };
        let password_ok = match gate.password_check {
            Some((hash, password)) => self.deps.passwords.verify(password, Some(hash)).await?,
            None => true,
        };
        if !password_ok {
            let denied = DisableDenied::InvalidPassword;
            return Err(self.refuse(events, caller, client, ticket, denied, None).await);
        }
        match self.proof_for(user.id, gate.secret, gate.last_totp_step, &input.code)? {
            (_, Some(proof)) => Ok((proof, ticket)),
            (kind, None) => {
                let denied = DisableDenied::InvalidCode;
                Err(self.refuse(events, caller, client, ticket, denied, kind).await)
            }
        }
    }

    /// Audits a refusal, keeps its reserved attempt counted when it is a guess (gives it back
    /// otherwise), and turns it into the error.
    async fn refuse(
        &self,
        events: &Events,
        caller: &Caller,
        client: &ClientInfo,
        ticket: AttemptTicket,
        denied: DisableDenied,
        proof: Option<ProofKind>,
    ) -> MfaChangeError {
        if denied.counts_as_attempt() {
            ticket.failed();
        } else if let Err(e) = self.limiter.release(ticket).await {
            return e.into();
        }
        let entry = AuditEntry::new(events.failure, Some(caller.user.id), client)
            .failed(denied.reason())
            .proof(proof);
        self.audit(entry).await;
        MfaChangeError::Denied(denied)
    }

    /// What follows a committed change made with a spent proof: the success is audited and
    /// the consecutive-failure run ends. The change is already committed, so a failure here
    /// is logged, not returned: a 503 would tell the client that nothing changed.
    async fn second_factor_succeeded(
        &self,
        event: AuditEventKind,
        caller: &Caller,
        client: &ClientInfo,
        ticket: AttemptTicket,
        proof: ProofKind,
    ) {
        self.audit(AuditEntry::new(event, Some(caller.user.id), client).proof(Some(proof))).await;
        if let Err(error) = self.limiter.succeeded(ticket).await {
            tracing::error!(error = %error, "attempt counter could not be reset after a success");
        }
    }
}

use_case! {
    /// `POST /api/auth/mfa/disable`: turn MFA off with proof of possession (a fresh TOTP or
    /// an unused backup code) and, for local users, knowledge (the password).
    ///
    /// The checks run in the contract's order (rows 3–8 of `api.md`; rows 1–2 belong to the
    /// web adapter). On success, in one transaction: MFA off, secret erased, backup codes
    /// deleted, replay state reset; then every other session of the user ends (configurable).
    DisableMfa
}

impl DisableMfa {
    /// Runs the operation. `input` is `Err` when the body failed validation; it is reported
    /// only after the attempt limit is checked, as row 4 comes after row 3.
    ///
    /// # Errors
    /// [`MfaChangeError`], one variant per row of the table.
    #[tracing::instrument(name = "disable_mfa", skip_all, fields(user.id = %caller.user.id))]
    pub async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<BothFactorsInput, ValidationErrors>,
    ) -> Result<(), MfaChangeError> {
        let core = &self.core;
        let events = Events {
            success: AuditEventKind::MfaDisableSuccess,
            failure: AuditEventKind::MfaDisableFail,
        };
        let (proof, ticket) =
            core.check_both_factors(MfaOperation::Disable, &events, caller, client, input).await?;
        if !core.deps.mfa.disable_with_proof(caller.user.id, &proof, core.now()).await? {
            // Spent concurrently, or MFA went off meanwhile: the code is no longer valid.
            let denied = DisableDenied::InvalidCode;
            let kind = Some(proof.kind());
            return Err(core.refuse(&events, caller, client, ticket, denied, kind).await);
        }
        core.second_factor_succeeded(events.success, caller, client, ticket, proof.kind()).await;
        if let Err(error) = core.end_other_sessions(caller.user.id, caller.session()).await {
            // MFA is off already; say so rather than pretend nothing happened.
            tracing::error!(error = %error, "MFA disabled, but other sessions could not be ended");
        }
        Ok(())
    }
}

use_case! {
    /// `POST /api/auth/mfa/backup/regenerate`: the same checks as disable (but no policy
    /// stops it); replaces every backup code.
    RegenerateBackupCodes
}

impl RegenerateBackupCodes {
    /// Runs the operation; returns the new codes, to be shown once.
    ///
    /// # Errors
    /// [`MfaChangeError`], as for disable.
    #[tracing::instrument(name = "regenerate_backup_codes", skip_all, fields(user.id = %caller.user.id))]
    pub async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<BothFactorsInput, ValidationErrors>,
    ) -> Result<Vec<PlainToken>, MfaChangeError> {
        let core = &self.core;
        let events = Events {
            success: AuditEventKind::MfaBackupRegenerateSuccess,
            failure: AuditEventKind::MfaBackupRegenerateFail,
        };
        let operation = MfaOperation::RegenerateBackupCodes;
        let (proof, ticket) =
            core.check_both_factors(operation, &events, caller, client, input).await?;
        let (codes, digests) = core.new_backup_codes();
        if !core.deps.mfa.regenerate_with_proof(caller.user.id, &proof, digests, core.now()).await?
        {
            let denied = DisableDenied::InvalidCode;
            let kind = Some(proof.kind());
            return Err(core.refuse(&events, caller, client, ticket, denied, kind).await);
        }
        core.second_factor_succeeded(events.success, caller, client, ticket, proof.kind()).await;
        Ok(codes.into_iter().map(PlainToken::new).collect())
    }
}

/// `GET /api/auth/mfa/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaStatusView {
    /// MFA is on.
    pub enabled: bool,
    /// When it was turned on.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// Unused backup codes.
    pub backup_codes_remaining: u32,
}

use_case! {
    /// `GET /api/auth/mfa/status`.
    MfaStatus
}

impl MfaStatus {
    /// Whether a configured policy (`require_mfa_for_admins`) requires this user to enroll
    /// and they have not: the web adapter tells the client so in `/api/auth/me`.
    #[must_use]
    pub fn enrollment_required(&self, user: &slugbase_domain::User) -> bool {
        self.core.settings.mfa_policy.requires_mfa(user) && !user.mfa.is_enabled()
    }

    /// The caller's MFA status.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn execute(&self, caller: &Caller) -> Result<MfaStatusView, Unexpected> {
        Ok(match &caller.user.mfa {
            MfaState::Enabled { enrolled_at, .. } => MfaStatusView {
                enabled: true,
                enrolled_at: Some(*enrolled_at),
                backup_codes_remaining: self
                    .core
                    .deps
                    .mfa
                    .backup_codes_remaining(caller.user.id)
                    .await?,
            },
            MfaState::Disabled | MfaState::Pending { .. } => {
                MfaStatusView { enabled: false, enrolled_at: None, backup_codes_remaining: 0 }
            }
        })
    }
}

/// What enroll begin shows the user, once. `Debug` hides all of it.
#[derive(Clone)]
pub struct Enrollment {
    /// The new secret (Base32) for manual entry.
    pub secret: TotpSecret,
    /// `otpauth://…` (contains the secret).
    pub otpauth_url: PlainToken,
    /// The otpauth URL as a PNG QR code, base64.
    pub qr_png_base64: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment([REDACTED])")
    }
}

/// Why enrollment cannot begin / be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// MFA is already on (409 `MFA_ALREADY_ENABLED`).
    #[error("MFA is already enabled")]
    AlreadyEnabled,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

use_case! {
    /// `POST /api/auth/mfa/enroll/begin`: a new secret, stored encrypted as pending.
    EnrollBegin
}

impl EnrollBegin {
    /// Starts (or restarts) enrollment.
    ///
    /// # Errors
    /// [`EnrollError::AlreadyEnabled`] when MFA is on.
    #[tracing::instrument(name = "enroll_begin", skip_all, fields(user.id = %caller.user.id))]
    pub async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
    ) -> Result<Enrollment, EnrollError> {
        let core = &self.core;
        let user = &caller.user;
        if user.mfa.is_enabled() {
            return Err(EnrollError::AlreadyEnabled);
        }
        let secret = core.deps.totp.generate_secret();
        let sealed = core.deps.cipher.encrypt(user.id, &secret)?;
        let otpauth_url = core.deps.totp.otpauth_url(&secret, &user.email)?;
        let qr_png_base64 = core.deps.totp.qr_png_base64(&secret, &user.email)?;
        if !core.deps.mfa.begin_enrollment(user.id, sealed).await? {
            return Err(EnrollError::AlreadyEnabled);
        }
        core.audit(AuditEntry::new(AuditEventKind::MfaEnrollBegin, Some(user.id), client)).await;
        Ok(Enrollment { secret, otpauth_url: PlainToken::new(otpauth_url), qr_png_base64 })
    }
}

use_case! {
    /// `POST /api/auth/mfa/enroll/cancel`: drops a pending secret; idempotent.
    EnrollCancel
}

impl EnrollCancel {
    /// Cancels enrollment.
    ///
    /// # Errors
    /// [`EnrollError::AlreadyEnabled`] when MFA is on.
    pub async fn execute(&self, caller: &Caller, client: &ClientInfo) -> Result<(), EnrollError> {
        let core = &self.core;
        match core.deps.mfa.cancel_enrollment(caller.user.id).await? {
            CancelOutcome::AlreadyEnabled => Err(EnrollError::AlreadyEnabled),
            CancelOutcome::Cancelled => {
                let entry =
                    AuditEntry::new(AuditEventKind::MfaEnrollCancel, Some(caller.user.id), client);
                core.audit(entry).await;
                Ok(())
            }
        }
    }
}

/// Why enroll confirm was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnrollConfirmError {
    /// Over the attempt limit.
    #[error(transparent)]
    TooManyAttempts(TooManyAttempts),
    /// `code` missing or not a string.
    #[error(transparent)]
    Validation(ValidationErrors),
    /// MFA is already on (409).
    #[error("MFA is already enabled")]
    AlreadyEnabled,
    /// No enrollment was begun (or it was cancelled / replaced) (400 `MFA_NO_PENDING`).
    #[error("no pending MFA enrollment")]
    NoPending,
    /// The code does not match the pending secret now (400 `INVALID_CODE`).
    #[error("TOTP code is invalid")]
    InvalidCode,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<LimitError> for EnrollConfirmError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::TooMany(t) => Self::TooManyAttempts(t),
            LimitError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

use_case! {
    /// `POST /api/auth/mfa/enroll/confirm`: a TOTP code from the pending secret turns MFA on
    /// and issues ten backup codes. Concurrent confirms: exactly one wins.
    EnrollConfirm
}

impl EnrollConfirm {
    /// Confirms enrollment; returns the backup codes, to be shown once.
    ///
    /// # Errors
    /// [`EnrollConfirmError`].
    #[tracing::instrument(name = "enroll_confirm", skip_all, fields(user.id = %caller.user.id))]
    pub async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        code: Result<String, ValidationErrors>,
    ) -> Result<Vec<PlainToken>, EnrollConfirmError> {
        let core = &self.core;
        let user = &caller.user;
        let account = AttemptAccount::User(user.id);
        let address = client.address.as_deref();
        let ticket =
            core.limiter.reserve(AttemptKind::SecondFactor, &account, address, core.now()).await?;
        let pending = match (code, &user.mfa) {
            (Err(errors), _) => Err(EnrollConfirmError::Validation(errors)),
            (Ok(_), MfaState::Enabled { .. }) => Err(EnrollConfirmError::AlreadyEnabled),
            (Ok(_), MfaState::Disabled) => Err(EnrollConfirmError::NoPending),
            (Ok(code), MfaState::Pending { secret }) => Ok((code, secret)),
        };
        let (code, pending): (String, &EncryptedSecret) = match pending {
            Ok(pending) => pending,
            Err(error) => {
                // Not a guess: the attempt is given back.
                core.limiter.release(ticket).await?;
                return Err(error);
            }
        };
        let secret = core.deps.cipher.decrypt(user.id, pending)?;
        let step = TotpCode::parse(&code)
            .ok()
            .and_then(|code| core.deps.totp.verify(&secret, &code, core.now()));
        let Some(step) = step else {
            ticket.failed();
            let entry =
                AuditEntry::new(AuditEventKind::MfaEnrollConfirmFail, Some(user.id), client)
                    .failed("INVALID_CODE")
                    .proof(Some(ProofKind::Totp));
            core.audit(entry).await;
            return Err(EnrollConfirmError::InvalidCode);
        };
        let (codes, digests) = core.new_backup_codes();
        let confirmed =
            core.deps.mfa.confirm_enrollment(user.id, pending, step, digests, core.now()).await;
        if !confirmed? {
            // Lost a race: another confirm won, or the enrollment was cancelled or replaced.
            core.limiter.release(ticket).await?;
            let now = core.deps.users.find_by_id(user.id).await?;
            let enabled = now.is_some_and(|u| u.mfa.is_enabled());
            return Err(if enabled {
                EnrollConfirmError::AlreadyEnabled
            } else {
                EnrollConfirmError::NoPending
            });
        }
        core.second_factor_succeeded(
            AuditEventKind::MfaEnrollConfirmSuccess,
            caller,
            client,
            ticket,
            ProofKind::Totp,
        )
        .await;
        Ok(codes.into_iter().map(PlainToken::new).collect())
    }
}
