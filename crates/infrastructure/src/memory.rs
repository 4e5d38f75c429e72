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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::AttemptKind;
use slugbase_application::attempts::{AttemptAccount, AttemptKey};
use slugbase_application::ports::{
    ApiTokenRecord, ApiTokenRepository, AttemptRepository, AuditEvent, AuditLog, AuditQuery,
    CancelOutcome, MfaProof, MfaRepository, NewUser, Reservation, SealedSecretRow, SecretDigest,
    SecretRotation, SessionRecord, SessionRepository, StorageHealth, StoreError, StoreResult,
    StoredAuditEvent, UserRepository,
};
use slugbase_domain::{
    ApiTokenId, AttemptCounter, AttemptPolicy, Email, EncryptedSecret, LoginMethod, MfaState,
    PasswordHash, Release, TotpStep, User, UserId,
};
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
}

impl State {
    /// Index of the session with this digest; every session is compared, in constant time.
    fn session_index(&self, id_hash: &SecretDigest) -> Option<usize> {
        let mut found = None;
        for (i, s) in self.sessions.iter().enumerate() {
            if ct_eq(s.id_hash.as_str(), id_hash.as_str()) {
                found = Some(i);
            }
        }
        found
    }

    /// Spends a proof for `user` (see [`MfaRepository::spend_proof`]); `false` changes nothing.
    fn spend(&mut self, user: UserId, proof: &MfaProof, at: DateTime<Utc>) -> bool {
        let Some(u) = self.users.get_mut(&user) else { return false };
        let MfaState::Enabled { last_totp_step, .. } = &mut u.mfa else { return false };
        match proof {
            MfaProof::TotpStep(step) => {
                if step.is_replay_after(*last_totp_step) {
                    return false;
                }
                *last_totp_step = Some(*step);
                true
            }
            MfaProof::BackupCode(digest) => {
                let Some(codes) = self.backup_codes.get_mut(&user) else { return false };
                let mut found = None;
                for (i, code) in codes.iter().enumerate() {
                    let matches = ct_eq(code.digest.as_str(), digest.as_str());
                    if matches && code.used_at.is_none() {
                        found = Some(i);
                    }
                }
                match found.and_then(|i| codes.get_mut(i)) {
                    Some(code) => {
                        code.used_at = Some(at);
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// Replaces a user's backup codes with fresh, unused ones.
    fn store_codes(&mut self, user: UserId, codes: Vec<SecretDigest>) {
        let rows =
            codes.into_iter().map(|digest| BackupCodeRow { digest, used_at: None }).collect();
        self.backup_codes.insert(user, rows);
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

/// The stored user built from a [`NewUser`] (MFA disabled).
fn user_from(new: NewUser) -> User {
    User {
        id: new.id,
        email: new.email,
        name: new.name,
        login: new.login,
        oidc_provider: new.oidc_provider,
        is_admin: new.is_admin,
        mfa: MfaState::Disabled,
        created_at: new.created_at,
    }
}

#[async_trait]
impl UserRepository for InMemoryStore {
    async fn create(&self, user: NewUser) -> StoreResult<User> {
        let mut state = self.lock()?;
        if state.users.values().any(|u| u.email == user.email) {
            return Err(StoreError::Conflict("users.email"));
        }
        if state.users.contains_key(&user.id) {
            return Err(StoreError::Conflict("users.id"));
        }
        let user = user_from(user);
        state.users.insert(user.id, user.clone());
        Ok(user)
    }

    async fn create_first_admin(&self, user: NewUser) -> StoreResult<Option<User>> {
        let mut state = self.lock()?;
        if !state.users.is_empty() {
            return Ok(None);
        }
        let user = user_from(user);
        state.users.insert(user.id, user.clone());
        Ok(Some(user))
    }

    async fn find_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        Ok(self.lock()?.users.get(&id).cloned())
    }

    async fn find_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        Ok(self.lock()?.users.values().find(|u| &u.email == email).cloned())
    }

    async fn list(&self) -> StoreResult<Vec<User>> {
        let mut users: Vec<User> = self.lock()?.users.values().cloned().collect();
        users.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(users)
    }

    async fn count(&self) -> StoreResult<u64> {
        Ok(self.lock()?.users.len() as u64)
    }

    async fn delete(&self, id: UserId) -> StoreResult<bool> {
        let mut state = self.lock()?;
        if state.users.remove(&id).is_none() {
            return Ok(false);
        }
        state.backup_codes.remove(&id);
        state.sessions.retain(|s| s.user_id != id);
        state.tokens.retain(|t| t.record.user_id != id);
        for kind in [AttemptKind::SecondFactor, AttemptKind::Password] {
            state.attempts.remove(&AttemptKey::account(kind, &AttemptAccount::User(id)));
        }
        Ok(true)
    }

    async fn set_password(&self, id: UserId, hash: PasswordHash) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(user) = state.users.get_mut(&id) else { return Ok(false) };
        user.login = LoginMethod::Local(hash);
        Ok(true)
    }
}

#[async_trait]
impl MfaRepository for InMemoryStore {
    async fn begin_enrollment(&self, user: UserId, secret: EncryptedSecret) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(u) = state.users.get_mut(&user) else { return Ok(false) };
        if u.mfa.is_enabled() {
            return Ok(false);
        }
        u.mfa = MfaState::Pending { secret };
        Ok(true)
    }

    async fn cancel_enrollment(&self, user: UserId) -> StoreResult<CancelOutcome> {
        let mut state = self.lock()?;
        let Some(u) = state.users.get_mut(&user) else { return Ok(CancelOutcome::Cancelled) };
        match u.mfa {
            MfaState::Enabled { .. } => Ok(CancelOutcome::AlreadyEnabled),
            MfaState::Pending { .. } | MfaState::Disabled => {
                u.mfa = MfaState::Disabled;
                Ok(CancelOutcome::Cancelled)
            }
        }
    }

    async fn confirm_enrollment(
        &self,
        user: UserId,
        pending: &EncryptedSecret,
        step: TotpStep,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(u) = state.users.get_mut(&user) else { return Ok(false) };
        let secret = match &u.mfa {
            MfaState::Pending { secret } if ct_eq(secret.as_str(), pending.as_str()) => {
                secret.clone()
            }
            _ => return Ok(false),
        };
        u.mfa = MfaState::Enabled { secret, enrolled_at: at, last_totp_step: Some(step) };
        state.store_codes(user, backup_codes);
        Ok(true)
    }

    async fn spend_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        Ok(self.lock()?.spend(user, proof, at))
    }

    async fn disable_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        if !state.spend(user, proof, at) {
            return Ok(false);
        }
        if let Some(u) = state.users.get_mut(&user) {
            u.mfa = MfaState::Disabled;
        }
        state.backup_codes.remove(&user);
        Ok(true)
    }

    async fn regenerate_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        if !state.spend(user, proof, at) {
            return Ok(false);
        }
        state.store_codes(user, backup_codes);
        Ok(true)
    }

