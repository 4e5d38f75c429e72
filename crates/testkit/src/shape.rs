//! The contract's error shape (`docs/api.md` § Conventions), as an assertion.

use reqwest::StatusCode;
use serde_json::Value;

/// Asserts the contract's error shape for `status`: `error` is the reason phrase, `message`
/// a sentence, `code` the status, `reason` a string, `details` (if any) a non-empty array
/// of `{field, message}`; nothing else.
///
/// # Panics
/// When the body is not in that shape.
pub fn assert_seed_shape(body: &Value, status: StatusCode) {
    let obj = body.as_object().unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(body["error"], status.canonical_reason().unwrap_or_default(), "body: {body}");
    assert_eq!(body["code"], status.as_u16(), "body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {body}");
    assert!(body["reason"].as_str().is_some_and(|m| !m.is_empty()), "body: {body}");
    for key in obj.keys() {
        assert!(["error", "message", "code", "reason", "details"].contains(&key.as_str()), "{key}");
    }
    if let Some(details) = obj.get("details") {
        let details = details.as_array().unwrap_or_else(|| panic!("details: {body}"));
        assert!(!details.is_empty(), "empty details: {body}");
        for d in details {
            assert!(d["field"].is_string() && d["message"].is_string(), "detail {d}");
        }
    }
}

/// The fields an error body's `details` name, in order (empty without `details`).
///
/// # Panics
/// When a detail's `field` is not a string.
#[must_use]
pub fn detail_fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|d| d.iter().map(|e| e["field"].as_str().expect("a field name").to_owned()).collect())
        .unwrap_or_default()
}
