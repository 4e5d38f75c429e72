//! The account pages a person uses with nothing but a browser: `/login`, `/` (account
//! security) and `/admin` — each page's own HTML in one shared layout (`assets/layout.html`,
//! `assets/nav.html`), ES modules and one stylesheet, compiled into the binary (no CDN, no
//! Node, works offline). The pages do everything through the public JSON
//! API with the CSRF token; this module only serves the files, under a strict
//! Content-Security-Policy: scripts and styles from this origin only, no inline script or
//! style, no framing.
//!
//! These are not part of the OpenAPI document (they are not API), so they are registered
//! here rather than from the route table.

use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;

/// Every page's policy. `img-src blob:` is the QR code (the API's PNG as a blob, so the
/// secret it encodes never becomes a URL of its own).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The interactive API docs' policy (`/api-docs/`: utoipa-swagger-ui's Swagger UI, compiled
/// into the binary). The pages' policy, with two additions Chromium showed it needs (the
/// `api_docs` browser journey fails without either):
/// - one `style-src` hash: the standalone preset's SVG logo carries an inline `<style>`
///   element with fixed content (`.logo_small_svg__cls-2{fill:#fff}…`), so its SHA-256 is
///   allowed rather than `'unsafe-inline'`. The style attributes Swagger UI sets while
///   rendering go through the CSSOM, which `style-src` does not govern.
/// - `img-src data:`: the stylesheet draws its arrows and icons as `data:` SVGs.
///
/// `script-src` stays `'self'`: the index has no inline script (its configuration is
/// `swagger-initializer.js`, served like the other files), and nothing needs `eval`. No
/// online validator badge either (`validatorUrl: "none"`), so nothing is loaded from
/// elsewhere and the document's URL is never sent to a third party. A Swagger UI upgrade
/// that changes the logo changes the hash: the journey says so.
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A file compiled into the binary.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../assets/", $name)),
        }
    };
}

/// The files the pages load (under `/assets/`).
static ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("login.js", "text/javascript; charset=utf-8"),
    asset!("account.js", "text/javascript; charset=utf-8"),
    asset!("admin.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// A page: its own content in the shared layout (`layout.html`: head, header, live region).
struct Page {
    title: &'static str,
    script: &'static str,
    /// Signed-in pages have the navigation (`nav.html`), with this page's link current.
    nav: Option<Nav>,
    /// A narrow column (the sign-in forms).
    narrow: bool,
    content: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Nav {
    Account,
    Admin,
}

const LAYOUT: &str = include_str!("../assets/layout.html");
const NAV: &str = include_str!("../assets/nav.html");

static LOGIN: Page = Page {
    title: "Sign in",
    script: "login.js",
    nav: None,
    narrow: true,
    content: include_str!("../assets/login.main.html"),
};
static ACCOUNT: Page = Page {
    title: "Account security",
    script: "account.js",
    nav: Some(Nav::Account),
    narrow: false,
    content: include_str!("../assets/account.main.html"),
};
static ADMIN: Page = Page {
    title: "Administration",
    script: "admin.js",
    nav: Some(Nav::Admin),
    narrow: false,
    content: include_str!("../assets/admin.main.html"),
};

impl Page {
    /// The whole document (built once per page, at its first request).
    fn render(&self) -> String {
        let current = |which| if self.nav == Some(which) { r#" aria-current="page""# } else { "" };
        let nav = self.nav.map_or_else(String::new, |_| {
            NAV.replace("{{account_current}}", current(Nav::Account))
                .replace("{{admin_current}}", current(Nav::Admin))
        });
        LAYOUT
            .replace("{{title}}", self.title)
            .replace("{{script}}", self.script)
            .replace("{{nav}}", &nav)
            .replace("{{main_class}}", if self.narrow { r#" class="narrow""# } else { "" })
            .replace("{{content}}", self.content)
    }
}

/// Each asset's entity tag (a digest of its bytes), computed when first asked for.
static ETAGS: OnceLock<Vec<String>> = OnceLock::new();

fn etag(index: usize) -> &'static str {
    let tags = ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    });
    &tags[index]
}

/// Registers `/`, `/login`, `/admin` and `/assets/{name}`, for GET and HEAD (actix sends
/// no body with a HEAD answer).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").get(account).head(account))
        .service(web::resource("/login").get(login).head(login))
        .service(web::resource("/admin").get(admin).head(admin))
        .service(web::resource("/assets/{name}").get(asset).head(asset));
}

async fn account() -> HttpResponse {
    static HTML: OnceLock<String> = OnceLock::new();
    page(HTML.get_or_init(|| ACCOUNT.render()))
}

async fn login() -> HttpResponse {
    static HTML: OnceLock<String> = OnceLock::new();
    page(HTML.get_or_init(|| LOGIN.render()))
}

async fn admin() -> HttpResponse {
    static HTML: OnceLock<String> = OnceLock::new();
    page(HTML.get_or_init(|| ADMIN.render()))
}

fn find(name: &str) -> Option<(usize, &'static Asset)> {
    ASSETS.iter().enumerate().find(|(_, asset)| asset.name == name)
}

/// A page: never cached (the account page shows secrets), never framed.
fn page(html: &'static str) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    secured(&mut res).insert_header((header::CACHE_CONTROL, "no-store"));
    res.content_type("text/html; charset=utf-8").body(html)
}

/// A script, stylesheet or icon: revalidated on every use (cheap, 304) so an upgrade
/// is never mixed with an old script.
async fn asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Some((index, asset)) = find(&name) else {
        return Err(ApiError::route_not_found());
    };
    let tag = etag(index);
    let unchanged = if_none_match(&req, tag);
    let mut res = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    secured(&mut res)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, tag));
    if unchanged {
        return Ok(res.finish());
    }
    Ok(res.content_type(asset.content_type).body(asset.body))
}

fn if_none_match(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

/// The headers every page and asset carries besides its policy (the default headers add
/// `nosniff` and `Referrer-Policy: no-referrer`).
const PAGE_HEADERS: [(&str, &str); 4] = [
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
];

/// The headers every page and asset carries.
fn secured(res: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    res.insert_header((
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    ));
    for header in PAGE_HEADERS {
        res.insert_header(header);
    }
    res
}

/// Whether `path` is the interactive docs page or one of its files.
fn is_docs(path: &str) -> bool {
    path == "/api-docs" || path.starts_with("/api-docs/")
}

/// The pages' header set on everything under `/api-docs` (served by utoipa-swagger-ui,
/// which sets none): [`DOCS_CONTENT_SECURITY_POLICY`], no framing, `nosniff`, no referrer.
pub(crate) async fn docs_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let docs = is_docs(req.path());
    let mut res = next.call(req).await?;
    if docs {
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        for (name, value) in PAGE_HEADERS {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
    }
    Ok(res)
}
