//! The WebAuthn relying party ([`WebAuthn`]) over `webauthn-rs`'s passkey API: the RP ID is
//! the host of `server.public_base_url` and the origin that URL's origin; attestation
//! `none`; user verification required (the passkey API's rule — stricter than "preferred":
//! an authenticator that cannot verify its user cannot register or assert); credentials
//! the user has already are excluded at registration.
//!
//! Ceremony state leaves this module as JSON (`webauthn-rs`'s
//! `danger-allow-state-serialisation`): the application stores it server-side and takes it
//! once, so a challenge is never accepted twice and never reaches the client.

use std::fmt;

use slugbase_application::ports::{
    CeremonyStart, CeremonyState, PasskeyData, PasskeyOwner, VerifiedPasskey, WebAuthn,
    WebAuthnError,
};
use slugbase_domain::UserId;
use url::Url;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

/// The relying party, or why there can be none with this configuration.
pub struct WebauthnRelyingParty {
    webauthn: Result<Webauthn, String>,
}

impl fmt::Debug for WebauthnRelyingParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebauthnRelyingParty")
            .field("available", &self.webauthn.is_ok())
            .finish_non_exhaustive()
    }
}

impl WebauthnRelyingParty {
    /// The relying party of the service at `public_base_url`, shown to people as
    /// `rp_name`. A URL WebAuthn cannot serve (an IP address as its host: an RP ID must be
    /// a domain name) gives a relying party that answers every ceremony with
    /// [`WebAuthnError::Unavailable`], so the rest of the service runs as before.
    #[must_use]
    pub fn new(public_base_url: &str, rp_name: &str) -> Self {
        Self { webauthn: build(public_base_url, rp_name) }
    }

    /// Whether passkeys can work with this configuration; the reason when not.
    ///
    /// # Errors
    /// The reason, for the operator.
    pub fn availability(&self) -> Result<(), &str> {
        self.webauthn.as_ref().map(|_| ()).map_err(String::as_str)
    }

    fn webauthn(&self) -> Result<&Webauthn, WebAuthnError> {
        self.webauthn.as_ref().map_err(|reason| WebAuthnError::Unavailable(reason.clone()))
    }
}

fn build(public_base_url: &str, rp_name: &str) -> Result<Webauthn, String> {
    let url = Url::parse(public_base_url.trim())
        .map_err(|e| format!("server.public_base_url does not parse: {e}"))?;
    let Some(rp_id) = url.domain() else {
        return Err(format!(
            "server.public_base_url ({url}) must name its host by a domain name (such as \
             localhost), not an IP address: WebAuthn binds passkeys to a domain"
        ));
    };
    let origin = Url::parse(&url.origin().ascii_serialization())
        .map_err(|e| format!("server.public_base_url has no origin: {e}"))?;
    WebauthnBuilder::new(rp_id, &origin)
        .and_then(|builder| builder.rp_name(rp_name).build())
        .map_err(|e| format!("WebAuthn refuses server.public_base_url ({url}): {e}"))
}

/// Serialises a value the adapter made itself (cannot fail for these types).
fn to_json<T: serde::Serialize>(value: &T, what: &str) -> Result<String, WebAuthnError> {
    serde_json::to_string(value).map_err(|e| WebAuthnError::Rejected(format!("{what}: {e}")))
}

/// Reads what the browser sent; the error names the position only, never the content.
fn from_client<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, WebAuthnError> {
    serde_json::from_str(json).map_err(|e| {
        WebAuthnError::Malformed(format!(
            "line {}, column {}: {:?}",
            e.line(),
            e.column(),
            e.classify()
        ))
    })
}

/// Reads what storage kept (written by this adapter). The error names the position only:
/// serde's message can quote the value, and a stored ceremony holds its challenge.
fn from_store<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, WebAuthnError> {
    serde_json::from_str(json).map_err(|e| {
        WebAuthnError::Rejected(format!(
            "stored {what} does not decode at line {}, column {}: {:?}",
            e.line(),
            e.column(),
            e.classify()
        ))
    })
}

/// The counter and backup flags of a credential, read from its serialised form (the
/// passkey API keeps them inside the credential).
fn verified(passkey: &Passkey) -> Result<VerifiedPasskey, WebAuthnError> {
    let json = to_json(passkey, "passkey")?;
    let value: serde_json::Value = from_store(&json, "passkey")?;
    let cred = &value["cred"];
    let sign_count = cred["counter"].as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    Ok(VerifiedPasskey {
        credential_id: passkey.cred_id().clone(),
        passkey: PasskeyData::new(json),
        sign_count,
        backup_eligible: cred["backup_eligible"].as_bool().unwrap_or(false),
        backup_state: cred["backup_state"].as_bool().unwrap_or(false),
    })
}

/// A ceremony started: its options for the browser and its state for storage, both as
/// JSON (`what` names the ceremony in an error).
fn started<O: serde::Serialize, S: serde::Serialize>(
    options: &O,
    state: &S,
    what: &str,
) -> Result<CeremonyStart, WebAuthnError> {
    Ok(CeremonyStart {
        options_json: to_json(options, &format!("{what} options"))?,
        state: CeremonyState::new(to_json(state, &format!("{what} state"))?),
    })
}

/// An assertion that failed verification: a counter that did not move forward is told apart.
fn authentication_refused(e: WebauthnError) -> WebAuthnError {
    match e {
        WebauthnError::CredentialPossibleCompromise => WebAuthnError::CounterRegressed,
        other => WebAuthnError::Rejected(format!("authentication: {other}")),
    }
}

