//! User accounts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_domain::{DisplayName, Email, LoginMethod, PasswordHash, User, UserId};

use super::mfa::ChangeEffects;
use super::store_error::{Listed, StoreResult};

/// A user to be stored.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Id chosen by the caller.
    pub id: UserId,
    /// Normalised e-mail.
    pub email: Email,
    /// Display name.
    pub name: DisplayName,
    /// Password hash or OIDC-only.
    pub login: LoginMethod,
    /// Linked OIDC provider.
    pub oidc_provider: Option<String>,
    /// Administrator flag.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// User accounts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user with MFA disabled.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`](super::StoreError::Conflict) if the e-mail is taken.
    async fn create(&self, user: NewUser) -> StoreResult<User>;

    /// Stores the first administrator, atomically, only while no user exists at all.
    /// Returns `None` (storing nothing) if any user exists — also when two calls race.
    ///
    /// # Errors
    /// Storage failures only.
    async fn create_first_admin(&self, user: NewUser) -> StoreResult<Option<User>>;

    /// The user with this id.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_by_id(&self, id: UserId) -> StoreResult<Option<User>>;

    /// The user with this (normalised) e-mail.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_by_email(&self, email: &Email) -> StoreResult<Option<User>>;

    /// All users, oldest first; a stored row that does not decode is logged and listed as
    /// [`Listed::Damaged`] in its place, so one bad row never fails the list.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list(&self) -> StoreResult<Vec<Listed<User>>>;

    /// Number of users.
    ///
    /// # Errors
    /// Storage failures only.
    async fn count(&self) -> StoreResult<u64>;

    /// Deletes a user and, with it, their sessions, API tokens, backup codes and the
    /// attempt counters under `attempt_keys` (opaque keys the application built: storage
    /// never builds or parses one), in one operation. Returns whether the user existed.
    /// Audit events stay.
    ///
    /// # Errors
    /// Storage failures only.
    async fn delete(&self, id: UserId, attempt_keys: &[String]) -> StoreResult<bool>;

    /// Replaces the password hash of a local user (or sets one on an OIDC-only user).
    /// Returns whether the user existed.
    ///
    /// # Errors
    /// Storage failures only.
    async fn set_password(&self, id: UserId, hash: PasswordHash) -> StoreResult<bool>;

    /// Starts the user's MFA grace period at `at` unless one has started already; returns
    /// the start as stored (the earlier one when there was one), or `None` when the user
    /// does not exist.
    ///
    /// # Errors
    /// Storage failures only. MUST never move a stored start: one conditional write (`…
    /// WHERE mfa_grace_started_at IS NULL`), never a read followed by a write, so of
    /// concurrent calls for one user exactly one start is stored and every call returns it.
    /// Every read of the user afterwards ([`UserRepository::find_by_id`], `find_by_email`,
    /// `list`, and the caller reads of sessions and API tokens) MUST carry it in
    /// `User::mfa_grace_started_at`.
    async fn start_mfa_grace(
        &self,
        id: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>>;

    /// Replaces the password hash of a user and, in the same transaction, applies `effects`
    /// (the `password_changed` event, the other sessions ended, the attempt given back, the
    /// notice). Returns whether the user existed.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing: on `Ok(true)` the new hash and every one
    /// of `effects` are committed; on `Ok(false)` or an error, none of them.
    async fn change_password(
        &self,
        id: UserId,
        hash: PasswordHash,
        effects: &ChangeEffects,
    ) -> StoreResult<bool>;

    /// Replaces a legacy (imported) password hash by `new` at a successful sign-in, only
    /// while the stored hash is still `old` (compare-and-set), and applies `effects` (the
    /// `password_hash_upgraded` event and the sign-in's new session) in the same
    /// transaction. Returns whether the hash was replaced.
    ///
    /// # Errors
    /// Storage failures only. MUST be all-or-nothing: on `Ok(true)` the new hash and every one
    /// of `effects` are committed; on `Ok(false)` (the user is gone, or the hash is no longer
    /// `old`: a concurrent sign-in replaced it first) or an error, none of them.
    async fn upgrade_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: PasswordHash,
        effects: &ChangeEffects,
    ) -> StoreResult<bool>;
}
