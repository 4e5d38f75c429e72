//! `POST /api/auth/mfa/backup/regenerate`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::MfaOperation;

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::backup_codes::BackupCodeIssuer;
use crate::collaborators::both_factors::{BothFactorsCheck, BothFactorsInput, MfaChangeError};
use crate::error::InputRejected;
use crate::plain_token::PlainToken;
use crate::ports::{Clock, MfaRepository};

/// Errors of [`RegenerateBackupCodes`].
pub type RegenerateBackupCodesError = MfaChangeError;

/// `POST /api/auth/mfa/backup/regenerate`: the same checks as disable (but no policy
/// stops it); replaces every backup code, in one transaction with its audit event and the
/// attempt given back.
#[derive(Clone)]
pub struct RegenerateBackupCodes {
    check: BothFactorsCheck,
    codes: BackupCodeIssuer,
    mfa: Arc<dyn MfaRepository>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RegenerateBackupCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegenerateBackupCodes").finish_non_exhaustive()
    }
}

impl RegenerateBackupCodes {
    /// The use case: `check` runs rows 3–8, `codes` issues the new set, `mfa` swaps it in
    /// with the proof at the `clock`'s time.
    #[must_use]
    pub fn new(
        check: BothFactorsCheck,
        codes: BackupCodeIssuer,
        mfa: Arc<dyn MfaRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { check, codes, mfa, clock }
    }
}

/// What the web adapter calls for `POST /api/auth/mfa/backup/regenerate`;
/// [`RegenerateBackupCodes`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RegenerateBackupCodesUseCase: Send + Sync {
    /// See [`RegenerateBackupCodes::execute`].
    ///
    /// # Errors
    /// [`MfaChangeError`], as for disable.
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<BothFactorsInput, InputRejected>,
    ) -> Result<Vec<PlainToken>, MfaChangeError>;
}

#[async_trait]
impl RegenerateBackupCodesUseCase for RegenerateBackupCodes {
    /// Runs the operation; returns the new codes, to be shown once.
    ///
    /// # Errors
    /// [`MfaChangeError`], as for disable.
    #[tracing::instrument(name = "regenerate_backup_codes", skip_all, fields(user.id = %caller.user.id))]
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<BothFactorsInput, InputRejected>,
    ) -> Result<Vec<PlainToken>, MfaChangeError> {
        let operation = MfaOperation::RegenerateBackupCodes;
        let change = self.check.check(operation, caller, client, input).await?;
        let (codes, digests) = self.codes.issue();
        // Regenerating replaces codes, not the factor: no session ends (as before).
        let effects = change.effects(None);
        let now = self.clock.now();
        let user = caller.user.id;
        let spent = self.mfa.regenerate_with_proof(user, change.proof(), digests, now, &effects);
        let spent = spent.await?;
        change.settle(spent, &effects).await?;
        Ok(codes.into_iter().map(PlainToken::new).collect())
    }
}
