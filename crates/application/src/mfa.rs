//! MFA use cases: disable (the headline operation), status, enrollment, backup codes.
//!
//! Kept as the path other crates import them by; the use cases live in
//! [`crate::use_cases`].

pub use crate::collaborators::both_factors::{BothFactorsInput, MfaChangeError};
pub use crate::use_cases::disable_mfa::{DisableMfa, DisableMfaError};
pub use crate::use_cases::enroll::{
    EnrollBegin, EnrollCancel, EnrollConfirm, EnrollConfirmError, EnrollError, Enrollment,
};
pub use crate::use_cases::mfa_status::{MfaStatus, MfaStatusView};
pub use crate::use_cases::regenerate_backup_codes::{
    RegenerateBackupCodes, RegenerateBackupCodesError,
};
