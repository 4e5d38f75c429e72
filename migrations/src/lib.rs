//! Database schema of SlugBase Auth: one set of sea-orm migrations for SQLite, PostgreSQL
//! and MySQL/MariaDB.
//!
//! Conventions shared by every table (and relied on by the storage adapter):
//! - ids are UUIDs stored as canonical lower-case text (`TEXT`; `VARCHAR(36)` on MySQL,
//!   which cannot index `TEXT`);
//! - times are `BIGINT` milliseconds since the Unix epoch (UTC), so comparisons and
//!   ordering mean the same on every backend;
//! - text compares byte for byte on every backend (MySQL tables use a binary collation);
//! - what differs per engine is said through [`dialect`], which every migration uses.
//! - secrets are never stored: sessions and API tokens by their SHA-256, backup codes by
//!   their HMAC (or, imported from SlugBase, its unsalted SHA-256), the TOTP secret sealed
//!   (AES-256-GCM);
//! - every table that belongs to a user references `users(id)` with `ON DELETE CASCADE`;
//!   audit events keep user ids without a foreign key, because they outlive users.
//!
//! Run [`Migrator::up`](sea_orm_migration::MigratorTrait::up) on start-up; it applies only
//! what is missing, so running it on a migrated database is a no-op.

pub use sea_orm_migration::prelude::*;

pub mod dialect;
mod m20261127_000001_initial;
mod m20261130_000002_oidc_login;
mod m20261130_000003_outbox;
mod m20261201_000004_token_caller_index;
mod m20261207_000005_passkeys;
mod m20261207_000006_mfa_grace;
mod m20261207_000007_sign_in_ceremonies;
mod m20261208_000008_mfa_pending_secret;
mod m20261208_000009_legacy_credentials;

/// Applies every pending migration inside `tx`: what
/// `SeaOrmStore::migrate_with` runs, under its lock.
///
/// # Errors
/// When a migration fails.
pub fn up(
    tx: &sea_orm_migration::sea_orm::DatabaseTransaction,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), DbErr>> + Send + '_>> {
    Box::pin(Migrator::up(tx, None))
}

/// The name of every migration this build knows, oldest first: what a database must have
/// applied for the service to be ready (`GET /api/health/ready`).
#[must_use]
pub fn names() -> Vec<String> {
    Migrator::migrations().iter().map(|m| m.name().to_owned()).collect()
}

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_initial::Migration),
            Box::new(m20261130_000002_oidc_login::Migration),
            Box::new(m20261130_000003_outbox::Migration),
            Box::new(m20261201_000004_token_caller_index::Migration),
            Box::new(m20261207_000005_passkeys::Migration),
            Box::new(m20261207_000006_mfa_grace::Migration),
            Box::new(m20261207_000007_sign_in_ceremonies::Migration),
            Box::new(m20261208_000008_mfa_pending_secret::Migration),
            Box::new(m20261208_000009_legacy_credentials::Migration),
        ]
    }
}
