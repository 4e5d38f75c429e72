//! Three `slugbase serve` processes on one database behind a real HAProxy (Debian's 2.6,
//! configured by the committed `deploy/haproxy/haproxy.cfg`), once on PostgreSQL and once
//! on MariaDB, under a steady mixed load through the proxy:
//!
//! - logins with MFA (the password, then a TOTP code; then `/api/auth/me` with the new
//!   session), each step free to land on any instance;
//! - status reads with personal API tokens;
//! - MFA churn: enrol (begin, confirm with a code) then disable (code and password), each
//!   acknowledged change read back through the proxy at once;
//! - a guesser sending wrong codes to `mfa/disable`, two a second, until the attempt limit
//!   answers 429 (the only refusals the load expects: by design).
//!
//! Meanwhile each instance is restarted in turn (drained through HAProxy's runtime API,
//! SIGTERM — it finishes what it serves and exits 0 —, started again on its port, put back
//! once HAProxy's readiness check has it up), then one is killed with SIGKILL mid-load and
//! started again. Asserted:
//!
//! - through the rolling restart, no request failed: every one was answered by an instance
//!   as expected, 429 aside;
//! - no acknowledged change was lost: every confirmed enrolment and every disable that
//!   answered 200 reads back so through the proxy at once, and at the end each churned
//!   account is, on every instance, what it last acknowledged (or, when its last change was
//!   lost with a killed instance, whole either way);
//! - the attempt limit and TOTP replay are shared: the wrong codes answered `INVALID_CODE`
//!   by two or three instances add up to exactly the limit, then only 429; a code that signed
//!   in through the proxy is refused by each of the two other instances;
//! - SIGKILL: a request in flight at the killed process cannot be answered by it. HAProxy
//!   retries what is safe to retry (`retry-on conn-failure empty-response`, `option
//!   redispatch 1`): a request whose connection could not be made (nothing was sent), and a
//!   GET or HEAD whose connection died. It does not retry a POST whose connection died
//!   (`http-request disable-l7-retry unless METH_GET || METH_HEAD`): HAProxy 2.6 would
//!   otherwise replay it, and a replayed sign-in code or disable is answered as a replay
//!   (`INVALID_CODE`, `MFA_NOT_ENABLED`) even when the first attempt took effect — a wrong
//!   answer, worse than none. Such a POST gets HAProxy's 502 or — the first request on a
//!   client connection aside, so here nearly always — its client connection closed without
//!   an answer (HAProxy's way of leaving a retry to the client). So the bound asserted is:
//!   every GET answered, and the requests without an instance's answer are POSTs, at most
//!   one per worker sending POSTs (each has one request in flight at a time), all while the
//!   killed instance was down; and each lost MFA change left the account whole — MFA on
//!   with its ten backup codes, or off with none — as the status read back through the
//!   proxy shows once the database has settled it ([`SETTLE`]: a read at once once saw the
//!   state before a COMMIT the database was still finishing). A lost change that was not
//!   made spent nothing: a disable is tried again, with the same TOTP step while it is
//!   current, and must be accepted. How many are lost depends on what was in flight at the
//!   instant of the kill (zero to three in our runs); the test prints them, with HAProxy's
//!   log of the run.
//!
//! Every client is 127.0.0.1, so the per-address limit (60 failures in 15 minutes) sees one
//! address: the load stays well under it (10 wrong codes from the guesser, 4 replays).
//!
//! HAProxy comes from `SLUGBASE_HAPROXY`, `/usr/sbin/haproxy` or the `PATH`
//! (`scripts/haproxy.sh` installs it); without it one `skipping load-balancer tests` line,
//! a failure under `CI=true`. PostgreSQL and MariaDB come from
//! `slugbase_infrastructure::testing` (a fresh database each).
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, Server, free_port};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use slugbase_infrastructure::testing::{mysql_url, postgres_url};
use slugbase_testkit::haproxy::{self, Haproxy, INSTANCE_HEADER, SERVERS};
use slugbase_testkit::steps::{self, PASSWORD};
use slugbase_testkit::{Api, Reply, totp};

