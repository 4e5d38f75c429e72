//! MFA enrollment: `POST /api/auth/mfa/enroll/{begin,confirm,cancel}`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::{
    AuditEventKind, EncryptedSecret, NoticeKind, ProofKind, TotpCode, TotpSecret,
};

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::attempt::Attempt;
use crate::collaborators::attempt_limiter::{
    AttemptAccount, AttemptKind, AttemptLimiter, LimitError, TooManyAttempts,
};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::backup_codes::BackupCodeIssuer;
use crate::error::{InputRejected, Unexpected, unexpected_from_ports};
use crate::plain_token::PlainToken;
use crate::ports::{
    CancelOutcome, Clock, MfaRepository, Notice, SecretCipher, Totp, UserRepository,
};

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

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

unexpected_from_ports!(EnrollError);

/// `POST /api/auth/mfa/enroll/begin`: a new secret, stored encrypted as pending.
#[derive(Clone)]
pub struct EnrollBegin {
    totp: Arc<dyn Totp>,
    cipher: Arc<dyn SecretCipher>,
    mfa: Arc<dyn MfaRepository>,
    audit: AuditTrail,
}

impl fmt::Debug for EnrollBegin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollBegin").finish_non_exhaustive()
    }
}

impl EnrollBegin {
    /// The use case: `totp` makes the secret, `cipher` seals it, `mfa` stores it as
    /// pending, `audit` records the start.
    #[must_use]
    pub fn new(
        totp: Arc<dyn Totp>,
        cipher: Arc<dyn SecretCipher>,
        mfa: Arc<dyn MfaRepository>,
        audit: AuditTrail,
    ) -> Self {
        Self { totp, cipher, mfa, audit }
    }
}

/// `POST /api/auth/mfa/enroll/cancel`: drops a pending secret; idempotent.
#[derive(Clone)]
pub struct EnrollCancel {
    mfa: Arc<dyn MfaRepository>,
    audit: AuditTrail,
}

impl fmt::Debug for EnrollCancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollCancel").finish_non_exhaustive()
    }
}

impl EnrollCancel {
    /// The use case: `mfa` drops the pending secret, `audit` records it.
    #[must_use]
    pub fn new(mfa: Arc<dyn MfaRepository>, audit: AuditTrail) -> Self {
        Self { mfa, audit }
    }
}

/// Why enroll confirm was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnrollConfirmError {
    /// Over the attempt limit.
    #[error(transparent)]
    TooManyAttempts(TooManyAttempts),
    /// The adapter could not read `code` from the request (it says why).
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
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

unexpected_from_ports!(EnrollConfirmError);

/// `POST /api/auth/mfa/enroll/confirm`: a TOTP code from the pending secret turns MFA on
/// and issues ten backup codes. Concurrent confirms: exactly one wins.
#[derive(Clone)]
pub struct EnrollConfirm {
    limiter: AttemptLimiter,
    cipher: Arc<dyn SecretCipher>,
    totp: Arc<dyn Totp>,
    codes: BackupCodeIssuer,
    mfa: Arc<dyn MfaRepository>,
    users: Arc<dyn UserRepository>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for EnrollConfirm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollConfirm").field("limiter", &self.limiter).finish_non_exhaustive()
    }
}

impl EnrollConfirm {
    /// The use case: `limiter` counts the attempt, `cipher` opens the pending secret,
    /// `totp` checks the code at the `clock`'s time, `codes` issues the backup codes, `mfa`
    /// turns MFA on, `users` re-reads the account after a lost race, `audit` records it.
    #[must_use]
    #[expect(clippy::too_many_arguments, reason = "a use case names every port it holds")]
    pub fn new(
        limiter: AttemptLimiter,
        cipher: Arc<dyn SecretCipher>,
        totp: Arc<dyn Totp>,
        codes: BackupCodeIssuer,
        mfa: Arc<dyn MfaRepository>,
        users: Arc<dyn UserRepository>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { limiter, cipher, totp, codes, mfa, users, audit, clock }
    }
}

/// What the web adapter calls for `POST /api/auth/mfa/enroll/begin`; [`EnrollBegin`]
/// implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EnrollBeginUseCase: Send + Sync {
    /// See [`EnrollBegin::execute`].
    ///
    /// # Errors
    /// [`EnrollError::AlreadyEnabled`] when MFA is on.
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
    ) -> Result<Enrollment, EnrollError>;
}

#[async_trait]
impl EnrollBeginUseCase for EnrollBegin {
    /// Starts (or restarts) enrollment.
    ///
    /// # Errors
    /// [`EnrollError::AlreadyEnabled`] when MFA is on.
    #[tracing::instrument(name = "enroll_begin", skip_all, fields(user.id = %caller.user.id))]
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
    ) -> Result<Enrollment, EnrollError> {
        let user = &caller.user;
        // TOTP may be added beside passkeys: only a confirmed TOTP secret refuses.
        if user.mfa.has_totp() {
            return Err(EnrollError::AlreadyEnabled);
        }
        let secret = self.totp.generate_secret();
        let sealed = self.cipher.encrypt(user.id, &secret)?;
        let otpauth_url = self.totp.otpauth_url(&secret, &user.email)?;
        let qr_png_base64 = self.totp.qr_png_base64(&secret, &user.email)?;
        if !self.mfa.begin_enrollment(user.id, sealed).await? {
            return Err(EnrollError::AlreadyEnabled);
        }
        self.audit
            .record(AuditEntry::new(AuditEventKind::MfaEnrollBegin, Some(user.id), client))
            .await;
        Ok(Enrollment { secret, otpauth_url: PlainToken::new(otpauth_url), qr_png_base64 })
    }
}

