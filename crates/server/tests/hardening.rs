//! Security hardening, end to end over the real `slugbase` binary.
//!
//! - Two instances (two processes, no shared memory) on one PostgreSQL database, and the
//!   same on one MariaDB database: a TOTP code used on one is refused on the other, attempt
//!   limits add up across both, one backup code carried by 100 concurrent disables spread
//!   over both succeeds exactly once, concurrent enrollment confirmations over both enable
//!   MFA once; disabling MFA on one ends the user's sessions made on the other.
//! - Brute force: wrong codes hit 429 at the configured count, a correct code then waits
//!   too, and waiting out `Retry-After` is enough — on SQLite (one instance), PostgreSQL
//!   and MariaDB (two instances each).
//! - Client addresses: the per-address limit believes `X-Forwarded-For` only from a
//!   configured trusted proxy.
//! - Lockout: consecutive failures across windows lock the account until an administrator
//!   resets its MFA; the audit log, filtered by user and event, records it.
//! - Retention: audit events past `audit.retention_days` and expired sessions are purged
//!   while the server runs.
//! - Key rotation: `slugbase keys rotate` re-encrypts stored secrets under the new key, a
//!   missing key is reported by name, and only the new key is needed afterwards (SQLite and
//!   MariaDB).
//! - Login timing (ignored by default: a figure, not an assertion): unknown e-mail versus
//!   wrong password with production Argon2.
//!
//! PostgreSQL and MariaDB come from `slugbase_infrastructure::testing` (a fresh database per
//! test; one `skipping … tests` line without the server, a failure under `CI=true`).
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{BIN, Env, Server, totp_code};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use slugbase_infrastructure::testing::{mysql_url, postgres_url};
use slugbase_testkit::steps::{self, ADMIN_EMAIL, PASSWORD, login_pending, verify};
use slugbase_testkit::{Api, Reply};

const LOG: &str = "info,sqlx=warn,sea_orm=warn";

/// The first administrator, with MFA enabled and a personal API token.
struct MfaAccount {
    otpauth_url: String,
    backup_codes: Vec<String>,
    token: String,
}

async fn admin_with_mfa(base: &str) -> MfaAccount {
    let admin = steps::setup_admin(base).await;
    let token = steps::create_token(&admin, "hardening").await;
    let enrolled = steps::enroll_mfa(&admin, steps::wall_code).await;
    MfaAccount { otpauth_url: enrolled.otpauth_url, backup_codes: enrolled.backup_codes, token }
}

/// Six digits that are no valid code for the secret anywhere near now.
fn wrong_code(otpauth_url: &str) -> String {
    let totp = slugbase_testkit::totp::from_url(otpauth_url);
    slugbase_testkit::totp::wrong_code_at(&totp, chrono::Utc::now())
}

/// The server databases the two-instance tests run on.
#[derive(Clone, Copy, Debug)]
enum Shared {
    Postgres,
    MariaDb,
}

/// Starts `count` instances on one fresh database of `shared`, one after the other (each
/// migrates on start), or `None` without that server.
async fn instances(
    env: &Env,
    shared: Shared,
    count: usize,
    vars: &[(&str, &str)],
) -> Option<Vec<Server>> {
    let url = match shared {
        Shared::Postgres => postgres_url().await?,
        Shared::MariaDb => mysql_url().await?,
    };
    let mut all = vec![("SLUGBASE__DATABASE__URL", url.as_str())];
    all.extend_from_slice(vars);
    let mut servers = Vec::new();
    for i in 0..count {
        servers.push(env.start_with(&format!("instance-{i}.log"), LOG, &all).await);
    }
    Some(servers)
}

/// The base URLs of two instances.
fn bases(servers: &[Server]) -> [String; 2] {
    [servers[0].base.clone(), servers[1].base.clone()]
}

/// A scenario over two instances as one test on PostgreSQL and one on MariaDB:
/// `two_instances!(scenario, vars; postgres_test_name, mariadb_test_name)`, where
/// `scenario(&[String; 2])` gets the instances' base URLs.
macro_rules! two_instances {
    ($scenario:ident, $vars:expr; $postgres:ident, $mariadb:ident) => {
        #[tokio::test]
        async fn $postgres() {
            let env = Env::new();
            let Some(servers) = instances(&env, Shared::Postgres, 2, &$vars).await else {
                return;
            };
            $scenario(&bases(&servers)).await;
        }

        #[tokio::test]
        async fn $mariadb() {
            let env = Env::new();
            let Some(servers) = instances(&env, Shared::MariaDb, 2, &$vars).await else {
                return;
            };
            $scenario(&bases(&servers)).await;
        }
    };
}

// ---------------------------------------------------------------------------------------
// Two instances on one PostgreSQL or MariaDB database
// ---------------------------------------------------------------------------------------

