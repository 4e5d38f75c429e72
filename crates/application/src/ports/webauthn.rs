//! WebAuthn ceremonies (the `webauthn-rs` adapter): options for the browser, verification
//! of what it sends back. Everything crosses this port as opaque JSON text or bytes, so the
//! application names no WebAuthn library type.

use std::fmt;

use slugbase_domain::UserId;

use super::passkey_use::PasskeyData;
use super::passkeys::CeremonyState;

/// Who registers a passkey, as the authenticator will show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasskeyOwner<'a> {
    /// The user handle stored in the credential (the account's id, never the e-mail).
    pub user_id: UserId,
    /// The account name the authenticator lists (the e-mail address).
    pub name: &'a str,
    /// The display name.
    pub display_name: &'a str,
}

/// A ceremony started: the options for `navigator.credentials.create()` / `.get()` (JSON
/// text, as the WebAuthn JSON serialisation writes them: binary fields base64url) and the
/// server's state to keep until the answer comes. `Debug` shows neither (the options carry
/// the challenge).
#[derive(Clone, PartialEq, Eq)]
pub struct CeremonyStart {
    /// For the browser.
    pub options_json: String,
    /// For storage, single use.
    pub state: CeremonyState,
}

impl fmt::Debug for CeremonyStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CeremonyStart").finish_non_exhaustive()
    }
}

/// A credential the ceremony verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPasskey {
    /// The credential id (raw bytes).
    pub credential_id: Vec<u8>,
    /// The credential, serialised.
    pub passkey: PasskeyData,
    /// The authenticator's counter.
    pub sign_count: u32,
    /// May be backed up by its provider.
    pub backup_eligible: bool,
    /// Was backed up.
    pub backup_state: bool,
}

/// Why a ceremony could not go on.
#[derive(Debug, thiserror::Error)]
pub enum WebAuthnError {
    /// Passkeys cannot work with this configuration (the reason is for the operator: a
    /// `server.public_base_url` whose host is an IP address, …).
    #[error("passkeys are unavailable: {0}")]
    Unavailable(String),
    /// What the browser sent does not parse as a credential (the text is for the log and
    /// holds none of it).
    #[error("the credential does not parse: {0}")]
    Malformed(String),
    /// The credential parsed but failed verification: wrong challenge, origin or RP ID,
    /// user verification missing, a bad signature, a stored state that does not match…
    /// (the text is for the log).
    #[error("the credential was refused: {0}")]
    Rejected(String),
    /// The assertion verified, but its signature counter is not above the one the ceremony
    /// started from: a cloned authenticator, or a replay (WebAuthn Level 3 § 7.2 step 21).
    #[error("the assertion's signature counter did not move forward")]
    CounterRegressed,
}

/// The WebAuthn relying party: the RP ID and origin come from the configuration; user
/// verification is required, attestation is `none`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait WebAuthn: Send + Sync {
    /// Starts registering a passkey for `owner`; the authenticator is told not to make a
    /// second credential when it holds one of `exclude` (credential ids).
    ///
    /// # Errors
    /// [`WebAuthnError::Unavailable`] only.
    fn start_registration<'a>(
        &self,
        owner: PasskeyOwner<'a>,
        exclude: &[Vec<u8>],
    ) -> Result<CeremonyStart, WebAuthnError>;

    /// Verifies the browser's answer `credential_json` (a `PublicKeyCredential` from
    /// `navigator.credentials.create()`, JSON-serialised) against the ceremony's `state`.
    ///
    /// # Errors
    /// [`WebAuthnError::Malformed`] when it does not parse, [`WebAuthnError::Rejected`]
    /// when it fails verification.
    fn finish_registration(
        &self,
        credential_json: &str,
        state: &CeremonyState,
    ) -> Result<VerifiedPasskey, WebAuthnError>;

    /// Starts an assertion with one of `passkeys` (the user's, as stored).
    ///
    /// # Errors
    /// [`WebAuthnError::Unavailable`], or [`WebAuthnError::Rejected`] for a stored
    /// passkey that does not decode.
    fn start_authentication(
        &self,
        passkeys: &[PasskeyData],
    ) -> Result<CeremonyStart, WebAuthnError>;

    /// Verifies an assertion (`credential_json`, from `navigator.credentials.get()`) against
    /// the ceremony's `state` and the stored `passkey` it names; returns the credential
    /// updated with the assertion's counter and backup state (to record with
    /// [`PasskeyRepository::record_passkey_use`](super::PasskeyRepository::record_passkey_use),
    /// which refuses a counter that did not move forward).
    ///
    /// # Errors
    /// [`WebAuthnError::Malformed`] or [`WebAuthnError::Rejected`].
    fn finish_authentication(
        &self,
        credential_json: &str,
        state: &CeremonyState,
        passkey: &PasskeyData,
    ) -> Result<VerifiedPasskey, WebAuthnError>;

    /// Starts a passwordless sign-in: options for `navigator.credentials.get()` that name no
    /// credential (the authenticator offers its discoverable ones), user verification
    /// required.
    ///
    /// # Errors
    /// [`WebAuthnError::Unavailable`].
    fn start_sign_in(&self) -> Result<CeremonyStart, WebAuthnError>;

    /// The account (user handle) and credential id a passwordless sign-in's answer names, to
    /// find the stored passkey before verifying.
    ///
    /// # Errors
    /// [`WebAuthnError::Malformed`] when it does not parse or names no account.
    fn sign_in_names(&self, credential_json: &str) -> Result<(UserId, Vec<u8>), WebAuthnError>;

    /// Verifies a passwordless sign-in's answer against the ceremony's `state` and the
    /// stored `passkey` it names; as [`Self::finish_authentication`].
    ///
    /// # Errors
    /// [`WebAuthnError::Malformed`], [`WebAuthnError::Rejected`] or
    /// [`WebAuthnError::CounterRegressed`].
    fn finish_sign_in(
        &self,
        credential_json: &str,
        state: &CeremonyState,
        passkey: &PasskeyData,
    ) -> Result<VerifiedPasskey, WebAuthnError>;

    /// The credential id an assertion names (to find its stored passkey first).
    ///
    /// # Errors
    /// [`WebAuthnError::Malformed`].
    fn assertion_credential_id(&self, credential_json: &str) -> Result<Vec<u8>, WebAuthnError>;
}
