//! MFA state and the rules of the operations that need the second factor.
//!
//! The checks of `POST /api/auth/mfa/disable` (rows 5–8 of the table in `docs/api.md` §
//! POST /api/auth/mfa/disable) are decided here, in order, first failure wins:
//!
//! - 5. MFA not enabled → [`DisableDenied::MfaNotEnabled`]
//! - 5b. a policy requires MFA for this user → [`DisableDenied::RequiredByPolicy`]
//! - 6. local user without a password → [`DisableDenied::PasswordRequired`]
//! - 7. local user with a wrong password → [`DisableDenied::InvalidPassword`]
//! - 8. code neither a fresh TOTP nor an unused backup code → [`DisableDenied::InvalidCode`]
//!
//! Rows 5–6 need nothing but the user, so [`second_factor_gate`] decides them at once. Rows
//! 7 and 8 need a hasher and the stored codes; the gate says exactly what is left to check,
//! in which order, and the application runs those checks through its ports.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::{MfaPolicy, Password, PasswordHash, TotpStep, User};

/// A TOTP secret encrypted by the secret cipher (key id, nonce and ciphertext in one
/// string). Opaque here; `Debug` prints its length only.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedSecret(String);

impl EncryptedSecret {
    /// Wraps the cipher's output or a stored value.
    #[must_use]
    pub fn new(sealed: impl Into<String>) -> Self {
        Self(sealed.into())
    }

    /// The stored form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EncryptedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedSecret({} bytes)", self.0.len())
    }
}

/// Where a user stands with MFA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MfaState {
    /// No second factor.
    Disabled,
    /// Enrollment begun: a secret exists but no code from it has been confirmed yet, so it
    /// protects nothing.
    Pending {
        /// The not-yet-confirmed secret.
        secret: EncryptedSecret,
    },
    /// MFA is on: the account has at least one second factor, TOTP or a passkey, and
    /// backup codes.
    Enabled {
        /// The confirmed TOTP secret; `None` when MFA is on with passkeys alone.
        secret: Option<EncryptedSecret>,
        /// When MFA was turned on (TOTP confirmed, or the first passkey registered).
        enrolled_at: DateTime<Utc>,
        /// The newest TOTP step accepted (replay protection).
        last_totp_step: Option<TotpStep>,
        /// A TOTP enrollment begun while MFA is on with passkeys alone, not yet
        /// confirmed (it protects nothing until then).
        pending: Option<EncryptedSecret>,
    },
}

impl MfaState {
    /// Whether MFA protects the account.
    #[must_use]
    pub const fn is_enabled(&self) -> bool {
        matches!(self, Self::Enabled { .. })
    }

    /// Whether the account has a confirmed TOTP secret.
    #[must_use]
    pub const fn has_totp(&self) -> bool {
        matches!(self, Self::Enabled { secret: Some(_), .. })
    }

    /// The TOTP enrollment in progress, if any (MFA off, or on with passkeys alone).
    #[must_use]
    pub const fn pending_secret(&self) -> Option<&EncryptedSecret> {
        match self {
            Self::Pending { secret } | Self::Enabled { pending: Some(secret), .. } => Some(secret),
            Self::Disabled | Self::Enabled { pending: None, .. } => None,
        }
    }
}

/// The operations that need proof of both factors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MfaOperation {
    /// `POST /api/auth/mfa/disable`.
    Disable,
    /// `POST /api/auth/mfa/backup/regenerate`: same checks, but no policy stops it.
    RegenerateBackupCodes,
    /// `POST /api/auth/passkeys/{id}/remove`: same checks as disable, but no policy stops
    /// it (removing the last factor is refused before the checks: MFA off is the disable
    /// route's job).
    RemovePasskey,
}

/// Why an operation that needs both factors is refused, in the order they are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DisableDenied {
    /// Row 5.
    #[error("MFA is not enabled for this account")]
    MfaNotEnabled,
    /// Row 5b.
    #[error("MFA is required for this account by policy")]
    RequiredByPolicy,
    /// Row 6.
    #[error("Password is required")]
    PasswordRequired,
    /// Row 7.
    #[error("Password is incorrect")]
    InvalidPassword,
    /// Row 8.
    #[error("TOTP or unused backup code is invalid")]
    InvalidCode,
    /// Row 8, when the proof of possession is a passkey: the assertion is unknown to the
    /// account, answers no live challenge of it, fails verification, or carries a counter
    /// that did not move forward.
    #[error("The passkey could not be verified")]
    InvalidPasskey,
}

