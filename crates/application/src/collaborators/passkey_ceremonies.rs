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
    CeremonyKind, CeremonyRecord, CeremonyState, Clock, Listed, MfaProof, PasskeyRecord,
    PasskeyRepository, PasskeyUse, TokenDigest, VerifiedPasskey, WebAuthn, WebAuthnError,
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

    /// Stores `user`'s `kind` ceremony (no one's: `None`) with the relying party's `state`;
    /// returns its id.
    ///
    /// # Errors
    /// When storage fails.
    pub(crate) async fn open(
        &self,
        user: Option<UserId>,
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

    /// Takes (once) `user`'s (no one's: `None`) live `kind` ceremony named `ceremony_id`.
    ///
    /// # Errors
    /// When storage fails.
    pub(crate) async fn take(
        &self,
        ceremony_id: &str,
        user: Option<UserId>,
        kind: CeremonyKind,
    ) -> Result<Option<CeremonyState>, Unexpected> {
        let id_hash = self.digest.digest(ceremony_id);
        Ok(self.passkeys.take_ceremony(&id_hash, user, kind, self.clock.now()).await?)
    }

    /// Whether `user` has a passkey (one that decodes) to answer a challenge with.
    ///
    /// # Errors
    /// When storage fails.
    pub(crate) async fn has_passkeys(&self, user: UserId) -> Result<bool, Unexpected> {
        let rows = self.passkeys.passkeys_of(user).await?;
        Ok(rows.into_iter().any(|row| matches!(row, Listed::Ok(_))))
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
        let ceremony_id = self.open(Some(user), CeremonyKind::Authentication, start.state).await?;
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
        let Some(state) = self.take(&assertion.ceremony_id, Some(user), kind).await? else {
            tracing::info!("a passkey assertion answered no live challenge of the account");
            return Ok(None);
        };
        let json = assertion.credential_json.as_str();
        let Ok(credential_id) = self.webauthn.assertion_credential_id(json) else {
            tracing::info!("a passkey assertion does not parse");
            return Ok(None);
        };
        let Some(stored) = self.passkey_of(user, &credential_id).await? else {
            return Ok(None);
        };
        let verified = self.webauthn.finish_authentication(json, &state, &stored.passkey);
        self.judge(&stored, client, verified).await
    }

    /// Starts a passwordless sign-in: options naming no credential, and a ceremony stored for
    /// no one (the answer names the account).
    ///
    /// # Errors
    /// [`ChallengeError::Unavailable`] or [`ChallengeError::Unexpected`].
    pub async fn sign_in_challenge(&self) -> Result<CeremonyOptions, ChallengeError> {
        let start = match self.webauthn.start_sign_in() {
            Ok(start) => start,
            Err(WebAuthnError::Unavailable(reason)) => {
                tracing::warn!(%reason, "passkeys are unavailable");
                return Err(ChallengeError::Unavailable);
            }
            Err(e) => return Err(Unexpected::Internal(anyhow::Error::new(e)).into()),
        };
        let ceremony_id = self.open(None, CeremonyKind::SignIn, start.state).await?;
        Ok(CeremonyOptions { ceremony_id, options_json: start.options_json })
    }

    /// The first half of a passwordless sign-in's answer: takes its ceremony (once) and finds
    /// the passkey it names, which must be the account's its user handle names. Nothing is
    /// verified yet; `None` when the answer cannot be one.
    ///
    /// # Errors
    /// When storage fails.
    pub(crate) async fn sign_in_claim(
        &self,
        assertion: &PasskeyAssertion,
    ) -> Result<Option<SignInClaim>, Unexpected> {
        let kind = CeremonyKind::SignIn;
        let Some(state) = self.take(&assertion.ceremony_id, None, kind).await? else {
            tracing::info!("a passkey sign-in answered no live challenge");
            return Ok(None);
        };
        let Ok((user, credential_id)) = self.webauthn.sign_in_names(&assertion.credential_json)
        else {
            tracing::info!("a passkey sign-in names no account");
            return Ok(None);
        };
        let passkey = self.passkey_of(user, &credential_id).await?;
        Ok(passkey.map(|passkey| SignInClaim { state, passkey }))
    }

    /// The second half: verifies the answer against its claim; the proof to spend with the
    /// sign-in, or `None` (as [`Self::proof`]).
    ///
    /// # Errors
    /// When storage fails.
    pub(crate) async fn sign_in_proof(
        &self,
        claim: &SignInClaim,
        client: &ClientInfo,
        assertion: &PasskeyAssertion,
    ) -> Result<Option<MfaProof>, Unexpected> {
        let json = assertion.credential_json.as_str();
        let verified = self.webauthn.finish_sign_in(json, &claim.state, &claim.passkey.passkey);
        self.judge(&claim.passkey, client, verified).await
    }

    /// `user`'s stored passkey with `credential_id`, if it is theirs.
    async fn passkey_of(
        &self,
        user: UserId,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, Unexpected> {
        let stored = self.passkeys.find_passkey(credential_id).await?;
        let mine = stored.filter(|p| p.user_id == user);
        if mine.is_none() {
            tracing::info!("a passkey assertion names no passkey of the account");
        }
        Ok(mine)
    }

    /// What a verification of `stored`'s assertion proves: nothing when it failed, or when
    /// its counter is not above the stored one (audited: a cloned authenticator); else the
    /// use to spend.
    async fn judge(
        &self,
        stored: &PasskeyRecord,
        client: &ClientInfo,
        verified: Result<VerifiedPasskey, WebAuthnError>,
    ) -> Result<Option<MfaProof>, Unexpected> {
        let user = stored.user_id;
        let verified = match verified {
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

/// A passwordless sign-in's answer before verification: its ceremony's state and the
/// passkey it names (whose owner is the account signing in).
#[derive(Debug)]
pub(crate) struct SignInClaim {
    state: CeremonyState,
    passkey: PasskeyRecord,
}

impl SignInClaim {
    /// The account the answer names.
    pub(crate) const fn user(&self) -> UserId {
        self.passkey.user_id
    }
}
