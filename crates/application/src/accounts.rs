//! Accounts: first-admin setup, administration, health.

use slugbase_domain::{AuditEventKind, DisplayName, Email, LoginMethod, NewPassword, User, UserId};

use crate::core::{AuditEntry, use_case};
use crate::error::{Unexpected, ValidationErrors};
use crate::ports::{AuditQuery, NewUser, SessionKind, StoreError, StoredAuditEvent};
use crate::{Caller, ClientInfo, PlainToken};

/// A new account, as typed.
#[derive(Clone, Debug)]
pub struct NewAccountInput {
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Password; `None` makes an OIDC-only account (admin create only).
    pub password: Option<String>,
    /// Administrator.
    pub is_admin: bool,
}

/// Validated parts of a new account.
struct ValidAccount {
    email: Email,
    name: DisplayName,
    password: Option<NewPassword>,
}

fn validate_account(
    input: &NewAccountInput,
    password_required: bool,
) -> Result<ValidAccount, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let email = Email::parse(&input.email).map_err(|e| errors.push("email", e.to_string())).ok();
    let name = DisplayName::parse(&input.name).map_err(|e| errors.push("name", e.to_string())).ok();
    let password = match &input.password {
        Some(raw) => {
            NewPassword::parse(raw.clone()).map_err(|e| errors.push("password", e.to_string())).ok()
        }
        None if password_required => {
            errors.push("password", "Password is required");
            None
        }
        None => None,
    };
    match (email, name) {
        (Some(email), Some(name)) if errors.is_empty() => {
            Ok(ValidAccount { email, name, password })
        }
        _ => Err(errors),
    }
}

impl crate::core::Core {
    async fn new_user(&self, account: ValidAccount, is_admin: bool) -> Result<NewUser, Unexpected> {
        let login = match &account.password {
            Some(password) => {
                LoginMethod::Local(self.deps.passwords.hash(password.as_password()).await?)
            }
            None => LoginMethod::OidcOnly,
        };
        Ok(NewUser {
            id: UserId::generate(),
            email: account.email,
            name: account.name,
            login,
            oidc_provider: None,
            is_admin,
            created_at: self.now(),
        })
    }
}

/// Why setup failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A user exists already (403).
    #[error("already initialized")]
    AlreadyInitialized,
    /// Body malformed.
    #[error(transparent)]
    Validation(ValidationErrors),
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

use_case! {
    /// `/api/auth/setup`: create the first administrator, once.
    Setup
}

impl Setup {
    /// Whether the first administrator exists.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn is_initialized(&self) -> Result<bool, Unexpected> {
        Ok(self.core.deps.users.count().await? > 0)
    }

    /// Creates the first administrator and signs them in.
    ///
    /// # Errors
    /// [`SetupError`].
    pub async fn execute(
        &self,
        client: &ClientInfo,
        input: Result<NewAccountInput, ValidationErrors>,
    ) -> Result<(User, PlainToken), SetupError> {
        let core = &self.core;
        if self.is_initialized().await? {
            return Err(SetupError::AlreadyInitialized);
        }
        let input = input.map_err(SetupError::Validation)?;
        let account = validate_account(&input, true).map_err(SetupError::Validation)?;
        let new_user = core.new_user(account, true).await?;
        let Some(user) = core.deps.users.create_first_admin(new_user).await? else {
            return Err(SetupError::AlreadyInitialized);
        };
        let session = core.start_session(user.id, SessionKind::Full).await?;
        core.audit(AuditEntry::new(AuditEventKind::SetupCompleted, Some(user.id), client)).await;
        Ok((user, session))
    }
}

/// Why an administrative action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller is not an administrator (403).
    #[error("administrator rights required")]
    Forbidden,
    /// Body malformed.
    #[error(transparent)]
    Validation(ValidationErrors),
    /// The e-mail is taken (409).
    #[error("email already exists")]
    EmailTaken,
    /// No such user (404).
    #[error("user not found")]
    NotFound,
    /// An administrator cannot delete their own account (it could leave none).
    #[error("cannot delete your own account")]
    CannotDeleteSelf,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

use_case! {
    /// `/api/admin/*`: user management, MFA reset, audit log.
    Admin
}

impl Admin {
    fn require_admin(caller: &Caller) -> Result<(), AdminError> {
        if caller.user.is_admin { Ok(()) } else { Err(AdminError::Forbidden) }
    }

