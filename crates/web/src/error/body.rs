//! The error body every 4xx and 5xx response carries (`docs/api.md` § Conventions, "Error
//! shape"), as it goes on the wire and into the OpenAPI document.

use serde::Serialize;
use utoipa::ToSchema;

/// One field at fault.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// JSON field name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The body of every 4xx and 5xx response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// HTTP reason phrase (`Bad Request`).
    pub error: String,
    /// Human sentence.
    pub message: String,
    /// HTTP status as a number.
    pub code: u16,
    /// Stable machine-readable reason (`INVALID_CODE`, …).
    pub reason: String,
    /// Fields at fault, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}
