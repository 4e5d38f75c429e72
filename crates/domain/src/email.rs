//! E-mail addresses as account names.

use std::fmt;

use serde::Serialize;

/// Longest address accepted, in UTF-8 bytes of the normalised (trimmed, lower-cased) form
/// (RFC 5321 forward-path limit). Checked after lower-casing: some letters grow when
/// lower-cased (`Ⱥ` → `ⱥ`, 2 → 3 bytes; `İ` → `i̇`, 2 → 3), so a limit checked before it
/// let addresses through that the stored-row check then refused.
pub const MAX_EMAIL_LENGTH: usize = 254;

/// Why a string is not an e-mail address we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing left after trimming.
    #[error("email is required")]
    Empty,
    /// Longer than [`MAX_EMAIL_LENGTH`].
    #[error("email is too long")]
    TooLong,
    /// Not `local@domain.tld`, or contains whitespace / control characters.
    #[error("Invalid email format")]
    Invalid,
}

/// A trimmed, lower-cased, plausibly deliverable e-mail address.
///
/// Lower-casing the whole address makes `Alice@Example.com` and `alice@example.com` one
/// account, which is what users expect of a login name.
///
/// Normalisation is `str::trim` then `str::to_lowercase`, nothing more, and every rule
/// (length, shape) is checked on its result, so that whatever `parse` returns, `parse`
/// accepts again unchanged (`parse(parse(x)) == parse(x)`; stored rows are read back through
/// `parse`). Unicode NFC is deliberately not applied: addresses stored so far were not
/// NFC-normalised, so applying it now would make some of them unreachable by their own
/// spelling; `é` typed precomposed and decomposed therefore stay two addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses and normalises an address.
    ///
    /// # Errors
    /// [`EmailError`] when the value is empty, too long or malformed.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        // A cheap bound before the allocation: lower-casing shrinks an address at most
        // threefold (the Kelvin sign, 3 bytes, becomes `k`), so past 3 × the limit no
        // lower-cased form can fit.
        if trimmed.len() > MAX_EMAIL_LENGTH * 3 {
            return Err(EmailError::TooLong);
        }
        let normalised = trimmed.to_lowercase();
        if normalised.len() > MAX_EMAIL_LENGTH {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = normalised.split_once('@').ok_or(EmailError::Invalid)?;
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || c == '@';
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok || normalised.chars().filter(|&c| c == '@').count() != 1 {
            return Err(EmailError::Invalid);
        }
        if local.chars().any(bad_char) || domain.chars().any(bad_char) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(normalised))
    }

    /// The normalised address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for raw in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "alice@@example.com",
            "alice@exa mple.com",
            "alice@.example.com",
            "alice@example..com",
            "alice@example.com.",
            "a@b@example.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn an_empty_address_says_it_is_required() {
        assert_eq!(Email::parse("  "), Err(EmailError::Empty));
    }

    /// `"a@" + "Ⱥ"×100 + ".io"`: 205 bytes as typed, 305 lower-cased (issue 22, item 3).
    #[test]
    fn the_length_limit_applies_to_the_lower_cased_address() {
        let raw = format!("a@{}.io", "\u{23a}".repeat(100));
        assert_eq!(raw.len(), 205);
        assert_eq!(Email::parse(&raw), Err(EmailError::TooLong));
        // İ (U+0130, 2 bytes) lower-cases to i + U+0307 (3 bytes).
        let raw = format!("{}@example.com", "\u{130}".repeat(84));
        assert!(raw.len() <= MAX_EMAIL_LENGTH);
        assert_eq!(Email::parse(&raw), Err(EmailError::TooLong));
        // Exactly at the limit once lower-cased is still accepted.
        let at_limit = format!("{}@example.io", "\u{23a}".repeat(80));
        let local = MAX_EMAIL_LENGTH - "@example.io".len() - 240;
        let raw = format!("{}{at_limit}", "a".repeat(local));
        assert_eq!(Email::parse(&raw).unwrap().as_str().len(), MAX_EMAIL_LENGTH);
    }

    /// Tricky case mappings: growing (`İ`, `Ⱥ`), shrinking (`ẞ`, Kelvin sign), context
    /// dependent (final sigma), fullwidth letters, combining marks, padding.
    const TRICKY: &[&str] = &[
        "\u{130}",
        "\u{23a}",
        "\u{23e}",
        "\u{1e9e}",
        "\u{3a3}",
        "\u{3a3}\u{3a3}",
        "\u{212a}",
        "\u{2126}",
        "\u{ff21}",
        "\u{ff41}",
        "e\u{301}",
        "\u{e9}",
        "I",
        "\u{131}",
        "\u{df}",
        "\u{1f88}",
        "\u{10400}",
        "A",
        "z",
    ];

    #[test]
    fn parsing_is_idempotent_over_tricky_case_mappings() {
        let mut checked = 0;
        for a in TRICKY {
            for b in TRICKY {
                for n in [1usize, 2, 40, 83, 84, 85, 120, 127, 200] {
                    let local = format!("{}{}", a.repeat(n), b);
                    for raw in [
                        format!("{local}@example.com"),
                        format!(" x{local}@{b}{a}.{a}{b} "),
                        format!("{a}@{}.io", b.repeat(n)),
                        format!(
                            "{}{local}@x.io",
                            "a".repeat(254usize.saturating_sub(local.len() + 5))
                        ),
                    ] {
                        if let Ok(once) = Email::parse(&raw) {
                            assert!(once.as_str().len() <= MAX_EMAIL_LENGTH, "{raw:?}");
                            let twice = Email::parse(once.as_str());
                            assert_eq!(twice.as_ref(), Ok(&once), "{raw:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 1000, "only {checked} addresses were accepted");
    }

    /// Lower-casing is a fixpoint for every single character (what idempotence rests on).
    #[test]
    fn lower_casing_any_character_twice_changes_nothing() {
        for c in (0..=0x10_ffff_u32).filter_map(char::from_u32) {
            let once: String = c.to_lowercase().collect();
            assert_eq!(once.to_lowercase(), once, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn an_overlong_address_is_rejected() {
        let raw = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&raw), Err(EmailError::TooLong));
    }
}
