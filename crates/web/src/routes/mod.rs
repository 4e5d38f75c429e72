//! The route table: one list of handlers from which both the OpenAPI document and the
//! actix routes are built, so the two cannot drift.
//!
//! Each handler's `#[utoipa::path]` names its method and path; [`configure`] reads them
//! back from the generated document and attaches the handler whose operation id matches.
//! Every path becomes one actix resource whose unmatched methods answer 405 with `Allow`.

use actix_web::http::Method;
use actix_web::web::{self, ServiceConfig};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;

pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod meta;
pub(crate) mod mfa;
pub(crate) mod tokens;

/// Declares the table: the OpenAPI document's operations and the handler for each.
macro_rules! route_table {
    ($($module:ident :: $handler:ident),* $(,)?) => {
        /// The OpenAPI document, generated from the handlers.
        #[derive(OpenApi)]
        #[openapi(
            info(
                title = "SlugBase Auth",
                description = "Accounts, sessions, API tokens and TOTP multi-factor authentication, compatible with SlugBase's auth/MFA API.",
            ),
            paths($($module::$handler),*),
            components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
            modifiers(&SecuritySchemes),
            tags(
                (name = "MFA", description = "TOTP multi-factor authentication"),
                (name = "Auth", description = "Login, logout, the current user"),
                (name = "Setup", description = "First administrator"),
                (name = "API tokens", description = "Personal API tokens (Bearer)"),
                (name = "Admin", description = "Administration"),
                (name = "Meta", description = "Health, version, CSRF, documentation"),
            ),
        )]
        pub(crate) struct ApiDoc;

        /// Attaches the handler whose operation id is `operation_id`.
        fn attach(operation_id: &str, route: actix_web::Route) -> Option<actix_web::Route> {
            match operation_id {
                $( stringify!($handler) => Some(route.to($module::$handler)), )*
                _ => None,
            }
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
    auth::verify,
    auth::setup_status,
    auth::setup,
    auth::login,
    auth::logout,
    auth::me,
    auth::providers,
    tokens::list_tokens,
    tokens::create_token,
    tokens::revoke_token,
    admin::list_users,
    admin::create_user,
    admin::delete_user,
    admin::reset_user_mfa,
    admin::audit_log,
    meta::health,
    meta::version,
    meta::csrf_token,
    meta::openapi_json,
    meta::api_docs,
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

/// The operations of one path item, with their methods.
pub(crate) fn operations(item: &PathItem) -> Vec<(Method, &Operation)> {
    [
        (Method::GET, &item.get),
        (Method::POST, &item.post),
        (Method::PUT, &item.put),
        (Method::PATCH, &item.patch),
        (Method::DELETE, &item.delete),
        (Method::HEAD, &item.head),
        (Method::OPTIONS, &item.options),
        (Method::TRACE, &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_ref().map(|op| (method, op)))
    .collect()
}

/// Every (method, path) of the table, as the document lists them.
#[must_use]
pub fn route_list() -> Vec<(String, String)> {
    let doc = ApiDoc::openapi();
    let mut routes = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, _) in operations(item) {
            routes.push((method.to_string(), path.clone()));
        }
    }
    routes
}

/// Registers every route of the table.
pub(crate) fn configure(cfg: &mut ServiceConfig) {
    let doc = ApiDoc::openapi();
    for (path, item) in &doc.paths.paths {
        let mut resource = web::resource(path.as_str());
        let mut allowed = Vec::new();
        for (method, operation) in operations(item) {
            let id = operation.operation_id.as_deref().unwrap_or_default();
            match attach(id, web::route().method(method.clone())) {
                Some(route) => {
                    resource = resource.route(route);
                    allowed.push(method.to_string());
                }
                None => tracing::error!(operation = id, "documented operation has no handler"),
            }
        }
        let allow = allowed.join(", ");
        resource = resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move {
                Err::<actix_web::HttpResponse, _>(ApiError::method_not_allowed().with_allow(allow))
            }
        }));
        cfg.service(resource);
    }
}
