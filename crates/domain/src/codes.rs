//! One-time codes: TOTP codes, backup codes, and the second factor a user presents.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Digits in a TOTP code (RFC 6238 with SHA-1, as authenticator apps expect).
pub const TOTP_DIGITS: usize = 6;
/// Backup codes in one set, as SlugBase issues them.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Hex characters in one backup code: 16 hex = 64 bits, unguessable within any attempt limit.
pub const BACKUP_CODE_HEX_LEN: usize = 16;

/// Why a presented string is no code at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeFormatError {
    /// Nothing but whitespace.
    #[error("code is empty")]
    Empty,
    /// Neither 6 ASCII digits nor 16 hex characters.
    #[error("code is neither a 6-digit TOTP code nor a 16-character backup code")]
    Malformed,
}

/// Removes every whitespace character and dash: people paste `123 456`, `abcd efgh …` and
/// backup codes as they are shown, grouped (`abcd-ef01-2345-6789`) — with the hyphen-minus
/// or the dash a word processor or phone keyboard puts in its place (U+2010–U+2015, U+2212).
/// What is left must still be ASCII digits or hex, so nothing else slips through.
fn strip_whitespace(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace() && !is_dash(*c)).collect()
}

/// A separator people type between groups of a code.
const fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// A 6-digit TOTP code. ASCII digits only: `١٢٣٤٥٦` (Arabic-Indic) is not a code.
#[derive(Clone)]
pub struct TotpCode(SecretString);

impl TotpCode {
    /// Parses a code, ignoring whitespace.
    ///
    /// # Errors
    /// [`CodeFormatError`] unless exactly six ASCII digits remain.
    pub fn parse(raw: &str) -> Result<Self, CodeFormatError> {
        let compact = strip_whitespace(raw);
        if compact.is_empty() {
            return Err(CodeFormatError::Empty);
        }
        if compact.len() != TOTP_DIGITS || !compact.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeFormatError::Malformed);
        }
        Ok(Self(SecretString::from(compact)))
    }

    /// The six digits, for the TOTP verifier only.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode([REDACTED])")
    }
}

/// A backup code: 16 hex characters, lower-cased, whitespace removed.
#[derive(Clone)]
pub struct BackupCode(SecretString);

impl BackupCode {
    /// Parses a code case-insensitively, ignoring whitespace.
    ///
    /// # Errors
    /// [`CodeFormatError`] unless exactly 16 hex characters remain.
    pub fn parse(raw: &str) -> Result<Self, CodeFormatError> {
        let compact = strip_whitespace(raw);
        if compact.is_empty() {
            return Err(CodeFormatError::Empty);
        }
        if compact.len() != BACKUP_CODE_HEX_LEN || !compact.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CodeFormatError::Malformed);
        }
        Ok(Self(SecretString::from(compact.to_ascii_lowercase())))
    }

    /// Builds a code from 64 random bits (the caller supplies the randomness).
    #[must_use]
    pub fn from_random_bytes(bytes: [u8; 8]) -> Self {
        use fmt::Write as _;
        let mut hex = String::with_capacity(BACKUP_CODE_HEX_LEN);
        for b in bytes {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{b:02x}");
        }
        Self(SecretString::from(hex))
    }

    /// The normalised code, for the keyed hasher and for showing the user once.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupCode([REDACTED])")
    }
}

/// What a user presents as proof of possession.
#[derive(Clone, Debug)]
pub enum SecondFactor {
    /// A code from the authenticator app.
    Totp(TotpCode),
    /// One of the printed backup codes.
    Backup(BackupCode),
}

impl SecondFactor {
    /// Parses the raw `code` field: six digits are a TOTP code, sixteen hex characters a
    /// backup code (the two shapes cannot be confused).
    ///
    /// # Errors
    /// [`CodeFormatError`] when the string is neither.
    pub fn parse(raw: &str) -> Result<Self, CodeFormatError> {
        match TotpCode::parse(raw) {
            Ok(code) => Ok(Self::Totp(code)),
            Err(CodeFormatError::Empty) => Err(CodeFormatError::Empty),
            Err(CodeFormatError::Malformed) => BackupCode::parse(raw).map(Self::Backup),
        }
    }

    /// Which kind of proof this is (for the audit log; never the code).
    #[must_use]
    pub const fn kind(&self) -> crate::ProofKind {
        match self {
            Self::Totp(_) => crate::ProofKind::Totp,
            Self::Backup(_) => crate::ProofKind::BackupCode,
        }
    }
}

/// A TOTP time step: `floor(unix_time / 30)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TotpStep(u64);

impl TotpStep {
    /// Wraps a step number.
    #[must_use]
    pub const fn new(step: u64) -> Self {
        Self(step)
    }

