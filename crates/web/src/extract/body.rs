//! Request bodies: read under the size limit and the read deadline, then judged against the
//! JSON shape a handler asks for. Every way a body can be unusable is a [`BodyRejection`],
//! mapped to its response once, here (`From<BodyRejection> for ApiError`).
//!
//! When a body is rejected is the contract's business: a body that cannot be read at all
//! (408 stalled, 400 broken connection) ends the request at once; every other rejection is
//! reported at the point the use case reaches its input, which for the second-factor
//! operations is after the attempt limit (row 4 of the disable table comes after row 3).
//! [`defer`] hands the use case only the fact of the rejection
//! ([`slugbase_application::InputRejected`]) and keeps the reason for the answer.

use actix_web::HttpRequest;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use futures::StreamExt as _;
use serde_json::{Map, Value};
use slugbase_application::{InputRejected, ValidationErrors};

use super::fields::{Fields, JsonRequest};
use super::state::AppState;
use crate::csrf::CSRF_BODY_FIELD;
use crate::error::{ApiError, ReportsInputRejected};

/// Why a request body cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BodyRejection {
    /// Larger than the configured limit (bytes): 413 `PAYLOAD_TOO_LARGE`.
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A body whose `Content-Type` is not JSON: 415 `UNSUPPORTED_MEDIA_TYPE`.
    NotJsonContentType,
    /// The body did not arrive within the read timeout: 408, connection closed.
    TimedOut,
    /// The connection failed while the body was read: 400 naming `body`.
    Unreadable,
    /// Not valid JSON: 400 naming `body`.
    MalformedJson {
        /// Where the parser gave up.
        line: usize,
        /// Where the parser gave up.
        column: usize,
    },
    /// Valid JSON, but not an object: 400 naming `body`.
    NotAnObject,
    /// An object with the same key twice (after unescaping), at any depth: 400 naming the
    /// key's path. A proxy that reads the first and a server that keeps the last would
    /// disagree about the request.
    DuplicateKey {
        /// Where: `name`, `user.name`, `items[0].name`.
        path: String,
    },
    /// Fields missing or of the wrong type: 400 naming each.
    Fields(ValidationErrors),
}

impl From<BodyRejection> for ApiError {
    fn from(rejection: BodyRejection) -> Self {
        let body = |message: String| ApiError::validation(ValidationErrors::field("body", message));
        match rejection {
            BodyRejection::TooLarge { limit } => Self::payload_too_large(limit),
            BodyRejection::NotJsonContentType => Self::unsupported_media_type(),
            BodyRejection::TimedOut => Self::request_timeout(),
            BodyRejection::Unreadable => body("The body could not be read".to_owned()),
            BodyRejection::MalformedJson { line, column } => {
                body(format!("The body is not valid JSON (line {line}, column {column})"))
            }
            BodyRejection::NotAnObject => body("The body must be a JSON object".to_owned()),
            BodyRejection::DuplicateKey { path } => {
                let message = format!("{path} appears more than once; give each field once");
                Self::validation(ValidationErrors::field(path, message))
            }
            BodyRejection::Fields(errors) => Self::validation(errors),
        }
    }
}

/// The payload error the body deadline (the `body_deadline` middleware) fails a stalled
/// body with.
pub(crate) fn body_timed_out() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the request body did not arrive in time",
    ))
}

/// Whether a payload error is the body deadline passing (see [`body_timed_out`]).
fn is_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

/// A request body, read in full but not yet judged: its bytes, or why it is unusable
/// whatever it holds (too large, not JSON).
#[derive(Debug)]
pub(crate) struct RawBody {
    content: Result<Bytes, BodyRejection>,
}

impl AppState {
    /// Reads the body, at most `body_limit_bytes`. A body over the limit or not declared as
    /// JSON is not refused here: the handler reports it at its point in the contract's
    /// order (see the module comment).
    ///
    /// # Errors
    /// [`BodyRejection::TimedOut`] when the body does not arrive within `body_read_timeout`
    /// (enforced by the `body_deadline` middleware); [`BodyRejection::Unreadable`] when it
    /// cannot be read.
    pub(crate) async fn read_body(
        &self,
        req: &HttpRequest,
        mut payload: Payload,
    ) -> Result<RawBody, BodyRejection> {
        let limit = self.config.body_limit_bytes;
        let too_large = || RawBody { content: Err(BodyRejection::TooLarge { limit }) };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Ok(too_large());
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                if is_timeout(&e) {
                    tracing::debug!("request body did not arrive in time");
                    return BodyRejection::TimedOut;
                }
                tracing::debug!(error = %e, "request body could not be read");
                BodyRejection::Unreadable
            })?;
            if bytes.len() + chunk.len() > limit {
                return Ok(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let bytes = bytes.freeze();
        if !is_blank(&bytes) && !is_json_content_type(req) {
            return Ok(RawBody { content: Err(BodyRejection::NotJsonContentType) });
        }
        Ok(RawBody { content: Ok(bytes) })
    }
}

