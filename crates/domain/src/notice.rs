//! Security notices: what the account's owner is told by e-mail, and when.

use std::fmt;

macro_rules! notice_kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// Every notice the service sends to an account's address.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum NoticeKind {
            $(#[doc = $name] $variant,)*
        }

        impl NoticeKind {
            /// Every kind, for documentation, templates and tests.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// Stable name, as stored and shown.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Parses a stored name.
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

notice_kinds! {
    MfaEnabled => "mfa_enabled",
    MfaDisabled => "mfa_disabled",
    MfaResetByAdmin => "mfa_reset_by_admin",
    BackupCodesRegenerated => "backup_codes_regenerated",
    BackupCodeUsed => "backup_code_used",
    PasswordChanged => "password_changed",
    ApiTokenCreated => "api_token_created",
    SecondFactorLockout => "second_factor_lockout",
    OidcLinked => "oidc_linked",
    PasskeyAdded => "passkey_added",
    PasskeyRemoved => "passkey_removed",
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a notice is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoticeStatus {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// The mail server accepted it.
    Sent,
    /// Given up after the configured number of attempts.
    Failed,
}

impl NoticeStatus {
    /// Stable name, as stored and filtered on.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored or requested name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Seconds to wait before delivery attempt `attempts + 1`, after `attempts` failed ones:
/// `base`, doubled per failure, at most `cap` (exponential backoff).
#[must_use]
pub fn retry_delay_secs(attempts: u32, base_secs: u32, cap_secs: u32) -> u32 {
    let doublings = attempts.saturating_sub(1).min(31);
    base_secs.saturating_mul(1_u32 << doublings).min(cap_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_names_round_trip() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::from_name(kind.as_str()), Some(*kind));
        }
        assert_eq!(NoticeKind::from_name("nope"), None);
        for status in [NoticeStatus::Pending, NoticeStatus::Sent, NoticeStatus::Failed] {
            assert_eq!(NoticeStatus::from_name(status.as_str()), Some(status));
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        assert_eq!(retry_delay_secs(1, 30, 3600), 30);
        assert_eq!(retry_delay_secs(2, 30, 3600), 60);
        assert_eq!(retry_delay_secs(3, 30, 3600), 120);
        assert_eq!(retry_delay_secs(8, 30, 3600), 3600);
        assert_eq!(retry_delay_secs(200, 30, 3600), 3600);
    }
}
