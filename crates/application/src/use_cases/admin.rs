//! `/api/admin/*` and the operator's command line: user management, MFA reset, audit log.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::{AuditEventKind, Email, NoticeKind, User, UserId};

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::attempt_limiter::AttemptKey;
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::new_account::{NewAccountInput, NewUserFactory};
use crate::collaborators::sessions::SessionRevoker;
use crate::error::{InputRejected, Unexpected, ValidationErrors, unexpected_from_ports};
use crate::ports::{
    AuditLog, AuditQuery, ChangeEffects, MfaRepository, Notice, OutboxMessage, OutboxQuery,
    OutboxRepository, StoreError, StoredAuditEvent, UserRepository,
};

/// Why an administrative action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller is not an administrator (403).
    #[error("administrator rights required")]
    Forbidden,
    /// A field's value is not acceptable (e-mail, name, password rules).
    #[error(transparent)]
    Validation(ValidationErrors),
    /// The adapter could not read the input from the request (it says why).
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
    /// The e-mail is taken (409).
    #[error("email already exists")]
    EmailTaken,
    /// No such user (404).
    #[error("user not found")]
    NotFound,
    /// An administrator cannot delete their own account (it could leave none).
    #[error("cannot delete your own account")]
    CannotDeleteSelf,
    /// An administrator cannot reset their own MFA (403): that strips a factor with no
    /// proof at all; their way is the disable operation, with its password and code.
    #[error("cannot reset your own MFA; disable it with a code instead")]
    CannotResetOwnMfa,
    /// A user without a password while no OIDC provider is configured (400): nobody
    /// could ever sign in as them.
    #[error("no OIDC provider is configured for a user without a password")]
    OidcNotConfigured,
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

unexpected_from_ports!(AdminError);

/// The reason code of a refused reset of one's own MFA, as answered and audited.
pub const SELF_RESET_REASON: &str = "ADMIN_SELF_RESET_FORBIDDEN";

/// `/api/admin/*`: user management, MFA reset, audit log.
#[derive(Clone)]
pub struct Admin {
    users: Arc<dyn UserRepository>,
    new_users: NewUserFactory,
    mfa: Arc<dyn MfaRepository>,
    revoker: SessionRevoker,
    audit_log: Arc<dyn AuditLog>,
    audit: AuditTrail,
    outbox: Arc<dyn OutboxRepository>,
    /// At least one OIDC provider is configured (else a user without a password could
    /// never sign in).
    oidc_sign_in: bool,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin").field("revoker", &self.revoker).finish_non_exhaustive()
    }
}

impl Admin {
    /// The use case: `users` holds the accounts (new ones prepared by `new_users`), `mfa`
    /// resets MFA (forgetting the user's attempt counters), `revoker` says whether their
    /// sessions end with it, `audit_log` is read back and `audit` records every change.
    #[must_use]
    pub fn new(
        users: Arc<dyn UserRepository>,
        new_users: NewUserFactory,
        mfa: Arc<dyn MfaRepository>,
        revoker: SessionRevoker,
        audit_log: Arc<dyn AuditLog>,
        audit: AuditTrail,
        outbox: Arc<dyn OutboxRepository>,
    ) -> Self {
        Self { users, new_users, mfa, revoker, audit_log, audit, outbox, oidc_sign_in: false }
    }

    /// Whether an OIDC provider is configured: only then may a user be created without a
    /// password (OIDC-only). Off unless said.
    #[must_use]
    pub const fn with_oidc_sign_in(mut self, configured: bool) -> Self {
        self.oidc_sign_in = configured;
        self
    }

    fn require_admin(caller: &Caller) -> Result<(), AdminError> {
        if caller.user.is_admin { Ok(()) } else { Err(AdminError::Forbidden) }
    }

    /// Creates a user without an administrator caller (the CLI, run by the operator).
    ///
    /// # Errors
    /// [`AdminError`] other than `Forbidden`.
    pub async fn create_user_unchecked(
        &self,
        actor: Option<UserId>,
        client: &ClientInfo,
        input: Result<NewAccountInput, InputRejected>,
    ) -> Result<User, AdminError> {
        let input = input?;
        let account = self.new_users.validate(&input, false).map_err(AdminError::Validation)?;
        if input.password.is_none() && !self.oidc_sign_in {
            return Err(AdminError::OidcNotConfigured);
        }
        let new_user = self.new_users.build(account, input.is_admin).await?;
        let user = match self.users.create(new_user).await {
            Ok(user) => user,
            Err(StoreError::Conflict(_)) => return Err(AdminError::EmailTaken),
            Err(e) => return Err(Unexpected::from(e).into()),
        };
        let entry =
            AuditEntry::new(AuditEventKind::UserCreated, Some(user.id), client).with_actor(actor);
        self.audit.record(entry).await;
        Ok(user)
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
        let Some(user) = self.users.find_by_id(id).await? else {
            return Err(AdminError::NotFound);
        };
        // One transaction: MFA off, the user's attempt counters forgotten, their sessions
        // ended (configurable), the event stored.
        let entry =
            AuditEntry::new(AuditEventKind::MfaResetByAdmin, Some(id), client).with_actor(actor);
        let audit = self.audit.event(entry);
        let at = audit.at;
        let effects = ChangeEffects {
            audit,
            also_audit: Vec::new(),
            start_session: None,
            end_sessions: self.revoker.on_mfa_change(None),
            releases: Vec::new(),
            cleared_attempts: AttemptKey::of_user(id),
            notice: Some(Notice::about(NoticeKind::MfaResetByAdmin, &user, client, at)),
        };
        self.mfa.reset(id, &effects).await?;
        AuditTrail::log_line(&effects.audit);
        Ok(())
    }

