//! Second factors: turning what a person presents — a typed code, or an answer from a
//! passkey — into a proof storage can spend.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::{EncryptedSecret, ProofKind, SecondFactor, TotpStep, UserId};

use crate::caller::ClientInfo;
use crate::collaborators::passkey_ceremonies::{PasskeyAssertion, PasskeyCeremonies};
use crate::error::Unexpected;
use crate::ports::{BackupCodeHasher, Clock, MfaProof, SecretCipher, Totp};

/// What a person presents as proof of possession. `Debug` shows which, never the content.
#[derive(Clone, PartialEq, Eq)]
pub enum Possession {
    /// A TOTP code or an unused backup code, as typed.
    Code(String),
    /// An answer from one of their passkeys to a challenge they obtained first.
    Passkey(PasskeyAssertion),
}

impl fmt::Debug for Possession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(_) => f.write_str("Possession::Code(..)"),
            Self::Passkey(_) => f.write_str("Possession::Passkey(..)"),
        }
    }
}

/// The user whose possession is checked, with their TOTP state: the secret a code must
/// match and the newest step accepted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Holder<'a> {
    /// Whose factor.
    pub(crate) user: UserId,
    /// Where the answer comes from (for the audit of a cloned passkey).
    pub(crate) client: &'a ClientInfo,
    /// The TOTP secret, sealed; `None` when MFA is on with passkeys alone.
    pub(crate) secret: Option<&'a EncryptedSecret>,
    /// The newest TOTP step accepted; a code for it or earlier is a replay.
    pub(crate) last_step: Option<TotpStep>,
}

/// Checks a typed code against a user's second factor.
#[derive(Clone)]
pub struct SecondFactorCheck {
    cipher: Arc<dyn SecretCipher>,
    totp: Arc<dyn Totp>,
    backup_codes: Arc<dyn BackupCodeHasher>,
    clock: Arc<dyn Clock>,
    passkeys: Option<PasskeyCeremonies>,
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
        Self { cipher, totp, backup_codes, clock, passkeys: None }
    }

    /// Also accepts answers from passkeys, checked against `ceremonies` (without: an
    /// answer from a passkey proves nothing).
    #[must_use]
    pub fn with_passkeys(mut self, ceremonies: PasskeyCeremonies) -> Self {
        self.passkeys = Some(ceremonies);
        self
    }

    /// Row 8 for any [`Possession`]: a code as [`Self::proof_for`] checks it, or a passkey's
    /// answer as [`PasskeyCeremonies`] checks it. Returns the kind presented (when it parses
    /// as one) and the proof, or `None` when it cannot be valid.
    ///
    /// # Errors
    /// When storage fails or a stored secret cannot be opened.
    pub(crate) async fn proof_of(
        &self,
        holder: Holder<'_>,
        possession: &Possession,
    ) -> Result<(Option<ProofKind>, Option<MfaProof>), Unexpected> {
        match possession {
            Possession::Code(code) => {
                self.proof_for(holder.user, holder.secret, holder.last_step, code)
            }
            Possession::Passkey(assertion) => {
                let proof = match &self.passkeys {
                    Some(ceremonies) => {
                        ceremonies.proof(holder.user, holder.client, assertion).await?
                    }
                    None => None,
                };
                Ok((Some(ProofKind::Passkey), proof))
            }
        }
    }

    /// Row 8 of the disable table, shared by every operation that takes a code: turns the
    /// raw `code` into a proof storage can spend, or `None` when it cannot be valid (not a
    /// code, wrong TOTP, a replayed TOTP step, a TOTP code where there is no `secret`).
    /// Backup codes are checked by spending them.
    /// Also returns the kind of code typed, when it parses as one.
    pub(crate) fn proof_for(
        &self,
        user: UserId,
        secret: Option<&EncryptedSecret>,
        last_step: Option<TotpStep>,
        raw_code: &str,
    ) -> Result<(Option<ProofKind>, Option<MfaProof>), Unexpected> {
        let Ok(factor) = SecondFactor::parse(raw_code) else {
            return Ok((None, None));
        };
        let kind = Some(factor.kind());
        match factor {
            SecondFactor::Totp(code) => {
                let Some(secret) = secret else { return Ok((kind, None)) };
                let secret = self.cipher.decrypt(user, secret)?;
                let proof = self
                    .totp
                    .verify(&secret, &code, self.clock.now())
                    .filter(|step| !step.is_replay_after(last_step))
                    .map(MfaProof::TotpStep);
                Ok((kind, proof))
            }
            SecondFactor::Backup(code) => {
                // Ours or one imported from SlugBase: storage spends whichever row holds
                // either digest, in one conditional statement.
                let proof = MfaProof::AnyBackupCode {
                    keyed: self.backup_codes.digest(&code),
                    imported: self.backup_codes.imported_digest(&code),
                };
                Ok((kind, Some(proof)))
            }
        }
    }
}
