//! E-mail notices through a real SMTP server (aiosmtpd on 127.0.0.1, started by the test):
//! each kind arrives at the account's address with its subject and no secret; a server that
//! is down and comes back still gets the notice.

use std::time::Duration;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_testkit::steps::{self, PASSWORD};
use slugbase_testkit::{Api, ReceivedMail, SmtpServer, TestApp};

const USER: &str = "user@example.com";
const WAIT: Duration = Duration::from_secs(15);

/// The one message with `subject` to `USER`.
async fn arrived(smtp: &SmtpServer, subject: &str) -> ReceivedMail {
    smtp.wait_for(WAIT, |m| m.subject() == subject && m.rcpt_tos == [USER]).await
}

fn refs(s: &[String]) -> Vec<&str> {
    s.iter().map(String::as_str).collect()
}

/// Asserts `mail` holds none of `secrets` and has both bodies.
fn assert_clean(mail: &ReceivedMail, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !secret.is_empty() && !mail.data.contains(secret),
            "a secret leaked: {}",
            mail.data
        );
    }
    assert!(mail.data.contains("text/plain") && mail.data.contains("text/html"), "{}", mail.data);
    assert_eq!(mail.header("To").as_deref(), Some(USER));
    assert!(mail.header("Message-ID").is_some_and(|id| id.ends_with("@localhost>")));
    assert!(mail.data.contains("127.0.0.1"), "the address it came from: {}", mail.data);
    assert!(mail.data.contains("If this was not you") || mail.data.contains("If you did not"));
}

async fn outbox(admin: &Api) -> Vec<Value> {
    let page = admin.get("/api/admin/outbox").await.expect(StatusCode::OK);
    page["notices"].as_array().unwrap().clone()
}