    /// Looks a user up by e-mail (for the CLI).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn find_by_email(&self, email: &Email) -> Result<Option<User>, Unexpected> {
        Ok(self.users.find_by_email(email).await?)
    }
}

/// What the web adapter calls for `/api/admin/*`; [`Admin`] implements it (the operator's
/// command line uses the unchecked methods of the struct itself).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AdminUseCase: Send + Sync {
    /// See [`Admin::create_user`].
    ///
    /// # Errors
    /// [`AdminError`].
    async fn create_user(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<NewAccountInput, InputRejected>,
    ) -> Result<User, AdminError>;

    /// See [`Admin::list_users`].
    ///
    /// # Errors
    /// [`AdminError`].
    async fn list_users(
        &self,
        caller: &Caller,
    ) -> Result<Vec<crate::ports::Listed<User>>, AdminError>;

    /// See [`Admin::delete_user`].
    ///
    /// # Errors
    /// [`AdminError`].
    async fn delete_user(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<(), AdminError>;

    /// See [`Admin::reset_mfa`].
    ///
    /// # Errors
    /// [`AdminError`].
    async fn reset_mfa(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<(), AdminError>;

    /// See [`Admin::audit_log`].
    ///
    /// # Errors
    /// [`AdminError`].
    async fn audit_log(
        &self,
        caller: &Caller,
        query: AuditQuery,
    ) -> Result<Vec<crate::ports::Listed<StoredAuditEvent>>, AdminError>;

    /// See [`Admin::outbox`].
    ///
    /// # Errors
    /// [`AdminError`].
    async fn outbox(
        &self,
        caller: &Caller,
        query: OutboxQuery,
    ) -> Result<Vec<crate::ports::Listed<OutboxMessage>>, AdminError>;
}

#[async_trait]
impl AdminUseCase for Admin {
    /// Creates a user; without a password the user is OIDC-only.
    ///
    /// # Errors
    /// [`AdminError`].
    async fn create_user(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<NewAccountInput, InputRejected>,
    ) -> Result<User, AdminError> {
        Self::require_admin(caller)?;
        self.create_user_unchecked(Some(caller.user.id), client, input).await
    }

    /// Every user; a stored row that does not decode is listed as damaged.
    ///
    /// # Errors
    /// [`AdminError`].
    async fn list_users(
        &self,
        caller: &Caller,
    ) -> Result<Vec<crate::ports::Listed<User>>, AdminError> {
        Self::require_admin(caller)?;
        Ok(self.users.list().await?)
    }

    /// Deletes a user with their sessions, tokens and codes.
    ///
    /// # Errors
    /// [`AdminError`].
    async fn delete_user(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<(), AdminError> {
        Self::require_admin(caller)?;
        if caller.user.id == id {
            return Err(AdminError::CannotDeleteSelf);
        }
        // The user's attempt counters go in the same operation as the account.
        if !self.users.delete(id, &AttemptKey::of_user(id)).await? {
            return Err(AdminError::NotFound);
        }
        let entry = AuditEntry::new(AuditEventKind::UserDeleted, Some(id), client)
            .with_actor(Some(caller.user.id));
        self.audit.record(entry).await;
        Ok(())
    }

    /// Administrative MFA reset for a locked-out user — never the caller themself: that
    /// would strip a factor without any proof (refused and audited as
    /// `mfa_reset_by_admin_fail`; the disable operation is their way).
    ///
    /// # Errors
    /// [`AdminError`].
    async fn reset_mfa(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<(), AdminError> {
        Self::require_admin(caller)?;
        if caller.user.id == id {
            let entry = AuditEntry::new(AuditEventKind::MfaResetByAdminFail, Some(id), client)
                .with_actor(Some(caller.user.id))
                .failure(SELF_RESET_REASON);
            self.audit.record(entry).await;
            return Err(AdminError::CannotResetOwnMfa);
        }
        self.reset_mfa_unchecked(Some(caller.user.id), client, id).await
    }

    /// Audit events, newest first; a stored event that does not decode is listed as damaged.
    ///
    /// # Errors
    /// [`AdminError`].
    async fn audit_log(
        &self,
        caller: &Caller,
        query: AuditQuery,
    ) -> Result<Vec<crate::ports::Listed<StoredAuditEvent>>, AdminError> {
        Self::require_admin(caller)?;
        Ok(self.audit_log.query_listed(query).await?)
    }

    /// Notices in the outbox, newest first (`GET /api/admin/outbox`).
    ///
    /// # Errors
    /// [`AdminError`].
    async fn outbox(
        &self,
        caller: &Caller,
        query: OutboxQuery,
    ) -> Result<Vec<crate::ports::Listed<OutboxMessage>>, AdminError> {
        Self::require_admin(caller)?;
        Ok(self.outbox.list_notices_listed(query).await?)
    }
}
