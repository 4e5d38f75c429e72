//! A thread-safe in-memory storage backend: every storage port of `slugbase-application`
//! over one mutex-guarded state.
//!
//! Every operation takes the lock once, does all of its reads and writes, and releases it
//! before returning, so each port method is atomic exactly as the MUST clauses in
//! `ports.rs` ask (compare-and-set of the TOTP step, single spend of a backup code, one
//! winner among concurrent confirms). The lock is never held across an `.await`.
//!
//! Digests of secrets (session ids, API tokens, backup codes) are compared in constant time
//! with `subtle`, scanning every candidate rather than stopping at the first match.
//!
//! [`InMemoryStore::set_available`] switches the store "off": every method then fails with
//! [`StoreError::Unavailable`], which lets HTTP tests check the 503 path and recovery.
//!
//! One file per port: [`users`], [`mfa`], [`sessions`], [`tokens`], [`audit`],
//! [`attempts`], [`outbox`], [`passkeys`], [`rotation`]; this one holds the shared state and the lock.

mod attempts;
mod audit;
mod import;
mod mfa;
mod oidc;
mod outbox;
mod passkeys;
mod rotation;
mod sessions;
mod tokens;
mod users;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    ApiTokenRecord, CallerRecord, SecretDigest, SessionRecord, StorageHealth, StoreError,
    StoreResult, StoredAuditEvent,
};
use slugbase_domain::{AttemptCounter, User, UserId};
use subtle::ConstantTimeEq;

/// Constant-time equality of two digests (or sealed secrets).
fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// One stored backup code: its keyed digest and whether it was spent.
#[derive(Clone, Debug)]
struct BackupCodeRow {
    digest: SecretDigest,
    used_at: Option<DateTime<Utc>>,
}

/// One stored API token with its revocation time.
#[derive(Clone, Debug)]
struct TokenRow {
    record: ApiTokenRecord,
    revoked_at: Option<DateTime<Utc>>,
}

/// Everything the store holds.
#[derive(Debug, Default)]
struct State {
    users: HashMap<UserId, User>,
    backup_codes: HashMap<UserId, Vec<BackupCodeRow>>,
    sessions: Vec<SessionRecord>,
    tokens: Vec<TokenRow>,
    audit: Vec<StoredAuditEvent>,
    next_audit_id: i64,
    attempts: HashMap<String, AttemptCounter>,
    oidc: oidc::OidcState,
    outbox: Vec<outbox::OutboxRow>,
    passkeys: passkeys::PasskeyState,
    /// Imported accounts by `(source, source_id)`.
    imported: HashMap<(String, String), UserId>,
}

impl State {
    /// The user's backup codes not yet spent.
    fn unused_backup_codes(&self, user: UserId) -> u32 {
        let unused = self
            .backup_codes
            .get(&user)
            .map_or(0, |codes| codes.iter().filter(|c| c.used_at.is_none()).count());
        u32::try_from(unused).unwrap_or(u32::MAX)
    }

    /// A credential with its owner and the owner's unused backup codes, read under the one
    /// lock the caller holds; `None` if the owner is gone.
    fn caller_record<R>(&self, credential: R, owner: UserId) -> Option<CallerRecord<R>> {
        let user = self.users.get(&owner)?.clone();
        Some(CallerRecord {
            credential,
            user,
            backup_codes_remaining: self.unused_backup_codes(owner),
        })
    }
}

/// Storage in process memory, for tests and experiments. Cheap to create; share it behind
/// an `Arc`.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
    /// `true` means switched off (so that `Default` gives an available store).
    unavailable: AtomicBool,
}

impl InMemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Switches the store on or off. While off, every method returns
    /// [`StoreError::Unavailable`] (as a database that cannot be reached would).
    pub fn set_available(&self, available: bool) {
        self.unavailable.store(!available, Ordering::SeqCst);
    }

    /// Locks the state, failing while the store is switched off.
    fn lock(&self) -> StoreResult<MutexGuard<'_, State>> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "in-memory store is switched off"
            )));
        }
        // No method panics while holding the lock, so a poisoned lock still holds a
        // consistent state.
        Ok(self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl StorageHealth for InMemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.lock().map(|_| ())
    }
}