    /// The step number.
    #[must_use]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// RFC 6238 §5.2: once a code for a step has been accepted, no code for that step or an
    /// earlier one is accepted again. `last_accepted` is the newest step accepted so far.
    #[must_use]
    pub fn is_replay_after(self, last_accepted: Option<Self>) -> bool {
        last_accepted.is_some_and(|last| self <= last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_accepted_grouped_with_dashes_or_spaces_as_shown_or_typed() {
        for typed in [
            "abcd-ef01-2345-6789",
            "ABCD EF01 2345 6789",
            "abcd\u{2013}ef01\u{2011}2345\u{2212}6789",
        ] {
            let SecondFactor::Backup(code) = SecondFactor::parse(typed).unwrap() else {
                panic!("{typed} is a backup code");
            };
            assert_eq!(code.expose(), "abcdef0123456789", "{typed}");
        }
        assert!(matches!(SecondFactor::parse("123-456").unwrap(), SecondFactor::Totp(_)));
        // Only separators go: anything else still makes it no code.
        for typed in ["abcd_ef01_2345_6789", "abcd.ef01.2345.6789", "12\u{2014}34\u{00B7}56", "---"]
        {
            assert!(SecondFactor::parse(typed).is_err(), "{typed}");
        }
    }

    #[test]
    fn six_digits_are_a_totp_code_and_whitespace_is_ignored() {
        for raw in ["123456", " 123 456 ", "12\t34\n56"] {
            let code = TotpCode::parse(raw).unwrap();
            assert_eq!(code.expose(), "123456");
        }
    }

    #[test]
    fn five_and_seven_digit_codes_are_rejected() {
        assert_eq!(TotpCode::parse("12345").unwrap_err(), CodeFormatError::Malformed);
        assert_eq!(TotpCode::parse("1234567").unwrap_err(), CodeFormatError::Malformed);
    }

    #[test]
    fn unicode_digits_are_not_totp_digits() {
        // Arabic-Indic and full-width digits satisfy char::is_numeric but are no TOTP code.
        assert!(TotpCode::parse("١٢٣٤٥٦").is_err());
        assert!(TotpCode::parse("１２３４５６").is_err());
        assert!(SecondFactor::parse("١٢٣٤٥٦").is_err());
    }

    #[test]
    fn empty_codes_are_reported_as_empty() {
        assert_eq!(TotpCode::parse("").unwrap_err(), CodeFormatError::Empty);
        assert_eq!(BackupCode::parse("  \t").unwrap_err(), CodeFormatError::Empty);
        assert_eq!(SecondFactor::parse(" ").unwrap_err(), CodeFormatError::Empty);
    }

    #[test]
    fn backup_codes_are_case_insensitive_and_ignore_whitespace() {
        let code = BackupCode::parse(" ABCD ef01 2345 6789 ").unwrap();
        assert_eq!(code.expose(), "abcdef0123456789");
    }

    #[test]
    fn non_hex_backup_codes_are_rejected() {
        assert!(BackupCode::parse("abcdef012345678g").is_err());
        assert!(BackupCode::parse("abcdef01234567").is_err());
        assert!(BackupCode::parse("abcdef0123456789a").is_err());
        assert!(BackupCode::parse("abcd-ef01-2345-67").is_err());
    }

    #[test]
    fn a_second_factor_is_recognised_by_its_shape() {
        assert!(matches!(SecondFactor::parse("654 321"), Ok(SecondFactor::Totp(_))));
        assert!(matches!(SecondFactor::parse("0123456789ABCDEF"), Ok(SecondFactor::Backup(_))));
        // Sixteen digits are hex too: a backup code, not a TOTP code.
        assert!(matches!(SecondFactor::parse("0123456789012345"), Ok(SecondFactor::Backup(_))));
        assert_eq!(SecondFactor::parse("12345").unwrap_err(), CodeFormatError::Malformed);
        assert_eq!(SecondFactor::parse("not a code").unwrap_err(), CodeFormatError::Malformed);
    }

    #[test]
    fn a_generated_backup_code_is_sixteen_lowercase_hex() {
        let code = BackupCode::from_random_bytes([0xAB, 0, 1, 0xFF, 0x10, 0x20, 0x30, 0x4c]);
        assert_eq!(code.expose(), "ab0001ff1020304c");
        assert!(BackupCode::parse(code.expose()).is_ok());
    }

    #[test]
    fn codes_are_never_printed() {
        let totp = format!("{:?}", SecondFactor::parse("123456").unwrap());
        let backup = format!("{:?}", SecondFactor::parse("abcdef0123456789").unwrap());
        assert!(!totp.contains("123456"), "{totp}");
        assert!(!backup.contains("abcdef"), "{backup}");
    }

    #[test]
    fn a_step_at_or_before_the_last_accepted_one_is_a_replay() {
        let last = Some(TotpStep::new(100));
        assert!(TotpStep::new(100).is_replay_after(last));
        assert!(TotpStep::new(99).is_replay_after(last));
        assert!(!TotpStep::new(101).is_replay_after(last));
        assert!(!TotpStep::new(0).is_replay_after(None));
    }
}

/// A TOTP shared secret in Base32 (RFC 4648, no padding). Only ever shown to its owner once,
/// at enrollment; stored encrypted. `Debug` never prints it.
#[derive(Clone)]
pub struct TotpSecret(SecretString);

impl TotpSecret {
    /// Wraps a Base32 secret (from the generator, or decrypted from storage).
    #[must_use]
    pub fn from_base32(b32: impl Into<String>) -> Self {
        Self(SecretString::from(b32.into()))
    }

    /// The Base32 text.
    #[must_use]
    pub fn expose_base32(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}
