//! MFA use cases: disable (the headline operation), status, enrollment, backup codes.
//!
//! Kept as the path other crates import them by; the use cases live in
//! [`crate::use_cases`].

pub use crate::collaborators::both_factors::{BothFactorsInput, MfaChangeError};
pub use crate::use_cases::disable_mfa::{DisableMfa, DisableMfaError, DisableMfaUseCase};
pub use crate::use_cases::enroll::{
    EnrollBegin, EnrollBeginUseCase, EnrollCancel, EnrollCancelUseCase, EnrollConfirm,
    EnrollConfirmError, EnrollConfirmUseCase, EnrollError, Enrollment,
};
pub use crate::use_cases::mfa_status::{MfaStatus, MfaStatusUseCase, MfaStatusView};
pub use crate::use_cases::regenerate_backup_codes::{
    RegenerateBackupCodes, RegenerateBackupCodesError, RegenerateBackupCodesUseCase,
};
