//! [`UserRepository`] in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    ChangeEffects, Listed, NewUser, StoreError, StoreResult, UserRepository,
};
use slugbase_domain::{Email, LoginMethod, MfaState, PasswordHash, User, UserId};

use super::{InMemoryStore, ct_eq};

/// The stored user built from a [`NewUser`] (MFA disabled).
pub(super) fn user_from(new: NewUser) -> User {
    User {
        id: new.id,
        email: new.email,
        name: new.name,
        login: new.login,
        oidc_provider: new.oidc_provider,
        is_admin: new.is_admin,
        mfa: MfaState::Disabled,
        created_at: new.created_at,
        mfa_grace_started_at: None,
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

    async fn list(&self) -> StoreResult<Vec<Listed<User>>> {
        // Rows here are typed values, never damaged.
        let mut users: Vec<User> = self.lock()?.users.values().cloned().collect();
        users.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(users.into_iter().map(Listed::Ok).collect())
    }

    async fn count(&self) -> StoreResult<u64> {
        Ok(self.lock()?.users.len() as u64)
    }

    async fn delete(&self, id: UserId, attempt_keys: &[String]) -> StoreResult<bool> {
        let mut state = self.lock()?;
        if state.users.remove(&id).is_none() {
            return Ok(false);
        }
        state.backup_codes.remove(&id);
        state.sessions.retain(|s| s.user_id != id);
        state.tokens.retain(|t| t.record.user_id != id);
        state.passkeys.forget_user(id);
        for key in attempt_keys {
            state.attempts.remove(key);
        }
        Ok(true)
    }

    async fn set_password(&self, id: UserId, hash: PasswordHash) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(user) = state.users.get_mut(&id) else { return Ok(false) };
        user.login = LoginMethod::Local(hash);
        Ok(true)
    }

    async fn start_mfa_grace(
        &self,
        id: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let mut state = self.lock()?;
        let Some(user) = state.users.get_mut(&id) else { return Ok(None) };
        Ok(Some(*user.mfa_grace_started_at.get_or_insert(at)))
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: PasswordHash,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(user) = state.users.get_mut(&id) else { return Ok(false) };
        user.login = LoginMethod::Local(hash);
        state.apply(id, effects);
        Ok(true)
    }

    async fn upgrade_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: PasswordHash,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(user) = state.users.get_mut(&id) else { return Ok(false) };
        match &user.login {
            LoginMethod::Local(stored) if ct_eq(stored.as_str(), old.as_str()) => {}
            _ => return Ok(false),
        }
        user.login = LoginMethod::Local(new);
        state.apply(id, effects);
        Ok(true)
    }
}
