//! What authentication reads on every request: a credential together with its owner.

use slugbase_domain::User;

/// A session or API token ([`SessionRecord`](super::SessionRecord),
/// [`ApiTokenRecord`](super::ApiTokenRecord)) read together with its owner and the owner's
/// unused backup codes — everything an authenticated request needs to know about its caller,
/// in one storage round trip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerRecord<R> {
    /// The session or token, as stored.
    pub credential: R,
    /// Its owner, as stored (login method, MFA state, admin flag).
    pub user: User,
    /// The owner's backup codes not yet spent (whatever the MFA state).
    pub backup_codes_remaining: u32,
}
