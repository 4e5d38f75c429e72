//! The route table: one list of handlers from which both the OpenAPI document and the
//! actix routes are built, so the two cannot drift.
//!
//! Each handler carries its method and path once, in its actix route attribute
//! (`#[post("/api/auth/mfa/disable")]`). actix registers the handler from it
//! ([`configure`] calls `cfg.service(handler)`), and `#[utoipa::path]`, written above it,
//! reads the same attribute for the handler's operation in the document. A handler listed
//! in the table without a route attribute does not compile; nothing is looked up by name.
//! After the handlers, every path gets a fallback that answers its other methods 405 with
//! `Allow`.

use std::collections::BTreeMap;

use actix_web::http::Method;
use actix_web::web::{self, ServiceConfig};
use utoipa::openapi::HttpMethod;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, Path as _};

use crate::error::ApiError;

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod meta;
pub(crate) mod mfa;
pub(crate) mod oidc;
pub(crate) mod outbox;
pub(crate) mod paging;
pub(crate) mod passkeys;
pub(crate) mod tokens;

/// Declares the table: the OpenAPI document's operations and the handler for each.
macro_rules! route_table {
    ($($module:ident :: $handler:ident),* $(,)?) => {
        /// The OpenAPI document, generated from the handlers.
        #[derive(OpenApi)]
        #[openapi(
            info(
                title = "SlugBase Auth",
                description = "Accounts, sessions, API tokens, TOTP multi-factor authentication and passkeys, compatible with SlugBase's auth/MFA API.\n\nEvery request body is a JSON object; an object with the same key twice (compared after unescaping, at any depth) is refused with 400 VALIDATION_FAILED naming it. Answers the HTTP layer gives before any operation is reached carry the same ErrorBody and close the connection: 400 MALFORMED_REQUEST (a head that is not HTTP/1.x), 431 HEADERS_TOO_LARGE, 408 REQUEST_TIMEOUT (a request head not complete within server.header_read_timeout_secs, on every request of a connection).",
            ),
            paths($($module::$handler),*),
            components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
            modifiers(&SecuritySchemes, &EitherProof, &EnrolmentOnly, &RateLimitFields),
            tags(
                (name = "MFA", description = "TOTP multi-factor authentication"),
                (name = "Passkeys", description = "WebAuthn passkeys: an additional second factor beside TOTP"),
                (name = "Auth", description = "Login, logout, the current user"),
                (name = "Setup", description = "First administrator"),
                (name = "API tokens", description = "Personal API tokens (Bearer)"),
                (name = "Admin", description = "Administration"),
                (name = "Meta", description = "Health, version, CSRF, documentation"),
            ),
        )]
        pub(crate) struct ApiDoc;

        /// Registers every handler at the method and path of its own route attribute.
        fn register_handlers(cfg: &mut ServiceConfig) {
            $( cfg.service($module::$handler); )*
        }

        /// Every handler's methods and path, read from the same route attribute (through
        /// the `utoipa::Path` impl that `#[utoipa::path]` derives from it).
        fn endpoints() -> Vec<(Vec<HttpMethod>, String)> {
            vec![$( ($module::$handler::methods(), $module::$handler::path()) ),*]
        }
    };
}

route_table! {
    mfa::disable,
    mfa::mfa_status,
    mfa::enroll_begin,
    mfa::enroll_confirm,
    mfa::enroll_cancel,
    mfa::regenerate_backup_codes,
    passkeys::register_begin,
    passkeys::challenge,
    passkeys::sign_in_begin,
    passkeys::sign_in_finish,
    passkeys::register_finish,
    passkeys::list_passkeys,
    passkeys::rename_passkey,
    passkeys::remove_passkey,
    auth::verify,
    auth::verify_challenge,
    auth::pending_account,
    auth::setup_status,
    auth::setup,
    auth::login,
    auth::logout,
    auth::me,
    oidc::providers,
    account::change_password,
    account::list_sessions,
    account::revoke_session,
    account::revoke_other_sessions,
    tokens::list_tokens,
    tokens::create_token,
    tokens::revoke_token,
    admin::list_users,
    admin::create_user,
    admin::delete_user,
    admin::reset_user_mfa,
    admin::audit_log,
    outbox::outbox,
    meta::health,
    meta::liveness,
    meta::readiness,
    meta::version,
    meta::csrf_token,
    meta::openapi_json,
    meta::api_docs,
    // Keep these two last: actix tries routes in this order, and `/api/auth/{provider}`
    // would otherwise take the GETs of fixed `/api/auth/…` paths registered after it.
    oidc::oidc_login,
    oidc::oidc_callback,
}

