//! [`AccountImport`] in memory: one critical section per account, so the account and its
//! event are stored together or not at all.

use std::collections::HashMap;

use async_trait::async_trait;
use slugbase_application::ports::{AccountImport, ImportOutcome, ImportedAccount, StoreResult};
use slugbase_domain::{MfaState, UserId};

use super::users::user_from;
use super::{BackupCodeRow, InMemoryStore, TokenRow};

#[async_trait]
impl AccountImport for InMemoryStore {
    async fn imported_from(&self, source: &str) -> StoreResult<HashMap<String, UserId>> {
        let state = self.lock()?;
        Ok(state
            .imported
            .iter()
            .filter(|((from, _), _)| from == source)
            .map(|((_, source_id), id)| (source_id.clone(), *id))
            .collect())
    }

    async fn import_account(&self, account: &ImportedAccount) -> StoreResult<ImportOutcome> {
        let mut state = self.lock()?;
        let key = (account.source.clone(), account.source_id.clone());
        if let Some(id) = state.imported.get(&key) {
            return Ok(ImportOutcome::AlreadyImported(*id));
        }
        if state.users.values().any(|u| u.email == account.user.email) {
            return Ok(ImportOutcome::EmailTaken);
        }
        if let (Some(provider), Some(subject)) =
            (&account.user.oidc_provider, &account.oidc_subject)
            && state.identity_taken(provider, subject)
        {
            return Ok(ImportOutcome::OidcSubjectTaken);
        }
        let mut user = user_from(account.user.clone());
        if let Some(mfa) = &account.mfa {
            user.mfa = MfaState::Enabled {
                secret: Some(mfa.secret.clone()),
                enrolled_at: mfa.enrolled_at,
                last_totp_step: None,
                pending: None,
            };
            let rows = mfa
                .backup_codes
                .iter()
                .map(|digest| BackupCodeRow { digest: digest.clone(), used_at: None })
                .collect();
            state.backup_codes.insert(user.id, rows);
        }
        for token in &account.tokens {
            state.tokens.push(TokenRow { record: token.clone(), revoked_at: None });
        }
        if let (Some(provider), Some(subject)) =
            (&account.user.oidc_provider, &account.oidc_subject)
        {
            state.add_identity(provider, subject, user.id);
        }
        state.users.insert(user.id, user.clone());
        state.imported.insert(key, user.id);
        state.append_audit(account.audit.clone());
        Ok(ImportOutcome::Imported(Box::new(user)))
    }
}
