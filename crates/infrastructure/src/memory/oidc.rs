//! [`OidcRepository`] in memory. Links and session records of deleted users or sessions
//! are ignored (and dropped) when read, as the database's cascades would have removed them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    AuditEvent, LinkOutcome, NewUser, Notice, OidcFlowRecord, OidcRepository, SecretDigest,
    SessionIdpAuth, StoreError, StoreResult,
};
use slugbase_domain::{MfaState, User, UserId};

use super::{InMemoryStore, State, ct_eq};

/// One stored link: (provider, subject) → user.
#[derive(Clone, Debug)]
pub(super) struct IdentityRow {
    provider: String,
    subject: String,
    user: UserId,
}

/// OIDC state held by the in-memory store.
#[derive(Debug, Default)]
pub(super) struct OidcState {
    flows: Vec<OidcFlowRecord>,
    identities: Vec<IdentityRow>,
    session_auth: Vec<(SecretDigest, SessionIdpAuth)>,
}

impl State {
    /// Whether `(provider, subject)` is linked to a user that still exists.
    pub(super) fn identity_taken(&mut self, provider: &str, subject: &str) -> bool {
        self.prune_identities();
        self.oidc.identities.iter().any(|r| r.provider == provider && r.subject == subject)
    }

    /// Links `(provider, subject)` to `user` (the caller checked it is free).
    pub(super) fn add_identity(&mut self, provider: &str, subject: &str, user: UserId) {
        self.oidc.identities.push(IdentityRow {
            provider: provider.to_owned(),
            subject: subject.to_owned(),
            user,
        });
    }

    /// Drops links whose user is gone (the database cascades those away).
    fn prune_identities(&mut self) {
        let users = &self.users;
        self.oidc.identities.retain(|row| users.contains_key(&row.user));
    }
}

#[async_trait]
impl OidcRepository for InMemoryStore {
    async fn create_flow(&self, flow: OidcFlowRecord) -> StoreResult<()> {
        let mut state = self.lock()?;
        state.oidc.flows.retain(|f| !ct_eq(f.id_hash.as_str(), flow.id_hash.as_str()));
        state.oidc.flows.push(flow);
        Ok(())
    }

    async fn take_flow(&self, id_hash: &SecretDigest) -> StoreResult<Option<OidcFlowRecord>> {
        let mut state = self.lock()?;
        let index =
            state.oidc.flows.iter().position(|f| ct_eq(f.id_hash.as_str(), id_hash.as_str()));
        Ok(index.map(|i| state.oidc.flows.swap_remove(i)))
    }

    async fn delete_expired_flows(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let before = state.oidc.flows.len();
        state.oidc.flows.retain(|f| f.expires_at > now);
        Ok((before - state.oidc.flows.len()) as u64)
    }

    async fn find_linked_user(&self, provider: &str, subject: &str) -> StoreResult<Option<User>> {
        let mut state = self.lock()?;
        state.prune_identities();
        let user = state
            .oidc
            .identities
            .iter()
            .find(|row| row.provider == provider && row.subject == subject)
            .map(|row| row.user);
        Ok(user.and_then(|id| state.users.get(&id).cloned()))
    }

    async fn link<'a>(
        &self,
        provider: &str,
        subject: &str,
        user: UserId,
        event: AuditEvent,
        notice: Option<&'a Notice>,
    ) -> StoreResult<LinkOutcome> {
        let mut state = self.lock()?;
        state.prune_identities();
        let taken =
            state.oidc.identities.iter().any(|row| {
                row.provider == provider && (row.subject == subject || row.user == user)
            });
        if taken || !state.users.contains_key(&user) {
            return Ok(LinkOutcome::Refused);
        }
        state.oidc.identities.push(IdentityRow {
            provider: provider.to_owned(),
            subject: subject.to_owned(),
            user,
        });
        if let Some(account) = state.users.get_mut(&user) {
            account.oidc_provider.get_or_insert_with(|| provider.to_owned());
        }
        state.append_audit(event);
        if let Some(notice) = notice {
            state.enqueue_notice(notice.clone());
        }
        Ok(LinkOutcome::Linked)
    }

    async fn create_linked_user(
        &self,
        user: NewUser,
        subject: &str,
        event: AuditEvent,
    ) -> StoreResult<User> {
        let mut state = self.lock()?;
        state.prune_identities();
        let Some(provider) = user.oidc_provider.clone() else {
            return Err(StoreError::Other(anyhow::anyhow!("a linked user needs its provider")));
        };
        if state.users.values().any(|u| u.email == user.email) {
            return Err(StoreError::Conflict("users.email"));
        }
        if state.oidc.identities.iter().any(|r| r.provider == provider && r.subject == subject) {
            return Err(StoreError::Conflict("oidc_identities.subject"));
        }
        let created = User {
            id: user.id,
            email: user.email,
            name: user.name,
            login: user.login,
            oidc_provider: user.oidc_provider,
            is_admin: user.is_admin,
            mfa: MfaState::Disabled,
            created_at: user.created_at,
            mfa_grace_started_at: None,
        };
        state.users.insert(created.id, created.clone());
        state.oidc.identities.push(IdentityRow {
            provider,
            subject: subject.to_owned(),
            user: created.id,
        });
        state.append_audit(event);
        Ok(created)
    }

    async fn record_session_auth(
        &self,
        session: &SecretDigest,
        auth: SessionIdpAuth,
    ) -> StoreResult<()> {
        let mut state = self.lock()?;
        if !state.sessions.iter().any(|s| ct_eq(s.id_hash.as_str(), session.as_str())) {
            return Err(StoreError::Other(anyhow::anyhow!("no such session")));
        }
        state.oidc.session_auth.retain(|(s, _)| !ct_eq(s.as_str(), session.as_str()));
        state.oidc.session_auth.push((session.clone(), auth));
        Ok(())
    }

    async fn session_auth(&self, session: &SecretDigest) -> StoreResult<Option<SessionIdpAuth>> {
        let mut state = self.lock()?;
        let sessions = &state.sessions;
        let alive =
            |s: &SecretDigest| sessions.iter().any(|r| ct_eq(r.id_hash.as_str(), s.as_str()));
        let live: Vec<_> =
            state.oidc.session_auth.iter().filter(|(s, _)| alive(s)).cloned().collect();
        state.oidc.session_auth = live;
        Ok(state
            .oidc
            .session_auth
            .iter()
            .find(|(s, _)| ct_eq(s.as_str(), session.as_str()))
            .map(|(_, auth)| auth.clone()))
    }
}