    async fn reset(&self, user: UserId) -> StoreResult<bool> {
        let mut state = self.lock()?;
        state.backup_codes.remove(&user);
        let Some(u) = state.users.get_mut(&user) else { return Ok(false) };
        let was_on = !matches!(u.mfa, MfaState::Disabled);
        u.mfa = MfaState::Disabled;
        Ok(was_on)
    }

    async fn backup_codes_remaining(&self, user: UserId) -> StoreResult<u32> {
        let state = self.lock()?;
        let unused = state
            .backup_codes
            .get(&user)
            .map_or(0, |codes| codes.iter().filter(|c| c.used_at.is_none()).count());
        Ok(u32::try_from(unused).unwrap_or(u32::MAX))
    }
}

#[async_trait]
impl SessionRepository for InMemoryStore {
    async fn create(&self, session: SessionRecord) -> StoreResult<()> {
        let mut state = self.lock()?;
        match state.session_index(&session.id_hash) {
            // 256-bit ids do not collide; should one, the newer session replaces it.
            Some(i) => state.sessions[i] = session,
            None => state.sessions.push(session),
        }
        Ok(())
    }

    async fn find(&self, id_hash: &SecretDigest) -> StoreResult<Option<SessionRecord>> {
        let state = self.lock()?;
        Ok(state.session_index(id_hash).and_then(|i| state.sessions.get(i).cloned()))
    }

    async fn touch(&self, id_hash: &SecretDigest, at: DateTime<Utc>) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(i) = state.session_index(id_hash)
            && let Some(s) = state.sessions.get_mut(i)
        {
            s.last_seen_at = at;
        }
        Ok(())
    }

    async fn delete(&self, id_hash: &SecretDigest) -> StoreResult<bool> {
        let mut state = self.lock()?;
        match state.session_index(id_hash) {
            Some(i) => {
                state.sessions.swap_remove(i);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn reserve_attempt(&self, id_hash: &SecretDigest, max: u32) -> StoreResult<Option<u32>> {
        let mut state = self.lock()?;
        let Some(i) = state.session_index(id_hash) else { return Ok(None) };
        let Some(s) = state.sessions.get_mut(i) else { return Ok(None) };
        if s.failed_attempts >= max {
            return Ok(None);
        }
        s.failed_attempts = s.failed_attempts.saturating_add(1);
        Ok(Some(s.failed_attempts))
    }

    async fn delete_for_user<'a>(
        &self,
        user: UserId,
        keep: Option<&'a SecretDigest>,
    ) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let before = state.sessions.len();
        state.sessions.retain(|s| {
            s.user_id != user || keep.is_some_and(|k| ct_eq(k.as_str(), s.id_hash.as_str()))
        });
        Ok((before - state.sessions.len()) as u64)
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let before = state.sessions.len();
        state.sessions.retain(|s| s.expires_at > now);
        Ok((before - state.sessions.len()) as u64)
    }
}

