//! Two instances on one PostgreSQL deliver each notice once (claims with `FOR UPDATE SKIP
//! LOCKED` and a lease), to a real SMTP server on 127.0.0.1.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use slugbase_infrastructure::testing::postgres_url;
use slugbase_testkit::{Backend, SmtpServer, TestApp};

const TOKENS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_deliver_each_notice_once() {
    let Some(smtp) = SmtpServer::start() else { return };
    let Some(url) = postgres_url().await else { return };
    let first = TestApp::builder().backend(Backend::Url(url.clone())).smtp(&smtp).spawn().await;
    let second = TestApp::builder().backend(Backend::Url(url)).smtp(&smtp).spawn().await;
    let mut admin = first.setup_admin().await;

    // Thirty notices ("API token created"), written through the first instance; both
    // instances' delivery tasks are looking for them.
    for i in 0..TOKENS {
        admin.make_token(&format!("token {i}")).await;
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    while smtp.messages().len() < TOKENS {
        assert!(Instant::now() < deadline, "only {} arrived", smtp.messages().len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate the time to show up, if there were one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mails = smtp.messages();
    assert_eq!(mails.len(), TOKENS, "each notice exactly once");
    let ids: BTreeSet<String> = mails.iter().map(|m| m.header("Message-ID").unwrap()).collect();
    assert_eq!(ids.len(), TOKENS, "thirty different notices");

    // Both instances see the same outbox: every notice sent, on its first attempt.
    let other =
        second.login(slugbase_testkit::steps::ADMIN_EMAIL, slugbase_testkit::steps::PASSWORD).await;
    let page = other.get("/api/admin/outbox?limit=200").await.expect(StatusCode::OK);
    let notices = page["notices"].as_array().unwrap();
    assert_eq!(notices.len(), TOKENS);
    assert!(notices.iter().all(|n| n["status"] == "sent" && n["attempts"] == 1), "{page}");
}