const LOG: &str = "info,sqlx=warn,sea_orm=warn";

/// The shipped `security.limits.second_factor_account.max_failures`.
const SECOND_FACTOR_LIMIT: usize = 10;

/// Workers of each kind.
const LOGIN_WORKERS: usize = 3;
const USERS_PER_LOGIN_WORKER: usize = 5;
const READERS: usize = 3;
const CHURNERS: usize = 3;
/// Workers that send POSTs (each has at most one request in flight): the most requests a
/// killed instance can take with it unanswered.
const POST_WORKERS: usize = LOGIN_WORKERS + CHURNERS + 1;

/// Where the test stands; each outcome is filed under the phase in which it was known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Steady = 0,
    Rolling = 1,
    /// From just before the SIGKILL until the instance is back up in HAProxy.
    Killed = 2,
    After = 3,
}

const PHASES: [Phase; 4] = [Phase::Steady, Phase::Rolling, Phase::Killed, Phase::After];

/// A request that got no answer from an instance.
#[derive(Debug)]
struct Lost {
    phase: Phase,
    method: Method,
    path: String,
    what: String,
}

/// What the load saw.
#[derive(Debug, Default)]
struct Tally {
    /// Requests answered by an instance, by phase.
    answered: [usize; 4],
    /// … and by instance.
    by_instance: [usize; 3],
    lost: Vec<Lost>,
    /// Anything the load did not expect.
    failures: Vec<String>,
    logins: usize,
    reads: usize,
    changes_acknowledged: usize,
    /// Lost MFA changes whose account then read back whole, as (applied, not applied).
    lost_changes: (usize, usize),
    /// Wrong codes answered `INVALID_CODE`, by instance.
    invalid_codes: [usize; 3],
    /// 429 `TOO_MANY_ATTEMPTS` answers to the guesser.
    limited: usize,
    lost_guesses: usize,
}

/// The load's shared state.
struct Load {
    proxy: String,
    phase: AtomicU8,
    stop: AtomicBool,
    tally: Mutex<Tally>,
}

fn instance_index(reply: &Reply) -> Option<usize> {
    let name = reply.header(INSTANCE_HEADER)?;
    SERVERS.iter().position(|s| *s == name)
}

impl Load {
    fn phase(&self) -> Phase {
        PHASES[usize::from(self.phase.load(Ordering::SeqCst))]
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap()
    }

    fn fail(&self, what: String) {
        let phase = self.phase();
        let what = format!("[{phase:?}] {what}");
        eprintln!("unexpected: {what}");
        self.tally().failures.push(what);
    }

    /// Sends a request through the proxy: `Some` with an instance's answer, or `None` when
    /// no instance answered (a transport error, or HAProxy's own 502/503), recorded as lost.
    async fn send(
        &self,
        api: &Api,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Option<Reply> {
        let result = api.send(method.clone(), path, body).await;
        let phase = self.phase();
        let what = match result {
            Ok(reply) => match instance_index(&reply) {
                Some(i) => {
                    let mut tally = self.tally();
                    tally.answered[phase as usize] += 1;
                    tally.by_instance[i] += 1;
                    return Some(reply);
                }
                None => format!("HAProxy answered {}: {}", reply.status, reply.body),
            },
            Err(e) => format!("no answer: {e}"),
        };
        self.tally().lost.push(Lost { phase, method, path: path.to_owned(), what });
        None
    }
}

/// The current 30-second TOTP step.
fn step_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap() / 30
}

fn code_at(secret: &str, step: u64) -> String {
    totp::from_secret(secret).generate(step * 30).to_string()
}

/// An account with MFA on: its secret, the last TOTP step it spent, a token.
#[derive(Clone, Debug)]
struct MfaUser {
    email: String,
    secret: String,
    last_step: u64,
    token: String,
}

