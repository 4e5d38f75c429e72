//! New sets of backup codes.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::{BACKUP_CODE_COUNT, BackupCode};

use crate::ports::{BackupCodeHasher, Random, SecretDigest};

/// Issues fresh sets of backup codes.
#[derive(Clone)]
pub struct BackupCodeIssuer {
    random: Arc<dyn Random>,
    backup_codes: Arc<dyn BackupCodeHasher>,
}

impl fmt::Debug for BackupCodeIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupCodeIssuer").finish_non_exhaustive()
    }
}

impl BackupCodeIssuer {
    /// An issuer drawing codes from `random` and digesting them with `backup_codes`.
    #[must_use]
    pub fn new(random: Arc<dyn Random>, backup_codes: Arc<dyn BackupCodeHasher>) -> Self {
        Self { random, backup_codes }
    }

    /// A fresh set of backup codes: the plain codes (shown once) and their digests.
    pub(crate) fn issue(&self) -> (Vec<String>, Vec<SecretDigest>) {
        (0..BACKUP_CODE_COUNT)
            .map(|_| {
                let code = BackupCode::from_random_bytes(self.random.bytes_8());
                (code.expose().to_owned(), self.backup_codes.digest(&code))
            })
            .unzip()
    }
}
