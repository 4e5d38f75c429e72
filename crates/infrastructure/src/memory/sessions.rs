//! [`SessionRepository`] in memory; session ids are found by a constant-time scan.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    CallerRecord, Listed, SecretDigest, SessionRecord, SessionRepository, StoreResult,
};
use slugbase_domain::UserId;

use super::{InMemoryStore, State, ct_eq};

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

    /// Deletes a user's sessions but `keep`; how many.
    pub(super) fn delete_sessions_of(&mut self, user: UserId, keep: Option<&SecretDigest>) -> u64 {
        let before = self.sessions.len();
        self.sessions.retain(|s| {
            s.user_id != user || keep.is_some_and(|k| ct_eq(k.as_str(), s.id_hash.as_str()))
        });
        (before - self.sessions.len()) as u64
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

    async fn find_caller(
        &self,
        id_hash: &SecretDigest,
    ) -> StoreResult<Option<CallerRecord<SessionRecord>>> {
        let state = self.lock()?;
        let session = state.session_index(id_hash).and_then(|i| state.sessions.get(i).cloned());
        Ok(session.and_then(|s| {
            let owner = s.user_id;
            state.caller_record(s, owner)
        }))
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

    async fn sessions_of_listed(&self, user: UserId) -> StoreResult<Vec<Listed<SessionRecord>>> {
        let state = self.lock()?;
        let mut sessions: Vec<SessionRecord> =
            state.sessions.iter().filter(|s| s.user_id == user).cloned().collect();
        sessions.sort_by_key(|s| s.created_at);
        Ok(sessions.into_iter().map(Listed::Ok).collect())
    }

    async fn delete_for_user<'a>(
        &self,
        user: UserId,
        keep: Option<&'a SecretDigest>,
    ) -> StoreResult<u64> {
        Ok(self.lock()?.delete_sessions_of(user, keep))
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let before = state.sessions.len();
        state.sessions.retain(|s| s.expires_at > now);
        Ok((before - state.sessions.len()) as u64)
    }
}
