//! [`PasskeyRepository`] in memory: each method one critical section, so a removal, the
//! proof it spends and its effects happen together or not at all, a counter moves by
//! compare-and-set and a ceremony is taken once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    CeremonyKind, CeremonyRecord, CeremonyState, ChangeEffects, Listed, MfaProof, MfaTurnOn,
    PasskeyRecord, PasskeyRemoval, PasskeyRepository, PasskeyUse, PasskeyUseOutcome, SecretDigest,
    StoreError, StoreResult,
};
use slugbase_domain::{MfaState, PasskeyId, UserId};

use super::{InMemoryStore, ct_eq};

/// Passkeys and ceremonies held by the in-memory store.
#[derive(Debug, Default)]
pub(super) struct PasskeyState {
    passkeys: Vec<PasskeyRecord>,
    ceremonies: Vec<CeremonyRecord>,
}

impl PasskeyState {
    /// Drops a deleted user's passkeys and ceremonies (the database cascades those away).
    pub(super) fn forget_user(&mut self, user: UserId) {
        self.passkeys.retain(|p| p.user_id != user);
        self.ceremonies.retain(|c| c.user_id != Some(user));
    }

    /// Drops every passkey of `user` (MFA turned off or reset: no second factor stays).
    pub(super) fn remove_all_of(&mut self, user: UserId) {
        self.passkeys.retain(|p| p.user_id != user);
    }

    fn index_of(&self, credential_id: &[u8]) -> Option<usize> {
        self.passkeys.iter().position(|p| p.credential_id == credential_id)
    }

    /// Records `used` by compare-and-set on the counter (see
    /// [`PasskeyRepository::record_passkey_use`]); with `owner`, only a passkey of theirs.
    pub(super) fn record_use(
        &mut self,
        used: &PasskeyUse,
        owner: Option<UserId>,
    ) -> PasskeyUseOutcome {
        let found = self.index_of(&used.credential_id).and_then(|i| self.passkeys.get_mut(i));
        let Some(stored) = found.filter(|p| owner.is_none_or(|o| p.user_id == o)) else {
            return PasskeyUseOutcome::NotFound;
        };
        if !counter_moves(stored.sign_count, used.sign_count) {
            return PasskeyUseOutcome::CounterRegressed;
        }
        stored.passkey = used.passkey.clone();
        stored.sign_count = used.sign_count;
        stored.backup_state = used.backup_state;
        stored.last_used_at = Some(used.at);
        PasskeyUseOutcome::Recorded
    }
}

/// Whether a use with counter `new` may follow the stored counter `stored`: the counter
/// moved forward, or the authenticator keeps none (both 0).
const fn counter_moves(stored: u32, new: u32) -> bool {
    new > stored || (new == 0 && stored == 0)
}

#[async_trait]
impl PasskeyRepository for InMemoryStore {
    async fn create_passkey(
        &self,
        record: PasskeyRecord,
        effects: &ChangeEffects,
    ) -> StoreResult<()> {
        let mut state = self.lock()?;
        if state.passkeys.index_of(&record.credential_id).is_some() {
            return Err(StoreError::Conflict("passkeys.credential_id"));
        }
        if !state.users.contains_key(&record.user_id) {
            return Err(StoreError::Other(anyhow::anyhow!("no such user")));
        }
        let user = record.user_id;
        state.passkeys.passkeys.push(record);
        state.apply(user, effects);
        Ok(())
    }

