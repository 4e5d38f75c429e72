//! Recording a passkey's use after its assertion verified: the counter's compare-and-set in
//! storage, and the audit event of a counter that did not move forward — a cloned
//! authenticator, or a replayed assertion (WebAuthn Level 3 § 7.2 step 21). The step-up and
//! passwordless sign-in use it; neither may count such an assertion as a proof.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::{AuditEventKind, PasskeyId, UserId};

use crate::caller::ClientInfo;
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::error::Unexpected;
use crate::ports::{PasskeyRepository, PasskeyUse, PasskeyUseOutcome};

/// Records uses of passkeys, auditing the refused ones.
#[derive(Clone)]
pub struct PasskeyUseRecorder {
    passkeys: Arc<dyn PasskeyRepository>,
    audit: AuditTrail,
}

impl fmt::Debug for PasskeyUseRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyUseRecorder").finish_non_exhaustive()
    }
}

impl PasskeyUseRecorder {
    /// Uses recorded in `passkeys`, refusals in `audit`.
    #[must_use]
    pub fn new(passkeys: Arc<dyn PasskeyRepository>, audit: AuditTrail) -> Self {
        Self { passkeys, audit }
    }

    /// Records `used` of `user`'s passkey `passkey` (from `client`); whether it counts. A
    /// counter at or below the stored one writes nothing and is audited as
    /// `passkey_counter_regressed` (naming the passkey, never its credential); a passkey gone
    /// meanwhile does not count either.
    ///
    /// # Errors
    /// When storage fails.
    pub async fn record(
        &self,
        user: UserId,
        passkey: PasskeyId,
        client: &ClientInfo,
        used: &PasskeyUse,
    ) -> Result<bool, Unexpected> {
        match self.passkeys.record_passkey_use(used).await? {
            PasskeyUseOutcome::Recorded => Ok(true),
            PasskeyUseOutcome::NotFound => Ok(false),
            PasskeyUseOutcome::CounterRegressed => {
                audit_counter_regressed(&self.audit, user, passkey, client).await;
                Ok(false)
            }
        }
    }
}

/// Logs and audits `user`'s passkey `passkey` presenting a counter that did not move
/// forward (`passkey_counter_regressed`, naming the passkey, never its credential).
pub(crate) async fn audit_counter_regressed(
    audit: &AuditTrail,
    user: UserId,
    passkey: PasskeyId,
    client: &ClientInfo,
) {
    tracing::warn!(
        user.id = %user,
        passkey.id = %passkey,
        "a passkey's signature counter did not move forward; the assertion is refused"
    );
    let entry = AuditEntry::new(AuditEventKind::PasskeyCounterRegressed, Some(user), client)
        .failure("PASSKEY_COUNTER_REGRESSED")
        .with_detail(format!("passkey={passkey}"));
    audit.record(entry).await;
}