/// Creates `email` with MFA on (enrolled at a known step) and a personal API token, through
/// the proxy.
async fn mfa_user(admin: &Api, base: &str, email: &str) -> MfaUser {
    steps::create_user(admin, email, Some(PASSWORD)).await;
    let mut api = steps::login(base, email, PASSWORD).await;
    let token = api.make_token("load").await;
    let begin = api.post("/api/auth/mfa/enroll/begin", json!({})).await.expect(StatusCode::OK);
    let secret = begin["secret"].as_str().unwrap().to_owned();
    let step = step_now();
    let confirm = api.post("/api/auth/mfa/enroll/confirm", json!({"code": code_at(&secret, step)}));
    assert_eq!(steps::backup_codes(&confirm.await.expect(StatusCode::OK)).len(), 10);
    MfaUser { email: email.to_owned(), secret, last_step: step, token }
}

// ---------------------------------------------------------------------------------------
// The workers
// ---------------------------------------------------------------------------------------

/// Signs its users in, password then code, as fast as their TOTP steps allow (a code is
/// never accepted twice, so each user signs in at most twice per 30-second step).
async fn login_worker(load: Arc<Load>, mut users: Vec<MfaUser>) {
    let mut next = 0;
    while load.running() {
        let now = step_now();
        let Some(i) = (0..users.len())
            .map(|k| (next + k) % users.len())
            .find(|&i| users[i].last_step < now + 1)
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        next = i + 1;
        let user = &mut users[i];
        // The next unspent step in [now, now + 1]: still in the server's ±1 window if the
        // step turns over before the code arrives.
        let step = (user.last_step + 1).max(now);
        let api = Api::new(&load.proxy);
        let body = json!({"email": user.email, "password": PASSWORD});
        let Some(reply) = load.send(&api, Method::POST, "/api/auth/login", Some(&body)).await
        else {
            continue;
        };
        if reply.status != StatusCode::OK || reply.body != json!({"mfa_required": true}) {
            load.fail(format!("login password step: {reply:?}"));
            continue;
        }
        // Spent from here on, whether or not the answer arrives.
        user.last_step = step;
        let body = json!({"code": code_at(&user.secret, step)});
        let Some(reply) = load.send(&api, Method::POST, "/api/auth/mfa/verify", Some(&body)).await
        else {
            continue;
        };
        if reply.status != StatusCode::OK {
            load.fail(format!("login code step: {reply:?}"));
            continue;
        }
        // The new session works on whichever instance reads it.
        let Some(me) = load.send(&api, Method::GET, "/api/auth/me", None).await else {
            continue;
        };
        if me.status == StatusCode::OK && me.body["email"] == json!(user.email) {
            load.tally().logins += 1;
        } else {
            load.fail(format!("the new session: {me:?}"));
        }
    }
}

