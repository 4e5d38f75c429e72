//! What a passkey assertion proves, as storage receives it: the credential as the WebAuthn
//! adapter serialised it, and a verified use of it (spent as an [`MfaProof`](super::MfaProof)
//! or recorded by [`PasskeyRepository::record_passkey_use`](super::PasskeyRepository::record_passkey_use)).

use std::fmt;

use chrono::{DateTime, Utc};

/// A credential as the WebAuthn adapter serialised it (JSON text): its public key, counter
/// and flags. Holds no private key, but it is still nobody's business: `Debug` prints its
/// length only.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyData(String);

impl PasskeyData {
    /// Wraps the adapter's output or a stored value.
    #[must_use]
    pub fn new(json: impl Into<String>) -> Self {
        Self(json.into())
    }

    /// The stored form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasskeyData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasskeyData({} bytes)", self.0.len())
    }
}

/// A successful assertion with a passkey, to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyUse {
    /// Which credential.
    pub credential_id: Vec<u8>,
    /// The credential as updated by the assertion (new counter, backup state).
    pub passkey: PasskeyData,
    /// The counter the assertion carried.
    pub sign_count: u32,
    /// The backup state the assertion carried.
    pub backup_state: bool,
    /// When.
    pub at: DateTime<Utc>,
}
