//! The IETF `RateLimit-Policy` and `RateLimit` response fields
//! (draft-ietf-httpapi-ratelimit-headers-10) on every response of a request that met an
//! attempt limit — login, verify, disable, regenerate, enroll confirm, passkey removal and
//! sign-in, password change — so a client knows how many tries it has left before a 429,
//! and when the window ends:
//!
//! ```text
//! RateLimit-Policy: "account";q=10;w=900, "address";q=60;w=900
//! RateLimit: "account";r=7;t=812, "address";r=57;t=812
//! ```
//!
//! `account` is the limit of the account tried (a user's second factor, or the e-mail typed
//! at login), `address` the client address's. No partition key is sent: it would name the
//! account or the address.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use slugbase_application::collaborators::limit_report::{LimitReport, reported};

/// `RateLimit-Policy`.
pub(crate) const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub(crate) const STATE: HeaderName = HeaderName::from_static("ratelimit");

/// Runs the request with a limit report, and adds the fields when a limit applied.
pub(crate) async fn rate_limit_fields(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (res, report) = reported(next.call(req)).await;
    let mut res = res?;
    if let Some(report) = report {
        let (policy, state) = fields(&report);
        let headers = res.headers_mut();
        if let (Ok(policy), Ok(state)) =
            (HeaderValue::from_str(&policy), HeaderValue::from_str(&state))
        {
            headers.insert(POLICY, policy);
            headers.insert(STATE, state);
        }
    }
    Ok(res)
}

/// The two fields' values: structured-field lists of one item per limit.
fn fields(report: &LimitReport) -> (String, String) {
    let policy = report
        .limits
        .iter()
        .map(|l| format!("\"{}\";q={};w={}", l.name, l.quota, l.window_secs))
        .collect::<Vec<_>>()
        .join(", ");
    let state = report
        .limits
        .iter()
        .map(|l| format!("\"{}\";r={};t={}", l.name, l.remaining, l.reset_secs))
        .collect::<Vec<_>>()
        .join(", ");
    (policy, state)
}

#[cfg(test)]
mod tests {
    use slugbase_application::collaborators::limit_report::LimitState;

    use super::*;

    #[test]
    fn the_fields_are_structured_lists_of_one_item_per_limit() {
        let limit = |name, remaining| LimitState {
            name,
            quota: 10,
            window_secs: 900,
            remaining,
            reset_secs: 812,
        };
        let report = LimitReport { limits: vec![limit("account", 7), limit("address", 57)] };
        let (policy, state) = fields(&report);
        assert_eq!(policy, r#""account";q=10;w=900, "address";q=10;w=900"#);
        assert_eq!(state, r#""account";r=7;t=812, "address";r=57;t=812"#);
    }
}
