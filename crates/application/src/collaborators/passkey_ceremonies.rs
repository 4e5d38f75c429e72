//! WebAuthn ceremonies kept server-side and single use, and what an assertion proves: the
//! challenge a person answers with a passkey (to sign in, or to prove possession before an
//! MFA change), and the check that turns the answer into a proof storage can spend.

use std::fmt;
use std::sync::Arc;

use chrono::TimeDelta;
use slugbase_domain::UserId;

use crate::caller::ClientInfo;
use crate::collaborators::audit_trail::AuditTrail;
use crate::collaborators::passkey_use::audit_counter_regressed;
use crate::collaborators::token_minter::TokenMinter;
use crate::error::{Unexpected, unexpected_from_ports};
use crate::plain_token::PlainToken;
use crate::ports::{
    CeremonyKind, CeremonyRecord, CeremonyState, Clock, Listed, MfaProof, PasskeyRepository,
    PasskeyUse, TokenDigest, WebAuthn, WebAuthnError,
};

/// How long a ceremony may take, from options to answer: the authenticator's own timeout
/// (five minutes) and no more.
pub const CEREMONY_SECS: i64 = 300;

/// A ceremony started: what the browser needs. `Debug` shows none of it (the options carry
/// the challenge).
#[derive(Clone)]
pub struct CeremonyOptions {
    /// Names the ceremony in the answer; single use.
    pub ceremony_id: PlainToken,
    /// The options for `navigator.credentials.create()` / `.get()` (JSON text:
    /// `{"publicKey": …}`).
    pub options_json: String,
}

impl fmt::Debug for CeremonyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CeremonyOptions").finish_non_exhaustive()
    }
}

/// An answer to an assertion challenge: the ceremony it answers and what
/// `navigator.credentials.get()` returned. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyAssertion {
    /// The `ceremony_id` the challenge came with.
    pub ceremony_id: String,
    /// The `PublicKeyCredential`, as JSON text.
    pub credential_json: String,
}

impl fmt::Debug for PasskeyAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyAssertion").finish_non_exhaustive()
    }
}

/// Why no assertion challenge could be given.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    /// The account has no passkey to answer it with.
    #[error("this account has no passkey")]
    NoPasskeys,
    /// Passkeys cannot work with the server's configuration.
    #[error("passkeys are not available on this server")]
    Unavailable,
    /// Storage down, a stored passkey that does not decode, or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

unexpected_from_ports!(ChallengeError);

/// Ceremonies in storage, under the digest of an id only the client holds.
#[derive(Clone)]
pub struct PasskeyCeremonies {
    passkeys: Arc<dyn PasskeyRepository>,
    webauthn: Arc<dyn WebAuthn>,
    minter: TokenMinter,
    digest: Arc<dyn TokenDigest>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for PasskeyCeremonies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyCeremonies").finish_non_exhaustive()
    }
}

impl PasskeyCeremonies {
    /// Ceremonies and credentials in `passkeys`, verified by `webauthn`; ids minted by
    /// `minter` and stored as their `digest`; refusals worth an operator's eye in `audit`;
    /// lifetimes by the `clock`.
    #[must_use]
    pub fn new(
        passkeys: Arc<dyn PasskeyRepository>,
        webauthn: Arc<dyn WebAuthn>,
        minter: TokenMinter,
        digest: Arc<dyn TokenDigest>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { passkeys, webauthn, minter, digest, audit, clock }
    }

    /// The WebAuthn relying party the ceremonies run on.
    pub(crate) fn webauthn(&self) -> &dyn WebAuthn {
        &*self.webauthn
    }

    /// Stores `user`'s `kind` ceremony with the relying party's `state`; returns its id.
    ///
    /// # Errors
    /// When storage fails.
    pub(crate) async fn open(
        &self,
        user: UserId,
        kind: CeremonyKind,
        state: CeremonyState,
    ) -> Result<PlainToken, Unexpected> {
        let ceremony_id = self.minter.mint("");
        let now = self.clock.now();
        // Ceremonies nobody finished go when a new one starts (as the OIDC flows do).
        self.passkeys.delete_expired_ceremonies(now).await?;
        let record = CeremonyRecord {
            id_hash: self.digest.digest(ceremony_id.expose()),
            user_id: user,
            kind,
            state,
            created_at: now,
            expires_at: now + TimeDelta::seconds(CEREMONY_SECS),
        };
        self.passkeys.put_ceremony(record).await?;
        Ok(ceremony_id)
    }

