//! Where the browser goes after signing in (`return_to`): one rule for the server and the
//! login page (`assets/common.js` `safeReturnPath` is the same rule in the browser).
//!
//! A check on the raw text is not enough: a browser resolves `/.//evil.example/x` (dot
//! segments removed), `/\evil.example` (`\` read as `/`) or `/\t/evil.example` (tabs and
//! newlines dropped) to another host. So the value is resolved against the service's own
//! origin exactly as a browser does (WHATWG URL, the `url` crate), accepted only when the
//! result is on that origin with a path that starts with one `/` followed by neither `/`
//! nor `\`, and only the *resolved* path, query and fragment are ever used afterwards —
//! never the text as sent.

use url::Url;

/// Longest `return_to` accepted, in bytes as sent: a path on this site needs no more, and
/// the resolved value (percent-encoded, so at most a few times longer) goes into a
/// `Location` header and a stored flow.
pub const MAX_RETURN_TO_BYTES: usize = 512;

/// Why a `return_to` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReturnToError {
    /// Longer than [`MAX_RETURN_TO_BYTES`].
    #[error("return_to is longer than {MAX_RETURN_TO_BYTES} bytes")]
    TooLong,
    /// It resolves to another origin, to a scheme without one (`javascript:`), or to a path
    /// a browser would read as another host (`//host`, `/\host`).
    #[error("return_to must be a path on this site (starting with one /)")]
    OffSite,
    /// The service's own base URL is not an absolute `http(s)` URL with a host (a
    /// configuration error, refused at start).
    #[error("the service's base URL is not an absolute http(s) URL")]
    BadSite,
}

/// A same-origin target: the resolved path, query and fragment (ASCII, percent-encoded,
/// starting with one `/` followed by neither `/` nor `\`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnTo(String);

impl ReturnTo {
    /// Resolves `raw` against the origin of `public_base_url` as a browser would and keeps
    /// it only if it stays on that origin.
    ///
    /// # Errors
    /// [`ReturnToError`].
    pub fn resolve(raw: &str, public_base_url: &str) -> Result<Self, ReturnToError> {
        let site = site_root(public_base_url)?;
        if raw.len() > MAX_RETURN_TO_BYTES {
            return Err(ReturnToError::TooLong);
        }
        let resolved = site.join(raw).map_err(|_| ReturnToError::OffSite)?;
        if resolved.origin() != site.origin() {
            return Err(ReturnToError::OffSite);
        }
        let path = resolved.path();
        let mut rest = path.strip_prefix('/').ok_or(ReturnToError::OffSite)?.chars();
        if matches!(rest.next(), Some('/' | '\\')) {
            return Err(ReturnToError::OffSite);
        }
        // The serialisation from the path on: path, `?query`, `#fragment`, as resolved.
        Ok(Self(resolved[url::Position::BeforePath..].to_owned()))
    }

    /// The resolved target (`/path?query#fragment`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The resolved target, owned.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for ReturnTo {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `{scheme}://{host}[:port]/` of `public_base_url`: what relative targets resolve against
/// (the pages are served at the origin's root, as the browser's `window.location.origin`).
fn site_root(public_base_url: &str) -> Result<Url, ReturnToError> {
    let base = Url::parse(public_base_url.trim()).map_err(|_| ReturnToError::BadSite)?;
    if !matches!(base.scheme(), "http" | "https") || !base.has_host() {
        return Err(ReturnToError::BadSite);
    }
    Url::parse(&format!("{}/", base.origin().ascii_serialization()))
        .map_err(|_| ReturnToError::BadSite)
}

#[cfg(test)]
mod tests {
    use super::{MAX_RETURN_TO_BYTES, ReturnTo, ReturnToError};

    const SITE: &str = "http://127.0.0.1:8080";

    fn resolve(raw: &str) -> Result<String, ReturnToError> {
        ReturnTo::resolve(raw, SITE).map(ReturnTo::into_string)
    }

    #[test]
    fn paths_on_this_site_are_kept_as_the_browser_resolves_them() {
        for (raw, resolved) in [
            ("/", "/"),
            ("/account", "/account"),
            ("/a/b?c=d#e", "/a/b?c=d#e"),
            ("/admin?tab=a&b=c d", "/admin?tab=a&b=c%20d"),
            ("/x/../account", "/account"),
            ("/%2F%2Fevil.example/x", "/%2F%2Fevil.example/x"),
            ("/%5Cevil", "/%5Cevil"),
            ("/é", "/%C3%A9"),
            ("account", "/account"),
            ("  /account", "/account"),
            ("http://127.0.0.1:8080/account?x=1", "/account?x=1"),
            ("HTTP://127.0.0.1:8080/account", "/account"),
            ("", "/"),
            ("http:account", "/account"),
        ] {
            assert_eq!(resolve(raw).as_deref(), Ok(resolved), "{raw:?}");
        }
    }

    #[test]
    fn every_spelling_of_another_host_or_scheme_is_refused() {
        for raw in [
            "https://evil.example/x",
            "HTTPS://EVIL.EXAMPLE/x",
            "//evil.example/x",
            "/\\evil.example/x",
            "\\/evil.example/x",
            "\\\\evil.example/x",
            "/.//evil.example/x",
            "/..//evil.example/x",
            "/x/..//evil.example/x",
            "/x/./..//evil.example/x",
            "/%2e//evil.example/x",
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            " javascript:alert(1)",
            "\tjavascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/\t/evil.example/x",
            "/\n/evil.example/x",
            "/\r\n/evil.example",
            "  //evil.example/x",
            "\u{0}//evil.example/x",
            "http://127.0.0.1:8081/account",
            "https://127.0.0.1:8080/account",
            "http://evil.example@127.0.0.1:8080.evil.example/",
            "http:/\\evil.example/x",
            "http:\\\\evil.example/x",
            "//",
            "///evil.example",
        ] {
            assert_eq!(resolve(raw), Err(ReturnToError::OffSite), "{raw:?}");
        }
    }

    #[test]
    fn an_overlong_target_is_refused() {
        let long = format!("/{}", "a".repeat(MAX_RETURN_TO_BYTES));
        assert_eq!(resolve(&long), Err(ReturnToError::TooLong));
        let fits = format!("/{}", "a".repeat(MAX_RETURN_TO_BYTES - 1));
        assert_eq!(resolve(&fits).map(|s| s.len()), Ok(MAX_RETURN_TO_BYTES));
    }

    #[test]
    fn the_site_is_the_base_urls_origin_and_must_be_http() {
        assert_eq!(
            ReturnTo::resolve("/a", "https://auth.example.com/some/path/")
                .map(ReturnTo::into_string),
            Ok("/a".to_owned())
        );
        assert_eq!(
            ReturnTo::resolve("https://auth.example.com:443/a", "https://auth.example.com"),
            ReturnTo::resolve("/a", "https://auth.example.com")
        );
        for bad in ["", "auth.example.com", "http://", "ftp://auth.example.com", "file:///tmp"] {
            assert_eq!(ReturnTo::resolve("/", bad), Err(ReturnToError::BadSite), "{bad:?}");
        }
    }
}
