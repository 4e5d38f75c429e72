//! Encryption key rotation: `slugbase keys rotate`.
//!
//! Kept as the path other crates import it by; the use case lives in
//! [`crate::use_cases::rotate_keys`].

pub use crate::use_cases::rotate_keys::{
    RotateKeys, RotationFailure, RotationProblem, RotationReport,
};
