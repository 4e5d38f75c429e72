//! `/api/auth/passkeys`: register (options, then verify), list, rename and remove the
//! caller's passkeys. A passkey is a second factor beside TOTP: the first one registered
//! while MFA is off turns MFA on (with backup codes, shown once), removing one needs the
//! same proof as disabling MFA, and the last factor of an account is never removed here
//! (turning MFA off is `POST /api/auth/mfa/disable`'s job).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{
    AuditEventKind, MfaOperation, NoticeKind, PasskeyId, PasskeyName, PasskeyNameError, ProofKind,
};

use crate::caller::{Caller, ClientInfo};
use crate::collaborators::audit_trail::{AuditEntry, AuditTrail};
use crate::collaborators::backup_codes::BackupCodeIssuer;
use crate::collaborators::both_factors::{BothFactorsCheck, BothFactorsInput, MfaChangeError};
use crate::collaborators::passkey_ceremonies::{
    CeremonyOptions, ChallengeError, PasskeyCeremonies,
};
use crate::error::{InputRejected, Unexpected, unexpected_from_ports};
use crate::plain_token::PlainToken;
use crate::ports::{
    CeremonyKind, ChangeEffects, Clock, Listed, MfaTurnOn, Notice, PasskeyOwner, PasskeyRecord,
    PasskeyRemoval, PasskeyRepository, StoreError, WebAuthnError,
};

/// Most passkeys one account may hold: enough for every device a person carries, few
/// enough that the options (which list them all to exclude) stay small.
pub const MAX_PASSKEYS_PER_USER: usize = 10;

/// A passkey as listed: never its credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyView {
    /// Public id.
    pub id: PasskeyId,
    /// The name its owner gave it.
    pub name: String,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// May be backed up (synced) by its provider.
    pub backup_eligible: bool,
    /// Was backed up when last seen.
    pub backup_state: bool,
}

impl From<PasskeyRecord> for PasskeyView {
    fn from(r: PasskeyRecord) -> Self {
        Self {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            backup_eligible: r.backup_eligible,
            backup_state: r.backup_state,
        }
    }
}

/// A registered passkey, and the backup codes issued when registering it turned MFA on.
/// `Debug` shows no code.
#[derive(Clone)]
pub struct Registered {
    /// The new passkey.
    pub passkey: PasskeyView,
    /// The account's backup codes, to be shown once: `Some` only when this registration
    /// turned MFA on (the account had no second factor before).
    pub backup_codes: Option<Vec<PlainToken>>,
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("passkey", &self.passkey)
            .field("backup_codes", &self.backup_codes.as_ref().map(Vec::len))
            .finish()
    }
}

/// The answer to a registration. `Debug` shows the name only.
#[derive(Clone)]
pub struct FinishRegistrationInput {
    /// The ceremony id the options came with.
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as JSON text.
    pub credential_json: String,
    /// A name for the passkey (default "Passkey").
    pub name: Option<String>,
}

