//! Pure types and rules of SlugBase Auth.
//!
//! Every constrained value is a newtype with a fallible constructor, so an invalid value
//! cannot exist past the edge of the system. The rules that decide MFA operations —
//! above all which checks *disable MFA* runs and in which order — live here, free of
//! I/O, async and frameworks, so that they can be read and tested on their own.

pub mod audit;
pub mod codes;
pub mod email;
pub mod ids;
pub mod label;
pub mod mfa;
pub mod mfa_policy;
pub mod notice;
pub mod passkey;
pub mod password;
pub mod return_to;
pub mod throttle;
pub mod user;

pub use audit::{AuditEventKind, AuditOutcome, ProofKind};
pub use codes::{
    BACKUP_CODE_COUNT, BackupCode, CodeFormatError, SecondFactor, TotpCode, TotpSecret, TotpStep,
};
pub use email::{Email, EmailError};
pub use ids::{ApiTokenId, NoticeId, PasskeyId, UserId};
pub use label::{LabelFault, is_direction_control, label};
pub use mfa::{
    DisableDenied, EncryptedSecret, MfaOperation, MfaState, SecondFactorGate, second_factor_gate,
};
pub use mfa_policy::{DEFAULT_GRACE_DAYS, MfaPolicy, MfaScope, MfaStanding};
pub use notice::{NoticeKind, NoticeStatus, retry_delay_secs};
pub use passkey::{MAX_PASSKEY_NAME_CHARS, PasskeyName, PasskeyNameError};
pub use password::{
    ChangedPassword, MAX_CHANGED_PASSWORD_CHARS, MAX_PASSWORD_CHARS, NewPassword, Password,
    PasswordError, PasswordHash, PasswordHashKind, check_password_policy,
};
pub use return_to::{MAX_RETURN_TO_BYTES, ReturnTo, ReturnToError};
pub use throttle::{AttemptCounter, AttemptPolicy, Release, Throttle};
pub use user::{DisplayName, DisplayNameError, LoginMethod, User};