/// Whether a body holds nothing but whitespace (read as an empty object).
fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl RawBody {
    /// `csrfToken` from a JSON object body, if there is one.
    /// A body with a repeated key has none (it is refused anyway).
    pub(super) fn csrf_field(&self) -> Option<String> {
        let bytes = self.content.as_ref().ok()?;
        let mut map = parse_object(bytes).ok()?;
        match map.remove(CSRF_BODY_FIELD)? {
            Value::String(token) => Some(token),
            _ => None,
        }
    }

    /// For endpoints that take no input: the body is ignored, but one too large or not
    /// JSON is still refused.
    ///
    /// # Errors
    /// [`BodyRejection::TooLarge`], [`BodyRejection::NotJsonContentType`].
    pub(crate) fn ensure_acceptable(&self) -> Result<(), BodyRejection> {
        self.content.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// The body as the request type `T` (an empty body is an empty object).
    ///
    /// # Errors
    /// Every [`BodyRejection`] but the two that end a request at once; field errors name
    /// every field at fault.
    pub(crate) fn json<T: JsonRequest>(&self) -> Result<T, BodyRejection> {
        let bytes = self.content.as_ref().map_err(Clone::clone)?;
        let map = if is_blank(bytes) { Map::new() } else { parse_object(bytes)? };
        let mut fields = Fields::new(map);
        let value = T::read(&mut fields);
        fields.finish(value).map_err(BodyRejection::Fields)
    }
}

/// A JSON object from `bytes`, in one pass that also refuses any object (at any depth) with
/// a repeated key: serde_json's own `Value` keeps the last silently.
///
/// # Errors
/// [`BodyRejection::MalformedJson`], [`BodyRejection::NotAnObject`],
/// [`BodyRejection::DuplicateKey`].
fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, BodyRejection> {
    use serde::de::DeserializeSeed as _;

    let duplicate = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = CheckedValue { at: &KeyPath::Root, duplicate: &duplicate }
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value));
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyRejection::NotAnObject),
        Err(e) => match duplicate.into_inner() {
            Some(path) => Err(BodyRejection::DuplicateKey { path }),
            None => Err(BodyRejection::MalformedJson { line: e.line(), column: e.column() }),
        },
    }
}

/// Where a value sits in the body, as a chain on the stack (nothing is allocated unless a
/// duplicate is found).
enum KeyPath<'a> {
    Root,
    Key(&'a KeyPath<'a>, &'a str),
    Index(&'a KeyPath<'a>, usize),
}

impl std::fmt::Display for KeyPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Root => Ok(()),
            Self::Key(KeyPath::Root, key) => f.write_str(key),
            Self::Key(parent, key) => write!(f, "{parent}.{key}"),
            Self::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A `serde_json::Value` deserialised with every object's keys checked for repeats; the
/// first repeat's path goes to `duplicate` and fails the parse.
struct CheckedValue<'a> {
    at: &'a KeyPath<'a>,
    duplicate: &'a std::cell::RefCell<Option<String>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for CheckedValue<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for CheckedValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let at = KeyPath::Index(self.at, items.len());
            match seq.next_element_seed(CheckedValue { at: &at, duplicate: self.duplicate })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        // Keys arrive unescaped: `"n\u0061me"` is `name`.
        while let Some(key) = map.next_key::<String>()? {
            let at = KeyPath::Key(self.at, &key);
            if object.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(at.to_string());
                return Err(serde::de::Error::custom("a key appears twice"));
            }
            let value = map.next_value_seed(CheckedValue { at: &at, duplicate: self.duplicate })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Splits a judged body for a use case that reports rejected input at its own point in
/// the contract's order: the use case gets the input, or only [`InputRejected`]; the
/// returned [`Deferred`] keeps the reason for the answer.
pub(crate) fn defer<T>(judged: Result<T, BodyRejection>) -> (Result<T, InputRejected>, Deferred) {
    match judged {
        Ok(input) => (Ok(input), Deferred(None)),
        Err(rejection) => (Err(InputRejected), Deferred(Some(rejection))),
    }
}

