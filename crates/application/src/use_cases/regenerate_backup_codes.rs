//! `POST /api/auth/mfa/backup/regenerate`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::{AuditEventKind, DisableDenied, MfaOperation, NoticeKind};

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::backup_codes::BackupCodeIssuer;
use crate::collaborators::both_factors::{
    BothFactorsCheck, BothFactorsInput, MfaChangeError, MfaChangeEvents,
};
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
        let events = MfaChangeEvents {
            success: AuditEventKind::MfaBackupRegenerateSuccess,
            failure: AuditEventKind::MfaBackupRegenerateFail,
            notice: NoticeKind::BackupCodesRegenerated,
        };
        let operation = MfaOperation::RegenerateBackupCodes;
        let (proof, ticket) = self.check.check(operation, &events, caller, client, input).await?;
        let (codes, digests) = self.codes.issue();
        // Regenerating replaces codes, not the factor: no session ends (as before).
        let effects = self.check.effects(&events, caller, client, &ticket, proof.kind(), None);
        let user = caller.user.id;
        if !self
            .mfa
            .regenerate_with_proof(user, &proof, digests, self.clock.now(), &effects)
            .await?
        {
            let denied = DisableDenied::InvalidCode;
            let kind = Some(proof.kind());
            return Err(self.check.refuse(&events, caller, client, ticket, denied, kind).await);
        }
        self.check.committed(&effects, ticket);
        Ok(codes.into_iter().map(PlainToken::new).collect())
    }
}
