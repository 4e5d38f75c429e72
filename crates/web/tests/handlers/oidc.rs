//! The OIDC endpoints over a mocked use case: redirects, cookies and error bodies.

use actix_web::test::TestRequest;
use chrono::Utc;
use slugbase_application::PlainToken;
use slugbase_application::use_cases::oidc_login::{
    BeginOutcome, CallbackOutcome, OidcError, OidcFailure, ProviderSummary,
};
use slugbase_domain::{MfaStanding, ReturnTo};

use crate::support::{Mocks, caller, send, unavailable};

fn set_cookies(answer: &crate::support::Answer) -> Vec<String> {
    answer.headers.get_all("set-cookie").map(|v| v.to_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn providers_are_listed_with_their_callback_url() {
    let mut mocks = Mocks::default();
    mocks.oidc_login.expect_providers().returning(|| {
        vec![ProviderSummary {
            key: "corp".to_owned(),
            display_name: "Corp SSO".to_owned(),
            issuer_url: "https://idp.example.com".to_owned(),
        }]
    });
    let answer = send(mocks, TestRequest::get().uri("/api/auth/providers")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        serde_json::json!([{
            "provider_key": "corp",
            "display_name": "Corp SSO",
            "issuer_url": "https://idp.example.com",
            "callback_url": "http://localhost/api/auth/corp/callback",
        }])
    );
}

#[actix_web::test]
async fn the_login_redirects_to_the_provider_with_an_httponly_flow_cookie() {
    let mut mocks = Mocks::default();
    mocks
        .oidc_login
        .expect_begin()
        .times(1)
        .withf(|key, input| {
            key == "corp"
                && input.return_to.as_ref().map(ReturnTo::as_str) == Some("/here")
                && input.prompt_login
                && input.max_age.as_deref() == Some("60")
        })
        .returning(|_, _| {
            Ok(BeginOutcome {
                redirect_url: "https://idp.example.com/auth?state=s".to_owned(),
                flow: PlainToken::new("flow-id".to_owned()),
            })
        });
    // The use case gets the target as resolved, not as sent.
    let req = TestRequest::get().uri("/api/auth/corp?return_to=/x/../here&prompt=login&max_age=60");
    let answer = send(mocks, req).await;
    assert_eq!(answer.status, 302);
    assert_eq!(answer.header("location"), Some("https://idp.example.com/auth?state=s"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let cookie = set_cookies(&answer)
        .into_iter()
        .find(|c| c.starts_with("slugbase.oidc_flow=flow-id"))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
}

/// An error of the login, and the status and reason (none: a redirect) it answers.
type Row = (fn() -> OidcError, u16, Option<&'static str>);

#[actix_web::test]
async fn login_errors_are_a_404_a_400_or_a_redirect_to_the_login_page() {
    let rows: Vec<Row> = vec![
        (|| OidcError::UnknownProvider, 404, Some("PROVIDER_NOT_FOUND")),
        (|| OidcError::InvalidParameter("return_to"), 400, Some("VALIDATION_FAILED")),
        (|| OidcError::Failed(OidcFailure::ProviderUnavailable), 302, None),
        (|| OidcError::Unexpected(unavailable()), 503, Some("SERVICE_UNAVAILABLE")),
    ];
    for (error, status, reason) in rows {
        let mut mocks = Mocks::default();
        mocks.oidc_login.expect_begin().times(1).returning(move |_, _| Err(error()));
        let answer = send(mocks, TestRequest::get().uri("/api/auth/corp")).await;
        match reason {
            Some(reason) => {
                answer.error(status, reason);
            }
            None => {
                assert_eq!(answer.status, status);
                assert_eq!(answer.header("location"), Some("/login?error=provider_unavailable"));
            }
        }
    }
    // A `return_to` a browser would read as another host never reaches the use case.
    for bad in ["/.//evil.example/x", "/x/..//evil.example/x", "/%09/evil.example", "%5C/evil"] {
        let uri = format!("/api/auth/corp?return_to={bad}");
        let answer = send(Mocks::default(), TestRequest::get().uri(&uri)).await;
        assert_eq!(answer.error(400, "VALIDATION_FAILED"), ["return_to"], "{bad}");
    }
    // `prompt` takes only `login`; a fixed route's other method stays 405.
    let answer = send(Mocks::default(), TestRequest::get().uri("/api/auth/corp?prompt=none")).await;
    assert_eq!(answer.error(400, "VALIDATION_FAILED"), ["prompt"]);
    let answer = send(Mocks::default(), TestRequest::get().uri("/api/auth/logout")).await;
    answer.error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(answer.header("allow"), Some("POST"));
}

#[actix_web::test]
async fn the_callback_signs_in_or_starts_the_mfa_step_or_sends_the_reason() {
    let mut mocks = Mocks::default();
    mocks
        .oidc_login
        .expect_callback()
        .times(1)
        .withf(|key, input, _| {
            key == "corp"
                && input.flow.as_deref() == Some("f1")
                && input.code.as_deref() == Some("c")
                && input.state.as_deref() == Some("s")
        })
        .returning(|_, _, _| {
            Ok(CallbackOutcome::SignedIn {
                user: Box::new(caller().user),
                session: PlainToken::new("sid-1".to_owned()),
                return_to: "/account".to_owned(),
            })
        });
    mocks.mfa_status.expect_standing().times(1).return_const(MfaStanding::NotRequired);
    let req = TestRequest::get()
        .uri("/api/auth/corp/callback?code=c&state=s&iss=x")
        .cookie(actix_web::cookie::Cookie::new("slugbase.oidc_flow", "f1"));
    let answer = send(mocks, req).await;
    assert_eq!(answer.status, 302);
    assert_eq!(answer.header("location"), Some("/account"));
    let cookies = set_cookies(&answer);
    assert!(
        cookies.iter().any(|c| c.starts_with("slugbase.sid=sid-1") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("slugbase.oidc_flow=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );

    // A user the MFA policy holds to enrolment goes to the account page, whatever the
    // login's destination: no other page would work for them.
    let mut mocks = Mocks::default();
    mocks.oidc_login.expect_callback().times(1).returning(|_, _, _| {
        Ok(CallbackOutcome::SignedIn {
            user: Box::new(caller().user),
            session: PlainToken::new("sid-2".to_owned()),
            return_to: "/admin".to_owned(),
        })
    });
    let overdue = MfaStanding::Overdue { started_at: Utc::now(), since: Utc::now() };
    mocks.mfa_status.expect_standing().times(1).return_const(overdue);
    let answer =
        send(mocks, TestRequest::get().uri("/api/auth/corp/callback?code=c&state=s")).await;
    assert_eq!(answer.header("location"), Some("/"));
    assert!(set_cookies(&answer).iter().any(|c| c.starts_with("slugbase.sid=sid-2")));

    let mut mocks = Mocks::default();
    mocks.oidc_login.expect_callback().times(1).returning(|_, _, _| {
        Ok(CallbackOutcome::MfaRequired {
            pending: PlainToken::new("p-1".to_owned()),
            return_to: "/".to_owned(),
        })
    });
    let answer =
        send(mocks, TestRequest::get().uri("/api/auth/corp/callback?code=c&state=s")).await;
    assert_eq!(answer.header("location"), Some("/login?mfa=required"));
    let cookies = set_cookies(&answer);
    assert!(cookies.iter().any(|c| c.starts_with("slugbase.mfa_pending=p-1")), "{cookies:?}");
    assert!(!cookies.iter().any(|c| c.starts_with("slugbase.sid=")), "{cookies:?}");

    // The login's own destination rides along, encoded, for the login page to go on to.
    let mut mocks = Mocks::default();
    mocks.oidc_login.expect_callback().times(1).returning(|_, _, _| {
        Ok(CallbackOutcome::MfaRequired {
            pending: PlainToken::new("p-2".to_owned()),
            return_to: "/admin?tab=a&b=c d".to_owned(),
        })
    });
    let answer =
        send(mocks, TestRequest::get().uri("/api/auth/corp/callback?code=c&state=s")).await;
    assert_eq!(
        answer.header("location"),
        Some("/login?mfa=required&return_to=%2Fadmin%3Ftab%3Da%26b%3Dc+d")
    );

    for failure in [
        OidcFailure::AuthFailed,
        OidcFailure::StateInvalid,
        OidcFailure::AutoCreateDisabled,
        OidcFailure::EmailRequired,
        OidcFailure::EmailUnusable,
        OidcFailure::ProviderUnavailable,
    ] {
        let mut mocks = Mocks::default();
        mocks
            .oidc_login
            .expect_callback()
            .times(1)
            .returning(move |_, _, _| Err(OidcError::Failed(failure)));
        let answer = send(mocks, TestRequest::get().uri("/api/auth/corp/callback")).await;
        assert_eq!(answer.status, 302);
        let expected = format!("/login?error={}", failure.as_str());
        assert_eq!(answer.header("location"), Some(expected.as_str()));
        assert!(!set_cookies(&answer).iter().any(|c| c.starts_with("slugbase.sid=")));
    }
}
