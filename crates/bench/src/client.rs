//! The client side of a run: the HTTP calls the scenarios make, and the server as a child
//! process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::seed::{DrivenUser, PASSWORD};

/// A server child process, killed (and reaped) when dropped.
#[derive(Debug)]
pub(crate) struct ChildServer(pub(crate) std::process::Child);

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The client side of the run.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Arc<str>,
}

impl Client {
    pub(crate) fn new(port: u16, connections: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections.max(8))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Self { http, base: format!("http://127.0.0.1:{port}").into() })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn expect(
        &self,
        request: reqwest::RequestBuilder,
        status: StatusCode,
    ) -> bool {
        match request.send().await {
            // The body is read so the connection goes back to the pool.
            Ok(res) => res.status() == status && res.bytes().await.is_ok(),
            Err(_) => false,
        }
    }

    pub(crate) async fn version(&self) -> bool {
        self.expect(self.http.get(self.url("/api/version")), StatusCode::OK).await
    }

    pub(crate) async fn health(&self) -> bool {
        self.expect(self.http.get(self.url("/api/health")), StatusCode::OK).await
    }

    pub(crate) async fn status_token(&self, user: &DrivenUser) -> bool {
        let req = self.http.get(self.url("/api/auth/mfa/status")).bearer_auth(&user.token);
        self.expect(req, StatusCode::OK).await
    }

    pub(crate) async fn status_cookie(&self, user: &DrivenUser) -> bool {
        let req = self
            .http
            .get(self.url("/api/auth/mfa/status"))
            .header(reqwest::header::COOKIE, format!("slugbase.sid={}", user.session));
        self.expect(req, StatusCode::OK).await
    }

    pub(crate) async fn login(&self, user: &DrivenUser) -> bool {
        let body = serde_json::json!({ "email": user.email, "password": PASSWORD });
        self.expect(self.http.post(self.url("/api/auth/login")).json(&body), StatusCode::OK).await
    }

    pub(crate) async fn disable(&self, user: &DrivenUser) -> bool {
        let code = current_code(&user.totp_base32);
        let body = serde_json::json!({ "code": code, "password": PASSWORD });
        let req =
            self.http.post(self.url("/api/auth/mfa/disable")).bearer_auth(&user.token).json(&body);
        self.expect(req, StatusCode::OK).await
    }

    /// Checks, with the test kit's client, that status answers what a seeded MFA user must
    /// see (a correctness check before the load, not a measured request).
    pub(crate) async fn status_says_enabled(&self, user: &DrivenUser) -> anyhow::Result<()> {
        let reply = slugbase_testkit::Api::with_bearer(&self.base, &user.token)
            .send(reqwest::Method::GET, "/api/auth/mfa/status", None)
            .await?;
        anyhow::ensure!(reply.status == StatusCode::OK, "status answered {}", reply.status);
        anyhow::ensure!(reply.body["enabled"] == true, "a seeded user's MFA status is not enabled");
        anyhow::ensure!(
            reply.body["backup_codes_remaining"] == 10,
            "a seeded user lacks backup codes"
        );
        Ok(())
    }
}

/// The current RFC 6238 code for a Base32 secret, as an authenticator app computes it (the
/// test kit's generator).
pub(crate) fn current_code(base32: &str) -> String {
    let totp = slugbase_testkit::totp::from_secret(base32);
    slugbase_testkit::totp::code_now(&totp, 0)
}

/// Waits until `/api/health` answers 200.
pub(crate) async fn wait_healthy(client: &Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.expect(client.http.get(client.url("/api/health")), StatusCode::OK).await {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the server did not become healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
