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
        let Some(code) = current_code(&user.totp_base32) else { return false };
        let body = serde_json::json!({ "code": code, "password": PASSWORD });
        let req =
            self.http.post(self.url("/api/auth/mfa/disable")).bearer_auth(&user.token).json(&body);
        self.expect(req, StatusCode::OK).await
    }

    /// Checks the answer of status is what a seeded MFA user must see.
    pub(crate) async fn status_says_enabled(&self, user: &DrivenUser) -> anyhow::Result<()> {
        let res = self
            .http
            .get(self.url("/api/auth/mfa/status"))
            .bearer_auth(&user.token)
            .send()
            .await?
            .error_for_status()?;
        let body: serde_json::Value = res.json().await?;
        anyhow::ensure!(body["enabled"] == true, "a seeded user's MFA status is not enabled");
        anyhow::ensure!(body["backup_codes_remaining"] == 10, "a seeded user lacks backup codes");
        Ok(())
    }
}

/// The current RFC 6238 code for a Base32 secret (SHA-1, 6 digits, 30 s), as an
/// authenticator app computes it.
pub(crate) fn current_code(base32: &str) -> Option<String> {
    let secret = totp_rs::Secret::try_from_base32(base32).ok()?;
    let totp = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .ok()?;
    Some(totp.generate_current().to_string())
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
