//! The storage bundle: every storage port at once.

use super::attempts::AttemptRepository;
use super::audit::AuditLog;
use super::health::StorageHealth;
use super::import::AccountImport;
use super::mfa::MfaRepository;
use super::oidc::OidcRepository;
use super::outbox::OutboxRepository;
use super::passkeys::PasskeyRepository;
use super::sessions::SessionRepository;
use super::tokens::ApiTokenRepository;
use super::users::UserRepository;

/// Every storage port at once: what a storage backend (in-memory, SQLite, PostgreSQL, or a
/// team's own) implements. Blanket-implemented; the port contract suite is generic over it.
pub trait Storage:
    UserRepository
    + MfaRepository
    + OidcRepository
    + SessionRepository
    + ApiTokenRepository
    + AuditLog
    + AttemptRepository
    + OutboxRepository
    + PasskeyRepository
    + StorageHealth
    + AccountImport
    + 'static
{
}

impl<T> Storage for T where
    T: UserRepository
        + MfaRepository
        + OidcRepository
        + SessionRepository
        + ApiTokenRepository
        + AuditLog
        + AttemptRepository
        + OutboxRepository
        + PasskeyRepository
        + StorageHealth
        + AccountImport
        + 'static
{
}
