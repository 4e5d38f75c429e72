//! Passkeys: the name a person gives one of theirs.

use std::fmt;

use crate::label::{LabelFault, label};

/// Longest passkey name, in characters: enough for "Work laptop (Touch ID)" and the like,
/// short enough for a list row and an e-mail subject line.
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;

/// Why a passkey name is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyNameError {
    /// Nothing left once surrounding whitespace is trimmed.
    #[error("name must not be empty")]
    Empty,
    /// Longer than [`MAX_PASSKEY_NAME_CHARS`] once trimmed.
    #[error("name must be at most 64 characters")]
    TooLong,
    /// A control character (a line break, a tab, …): the name is shown in lists and
    /// e-mails, where one would break the layout or forge a line.
    #[error("name must not contain control characters")]
    ControlCharacter,
    /// A text-direction control (U+202E and the like): it would disguise the name, and what
    /// is shown around it, in lists and e-mails.
    #[error("name must not contain text-direction control characters")]
    DirectionControl,
}

/// A passkey's name: trimmed, 1 to [`MAX_PASSKEY_NAME_CHARS`] characters, no control
/// character.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PasskeyName(String);

impl PasskeyName {
    /// The name given when none is: "Passkey".
    pub const DEFAULT: &'static str = "Passkey";

    /// Parses a name as typed.
    ///
    /// # Errors
    /// [`PasskeyNameError`] naming the first rule it breaks.
    pub fn parse(raw: &str) -> Result<Self, PasskeyNameError> {
        let name = label(raw, MAX_PASSKEY_NAME_CHARS).map_err(|fault| match fault {
            LabelFault::Empty => PasskeyNameError::Empty,
            LabelFault::TooLong => PasskeyNameError::TooLong,
            LabelFault::ControlCharacter => PasskeyNameError::ControlCharacter,
            LabelFault::DirectionControl => PasskeyNameError::DirectionControl,
        })?;
        Ok(Self(name.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasskeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PasskeyName").field(&self.0).finish()
    }
}

impl fmt::Display for PasskeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PasskeyName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed() {
        assert_eq!(PasskeyName::parse("  Work laptop ").unwrap().as_str(), "Work laptop");
    }

    #[test]
    fn an_empty_or_blank_name_is_refused() {
        assert_eq!(PasskeyName::parse(""), Err(PasskeyNameError::Empty));
        assert_eq!(PasskeyName::parse(" \u{3000} "), Err(PasskeyNameError::Empty));
    }

    #[test]
    fn sixty_four_characters_pass_and_sixty_five_do_not() {
        assert!(PasskeyName::parse(&"é".repeat(64)).is_ok());
        assert_eq!(PasskeyName::parse(&"é".repeat(65)), Err(PasskeyNameError::TooLong));
    }

    #[test]
    fn control_characters_are_refused_anywhere_inside() {
        for bad in ["a\nb", "a\tb", "a\u{7f}", "a\u{85}b", "x\u{0}"] {
            assert_eq!(PasskeyName::parse(bad), Err(PasskeyNameError::ControlCharacter), "{bad:?}");
        }
    }
}
