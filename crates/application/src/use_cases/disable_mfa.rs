//! `POST /api/auth/mfa/disable`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use slugbase_domain::MfaOperation;

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::both_factors::{BothFactorsCheck, BothFactorsInput, MfaChangeError};
use crate::collaborators::sessions::SessionRevoker;
use crate::error::InputRejected;
use crate::ports::{Clock, MfaRepository};

/// Errors of [`DisableMfa`].
pub type DisableMfaError = MfaChangeError;

/// `POST /api/auth/mfa/disable`: turn MFA off with proof of possession (a fresh TOTP or
/// an unused backup code) and, for local users, knowledge (the password).
///
/// The checks run in the contract's order (rows 3–8 of the table under
/// `POST /api/auth/mfa/disable` in `docs/api.md`; rows 1–2 belong to the web adapter). On
/// success, in one transaction: the proof spent, MFA off, secret erased, backup codes
/// deleted, replay state reset, the `mfa_disable_success` event stored, every other session
/// of the user ended (configurable) and the reserved attempt given back.
#[derive(Clone)]
pub struct DisableMfa {
    check: BothFactorsCheck,
    mfa: Arc<dyn MfaRepository>,
    clock: Arc<dyn Clock>,
    revoker: SessionRevoker,
}

impl fmt::Debug for DisableMfa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisableMfa").finish_non_exhaustive()
    }
}

impl DisableMfa {
    /// The use case: `check` runs rows 3–8, `mfa` turns MFA off with the proof at the
    /// `clock`'s time, `revoker` says which sessions end with it.
    #[must_use]
    pub fn new(
        check: BothFactorsCheck,
        mfa: Arc<dyn MfaRepository>,
        clock: Arc<dyn Clock>,
        revoker: SessionRevoker,
    ) -> Self {
        Self { check, mfa, clock, revoker }
    }
}

/// What the web adapter calls for `POST /api/auth/mfa/disable`; [`DisableMfa`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DisableMfaUseCase: Send + Sync {
    /// See [`DisableMfa::execute`].
    ///
    /// # Errors
    /// [`MfaChangeError`], one variant per row of the table.
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<BothFactorsInput, InputRejected>,
    ) -> Result<(), MfaChangeError>;
}

#[async_trait]
impl DisableMfaUseCase for DisableMfa {
    /// Runs the operation. `input` is `Err` when the body failed validation; it is reported
    /// only after the attempt limit is checked, as row 4 comes after row 3.
    ///
    /// # Errors
    /// [`MfaChangeError`], one variant per row of the table.
    #[tracing::instrument(name = "disable_mfa", skip_all, fields(user.id = %caller.user.id))]
    async fn execute(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<BothFactorsInput, InputRejected>,
    ) -> Result<(), MfaChangeError> {
        let change = self.check.check(MfaOperation::Disable, caller, client, input).await?;
        let effects = change.effects(self.revoker.on_mfa_change(caller.session()));
        let now = self.clock.now();
        let spent = self.mfa.disable_with_proof(caller.user.id, change.proof(), now, &effects);
        let spent = spent.await?;
        change.settle(spent, &effects).await
    }
}