two_instances!(
    totp_code_once_across_instances, [];
    a_totp_code_used_on_one_instance_is_refused_on_the_other,
    a_totp_code_used_on_one_mariadb_instance_is_refused_on_the_other
);

async fn totp_code_once_across_instances([a, b]: &[String; 2]) {
    let account = admin_with_mfa(a).await;
    let code = totp_code(&account.otpauth_url, 1);

    // Signed in on A with the code.
    let on_a = Api::new(a);
    login_pending(&on_a, ADMIN_EMAIL, PASSWORD).await;
    let verified = verify(&on_a, &code).await;
    assert_eq!(verified.status, StatusCode::OK, "{verified:?}");

    // The same code on B: refused at sign-in and at disable.
    let on_b = Api::new(b);
    login_pending(&on_b, ADMIN_EMAIL, PASSWORD).await;
    let replayed = verify(&on_b, &code).await;
    assert_eq!((replayed.status, replayed.reason()), (StatusCode::UNAUTHORIZED, "INVALID_CODE"));
    let bearer = Api::with_bearer(b, &account.token);
    let disable =
        bearer.post("/api/auth/mfa/disable", json!({ "code": code, "password": PASSWORD })).await;
    assert_eq!((disable.status, disable.reason()), (StatusCode::BAD_REQUEST, "INVALID_CODE"));

    // B itself works: the pending state survives one wrong code and takes a backup code.
    let backup = verify(&on_b, &account.backup_codes[0]).await;
    assert_eq!(backup.status, StatusCode::OK, "{backup:?}");
}

two_instances!(
    disable_ends_sessions_across_instances, [];
    disabling_mfa_on_one_instance_ends_the_sessions_made_on_the_other,
    disabling_mfa_on_one_mariadb_instance_ends_the_sessions_made_on_the_other
);