/// The outbox once `settled` holds for it: the delivery task marks a notice sent after the
/// mail server has acknowledged it, so a test that saw the mail arrive may read the outbox
/// a moment before that commit.
async fn outbox_once(admin: &Api, settled: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let notices = outbox(admin).await;
        if settled(&notices) || std::time::Instant::now() >= deadline {
            return notices;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_notice_kind_arrives_at_the_accounts_address_without_a_secret() {
    let Some(smtp) = SmtpServer::start() else { return };
    let app = TestApp::builder()
        .smtp(&smtp)
        .with_config(|c| c.security.limits.second_factor_account.lockout_after = 3)
        .spawn()
        .await;
    let mut admin = app.setup_admin().await;
    let created = app.create_user(&admin, USER, Some(PASSWORD)).await;
    let user_id = created["id"].as_str().unwrap().to_owned();
    let mut user = app.login(USER, PASSWORD).await;

    // MFA enabled.
    let (secret, codes) = app.enable_mfa(&user).await;
    let mail = arrived(&smtp, "Two-factor authentication was turned on").await;
    let mut secrets: Vec<String> = vec![secret.clone(), PASSWORD.to_owned()];
    secrets.extend(codes.iter().cloned());
    assert_clean(&mail, &refs(&secrets));

    // Backup codes regenerated.
    let code = app.fresh_code(&secret);
    let body = user
        .post("/api/auth/mfa/backup/regenerate", json!({"code": code, "password": PASSWORD}))
        .await
        .expect(StatusCode::OK);
    let codes = steps::backup_codes(&body);
    secrets.extend(codes.iter().cloned());
    assert_clean(&arrived(&smtp, "New backup codes were generated").await, &refs(&secrets));

    // A backup code used to sign in, with the count left.
    let browser = Api::new(&app.address);
    steps::login_pending(&browser, USER, PASSWORD).await;
    steps::verify(&browser, &codes[0]).await.expect(StatusCode::OK);
    let mail = arrived(&smtp, "A backup code was used to sign in").await;
    assert!(mail.data.contains("Backup codes left: 9."), "{}", mail.data);
    assert_clean(&mail, &refs(&secrets));

    // An API token created.
    let token = user.make_token("deploy bot").await;
    secrets.push(token.clone());
    let mail = arrived(&smtp, "A new API token was created").await;
    assert!(mail.data.contains("deploy bot"), "{}", mail.data);
    assert_clean(&mail, &refs(&secrets));

    // Second-factor lockout: the third wrong code in a row.
    for _ in 0..3 {
        let wrong = app.wrong_code(&secret);
        user.post("/api/auth/mfa/disable", json!({"code": wrong, "password": PASSWORD}))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "INVALID_CODE");
    }
    let mail = arrived(&smtp, "Your account is locked after too many wrong codes").await;
    assert_clean(&mail, &refs(&secrets));

    // MFA reset by an administrator (which also unlocks the account).
    admin
        .post(&format!("/api/admin/users/{user_id}/mfa/reset"), json!({}))
        .await
        .expect(StatusCode::OK);
    let mail = arrived(&smtp, "Two-factor authentication was reset by an administrator").await;
    assert_clean(&mail, &refs(&secrets));

    // MFA disabled by the user.
    user = app.login(USER, PASSWORD).await;
    let (secret, codes) = app.enable_mfa(&user).await;
    secrets.push(secret.clone());
    secrets.extend(codes.iter().cloned());
    let code = app.fresh_code(&secret);
    user.post("/api/auth/mfa/disable", json!({"code": code, "password": PASSWORD}))
        .await
        .expect(StatusCode::OK);
    let mail = arrived(&smtp, "Two-factor authentication was turned off").await;
    assert_clean(&mail, &refs(&secrets));

    // Password changed.
    let new_password = "an entirely new passphrase";
    secrets.push(new_password.to_owned());
    user.post(
        "/api/auth/password",
        json!({"current_password": PASSWORD, "new_password": new_password}),
    )
    .await
    .expect(StatusCode::OK);
    let mail = arrived(&smtp, "Your password was changed").await;
    assert_clean(&mail, &refs(&secrets));

    // Every notice was delivered exactly once, and the outbox says so.
    admin.refresh_csrf().await;
    let all_sent = |notices: &[Value]| {
        notices.iter().filter(|n| n["recipient"] == USER).all(|n| n["status"] == "sent")
    };
    let notices = outbox_once(&admin, all_sent).await;
    let user_notices: Vec<&Value> = notices.iter().filter(|n| n["recipient"] == USER).collect();
    assert_eq!(user_notices.len(), 9, "{notices:#?}");
    assert!(
        user_notices.iter().all(|n| n["status"] == "sent" && n["attempts"] == 1),
        "{notices:#?}"
    );
    let received = smtp.messages().into_iter().filter(|m| m.rcpt_tos == [USER]).count();
    assert_eq!(received, 9);
}

#[tokio::test]
async fn a_notice_written_while_the_mail_server_is_down_arrives_when_it_is_back() {
    let Some(mut smtp) = SmtpServer::start() else { return };
    let app = TestApp::builder().smtp(&smtp).spawn().await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, USER, Some(PASSWORD)).await;
    let user = app.login(USER, PASSWORD).await;
    let (secret, _) = app.enable_mfa(&user).await;
    arrived(&smtp, "Two-factor authentication was turned on").await;

    // The mail server goes down; MFA is disabled over HTTP all the same.
    smtp.stop();
    let code = app.fresh_code(&secret);
    user.post("/api/auth/mfa/disable", json!({"code": code, "password": PASSWORD}))
        .await
        .expect(StatusCode::OK);

    // The delivery fails and is scheduled again (the outbox shows it pending, tried).
    let deadline = std::time::Instant::now() + WAIT;
    let pending = loop {
        let notices = outbox(&admin).await;
        let disabled = notices.iter().find(|n| n["kind"] == "mfa_disabled").cloned();
        if let Some(n) = disabled.filter(|n| n["attempts"].as_u64() >= Some(1)) {
            break n;
        }
        assert!(std::time::Instant::now() < deadline, "no failed attempt: {notices:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(pending["status"], "pending", "{pending}");
    assert!(pending["last_error"].is_string(), "{pending}");
    assert!(
        smtp.messages().iter().all(|m| m.subject() != "Two-factor authentication was turned off")
    );

    // The server comes back; once the backoff has passed, the notice arrives.
    smtp.resume();
    app.clock.advance(TimeDelta::seconds(31));
    let mail = arrived(&smtp, "Two-factor authentication was turned off").await;
    let id = pending["id"].as_str().unwrap();
    assert_eq!(mail.header("Message-ID"), Some(format!("<{id}@localhost>")));
    let disabled_sent = |notices: &[Value]| {
        notices.iter().any(|n| n["kind"] == "mfa_disabled" && n["status"] == "sent")
    };
    let notices = outbox_once(&admin, disabled_sent).await;
    let sent = notices.iter().find(|n| n["kind"] == "mfa_disabled").unwrap();
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["attempts"], 2, "{sent}");
}

#[tokio::test]
async fn a_notice_that_cannot_be_delivered_is_marked_failed_and_audited() {
    let Some(mut smtp) = SmtpServer::start() else { return };
    let app =
        TestApp::builder().smtp(&smtp).with_config(|c| c.mail.smtp.max_attempts = 2).spawn().await;
    smtp.stop();
    let mut admin = app.setup_admin().await;
    app.create_user(&admin, USER, Some(PASSWORD)).await;
    admin.make_token("to fail").await;
    // Two attempts, the second after the backoff; then failed.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        app.clock.advance(TimeDelta::seconds(31));
        let notices = outbox(&admin).await;
        if notices.iter().any(|n| n["status"] == "failed") {
            let failed = notices.iter().find(|n| n["status"] == "failed").unwrap();
            assert_eq!(failed["attempts"], 2, "{failed}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never failed: {notices:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = admin.get("/api/admin/outbox?status=failed").await.expect(StatusCode::OK);
    assert_eq!(failed["notices"].as_array().unwrap().len(), 1, "{failed}");
    let events =
        admin.get("/api/admin/audit-log?event=notice_delivery_failed").await.expect(StatusCode::OK);
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
    admin
        .get("/api/admin/outbox?status=nope")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    let user_api = app.login(USER, PASSWORD).await;
    user_api.get("/api/admin/outbox").await.expect_error(StatusCode::FORBIDDEN, "FORBIDDEN");
}