/// The `{id}` segment of the path, or 400 naming it.
pub(crate) fn path_id<T: std::str::FromStr>(req: &actix_web::HttpRequest) -> Result<T, ApiError> {
    req.match_info().get("id").and_then(|id| id.parse().ok()).ok_or_else(|| {
        ApiError::validation(slugbase_application::ValidationErrors::field(
            "id",
            "id must be a UUID",
        ))
    })
}

/// The operations a caller the MFA policy holds to enrolment may still use — their handlers
/// authenticate with `AppState::authenticate_enrolling`. Every other operation that needs a
/// caller answers such a caller 403 `MFA_ENROLLMENT_REQUIRED`, which [`EnrolmentOnly`] adds
/// to the document; `tests/api/mfa_policy.rs` holds the server to both.
pub const ENROLMENT_OPERATIONS: [&str; 7] = [
    "me",
    "mfa_status",
    "enroll_begin",
    "enroll_confirm",
    "enroll_cancel",
    "passkey_register_begin",
    "passkey_register_finish",
];

/// Documents the 403 `MFA_ENROLLMENT_REQUIRED` of every operation with a security
/// requirement that is not in [`ENROLMENT_OPERATIONS`].
struct EnrolmentOnly;

/// What that 403 says.
const ENROLMENT_REQUIRED: &str = "MFA_ENROLLMENT_REQUIRED: the MFA policy (`security.require_mfa`) requires a second factor of the caller and their grace period is over; only enrolment is reachable until MFA is on";

impl Modify for EnrolmentOnly {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, Response};
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let enrolment =
                    op.operation_id.as_deref().is_some_and(|id| ENROLMENT_OPERATIONS.contains(&id));
                if !secured || enrolment {
                    continue;
                }
                match op.responses.responses.get_mut("403") {
                    Some(RefOr::T(forbidden)) => {
                        forbidden.description.push_str("; or ");
                        forbidden.description.push_str(ENROLMENT_REQUIRED);
                    }
                    Some(RefOr::Ref(_)) => {}
                    None => {
                        let mut forbidden = Response::new(ENROLMENT_REQUIRED);
                        let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
                        forbidden.content.insert("application/json".to_owned(), body.into());
                        op.responses.responses.insert("403".to_owned(), forbidden.into());
                    }
                }
            }
        }
    }
}

/// Adds the two ways to authenticate to the document.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::extract::SESSION_COOKIE,
                "Session cookie after login",
            ))),
        );
        components.add_security_scheme(
            "bearer_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Bearer token (API token)"))
                    .build(),
            ),
        );
    }
}

/// The bodies that carry proof of possession (`BothFactorsRequest`, `VerifyRequest`) take
/// either `code` or `ceremony_id` and `credential`: each schema becomes "its fields, and one
/// of the two sets required".
struct EitherProof;

impl Modify for EitherProof {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{AllOfBuilder, OneOfBuilder, Schema};
        use utoipa::openapi::{ObjectBuilder, RefOr};

        let Some(components) = openapi.components.as_mut() else { return };
        for name in ["BothFactorsRequest", "VerifyRequest"] {
            let Some(fields) = components.schemas.remove(name) else { continue };
            let requires = |names: &[&str]| {
                names.iter().fold(ObjectBuilder::new(), |object, n| object.required(*n))
            };
            let either = OneOfBuilder::new()
                .item(requires(&["code"]).description(Some("a TOTP or unused backup code")))
                .item(
                    requires(&["ceremony_id", "credential"])
                        .description(Some("a passkey's answer to a challenge")),
                );
            let schema = AllOfBuilder::new().item(fields).item(either).build();
            components.schemas.insert(name.to_owned(), RefOr::T(Schema::AllOf(schema)));
        }
    }
}