impl DisableDenied {
    /// The contract's stable reason code.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::MfaNotEnabled => "MFA_NOT_ENABLED",
            Self::RequiredByPolicy => "MFA_REQUIRED_BY_POLICY",
            Self::PasswordRequired => "PASSWORD_REQUIRED",
            Self::InvalidPassword => "INVALID_PASSWORD",
            Self::InvalidCode => "INVALID_CODE",
            Self::InvalidPasskey => "INVALID_PASSKEY",
        }
    }

    /// Whether this failure counts towards the account's attempt limit (rows 6–8: someone
    /// guessing, not a client that asked for the wrong thing).
    #[must_use]
    pub const fn counts_as_attempt(self) -> bool {
        matches!(
            self,
            Self::PasswordRequired
                | Self::InvalidPassword
                | Self::InvalidCode
                | Self::InvalidPasskey
        )
    }
}

/// What remains to be checked once rows 5–6 have passed.
#[derive(Debug)]
pub struct SecondFactorGate<'a> {
    /// Row 7: the password to verify against the stored hash; `None` for OIDC-only users,
    /// whose presented password (if any) is ignored.
    pub password_check: Option<(&'a PasswordHash, &'a Password)>,
    /// Row 8: the secret a TOTP code must match; `None` when MFA is on with passkeys
    /// alone (then only a backup code or a passkey proves possession).
    pub secret: Option<&'a EncryptedSecret>,
    /// Row 8: the newest accepted step; a code for this step or earlier is a replay.
    pub last_totp_step: Option<TotpStep>,
}

