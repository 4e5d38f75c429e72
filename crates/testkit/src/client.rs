//! [`Api`]: the one HTTP client of the test suites.

use std::borrow::Borrow;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::assert_seed_shape;

/// A response, read fully.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as JSON, or as a JSON string when it is not JSON.
    pub body: Value,
    /// Cookies set by the response, `(name, value)`.
    pub set_cookies: Vec<(String, String)>,
}

impl Reply {
    /// The error body's `reason` (empty when there is none).
    #[must_use]
    pub fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or_default()
    }

    /// `Retry-After`, in seconds.
    ///
    /// # Panics
    /// When the header is there but not a number of seconds.
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        self.headers
            .get("retry-after")
            .map(|v| v.to_str().ok().and_then(|s| s.parse().ok()).expect("Retry-After in seconds"))
    }

    /// A header as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status; returns the body.
    ///
    /// # Panics
    /// On another status.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        self.body
    }

    /// Asserts an error in the contract's error shape with `status` and `reason`, sent as
    /// JSON; returns the body.
    ///
    /// # Panics
    /// On another status, reason or shape.
    #[track_caller]
    pub fn expect_error(self, status: StatusCode, reason: &str) -> Value {
        let content_type = self.header("content-type").unwrap_or_default().to_owned();
        assert!(content_type.starts_with("application/json"), "content type {content_type}");
        let body = self.expect(status);
        assert_seed_shape(&body, status);
        assert_eq!(body["reason"], reason, "body: {body}");
        body
    }
}

/// An HTTP client for one user: a cookie jar (shared by its clones and by [`Api::at`]), a
/// CSRF token sent as `X-CSRF-Token`, and an optional Bearer token.
#[derive(Clone, Debug)]
pub struct Api {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Sent as `X-CSRF-Token` when set.
    pub csrf: Option<String>,
    /// Sent as `Authorization: Bearer …` when set.
    pub bearer: Option<String>,
}

impl Api {
    /// A client with an empty cookie jar (a browser).
    ///
    /// # Panics
    /// When the HTTP client cannot be built.
    #[must_use]
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        Self { http, base: base.to_owned(), csrf: None, bearer: None }
    }

    /// A browser that follows no redirects (each `Location` is the test's to follow, keeping
    /// the cookie jar: OIDC logins through a provider), with an empty cookie jar.
    ///
    /// # Panics
    /// When the HTTP client cannot be built.
    #[must_use]
    pub fn without_redirects(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        Self { http, base: base.to_owned(), csrf: None, bearer: None }
    }

    /// A client that sends `token` as its Bearer token (a script).
    #[must_use]
    pub fn with_bearer(base: &str, token: &str) -> Self {
        Self { bearer: Some(token.to_owned()), ..Self::new(base) }
    }

    /// The same client — same cookie jar, CSRF and Bearer token — talking to another
    /// instance (cookies ignore ports, so sessions travel along).
    #[must_use]
    pub fn at(&self, base: &str) -> Self {
        Self { base: base.to_owned(), ..self.clone() }
    }

    /// The same Bearer identity against another base URL with a fresh cookie jar (after a
    /// restart on a new port).
    #[must_use]
    pub fn rebased(&self, base: &str) -> Self {
        Self { bearer: self.bearer.clone(), ..Self::new(base) }
    }

    /// The underlying client (its cookie jar included), for requests this type does not
    /// build: raw bodies, odd content types.
    #[must_use]
    pub const fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `base` + `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` with the client's credentials (cookie jar, Bearer token, CSRF
    /// token) and nothing else, to finish by hand: a raw body, an odd content type or
    /// header. Send it with [`Api::exchange`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        if let Some(csrf) = &self.csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        request
    }

    /// Sends a request with the client's credentials and reads the whole response.
    ///
    /// # Errors
    /// When the request cannot be sent or the response read.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<Reply> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::read(request.send().await?).await
    }

    /// Sends a request built by hand (on [`Api::request`] or [`Api::http`]) and reads the
    /// whole response.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn exchange(request: RequestBuilder) -> Reply {
        Self::read(request.send().await.expect("the request is sent")).await.expect("a response")
    }

    /// Reads a response fully into a [`Reply`].
    ///
    /// # Errors
    /// When the body cannot be read.
    pub async fn read(response: reqwest::Response) -> reqwest::Result<Reply> {
        let status = response.status();
        let headers = response.headers().clone();
        let set_cookies =
            response.cookies().map(|c| (c.name().to_owned(), c.value().to_owned())).collect();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Reply { status, headers, body, set_cookies })
    }

    /// `GET path`.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await.expect("GET")
    }

    /// `POST path` with a JSON body (owned or borrowed).
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn post(&self, path: &str, body: impl Borrow<Value>) -> Reply {
        self.send(Method::POST, path, Some(body.borrow())).await.expect("POST")
    }

    /// `POST path` with `body` sent as it is, under `content_type` (none: no
    /// `Content-Type` header), with the client's credentials: bad JSON, other media types.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self.request(Method::POST, path).body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        Self::exchange(request).await
    }

    /// `DELETE path`.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await.expect("DELETE")
    }

    /// Fetches a CSRF token for the current cookie session and sends it from now on.
    ///
    /// # Panics
    /// When the server does not hand one out.
    pub async fn refresh_csrf(&mut self) -> String {
        let body = self.get("/api/csrf-token").await.expect(StatusCode::OK);
        let token = body["csrfToken"].as_str().expect("csrfToken").to_owned();
        self.csrf = Some(token.clone());
        token
    }

    /// Creates a personal API token with the current session (CSRF fetched first) and
    /// sends it as the Bearer token from now on.
    ///
    /// # Panics
    /// When the server refuses.
    pub async fn make_token(&mut self, name: &str) -> String {
        self.refresh_csrf().await;
        let token = crate::steps::create_token(self, name).await;
        self.bearer = Some(token.clone());
        token
    }
}
