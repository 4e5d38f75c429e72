//! Encryption key rotation: `slugbase keys rotate`.
//!
//! Every stored TOTP secret — enabled and pending — is opened with whichever configured key
//! sealed it and sealed again under the current key, then written back with a
//! compare-and-set, so a secret that changed meanwhile (re-enrolled, confirmed, disabled,
//! reset by another instance) is never overwritten with a stale value. The secret itself is
//! unchanged: authenticator apps keep working, and the replay state stays as it was.
//!
//! A secret that cannot be opened (sealed under a key id that is not configured, or under
//! a key whose bytes are wrong) is not touched and is reported by user id and key id; the
//! rest are still rotated. Nothing here panics, and no secret or key reaches a log line or
//! the report.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::UserId;

use crate::error::Unexpected;
use crate::ports::{CipherError, SealedSecretRow, SealingKeyInfo, SecretCipher, SecretRotation};

/// Rows read per page.
const PAGE_SIZE: u32 = 200;

/// Why one stored secret could not be re-sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotationProblem {
    /// Sealed under a key id this configuration does not have: add that key (under
    /// `keys.encryption.<id>`) and run again.
    UnknownKey(String),
    /// The key with this id is configured but does not open the secret: its bytes are
    /// wrong (another key under the same id) or the stored value is corrupt.
    WrongKeyOrCorrupt(Option<String>),
}

impl fmt::Display for RotationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey(id) => write!(
                f,
                "sealed under key id {id:?}, which is not configured (add keys.encryption.{id})"
            ),
            Self::WrongKeyOrCorrupt(Some(id)) => write!(
                f,
                "key {id:?} is configured but does not open it (wrong key bytes, or corrupt data)"
            ),
            Self::WrongKeyOrCorrupt(None) => f.write_str("not a sealed secret (corrupt data)"),
        }
    }
}

/// One secret left as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationFailure {
    /// Whose secret.
    pub user_id: UserId,
    /// MFA enabled (`false`: a pending enrollment).
    pub enabled: bool,
    /// Why.
    pub problem: RotationProblem,
}

/// What a rotation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// The key every secret is now meant to be sealed with.
    pub current_key_id: String,
    /// Stored secrets looked at.
    pub examined: u64,
    /// Secrets of enabled MFA re-sealed under the current key.
    pub resealed_enabled: u64,
    /// Pending-enrollment secrets re-sealed under the current key.
    pub resealed_pending: u64,
    /// Secrets already under the current key (left alone).
    pub already_current: u64,
    /// Secrets that changed while this ran (compare-and-set lost) and were left alone;
    /// run again to cover them.
    pub changed_meanwhile: u64,
    /// Secrets that could not be opened, by user.
    pub failures: Vec<RotationFailure>,
}

impl RotationReport {
    /// Secrets re-sealed in total.
    #[must_use]
    pub const fn resealed(&self) -> u64 {
        self.resealed_enabled + self.resealed_pending
    }

    /// Whether every stored secret is now under the current key as far as this run saw.
    #[must_use]
    pub const fn complete(&self) -> bool {
        self.failures.is_empty() && self.changed_meanwhile == 0
    }
}

/// `slugbase keys rotate`: re-seals every stored TOTP secret under the current key.
#[derive(Clone)]
pub struct RotateKeys {
    store: Arc<dyn SecretRotation>,
    cipher: Arc<dyn SecretCipher>,
    keys: Arc<dyn SealingKeyInfo>,
}

impl fmt::Debug for RotateKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotateKeys")
    }
}

impl RotateKeys {
    /// The use case over the secrets in `store`, `cipher` (opens with any configured key,
    /// seals with the current one) and what `keys` says about key ids.
    #[must_use]
    pub fn new(
        store: Arc<dyn SecretRotation>,
        cipher: Arc<dyn SecretCipher>,
        keys: Arc<dyn SealingKeyInfo>,
    ) -> Self {
        Self { store, cipher, keys }
    }

