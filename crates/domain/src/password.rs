//! Passwords and their hashes.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in characters: long enough for any passphrase (NIST asks for
/// ≥ 64), short enough that nobody can make the hasher chew on much (at most 512 bytes of
/// UTF-8).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// The former name of [`MAX_PASSWORD_CHARS`] (the change policy's limit, now everyone's).
pub const MAX_CHANGED_PASSWORD_CHARS: usize = MAX_PASSWORD_CHARS;

/// A password as the user typed it. Never printed: `Debug` shows `[REDACTED]`, and the
/// memory is zeroed on drop.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Wraps a presented password, whatever its content (checking it is the hasher's job).
    #[must_use]
    pub fn new(raw: impl Into<String>) -> Self {
        Self(SecretString::from(raw.into()))
    }

    /// The secret text, for the password hasher only.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether nothing was typed (the contract treats `""` like an absent password).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// Why a password cannot be set on an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("Password must be at least 8 characters")]
    TooShort,
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("Password must be at most 128 characters")]
    OverMaxChars,
    /// On the list of common passwords (NIST SP 800-63B §3.1.1.2).
    #[error("Password is too common; choose one that is not on lists of common passwords")]
    Common,
    /// The same as the current one.
    #[error("New password must differ from the current one")]
    SameAsCurrent,
}

/// The one password policy, for every path that sets a password (first-administrator
/// setup, admin create, `slugbase user create`, `slugbase user set-password`, password
/// change): 8–128 characters, not on the common-password list (`is_common`, NIST SP
/// 800-63B §3.1.1.2).
///
/// Characters are Unicode scalar values of the password exactly as typed: no trimming and
/// no normalisation (NFC or otherwise) — the hash is of those bytes, so the count is too.
/// 128 of them are at most 512 bytes, so multi-byte input cannot make Argon2 hash more.
///
/// # Errors
/// [`PasswordError::TooShort`], [`PasswordError::OverMaxChars`] or [`PasswordError::Common`].
pub fn check_password_policy(
    password: &Password,
    is_common: impl FnOnce(&str) -> bool,
) -> Result<(), PasswordError> {
    let chars = password.expose().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::OverMaxChars);
    }
    if is_common(password.expose()) {
        return Err(PasswordError::Common);
    }
    Ok(())
}

/// A new password for an existing account that satisfies the change policy: 8–128
/// characters, not on the common-password list, not the current one.
#[derive(Clone, Debug)]
pub struct ChangedPassword(Password);

impl ChangedPassword {
    /// Checks the policy: length, then `is_common`, then whether it equals `current` (the
    /// current password as the user typed it; `None` when an operator sets it).
    ///
    /// # Errors
    /// [`PasswordError::TooShort`], [`PasswordError::OverMaxChars`],
    /// [`PasswordError::Common`] or [`PasswordError::SameAsCurrent`].
    pub fn parse(
        new: Password,
        current: Option<&Password>,
        is_common: impl FnOnce(&str) -> bool,
    ) -> Result<Self, PasswordError> {
        check_password_policy(&new, is_common)?;
        if current.is_some_and(|c| c.expose() == new.expose()) {
            return Err(PasswordError::SameAsCurrent);
        }
        Ok(Self(new))
    }

    /// The validated password.
    #[must_use]
    pub fn as_password(&self) -> &Password {
        &self.0
    }
}

/// A new account's password that satisfies [`check_password_policy`].
#[derive(Clone, Debug)]
pub struct NewPassword(Password);

impl NewPassword {
    /// Checks the policy.
    ///
    /// # Errors
    /// [`PasswordError`] as [`check_password_policy`] says.
    pub fn parse(
        raw: impl Into<String>,
        is_common: impl FnOnce(&str) -> bool,
    ) -> Result<Self, PasswordError> {
        let password = Password::new(raw);
        check_password_policy(&password, is_common)?;
        Ok(Self(password))
    }

    /// The validated password.
    #[must_use]
    pub fn as_password(&self) -> &Password {
        &self.0
    }
}

