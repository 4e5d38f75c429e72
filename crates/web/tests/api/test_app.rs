//! The test kit's own promise: a dropped [`TestApp`] leaves nothing of its own running, so a
//! test binary's apps do not pile up (and a leaked task cannot touch the next test's state).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use slugbase_testkit::TestApp;
use slugbase_testkit::oidc::with_unreachable_provider;

/// The tasks an app runs on the test's runtime: the server, notice delivery (`mail.transport
/// = "log"` in the test profile), maintenance and the discovery of a provider nobody answers
/// for (retrying). Work a request starts (a token's last-use write) runs on the server's
/// worker runtimes, which end with the server.
const APP_TASKS: usize = 4;

#[tokio::test]
async fn a_dropped_test_app_leaves_no_task_of_its_own_running() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let app = with_unreachable_provider(TestApp::builder()).spawn().await;
    {
        let admin = app.setup_admin().await;
        let bearer = app.api_token(&admin).await;
        bearer.get("/api/auth/me").await.expect(StatusCode::OK);
    }
    let running = metrics.num_alive_tasks() - before;
    assert!(running >= APP_TASKS, "only {running} task(s) counted while the app runs");

    drop(app);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = metrics.num_alive_tasks().saturating_sub(before);
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} task(s) of the dropped app still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
