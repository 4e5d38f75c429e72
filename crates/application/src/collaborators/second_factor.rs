//! Second factors: turning a typed code into a proof storage can spend.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::{EncryptedSecret, ProofKind, SecondFactor, TotpStep, UserId};

use crate::error::Unexpected;
use crate::ports::{BackupCodeHasher, Clock, MfaProof, SecretCipher, Totp};

/// Checks a typed code against a user's second factor.
#[derive(Clone)]
pub struct SecondFactorCheck {
    cipher: Arc<dyn SecretCipher>,
    totp: Arc<dyn Totp>,
    backup_codes: Arc<dyn BackupCodeHasher>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SecondFactorCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecondFactorCheck").finish_non_exhaustive()
    }
}

impl SecondFactorCheck {
    /// A check that opens TOTP secrets with `cipher`, verifies codes with `totp` at the
    /// `clock`'s time, and digests backup codes with `backup_codes`.
    #[must_use]
    pub fn new(
        cipher: Arc<dyn SecretCipher>,
        totp: Arc<dyn Totp>,
        backup_codes: Arc<dyn BackupCodeHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { cipher, totp, backup_codes, clock }
    }

    /// Row 8 of the disable table, shared by every operation that takes a code: turns the
    /// raw `code` into a proof storage can spend, or `None` when it cannot be valid (not a
    /// code, wrong TOTP, a replayed TOTP step). Backup codes are checked by spending them.
    /// Also returns the kind of code typed, when it parses as one.
    pub(crate) fn proof_for(
        &self,
        user: UserId,
        secret: &EncryptedSecret,
        last_step: Option<TotpStep>,
        raw_code: &str,
    ) -> Result<(Option<ProofKind>, Option<MfaProof>), Unexpected> {
        let Ok(factor) = SecondFactor::parse(raw_code) else {
            return Ok((None, None));
        };
        let kind = Some(factor.kind());
        match factor {
            SecondFactor::Totp(code) => {
                let secret = self.cipher.decrypt(user, secret)?;
                let proof = self
                    .totp
                    .verify(&secret, &code, self.clock.now())
                    .filter(|step| !step.is_replay_after(last_step))
                    .map(MfaProof::TotpStep);
                Ok((kind, proof))
            }
            SecondFactor::Backup(code) => {
                Ok((kind, Some(MfaProof::BackupCode(self.backup_codes.digest(&code)))))
            }
        }
    }
}