/// A password hash: ours in PHC string format (`$argon2id$v=19$m=…`), or a legacy bcrypt
/// hash imported from SlugBase (`$2a$10$…`, [`PasswordHashKind::LegacyBcrypt`]) until the
/// account's next successful sign-in replaces it. Opaque to the domain otherwise; `Debug`
/// hides it anyway, since an offline attacker would love to have it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by the hasher or read from storage.
    #[must_use]
    pub fn from_phc(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The PHC string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which kind of hash this is, by its prefix.
    #[must_use]
    pub fn kind(&self) -> PasswordHashKind {
        if ["$2a$", "$2b$", "$2y$"].iter().any(|p| self.0.starts_with(p)) {
            PasswordHashKind::LegacyBcrypt
        } else {
            PasswordHashKind::Argon2id
        }
    }
}

/// The kinds of stored password hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordHashKind {
    /// Ours: Argon2id, a PHC string.
    Argon2id,
    /// Imported from SlugBase: bcrypt in modular-crypt form (`$2a$`/`$2b$`/`$2y$`), of the
    /// password's first 72 UTF-8 bytes. Verified at sign-in, then replaced by Argon2id in
    /// the same transaction as that sign-in.
    LegacyBcrypt,
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_password() {
        let shown = format!("{:?}", Password::new("hunter2-secret"));
        assert!(!shown.contains("hunter2"), "{shown}");
        let shown = format!("{:?}", NewPassword::parse("hunter2-secret", |_| false).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_hash_is_not_printed_either() {
        let shown = format!("{:?}", PasswordHash::from_phc("$argon2id$v=19$abc"));
        assert!(!shown.contains("argon2id"), "{shown}");
    }

    fn new(raw: &str) -> Result<NewPassword, PasswordError> {
        NewPassword::parse(raw, |p| p == "password")
    }

    #[test]
    fn new_passwords_need_eight_characters() {
        assert_eq!(new("1234567").unwrap_err(), PasswordError::TooShort);
        assert!(new("12345678").is_ok());
        // Eight characters, not eight bytes: "éééééééé" is 16 bytes, 8 characters.
        assert!(new("éééééééé").is_ok());
        assert_eq!(new("ééé").unwrap_err(), PasswordError::TooShort);
    }

    /// The limit counts characters: 128 four-byte characters pass (512 bytes), 129 do not,
    /// and neither do 129 ASCII ones (the former limit was 1024 bytes).
    #[test]
    fn new_passwords_are_at_most_128_characters() {
        assert_eq!(new(&"a".repeat(129)).unwrap_err(), PasswordError::OverMaxChars);
        assert!(new(&"a".repeat(128)).is_ok());
        assert!(new(&"\u{1f600}".repeat(128)).is_ok());
        assert_eq!(new(&"\u{1f600}".repeat(129)).unwrap_err(), PasswordError::OverMaxChars);
        // Combining marks count as characters of their own (no normalisation).
        assert_eq!(new(&"e\u{301}".repeat(65)).unwrap_err(), PasswordError::OverMaxChars);
    }

    #[test]
    fn new_passwords_must_not_be_common() {
        assert_eq!(new("password").unwrap_err(), PasswordError::Common);
    }

    #[test]
    fn a_changed_password_is_8_to_128_characters_not_common_and_new() {
        let never = |_: &str| false;
        let parse = |raw: &str, current: Option<&str>| {
            let current = current.map(Password::new);
            ChangedPassword::parse(Password::new(raw), current.as_ref(), |p| p == "password123")
                .map(|_| ())
        };
        assert_eq!(parse("1234567", None), Err(PasswordError::TooShort));
        assert_eq!(parse(&"é".repeat(129), None), Err(PasswordError::OverMaxChars));
        assert_eq!(parse(&"é".repeat(128), None), Ok(()));
        assert_eq!(parse("password123", None), Err(PasswordError::Common));
        assert_eq!(
            parse("same old secret", Some("same old secret")),
            Err(PasswordError::SameAsCurrent)
        );
        assert_eq!(parse("a new secret!", Some("same old secret")), Ok(()));
        assert!(ChangedPassword::parse(Password::new("12345678"), None, never).is_ok());
    }

    #[test]
    fn bcrypt_hashes_are_recognised_by_their_prefix() {
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let hash = PasswordHash::from_phc(format!("{prefix}10$abcdefghijklmnopqrstuv"));
            assert_eq!(hash.kind(), PasswordHashKind::LegacyBcrypt);
        }
        for other in ["$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", "$2x$10$abc", ""] {
            assert_eq!(PasswordHash::from_phc(other).kind(), PasswordHashKind::Argon2id);
        }
    }

    #[test]
    fn an_empty_password_is_empty() {
        assert!(Password::new("").is_empty());
        assert!(!Password::new(" ").is_empty());
    }
}
