//! The account pages a person uses with nothing but a browser: `/login`, `/` (account
//! security) and `/admin`, static HTML with ES modules and one stylesheet, compiled into the
//! binary (no CDN, no Node, works offline). The pages do everything through the public JSON
//! API with the CSRF token; this module only serves the files, under a strict
//! Content-Security-Policy: scripts and styles from this origin only, no inline script or
//! style, no framing.
//!
//! These are not part of the OpenAPI document (they are not API), so they are registered
//! here rather than from the route table.

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;

/// Every page's policy. `img-src blob:` is the QR code (the API's PNG as a blob, so the
/// secret it encodes never becomes a URL of its own).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

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

/// The pages (served at their own paths) and the files they load (under `/assets/`).
static ASSETS: &[Asset] = &[
    asset!("login.html", "text/html; charset=utf-8"),
    asset!("account.html", "text/html; charset=utf-8"),
    asset!("admin.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("login.js", "text/javascript; charset=utf-8"),
    asset!("account.js", "text/javascript; charset=utf-8"),
    asset!("admin.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

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
    page("account.html")
}

async fn login() -> HttpResponse {
    page("login.html")
}

async fn admin() -> HttpResponse {
    page("admin.html")
}

fn find(name: &str) -> Option<(usize, &'static Asset)> {
    ASSETS.iter().enumerate().find(|(_, asset)| asset.name == name)
}

/// A page: never cached (the account page shows secrets), never framed.
fn page(name: &str) -> HttpResponse {
    let Some((_, asset)) = find(name) else {
        return HttpResponse::NotFound().finish();
    };
    let mut res = HttpResponse::Ok();
    secured(&mut res).insert_header((header::CACHE_CONTROL, "no-store"));
    res.content_type(asset.content_type).body(asset.body)
}

/// A script, stylesheet or icon: revalidated on every use (cheap, 304) so an upgrade
/// is never mixed with an old script.
async fn asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Some((index, asset)) = find(&name).filter(|(_, a)| !a.name.ends_with(".html")) else {
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

/// The headers every page and asset carries (the default headers add `nosniff` and
/// `Referrer-Policy: no-referrer`).
fn secured(res: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    res.insert_header((
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    ))
    .insert_header((header::X_FRAME_OPTIONS, "DENY"))
    .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
    .insert_header(("Cross-Origin-Resource-Policy", "same-origin"))
    .insert_header(("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"))
}
