//! Personal API tokens: `sb_` + 256 random bits, stored as SHA-256 only.
//!
//! Kept as the path other crates import them by; the use case lives in
//! [`crate::use_cases::api_tokens`].

pub use crate::use_cases::api_tokens::{
    ApiTokenView, ApiTokens, ApiTokensUseCase, CreateApiTokenError, CreatedApiToken,
};