/// Rows 5–6 of the table: decides at once what needs only the user, and hands back what is
/// left to verify.
///
/// # Errors
/// The first failing row among 5, 5b (for [`MfaOperation::Disable`] only) and 6.
pub fn second_factor_gate<'a>(
    user: &'a User,
    operation: MfaOperation,
    policy: MfaPolicy,
    password: Option<&'a Password>,
) -> Result<SecondFactorGate<'a>, DisableDenied> {
    let MfaState::Enabled { secret, last_totp_step, .. } = &user.mfa else {
        return Err(DisableDenied::MfaNotEnabled);
    };
    if operation == MfaOperation::Disable && policy.requires_mfa(user) {
        return Err(DisableDenied::RequiredByPolicy);
    }
    let password_check = match &user.login {
        crate::LoginMethod::Local(hash) => match password {
            Some(password) if !password.is_empty() => Some((hash, password)),
            _ => return Err(DisableDenied::PasswordRequired),
        },
        crate::LoginMethod::OidcOnly => None,
    };
    Ok(SecondFactorGate {
        password_check,
        secret: secret.as_ref(),
        last_totp_step: *last_totp_step,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DisplayName, Email, LoginMethod, MfaScope, UserId};

    fn user(login: LoginMethod, is_admin: bool, mfa: MfaState) -> User {
        User {
            id: UserId::generate(),
            email: Email::parse("u@example.com").unwrap(),
            name: DisplayName::parse("U").unwrap(),
            login,
            oidc_provider: None,
            is_admin,
            mfa,
            created_at: Utc::now(),
            mfa_grace_started_at: None,
        }
    }

    fn enabled() -> MfaState {
        MfaState::Enabled {
            secret: Some(EncryptedSecret::new("k1:sealed")),
            enrolled_at: Utc::now(),
            last_totp_step: Some(TotpStep::new(7)),
            pending: None,
        }
    }

    fn local() -> LoginMethod {
        LoginMethod::Local(PasswordHash::from_phc("$argon2id$..."))
    }

    const POLICY: MfaPolicy = MfaPolicy { scope: MfaScope::Admins, grace_days: 14 };

    #[test]
    fn mfa_off_is_reported_before_anything_else() {
        // An admin under the policy, with no password: MFA_NOT_ENABLED still comes first.
        for mfa in [MfaState::Disabled, MfaState::Pending { secret: EncryptedSecret::new("x") }] {
            let u = user(local(), true, mfa);
            let denied = second_factor_gate(&u, MfaOperation::Disable, POLICY, None).unwrap_err();
            assert_eq!(denied, DisableDenied::MfaNotEnabled);
        }
    }

    #[test]
    fn the_admin_policy_comes_before_the_password() {
        let u = user(local(), true, enabled());
        let denied = second_factor_gate(&u, MfaOperation::Disable, POLICY, None).unwrap_err();
        assert_eq!(denied, DisableDenied::RequiredByPolicy);
    }

    #[test]
    fn the_policy_only_binds_admins_and_only_when_configured() {
        let pw = Password::new("pw");
        let non_admin = user(local(), false, enabled());
        assert!(second_factor_gate(&non_admin, MfaOperation::Disable, POLICY, Some(&pw)).is_ok());
        let admin = user(local(), true, enabled());
        assert!(
            second_factor_gate(&admin, MfaOperation::Disable, MfaPolicy::default(), Some(&pw))
                .is_ok()
        );
    }

    #[test]
    fn under_all_every_user_is_bound_and_regenerating_backup_codes_stays_allowed() {
        let all = MfaPolicy { scope: MfaScope::All, grace_days: 0 };
        let pw = Password::new("pw");
        for is_admin in [false, true] {
            let u = user(local(), is_admin, enabled());
            let denied = second_factor_gate(&u, MfaOperation::Disable, all, Some(&pw)).unwrap_err();
            assert_eq!(denied, DisableDenied::RequiredByPolicy);
            for op in [MfaOperation::RegenerateBackupCodes, MfaOperation::RemovePasskey] {
                assert!(second_factor_gate(&u, op, all, Some(&pw)).is_ok());
            }
        }
    }

    #[test]
    fn the_policy_does_not_stop_regenerating_backup_codes() {
        let pw = Password::new("pw");
        let admin = user(local(), true, enabled());
        let gate =
            second_factor_gate(&admin, MfaOperation::RegenerateBackupCodes, POLICY, Some(&pw));
        assert!(gate.is_ok());
    }

    #[test]
    fn a_local_user_must_send_a_non_empty_password() {
        let u = user(local(), false, enabled());
        let empty = Password::new("");
        for pw in [None, Some(&empty)] {
            let denied = second_factor_gate(&u, MfaOperation::Disable, POLICY, pw).unwrap_err();
            assert_eq!(denied, DisableDenied::PasswordRequired);
        }
    }

    #[test]
    fn a_local_user_gets_a_password_check_then_a_code_check() {
        let u = user(local(), false, enabled());
        let pw = Password::new("correct horse");
        let gate = second_factor_gate(&u, MfaOperation::Disable, POLICY, Some(&pw)).unwrap();
        let (hash, presented) = gate.password_check.unwrap();
        assert_eq!(hash.as_str(), "$argon2id$...");
        assert_eq!(presented.expose(), "correct horse");
        assert_eq!(gate.secret.map(EncryptedSecret::as_str), Some("k1:sealed"));
        assert_eq!(gate.last_totp_step, Some(TotpStep::new(7)));
    }

    #[test]
    fn an_oidc_only_user_needs_no_password_and_any_sent_is_ignored() {
        let u = user(LoginMethod::OidcOnly, false, enabled());
        let bogus = Password::new("bogus");
        for pw in [None, Some(&bogus)] {
            let gate = second_factor_gate(&u, MfaOperation::Disable, POLICY, pw).unwrap();
            assert!(gate.password_check.is_none());
        }
    }

    #[test]
    fn mfa_on_with_passkeys_alone_is_on_and_its_gate_names_no_totp_secret() {
        let passkeys_only = MfaState::Enabled {
            secret: None,
            enrolled_at: Utc::now(),
            last_totp_step: None,
            pending: Some(EncryptedSecret::new("k1:pending")),
        };
        assert!(passkeys_only.is_enabled());
        assert!(!passkeys_only.has_totp());
        assert_eq!(passkeys_only.pending_secret().map(EncryptedSecret::as_str), Some("k1:pending"));
        let u = user(local(), false, passkeys_only);
        let pw = Password::new("pw");
        let gate = second_factor_gate(&u, MfaOperation::Disable, POLICY, Some(&pw)).unwrap();
        assert!(gate.secret.is_none());
        assert!(enabled().has_totp());
        assert!(enabled().pending_secret().is_none());
    }

    #[test]
    fn reasons_are_the_contract_codes_and_only_guesses_count() {
        use DisableDenied::*;
        let all = [
            MfaNotEnabled,
            RequiredByPolicy,
            PasswordRequired,
            InvalidPassword,
            InvalidCode,
            InvalidPasskey,
        ];
        let reasons: Vec<_> = all.iter().map(|d| d.reason()).collect();
        assert_eq!(
            reasons,
            [
                "MFA_NOT_ENABLED",
                "MFA_REQUIRED_BY_POLICY",
                "PASSWORD_REQUIRED",
                "INVALID_PASSWORD",
                "INVALID_CODE",
                "INVALID_PASSKEY"
            ]
        );
        let counted: Vec<_> = all.iter().filter(|d| d.counts_as_attempt()).collect();
        assert_eq!(counted, [&PasswordRequired, &InvalidPassword, &InvalidCode, &InvalidPasskey]);
    }

    #[test]
    fn an_encrypted_secret_prints_only_its_length() {
        assert_eq!(format!("{:?}", EncryptedSecret::new("abcd")), "EncryptedSecret(4 bytes)");
    }
}
