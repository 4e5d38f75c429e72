//! The common-password list a new password must not be on (NIST SP 800-63B §3.1.1.2).
//!
//! 19 640 passwords, Django's `common-passwords.txt.gz` (from Django 5.2.19 on PyPI; the list
//! is Royce Williams' compilation; BSD-3-Clause, see `data/common-passwords.LICENSE`),
//! embedded gzip-compressed (80 KB) and decompressed on first use.

use std::collections::HashSet;
use std::io::Read as _;
use std::sync::OnceLock;

use slugbase_application::ports::CommonPasswords;

/// The gzip-compressed list, one lower-case password per line.
const LIST_GZ: &[u8] = include_bytes!("../../data/common-passwords.txt.gz");

/// The embedded list, loaded once.
#[derive(Debug, Default)]
pub struct EmbeddedCommonPasswords {
    list: OnceLock<HashSet<String>>,
}

impl EmbeddedCommonPasswords {
    /// The list (decompressed at the first check).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn list(&self) -> &HashSet<String> {
        self.list.get_or_init(|| {
            let mut text = String::new();
            let read = flate2::read::GzDecoder::new(LIST_GZ).read_to_string(&mut text);
            if let Err(error) = read {
                // Cannot happen with the embedded file (a test reads it); refuse nothing
                // rather than everything if it ever did.
                tracing::error!(%error, "the embedded common-password list cannot be read");
            }
            text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
        })
    }

    /// How many passwords the list holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.list().len()
    }

    /// Whether the list is empty (it never is).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.list().is_empty()
    }
}

impl CommonPasswords for EmbeddedCommonPasswords {
    fn is_common(&self, password: &str) -> bool {
        self.list().contains(&password.trim().to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_over_ten_thousand_well_known_passwords() {
        let list = EmbeddedCommonPasswords::new();
        assert!(list.len() >= 10_000, "{}", list.len());
        for common in ["123456", "password", "qwerty", "Password", "iloveyou", "  letmein "] {
            assert!(list.is_common(common), "{common}");
        }
        assert!(!list.is_common("correct horse battery staple"));
    }
}