/// Reads MFA status with personal API tokens of accounts whose MFA stays on.
async fn reader(load: Arc<Load>, tokens: Vec<String>) {
    let mut i = 0;
    while load.running() {
        let api = Api::with_bearer(&load.proxy, &tokens[i % tokens.len()]);
        i += 1;
        if let Some(reply) = load.send(&api, Method::GET, "/api/auth/mfa/status", None).await {
            let whole = reply.body["enabled"] == json!(true)
                && reply.body["backup_codes_remaining"] == json!(10);
            if reply.status == StatusCode::OK && whole {
                load.tally().reads += 1;
            } else {
                load.fail(format!("status read: {reply:?}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mfa {
    Off,
    On,
}

/// The account's MFA state read through the proxy, checked whole (on: ten codes; off:
/// none); `None` when the read got no answer or the state is half-way (a failure).
async fn read_state(load: &Load, api: &Api) -> Option<Mfa> {
    let reply = load.send(api, Method::GET, "/api/auth/mfa/status", None).await?;
    match (reply.status, &reply.body["enabled"], &reply.body["backup_codes_remaining"]) {
        (StatusCode::OK, Value::Bool(true), remaining) if *remaining == json!(10) => Some(Mfa::On),
        (StatusCode::OK, Value::Bool(false), remaining) if *remaining == json!(0) => Some(Mfa::Off),
        _ => {
            load.fail(format!("MFA state not whole: {reply:?}"));
            None
        }
    }
}

/// How long the outcome of a request lost with a killed instance may take to settle: the
/// database finishes a COMMIT it had received when the instance died (and rolls back a
/// transaction it had not), a few milliseconds after the loss was seen — a read at once
/// can see the state before that commit.
const SETTLE: Duration = Duration::from_secs(1);

/// One MFA change: `Some(state)` once the account is known to be in `state` (acknowledged
/// and read back, or lost and read back whole once settled), `None` on a failure.
async fn change(load: &Load, api: &Api, path: &str, body: &Value, to: Mfa) -> Option<Mfa> {
    match load.send(api, Method::POST, path, Some(body)).await {
        Some(reply) if reply.status == StatusCode::OK => {
            load.tally().changes_acknowledged += 1;
            // Acknowledged: whichever instance reads it next must see it.
            let read = read_state(load, api).await?;
            if read != to {
                load.fail(format!("{path} answered 200 but the account reads {read:?}"));
                return None;
            }
            Some(to)
        }
        Some(reply) => {
            load.fail(format!("{path}: {reply:?}"));
            None
        }
        None => {
            // Lost with its connection: all or nothing, never half.
            tokio::time::sleep(SETTLE).await;
            let read = read_state(load, api).await?;
            let mut tally = load.tally();
            if read == to {
                tally.lost_changes.0 += 1;
            } else {
                tally.lost_changes.1 += 1;
            }
            Some(read)
        }
    }
}

/// Enrols and disables MFA again and again with an API token; returns the state the
/// account was last known to be in.
///
/// A change lost with a killed instance and read back as not made spent nothing: its TOTP
/// step is tried again, and must be accepted (a step spent without its change would be a
/// half-made change, and the retry would get `INVALID_CODE`).
async fn churner(load: Arc<Load>, token: String) -> Option<Mfa> {
    let api = Api::with_bearer(&load.proxy, &token);
    let mut state = Mfa::Off;
    let mut secret = String::new();
    // The newest step the current secret has spent.
    let mut spent = 0;
    while load.running() {
        if state == Mfa::Off {
            let Some(begin) =
                load.send(&api, Method::POST, "/api/auth/mfa/enroll/begin", Some(&json!({}))).await
            else {
                continue;
            };
            if begin.status != StatusCode::OK {
                load.fail(format!("enroll begin: {begin:?}"));
                return None;
            }
            secret = begin.body["secret"].as_str().unwrap_or_default().to_owned();
            spent = step_now();
            let body = json!({"code": code_at(&secret, spent)});
            state = change(&load, &api, "/api/auth/mfa/enroll/confirm", &body, Mfa::On).await?;
        } else {
            // Past the step the enrolment spent, inside the server's window.
            let step = (spent + 1).max(step_now());
            let body = json!({"code": code_at(&secret, step), "password": PASSWORD});
            state = change(&load, &api, "/api/auth/mfa/disable", &body, Mfa::Off).await?;
        }
    }
    Some(state)
}

/// Sends a wrong code (with the right password) to `mfa/disable` twice a second: the limit
/// is reached during the rolling restart, and 429 answers the rest of the run.
async fn guesser(load: Arc<Load>, user: MfaUser) {
    let api = Api::with_bearer(&load.proxy, &user.token);
    let wrong = totp::wrong_code_at(&totp::from_secret(&user.secret), chrono::Utc::now());
    let body = json!({"code": wrong, "password": PASSWORD});
    while load.running() {
        match load.send(&api, Method::POST, "/api/auth/mfa/disable", Some(&body)).await {
            None => load.tally().lost_guesses += 1,
            Some(reply) => match (reply.status, reply.reason(), instance_index(&reply)) {
                (StatusCode::BAD_REQUEST, "INVALID_CODE", Some(i)) => {
                    let mut tally = load.tally();
                    if tally.limited > 0 {
                        drop(tally);
                        load.fail(format!("a wrong code was evaluated after a 429: {reply:?}"));
                    } else {
                        tally.invalid_codes[i] += 1;
                    }
                }
                (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS", _)
                    if reply.retry_after().is_some_and(|s| (1..=900).contains(&s)) =>
                {
                    load.tally().limited += 1;
                }
                _ => load.fail(format!("wrong code: {reply:?}")),
            },
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A TOTP code that signed in through the proxy is refused by each other instance. `user`
/// has spent no step since its enrolment, so the next one is inside the server's window.
async fn totp_code_is_spent_everywhere(proxy: &str, instances: &[String; 3], user: MfaUser) {
    let step = (user.last_step + 1).max(step_now());
    let code = code_at(&user.secret, step);
    let api = Api::new(proxy);
    steps::login_pending(&api, &user.email, PASSWORD).await;
    let signed_in = steps::verify(&api, &code).await;
    assert_eq!(
        signed_in.status,
        StatusCode::OK,
        "{} step {step} (now {}): {signed_in:?}",
        user.email,
        step_now()
    );
    let by = instance_index(&signed_in).unwrap();
    for (i, base) in instances.iter().enumerate().filter(|(i, _)| *i != by) {
        let api = Api::new(base);
        steps::login_pending(&api, &user.email, PASSWORD).await;
        let replayed = steps::verify(&api, &code).await;
        assert_eq!(
            (replayed.status, replayed.reason()),
            (StatusCode::UNAUTHORIZED, "INVALID_CODE"),
            "the code {} spent is accepted again by {}: {replayed:?}",
            SERVERS[by],
            SERVERS[i]
        );
    }
}

// ---------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------

/// Settings of every instance.
const VARS: [(&str, &str); 4] = [
    // HAProxy's address: its X-Forwarded-For is believed (the client's address counts).
    ("SLUGBASE__SERVER__TRUSTED_PROXIES", "127.0.0.1"),
    // Longer than HAProxy keeps an idle connection to an instance unused, so it is HAProxy
    // that closes idle connections, never the instance under a request HAProxy is sending.
    ("SLUGBASE__SERVER__KEEP_ALIVE_TIMEOUT_SECS", "75"),
    ("SLUGBASE__SERVER__SHUTDOWN_TIMEOUT_SECS", "10"),
    ("SLUGBASE__LOG__FORMAT", "json"),
];

fn log_name(i: usize) -> String {
    format!("instance-{}.log", i + 1)
}

/// Restarts instance `i`: drained in HAProxy, SIGTERM (exit 0), started on its port, back
/// in rotation once ready.
async fn rolling_restart(env: &Env, proxy: &Haproxy, servers: &mut [Option<Server>], i: usize) {
    let port = servers[i].as_ref().unwrap().base.rsplit(':').next().unwrap().parse().unwrap();
    proxy.drain(SERVERS[i]).await;
    let mut server = servers[i].take().unwrap();
    let (status, log) = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server.log())
    })
    .await
    .unwrap();
    assert!(status.success(), "{} exited {status:?} after SIGTERM\n{log}", SERVERS[i]);
    servers[i] = Some(env.start_on(port, &log_name(i), LOG, &VARS).await);
    proxy.ready(SERVERS[i]).await;
}

/// Kills instance `i` with SIGKILL while it serves two requests or more (if that happens
/// within 2 s; else one, else none),
/// then starts it again on its port and waits until HAProxy has it up. Returns how many
/// requests it was serving just before.
async fn kill_and_restart(
    env: &Env,
    proxy: &Haproxy,
    servers: &mut [Option<Server>],
    i: usize,
) -> u64 {
    let port = servers[i].as_ref().unwrap().base.rsplit(':').next().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut in_flight = proxy.server(SERVERS[i]).await.current;
    while in_flight < 2 && Instant::now() < deadline {
        in_flight = proxy.server(SERVERS[i]).await.current;
    }
    servers[i].as_mut().unwrap().kill();
    servers[i] = None;
    proxy.wait_status(SERVERS[i], "DOWN", Duration::from_secs(10)).await;
    servers[i] = Some(env.start_on(port, &log_name(i), LOG, &VARS).await);
    proxy.wait_status(SERVERS[i], "UP", Duration::from_secs(30)).await;
    in_flight
}

#[expect(clippy::too_many_lines, reason = "the scenario reads top to bottom, phase by phase")]
async fn scenario(haproxy: &Path, url: &str, database: &str) {
    let started = Instant::now();
    let env = Env::with_database(url);
    // One after the other: the first migrates, the others find the schema current.
    let mut servers = Vec::new();
    for i in 0..3 {
        servers.push(Some(env.start_on(free_port(), &log_name(i), LOG, &VARS).await));
    }
    let instances: [String; 3] = std::array::from_fn(|i| servers[i].as_ref().unwrap().base.clone());
    let addresses = instances.clone().map(|base| base.trim_start_matches("http://").to_owned());
    let proxy = Haproxy::start(haproxy, &addresses).await;
    let base = proxy.base();

    // Accounts, made through the proxy.
    let admin = steps::setup_admin(&base).await;
    let mut users = Vec::new();
    for n in 0..LOGIN_WORKERS * USERS_PER_LOGIN_WORKER + 3 {
        users.push(mfa_user(&admin, &base, &format!("user{n}@example.com")).await);
    }
    // One account per replay check: a second check within the same 30 s would need a step
    // past the server's window.
    let replay_users = [users.pop().unwrap(), users.pop().unwrap()];
    let guess_user = users.pop().unwrap();
    let mut churn_tokens = Vec::new();
    for n in 0..CHURNERS {
        let email = format!("churn{n}@example.com");
        steps::create_user(&admin, &email, Some(PASSWORD)).await;
        let mut api = steps::login(&base, &email, PASSWORD).await;
        churn_tokens.push(api.make_token("churn").await);
    }
    let setup = started.elapsed();

    let load = Arc::new(Load {
        proxy: base.clone(),
        phase: AtomicU8::new(Phase::Steady as u8),
        stop: AtomicBool::new(false),
        tally: Mutex::new(Tally::default()),
    });
    let mut workers = tokio::task::JoinSet::new();
    let read_tokens: Vec<String> = users.iter().map(|u| u.token.clone()).collect();
    for chunk in users.chunks(USERS_PER_LOGIN_WORKER) {
        workers.spawn(login_worker(load.clone(), chunk.to_vec()));
    }
    for _ in 0..READERS {
        workers.spawn(reader(load.clone(), read_tokens.clone()));
    }
    let churners: Vec<_> = churn_tokens
        .iter()
        .map(|token| tokio::spawn(churner(load.clone(), token.clone())))
        .collect();
    workers.spawn(guesser(load.clone(), guess_user));

    let [replay_before, replay_after] = replay_users;
    tokio::time::sleep(Duration::from_secs(2)).await;
    totp_code_is_spent_everywhere(&base, &instances, replay_before).await;

    load.set_phase(Phase::Rolling);
    for i in 0..3 {
        rolling_restart(&env, &proxy, &mut servers, i).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    load.set_phase(Phase::Killed);
    let in_flight_at_kill = kill_and_restart(&env, &proxy, &mut servers, 1).await;
    load.set_phase(Phase::After);
    tokio::time::sleep(Duration::from_secs(2)).await;
    totp_code_is_spent_everywhere(&base, &instances, replay_after).await;

    load.stop.store(true, Ordering::SeqCst);
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }
    let mut known = Vec::new();
    for churner in churners {
        known.push(churner.await.unwrap());
    }
    let stats = proxy.servers().await;
    let tally = std::mem::take(&mut *load.tally());

    eprintln!(
        "load balancer on {database}: setup {setup:.1?}, whole run {:.1?}; answered by phase \
         (steady, rolling, killed, after) {:?}, by instance {:?}; {} logins, {} status reads, {} \
         MFA changes acknowledged; guesser: INVALID_CODE by instance {:?}, {} × 429, {} lost; \
         SIGKILL with {in_flight_at_kill} request(s) in flight at the instance: {} lost, lost \
         MFA changes read back (applied, not applied) {:?}; HAProxy retries/redispatches by \
         server {:?}",
        started.elapsed(),
        tally.answered,
        tally.by_instance,
        tally.logins,
        tally.reads,
        tally.changes_acknowledged,
        tally.invalid_codes,
        tally.limited,
        tally.lost_guesses,
        tally.lost.len(),
        tally.lost_changes,
        stats.iter().map(|s| (s.name.as_str(), s.retries, s.redispatches)).collect::<Vec<_>>(),
    );
    for lost in &tally.lost {
        eprintln!("  lost: [{:?}] {} {}: {}", lost.phase, lost.method, lost.path, lost.what);
    }
    if !tally.lost.is_empty() {
        // HAProxy's side of it: its log lines for requests that ended abnormally.
        for line in proxy.log().lines().filter(|l| l.contains('"') && !l.contains(" ---- ")) {
            eprintln!("  haproxy: {line}");
        }
    }

    // Nothing unexpected, in any phase.
    assert!(tally.failures.is_empty(), "failures:\n{}", tally.failures.join("\n"));
    // The load was steady: every phase and every instance answered.
    assert!(tally.answered.iter().all(|&n| n > 0), "{:?}", tally.answered);
    assert!(tally.by_instance.iter().all(|&n| n > 0), "{:?}", tally.by_instance);
    assert!(tally.logins > 0 && tally.reads > 0 && tally.changes_acknowledged > 0, "{tally:?}");

    // Lost: only around the SIGKILL, only POSTs, at most one per POST worker.
    for lost in &tally.lost {
        assert_eq!(lost.phase, Phase::Killed, "a request lost outside the SIGKILL: {lost:?}");
        assert_eq!(lost.method, Method::POST, "a GET must be retried by HAProxy: {lost:?}");
    }
    assert!(tally.lost.len() <= POST_WORKERS, "{} lost", tally.lost.len());

    // The attempt limit, shared: exactly the limit's worth of wrong codes evaluated, by more
    // than one instance, then 429 (a guess lost with the killed instance may have counted).
    let evaluated: usize = tally.invalid_codes.iter().sum();
    assert!(tally.limited > 0, "the limit was never reached: {tally:?}");
    assert!(
        evaluated <= SECOND_FACTOR_LIMIT && evaluated + tally.lost_guesses >= SECOND_FACTOR_LIMIT,
        "{evaluated} wrong codes evaluated (+ {} lost) for a limit of {SECOND_FACTOR_LIMIT}",
        tally.lost_guesses
    );
    assert!(
        tally.invalid_codes.iter().filter(|&&n| n > 0).count() >= 2,
        "the wrong codes all went to one instance: {:?}",
        tally.invalid_codes
    );

    // No acknowledged change lost: each churned account is, on every instance, what it last
    // acknowledged (or read back whole after a lost change).
    for (token, state) in churn_tokens.iter().zip(&known) {
        let state = state.expect("a churner stopped on a failure");
        for instance in &instances {
            let reply = Api::with_bearer(instance, token).get("/api/auth/mfa/status").await;
            let (enabled, remaining) = match state {
                Mfa::On => (true, 10),
                Mfa::Off => (false, 0),
            };
            assert_eq!(reply.body["enabled"], json!(enabled), "{instance}: {reply:?}");
            assert_eq!(reply.body["backup_codes_remaining"], json!(remaining), "{reply:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgres_behind_haproxy_survive_a_rolling_restart_and_a_sigkill() {
    let Some(haproxy) = haproxy::available() else { return };
    let Some(url) = postgres_url().await else { return };
    scenario(&haproxy, &url, "PostgreSQL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_mariadb_behind_haproxy_survive_a_rolling_restart_and_a_sigkill() {
    let Some(haproxy) = haproxy::available() else { return };
    let Some(url) = mysql_url().await else { return };
    scenario(&haproxy, &url, "MariaDB").await;
}
