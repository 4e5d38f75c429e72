//! End to end over the real binary: a full MFA lifecycle over HTTP, then SIGKILL in the
//! middle of a burst of concurrent requests, a restart over the same SQLite file, and a
//! check that no acknowledged change was lost and that no account is half-way (MFA off
//! with backup codes left, or MFA on without codes).
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Env, totp_code, user_list};
use reqwest::StatusCode;
use serde_json::json;
use slugbase_testkit::Api;
use slugbase_testkit::steps;
use tokio::sync::Mutex;

const WORKERS: usize = 6;
const WORKER_PASSWORD: &str = "worker password 123";
/// Acknowledged MFA steps before each kill.
const KILL_AFTER_ACKS: usize = 90;
/// Burst, kill, restart, check: this many times over the same database.
const ROUNDS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mfa {
    Off,
    On,
}

/// What a worker knows: the state the server last acknowledged and the operation that
/// was in flight (sent, no answer) when the server died.
#[derive(Debug)]
struct Worker {
    acknowledged: Mfa,
    in_flight: Option<Mfa>,
    cycles: usize,
}

/// Reads the database directly (the server is dead): no account may be half-way.
async fn assert_no_half_applied_rows(env: &Env) {
    use sea_orm::{ConnectionTrait as _, Database, Statement};
    let db = Database::connect(&env.db_url).await.unwrap();
    let backend = db.get_database_backend();
    let count = |sql: &'static str| {
        let db = &db;
        async move {
            let row =
                db.query_one_raw(Statement::from_string(backend, sql)).await.unwrap().unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    let off_with_codes = count(
        "SELECT COUNT(*) AS n FROM users u WHERE u.mfa_enabled = FALSE \
         AND EXISTS (SELECT 1 FROM backup_codes b WHERE b.user_id = u.id)",
    )
    .await;
    assert_eq!(off_with_codes, 0, "MFA off but backup codes left");
    let on_without_codes = count(
        "SELECT COUNT(*) AS n FROM users u WHERE u.mfa_enabled = TRUE \
         AND NOT EXISTS (SELECT 1 FROM backup_codes b WHERE b.user_id = u.id AND b.used_at IS NULL)",
    )
    .await;
    assert_eq!(on_without_codes, 0, "MFA on without backup codes");
    // MFA on means a factor: a TOTP secret or a passkey.
    let on_without_factor = count(
        "SELECT COUNT(*) AS n FROM users u WHERE u.mfa_enabled = TRUE \
         AND ((u.mfa_secret IS NULL \
               AND NOT EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id)) \
              OR u.mfa_enrolled_at IS NULL)",
    )
    .await;
    assert_eq!(on_without_factor, 0, "MFA on without a factor");
    let enabled = count("SELECT COUNT(*) AS n FROM users WHERE mfa_enabled = TRUE").await;
    let codes = count(
        "SELECT COUNT(*) AS n FROM backup_codes b JOIN users u ON u.id = b.user_id \
         WHERE u.mfa_enabled = TRUE AND b.used_at IS NULL",
    )
    .await;
    assert_eq!(codes, enabled * 10, "every enabled account holds its full set of codes");
    db.close().await.unwrap();
}

/// Reads a worker's MFA state through the API and checks it is whole.
async fn observed_state(api: &Api) -> Mfa {
    let reply = api.get("/api/auth/mfa/status").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let enabled = reply.body["enabled"].as_bool().unwrap();
    let remaining = reply.body["backup_codes_remaining"].as_u64().unwrap();
    if enabled {
        assert_eq!(remaining, 10, "MFA on must come with its full set of codes: {reply:?}");
        Mfa::On
    } else {
        assert_eq!(remaining, 0, "MFA off must leave no backup code: {reply:?}");
        Mfa::Off
    }
}

/// One worker: enroll, confirm, disable with a backup code, again and again, recording
/// every acknowledged state until the server stops answering.
async fn churn(api: Api, state: Arc<Mutex<Worker>>, acks: Arc<AtomicUsize>) {
    loop {
        let Ok(begin) =
            api.send(reqwest::Method::POST, "/api/auth/mfa/enroll/begin", Some(&json!({}))).await
        else {
            return;
        };
        assert_eq!(begin.status, StatusCode::OK, "{begin:?}");
        let url = begin.body["otpauth_url"].as_str().unwrap().to_owned();
        acks.fetch_add(1, Ordering::SeqCst);

        state.lock().await.in_flight = Some(Mfa::On);
        let body = json!({ "code": totp_code(&url, 0) });
        let Ok(confirm) =
            api.send(reqwest::Method::POST, "/api/auth/mfa/enroll/confirm", Some(&body)).await
        else {
            return;
        };
        assert_eq!(confirm.status, StatusCode::OK, "{confirm:?}");
        let codes = steps::backup_codes(&confirm.body);
        assert_eq!(codes.len(), 10);
        {
            let mut s = state.lock().await;
            s.acknowledged = Mfa::On;
            s.in_flight = None;
        }
        acks.fetch_add(1, Ordering::SeqCst);

        state.lock().await.in_flight = Some(Mfa::Off);
        let body = json!({ "code": codes[3], "password": WORKER_PASSWORD });
        let Ok(disable) =
            api.send(reqwest::Method::POST, "/api/auth/mfa/disable", Some(&body)).await
        else {
            return;
        };
        assert_eq!(disable.status, StatusCode::OK, "{disable:?}");
        {
            let mut s = state.lock().await;
            s.acknowledged = Mfa::Off;
            s.in_flight = None;
            s.cycles += 1;
        }
        acks.fetch_add(1, Ordering::SeqCst);
    }
}

/// The admin creates accounts one after the other; returns the acknowledged e-mails and
/// the one in flight.
async fn create_accounts(
    admin: Api,
    round: usize,
    acked: Arc<Mutex<Vec<String>>>,
    in_flight: Arc<Mutex<Option<String>>>,
) {
    for i in 0.. {
        let email = format!("burst{round}-{i}@example.com");
        *in_flight.lock().await = Some(email.clone());
        let body =
            json!({ "email": email, "name": format!("Burst {i}"), "password": "burst password 1" });
        let Ok(reply) = admin.send(reqwest::Method::POST, "/api/admin/users", Some(&body)).await
        else {
            return;
        };
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        acked.lock().await.push(email);
        *in_flight.lock().await = None;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_change_is_lost_and_nothing_is_half_applied_after_sigkill_on_sqlite() {
    crash_rounds(Env::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_change_is_lost_and_nothing_is_half_applied_after_sigkill_on_postgres() {
    let Some(url) = common::fresh_postgres_database().await else {
        eprintln!("skipped: DATABASE_URL is not set");
        return;
    };
    crash_rounds(Env::with_database(&url)).await;
}

/// Setup, then [`ROUNDS`] × (burst, SIGKILL, direct database check, restart, API check),
/// then a full MFA lifecycle on the restarted server.
async fn crash_rounds(env: Env) {
    let mut server = env.start("serve-1.log", "info,sqlx=warn,sea_orm=warn").await;

    // First administrator, a token for the admin API.
    let mut admin = steps::setup_admin(&server.base).await;
    admin.make_token("admin automation").await;

    // Workers: created by the admin, each logs in and makes its own token.
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        let email = format!("worker{i}@example.com");
        steps::create_user(&admin, &email, Some(WORKER_PASSWORD)).await;
        let mut api = steps::login(&server.base, &email, WORKER_PASSWORD).await;
        api.make_token("worker").await;
        // Bearer only from here on (a cookie would make the requests cookie-authenticated).
        workers.push(api.rebased(&server.base));
    }

    let mut admin = admin.rebased(&server.base);
    let mut states: Vec<_> = (0..WORKERS)
        .map(|_| {
            Arc::new(Mutex::new(Worker { acknowledged: Mfa::Off, in_flight: None, cycles: 0 }))
        })
        .collect();
    let mut acked_accounts: Vec<String> = Vec::new();
    let mut maybe_accounts: Vec<String> = Vec::new();

    for round in 0..ROUNDS {
        // The burst, cut by SIGKILL.
        let acks = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (api, state) in workers.iter().zip(&states) {
            tasks.push(tokio::spawn(churn(api.clone(), state.clone(), acks.clone())));
        }
        let created = Arc::new(Mutex::new(Vec::new()));
        let creating = Arc::new(Mutex::new(None));
        tasks.push(tokio::spawn(create_accounts(
            admin.clone(),
            round,
            created.clone(),
            creating.clone(),
        )));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while acks.load(Ordering::SeqCst) < KILL_AFTER_ACKS {
            if tasks.iter().any(tokio::task::JoinHandle::is_finished) {
                break; // a failed assertion: surface it below
            }
            assert!(std::time::Instant::now() < deadline, "the burst made too little progress");
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        server.kill();
        for task in tasks {
            task.await.unwrap();
        }
        let round_accounts = created.lock().await.clone();
        assert!(!round_accounts.is_empty(), "the admin burst acknowledged nothing");
        acked_accounts.extend(round_accounts);
        maybe_accounts.extend(creating.lock().await.clone());

        // What is on disk, read straight from the SQLite file: no half-applied row.
        assert_no_half_applied_rows(&env).await;

        // Restart over the same file.
        server =
            env.start(&format!("serve-{}.log", round + 2), "info,sqlx=warn,sea_orm=warn").await;
        admin = admin.rebased(&server.base);
        workers = workers.iter().map(|w| w.rebased(&server.base)).collect();

        // Every acknowledged account exists.
        let listed = admin.get("/api/admin/users").await;
        assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
        let emails: Vec<String> = user_list(&listed.body)
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect();
        for email in &acked_accounts {
            assert!(emails.contains(email), "acknowledged account {email} was lost");
        }
        for email in emails.iter().filter(|e| e.starts_with("burst")) {
            assert!(
                acked_accounts.contains(email) || maybe_accounts.contains(email),
                "{email} exists but was never requested"
            );
        }

        // Every worker is whole, in its acknowledged state or the one in flight; tokens
        // survived the crash. The worker goes on from what it sees.
        let mut total_cycles = 0;
        for (api, state) in workers.iter().zip(&mut states) {
            let mut s = state.lock().await;
            total_cycles += s.cycles;
            let seen = observed_state(api).await;
            assert!(
                seen == s.acknowledged || Some(seen) == s.in_flight,
                "worker saw {seen:?}, acknowledged {:?}, in flight {:?}",
                s.acknowledged,
                s.in_flight
            );
            if seen == Mfa::On {
                // Its codes may be unknown (the confirm's answer was lost): an audited
                // admin reset, as an operator would do.
                let me = api.get("/api/auth/me").await;
                let id = me.body["id"].as_str().unwrap().to_owned();
                let reset =
                    admin.post(&format!("/api/admin/users/{id}/mfa/reset"), json!({})).await;
                assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
                assert_eq!(observed_state(api).await, Mfa::Off);
            }
            s.acknowledged = Mfa::Off;
            s.in_flight = None;
        }
        assert!(total_cycles > 0, "no worker completed a cycle before the kill");
        eprintln!(
            "round {round}: killed after {} acknowledged MFA steps; {total_cycles} cycles and {} accounts so far",
            acks.load(Ordering::SeqCst),
            acked_accounts.len()
        );
    }

    // Life goes on after the restart: a worker enrolls, signs in with MFA, disables.
    let email = "worker0@example.com";
    let token_api = workers[0].clone();
    assert_eq!(observed_state(&token_api).await, Mfa::Off);
    let enrolled = steps::enroll_mfa(&token_api, steps::wall_code).await;
    let (url, codes) = (enrolled.otpauth_url, enrolled.backup_codes);

    let code = totp_code(&url, 1);
    let api = steps::login_with_mfa(&server.base, email, WORKER_PASSWORD, &code).await;
    let disable = api
        .post("/api/auth/mfa/disable", json!({ "code": codes[0], "password": WORKER_PASSWORD }))
        .await;
    assert_eq!(disable.status, StatusCode::OK, "{disable:?}");
    assert_eq!(observed_state(&api).await, Mfa::Off);
}