    async fn create_first_passkey(
        &self,
        record: PasskeyRecord,
        effects: &ChangeEffects,
        turn_on: &MfaTurnOn,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        if state.passkeys.index_of(&record.credential_id).is_some() {
            return Err(StoreError::Conflict("passkeys.credential_id"));
        }
        let user = record.user_id;
        let Some(u) = state.users.get_mut(&user) else {
            return Err(StoreError::Other(anyhow::anyhow!("no such user")));
        };
        let turned_on = match &u.mfa {
            MfaState::Enabled { .. } => false,
            MfaState::Disabled | MfaState::Pending { .. } => {
                let pending = u.mfa.pending_secret().cloned();
                u.mfa = MfaState::Enabled {
                    secret: None,
                    enrolled_at: turn_on.at,
                    last_totp_step: None,
                    pending,
                };
                true
            }
        };
        state.passkeys.passkeys.push(record);
        state.apply(user, effects);
        if turned_on {
            state.store_codes(user, turn_on.backup_codes.clone());
            state.apply(user, &turn_on.effects);
        }
        Ok(turned_on)
    }

    async fn passkeys_of(&self, user: UserId) -> StoreResult<Vec<Listed<PasskeyRecord>>> {
        let state = self.lock()?;
        let mut mine: Vec<PasskeyRecord> =
            state.passkeys.passkeys.iter().filter(|p| p.user_id == user).cloned().collect();
        mine.sort_by_key(|p| (p.created_at, p.id));
        Ok(mine.into_iter().map(Listed::Ok).collect())
    }

    async fn find_passkey(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRecord>> {
        let state = self.lock()?;
        Ok(state.passkeys.index_of(credential_id).map(|i| state.passkeys.passkeys[i].clone()))
    }

    async fn rename_passkey(&self, user: UserId, id: PasskeyId, name: &str) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let found = state.passkeys.passkeys.iter_mut().find(|p| p.id == id && p.user_id == user);
        let Some(passkey) = found else { return Ok(false) };
        passkey.name = name.to_owned();
        Ok(true)
    }

    async fn remove_passkey(
        &self,
        user: UserId,
        id: PasskeyId,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<PasskeyRemoval> {
        let mut state = self.lock()?;
        let Some(index) =
            state.passkeys.passkeys.iter().position(|p| p.id == id && p.user_id == user)
        else {
            return Ok(PasskeyRemoval::NotFound);
        };
        let passkeys_alone =
            state.users.get(&user).is_some_and(|u| u.mfa.is_enabled() && !u.mfa.has_totp());
        let others = state.passkeys.passkeys.iter().filter(|p| p.user_id == user).count() - 1;
        if passkeys_alone && others == 0 {
            return Ok(PasskeyRemoval::LastFactor);
        }
        if !state.spend(user, proof, at) {
            return Ok(PasskeyRemoval::ProofRefused);
        }
        state.passkeys.passkeys.remove(index);
        state.apply(user, effects);
        Ok(PasskeyRemoval::Removed)
    }

    async fn record_passkey_use(&self, used: &PasskeyUse) -> StoreResult<PasskeyUseOutcome> {
        Ok(self.lock()?.passkeys.record_use(used, None))
    }

    async fn put_ceremony(&self, ceremony: CeremonyRecord) -> StoreResult<()> {
        let mut state = self.lock()?;
        let ceremonies = &mut state.passkeys.ceremonies;
        ceremonies.retain(|c| !ct_eq(c.id_hash.as_str(), ceremony.id_hash.as_str()));
        ceremonies.push(ceremony);
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id_hash: &SecretDigest,
        user: Option<UserId>,
        kind: CeremonyKind,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<CeremonyState>> {
        let mut state = self.lock()?;
        let ceremonies = &mut state.passkeys.ceremonies;
        let Some(index) = ceremonies.iter().position(|c| {
            ct_eq(c.id_hash.as_str(), id_hash.as_str()) && c.user_id == user && c.kind == kind
        }) else {
            return Ok(None);
        };
        let taken = ceremonies.swap_remove(index);
        Ok((taken.expires_at > now).then_some(taken.state))
    }

    async fn delete_expired_ceremonies(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let ceremonies = &mut state.passkeys.ceremonies;
        let before = ceremonies.len();
        ceremonies.retain(|c| c.expires_at > now);
        Ok((before - ceremonies.len()) as u64)
    }
}
