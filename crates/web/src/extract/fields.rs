//! The fields of a JSON object body, read one by one into a request type ([`JsonRequest`]);
//! every type error is collected, so the answer names each field at fault.

use serde_json::{Map, Value};
use slugbase_application::ValidationErrors;

/// A request body type: one declaration for the OpenAPI document (its `ToSchema`) and for
/// reading (this), so the two cannot describe different bodies.
pub(crate) trait JsonRequest: Sized {
    /// Reads each field in turn; type errors are collected in `fields`.
    fn read(fields: &mut Fields) -> Self;
}

/// The fields of a JSON object body, read one by one; type errors are collected.
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    errors: ValidationErrors,
}

impl Fields {
    /// The fields of `map`, none read yet.
    pub(super) fn new(map: Map<String, Value>) -> Self {
        Self { map, errors: ValidationErrors::default() }
    }

    /// `value` when no field was at fault.
    pub(super) fn finish<T>(self, value: T) -> Result<T, ValidationErrors> {
        self.errors.into_result(value)
    }

    /// A string that must be present.
    pub(crate) fn required_string(&mut self, name: &str) -> String {
        match self.map.remove(name) {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => {
                self.errors.push(name, format!("{name} is required"));
                String::new()
            }
            Some(_) => {
                self.errors.push(name, format!("{name} must be a string"));
                String::new()
            }
        }
    }

    /// A string that may be absent (`null` counts as absent).
    pub(crate) fn optional_string(&mut self, name: &str) -> Option<String> {
        match self.map.remove(name) {
            Some(Value::String(s)) => Some(s),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(name, format!("{name} must be a string"));
                None
            }
        }
    }

    /// A boolean that may be absent.
    pub(crate) fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.map.remove(name) {
            Some(Value::Bool(b)) => Some(b),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(name, format!("{name} must be a boolean"));
                None
            }
        }
    }

    /// A JSON object that must be present, handed on as its JSON text (a WebAuthn
    /// credential: read by its own parser, not field by field here).
    pub(crate) fn required_object(&mut self, name: &str) -> String {
        match self.map.remove(name) {
            Some(value @ Value::Object(_)) => value.to_string(),
            None | Some(Value::Null) => {
                self.errors.push(name, format!("{name} is required"));
                String::new()
            }
            Some(_) => {
                self.errors.push(name, format!("{name} must be an object"));
                String::new()
            }
        }
    }

    /// A JSON object that may be absent (`null` counts as absent), handed on as its JSON
    /// text.
    pub(crate) fn optional_object(&mut self, name: &str) -> Option<String> {
        match self.map.remove(name) {
            Some(value @ Value::Object(_)) => Some(value.to_string()),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(name, format!("{name} must be an object"));
                None
            }
        }
    }

    /// Reports `name` at fault for a rule between fields (`message` says which).
    pub(crate) fn reject(&mut self, name: &str, message: &str) {
        self.errors.push(name, message);
    }
}