    /// Re-seals every secret not yet under the current key.
    ///
    /// # Errors
    /// [`Unexpected`] when storage fails or sealing itself fails; what was re-sealed before
    /// stays re-sealed (each secret is its own compare-and-set), so running again is safe.
    #[tracing::instrument(name = "rotate_keys", skip_all)]
    pub async fn execute(&self) -> Result<RotationReport, Unexpected> {
        let current = self.keys.current_key_id();
        let mut report = RotationReport { current_key_id: current.clone(), ..Default::default() };
        let mut after = None;
        loop {
            let page = self.store.sealed_secrets_page(after, PAGE_SIZE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.user_id);
            let full = page.len() >= usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
            for row in page {
                report.examined += 1;
                self.reseal_one(row, &current, &mut report).await?;
            }
            if !full {
                break;
            }
        }
        tracing::info!(
            key.current = %current,
            secrets.examined = report.examined,
            secrets.resealed = report.resealed(),
            secrets.already_current = report.already_current,
            secrets.changed_meanwhile = report.changed_meanwhile,
            secrets.failed = report.failures.len(),
            "key rotation finished"
        );
        Ok(report)
    }

    async fn reseal_one(
        &self,
        row: SealedSecretRow,
        current: &str,
        report: &mut RotationReport,
    ) -> Result<(), Unexpected> {
        let key_id = self.keys.sealed_key_id(&row.sealed);
        if key_id.as_deref() == Some(current) {
            report.already_current += 1;
            return Ok(());
        }
        let problem = match self.cipher.decrypt(row.user_id, &row.sealed) {
            Ok(secret) => {
                let resealed = self.cipher.encrypt(row.user_id, &secret)?;
                // Never write back something that does not open to the same secret.
                let check = self.cipher.decrypt(row.user_id, &resealed).map_err(|e| {
                    Unexpected::Internal(anyhow::anyhow!("re-sealed secret does not open: {e}"))
                })?;
                if !same_secret(check.expose_base32(), secret.expose_base32()) {
                    return Err(Unexpected::Internal(anyhow::anyhow!(
                        "re-sealed secret opens to a different value"
                    )));
                }
                if self.store.replace_sealed_secret(row.user_id, &row.sealed, &resealed).await? {
                    if row.enabled {
                        report.resealed_enabled += 1;
                    } else {
                        report.resealed_pending += 1;
                    }
                } else {
                    report.changed_meanwhile += 1;
                }
                return Ok(());
            }
            Err(CipherError::UnknownKey(id)) => RotationProblem::UnknownKey(id),
            Err(CipherError::Corrupt) => RotationProblem::WrongKeyOrCorrupt(key_id),
        };
        tracing::warn!(
            user.id = %row.user_id,
            mfa.enabled = row.enabled,
            problem = %problem,
            "TOTP secret left under its old key"
        );
        report.failures.push(RotationFailure {
            user_id: row.user_id,
            enabled: row.enabled,
            problem,
        });
        Ok(())
    }
}