async fn disable_ends_sessions_across_instances([a, b]: &[String; 2]) {
    let account = admin_with_mfa(a).await;
    let on_b = Api::new(b);
    login_pending(&on_b, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(verify(&on_b, &account.backup_codes[0]).await.status, StatusCode::OK);
    assert_eq!(on_b.get("/api/auth/me").await.status, StatusCode::OK);

    let bearer = Api::with_bearer(a, &account.token);
    let code = totp_code(&account.otpauth_url, 1);
    let disable =
        bearer.post("/api/auth/mfa/disable", json!({ "code": code, "password": PASSWORD })).await;
    assert_eq!(disable.status, StatusCode::OK, "{disable:?}");

    let me = on_b.get("/api/auth/me").await;
    assert_eq!((me.status, me.reason()), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"));
    // API tokens are not sessions: they keep working, on either instance.
    let me = bearer.at(b).get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["mfa_enabled"], json!(false));
}

two_instances!(
    attempt_limits_across_instances,
    [("SLUGBASE__SECURITY__LIMITS__SECOND_FACTOR_ACCOUNT__MAX_FAILURES", "4")];
    attempt_limits_add_up_across_two_instances,
    attempt_limits_add_up_across_two_mariadb_instances
);

async fn attempt_limits_across_instances(bases: &[String; 2]) {
    let account = admin_with_mfa(&bases[0]).await;
    let bearer = Api::with_bearer(&bases[0], &account.token);
    let wrong = json!({ "code": wrong_code(&account.otpauth_url), "password": PASSWORD });

    // Two wrong codes on each instance: each instance alone is under its limit of 4.
    for i in 0..4 {
        let reply = bearer.at(&bases[i % 2]).post("/api/auth/mfa/disable", wrong.clone()).await;
        assert_eq!((reply.status, reply.reason()), (StatusCode::BAD_REQUEST, "INVALID_CODE"));
    }
    // Together they reached it: both refuse now, even a correct backup code.
    for base in bases {
        let right = json!({ "code": account.backup_codes[0], "password": PASSWORD });
        let reply = bearer.at(base).post("/api/auth/mfa/disable", right).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{reply:?}");
        assert_eq!(reply.reason(), "TOO_MANY_ATTEMPTS");
        assert!(reply.retry_after().is_some_and(|s| (1..=900).contains(&s)), "{reply:?}");
    }
    let status = bearer.at(&bases[1]).get("/api/auth/mfa/status").await;
    assert_eq!(status.body["enabled"], json!(true));
    assert_eq!(status.body["backup_codes_remaining"], json!(10));
}

/// Limits out of the way: in a race of 100, the 99 losers would otherwise lock the account
/// before the winner's request is even looked at, and the test would prove nothing.
const NO_LIMITS: [(&str, &str); 2] = [
    ("SLUGBASE__SECURITY__LIMITS__SECOND_FACTOR_ACCOUNT__MAX_FAILURES", "1000"),
    ("SLUGBASE__SECURITY__LIMITS__ADDRESS__MAX_FAILURES", "1000"),
];

two_instances!(
    one_backup_code_once_across_instances, NO_LIMITS;
    one_backup_code_in_100_concurrent_disables_over_two_instances_succeeds_once,
    one_backup_code_in_100_concurrent_disables_over_two_mariadb_instances_succeeds_once
);

async fn one_backup_code_once_across_instances(bases: &[String; 2]) {
    let account = admin_with_mfa(&bases[0]).await;
    let bearer = Api::with_bearer(&bases[0], &account.token);
    let body = json!({ "code": account.backup_codes[3], "password": PASSWORD });

    let start = std::sync::Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (http, body, start) = (bearer.at(&bases[i % 2]), body.clone(), start.clone());
        tasks.spawn(async move {
            start.wait().await;
            http.post("/api/auth/mfa/disable", body).await
        });
    }
    let mut ok = 0;
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.unwrap();
        match reply.status {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => {
                assert!(["INVALID_CODE", "MFA_NOT_ENABLED"].contains(&reply.reason()), "{reply:?}");
            }
            _ => panic!("unexpected answer: {reply:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one disable may spend the backup code");
    for base in bases {
        let status = bearer.at(base).get("/api/auth/mfa/status").await;
        assert_eq!(status.body["enabled"], json!(false), "{status:?}");
        assert_eq!(status.body["backup_codes_remaining"], json!(0), "{status:?}");
    }
}

two_instances!(
    one_enrollment_confirmed_across_instances, NO_LIMITS;
    concurrent_enrollment_confirms_over_two_instances_enable_mfa_once,
    concurrent_enrollment_confirms_over_two_mariadb_instances_enable_mfa_once
);

/// 40 confirmations of one pending enrollment with the same right code, at once, spread over
/// both instances: exactly one enables MFA and gets the backup codes; the others are told
/// MFA is already on or the code was used (the step was taken), never a 5xx; ten codes are
/// stored.
async fn one_enrollment_confirmed_across_instances(bases: &[String; 2]) {
    let admin = steps::setup_admin(&bases[0]).await;
    let token = steps::create_token(&admin, "race").await;
    let bearer = Api::with_bearer(&bases[0], &token);
    let begin = bearer.post("/api/auth/mfa/enroll/begin", json!({})).await;
    assert_eq!(begin.status, StatusCode::OK, "{begin:?}");
    let otpauth_url = begin.body["otpauth_url"].as_str().unwrap().to_owned();
    let code = totp_code(&otpauth_url, 0);
    let replies = burst(40, "/api/auth/mfa/enroll/confirm", |i| {
        (bearer.at(&bases[i % 2]), json!({ "code": code }))
    })
    .await;
    let mut winners = Vec::new();
    for reply in &replies {
        match (reply.status, reply.reason()) {
            (StatusCode::OK, _) => winners.push(steps::backup_codes(&reply.body)),
            (StatusCode::CONFLICT | StatusCode::BAD_REQUEST, reason) => assert!(
                ["MFA_ALREADY_ENABLED", "INVALID_CODE", "MFA_NO_PENDING"].contains(&reason),
                "{reply:?}"
            ),
            _ => panic!("unexpected answer: {reply:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one confirmation enables MFA");
    assert_eq!(winners[0].len(), 10);
    for base in bases {
        let status = bearer.at(base).get("/api/auth/mfa/status").await;
        assert_eq!(status.body["enabled"], json!(true), "{status:?}");
        assert_eq!(status.body["backup_codes_remaining"], json!(10), "{status:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Simultaneous guesses: the limits hold when every guess arrives at the same moment
// ---------------------------------------------------------------------------------------

/// Requests in one burst (the attack the limits must survive).
const BURST: usize = 200;

/// Sends `count` requests built by `make(i)` (a client and a body for `path`) all at once —
/// each task waits at one barrier, then sends — and returns every reply.
async fn burst(
    count: usize,
    path: &'static str,
    make: impl Fn(usize) -> (Api, Value),
) -> Vec<Reply> {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(count));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let (http, body) = make(i);
        let start = start.clone();
        tasks.spawn(async move {
            start.wait().await;
            http.post(path, body).await
        });
    }
    let mut replies = Vec::with_capacity(count);
    while let Some(reply) = tasks.join_next().await {
        replies.push(reply.unwrap());
    }
    replies
}

/// How many replies of a burst were evaluated guesses (`evaluated`: status and reason);
/// every other reply must be a 429 `TOO_MANY_ATTEMPTS` with a `Retry-After` inside the
/// window, or one of `also` (a documented answer for a request that was not evaluated
/// either). No 5xx, nothing else.
fn evaluated_guesses(
    replies: &[Reply],
    evaluated: (StatusCode, &str),
    also: &[(StatusCode, &str)],
) -> usize {
    let mut count = 0;
    for reply in replies {
        let answer = (reply.status, reply.reason());
        if answer == evaluated {
            count += 1;
        } else if answer == (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS") {
            assert!(reply.retry_after().is_some_and(|s| (1..=900).contains(&s)), "{reply:?}");
            assert_eq!(reply.body["code"], json!(429), "{reply:?}");
        } else {
            assert!(also.contains(&answer), "unexpected answer in a burst: {reply:?}");
        }
    }
    count
}

const INVALID_CREDENTIALS: (StatusCode, &str) = (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
const INVALID_CODE: (StatusCode, &str) = (StatusCode::BAD_REQUEST, "INVALID_CODE");
/// `POST /api/auth/mfa/verify`'s answer to a wrong code (401, as SlugBase's login step).
const VERIFY_INVALID_CODE: (StatusCode, &str) = (StatusCode::UNAUTHORIZED, "INVALID_CODE");
const PENDING_INVALID: (StatusCode, &str) = (StatusCode::UNAUTHORIZED, "MFA_PENDING_INVALID");

/// 200 wrong passwords for one e-mail at once, spread over `bases`: exactly the
/// per-e-mail limit (10) is evaluated.
async fn login_burst_on_one_email(bases: &[String]) {
    steps::setup_admin(&bases[0]).await;
    let replies = burst(BURST, "/api/auth/login", |i| {
        let body = json!({ "email": ADMIN_EMAIL, "password": format!("wrong password {i}") });
        (Api::new(&bases[i % bases.len()]), body)
    })
    .await;
    assert_eq!(evaluated_guesses(&replies, INVALID_CREDENTIALS, &[]), 10);
}

/// 200 wrong second factors for one account at once (right password, wrong TOTP codes,
/// over an API token), spread over `bases`: exactly the per-account limit (10) is
/// evaluated, and MFA stays on.
async fn disable_burst_on_one_account(bases: &[String]) {
    let account = admin_with_mfa(&bases[0]).await;
    let bearer = Api::with_bearer(&bases[0], &account.token);
    let wrong = wrong_code(&account.otpauth_url);
    let replies = burst(BURST, "/api/auth/mfa/disable", |i| {
        let body = json!({ "code": wrong, "password": PASSWORD });
        (bearer.at(&bases[i % bases.len()]), body)
    })
    .await;
    assert_eq!(evaluated_guesses(&replies, INVALID_CODE, &[]), 10);
    let status = bearer.get("/api/auth/mfa/status").await;
    assert_eq!(status.body["enabled"], json!(true), "{status:?}");
}

/// 300 wrong codes on one pending-MFA login at once, spread over `bases`: at most the
/// pending state's own budget (5) is evaluated; the state is then gone (401
/// `MFA_PENDING_INVALID`) or the account's limit answers 429.
async fn verify_burst_on_one_pending_state(bases: &[String]) {
    let account = admin_with_mfa(&bases[0]).await;
    let login = Api::new(&bases[0]);
    login_pending(&login, ADMIN_EMAIL, PASSWORD).await;
    let wrong = wrong_code(&account.otpauth_url);
    let replies = burst(300, "/api/auth/mfa/verify", |i| {
        (login.at(&bases[i % bases.len()]), json!({ "code": wrong }))
    })
    .await;
    let evaluated = evaluated_guesses(&replies, VERIFY_INVALID_CODE, &[PENDING_INVALID]);
    assert!((1..=5).contains(&evaluated), "{evaluated} guesses evaluated on one pending state");
}

#[tokio::test]
async fn simultaneous_wrong_passwords_on_sqlite_evaluate_at_most_the_email_limit() {
    let env = Env::new();
    let server = env.start("burst-login.log", LOG).await;
    login_burst_on_one_email(std::slice::from_ref(&server.base)).await;
}

#[tokio::test]
async fn simultaneous_logins_from_one_address_on_sqlite_evaluate_at_most_the_address_limit() {
    let env = Env::new();
    let server = env.start("burst-address.log", LOG).await;
    // 200 different e-mails, one address: each e-mail is far under its own limit.
    let replies = burst(BURST, "/api/auth/login", |i| {
        let body = json!({ "email": format!("user{i}@example.com"), "password": "wrong one" });
        (Api::new(&server.base), body)
    })
    .await;
    assert_eq!(evaluated_guesses(&replies, INVALID_CREDENTIALS, &[]), 60);
}

#[tokio::test]
async fn simultaneous_wrong_codes_at_disable_on_sqlite_evaluate_at_most_the_account_limit() {
    let env = Env::new();
    let server = env.start("burst-disable.log", LOG).await;
    disable_burst_on_one_account(std::slice::from_ref(&server.base)).await;
}

#[tokio::test]
async fn simultaneous_wrong_codes_at_verify_on_sqlite_evaluate_at_most_the_pending_budget() {
    let env = Env::new();
    let server = env.start("burst-verify.log", LOG).await;
    verify_burst_on_one_pending_state(std::slice::from_ref(&server.base)).await;
}

two_instances!(
    login_burst_on_one_email, [];
    simultaneous_wrong_passwords_over_two_postgresql_instances_evaluate_at_most_the_limit,
    simultaneous_wrong_passwords_over_two_mariadb_instances_evaluate_at_most_the_limit
);

two_instances!(
    disable_burst_on_one_account, [];
    simultaneous_wrong_codes_at_disable_over_two_postgresql_instances_evaluate_at_most_the_limit,
    simultaneous_wrong_codes_at_disable_over_two_mariadb_instances_evaluate_at_most_the_limit
);

two_instances!(
    verify_burst_on_one_pending_state, [];
    simultaneous_wrong_codes_at_verify_over_two_postgresql_instances_evaluate_at_most_the_budget,
    simultaneous_wrong_codes_at_verify_over_two_mariadb_instances_evaluate_at_most_the_budget
);

// ---------------------------------------------------------------------------------------
// Brute force
// ---------------------------------------------------------------------------------------

/// Second-factor failures allowed per window in the brute-force tests.
const BRUTE_LIMIT: usize = 3;
/// Their window, seconds: long enough for the requests of the test under load, short
/// enough to wait out.
const BRUTE_WINDOW: &str = "6";
const BRUTE_VARS: [(&str, &str); 2] = [
    ("SLUGBASE__SECURITY__LIMITS__SECOND_FACTOR_ACCOUNT__MAX_FAILURES", "3"),
    ("SLUGBASE__SECURITY__LIMITS__SECOND_FACTOR_ACCOUNT__WINDOW_SECS", BRUTE_WINDOW),
];

/// Wrong codes at sign-in, spread over `bases`, until the limit; then the right code waits
/// until `Retry-After` has passed, and works right after.
async fn brute_force(bases: &[String]) {
    let account = admin_with_mfa(&bases[0]).await;
    let login = Api::new(&bases[0]);
    login_pending(&login, ADMIN_EMAIL, PASSWORD).await;
    let instance = |i: usize| login.at(&bases[i % bases.len()]);

    for i in 0..BRUTE_LIMIT {
        let reply = verify(&instance(i), &wrong_code(&account.otpauth_url)).await;
        assert_eq!((reply.status, reply.reason()), (StatusCode::UNAUTHORIZED, "INVALID_CODE"));
    }
    let limited = verify(&instance(BRUTE_LIMIT), &totp_code(&account.otpauth_url, 1)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    assert_eq!(limited.reason(), "TOO_MANY_ATTEMPTS");
    assert_eq!(limited.body["code"], json!(429));
    let window: u64 = BRUTE_WINDOW.parse().unwrap();
    let wait = limited.retry_after().expect("Retry-After");
    assert!((1..=window).contains(&wait), "Retry-After {wait}");
    // A backup code waits as well: the limit is on the account, not on the kind of code.
    let backup = verify(&instance(BRUTE_LIMIT + 1), &account.backup_codes[0]).await;
    assert_eq!(backup.status, StatusCode::TOO_MANY_REQUESTS, "{backup:?}");

    // Honour Retry-After, exactly: then the right code signs in.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let reply = verify(&instance(BRUTE_LIMIT + 2), &totp_code(&account.otpauth_url, 1)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
async fn brute_force_on_sqlite_hits_429_at_the_configured_count_and_retry_after_is_honoured() {
    let env = Env::new();
    let server = env.start_with("brute.log", LOG, &BRUTE_VARS).await;
    brute_force(std::slice::from_ref(&server.base)).await;
}

two_instances!(
    brute_force, BRUTE_VARS;
    brute_force_over_two_postgresql_instances_hits_429_and_retry_after_is_honoured,
    brute_force_over_two_mariadb_instances_hits_429_and_retry_after_is_honoured
);

/// Consecutive failures across windows lock the account until an administrator resets its
/// MFA; the reset unlocks it, and the audit log, filtered by user and event, shows it all.
#[tokio::test]
async fn consecutive_failures_lock_the_account_until_an_admin_reset() {
    let env = Env::new();
    let vars = [
        ("SLUGBASE__SECURITY__LIMITS__SECOND_FACTOR_ACCOUNT__MAX_FAILURES", "3"),
        ("SLUGBASE__SECURITY__LIMITS__SECOND_FACTOR_ACCOUNT__WINDOW_SECS", "4"),
        ("SLUGBASE__SECURITY__LIMITS__SECOND_FACTOR_ACCOUNT__LOCKOUT_AFTER", "5"),
    ];
    let server = env.start_with("lockout.log", LOG, &vars).await;
    let admin = steps::setup_admin(&server.base).await;
    let admin_id = admin.get("/api/auth/me").await.expect(StatusCode::OK)["id"].clone();
    let email = "user@example.com";
    let created = steps::create_user(&admin, email, Some(PASSWORD)).await;
    let user_id = created["id"].as_str().unwrap().to_owned();

    // The user enables MFA.
    let user = steps::login(&server.base, email, PASSWORD).await;
    let url = steps::enroll_mfa(&user, steps::wall_code).await.otpauth_url;
    let disable = |code: String| {
        let user = user.clone();
        async move {
            user.post("/api/auth/mfa/disable", json!({ "code": code, "password": PASSWORD })).await
        }
    };

    // Window one: 3 failures, then 429 until the window ends.
    for _ in 0..3 {
        let reply = disable(wrong_code(&url)).await;
        assert_eq!((reply.status, reply.reason()), (StatusCode::BAD_REQUEST, "INVALID_CODE"));
    }
    let limited = disable(totp_code(&url, 1)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    assert!(!limited.body["message"].as_str().unwrap().contains("administrator"));
    tokio::time::sleep(Duration::from_secs(limited.retry_after().unwrap())).await;
    // Window two: 2 more make 5 in a row: locked, however long one waits.
    for _ in 0..2 {
        let reply = disable(wrong_code(&url)).await;
        assert_eq!((reply.status, reply.reason()), (StatusCode::BAD_REQUEST, "INVALID_CODE"));
    }
    let locked = disable(totp_code(&url, 1)).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{locked:?}");
    assert!(locked.body["message"].as_str().unwrap().contains("administrator"), "{locked:?}");
    tokio::time::sleep(Duration::from_secs(locked.retry_after().unwrap())).await;
    let still = disable(totp_code(&url, 1)).await;
    assert_eq!(still.status, StatusCode::TOO_MANY_REQUESTS, "{still:?}");

    // The administrator resets the user's MFA: MFA off, counters cleared.
    let reset = admin.post(&format!("/api/admin/users/{user_id}/mfa/reset"), json!({})).await;
    assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
    // Signs in without the second factor, and second-factor attempts are allowed again.
    let fresh = steps::login(&server.base, email, PASSWORD).await;
    steps::enroll_mfa(&fresh, steps::wall_code).await;

    // The audit log, filtered by user and by event.
    let page = admin.get(&format!("/api/admin/audit-log?user_id={user_id}&limit=100")).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let events = page.body["events"].as_array().unwrap();
    assert!(events.iter().all(|e| e["user_id"] == json!(user_id)), "{page:?}");
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == json!("mfa_disable_fail") && e["reason"] == json!("INVALID_CODE"))
        .collect();
    assert_eq!(failures.len(), 5, "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|e| e["proof"] == json!("totp") && e["client_addr"] == json!("127.0.0.1"))
    );
    let resets = admin
        .get(&format!("/api/admin/audit-log?user_id={user_id}&event=mfa_reset_by_admin"))
        .await;
    let resets = resets.body["events"].as_array().unwrap().clone();
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0]["actor_id"], admin_id);
}

/// Failed logins from one client address, each with another e-mail, as seen through
/// `X-Forwarded-For: forwarded`.
async fn failed_logins(base: &str, forwarded: &str, count: usize) -> Vec<StatusCode> {
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..count {
        let reply = client
            .post(format!("{base}/api/auth/login"))
            .header("X-Forwarded-For", forwarded)
            .json(&json!({ "email": format!("u{i}-{forwarded}@example.com"), "password": "nope nope" }))
            .send()
            .await
            .unwrap();
        statuses.push(reply.status());
    }
    statuses
}

/// The per-address limit counts the socket peer, or `X-Forwarded-For` only when the peer is
/// a configured trusted proxy.
#[tokio::test]
async fn the_address_limit_believes_x_forwarded_for_only_from_trusted_proxies() {
    let env = Env::new();
    let limit = [("SLUGBASE__SECURITY__LIMITS__ADDRESS__MAX_FAILURES", "3")];
    let (unauthorized, limited) = (StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS);

    // Not behind a trusted proxy: the header is ignored, every request is 127.0.0.1.
    let direct = env.start_with("direct.log", LOG, &limit).await;
    let first = failed_logins(&direct.base, "203.0.113.1", 3).await;
    assert_eq!(first, vec![unauthorized; 3]);
    assert_eq!(failed_logins(&direct.base, "203.0.113.2", 1).await, vec![limited]);
    drop(direct);

    // Behind 127.0.0.1 as a trusted proxy: each forwarded client has its own count.
    let env = Env::new();
    let trusted = [limit[0], ("SLUGBASE__SERVER__TRUSTED_PROXIES", "127.0.0.1")];
    let proxied = env.start_with("proxied.log", LOG, &trusted).await;
    assert_eq!(failed_logins(&proxied.base, "203.0.113.1", 4).await[3], limited);
    assert_eq!(failed_logins(&proxied.base, "203.0.113.2", 3).await, vec![unauthorized; 3]);
    // A client cannot escape by prepending its own entry: the proxy's (right-most) one counts.
    let spoofed = failed_logins(&proxied.base, "198.51.100.9, 203.0.113.1", 1).await;
    assert_eq!(spoofed, vec![limited]);
}

// ---------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------

async fn sqlite(env: &Env) -> DatabaseConnection {
    Database::connect(format!("sqlite://{}?mode=rw", env.db_path.display())).await.unwrap()
}

/// The test's database, whichever it is.
async fn database(env: &Env) -> DatabaseConnection {
    Database::connect(env.db_url.as_str()).await.unwrap()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap();
    row.unwrap().try_get::<i64>("", "n").unwrap()
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap();
}

#[tokio::test]
async fn old_audit_events_and_expired_sessions_are_purged_while_the_server_runs() {
    let env = Env::new();
    let vars = [
        ("SLUGBASE__AUDIT__RETENTION_DAYS", "30"),
        ("SLUGBASE__MAINTENANCE__PURGE_INTERVAL_SECS", "1"),
    ];
    let server = env.start_with("retention.log", LOG, &vars).await;
    let admin = Api::new(&server.base);
    let setup = admin
        .post(
            "/api/auth/setup",
            json!({ "email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD }),
        )
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{setup:?}");
    let second = Api::new(&server.base);
    let login =
        second.post("/api/auth/login", json!({ "email": ADMIN_EMAIL, "password": PASSWORD })).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");

    // Age one event past the retention and one within it; expire one session.
    let db = sqlite(&env).await;
    let events = count(&db, "SELECT COUNT(*) AS n FROM audit_events").await;
    let sessions = count(&db, "SELECT COUNT(*) AS n FROM sessions").await;
    assert!(events >= 2 && sessions >= 2, "events {events}, sessions {sessions}");
    let day_ms = 86_400_000_i64;
    exec(
        &db,
        &format!(
            "UPDATE audit_events SET at = at - {} WHERE id = (SELECT MIN(id) FROM audit_events)",
            40 * day_ms
        ),
    )
    .await;
    exec(
        &db,
        &format!(
            "UPDATE audit_events SET at = at - {} WHERE id = (SELECT MAX(id) FROM audit_events)",
            20 * day_ms
        ),
    )
    .await;
    exec(
        &db,
        "UPDATE sessions SET expires_at = 1000 WHERE id_hash = (SELECT MIN(id_hash) FROM sessions)",
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = count(&db, "SELECT COUNT(*) AS n FROM audit_events").await;
        let s = count(&db, "SELECT COUNT(*) AS n FROM sessions").await;
        if e == events - 1 && s == sessions - 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not purged: events {e}/{events}, sessions {s}/{sessions}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The 20-day-old event stays, however often the purge runs.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let old_kept = format!(
        "SELECT COUNT(*) AS n FROM audit_events WHERE at < {}",
        chrono::Utc::now().timestamp_millis() - 10 * day_ms
    );
    assert_eq!(count(&db, &old_kept).await, 1);
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM audit_events").await, events - 1);
    // The audit log still pages over what is left.
    let third = Api::new(&server.base);
    let login =
        third.post("/api/auth/login", json!({ "email": ADMIN_EMAIL, "password": PASSWORD })).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    let page = third.get("/api/admin/audit-log").await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    db.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Key rotation
// ---------------------------------------------------------------------------------------

fn fresh_key() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs the binary over the test's database with the test's keys, plus `vars`.
fn cli(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let keys = env.key_values();
    Command::new(BIN)
        .current_dir(env.dir.path())
        .env("SLUGBASE_PROFILE", "test")
        .env("SLUGBASE__DATABASE__URL", &env.db_url)
        .env("RUST_LOG", "warn")
        .env_remove("SLUGBASE_CONFIG")
        .env("SLUGBASE__KEYS__ENCRYPTION__K1", &keys[0])
        .env("SLUGBASE__KEYS__BACKUP_CODE", &keys[1])
        .env("SLUGBASE__KEYS__CSRF", &keys[2])
        .envs(vars.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

async fn stored_secret(env: &Env) -> String {
    let db = database(env).await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT mfa_secret FROM users WHERE mfa_enabled = TRUE",
        ))
        .await
        .unwrap()
        .unwrap();
    let secret = row.try_get::<String>("", "mfa_secret").unwrap();
    db.close().await.unwrap();
    secret
}

#[tokio::test]
async fn keys_rotate_reencrypts_stored_secrets_and_names_a_missing_key() {
    keys_rotate(Env::new()).await;
}

#[tokio::test]
async fn keys_rotate_reencrypts_stored_secrets_and_names_a_missing_key_on_mariadb() {
    let Some(url) = mysql_url().await else { return };
    keys_rotate(Env::with_database(&url)).await;
}

async fn keys_rotate(env: Env) {
    let server = env.start("keys-1.log", LOG).await;
    let account = admin_with_mfa(&server.base).await;
    assert!(stored_secret(&env).await.starts_with("k1:"));

    // Rotate to k2 while the server runs.
    let k2 = fresh_key();
    let to_k2 = [
        ("SLUGBASE__KEYS__ENCRYPTION__K2", k2.as_str()),
        ("SLUGBASE__KEYS__ENCRYPTION_CURRENT", "k2"),
    ];
    let out = cli(&env, &["keys", "rotate"], &to_k2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 re-encrypted (1 enabled, 0 pending)"), "{stdout}");
    assert!(stored_secret(&env).await.starts_with("k2:"));
    // Again: nothing left to do.
    let out = cli(&env, &["keys", "rotate"], &to_k2);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 already under \"k2\""));
    drop(server);

    // A configuration without k2 cannot rotate: it says which key is missing, exits 1, and
    // changes nothing.
    let k3 = fresh_key();
    let without_k2 = [
        ("SLUGBASE__KEYS__ENCRYPTION__K3", k3.as_str()),
        ("SLUGBASE__KEYS__ENCRYPTION_CURRENT", "k3"),
    ];
    let out = cli(&env, &["keys", "rotate"], &without_k2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("keys.encryption.k2") && stderr.contains("could not be re-encrypted"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stored_secret(&env).await.starts_with("k2:"));

    // Only k2 is needed now: k1 replaced by an unrelated key, TOTP sign-in works.
    let unrelated = fresh_key();
    let only_k2 = [
        ("SLUGBASE__KEYS__ENCRYPTION__K1", unrelated.as_str()),
        ("SLUGBASE__KEYS__ENCRYPTION__K2", k2.as_str()),
        ("SLUGBASE__KEYS__ENCRYPTION_CURRENT", "k2"),
    ];
    let server = env.start_with("keys-2.log", LOG, &only_k2).await;
    let login = Api::new(&server.base);
    login_pending(&login, ADMIN_EMAIL, PASSWORD).await;
    let verified = verify(&login, &totp_code(&account.otpauth_url, 1)).await;
    assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
    drop(server);

    // The old key alone can no longer open it (an opaque 500, never the secret).
    let server = env.start("keys-3.log", LOG).await;
    let login = Api::new(&server.base);
    login_pending(&login, ADMIN_EMAIL, PASSWORD).await;
    let refused = verify(&login, &totp_code(&account.otpauth_url, 1)).await;
    assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR, "{refused:?}");
    assert!(!refused.body.to_string().contains("k2:"));
}

// ---------------------------------------------------------------------------------------
// Login timing
// ---------------------------------------------------------------------------------------

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Prints the median time of 50 logins with an unknown e-mail and 50 with a wrong password,
/// interleaved, with production Argon2 (m = 19456 KiB, t = 2, p = 1). A figure for
/// BENCHMARKS.md and the README, never an assertion: timings on a shared machine vary.
#[tokio::test]
#[ignore = "a figure, not a check: production Argon2; run with --ignored --nocapture"]
async fn login_timing_unknown_email_versus_wrong_password() {
    let env = Env::new();
    let vars = [
        ("SLUGBASE__ARGON2__MEMORY_KIB", "19456"),
        ("SLUGBASE__ARGON2__ITERATIONS", "2"),
        ("SLUGBASE__SECURITY__LIMITS__PASSWORD_ACCOUNT__MAX_FAILURES", "100000"),
        ("SLUGBASE__SECURITY__LIMITS__ADDRESS__MAX_FAILURES", "100000"),
    ];
    let server = env.start_with("timing.log", LOG, &vars).await;
    let setup = Api::new(&server.base)
        .post(
            "/api/auth/setup",
            json!({ "email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD }),
        )
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{setup:?}");
    let http = Api::new(&server.base);
    let attempt = |email: &'static str| {
        let http = http.clone();
        async move {
            let started = Instant::now();
            let reply = http
                .post("/api/auth/login", json!({ "email": email, "password": "wrong password 1" }))
                .await;
            let took = started.elapsed();
            assert_eq!(
                (reply.status, reply.reason()),
                (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS")
            );
            took
        }
    };
    for _ in 0..3 {
        attempt("nobody@example.com").await;
        attempt(ADMIN_EMAIL).await;
    }
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    // A B B A order, so that drift in the machine's load falls on both alike.
    for i in 0..50 {
        if i % 2 == 0 {
            unknown.push(attempt("nobody@example.com").await);
            wrong.push(attempt(ADMIN_EMAIL).await);
        } else {
            wrong.push(attempt(ADMIN_EMAIL).await);
            unknown.push(attempt("nobody@example.com").await);
        }
    }
    let (u, w) = (median(unknown), median(wrong));
    let diff = (u.as_secs_f64() - w.as_secs_f64()) / w.as_secs_f64() * 100.0;
    println!(
        "login timing, median of 50 each, production Argon2id (m=19456 KiB, t=2, p=1), over \
         HTTP: unknown e-mail {:.1} ms, wrong password {:.1} ms, difference {diff:+.1} %",
        u.as_secs_f64() * 1000.0,
        w.as_secs_f64() * 1000.0,
    );
}
