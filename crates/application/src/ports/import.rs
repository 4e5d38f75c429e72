//! Accounts imported from another system (SlugBase): each one stored whole, with its
//! audit event, in one transaction, and found again by its id at the source.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{EncryptedSecret, User, UserId};

use super::audit::AuditEvent;
use super::hashing::SecretDigest;
use super::store_error::StoreResult;
use super::tokens::ApiTokenRecord;
use super::users::NewUser;

/// The MFA an imported account had turned on at the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedMfa {
    /// The TOTP secret, sealed under our current key for this user.
    pub secret: EncryptedSecret,
    /// When the source says MFA was turned on.
    pub enrolled_at: DateTime<Utc>,
    /// The unused backup codes, as the source stored them
    /// ([`BackupCodeHasher::imported_digest`](super::BackupCodeHasher::imported_digest)).
    pub backup_codes: Vec<SecretDigest>,
}

/// One account as the importer read it from the source.
#[derive(Clone, Debug)]
pub struct ImportedAccount {
    /// Which system it comes from (`slugbase`).
    pub source: String,
    /// Its id there: with `source`, the key that makes a re-run find it.
    pub source_id: String,
    /// The account (`oidc_provider` set when it comes with `oidc_link`).
    pub user: NewUser,
    /// Its MFA, when it had MFA on (an enrolment left unconfirmed is not imported).
    pub mfa: Option<ImportedMfa>,
    /// Its API tokens that were not revoked, by their SHA-256.
    pub tokens: Vec<ApiTokenRecord>,
    /// The subject its OIDC provider (`user.oidc_provider`, our name for it) knows it by.
    pub oidc_subject: Option<String>,
    /// The `account_imported` event, stored with the account.
    pub audit: AuditEvent,
}

/// What [`AccountImport::import_account`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Stored, with its event.
    Imported(Box<User>),
    /// An earlier import stored it already (as this user): nothing changed.
    AlreadyImported(UserId),
    /// Another account holds the e-mail address: nothing stored (never merged).
    EmailTaken,
    /// Another account is linked to the OIDC subject: nothing stored.
    OidcSubjectTaken,
}

/// Importing accounts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountImport: Send + Sync {
    /// Every account imported from `source` before, by its id there (one read for a whole
    /// run, however many accounts it has).
    ///
    /// # Errors
    /// Storage failures only.
    async fn imported_from(&self, source: &str) -> StoreResult<HashMap<String, UserId>>;

    /// Stores an account with its MFA, backup codes, tokens, OIDC link, import record and
    /// audit event.
    ///
    /// # Errors
    /// Storage failures only. MUST be one transaction: on [`ImportOutcome::Imported`] all of
    /// it is committed, otherwise none of it. MUST answer
    /// [`ImportOutcome::AlreadyImported`] when `(source, source_id)` was imported before
    /// (also when two imports race), [`ImportOutcome::EmailTaken`] when another account has
    /// the e-mail, [`ImportOutcome::OidcSubjectTaken`] when the OIDC subject is linked
    /// already.
    async fn import_account(&self, account: &ImportedAccount) -> StoreResult<ImportOutcome>;
}
