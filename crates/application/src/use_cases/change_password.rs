//! `POST /api/auth/password`, and the operator's `slugbase user set-password`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use slugbase_domain::{
    AuditEventKind, ChangedPassword, Email, LoginMethod, NoticeKind, Password, PasswordError, User,
};

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::attempt::Attempt;
use crate::collaborators::attempt_limiter::{
    AttemptAccount, AttemptKind, AttemptLimiter, LimitError, TooManyAttempts,
};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::error::{InputRejected, Unexpected, ValidationErrors, unexpected_from_ports};
use crate::ports::{
    ChangeEffects, Clock, CommonPasswords, EndSessions, Notice, PasswordHasher, UserRepository,
};

/// The password change body.
#[derive(Clone, Debug)]
pub struct ChangePasswordInput {
    /// The password the account has now.
    pub current_password: Password,
    /// The one it should have.
    pub new_password: Password,
}

/// Why a password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The account (or the address) is over its password attempt limit (429).
    #[error(transparent)]
    TooManyAttempts(TooManyAttempts),
    /// The body could not be read as the input.
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
    /// The new password breaks the policy (400 `VALIDATION_FAILED`, `details` on
    /// `new_password`).
    #[error(transparent)]
    Validation(ValidationErrors),
    /// An OIDC-only account has no password to change (400 `PASSWORD_NOT_SET`).
    #[error("the account has no password")]
    PasswordNotSet,
    /// The current password is wrong (401 `INVALID_PASSWORD`).
    #[error("invalid password")]
    InvalidPassword,
    /// No such account (the operator's command).
    #[error("user not found")]
    NotFound,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<LimitError> for ChangePasswordError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::TooMany(t) => Self::TooManyAttempts(t),
            LimitError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

unexpected_from_ports!(ChangePasswordError);

/// Changes passwords: the account holder's own (knowing the current one), or an operator's
/// reset at the command line.
///
/// The current password is checked at login's cost and counted against login's limits (the
/// same counter: password failures per account e-mail, and per address). The new one must
/// be 8–128 characters, not on the common-password list (NIST SP 800-63B §3.1.1.2) and not
/// the current one. On success, in one transaction: the new Argon2id hash, every other
/// session of the user ended (the calling one stays), the `password_changed` event, the
/// attempt given back and the "password changed" notice.
#[derive(Clone)]
pub struct ChangePassword {
    limiter: AttemptLimiter,
    users: Arc<dyn UserRepository>,
    passwords: Arc<dyn PasswordHasher>,
    common: Arc<dyn CommonPasswords>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangePassword").field("limiter", &self.limiter).finish_non_exhaustive()
    }
}

/// The field error of a password that breaks the policy.
fn policy_error(error: &PasswordError) -> ChangePasswordError {
    ChangePasswordError::Validation(ValidationErrors::field("new_password", error.to_string()))
}

impl ChangePassword {
    /// The use case: `limiter` counts the attempt at the `clock`'s time, `passwords` checks
    /// the current password and hashes the new one, `common` is the list it must not be on,
    /// `users` stores it with its effects, `audit` records refusals.
    #[must_use]
    pub fn new(
        limiter: AttemptLimiter,
        users: Arc<dyn UserRepository>,
        passwords: Arc<dyn PasswordHasher>,
        common: Arc<dyn CommonPasswords>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { limiter, users, passwords, common, audit, clock }
    }

    /// Checks the new password against the policy.
    fn validate(
        &self,
        new: Password,
        current: Option<&Password>,
    ) -> Result<ChangedPassword, ChangePasswordError> {
        ChangedPassword::parse(new, current, |p| self.common.is_common(p))
            .map_err(|e| policy_error(&e))
    }