    /// Takes (once) `user`'s live `kind` ceremony named `ceremony_id`.
    ///
    /// # Errors
    /// When storage fails.
    pub(crate) async fn take(
        &self,
        ceremony_id: &str,
        user: UserId,
        kind: CeremonyKind,
    ) -> Result<Option<CeremonyState>, Unexpected> {
        let id_hash = self.digest.digest(ceremony_id);
        Ok(self.passkeys.take_ceremony(&id_hash, user, kind, self.clock.now()).await?)
    }

    /// Starts an assertion with one of `user`'s passkeys (for `navigator.credentials.get()`):
    /// the challenge a step-up or a proof of possession answers.
    ///
    /// # Errors
    /// [`ChallengeError`].
    pub async fn challenge(&self, user: UserId) -> Result<CeremonyOptions, ChallengeError> {
        let mine: Vec<_> = self
            .passkeys
            .passkeys_of(user)
            .await?
            .into_iter()
            .filter_map(Listed::ok)
            .map(|p| p.passkey)
            .collect();
        if mine.is_empty() {
            return Err(ChallengeError::NoPasskeys);
        }
        let start = match self.webauthn.start_authentication(&mine) {
            Ok(start) => start,
            Err(WebAuthnError::Unavailable(reason)) => {
                tracing::warn!(%reason, "passkeys are unavailable");
                return Err(ChallengeError::Unavailable);
            }
            Err(e) => return Err(Unexpected::Internal(anyhow::Error::new(e)).into()),
        };
        let ceremony_id = self.open(user, CeremonyKind::Authentication, start.state).await?;
        Ok(CeremonyOptions { ceremony_id, options_json: start.options_json })
    }

    /// Turns `user`'s answer to a challenge into a proof storage can spend, or `None` when it
    /// proves nothing: the ceremony is not a live one of theirs (a second answer, a replay),
    /// the passkey is not theirs, the assertion fails verification, or its counter did not
    /// move forward (audited as `passkey_counter_regressed`: a cloned authenticator). The
    /// ceremony is used up either way.
    ///
    /// # Errors
    /// When storage fails.
    pub(crate) async fn proof(
        &self,
        user: UserId,
        client: &ClientInfo,
        assertion: &PasskeyAssertion,
    ) -> Result<Option<MfaProof>, Unexpected> {
        let kind = CeremonyKind::Authentication;
        let Some(state) = self.take(&assertion.ceremony_id, user, kind).await? else {
            tracing::info!("a passkey assertion answered no live challenge of the account");
            return Ok(None);
        };
        let json = assertion.credential_json.as_str();
        let Ok(credential_id) = self.webauthn.assertion_credential_id(json) else {
            tracing::info!("a passkey assertion does not parse");
            return Ok(None);
        };
        let stored = self.passkeys.find_passkey(&credential_id).await?;
        let Some(stored) = stored.filter(|p| p.user_id == user) else {
            tracing::info!("a passkey assertion names no passkey of the account");
            return Ok(None);
        };
        let verified = match self.webauthn.finish_authentication(json, &state, &stored.passkey) {
            Ok(verified) => verified,
            Err(WebAuthnError::CounterRegressed) => {
                audit_counter_regressed(&self.audit, user, stored.id, client).await;
                return Ok(None);
            }
            Err(e) => {
                tracing::info!(error = %e, "a passkey assertion was refused");
                return Ok(None);
            }
        };
        // The counter the ceremony started from may be behind the stored one by now (another
        // use meanwhile): compare with what is stored too. Storage's compare-and-set, in the
        // change's transaction, settles the race between two uses.
        let regressed = if verified.sign_count == 0 {
            stored.sign_count != 0
        } else {
            verified.sign_count <= stored.sign_count
        };
        if regressed {
            audit_counter_regressed(&self.audit, user, stored.id, client).await;
            return Ok(None);
        }
        Ok(Some(MfaProof::Passkey(PasskeyUse {
            credential_id: verified.credential_id,
            passkey: verified.passkey,
            sign_count: verified.sign_count,
            backup_state: verified.backup_state,
            at: self.clock.now(),
        })))
    }
}