/// The `stored` credential updated with a verified assertion's counter and backup state;
/// whether the counter moved forward is storage's compare-and-set to decide, not this copy's.
fn asserted(
    stored: &mut Passkey,
    result: &AuthenticationResult,
) -> Result<VerifiedPasskey, WebAuthnError> {
    if result.cred_id() != stored.cred_id() {
        return Err(WebAuthnError::Rejected("the assertion names another credential".into()));
    }
    stored.update_credential(result);
    let mut out = verified(stored)?;
    out.sign_count = result.counter();
    out.backup_state = result.backup_state();
    Ok(out)
}

impl WebAuthn for WebauthnRelyingParty {
    fn start_registration<'a>(
        &self,
        owner: PasskeyOwner<'a>,
        exclude: &[Vec<u8>],
    ) -> Result<CeremonyStart, WebAuthnError> {
        let webauthn = self.webauthn()?;
        let (mut options, state) = webauthn
            .start_passkey_registration(
                *owner.user_id.as_uuid(),
                owner.name,
                owner.display_name,
                Some(exclude.to_vec()),
            )
            .map_err(|e| WebAuthnError::Rejected(format!("registration options: {e}")))?;
        // Ask for a discoverable credential where the authenticator can make one, so the
        // passkey also signs in without an e-mail address; one that cannot still registers
        // (its passkey then serves as a second factor only).
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        }
        started(&options, &state, "registration")
    }

    fn finish_registration(
        &self,
        credential_json: &str,
        state: &CeremonyState,
    ) -> Result<VerifiedPasskey, WebAuthnError> {
        let webauthn = self.webauthn()?;
        let credential: RegisterPublicKeyCredential = from_client(credential_json)?;
        let state: PasskeyRegistration = from_store(state.as_str(), "registration state")?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| WebAuthnError::Rejected(format!("registration: {e}")))?;
        verified(&passkey)
    }

    fn start_authentication(
        &self,
        passkeys: &[PasskeyData],
    ) -> Result<CeremonyStart, WebAuthnError> {
        let webauthn = self.webauthn()?;
        let passkeys = passkeys
            .iter()
            .map(|p| from_store::<Passkey>(p.as_str(), "passkey"))
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| WebAuthnError::Rejected(format!("authentication options: {e}")))?;
        started(&options, &state, "authentication")
    }

    fn finish_authentication(
        &self,
        credential_json: &str,
        state: &CeremonyState,
        passkey: &PasskeyData,
    ) -> Result<VerifiedPasskey, WebAuthnError> {
        let webauthn = self.webauthn()?;
        let credential: PublicKeyCredential = from_client(credential_json)?;
        let state: PasskeyAuthentication = from_store(state.as_str(), "authentication state")?;
        let mut stored: Passkey = from_store(passkey.as_str(), "passkey")?;
        let result = webauthn
            .finish_passkey_authentication(&credential, &state)
            .map_err(authentication_refused)?;
        asserted(&mut stored, &result)
    }

    fn start_sign_in(&self) -> Result<CeremonyStart, WebAuthnError> {
        let webauthn = self.webauthn()?;
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| WebAuthnError::Rejected(format!("sign-in options: {e}")))?;
        started(&options, &state, "sign-in")
    }

    fn sign_in_names(&self, credential_json: &str) -> Result<(UserId, Vec<u8>), WebAuthnError> {
        let webauthn = self.webauthn()?;
        let credential: PublicKeyCredential = from_client(credential_json)?;
        let (user, credential_id) = webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|e| WebAuthnError::Malformed(format!("sign-in: {e}")))?;
        Ok((UserId::from_uuid(user), credential_id.to_vec()))
    }

    fn finish_sign_in(
        &self,
        credential_json: &str,
        state: &CeremonyState,
        passkey: &PasskeyData,
    ) -> Result<VerifiedPasskey, WebAuthnError> {
        let webauthn = self.webauthn()?;
        let credential: PublicKeyCredential = from_client(credential_json)?;
        let state: DiscoverableAuthentication = from_store(state.as_str(), "sign-in state")?;
        let mut stored: Passkey = from_store(passkey.as_str(), "passkey")?;
        let key = DiscoverableKey::from(&stored);
        let result = webauthn
            .finish_discoverable_authentication_v2(&credential, state, &key)
            .map_err(authentication_refused)?;
        asserted(&mut stored, &result)
    }

    fn assertion_credential_id(&self, credential_json: &str) -> Result<Vec<u8>, WebAuthnError> {
        let credential: PublicKeyCredential = from_client(credential_json)?;
        Ok(credential.raw_id)
    }
}

#[cfg(test)]
mod tests {
    use super::{WebAuthnError, from_client, from_store};

    /// serde's own message quotes a value of the wrong type; what ends in a log line must not.
    #[test]
    fn a_value_that_does_not_decode_is_not_quoted_in_the_error() {
        let json = r#""SECRET-CHALLENGE-MARKER""#;
        let plain = serde_json::from_str::<u32>(json).unwrap_err();
        assert!(plain.to_string().contains("SECRET-CHALLENGE-MARKER"), "serde quotes it: {plain}");

        let stored = from_store::<u32>(json, "ceremony state").unwrap_err();
        let client = from_client::<u32>(json).unwrap_err();
        for error in [stored, client] {
            let text = match error {
                WebAuthnError::Rejected(why) | WebAuthnError::Malformed(why) => why,
                other => panic!("unexpected: {other}"),
            };
            assert!(!text.contains("SECRET"), "{text}");
            assert!(text.contains("line 1"), "{text}");
        }
    }
}