    /// Creates a user; without a password the user is OIDC-only.
    ///
    /// # Errors
    /// [`AdminError`].
    pub async fn create_user(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<NewAccountInput, ValidationErrors>,
    ) -> Result<User, AdminError> {
        Self::require_admin(caller)?;
        self.create_user_unchecked(Some(caller.user.id), client, input).await
    }

    /// Creates a user without an administrator caller (the CLI, run by the operator).
    ///
    /// # Errors
    /// [`AdminError`] other than `Forbidden`.
    pub async fn create_user_unchecked(
        &self,
        actor: Option<UserId>,
        client: &ClientInfo,
        input: Result<NewAccountInput, ValidationErrors>,
    ) -> Result<User, AdminError> {
        let core = &self.core;
        let input = input.map_err(AdminError::Validation)?;
        let account = validate_account(&input, false).map_err(AdminError::Validation)?;
        let new_user = core.new_user(account, input.is_admin).await?;
        let user = match core.deps.users.create(new_user).await {
            Ok(user) => user,
            Err(StoreError::Conflict(_)) => return Err(AdminError::EmailTaken),
            Err(e) => return Err(Unexpected::from(e).into()),
        };
        core.audit(
            AuditEntry::new(AuditEventKind::UserCreated, Some(user.id), client).actor(actor),
        )
        .await;
        Ok(user)
    }

    /// Every user.
    ///
    /// # Errors
    /// [`AdminError`].
    pub async fn list_users(&self, caller: &Caller) -> Result<Vec<User>, AdminError> {
        Self::require_admin(caller)?;
        Ok(self.core.deps.users.list().await?)
    }

    /// Deletes a user with their sessions, tokens and codes.
    ///
    /// # Errors
    /// [`AdminError`].
    pub async fn delete_user(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<(), AdminError> {
        Self::require_admin(caller)?;
        if caller.user.id == id {
            return Err(AdminError::CannotDeleteSelf);
        }
        let core = &self.core;
        if !core.deps.users.delete(id).await? {
            return Err(AdminError::NotFound);
        }
        core.limiter.clear_user(id).await?;
        core.audit(
            AuditEntry::new(AuditEventKind::UserDeleted, Some(id), client)
                .actor(Some(caller.user.id)),
        )
        .await;
        Ok(())
    }

    /// Administrative MFA reset for a locked-out user.
    ///
    /// # Errors
    /// [`AdminError`].
    pub async fn reset_mfa(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<(), AdminError> {
        Self::require_admin(caller)?;
        self.reset_mfa_unchecked(Some(caller.user.id), client, id).await
    }

    /// MFA reset without an administrator caller (the CLI's `slugbase mfa reset`). Also
    /// clears the user's attempt counters and ends their sessions.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] or unexpected failures.
    pub async fn reset_mfa_unchecked(
        &self,
        actor: Option<UserId>,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<(), AdminError> {
        let core = &self.core;
        if core.deps.users.find_by_id(id).await?.is_none() {
            return Err(AdminError::NotFound);
        }
        core.deps.mfa.reset(id).await?;
        core.limiter.clear_user(id).await?;
        core.end_other_sessions(id, None).await?;
        core.audit(AuditEntry::new(AuditEventKind::MfaResetByAdmin, Some(id), client).actor(actor))
            .await;
        Ok(())
    }

    /// Audit events, newest first.
    ///
    /// # Errors
    /// [`AdminError`].
    pub async fn audit_log(
        &self,
        caller: &Caller,
        query: AuditQuery,
    ) -> Result<Vec<StoredAuditEvent>, AdminError> {
        Self::require_admin(caller)?;
        Ok(self.core.deps.audit.query(query).await?)
    }

    /// Looks a user up by e-mail (for the CLI).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn find_by_email(&self, email: &Email) -> Result<Option<User>, Unexpected> {
        Ok(self.core.deps.users.find_by_email(email).await?)
    }
}

use_case! {
    /// `/api/health`: is the database reachable?
    Health
}

impl Health {
    /// Pings storage.
    ///
    /// # Errors
    /// [`Unexpected::Unavailable`] while it is down.
    pub async fn check(&self) -> Result<(), Unexpected> {
        Ok(self.core.deps.health.ping().await?)
    }
}
