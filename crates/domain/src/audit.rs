//! What the audit log records: events, outcomes, and the kind of proof used — never the
//! proof itself.

use std::fmt;

/// The kind of second factor presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProofKind {
    /// A TOTP code.
    Totp,
    /// A backup code.
    BackupCode,
    /// A passkey assertion (WebAuthn, user verified).
    Passkey,
}

impl ProofKind {
    /// Stable name, as stored and shown.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::BackupCode => "backup_code",
            Self::Passkey => "passkey",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "totp" => Some(Self::Totp),
            "backup_code" => Some(Self::BackupCode),
            "passkey" => Some(Self::Passkey),
            _ => None,
        }
    }
}

macro_rules! audit_events {
    ($($variant:ident => $name:literal,)*) => {
        /// Every event the audit log knows.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum AuditEventKind {
            $(#[doc = $name] $variant,)*
        }

        impl AuditEventKind {
            /// Every event, for documentation and filters.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// Stable name, as stored and filtered on.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Parses a stored or requested name.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

audit_events! {
    SetupCompleted => "setup_completed",
    LoginSuccess => "login_success",
    LoginFail => "login_fail",
    Logout => "logout",
    MfaVerifySuccess => "mfa_verify_success",
    MfaVerifyFail => "mfa_verify_fail",
    MfaEnrollBegin => "mfa_enroll_begin",
    MfaEnrollConfirmSuccess => "mfa_enroll_confirm_success",
    MfaEnrollConfirmFail => "mfa_enroll_confirm_fail",
    MfaEnrollCancel => "mfa_enroll_cancel",
    MfaDisableSuccess => "mfa_disable_success",
    MfaDisableFail => "mfa_disable_fail",
    MfaBackupRegenerateSuccess => "mfa_backup_regenerate_success",
    MfaBackupRegenerateFail => "mfa_backup_regenerate_fail",
    MfaResetByAdmin => "mfa_reset_by_admin",
    MfaResetByAdminFail => "mfa_reset_by_admin_fail",
    ApiTokenCreated => "api_token_created",
    ApiTokenRevoked => "api_token_revoked",
    UserCreated => "user_created",
    UserDeleted => "user_deleted",
    OidcLoginSuccess => "oidc_login_success",
    OidcLoginFail => "oidc_login_fail",
    OidcLinked => "oidc_linked",
    OidcUserCreated => "oidc_user_created",
    PasswordChanged => "password_changed",
    PasswordChangeFail => "password_change_fail",
    SessionRevoked => "session_revoked",
    SessionsRevokedOthers => "sessions_revoked_others",
    NoticeDeliveryFailed => "notice_delivery_failed",
    PasskeyAdded => "passkey_added",
    PasskeyAddFail => "passkey_add_fail",
    PasskeyRenamed => "passkey_renamed",
    PasskeyRemoved => "passkey_removed",
    PasskeyRemoveFail => "passkey_remove_fail",
    PasskeyCounterRegressed => "passkey_counter_regressed",
    AccountImported => "account_imported",
    PasswordHashUpgraded => "password_hash_upgraded",
}

impl fmt::Display for AuditEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an audited operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    /// It did what was asked.
    Success,
    /// It was refused, with the contract's reason code (`INVALID_CODE`, …).
    Failure(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip() {
        for kind in AuditEventKind::ALL {
            assert_eq!(AuditEventKind::from_name(kind.as_str()), Some(*kind));
        }
        assert_eq!(AuditEventKind::from_name("nope"), None);
        assert_eq!(AuditEventKind::MfaDisableSuccess.as_str(), "mfa_disable_success");
        assert_eq!(AuditEventKind::MfaDisableFail.as_str(), "mfa_disable_fail");
    }

    #[test]
    fn proof_kinds_round_trip() {
        for kind in [ProofKind::Totp, ProofKind::BackupCode] {
            assert_eq!(ProofKind::from_name(kind.as_str()), Some(kind));
        }
    }
}