#[async_trait]
impl ApiTokenRepository for InMemoryStore {
    async fn create(&self, token: ApiTokenRecord) -> StoreResult<()> {
        let mut state = self.lock()?;
        if state.tokens.iter().any(|t| t.record.id == token.id) {
            return Err(StoreError::Conflict("api_tokens.id"));
        }
        state.tokens.push(TokenRow { record: token, revoked_at: None });
        Ok(())
    }

    async fn list_for_user(&self, user: UserId) -> StoreResult<Vec<ApiTokenRecord>> {
        let state = self.lock()?;
        let mut tokens: Vec<ApiTokenRecord> = state
            .tokens
            .iter()
            .filter(|t| t.record.user_id == user && t.revoked_at.is_none())
            .map(|t| t.record.clone())
            .collect();
        tokens.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(tokens)
    }

    async fn find_active(&self, token_hash: &SecretDigest) -> StoreResult<Option<ApiTokenRecord>> {
        let state = self.lock()?;
        let mut found = None;
        for t in &state.tokens {
            if ct_eq(t.record.token_hash.as_str(), token_hash.as_str()) && t.revoked_at.is_none() {
                found = Some(t.record.clone());
            }
        }
        Ok(found)
    }

    async fn revoke(&self, user: UserId, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let token = state
            .tokens
            .iter_mut()
            .find(|t| t.record.id == id && t.record.user_id == user && t.revoked_at.is_none());
        match token {
            Some(t) => {
                t.revoked_at = Some(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn touch(&self, id: ApiTokenId, at: DateTime<Utc>) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(t) = state.tokens.iter_mut().find(|t| t.record.id == id) {
            t.record.last_used_at = Some(at);
        }
        Ok(())
    }
}

#[async_trait]
impl AuditLog for InMemoryStore {
    async fn record(&self, event: AuditEvent) -> StoreResult<()> {
        let mut state = self.lock()?;
        state.next_audit_id += 1;
        let id = state.next_audit_id;
        state.audit.push(StoredAuditEvent { id, event });
        Ok(())
    }

    async fn query(&self, query: AuditQuery) -> StoreResult<Vec<StoredAuditEvent>> {
        let state = self.lock()?;
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        Ok(state
            .audit
            .iter()
            .rev()
            .filter(|e| query.user_id.is_none_or(|u| e.event.user_id == Some(u)))
            .filter(|e| query.kind.is_none_or(|k| e.event.kind == k))
            .skip(offset)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn purge_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let count = state.audit.len();
        state.audit.retain(|e| e.event.at >= before);
        Ok((count - state.audit.len()) as u64)
    }
}

#[async_trait]
impl AttemptRepository for InMemoryStore {
    async fn get(&self, key: &str) -> StoreResult<Option<AttemptCounter>> {
        Ok(self.lock()?.attempts.get(key).copied())
    }

    async fn reserve(
        &self,
        key: &str,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> StoreResult<Reservation> {
        let mut state = self.lock()?;
        let current = state.attempts.get(key).copied();
        Ok(match AttemptCounter::reserve(current, policy, now) {
            Ok(counter) => {
                state.attempts.insert(key.to_owned(), counter);
                Reservation::Granted(counter)
            }
            Err(throttle) => Reservation::Refused(throttle),
        })
    }

    async fn release(
        &self,
        key: &str,
        reserved_in: DateTime<Utc>,
        outcome: Release,
    ) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(counter) = state.attempts.get_mut(key) {
            *counter = counter.released(reserved_in, outcome);
        }
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        self.lock()?.attempts.remove(key);
        Ok(())
    }
}

#[async_trait]
impl StorageHealth for InMemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.lock().map(|_| ())
    }
}

#[async_trait]
impl SecretRotation for InMemoryStore {
    async fn sealed_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecretRow>> {
        let state = self.lock()?;
        // UUID text order, as the SQL backends page.
        let after = after.map(|id| id.to_string());
        let mut rows: Vec<(String, SealedSecretRow)> = state
            .users
            .values()
            .filter_map(|u| {
                let (sealed, enabled) = match &u.mfa {
                    MfaState::Disabled => return None,
                    MfaState::Pending { secret } => (secret.clone(), false),
                    MfaState::Enabled { secret, .. } => (secret.clone(), true),
                };
                let key = u.id.to_string();
                if after.as_ref().is_some_and(|a| key <= *a) {
                    return None;
                }
                Some((key, SealedSecretRow { user_id: u.id, sealed, enabled }))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(rows.into_iter().take(limit).map(|(_, row)| row).collect())
    }

    async fn replace_sealed_secret(
        &self,
        user: UserId,
        old: &EncryptedSecret,
        new: &EncryptedSecret,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(u) = state.users.get_mut(&user) else { return Ok(false) };
        let (MfaState::Pending { secret } | MfaState::Enabled { secret, .. }) = &mut u.mfa else {
            return Ok(false);
        };
        if !ct_eq(secret.as_str(), old.as_str()) {
            return Ok(false);
        }
        *secret = new.clone();
        Ok(true)
    }
}
