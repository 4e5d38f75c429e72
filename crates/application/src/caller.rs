//! Who is calling, and from where.

use slugbase_domain::{ApiTokenId, MfaStanding, User};

use crate::ports::SecretDigest;

/// Where a request comes from (for attempt limits and the audit log).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client IP address (the socket peer, or `X-Forwarded-For` from a trusted proxy).
    pub address: Option<String>,
    /// `User-Agent`, cut to 256 characters, control characters removed.
    pub user_agent: Option<String>,
}

/// Longest user agent kept.
const MAX_USER_AGENT_CHARS: usize = 256;

impl ClientInfo {
    /// Builds the info, cleaning the user agent (it is attacker-chosen text headed for logs).
    #[must_use]
    pub fn new(address: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect());
        Self { address, user_agent }
    }
}

/// How the caller authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerAuth {
    /// `slugbase.sid` cookie; the digest of its session id.
    Session(SecretDigest),
    /// `Authorization: Bearer sb_…`.
    ApiToken(ApiTokenId),
}

/// An authenticated caller, with a fresh read of their account.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account.
    pub user: User,
    /// Cookie or token.
    pub auth: CallerAuth,
    /// The account's backup codes not yet spent, read with it (what
    /// `GET /api/auth/mfa/status` shows while MFA is on).
    pub backup_codes_remaining: u32,
    /// Where the account stands with the MFA policy at this request: an
    /// [`MfaStanding::Overdue`] caller may only enrol (the web adapter refuses every other
    /// route with 403 `MFA_ENROLLMENT_REQUIRED`).
    pub mfa_standing: MfaStanding,
}

impl Caller {
    /// The session digest when the caller came with a cookie.
    #[must_use]
    pub const fn session(&self) -> Option<&SecretDigest> {
        match &self.auth {
            CallerAuth::Session(digest) => Some(digest),
            CallerAuth::ApiToken(_) => None,
        }
    }
}