/// The operations that count attempts, and so answer with `RateLimit-Policy` and
/// `RateLimit` (`crate::rate_limit`).
pub const COUNTED_OPERATIONS: [&str; 8] = [
    "login",
    "verify",
    "disable",
    "regenerate_backup_codes",
    "enroll_confirm",
    "remove_passkey",
    "passkey_sign_in_finish",
    "change_password",
];

/// Documents the two fields on every response of [`COUNTED_OPERATIONS`].
struct RateLimitFields;

impl Modify for RateLimitFields {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ObjectBuilder, RefOr, Type};

        let field = |description: &str| {
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some(description))
                .build()
        };
        let policy = field(
            "The attempt limits that applied (draft-ietf-httpapi-ratelimit-headers-10), one item per limit: `\"account\";q=<tries per window>;w=<window seconds>, \"address\";q=…;w=…` — `account` the account tried (a user's second factor, or the e-mail typed at login), `address` the client address.",
        );
        let state = field(
            "What is left of each limit after this request: `\"account\";r=<tries left>;t=<seconds until the window ends>, \"address\";r=…;t=…`. `r=0` means the next try is refused (429) until `t` seconds have passed; on a 429, `t` equals `Retry-After`.",
        );
        for item in openapi.paths.paths.values_mut() {
            for op in
                [&mut item.post, &mut item.get, &mut item.put, &mut item.patch, &mut item.delete]
                    .into_iter()
                    .flatten()
            {
                let counted =
                    op.operation_id.as_deref().is_some_and(|id| COUNTED_OPERATIONS.contains(&id));
                if !counted {
                    continue;
                }
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response
                            .headers
                            .insert("RateLimit-Policy".to_owned(), RefOr::T(policy.clone()));
                        response.headers.insert("RateLimit".to_owned(), RefOr::T(state.clone()));
                    }
                }
            }
        }
    }
}

/// The methods served at each path, in the order `Allow` lists them.
fn methods_by_path() -> BTreeMap<String, Vec<Method>> {
    let mut paths: BTreeMap<String, Vec<Method>> = BTreeMap::new();
    for (methods, path) in endpoints() {
        paths.entry(path).or_default().extend(methods.iter().map(actix_method));
    }
    for methods in paths.values_mut() {
        methods.sort_by_key(allow_rank);
        methods.dedup();
    }
    paths
}

/// The actix method of a documented one.
fn actix_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// Where a method goes in `Allow` (the order of an OpenAPI path item).
fn allow_rank(method: &Method) -> u8 {
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
    ]
    .iter()
    .position(|m| m == method)
    .and_then(|i| u8::try_from(i).ok())
    .unwrap_or(u8::MAX)
}

/// The `Allow` list of a fixed path of the table (one without a `{…}` segment), for the
/// OIDC route `/api/auth/{provider}` that would otherwise answer a wrong method on
/// `/api/auth/login` and its siblings with "unknown provider".
pub(crate) fn static_path_methods(path: &str) -> Option<String> {
    static FIXED: std::sync::LazyLock<BTreeMap<String, String>> = std::sync::LazyLock::new(|| {
        methods_by_path()
            .into_iter()
            .filter(|(path, _)| !path.contains('{'))
            .map(|(path, methods)| {
                let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                (path, allow)
            })
            .collect()
    });
    FIXED.get(path).cloned()
}

/// Every (method, path) of the table.
#[must_use]
pub fn route_list() -> Vec<(String, String)> {
    methods_by_path()
        .into_iter()
        .flat_map(|(path, methods)| {
            methods.into_iter().map(move |method| (method.to_string(), path.clone()))
        })
        .collect()
}

/// Registers every handler of the table, then, per path, the 405 for its other methods.
pub(crate) fn configure(cfg: &mut ServiceConfig) {
    register_handlers(cfg);
    for (path, methods) in methods_by_path() {
        let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        // Registered after the handlers: actix tries resources in order, so this one only
        // sees the requests whose method no handler of the path takes.
        cfg.service(web::resource(path).default_service(web::to(move || {
            let allow = allow.clone();
            async move {
                Err::<actix_web::HttpResponse, _>(ApiError::method_not_allowed().with_allow(allow))
            }
        })));
    }
}
