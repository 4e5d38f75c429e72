//! User accounts.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::label::{LabelFault, label};
use crate::{Email, MfaState, PasswordHash, UserId};

/// Longest display name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Why a display name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    /// Nothing left after trimming.
    #[error("Name is required")]
    Empty,
    /// Over [`MAX_NAME_CHARS`] characters.
    #[error("Name must be at most 100 characters")]
    TooLong,
    /// Contains control characters (line breaks would forge log and audit lines).
    #[error("Name must not contain control characters")]
    ControlCharacters,
    /// Contains a text-direction control (it would disguise what is shown around the name).
    #[error("Name must not contain text-direction control characters")]
    DirectionControls,
}

impl From<LabelFault> for DisplayNameError {
    fn from(fault: LabelFault) -> Self {
        match fault {
            LabelFault::Empty => Self::Empty,
            LabelFault::TooLong => Self::TooLong,
            LabelFault::ControlCharacter => Self::ControlCharacters,
            LabelFault::DirectionControl => Self::DirectionControls,
        }
    }
}

/// A person's display name: trimmed, non-empty, printable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses a name as given (typed, or sent by an identity provider): the label rule of
    /// [`crate::label`].
    ///
    /// # Errors
    /// [`DisplayNameError`] naming the first rule it breaks.
    pub fn parse(raw: &str) -> Result<Self, DisplayNameError> {
        Ok(Self(label(raw, MAX_NAME_CHARS)?.to_owned()))
    }

    /// Reads a stored name. Names stored before text-direction controls were refused keep
    /// working (the account must still sign in); every other rule still holds.
    ///
    /// # Errors
    /// [`DisplayNameError`] for a stored value no version ever accepted.
    pub fn from_stored(raw: &str) -> Result<Self, DisplayNameError> {
        match label(raw, MAX_NAME_CHARS) {
            Ok(name) => Ok(Self(name.to_owned())),
            Err(LabelFault::DirectionControl) => Ok(Self(raw.trim().to_owned())),
            Err(fault) => Err(fault.into()),
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an account proves knowledge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginMethod {
    /// The account has a local password (it may also be linked to an OIDC identity).
    Local(PasswordHash),
    /// The account signs in only through an OIDC provider: it has no password to check.
    OidcOnly,
}

impl LoginMethod {
    /// Whether a local password exists.
    #[must_use]
    pub const fn has_password(&self) -> bool {
        matches!(self, Self::Local(_))
    }
}

/// A user account with its MFA state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Normalised e-mail, unique.
    pub email: Email,
    /// Display name.
    pub name: DisplayName,
    /// Local password or OIDC-only.
    pub login: LoginMethod,
    /// The OIDC provider the account is linked to, if any.
    pub oidc_provider: Option<String>,
    /// Administrators manage other accounts.
    pub is_admin: bool,
    /// Second factor state.
    pub mfa: MfaState,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the user's grace period under an MFA policy started (their first sign-in while
    /// a policy required MFA of them and they had none); `None`: not started. Never moved
    /// once set ([`crate::mfa_policy`]).
    pub mfa_grace_started_at: Option<DateTime<Utc>>,
}

impl User {
    /// How the account signs in, as the admin list and the CLI show it: `password`, `oidc`
    /// (OIDC-only: no password) or `password+oidc` (a local account linked to a provider).
    #[must_use]
    pub const fn login_method(&self) -> &'static str {
        match (&self.login, &self.oidc_provider) {
            (LoginMethod::OidcOnly, _) => "oidc",
            (LoginMethod::Local(_), None) => "password",
            (LoginMethod::Local(_), Some(_)) => "password+oidc",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(DisplayName::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
    }

    #[test]
    fn empty_long_and_control_names_are_refused() {
        assert_eq!(DisplayName::parse(" ").unwrap_err(), DisplayNameError::Empty);
        assert_eq!(DisplayName::parse(&"x".repeat(101)).unwrap_err(), DisplayNameError::TooLong);
        assert!(DisplayName::parse(&"x".repeat(100)).is_ok());
        assert_eq!(
            DisplayName::parse("Eve\nINFO forged line").unwrap_err(),
            DisplayNameError::ControlCharacters
        );
    }

    #[test]
    fn the_login_method_names_password_oidc_or_both() {
        let mut user = User {
            id: UserId::generate(),
            email: Email::parse("a@example.com").unwrap(),
            name: DisplayName::parse("A").unwrap(),
            login: LoginMethod::Local(PasswordHash::from_phc("$x")),
            oidc_provider: None,
            is_admin: false,
            mfa: MfaState::Disabled,
            created_at: chrono::Utc::now(),
            mfa_grace_started_at: None,
        };
        assert_eq!(user.login_method(), "password");
        user.oidc_provider = Some("corp".to_owned());
        assert_eq!(user.login_method(), "password+oidc");
        user.login = LoginMethod::OidcOnly;
        assert_eq!(user.login_method(), "oidc");
    }

    #[test]
    fn only_local_accounts_have_a_password() {
        assert!(LoginMethod::Local(PasswordHash::from_phc("$x")).has_password());
        assert!(!LoginMethod::OidcOnly.has_password());
    }

    #[test]
    fn a_new_name_may_not_hold_a_direction_control_but_a_stored_one_still_reads() {
        let disguised = "Ann\u{202E}nimda";
        assert_eq!(DisplayName::parse(disguised).unwrap_err(), DisplayNameError::DirectionControls);
        assert_eq!(DisplayName::from_stored(disguised).unwrap().as_str(), disguised);
        assert_eq!(
            DisplayName::from_stored("a\nb").unwrap_err(),
            DisplayNameError::ControlCharacters
        );
        assert_eq!(DisplayName::from_stored(" ").unwrap_err(), DisplayNameError::Empty);
    }
}
