//! Adapters of SlugBase Auth: the ports of `slugbase-application`, implemented.
//!
//! - [`crypto`]: Argon2id, TOTP (totp-rs), AES-256-GCM, HMAC-SHA-256, SHA-256, clock,
//!   randomness.
//! - [`memory`]: thread-safe in-memory storage (tests, experiments).
//! - [`sql`]: sea-orm storage for SQLite, PostgreSQL and MySQL/MariaDB.

pub mod background;
pub mod crypto;
pub mod mail;
pub mod memory;
pub mod oidc;
pub mod slugbase_source;
pub mod sql;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webauthn;