/// Whether two secrets are equal, without stopping at the first differing byte.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockSealingKeyInfo, MockSecretCipher, MockSecretRotation};
    use slugbase_domain::{EncryptedSecret, TotpSecret};

    fn row(n: u128, sealed: &str, enabled: bool) -> SealedSecretRow {
        SealedSecretRow {
            user_id: UserId::from_uuid(uuid::Uuid::from_u128(n)),
            sealed: EncryptedSecret::new(sealed),
            enabled,
        }
    }

    fn keys() -> MockSealingKeyInfo {
        let mut keys = MockSealingKeyInfo::new();
        keys.expect_current_key_id().return_const("k2".to_owned());
        keys.expect_sealed_key_id()
            .returning(|s| s.as_str().split_once(':').map(|(id, _)| id.to_owned()));
        keys
    }

    #[tokio::test]
    async fn unknown_and_wrong_keys_are_reported_and_the_rest_is_resealed() {
        let mut store = MockSecretRotation::new();
        let rows = vec![
            row(1, "k1:a", true),
            row(2, "k2:b", true),
            row(3, "k0:c", false),
            row(4, "k1:bad", true),
            row(5, "k1:d", false),
        ];
        store.expect_sealed_secrets_page().times(1).return_once(move |_, _| Ok(rows));
        store
            .expect_replace_sealed_secret()
            .times(2)
            .returning(|_, old, new| Ok(new.as_str() == format!("k2:{}", &old.as_str()[3..])));
        let mut cipher = MockSecretCipher::new();
        cipher.expect_decrypt().returning(|_, s| match s.as_str() {
            "k0:c" => Err(CipherError::UnknownKey("k0".into())),
            "k1:bad" => Err(CipherError::Corrupt),
            other => Ok(TotpSecret::from_base32(other.split_once(':').unwrap().1.to_uppercase())),
        });
        cipher.expect_encrypt().returning(|_, secret| {
            Ok(EncryptedSecret::new(format!("k2:{}", secret.expose_base32().to_lowercase())))
        });
        let use_case = RotateKeys::new(Arc::new(store), Arc::new(cipher), Arc::new(keys()));

        let report = use_case.execute().await.unwrap();

        assert_eq!(report.examined, 5);
        assert_eq!(report.already_current, 1);
        assert_eq!(report.resealed_enabled, 1);
        assert_eq!(report.resealed_pending, 1);
        assert_eq!(report.changed_meanwhile, 0);
        assert_eq!(report.failures.len(), 2);
        assert_eq!(report.failures[0].problem, RotationProblem::UnknownKey("k0".into()));
        assert_eq!(
            report.failures[1].problem,
            RotationProblem::WrongKeyOrCorrupt(Some("k1".into()))
        );
        assert!(!report.complete());
        assert!(report.failures[0].problem.to_string().contains("keys.encryption.k0"));
    }

    #[tokio::test]
    async fn a_secret_changed_meanwhile_is_counted_not_overwritten() {
        let mut store = MockSecretRotation::new();
        store.expect_sealed_secrets_page().return_once(|_, _| Ok(vec![row(1, "k1:a", true)]));
        store.expect_replace_sealed_secret().times(1).returning(|_, _, _| Ok(false));
        let mut cipher = MockSecretCipher::new();
        cipher.expect_decrypt().returning(|_, _| Ok(TotpSecret::from_base32("A")));
        cipher.expect_encrypt().returning(|_, _| Ok(EncryptedSecret::new("k2:a")));
        let use_case = RotateKeys::new(Arc::new(store), Arc::new(cipher), Arc::new(keys()));

        let report = use_case.execute().await.unwrap();

        assert_eq!(report.changed_meanwhile, 1);
        assert_eq!(report.resealed(), 0);
        assert!(!report.complete());
    }

    #[tokio::test]
    async fn pages_continue_after_the_last_user_of_a_full_page() {
        let mut store = MockSecretRotation::new();
        let mut seq = mockall::Sequence::new();
        let first: Vec<_> = (1..=u128::from(PAGE_SIZE)).map(|n| row(n, "k2:x", true)).collect();
        let last = first.last().unwrap().user_id;
        store
            .expect_sealed_secrets_page()
            .withf(|after, _| after.is_none())
            .times(1)
            .in_sequence(&mut seq)
            .return_once(move |_, _| Ok(first));
        store
            .expect_sealed_secrets_page()
            .withf(move |after, _| *after == Some(last))
            .times(1)
            .in_sequence(&mut seq)
            .return_once(|_, _| Ok(vec![row(10_000, "k2:y", false)]));
        let use_case =
            RotateKeys::new(Arc::new(store), Arc::new(MockSecretCipher::new()), Arc::new(keys()));

        let report = use_case.execute().await.unwrap();

        assert_eq!(report.examined, u64::from(PAGE_SIZE) + 1);
        assert_eq!(report.already_current, u64::from(PAGE_SIZE) + 1);
        assert!(report.complete());
    }
}