/// The reason a body was rejected, kept while its use case runs.
#[derive(Debug)]
#[must_use = "answer the use case's error with it"]
pub(crate) struct Deferred(Option<BodyRejection>);

impl Deferred {
    /// The use case's error as the client gets it: when it hands the rejected input back,
    /// the body's own rejection (413, 415 or 400 naming the fields); otherwise its mapping.
    pub(crate) fn answer<E: ReportsInputRejected>(self, error: E) -> ApiError {
        match self.0 {
            Some(rejection) if error.is_input_rejected() => rejection.into(),
            _ => error.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample {
        a: String,
        b: Option<String>,
        c: Option<bool>,
        d: Option<String>,
        e: Option<bool>,
    }

    impl JsonRequest for Sample {
        fn read(f: &mut Fields) -> Self {
            Self {
                a: f.required_string("a"),
                b: f.optional_string("b"),
                c: f.optional_bool("c"),
                d: f.optional_string("d"),
                e: f.optional_bool("e"),
            }
        }
    }

    fn json(raw: &'static [u8]) -> RawBody {
        RawBody { content: Ok(Bytes::from_static(raw)) }
    }

    #[test]
    fn fields_collect_every_type_error_and_treat_null_as_absent() {
        let body = json(br#"{"a": 1, "b": null, "c": "x", "d": "y", "e": true}"#);
        let Err(BodyRejection::Fields(errors)) = body.json::<Sample>() else {
            panic!("expected field errors");
        };
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "c"]);
        let ok = json(br#"{"a": "x", "b": null, "d": "y", "e": true}"#).json::<Sample>().unwrap();
        assert_eq!(
            (ok.a.as_str(), ok.b, ok.c, ok.d.as_deref(), ok.e),
            ("x", None, None, Some("y"), Some(true))
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_or_not_json_is_rejected_as_such() {
        assert_eq!(json(b"[1]").json::<Sample>().err(), Some(BodyRejection::NotAnObject));
        assert!(matches!(
            json(b"{\"a\": ").json::<Sample>(),
            Err(BodyRejection::MalformedJson { line: 1, .. })
        ));
        assert!(matches!(
            json(b"{\"a\": \"x\"} trailing").json::<Sample>(),
            Err(BodyRejection::MalformedJson { line: 1, .. })
        ));
        let too_large = RawBody { content: Err(BodyRejection::TooLarge { limit: 8 }) };
        assert_eq!(too_large.json::<Sample>().err(), Some(BodyRejection::TooLarge { limit: 8 }));
        assert_eq!(too_large.ensure_acceptable(), Err(BodyRejection::TooLarge { limit: 8 }));
    }

    fn duplicate(raw: &'static [u8]) -> Option<String> {
        match json(raw).json::<Sample>() {
            Err(BodyRejection::DuplicateKey { path }) => Some(path),
            _ => None,
        }
    }

    #[test]
    fn a_key_given_twice_at_any_depth_is_refused_with_its_path() {
        assert_eq!(duplicate(br#"{"a": "first", "a": "second"}"#).as_deref(), Some("a"));
        assert_eq!(
            duplicate(br#"{"a": "x", "n\u0061me": 1, "name": 2}"#).as_deref(),
            Some("name"),
            "keys are compared after unescaping"
        );
        assert_eq!(
            duplicate(br#"{"a": "x", "b": {"c": {"d": 1, "d": 2}}}"#).as_deref(),
            Some("b.c.d")
        );
        assert_eq!(
            duplicate(br#"{"a": "x", "list": [{"k": 1}, {"k": 1, "k": 2}]}"#).as_deref(),
            Some("list[1].k")
        );
        assert_eq!(duplicate(br#"{"a": "x", "b": [{"k": 1}, {"k": 1}], "c": {"k": 1}}"#), None);
        let nested = json(br#"{"a": "x", "extra": {"z": [1, 2.5, null, true, "s"]}}"#);
        assert_eq!(nested.json::<Sample>().unwrap().a, "x");
    }

    #[test]
    fn a_duplicate_key_answers_400_validation_failed_naming_it_and_hides_the_csrf_field() {
        let error: ApiError = BodyRejection::DuplicateKey { path: "user.name".into() }.into();
        assert_eq!(error.reason(), "VALIDATION_FAILED");
        let body = json(br#"{"csrfToken": "one", "csrfToken": "two"}"#);
        assert_eq!(body.csrf_field(), None);
        assert_eq!(json(br#"{"csrfToken": "one"}"#).csrf_field().as_deref(), Some("one"));
    }
}
