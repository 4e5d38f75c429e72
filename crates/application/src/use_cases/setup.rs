//! `/api/auth/setup`: the first administrator.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::{AuditEventKind, User};

use crate::caller::ClientInfo;
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::mfa_policy::MfaPolicyCheck;
use crate::collaborators::new_account::{NewAccountInput, NewUserFactory};
use crate::collaborators::sessions::SessionIssuer;
use crate::error::{InputRejected, Unexpected, ValidationErrors, unexpected_from_ports};
use crate::plain_token::PlainToken;
use crate::ports::{SessionKind, UserRepository};

/// Why setup failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A user exists already (403).
    #[error("already initialized")]
    AlreadyInitialized,
    /// A field's value is not acceptable (e-mail, name, password rules).
    #[error(transparent)]
    Validation(ValidationErrors),
    /// The adapter could not read the input from the request (it says why).
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

unexpected_from_ports!(SetupError);

/// `/api/auth/setup`: create the first administrator, once.
#[derive(Clone)]
pub struct Setup {
    users: Arc<dyn UserRepository>,
    new_users: NewUserFactory,
    issuer: SessionIssuer,
    audit: AuditTrail,
    policy: MfaPolicyCheck,
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup").finish_non_exhaustive()
    }
}

impl Setup {
    /// The use case: `new_users` prepares the account, `users` stores it, `issuer` signs the
    /// administrator in, `audit` records it; `policy` starts their MFA grace period when a
    /// policy requires MFA of administrators (setup is their first sign-in).
    #[must_use]
    pub fn new(
        users: Arc<dyn UserRepository>,
        new_users: NewUserFactory,
        issuer: SessionIssuer,
        audit: AuditTrail,
        policy: MfaPolicyCheck,
    ) -> Self {
        Self { users, new_users, issuer, audit, policy }
    }
}

/// What the web adapter calls for `/api/auth/setup`; [`Setup`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SetupUseCase: Send + Sync {
    /// See [`Setup::is_initialized`].
    ///
    /// # Errors
    /// Storage failures.
    async fn is_initialized(&self) -> Result<bool, Unexpected>;

    /// See [`Setup::execute`].
    ///
    /// # Errors
    /// [`SetupError`].
    async fn execute(
        &self,
        client: &ClientInfo,
        input: Result<NewAccountInput, InputRejected>,
    ) -> Result<(User, PlainToken), SetupError>;
}

#[async_trait]
impl SetupUseCase for Setup {
    /// Whether the first administrator exists.
    ///
    /// # Errors
    /// Storage failures.
    async fn is_initialized(&self) -> Result<bool, Unexpected> {
        Ok(self.users.count().await? > 0)
    }

    /// Creates the first administrator and signs them in.
    ///
    /// # Errors
    /// [`SetupError`].
    async fn execute(
        &self,
        client: &ClientInfo,
        input: Result<NewAccountInput, InputRejected>,
    ) -> Result<(User, PlainToken), SetupError> {
        if self.is_initialized().await? {
            return Err(SetupError::AlreadyInitialized);
        }
        let input = input?;
        let account = self.new_users.validate(&input, true).map_err(SetupError::Validation)?;
        let new_user = self.new_users.build(account, true).await?;
        let Some(mut user) = self.users.create_first_admin(new_user).await? else {
            return Err(SetupError::AlreadyInitialized);
        };
        self.policy.at_sign_in(&mut user).await?;
        let session = self.issuer.start(user.id, SessionKind::Full, client).await?;
        let entry = AuditEntry::new(AuditEventKind::SetupCompleted, Some(user.id), client);
        self.audit.record(entry).await;
        Ok((user, session))
    }
}