/// What the web adapter calls for `POST /api/auth/mfa/enroll/cancel`; [`EnrollCancel`]
/// implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EnrollCancelUseCase: Send + Sync {
    /// See [`EnrollCancel::execute`].
    ///
    /// # Errors
    /// [`EnrollError::AlreadyEnabled`] when MFA is on.
    async fn execute(&self, caller: &Caller, client: &ClientInfo) -> Result<(), EnrollError>;
}

#[async_trait]
impl EnrollCancelUseCase for EnrollCancel {
    /// Cancels enrollment.
    ///
    /// # Errors
    /// [`EnrollError::AlreadyEnabled`] when MFA is on.
    async fn execute(&self, caller: &Caller, client: &ClientInfo) -> Result<(), EnrollError> {
        match self.mfa.cancel_enrollment(caller.user.id).await? {
            CancelOutcome::AlreadyEnabled => Err(EnrollError::AlreadyEnabled),
            CancelOutcome::Cancelled => {
                let entry =
                    AuditEntry::new(AuditEventKind::MfaEnrollCancel, Some(caller.user.id), client);
                self.audit.record(entry).await;
                Ok(())
            }
        }
    }
}

/// What the web adapter calls for `POST /api/auth/mfa/enroll/confirm`; [`EnrollConfirm`]
/// implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EnrollConfirmUseCase: Send + Sync {
    /// See [`EnrollConfirm::execute`].
    ///
    /// # Errors
    /// [`EnrollConfirmError`].
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        code: Result<String, InputRejected>,
    ) -> Result<Vec<PlainToken>, EnrollConfirmError>;
}

#[async_trait]
impl EnrollConfirmUseCase for EnrollConfirm {
    /// Confirms enrollment; returns the backup codes, to be shown once.
    ///
    /// # Errors
    /// [`EnrollConfirmError`].
    #[tracing::instrument(name = "enroll_confirm", skip_all, fields(user.id = %caller.user.id))]
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        code: Result<String, InputRejected>,
    ) -> Result<Vec<PlainToken>, EnrollConfirmError> {
        let user = &caller.user;
        let account = AttemptAccount::User(user.id);
        let address = client.address.as_deref();
        let ticket = self
            .limiter
            .reserve(AttemptKind::SecondFactor, &account, address, self.clock.now())
            .await?;
        let attempt = Attempt::new(&self.limiter, &self.audit, &self.clock, user, client, ticket);
        let pending = match (code, user.mfa.has_totp(), user.mfa.pending_secret()) {
            (Err(rejected), _, _) => Err(rejected.into()),
            (Ok(_), true, _) => Err(EnrollConfirmError::AlreadyEnabled),
            (Ok(_), false, None) => Err(EnrollConfirmError::NoPending),
            (Ok(code), false, Some(secret)) => Ok((code, secret)),
        };
        let (code, pending): (String, &EncryptedSecret) = match pending {
            Ok(pending) => pending,
            Err(error) => {
                // Not a guess: the attempt is given back.
                attempt.release().await?;
                return Err(error);
            }
        };
        let secret = self.cipher.decrypt(user.id, pending)?;
        let step = TotpCode::parse(&code)
            .ok()
            .and_then(|code| self.totp.verify(&secret, &code, self.clock.now()));
        let Some(step) = step else {
            let failure = AuditEventKind::MfaEnrollConfirmFail;
            attempt.failed(failure, "INVALID_CODE", Some(ProofKind::Totp)).await;
            return Err(EnrollConfirmError::InvalidCode);
        };
        let (codes, digests) = self.codes.issue();
        // Committed with the change: its audit event and the attempt given back. Turning MFA
        // on ends no session (as before).
        let effects = attempt
            .effects(AuditEventKind::MfaEnrollConfirmSuccess, Some(ProofKind::Totp))
            .with_notice(Notice::about(NoticeKind::MfaEnabled, user, client, self.clock.now()));
        let now = self.clock.now();
        let confirmed =
            self.mfa.confirm_enrollment(user.id, pending, step, digests, now, &effects).await;
        if !confirmed? {
            // Lost a race: another confirm won, or the enrollment was cancelled or replaced.
            attempt.release().await?;
            let reread = self.users.find_by_id(user.id).await?;
            let enabled = reread.is_some_and(|u| u.mfa.has_totp());
            return Err(if enabled {
                EnrollConfirmError::AlreadyEnabled
            } else {
                EnrollConfirmError::NoPending
            });
        }
        attempt.committed(&effects);
        Ok(codes.into_iter().map(PlainToken::new).collect())
    }
}