    /// Sets the password of the account with `email` at the operator's command
    /// (`slugbase user set-password`): same policy (but no current password to differ
    /// from), every session of the user ended, audited `password_changed` with no actor,
    /// the owner notified — in one transaction.
    ///
    /// # Errors
    /// [`ChangePasswordError::NotFound`], [`ChangePasswordError::Validation`], storage.
    pub async fn set_by_operator(
        &self,
        email: &Email,
        client: &ClientInfo,
        new_password: Password,
    ) -> Result<User, ChangePasswordError> {
        let new = self.validate(new_password, None)?;
        let Some(user) = self.users.find_by_email(email).await? else {
            return Err(ChangePasswordError::NotFound);
        };
        let new_hash = self.passwords.hash(new.as_password()).await?;
        let entry = AuditEntry::new(AuditEventKind::PasswordChanged, Some(user.id), client)
            .with_actor(None);
        let mut effects = ChangeEffects::audited(self.audit.event(entry));
        effects.end_sessions = Some(EndSessions { keep: None });
        let at = effects.audit.at;
        effects.notice = Some(Notice::about(NoticeKind::PasswordChanged, &user, client, at));
        if !self.users.change_password(user.id, new_hash, &effects).await? {
            return Err(ChangePasswordError::NotFound);
        }
        AuditTrail::log_line(&effects.audit);
        Ok(user)
    }
}

/// What the web adapter calls for `POST /api/auth/password`; [`ChangePassword`] implements
/// it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChangePasswordUseCase: Send + Sync {
    /// See [`ChangePassword::execute`].
    ///
    /// # Errors
    /// [`ChangePasswordError`].
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<ChangePasswordInput, InputRejected>,
    ) -> Result<(), ChangePasswordError>;
}

#[async_trait]
impl ChangePasswordUseCase for ChangePassword {
    /// Changes the caller's password. Order: 429 → 400 `VALIDATION_FAILED` (the body, then
    /// the new password's policy) → 400 `PASSWORD_NOT_SET` → 401 `INVALID_PASSWORD` → 200.
    ///
    /// # Errors
    /// [`ChangePasswordError`].
    #[tracing::instrument(name = "change_password", skip_all, fields(user.id = %caller.user.id))]
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<ChangePasswordInput, InputRejected>,
    ) -> Result<(), ChangePasswordError> {
        let user = &caller.user;
        let account = AttemptAccount::Email(user.email.as_str().to_owned());
        let address = client.address.as_deref();
        let ticket = self
            .limiter
            .reserve(AttemptKind::Password, &account, address, self.clock.now())
            .await?;
        let attempt = Attempt::new(&self.limiter, &self.audit, &self.clock, user, client, ticket);
        // Nothing below until the password check is a guess: the place is given back.
        let checked = match input {
            Err(rejected) => Err(rejected.into()),
            Ok(input) => self
                .validate(input.new_password.clone(), Some(&input.current_password))
                .map(|new| (input.current_password, new)),
        };
        let checked = checked.and_then(|checked| match &user.login {
            LoginMethod::Local(hash) => Ok((checked, hash)),
            LoginMethod::OidcOnly => Err(ChangePasswordError::PasswordNotSet),
        });
        let ((current, new), hash) = match checked {
            Ok(checked) => checked,
            Err(error) => {
                attempt.release().await?;
                return Err(error);
            }
        };
        if !self.passwords.verify(&current, Some(hash)).await? {
            attempt.failed(AuditEventKind::PasswordChangeFail, "INVALID_PASSWORD", None).await;
            return Err(ChangePasswordError::InvalidPassword);
        }
        let new_hash = self.passwords.hash(new.as_password()).await?;
        let mut effects = attempt.effects(AuditEventKind::PasswordChanged, None);
        effects.end_sessions = Some(EndSessions { keep: caller.session().cloned() });
        let at = effects.audit.at;
        let effects =
            effects.with_notice(Notice::about(NoticeKind::PasswordChanged, user, client, at));
        if !self.users.change_password(user.id, new_hash, &effects).await? {
            // The account was deleted meanwhile: nothing was changed, the attempt is no guess.
            attempt.release().await?;
            return Err(ChangePasswordError::NotFound);
        }
        attempt.committed(&effects);
        Ok(())
    }
}
