//! [`MfaRepository`] in memory: each method one critical section, so a spend, the state
//! change that goes with it and the change's effects (audit events, started and ended sessions, settled
//! attempt counters) happen together or not at all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    CancelOutcome, ChangeEffects, MfaProof, MfaRepository, PasskeyUseOutcome, ProofSignIn,
    SecretDigest, SessionKind, SessionRecord, StoreResult,
};
use slugbase_domain::{EncryptedSecret, MfaState, TotpStep, UserId};

use super::{BackupCodeRow, InMemoryStore, State, ct_eq};

impl State {
    /// Spends a proof for `user` (see [`MfaRepository::spend_proof`]); `false` changes nothing.
    pub(super) fn spend(&mut self, user: UserId, proof: &MfaProof, at: DateTime<Utc>) -> bool {
        let Some(u) = self.users.get_mut(&user) else { return false };
        let MfaState::Enabled { secret, last_totp_step, .. } = &mut u.mfa else { return false };
        match proof {
            MfaProof::TotpStep(step) => {
                if secret.is_none() || step.is_replay_after(*last_totp_step) {
                    return false;
                }
                *last_totp_step = Some(*step);
                true
            }
            MfaProof::BackupCode(_) | MfaProof::AnyBackupCode { .. } => {
                let digests = proof.backup_digests().unwrap_or_default();
                let Some(codes) = self.backup_codes.get_mut(&user) else { return false };
                let mut found = None;
                for (i, code) in codes.iter().enumerate() {
                    // Every candidate against every row, with no early exit.
                    let matches = digests
                        .iter()
                        .fold(false, |any, d| any | ct_eq(code.digest.as_str(), d.as_str()));
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
            MfaProof::Passkey(used) => {
                self.passkeys.record_use(used, Some(user)) == PasskeyUseOutcome::Recorded
            }
        }
    }

    /// Applies an MFA change's effects, in the critical section of the change itself.
    pub(super) fn apply(&mut self, user: UserId, effects: &ChangeEffects) {
        self.append_audit(effects.audit.clone());
        for event in &effects.also_audit {
            self.append_audit(event.clone());
        }
        if let Some(session) = &effects.start_session {
            self.sessions.push(session.clone());
        }
        if let Some(end) = &effects.end_sessions {
            self.delete_sessions_of(user, end.keep.as_ref());
        }
        for release in &effects.releases {
            if let Some(counter) = self.attempts.get_mut(&release.key) {
                *counter = counter.released(release.reserved_in, release.outcome);
            }
        }
        for key in &effects.cleared_attempts {
            self.attempts.remove(key);
        }
        if let Some(notice) = &effects.notice {
            self.enqueue_notice(notice.clone());
        }
    }

    /// Replaces a user's backup codes with fresh, unused ones.
    pub(super) fn store_codes(&mut self, user: UserId, codes: Vec<SecretDigest>) {
        let rows =
            codes.into_iter().map(|digest| BackupCodeRow { digest, used_at: None }).collect();
        self.backup_codes.insert(user, rows);
    }
}

#[async_trait]
impl MfaRepository for InMemoryStore {
    async fn begin_enrollment(&self, user: UserId, secret: EncryptedSecret) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(u) = state.users.get_mut(&user) else { return Ok(false) };
        match &mut u.mfa {
            MfaState::Enabled { secret: Some(_), .. } => return Ok(false),
            MfaState::Enabled { pending, .. } => *pending = Some(secret),
            MfaState::Disabled | MfaState::Pending { .. } => u.mfa = MfaState::Pending { secret },
        }
        Ok(true)
    }

    async fn cancel_enrollment(&self, user: UserId) -> StoreResult<CancelOutcome> {
        let mut state = self.lock()?;
        let Some(u) = state.users.get_mut(&user) else { return Ok(CancelOutcome::Cancelled) };
        match &mut u.mfa {
            MfaState::Enabled { secret: Some(_), .. } => Ok(CancelOutcome::AlreadyEnabled),
            MfaState::Enabled { pending, .. } => {
                *pending = None;
                Ok(CancelOutcome::Cancelled)
            }
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
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let Some(u) = state.users.get_mut(&user) else { return Ok(false) };
        let Some(stored) = u.mfa.pending_secret().filter(|s| ct_eq(s.as_str(), pending.as_str()))
        else {
            return Ok(false);
        };
        let secret = Some(stored.clone());
        // MFA off: it turns on now; on with passkeys alone: it stays on since then.
        let enrolled_at = match &u.mfa {
            MfaState::Enabled { enrolled_at, .. } => *enrolled_at,
            MfaState::Disabled | MfaState::Pending { .. } => at,
        };
        u.mfa =
            MfaState::Enabled { secret, enrolled_at, last_totp_step: Some(step), pending: None };
        state.store_codes(user, backup_codes);
        state.apply(user, effects);
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

    async fn sign_in_with_proof(
        &self,
        user: UserId,
        pending: &SecretDigest,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<ProofSignIn> {
        let mut state = self.lock()?;
        let is_pending = |s: &SessionRecord| {
            s.user_id == user
                && s.kind == SessionKind::PendingMfa
                && ct_eq(s.id_hash.as_str(), pending.as_str())
        };
        let Some(index) = state.sessions.iter().position(is_pending) else {
            return Ok(ProofSignIn::PendingGone);
        };
        if !state.spend(user, proof, at) {
            return Ok(ProofSignIn::ProofRefused);
        }
        state.sessions.swap_remove(index);
        state.apply(user, effects);
        Ok(ProofSignIn::SignedIn)
    }

    async fn spend_proof_with(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        if !state.spend(user, proof, at) {
            return Ok(false);
        }
        state.apply(user, effects);
        Ok(true)
    }

    async fn disable_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        if !state.spend(user, proof, at) {
            return Ok(false);
        }
        if let Some(u) = state.users.get_mut(&user) {
            u.mfa = MfaState::Disabled;
        }
        state.backup_codes.remove(&user);
        state.passkeys.remove_all_of(user);
        state.apply(user, effects);
        Ok(true)
    }

    async fn regenerate_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        if !state.spend(user, proof, at) {
            return Ok(false);
        }
        state.store_codes(user, backup_codes);
        state.apply(user, effects);
        Ok(true)
    }

    async fn reset(&self, user: UserId, effects: &ChangeEffects) -> StoreResult<bool> {
        let mut state = self.lock()?;
        state.backup_codes.remove(&user);
        state.passkeys.remove_all_of(user);
        let was_on = state.users.get_mut(&user).is_some_and(|u| {
            let was_on = !matches!(u.mfa, MfaState::Disabled);
            u.mfa = MfaState::Disabled;
            was_on
        });
        state.apply(user, effects);
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
