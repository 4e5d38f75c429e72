//! The one rule for names people give things — their display name, a passkey, an API token —
//! since each is shown in lists, e-mail notices and log lines: trimmed, not empty, not too
//! long, and none of the characters that would forge or disguise what is shown around it.
//!
//! - control characters (Unicode `Cc`: a line break forges a log line or an e-mail header's
//!   continuation);
//! - the text-direction controls of Unicode's bidirectional algorithm (U+061C, U+200E,
//!   U+200F, U+202A–U+202E, U+2066–U+2069): a name "Laptop\u{202E}txt.exe" is shown
//!   reversed, so an e-mail saying "passkey … added" could be made to read as something
//!   else (the "Trojan Source" characters, CVE-2021-42574).

/// Which rule a name breaks (the first, in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelFault {
    /// Nothing left once surrounding whitespace is trimmed.
    Empty,
    /// Longer than allowed once trimmed.
    TooLong,
    /// A control character.
    ControlCharacter,
    /// A text-direction control.
    DirectionControl,
}

/// Whether `c` is one of Unicode's explicit text-direction controls.
#[must_use]
pub const fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `raw` trimmed, if it is a name of 1 to `max_chars` characters with no control or
/// text-direction character.
///
/// # Errors
/// The first [`LabelFault`] it has.
pub fn label(raw: &str, max_chars: usize) -> Result<&str, LabelFault> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(LabelFault::Empty);
    }
    if name.chars().count() > max_chars {
        return Err(LabelFault::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(LabelFault::ControlCharacter);
    }
    if name.chars().any(is_direction_control) {
        return Err(LabelFault::DirectionControl);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_kept_as_typed_inside() {
        assert_eq!(label("  Work laptop (Touch ID) ", 64), Ok("Work laptop (Touch ID)"));
        assert_eq!(label("Zoë Ångström 李", 64), Ok("Zoë Ångström 李"));
        // Right-to-left scripts need no control character: they stay welcome.
        assert_eq!(label("مفتاح العمل", 64), Ok("مفتاح العمل"));
    }

    #[test]
    fn each_fault_is_named_in_order() {
        assert_eq!(label(" \t ", 10), Err(LabelFault::Empty));
        assert_eq!(label("abcdefghijk", 10), Err(LabelFault::TooLong));
        assert_eq!(label("a\nb", 10), Err(LabelFault::ControlCharacter));
        assert_eq!(label("a\u{85}b", 10), Err(LabelFault::ControlCharacter));
    }

    #[test]
    fn every_direction_control_is_refused_and_nothing_near_them() {
        let controls =
            ['\u{061C}', '\u{200E}', '\u{200F}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}']
                .into_iter()
                .chain('\u{202A}'..='\u{202E}');
        for c in controls {
            let name = format!("Laptop{c}txt.exe");
            assert_eq!(label(&name, 64), Err(LabelFault::DirectionControl), "U+{:04X}", c as u32);
        }
        // Their neighbours are ordinary (zero-width space and joiner, narrow no-break space).
        for c in ['\u{200B}', '\u{200D}', '\u{2029}', '\u{202F}', '\u{2065}', '\u{206A}'] {
            assert!(!is_direction_control(c), "U+{:04X}", c as u32);
        }
    }
}