impl fmt::Debug for FinishRegistrationInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FinishRegistrationInput").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Why a passkey operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The adapter could not read the body (it says why).
    #[error(transparent)]
    InputRejected(#[from] InputRejected),
    /// The name breaks a rule (400 naming `name`).
    #[error(transparent)]
    InvalidName(PasskeyNameError),
    /// The account holds [`MAX_PASSKEYS_PER_USER`] passkeys already.
    #[error("this account has the most passkeys it may hold")]
    TooManyPasskeys,
    /// No such ceremony for this caller: unknown, expired or already answered.
    #[error("the registration is unknown, expired or already finished; start again")]
    CeremonyInvalid,
    /// The credential did not parse or failed verification.
    #[error("the passkey could not be verified")]
    CredentialRejected,
    /// The credential is registered already (to this account or another).
    #[error("this passkey is registered already")]
    AlreadyRegistered,
    /// The caller has no passkey with that id.
    #[error("no such passkey")]
    NotFound,
    /// Removal: it is the account's last second factor (no TOTP, no other passkey).
    #[error(
        "this passkey is the account's last second factor; turn two-factor authentication off \
         instead (POST /api/auth/mfa/disable), or add another factor first"
    )]
    LastFactor,
    /// A challenge for an account without passkeys.
    #[error("this account has no passkey")]
    NoPasskeys,
    /// Passkeys cannot work with the server's configuration.
    #[error("passkeys are not available on this server")]
    Unavailable,
    /// Removal: the checks of `POST /api/auth/mfa/disable` refused it.
    #[error(transparent)]
    Change(#[from] MfaChangeError),
    /// Storage down or a bug.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

unexpected_from_ports!(PasskeyError);

impl From<ChallengeError> for PasskeyError {
    fn from(e: ChallengeError) -> Self {
        match e {
            ChallengeError::NoPasskeys => Self::NoPasskeys,
            ChallengeError::Unavailable => Self::Unavailable,
            ChallengeError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

impl From<WebAuthnError> for PasskeyError {
    fn from(e: WebAuthnError) -> Self {
        match e {
            WebAuthnError::Unavailable(reason) => {
                tracing::warn!(%reason, "passkeys are unavailable");
                Self::Unavailable
            }
            WebAuthnError::Malformed(why) | WebAuthnError::Rejected(why) => {
                tracing::info!(%why, "a passkey credential was refused");
                Self::CredentialRejected
            }
            WebAuthnError::CounterRegressed => Self::CredentialRejected,
        }
    }
}

/// What the web adapter calls for `/api/auth/passkeys`; [`Passkeys`] implements it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasskeysUseCase: Send + Sync {
    /// Starts registering a passkey for the caller: options for the browser (excluding the
    /// passkeys the caller has) and a single-use ceremony id.
    ///
    /// # Errors
    /// [`PasskeyError::TooManyPasskeys`], [`PasskeyError::Unavailable`],
    /// [`PasskeyError::Unexpected`].
    async fn begin_registration(&self, caller: &Caller) -> Result<CeremonyOptions, PasskeyError>;

    /// Finishes a registration: takes the ceremony (once), verifies the credential, stores
    /// it with its `passkey_added` event and notice — and, when MFA is off, turns MFA on in
    /// the same transaction with backup codes, its `mfa_enroll_confirm_success` event
    /// (proof `passkey`) and notice; the codes are returned, once.
    ///
    /// # Errors
    /// [`PasskeyError`]: the input, the name, the ceremony, the credential, a duplicate.
    async fn finish_registration(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<FinishRegistrationInput, InputRejected>,
    ) -> Result<Registered, PasskeyError>;

    /// Starts an assertion with one of the caller's passkeys: the challenge whose answer
    /// proves possession to `POST /api/auth/mfa/disable`, backup-code regeneration and
    /// passkey removal (`credential` and `ceremony_id` in place of `code`).
    ///
    /// # Errors
    /// [`PasskeyError::NoPasskeys`], [`PasskeyError::Unavailable`],
    /// [`PasskeyError::Unexpected`].
    async fn begin_assertion(&self, caller: &Caller) -> Result<CeremonyOptions, PasskeyError>;

    /// The caller's passkeys, oldest first.
    ///
    /// # Errors
    /// [`PasskeyError::Unexpected`].
    async fn list(&self, caller: &Caller) -> Result<Vec<Listed<PasskeyView>>, PasskeyError>;

    /// Renames one of the caller's passkeys.
    ///
    /// # Errors
    /// [`PasskeyError::InputRejected`], [`PasskeyError::InvalidName`],
    /// [`PasskeyError::NotFound`], [`PasskeyError::Unexpected`].
    async fn rename(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: PasskeyId,
        name: Result<String, InputRejected>,
    ) -> Result<(), PasskeyError>;

    /// Removes one of the caller's passkeys, with the proof `POST /api/auth/mfa/disable`
    /// asks for (code, and password for local users), in one transaction with its audit
    /// event and notice.
    ///
    /// # Errors
    /// [`PasskeyError::NotFound`] first, then [`PasskeyError::LastFactor`] (neither counts
    /// an attempt); then [`PasskeyError::Change`], one variant per row of the disable table
    /// (attempt limit, body, MFA on, password, code).
    async fn remove(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: PasskeyId,
        input: Result<BothFactorsInput, InputRejected>,
    ) -> Result<(), PasskeyError>;
}

/// The passkey use cases, over the passkey store and the WebAuthn relying party.
#[derive(Clone)]
pub struct Passkeys {
    passkeys: Arc<dyn PasskeyRepository>,
    ceremonies: PasskeyCeremonies,
    check: BothFactorsCheck,
    codes: BackupCodeIssuer,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passkeys").finish_non_exhaustive()
    }
}

impl Passkeys {
    /// The use cases: credentials in `passkeys`, ceremonies kept by `ceremonies`, removal
    /// checked by `check`, backup codes issued by `codes` when a first passkey turns MFA
    /// on, events in `audit` at the `clock`'s time.
    #[must_use]
    pub fn new(
        passkeys: Arc<dyn PasskeyRepository>,
        ceremonies: PasskeyCeremonies,
        check: BothFactorsCheck,
        codes: BackupCodeIssuer,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { passkeys, ceremonies, check, codes, audit, clock }
    }

    /// The caller's passkeys that decode.
    async fn mine(&self, caller: &Caller) -> Result<Vec<PasskeyRecord>, PasskeyError> {
        let rows = self.passkeys.passkeys_of(caller.user.id).await?;
        Ok(rows.into_iter().filter_map(Listed::ok).collect())
    }

    /// Audits a refused registration.
    async fn registration_refused(&self, caller: &Caller, client: &ClientInfo, reason: &str) {
        let entry = AuditEntry::new(AuditEventKind::PasskeyAddFail, Some(caller.user.id), client)
            .failure(reason);
        self.audit.record(entry).await;
    }
}

#[async_trait]
impl PasskeysUseCase for Passkeys {
    #[tracing::instrument(name = "passkey_register_begin", skip_all, fields(user.id = %caller.user.id))]
    async fn begin_registration(&self, caller: &Caller) -> Result<CeremonyOptions, PasskeyError> {
        // MFA off is no obstacle: the first passkey turns it on. The caller is authenticated
        // as for every other change (as TOTP enrollment, which turns MFA on too), and both
        // the passkey and MFA going on are reported by e-mail.
        let user = &caller.user;
        let mine = self.mine(caller).await?;
        if mine.len() >= MAX_PASSKEYS_PER_USER {
            return Err(PasskeyError::TooManyPasskeys);
        }
        let exclude: Vec<Vec<u8>> = mine.into_iter().map(|p| p.credential_id).collect();
        let owner = PasskeyOwner {
            user_id: user.id,
            name: user.email.as_str(),
            display_name: user.name.as_str(),
        };
        let start = self.ceremonies.webauthn().start_registration(owner, &exclude)?;
        let kind = CeremonyKind::Registration;
        let ceremony_id = self.ceremonies.open(Some(user.id), kind, start.state).await?;
        Ok(CeremonyOptions { ceremony_id, options_json: start.options_json })
    }

    #[tracing::instrument(name = "passkey_register_finish", skip_all, fields(user.id = %caller.user.id))]
    async fn finish_registration(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        input: Result<FinishRegistrationInput, InputRejected>,
    ) -> Result<Registered, PasskeyError> {
        let input = input?;
        let raw_name = input.name.as_deref().unwrap_or(PasskeyName::DEFAULT);
        let name = PasskeyName::parse(raw_name).map_err(PasskeyError::InvalidName)?;
        let user = &caller.user;
        let now = self.clock.now();
        let kind = CeremonyKind::Registration;
        let taken = self.ceremonies.take(&input.ceremony_id, Some(user.id), kind).await?;
        let Some(state) = taken else {
            self.registration_refused(caller, client, "PASSKEY_CEREMONY_INVALID").await;
            return Err(PasskeyError::CeremonyInvalid);
        };
        let finished =
            self.ceremonies.webauthn().finish_registration(&input.credential_json, &state);
        let verified = match finished {
            Ok(verified) => verified,
            Err(e) => {
                let error = PasskeyError::from(e);
                if matches!(error, PasskeyError::CredentialRejected) {
                    self.registration_refused(caller, client, "PASSKEY_REJECTED").await;
                }
                return Err(error);
            }
        };
        let record = PasskeyRecord {
            id: PasskeyId::generate(),
            user_id: user.id,
            credential_id: verified.credential_id,
            passkey: verified.passkey,
            name: name.as_str().to_owned(),
            created_at: now,
            last_used_at: None,
            sign_count: verified.sign_count,
            backup_eligible: verified.backup_eligible,
            backup_state: verified.backup_state,
        };
        let detail = format!("passkey={}", record.id);
        let entry = AuditEntry::new(AuditEventKind::PasskeyAdded, Some(user.id), client)
            .with_detail(detail.clone());
        let notice =
            Notice::about(NoticeKind::PasskeyAdded, user, client, now).with_subject(name.as_str());
        let effects = ChangeEffects::audited(self.audit.event(entry)).with_notice(notice);
        // Whether MFA is off is decided by storage, under the user's lock (the caller's view
        // may be stale): the codes are issued here and stored only if this registration is
        // the one that turns MFA on.
        let (codes, digests) = self.codes.issue();
        let on = AuditEntry::new(AuditEventKind::MfaEnrollConfirmSuccess, Some(user.id), client)
            .with_proof(Some(ProofKind::Passkey))
            .with_detail(detail);
        let turn_on = MfaTurnOn {
            backup_codes: digests,
            at: now,
            effects: ChangeEffects::audited(self.audit.event(on)).with_notice(Notice::about(
                NoticeKind::MfaEnabled,
                user,
                client,
                now,
            )),
        };
        match self.passkeys.create_first_passkey(record.clone(), &effects, &turn_on).await {
            Ok(turned_on) => {
                AuditTrail::log_line(&effects.audit);
                let backup_codes = turned_on.then(|| {
                    AuditTrail::log_line(&turn_on.effects.audit);
                    codes.into_iter().map(PlainToken::new).collect()
                });
                Ok(Registered { passkey: PasskeyView::from(record), backup_codes })
            }
            Err(StoreError::Conflict(_)) => {
                self.registration_refused(caller, client, "PASSKEY_ALREADY_REGISTERED").await;
                Err(PasskeyError::AlreadyRegistered)
            }
            Err(e) => Err(e.into()),
        }
    }

    #[tracing::instrument(name = "passkey_assertion_begin", skip_all, fields(user.id = %caller.user.id))]
    async fn begin_assertion(&self, caller: &Caller) -> Result<CeremonyOptions, PasskeyError> {
        Ok(self.ceremonies.challenge(caller.user.id).await?)
    }

    async fn list(&self, caller: &Caller) -> Result<Vec<Listed<PasskeyView>>, PasskeyError> {
        let rows = self.passkeys.passkeys_of(caller.user.id).await?;
        Ok(rows.into_iter().map(|row| row.map(PasskeyView::from)).collect())
    }

    #[tracing::instrument(name = "passkey_rename", skip_all, fields(user.id = %caller.user.id))]
    async fn rename(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: PasskeyId,
        name: Result<String, InputRejected>,
    ) -> Result<(), PasskeyError> {
        let name = PasskeyName::parse(&name?).map_err(PasskeyError::InvalidName)?;
        let user = caller.user.id;
        if !self.passkeys.rename_passkey(user, id, name.as_str()).await? {
            return Err(PasskeyError::NotFound);
        }
        let entry = AuditEntry::new(AuditEventKind::PasskeyRenamed, Some(user), client)
            .with_detail(format!("passkey={id}"));
        self.audit.record(entry).await;
        Ok(())
    }

    #[tracing::instrument(name = "passkey_remove", skip_all, fields(user.id = %caller.user.id))]
    async fn remove(
        &self,
        caller: &Caller,
        client: &ClientInfo,
        id: PasskeyId,
        input: Result<BothFactorsInput, InputRejected>,
    ) -> Result<(), PasskeyError> {
        // Someone else's passkey, or none: 404 before any attempt is counted.
        let rows = self.passkeys.passkeys_of(caller.user.id).await?;
        let held = rows.len();
        let Some(passkey) = rows.into_iter().filter_map(Listed::ok).find(|p| p.id == id) else {
            return Err(PasskeyError::NotFound);
        };
        // The last factor stays (storage checks it again in the removal's transaction): 409
        // before any attempt is counted.
        let mfa = &caller.user.mfa;
        if mfa.is_enabled() && !mfa.has_totp() && held <= 1 {
            return Err(PasskeyError::LastFactor);
        }
        let operation = MfaOperation::RemovePasskey;
        let change = self.check.check(operation, caller, client, input).await?;
        // Removing a second factor is not a change of the factor that signs in: no session
        // ends (another factor stays).
        let mut effects = change.effects(None);
        effects.audit.detail = Some(format!("passkey={id}"));
        effects.notice = effects.notice.map(|n| n.with_subject(passkey.name));
        let now = self.clock.now();
        let removal =
            self.passkeys.remove_passkey(caller.user.id, id, change.proof(), now, &effects);
        match removal.await? {
            PasskeyRemoval::Removed => Ok(change.settle(true, &effects).await?),
            PasskeyRemoval::ProofRefused => Ok(change.settle(false, &effects).await?),
            PasskeyRemoval::NotFound => {
                // Removed concurrently: nothing was spent, the attempt is given back.
                change.abandon("PASSKEY_NOT_FOUND").await?;
                Err(PasskeyError::NotFound)
            }
            PasskeyRemoval::LastFactor => {
                // Another factor went concurrently: nothing was spent, the attempt is given
                // back.
                change.abandon("PASSKEY_LAST_FACTOR").await?;
                Err(PasskeyError::LastFactor)
            }
        }
    }
}
