//! The port contract suite: one set of checks, written once, that every storage backend
//! (anything implementing [`Storage`]) must pass — the MUST clauses of [`crate::ports`],
//! above all the atomic operations under concurrency.
//!
//! A backend's test file expands one `#[tokio::test]` per check, so each check shows up by
//! name in that backend's test output:
//!
//! ```ignore
//! use std::sync::Arc;
//! async fn make() -> Option<Arc<MyStore>> { Some(Arc::new(MyStore::new())) }
//! slugbase_application::storage_contract_tests!(make);
//! ```
//!
//! `make` returns a fresh, empty store per check, or `None` to skip (a backend whose server
//! is not available; the backend's harness says why). The test crate needs `tokio` (with
//! `macros` and `rt-multi-thread`) as a dev-dependency.
//!
//! Times in the checks are whole seconds: backends may store times with millisecond
//! precision.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use slugbase_domain::{
    ApiTokenId, AttemptCounter, AttemptPolicy, AuditEventKind, AuditOutcome, DisplayName, Email,
    EncryptedSecret, LoginMethod, MfaState, PasswordHash, ProofKind, Release, Throttle, TotpStep,
    User, UserId,
};

use crate::collaborators::attempt_limiter::{AttemptAccount, AttemptKey, AttemptKind};
use crate::ports::{
    ApiTokenRecord, ApiTokenRepository, AttemptRelease, AuditEvent, AuditQuery, CallerRecord,
    CancelOutcome, ChangeEffects, EndSessions, LinkOutcome, MfaProof, NewUser, OidcFlowRecord,
    ProofSignIn, Reservation, SecretDigest, SessionIdpAuth, SessionKind, SessionRecord,
    SessionRepository, Storage, StoreError, UserRepository,
};

/// Expands one `#[tokio::test(flavor = "multi_thread")]` per contract check, each calling
/// `$make().await` for a fresh store (`Option<Arc<S>>`; `None` skips the check).
#[macro_export]
macro_rules! storage_contract_tests {
    ($make:path) => {
        $crate::storage_contract_tests!(@each $make;
            a_created_user_is_found_by_id_and_by_email,
            an_oidc_only_user_round_trips_without_a_password,
            a_taken_email_is_a_conflict,
            users_are_listed_oldest_first_and_counted,
            the_first_admin_is_created_only_while_no_user_exists,
            concurrent_first_admin_setups_create_exactly_one,
            set_password_replaces_the_hash_of_existing_users_only,
            deleting_a_user_cascades_but_keeps_audit_events_and_other_users,
            enrollment_begins_replaces_and_cancels_while_disabled,
            confirm_enables_mfa_with_the_step_and_exactly_the_given_codes,
            confirm_with_a_stale_pending_secret_changes_nothing,
            twenty_concurrent_confirms_enable_once_with_exactly_ten_codes,
            a_totp_step_is_accepted_only_when_newer_than_the_last,
            concurrent_acceptances_of_one_totp_step_succeed_exactly_once,
            a_backup_code_works_exactly_once_and_only_for_its_user,
            fifty_concurrent_spends_of_one_backup_code_succeed_exactly_once,
            proofs_are_refused_while_mfa_is_not_enabled,
            disable_with_proof_clears_flag_secret_codes_and_step,
            disable_with_an_unspendable_proof_changes_nothing,
            concurrent_disables_with_one_backup_code_succeed_exactly_once,
            concurrent_disables_and_regenerations_never_fail_and_one_disable_wins,
            regenerate_with_proof_replaces_every_code,
            reset_turns_mfa_off_from_any_state,
            a_disable_commits_its_audit_event_session_ends_and_releases_with_it,
            a_refused_disable_applies_none_of_its_effects,
            confirm_and_regenerate_commit_their_effects_only_when_they_change_something,
            reset_commits_its_event_ends_every_session_and_forgets_the_counters,
            a_sign_in_with_a_proof_commits_the_session_and_both_events_with_the_spend,
            a_refused_sign_in_changes_nothing_and_a_gone_pending_state_spends_nothing,
            concurrent_sign_ins_with_one_pending_state_succeed_exactly_once,
            a_session_round_trips_and_is_touched,
            deleting_a_session_succeeds_exactly_once_under_concurrency,
            a_pending_session_grants_at_most_its_attempts_under_concurrency,
            sessions_of_a_user_are_deleted_except_the_kept_one,
            expired_sessions_are_deleted,
            a_session_resolves_to_its_owner_and_unused_backup_codes_until_deleted,
            an_api_token_is_found_by_hash_until_revoked,
            another_users_token_cannot_be_revoked,
            tokens_are_listed_oldest_first_per_user,
            a_token_resolves_to_its_owner_and_unused_backup_codes_until_revoked,
            audit_events_are_read_newest_first_filtered_and_paged,
            old_audit_events_are_purged,
            attempt_counters_follow_the_domain_rule,
            releasing_a_reservation_follows_the_domain_rule,
            concurrent_reservations_lose_no_count_below_the_limit,
            two_hundred_concurrent_reservations_grant_exactly_the_limit,
            concurrent_reservations_never_pass_a_lockout,
            a_reachable_store_answers_ping,
            an_oidc_flow_round_trips_and_is_taken_exactly_once_under_concurrency,
            expired_oidc_flows_are_deleted,
            an_oidc_link_is_stored_with_its_event_and_never_doubled,
            concurrent_links_of_one_account_store_exactly_one,
            a_linked_oidc_user_is_created_with_its_event_or_not_at_all,
            a_sessions_provider_authentication_lives_and_dies_with_the_session,
            a_notice_is_claimed_by_one_sender_until_its_lease_runs_out,
            concurrent_claims_hand_out_each_notice_once,
            delivery_outcomes_are_recorded_and_failure_is_audited_with_it,
            notices_are_listed_newest_first_by_status,
            a_password_change_commits_its_effects_with_the_hash,
            a_backup_code_spent_at_login_stores_its_notice_only_when_spent,
            a_token_and_its_notice_are_stored_together,
            sessions_of_a_user_keep_their_client,
            purges_delete_finished_notices_in_batches_and_never_pending_ones,
        );
    };
    (@each $make:path; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let Some(store) = $make().await else { return };
                $crate::contract::$check(store).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

pub use crate::contract_outbox::*;
use crate::contract_outbox::{notices_with, stage_notice};

/// A fixed instant plus `secs` seconds.
fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid time")
}

fn new_user(email: &str, created: i64) -> NewUser {
    NewUser {
        id: UserId::generate(),
        email: Email::parse(email).expect("valid email"),
        name: DisplayName::parse("Test User").expect("valid name"),
        login: LoginMethod::Local(PasswordHash::from_phc(
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
        )),
        oidc_provider: None,
        is_admin: false,
        created_at: t(created),
    }
}

async fn user<S: Storage>(store: &S, email: &str) -> User {
    UserRepository::create(store, new_user(email, 0)).await.expect("create user")
}

async fn reload<S: Storage>(store: &S, id: UserId) -> User {
    store.find_by_id(id).await.expect("find user").expect("user exists")
}

/// A digest that looks like what the hashers produce (64 hex digits, no more: a backend may
/// size its column for them, as MySQL's `VARCHAR(64)` does). A label of up to 32 bytes is
/// spelled out in hex (readable in a failure); a longer one is folded into 32 bytes.
fn digest(label: &str) -> SecretDigest {
    let bytes = label.as_bytes();
    let folded: Vec<u8> = if bytes.len() <= 32 {
        bytes.to_vec()
    } else {
        let mut out = [0_u8; 32];
        for (i, b) in bytes.iter().enumerate() {
            out[i % 32] = out[i % 32].wrapping_mul(31).wrapping_add(*b);
        }
        out.to_vec()
    };
    let hex: String = folded.iter().map(|b| format!("{b:02x}")).collect();
    SecretDigest::from_hex(format!("{hex:0>64}"))
}

fn codes(prefix: &str, n: usize) -> Vec<SecretDigest> {
    (0..n).map(|i| digest(&format!("{prefix}{i}"))).collect()
}

fn secret(label: &str) -> EncryptedSecret {
    EncryptedSecret::new(format!("k1:{label}"))
}

/// Enrolls and confirms MFA at TOTP step 100 with ten codes `"<prefix>0"..`.
async fn enable<S: Storage>(store: &S, id: UserId, prefix: &str) -> Vec<SecretDigest> {
    let pending = secret(prefix);
    assert!(store.begin_enrollment(id, pending.clone()).await.expect("begin"));
    let codes = codes(prefix, 10);
    let confirmed = store
        .confirm_enrollment(id, &pending, TotpStep::new(100), codes.clone(), t(10), &audited(id))
        .await
        .expect("confirm");
    assert!(confirmed, "confirm with the pending secret enables MFA");
    codes
}

fn session(id: &str, user: UserId, expires: i64) -> SessionRecord {
    SessionRecord {
        id_hash: digest(id),
        user_id: user,
        kind: SessionKind::Full,
        created_at: t(0),
        last_seen_at: t(0),
        expires_at: t(expires),
        failed_attempts: 0,
        client_addr: Some("192.0.2.1".to_owned()),
        user_agent: Some("contract".to_owned()),
    }
}

fn token(label: &str, user: UserId, created: i64) -> ApiTokenRecord {
    ApiTokenRecord {
        id: ApiTokenId::generate(),
        user_id: user,
        name: label.to_owned(),
        token_hash: digest(label),
        created_at: t(created),
        last_used_at: None,
    }
}

fn event(at: i64, user: Option<UserId>, kind: AuditEventKind) -> AuditEvent {
    AuditEvent {
        at: t(at),
        user_id: user,
        actor_id: None,
        kind,
        outcome: AuditOutcome::Success,
        proof: None,
        detail: None,
        client_addr: None,
        user_agent: None,
    }
}

/// Effects that only record an event (the checks that are not about effects).
fn audited(user: UserId) -> ChangeEffects {
    ChangeEffects::audited(event(0, Some(user), AuditEventKind::MfaDisableSuccess))
}

/// Runs `n` copies of `f` at once on the runtime's worker threads; their results.
async fn concurrently<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let task = f(i);
            tokio::spawn(async move {
                barrier.wait().await;
                task.await
            })
        })
        .collect();
    futures::future::join_all(handles)
        .await
        .into_iter()
        .map(|r| r.expect("task panicked"))
        .collect()
}

fn count_true(results: &[bool]) -> usize {
    results.iter().filter(|&&b| b).count()
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

/// `create` stores every field; both finders return the same user, MFA disabled.
pub async fn a_created_user_is_found_by_id_and_by_email<S: Storage>(store: Arc<S>) {
    let mut input = new_user("Ada@Example.com", 5);
    input.is_admin = true;
    input.oidc_provider = Some("corp".to_owned());
    let created = UserRepository::create(&*store, input.clone()).await.expect("create");
    assert_eq!(created.id, input.id);
    assert_eq!(created.email.as_str(), "ada@example.com");
    assert_eq!(created.name, input.name);
    assert_eq!(created.login, input.login);
    assert_eq!(created.oidc_provider.as_deref(), Some("corp"));
    assert!(created.is_admin);
    assert_eq!(created.mfa, MfaState::Disabled);
    assert_eq!(created.created_at, t(5));
    assert_eq!(store.find_by_id(input.id).await.expect("find"), Some(created.clone()));
    let email = Email::parse("ada@example.com").expect("email");
    assert_eq!(store.find_by_email(&email).await.expect("find"), Some(created));
    let other = Email::parse("nobody@example.com").expect("email");
    assert_eq!(store.find_by_email(&other).await.expect("find"), None);
    assert_eq!(store.find_by_id(UserId::generate()).await.expect("find"), None);
}

/// An OIDC-only user has no password, and reads back that way.
pub async fn an_oidc_only_user_round_trips_without_a_password<S: Storage>(store: Arc<S>) {
    let mut input = new_user("oidc@example.com", 0);
    input.login = LoginMethod::OidcOnly;
    input.oidc_provider = Some("google".to_owned());
    UserRepository::create(&*store, input.clone()).await.expect("create");
    let read = reload(&*store, input.id).await;
    assert_eq!(read.login, LoginMethod::OidcOnly);
    assert_eq!(read.oidc_provider.as_deref(), Some("google"));
    assert!(!read.is_admin);
}

/// A second user with the same (normalised) e-mail is a conflict and is not stored.
pub async fn a_taken_email_is_a_conflict<S: Storage>(store: Arc<S>) {
    user(&*store, "taken@example.com").await;
    let err = UserRepository::create(&*store, new_user("TAKEN@example.com", 1))
        .await
        .expect_err("duplicate e-mail");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    assert_eq!(store.count().await.expect("count"), 1);
}

/// `list` returns users oldest first; `count` counts them.
pub async fn users_are_listed_oldest_first_and_counted<S: Storage>(store: Arc<S>) {
    assert_eq!(store.count().await.expect("count"), 0);
    assert!(store.list().await.expect("list").is_empty());
    for (email, created) in [("c@example.com", 30), ("a@example.com", 10), ("b@example.com", 20)] {
        UserRepository::create(&*store, new_user(email, created)).await.expect("create");
    }
    let emails: Vec<String> = store
        .list()
        .await
        .expect("list")
        .iter()
        .map(|u| u.as_ok().expect("every row decodes").email.as_str().to_owned())
        .collect();
    assert_eq!(emails, ["a@example.com", "b@example.com", "c@example.com"]);
    assert_eq!(store.count().await.expect("count"), 3);
}

/// The first administrator is stored on an empty store only.
pub async fn the_first_admin_is_created_only_while_no_user_exists<S: Storage>(store: Arc<S>) {
    let mut admin = new_user("admin@example.com", 0);
    admin.is_admin = true;
    let created = store.create_first_admin(admin.clone()).await.expect("setup");
    assert_eq!(created.map(|u| u.id), Some(admin.id));
    assert!(reload(&*store, admin.id).await.is_admin);
    let again = store.create_first_admin(new_user("second@example.com", 1)).await.expect("setup");
    assert!(again.is_none(), "a second setup stores nothing");
    assert_eq!(store.count().await.expect("count"), 1);

    UserRepository::delete(&*store, admin.id, &[]).await.expect("delete");
    user(&*store, "plain@example.com").await;
    let late = store.create_first_admin(new_user("late@example.com", 2)).await.expect("setup");
    assert!(late.is_none(), "any existing user blocks the first-admin setup");
}

/// Of concurrent first-admin setups exactly one creates a user.
pub async fn concurrent_first_admin_setups_create_exactly_one<S: Storage>(store: Arc<S>) {
    let results = concurrently(20, |i| {
        let store = Arc::clone(&store);
        async move {
            let mut admin = new_user(&format!("admin{i}@example.com"), 0);
            admin.is_admin = true;
            store.create_first_admin(admin).await.expect("setup").is_some()
        }
    })
    .await;
    assert_eq!(count_true(&results), 1, "exactly one setup wins");
    assert_eq!(store.count().await.expect("count"), 1);
}

/// `set_password` replaces the hash (or sets one on an OIDC-only user); unknown users: false.
pub async fn set_password_replaces_the_hash_of_existing_users_only<S: Storage>(store: Arc<S>) {
    let mut input = new_user("pw@example.com", 0);
    input.login = LoginMethod::OidcOnly;
    UserRepository::create(&*store, input.clone()).await.expect("create");
    let hash = PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$bmV3$bmV3");
    assert!(store.set_password(input.id, hash.clone()).await.expect("set"));
    assert_eq!(reload(&*store, input.id).await.login, LoginMethod::Local(hash.clone()));
    assert!(!store.set_password(UserId::generate(), hash).await.expect("set"));
}

/// Deleting a user deletes their sessions, tokens, backup codes and attempt counters in
/// the same operation; audit events and other users' data stay.
pub async fn deleting_a_user_cascades_but_keeps_audit_events_and_other_users<S: Storage>(
    store: Arc<S>,
) {
    let gone = user(&*store, "gone@example.com").await;
    let kept = user(&*store, "kept@example.com").await;
    for u in [&gone, &kept] {
        enable(&*store, u.id, &u.id.to_string()[..8]).await;
        SessionRepository::create(&*store, session(&format!("s-{}", u.id), u.id, 1000))
            .await
            .expect("session");
        ApiTokenRepository::create(&*store, token(&format!("t-{}", u.id), u.id, 0))
            .await
            .expect("token");
        for kind in [AttemptKind::SecondFactor, AttemptKind::Password] {
            let key = AttemptKey::account(kind, &AttemptAccount::User(u.id));
            granted(store.reserve(&key, &POLICY, t(0)).await.expect("reserve"));
        }
        store.record(event(0, Some(u.id), AuditEventKind::LoginSuccess)).await.expect("audit");
    }

    let counters = AttemptKey::of_user(gone.id);
    assert!(UserRepository::delete(&*store, gone.id, &counters).await.expect("delete"));
    assert!(!UserRepository::delete(&*store, gone.id, &counters).await.expect("delete again"));
    assert_eq!(store.find_by_id(gone.id).await.expect("find"), None);
    assert_eq!(store.find(&digest(&format!("s-{}", gone.id))).await.expect("session"), None);
    assert_eq!(store.find_active(&digest(&format!("t-{}", gone.id))).await.expect("token"), None);
    assert!(store.list_for_user(gone.id).await.expect("tokens").is_empty());
    assert_eq!(store.backup_codes_remaining(gone.id).await.expect("codes"), 0);
    for kind in [AttemptKind::SecondFactor, AttemptKind::Password] {
        let key = AttemptKey::account(kind, &AttemptAccount::User(gone.id));
        assert_eq!(store.get(&key).await.expect("counter"), None, "{key} deleted");
    }
    let audit = AuditQuery { user_id: Some(gone.id), limit: 10, ..AuditQuery::default() };
    // The confirm's event (committed with it by `enable`) and the login's.
    assert_eq!(store.query(audit).await.expect("audit").len(), 2, "audit events outlive users");

    assert!(reload(&*store, kept.id).await.mfa.is_enabled());
    assert!(store.find(&digest(&format!("s-{}", kept.id))).await.expect("session").is_some());
    assert!(store.find_active(&digest(&format!("t-{}", kept.id))).await.expect("token").is_some());
    assert_eq!(store.backup_codes_remaining(kept.id).await.expect("codes"), 10);
    let key = AttemptKey::account(AttemptKind::SecondFactor, &AttemptAccount::User(kept.id));
    assert!(store.get(&key).await.expect("counter").is_some());
}

// ---------------------------------------------------------------------------------------
// MFA
// ---------------------------------------------------------------------------------------

/// Enrollment: begin stores a pending secret, a second begin replaces it, cancel drops it
/// (idempotently); unknown users are refused.
pub async fn enrollment_begins_replaces_and_cancels_while_disabled<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "enroll@example.com").await;
    assert!(store.begin_enrollment(u.id, secret("a")).await.expect("begin"));
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("a") });
    assert!(store.begin_enrollment(u.id, secret("b")).await.expect("begin"));
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("b") });
    assert_eq!(store.cancel_enrollment(u.id).await.expect("cancel"), CancelOutcome::Cancelled);
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
    assert_eq!(store.cancel_enrollment(u.id).await.expect("cancel"), CancelOutcome::Cancelled);
    assert!(!store.begin_enrollment(UserId::generate(), secret("x")).await.expect("begin"));
}

/// Confirm turns MFA on with the enrollment time and the step, stores exactly the codes,
/// and from then on begin and cancel change nothing.
pub async fn confirm_enables_mfa_with_the_step_and_exactly_the_given_codes<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "confirm@example.com").await;
    let pending = secret("p");
    assert!(store.begin_enrollment(u.id, pending.clone()).await.expect("begin"));
    let confirmed = store
        .confirm_enrollment(
            u.id,
            &pending,
            TotpStep::new(77),
            codes("c", 10),
            t(20),
            &audited(u.id),
        )
        .await
        .expect("confirm");
    assert!(confirmed);
    assert_eq!(
        reload(&*store, u.id).await.mfa,
        MfaState::Enabled {
            secret: pending.clone(),
            enrolled_at: t(20),
            last_totp_step: Some(TotpStep::new(77)),
        }
    );
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    assert!(!store.begin_enrollment(u.id, secret("q")).await.expect("begin"));
    assert_eq!(store.cancel_enrollment(u.id).await.expect("cancel"), CancelOutcome::AlreadyEnabled);
    let again = store
        .confirm_enrollment(
            u.id,
            &pending,
            TotpStep::new(78),
            codes("d", 10),
            t(21),
            &audited(u.id),
        )
        .await
        .expect("confirm");
    assert!(!again, "an enabled account cannot be confirmed again");
    assert!(reload(&*store, u.id).await.mfa.is_enabled());
    let old = MfaProof::BackupCode(digest("c0"));
    assert!(store.spend_proof(u.id, &old, t(22)).await.expect("spend"), "codes unchanged");
}

/// Confirm with a secret that is no longer the pending one (or with none pending) does
/// nothing.
pub async fn confirm_with_a_stale_pending_secret_changes_nothing<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "stale@example.com").await;
    let nothing_pending = store
        .confirm_enrollment(
            u.id,
            &secret("a"),
            TotpStep::new(1),
            codes("x", 10),
            t(1),
            &audited(u.id),
        )
        .await
        .expect("confirm");
    assert!(!nothing_pending);
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
    assert!(store.begin_enrollment(u.id, secret("a")).await.expect("begin"));
    assert!(store.begin_enrollment(u.id, secret("b")).await.expect("begin"));
    let stale = store
        .confirm_enrollment(
            u.id,
            &secret("a"),
            TotpStep::new(1),
            codes("x", 10),
            t(1),
            &audited(u.id),
        )
        .await
        .expect("confirm");
    assert!(!stale);
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("b") });
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
}

/// Twenty concurrent confirms, each with its own ten codes: exactly one enables MFA, and
/// exactly its ten codes are stored.
pub async fn twenty_concurrent_confirms_enable_once_with_exactly_ten_codes<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "race@example.com").await;
    let pending = secret("race");
    assert!(store.begin_enrollment(u.id, pending.clone()).await.expect("begin"));
    let results = concurrently(20, |i| {
        let store = Arc::clone(&store);
        let pending = pending.clone();
        async move {
            store
                .confirm_enrollment(
                    u.id,
                    &pending,
                    TotpStep::new(100),
                    codes(&format!("r{i}-"), 10),
                    t(5),
                    &audited(u.id),
                )
                .await
                .expect("confirm")
        }
    })
    .await;
    assert_eq!(count_true(&results), 1, "exactly one confirm wins");
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    let winner = results.iter().position(|&won| won).expect("a winner");
    let loser = (winner + 1) % 20;
    let losing = MfaProof::BackupCode(digest(&format!("r{loser}-0")));
    assert!(!store.spend_proof(u.id, &losing, t(6)).await.expect("spend"), "loser's codes absent");
    for code in codes(&format!("r{winner}-"), 10) {
        let proof = MfaProof::BackupCode(code);
        assert!(store.spend_proof(u.id, &proof, t(6)).await.expect("spend"), "winner's codes");
    }
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
}

/// A TOTP step is spent only if newer than the last accepted one, and then becomes the last.
pub async fn a_totp_step_is_accepted_only_when_newer_than_the_last<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "totp@example.com").await;
    enable(&*store, u.id, "t").await;
    let spend = |step: u64| {
        let store = Arc::clone(&store);
        async move {
            store
                .spend_proof(u.id, &MfaProof::TotpStep(TotpStep::new(step)), t(30))
                .await
                .expect("spend")
        }
    };
    assert!(!spend(100).await, "the step used to confirm is spent");
    assert!(!spend(99).await, "older steps are replays");
    assert!(spend(101).await);
    assert!(!spend(101).await, "a step is accepted once");
    assert!(spend(105).await);
    assert!(!spend(103).await);
    let MfaState::Enabled { last_totp_step, .. } = reload(&*store, u.id).await.mfa else {
        panic!("MFA stays enabled");
    };
    assert_eq!(last_totp_step, Some(TotpStep::new(105)));
}

/// Fifty concurrent acceptances of one TOTP step: exactly one succeeds.
pub async fn concurrent_acceptances_of_one_totp_step_succeed_exactly_once<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "totp-race@example.com").await;
    enable(&*store, u.id, "t").await;
    let results = concurrently(50, |_| {
        let store = Arc::clone(&store);
        async move {
            let proof = MfaProof::TotpStep(TotpStep::new(200));
            store.spend_proof(u.id, &proof, t(40)).await.expect("spend")
        }
    })
    .await;
    assert_eq!(count_true(&results), 1);
}

/// A backup code is spent once, only by its owner, and unknown codes are refused.
pub async fn a_backup_code_works_exactly_once_and_only_for_its_user<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let b = user(&*store, "b@example.com").await;
    let a_codes = enable(&*store, a.id, "a").await;
    enable(&*store, b.id, "b").await;
    let proof = MfaProof::BackupCode(a_codes[3].clone());
    assert!(!store.spend_proof(b.id, &proof, t(50)).await.expect("spend"), "not b's code");
    assert!(store.spend_proof(a.id, &proof, t(50)).await.expect("spend"));
    assert!(!store.spend_proof(a.id, &proof, t(51)).await.expect("spend"), "used");
    let unknown = MfaProof::BackupCode(digest("unknown"));
    assert!(!store.spend_proof(a.id, &unknown, t(52)).await.expect("spend"));
    assert_eq!(store.backup_codes_remaining(a.id).await.expect("codes"), 9);
    assert_eq!(store.backup_codes_remaining(b.id).await.expect("codes"), 10);
}

/// Fifty concurrent spends of one backup code: exactly one succeeds.
pub async fn fifty_concurrent_spends_of_one_backup_code_succeed_exactly_once<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "code-race@example.com").await;
    let codes = enable(&*store, u.id, "k").await;
    let results = concurrently(50, |_| {
        let store = Arc::clone(&store);
        let proof = MfaProof::BackupCode(codes[0].clone());
        async move { store.spend_proof(u.id, &proof, t(60)).await.expect("spend") }
    })
    .await;
    assert_eq!(count_true(&results), 1);
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 9);
}

/// With MFA pending or off, no proof is spent and nothing changes.
pub async fn proofs_are_refused_while_mfa_is_not_enabled<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "off@example.com").await;
    let step = MfaProof::TotpStep(TotpStep::new(500));
    assert!(!store.spend_proof(u.id, &step, t(1)).await.expect("spend"));
    assert!(store.begin_enrollment(u.id, secret("p")).await.expect("begin"));
    assert!(!store.spend_proof(u.id, &step, t(1)).await.expect("spend"));
    assert!(!store.disable_with_proof(u.id, &step, t(1), &audited(u.id)).await.expect("disable"));
    assert!(
        !store
            .regenerate_with_proof(u.id, &step, codes("n", 10), t(1), &audited(u.id))
            .await
            .expect("regen")
    );
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("p") });
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
    assert!(!store.spend_proof(UserId::generate(), &step, t(1)).await.expect("spend"));
}

/// Disable with a fresh proof: flag off, secret erased, every code deleted, replay state
/// reset — so a new enrollment starts from nothing.
pub async fn disable_with_proof_clears_flag_secret_codes_and_step<S: Storage>(store: Arc<S>) {
    for (n, proof) in
        [MfaProof::TotpStep(TotpStep::new(150)), MfaProof::BackupCode(codes("d", 10)[2].clone())]
            .into_iter()
            .enumerate()
    {
        let u = user(&*store, &format!("disable{n}@example.com")).await;
        enable(&*store, u.id, "d").await;
        assert!(
            store.disable_with_proof(u.id, &proof, t(70), &audited(u.id)).await.expect("disable")
        );
        assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
        assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
        let old_code = MfaProof::BackupCode(codes("d", 10)[5].clone());
        assert!(!store.spend_proof(u.id, &old_code, t(71)).await.expect("spend"));
        // Re-enroll: the old replay state is gone, and the old codes stay gone.
        assert!(store.begin_enrollment(u.id, secret("new")).await.expect("begin"));
        assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Pending { secret: secret("new") });
        let ok = store
            .confirm_enrollment(
                u.id,
                &secret("new"),
                TotpStep::new(3),
                codes("e", 10),
                t(72),
                &audited(u.id),
            )
            .await
            .expect("confirm");
        assert!(ok);
        assert!(!store.spend_proof(u.id, &old_code, t(73)).await.expect("spend"));
        let four = MfaProof::TotpStep(TotpStep::new(4));
        assert!(store.spend_proof(u.id, &four, t(73)).await.expect("spend"));
        assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    }
}

/// Disable with a replayed step or a used code: refused, nothing changes.
pub async fn disable_with_an_unspendable_proof_changes_nothing<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "keep@example.com").await;
    let codes = enable(&*store, u.id, "u").await;
    let used = MfaProof::BackupCode(codes[0].clone());
    assert!(store.spend_proof(u.id, &used, t(80)).await.expect("spend"));
    let before = reload(&*store, u.id).await;
    for proof in [
        MfaProof::TotpStep(TotpStep::new(100)),
        MfaProof::TotpStep(TotpStep::new(1)),
        used.clone(),
        MfaProof::BackupCode(digest("not-a-code")),
    ] {
        assert!(
            !store.disable_with_proof(u.id, &proof, t(81), &audited(u.id)).await.expect("disable")
        );
    }
    assert_eq!(reload(&*store, u.id).await, before);
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 9);
}

/// Twenty concurrent disables with one backup code: exactly one succeeds.
pub async fn concurrent_disables_with_one_backup_code_succeed_exactly_once<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "disable-race@example.com").await;
    let codes = enable(&*store, u.id, "z").await;
    let results = concurrently(20, |_| {
        let store = Arc::clone(&store);
        let proof = MfaProof::BackupCode(codes[1].clone());
        async move {
            store.disable_with_proof(u.id, &proof, t(90), &audited(u.id)).await.expect("disable")
        }
    })
    .await;
    assert_eq!(count_true(&results), 1);
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
}

/// Disables (by TOTP) racing regenerations (by backup code) on one user: no call fails
/// (no deadlock between the user row and the code rows), exactly one disable wins, and MFA
/// ends off with no codes.
pub async fn concurrent_disables_and_regenerations_never_fail_and_one_disable_wins<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "mixed@example.com").await;
    let codes = enable(&*store, u.id, "m").await;
    let results = concurrently(20, |i| {
        let store = Arc::clone(&store);
        let code = codes[i % 10].clone();
        async move {
            if i % 2 == 0 {
                let proof = MfaProof::TotpStep(TotpStep::new(300 + i as u64));
                (true, store.disable_with_proof(u.id, &proof, t(95), &audited(u.id)).await)
            } else {
                let proof = MfaProof::BackupCode(code);
                let fresh = codes_for(i);
                (
                    false,
                    store.regenerate_with_proof(u.id, &proof, fresh, t(95), &audited(u.id)).await,
                )
            }
        }
    })
    .await;
    let mut disabled = 0;
    for (is_disable, result) in results {
        let spent = result.expect("no storage error under contention");
        if is_disable && spent {
            disabled += 1;
        }
    }
    assert_eq!(disabled, 1, "exactly one disable wins");
    assert_eq!(reload(&*store, u.id).await.mfa, MfaState::Disabled);
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 0);
}

fn codes_for(i: usize) -> Vec<SecretDigest> {
    codes(&format!("regen{i}-"), 10)
}

/// Regenerate with a fresh proof replaces every code; with a spent proof it changes nothing.
pub async fn regenerate_with_proof_replaces_every_code<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "regen@example.com").await;
    let old = enable(&*store, u.id, "o").await;
    let fresh = codes("f", 10);
    let proof = MfaProof::BackupCode(old[0].clone());
    assert!(
        store
            .regenerate_with_proof(u.id, &proof, fresh.clone(), t(100), &audited(u.id))
            .await
            .expect("regen")
    );
    assert_eq!(store.backup_codes_remaining(u.id).await.expect("codes"), 10);
    let old_code = MfaProof::BackupCode(old[1].clone());
    assert!(!store.spend_proof(u.id, &old_code, t(101)).await.expect("spend"), "old codes gone");
    let replay = MfaProof::TotpStep(TotpStep::new(100));
    let refused = store
        .regenerate_with_proof(u.id, &replay, codes("g", 10), t(102), &audited(u.id))
        .await
        .expect("regen");
    assert!(!refused);
    let new_code = MfaProof::BackupCode(fresh[9].clone());
    assert!(store.spend_proof(u.id, &new_code, t(103)).await.expect("spend"), "new codes work");
    assert!(reload(&*store, u.id).await.mfa.is_enabled());
}

/// Administrative reset turns MFA off from enabled or pending and reports whether it was on.
pub async fn reset_turns_mfa_off_from_any_state<S: Storage>(store: Arc<S>) {
    let enabled = user(&*store, "en@example.com").await;
    enable(&*store, enabled.id, "r").await;
    assert!(store.reset(enabled.id, &audited(enabled.id)).await.expect("reset"));
    assert_eq!(reload(&*store, enabled.id).await.mfa, MfaState::Disabled);
    assert_eq!(store.backup_codes_remaining(enabled.id).await.expect("codes"), 0);

    let pending = user(&*store, "pe@example.com").await;
    assert!(store.begin_enrollment(pending.id, secret("p")).await.expect("begin"));
    assert!(store.reset(pending.id, &audited(pending.id)).await.expect("reset"));
    assert_eq!(reload(&*store, pending.id).await.mfa, MfaState::Disabled);

    let off = user(&*store, "of@example.com").await;
    assert!(!store.reset(off.id, &audited(off.id)).await.expect("reset"));
}

// ---------------------------------------------------------------------------------------
// What an MFA change commits with it
// ---------------------------------------------------------------------------------------

/// The stage of an MFA change with effects: the user has three sessions (`<p>keep`,
/// `<p>other1`, `<p>other2`), a bystander has one (`<p>bystander`), and one attempt is
/// reserved on the user's account and on an address.
struct Stage {
    user: UserId,
    account: String,
    address: String,
}

impl Stage {
    async fn new<S: Storage>(store: &S, p: &str) -> Self {
        let u = user(store, &format!("{p}@example.com")).await;
        let bystander = user(store, &format!("{p}-bystander@example.com")).await;
        for (id, owner) in [("keep", u.id), ("other1", u.id), ("other2", u.id)]
            .into_iter()
            .chain([("bystander", bystander.id)])
        {
            let record = session(&format!("{p}{id}"), owner, 600);
            SessionRepository::create(store, record).await.expect("create session");
        }
        let account = AttemptKey::account(AttemptKind::SecondFactor, &AttemptAccount::User(u.id));
        let octet = p.bytes().map(u32::from).sum::<u32>() % 250;
        let address = AttemptKey::address(&format!("192.0.2.{octet}"));
        let stage = Self { user: u.id, account, address };
        stage.reserve(store, 5).await;
        stage
    }

    async fn reserve<S: Storage>(&self, store: &S, at: i64) {
        for key in [&self.account, &self.address] {
            granted(store.reserve(key, &POLICY, t(at)).await.expect("reserve"));
        }
    }

    /// What a successful change commits: `kind` audited at `at`, the attempts reserved at
    /// [`Self::new`] given back, and the sessions `keep` says ended.
    fn effects(&self, kind: AuditEventKind, at: i64, keep: Option<&str>) -> ChangeEffects {
        let release =
            |key: &String, outcome| AttemptRelease { key: key.clone(), reserved_in: t(5), outcome };
        ChangeEffects {
            audit: AuditEvent {
                at: t(at),
                user_id: Some(self.user),
                actor_id: None,
                kind,
                outcome: AuditOutcome::Success,
                proof: Some(ProofKind::BackupCode),
                detail: None,
                client_addr: Some("192.0.2.9".to_owned()),
                user_agent: Some("contract".to_owned()),
            },
            also_audit: Vec::new(),
            start_session: None,
            end_sessions: keep.map(|k| EndSessions { keep: Some(digest(k)) }),
            releases: vec![
                release(&self.account, Release::Succeeded),
                release(&self.address, Release::NotAGuess),
            ],
            cleared_attempts: Vec::new(),
            notice: Some(stage_notice(self.user, kind, at)),
        }
    }

    /// How many stored events equal `event`.
    async fn stored<S: Storage>(&self, store: &S, event: &AuditEvent) -> usize {
        let query = AuditQuery { user_id: Some(self.user), kind: None, limit: 100, offset: 0 };
        let events = store.query(query).await.expect("query");
        events.iter().filter(|e| e.event == *event).count()
    }

    async fn alive<S: Storage>(store: &S, id: &str) -> bool {
        store.find(&digest(id)).await.expect("find").is_some()
    }

    /// `effects` were committed: the event once, only `<p>keep` (and the bystander) left
    /// when sessions end, the reserved attempts given back and the account's run ended.
    async fn assert_applied<S: Storage>(&self, store: &S, p: &str, effects: &ChangeEffects) {
        assert_eq!(self.stored(store, &effects.audit).await, 1, "the event is stored once");
        if let Some(notice) = &effects.notice {
            assert_eq!(notices_with(store, notice).await, 1, "the notice is stored once");
        }
        let others_end = effects.end_sessions.is_some();
        assert!(Self::alive(store, &format!("{p}keep")).await, "the kept session stays");
        for other in ["other1", "other2"] {
            let alive = Self::alive(store, &format!("{p}{other}")).await;
            assert_eq!(alive, !others_end, "{other}: ended exactly when asked");
        }
        assert!(Self::alive(store, &format!("{p}bystander")).await, "another user's stays");
        let account = store.get(&self.account).await.expect("get");
        let released = AttemptCounter { window_start: t(5), failures: 0, consecutive: 0 };
        assert_eq!(account, Some(released), "the attempt is given back, the run ended");
        let address = store.get(&self.address).await.expect("get").expect("address counter");
        assert_eq!((address.failures, address.consecutive), (0, 0), "the address's place too");
    }

    /// None of `effects` happened: no event, every session alive, both attempts counted.
    async fn assert_untouched<S: Storage>(&self, store: &S, p: &str, effects: &ChangeEffects) {
        assert_eq!(self.stored(store, &effects.audit).await, 0, "no event");
        if let Some(notice) = &effects.notice {
            assert_eq!(notices_with(store, notice).await, 0, "no notice");
        }
        for id in ["keep", "other1", "other2", "bystander"] {
            assert!(Self::alive(store, &format!("{p}{id}")).await, "{id} still alive");
        }
        for key in [&self.account, &self.address] {
            let counter = store.get(key).await.expect("get").expect("counter");
            assert_eq!((counter.failures, counter.consecutive), (1, 1), "{key} still counted");
        }
    }
}

/// A pending-MFA state `id` of `user`.
fn pending_session(id: &str, user: UserId) -> SessionRecord {
    SessionRecord { kind: SessionKind::PendingMfa, ..session(id, user, 600) }
}

impl Stage {
    /// What a sign-in commits: [`Self::effects`] for the verify event, the login event
    /// after it and the new session `new`.
    fn sign_in_effects(&self, new: &str, user: UserId) -> ChangeEffects {
        let mut effects = self.effects(AuditEventKind::MfaVerifySuccess, 30, None);
        let login = AuditEvent { kind: AuditEventKind::LoginSuccess, ..effects.audit.clone() };
        effects.also_audit.push(login);
        effects.start_session = Some(session(new, user, 900));
        effects
    }
}

/// A sign-in with a second factor: the pending state ends, the proof is spent, the new
/// session is stored, both events once and the reserved attempts given back — together.
/// By TOTP and by backup code.
pub async fn a_sign_in_with_a_proof_commits_the_session_and_both_events_with_the_spend<
    S: Storage,
>(
    store: Arc<S>,
) {
    for (p, by_code) in [("sia", false), ("sib", true)] {
        let stage = Stage::new(&*store, p).await;
        let codes = enable(&*store, stage.user, p).await;
        let pending = format!("{p}pending");
        SessionRepository::create(&*store, pending_session(&pending, stage.user))
            .await
            .expect("create pending");
        let proof = if by_code {
            MfaProof::BackupCode(codes[3].clone())
        } else {
            MfaProof::TotpStep(TotpStep::new(101))
        };
        let new = format!("{p}new");
        let effects = stage.sign_in_effects(&new, stage.user);
        let outcome = store
            .sign_in_with_proof(stage.user, &digest(&pending), &proof, t(30), &effects)
            .await
            .expect("sign in");
        assert_eq!(outcome, ProofSignIn::SignedIn);
        assert!(!Stage::alive(&*store, &pending).await, "the pending state ended");
        let started = store.find(&digest(&new)).await.expect("find").expect("new session");
        assert_eq!((started.user_id, started.kind), (stage.user, SessionKind::Full));
        stage.assert_applied(&*store, p, &effects).await;
        assert_eq!(stage.stored(&*store, &effects.also_audit[0]).await, 1, "login event once");
        assert!(!store.spend_proof(stage.user, &proof, t(31)).await.expect("spend"), "spent");
        assert!(reload(&*store, stage.user).await.mfa.is_enabled(), "MFA stays on");
    }
}

/// A sign-in whose proof cannot be spent changes nothing (the pending state stays, no
/// session, no event, the attempts stay counted); one whose pending state is gone — or is
/// another user's — spends nothing.
pub async fn a_refused_sign_in_changes_nothing_and_a_gone_pending_state_spends_nothing<
    S: Storage,
>(
    store: Arc<S>,
) {
    let p = "sir";
    let stage = Stage::new(&*store, p).await;
    let codes = enable(&*store, stage.user, p).await;
    let pending = format!("{p}pending");
    SessionRepository::create(&*store, pending_session(&pending, stage.user))
        .await
        .expect("create pending");
    let spent = MfaProof::BackupCode(codes[0].clone());
    assert!(store.spend_proof(stage.user, &spent, t(20)).await.expect("spend"));
    let new = format!("{p}new");
    let effects = stage.sign_in_effects(&new, stage.user);
    let pending_digest = digest(&pending);
    for proof in [spent, MfaProof::TotpStep(TotpStep::new(100))] {
        let outcome = store
            .sign_in_with_proof(stage.user, &pending_digest, &proof, t(30), &effects)
            .await
            .expect("sign in");
        assert_eq!(outcome, ProofSignIn::ProofRefused);
    }
    assert!(Stage::alive(&*store, &pending).await, "the pending state stays");
    assert!(!Stage::alive(&*store, &new).await, "no session started");
    stage.assert_untouched(&*store, p, &effects).await;
    assert_eq!(stage.stored(&*store, &effects.also_audit[0]).await, 0, "no login event");

    // Another user's pending state does not sign this user in, and spends nothing.
    let other = user(&*store, "sir-other@example.com").await;
    let theirs = format!("{p}theirs");
    SessionRepository::create(&*store, pending_session(&theirs, other.id))
        .await
        .expect("create pending");
    let fresh = MfaProof::BackupCode(codes[1].clone());
    let outcome = store
        .sign_in_with_proof(stage.user, &digest(&theirs), &fresh, t(30), &effects)
        .await
        .expect("sign in");
    assert_eq!(outcome, ProofSignIn::PendingGone);
    assert!(Stage::alive(&*store, &theirs).await, "their pending state stays");
    // A full session is no pending state either; a deleted pending state is gone.
    let full = format!("{p}keep");
    let outcome = store
        .sign_in_with_proof(stage.user, &digest(&full), &fresh, t(30), &effects)
        .await
        .expect("sign in");
    assert_eq!(outcome, ProofSignIn::PendingGone);
    assert!(SessionRepository::delete(&*store, &pending_digest).await.expect("delete"));
    let outcome = store
        .sign_in_with_proof(stage.user, &pending_digest, &fresh, t(30), &effects)
        .await
        .expect("sign in");
    assert_eq!(outcome, ProofSignIn::PendingGone);
    assert!(!Stage::alive(&*store, &new).await, "no session started");
    stage.assert_untouched(&*store, p, &effects).await;
    assert!(store.spend_proof(stage.user, &fresh, t(31)).await.expect("spend"), "unspent");
}

/// Twenty sign-ins with one pending state at once, each with its own valid backup code:
/// exactly one signs in; the others spend nothing and start no session.
pub async fn concurrent_sign_ins_with_one_pending_state_succeed_exactly_once<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "sic@example.com").await;
    let codes = enable(&*store, u.id, "sic").await;
    SessionRepository::create(&*store, pending_session("sicpending", u.id))
        .await
        .expect("create pending");
    let outcomes = concurrently(10, |i| {
        let store = Arc::clone(&store);
        let code = codes[i].clone();
        async move {
            let mut effects = audited(u.id);
            effects.start_session = Some(session(&format!("sicnew{i}"), u.id, 900));
            let proof = MfaProof::BackupCode(code);
            store
                .sign_in_with_proof(u.id, &digest("sicpending"), &proof, t(30), &effects)
                .await
                .expect("sign in")
        }
    })
    .await;
    let winners: Vec<usize> = (0..10).filter(|&i| outcomes[i] == ProofSignIn::SignedIn).collect();
    assert_eq!(winners.len(), 1, "exactly one sign-in: {outcomes:?}");
    assert!(outcomes.iter().all(|o| *o != ProofSignIn::ProofRefused), "{outcomes:?}");
    for (i, code) in codes.iter().enumerate().take(10) {
        let alive = store.find(&digest(&format!("sicnew{i}"))).await.expect("find").is_some();
        assert_eq!(alive, winners == [i], "session {i} exists only for the winner");
        let proof = MfaProof::BackupCode(code.clone());
        let unspent = store.spend_proof(u.id, &proof, t(31)).await.expect("spend");
        assert_eq!(unspent, winners != [i], "code {i} spent only by the winner");
    }
}

/// A disable with effects: with the proof spent and MFA off, the event is stored, every
/// other session of the user ended (the kept one and other users' stay), and the reserved
/// attempts given back — all in the disable's transaction. By TOTP and by backup code.
pub async fn a_disable_commits_its_audit_event_session_ends_and_releases_with_it<S: Storage>(
    store: Arc<S>,
) {
    for (p, by_code) in [("fxa", false), ("fxb", true)] {
        let stage = Stage::new(&*store, p).await;
        let codes = enable(&*store, stage.user, p).await;
        let proof = if by_code {
            MfaProof::BackupCode(codes[4].clone())
        } else {
            MfaProof::TotpStep(TotpStep::new(101))
        };
        let keep = format!("{p}keep");
        let effects = stage.effects(AuditEventKind::MfaDisableSuccess, 30, Some(&keep));
        assert!(store.disable_with_proof(stage.user, &proof, t(30), &effects).await.expect("ok"));
        assert_eq!(reload(&*store, stage.user).await.mfa, MfaState::Disabled);
        stage.assert_applied(&*store, p, &effects).await;
    }
}

/// A disable the storage refuses (spent backup code, replayed step, MFA already off)
/// applies none of its effects.
pub async fn a_refused_disable_applies_none_of_its_effects<S: Storage>(store: Arc<S>) {
    let p = "fxr";
    let stage = Stage::new(&*store, p).await;
    let codes = enable(&*store, stage.user, p).await;
    let spent = MfaProof::BackupCode(codes[0].clone());
    assert!(store.spend_proof(stage.user, &spent, t(20)).await.expect("spend"));
    let keep = format!("{p}keep");
    let effects = stage.effects(AuditEventKind::MfaDisableSuccess, 30, Some(&keep));
    for proof in [spent, MfaProof::TotpStep(TotpStep::new(100))] {
        assert!(!store.disable_with_proof(stage.user, &proof, t(30), &effects).await.expect("ok"));
    }
    assert!(reload(&*store, stage.user).await.mfa.is_enabled());
    stage.assert_untouched(&*store, p, &effects).await;
    // Once MFA is off, a disable with a fresh step is refused too, and adds nothing.
    let off = audited(stage.user);
    let fresh = MfaProof::TotpStep(TotpStep::new(200));
    assert!(store.disable_with_proof(stage.user, &fresh, t(31), &off).await.expect("ok"));
    let late = MfaProof::TotpStep(TotpStep::new(201));
    assert!(!store.disable_with_proof(stage.user, &late, t(32), &effects).await.expect("ok"));
    assert_eq!(stage.stored(&*store, &effects.audit).await, 0);
}

/// Confirm and regenerate commit their effects with the change, and none when refused (a
/// stale pending secret, a spent proof).
pub async fn confirm_and_regenerate_commit_their_effects_only_when_they_change_something<
    S: Storage,
>(
    store: Arc<S>,
) {
    let p = "fxc";
    let stage = Stage::new(&*store, p).await;
    let pending = secret(p);
    assert!(store.begin_enrollment(stage.user, pending.clone()).await.expect("begin"));
    let stale = stage.effects(AuditEventKind::MfaEnrollConfirmSuccess, 9, None);
    let refused = store
        .confirm_enrollment(
            stage.user,
            &secret("other"),
            TotpStep::new(1),
            codes(p, 10),
            t(9),
            &stale,
        )
        .await
        .expect("confirm");
    assert!(!refused);
    stage.assert_untouched(&*store, p, &stale).await;
    let confirm = stage.effects(AuditEventKind::MfaEnrollConfirmSuccess, 10, None);
    let confirmed = store
        .confirm_enrollment(stage.user, &pending, TotpStep::new(1), codes(p, 10), t(10), &confirm)
        .await
        .expect("confirm");
    assert!(confirmed);
    stage.assert_applied(&*store, p, &confirm).await;

    stage.reserve(&*store, 5).await;
    let regen = stage.effects(AuditEventKind::MfaBackupRegenerateSuccess, 11, None);
    let replay = MfaProof::TotpStep(TotpStep::new(1));
    let fresh = codes("fresh", 10);
    let refused = store
        .regenerate_with_proof(stage.user, &replay, fresh.clone(), t(11), &regen)
        .await
        .expect("regen");
    assert!(!refused);
    stage.assert_untouched(&*store, p, &regen).await;
    let proof = MfaProof::BackupCode(digest(&format!("{p}3")));
    assert!(
        store.regenerate_with_proof(stage.user, &proof, fresh, t(11), &regen).await.expect("ok")
    );
    stage.assert_applied(&*store, p, &regen).await;
}

/// Administrative reset: MFA off, the event stored, every session of the user ended (none
/// kept) and the counters named forgotten — also when MFA was already off.
pub async fn reset_commits_its_event_ends_every_session_and_forgets_the_counters<S: Storage>(
    store: Arc<S>,
) {
    for (p, on) in [("fxs", true), ("fxt", false)] {
        let stage = Stage::new(&*store, p).await;
        if on {
            enable(&*store, stage.user, p).await;
        }
        let mut effects = stage.effects(AuditEventKind::MfaResetByAdmin, 40, None);
        effects.end_sessions = Some(EndSessions { keep: None });
        effects.releases.clear();
        effects.cleared_attempts = vec![stage.account.clone()];
        assert_eq!(store.reset(stage.user, &effects).await.expect("reset"), on);
        assert_eq!(reload(&*store, stage.user).await.mfa, MfaState::Disabled);
        assert_eq!(stage.stored(&*store, &effects.audit).await, 1);
        for id in ["keep", "other1", "other2"] {
            assert!(!Stage::alive(&*store, &format!("{p}{id}")).await, "{id} ended");
        }
        assert!(Stage::alive(&*store, &format!("{p}bystander")).await);
        assert_eq!(store.get(&stage.account).await.expect("get"), None, "counter forgotten");
        assert!(store.get(&stage.address).await.expect("get").is_some(), "only those named");
    }
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

/// A session reads back as stored; `touch` moves only `last_seen_at`.
pub async fn a_session_round_trips_and_is_touched<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "s@example.com").await;
    let mut record = session("s1", u.id, 3600);
    record.kind = SessionKind::PendingMfa;
    SessionRepository::create(&*store, record.clone()).await.expect("create");
    assert_eq!(store.find(&record.id_hash).await.expect("find"), Some(record.clone()));
    SessionRepository::touch(&*store, &record.id_hash, t(60)).await.expect("touch");
    let touched = store.find(&record.id_hash).await.expect("find").expect("exists");
    assert_eq!(touched, SessionRecord { last_seen_at: t(60), ..record });
    assert_eq!(store.find(&digest("nope")).await.expect("find"), None);
}

/// Of concurrent deletes of one session exactly one reports it existed.
pub async fn deleting_a_session_succeeds_exactly_once_under_concurrency<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "once@example.com").await;
    SessionRepository::create(&*store, session("pending", u.id, 600)).await.expect("create");
    let results = concurrently(20, |_| {
        let store = Arc::clone(&store);
        async move { SessionRepository::delete(&*store, &digest("pending")).await.expect("delete") }
    })
    .await;
    assert_eq!(count_true(&results), 1);
    assert_eq!(store.find(&digest("pending")).await.expect("find"), None);
}

/// Attempts on a pending-MFA state are reserved 1, 2, 3, … up to the maximum, and of many
/// concurrent reservations exactly the places left are granted.
pub async fn a_pending_session_grants_at_most_its_attempts_under_concurrency<S: Storage>(
    store: Arc<S>,
) {
    let u = user(&*store, "fails@example.com").await;
    let id = digest("mfa-pending");
    SessionRepository::create(&*store, session("mfa-pending", u.id, 600)).await.expect("create");
    assert_eq!(store.reserve_attempt(&id, 5).await.expect("reserve"), Some(1));
    assert_eq!(store.reserve_attempt(&id, 5).await.expect("reserve"), Some(2));
    let mut seen: Vec<u32> = concurrently(50, |_| {
        let store = Arc::clone(&store);
        let id = id.clone();
        async move { store.reserve_attempt(&id, 5).await.expect("reserve") }
    })
    .await
    .into_iter()
    .flatten()
    .collect();
    seen.sort_unstable();
    assert_eq!(seen, [3, 4, 5], "exactly the three places left were granted, once each");
    let stored = store.find(&id).await.expect("find").expect("exists");
    assert_eq!(stored.failed_attempts, 5);
    assert_eq!(store.reserve_attempt(&id, 5).await.expect("reserve"), None, "used up");
    assert_eq!(store.reserve_attempt(&digest("gone"), 5).await.expect("reserve"), None);
}

/// `delete_for_user` deletes the user's other sessions, keeps `keep` and others' sessions.
pub async fn sessions_of_a_user_are_deleted_except_the_kept_one<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let b = user(&*store, "b@example.com").await;
    for (id, owner) in [("a1", a.id), ("a2", a.id), ("a3", a.id), ("b1", b.id)] {
        SessionRepository::create(&*store, session(id, owner, 600)).await.expect("create");
    }
    assert_eq!(store.delete_for_user(a.id, Some(&digest("a2"))).await.expect("delete"), 2);
    assert!(store.find(&digest("a2")).await.expect("find").is_some());
    assert!(store.find(&digest("a1")).await.expect("find").is_none());
    assert!(store.find(&digest("b1")).await.expect("find").is_some());
    assert_eq!(store.delete_for_user(a.id, None).await.expect("delete"), 1);
    assert!(store.find(&digest("a2")).await.expect("find").is_none());
}

/// `delete_expired` deletes sessions whose absolute expiry has passed, and only those.
pub async fn expired_sessions_are_deleted<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "exp@example.com").await;
    for (id, expires) in [("old", 100), ("older", 50), ("live", 1000)] {
        SessionRepository::create(&*store, session(id, u.id, expires)).await.expect("create");
    }
    assert_eq!(store.delete_expired(t(500)).await.expect("purge"), 2);
    assert!(store.find(&digest("live")).await.expect("find").is_some());
    assert!(store.find(&digest("old")).await.expect("find").is_none());
    assert_eq!(store.delete_expired(t(500)).await.expect("purge"), 0);
}

/// Two users with MFA on, `a` with two of its ten codes spent, `b` with all ten unused; and
/// `c`, an OIDC-only administrator without MFA.
async fn owners_with_codes<S: Storage>(store: &S) -> (User, User, User) {
    let a = user(store, "owner-a@example.com").await;
    let b = user(store, "owner-b@example.com").await;
    let mut input = new_user("owner-c@example.com", 0);
    input.login = LoginMethod::OidcOnly;
    input.oidc_provider = Some("google".to_owned());
    input.is_admin = true;
    UserRepository::create(store, input.clone()).await.expect("create");
    let a_codes = enable(store, a.id, "a").await;
    enable(store, b.id, "b").await;
    for code in &a_codes[..2] {
        let proof = MfaProof::BackupCode(code.clone());
        assert!(store.spend_proof(a.id, &proof, t(20)).await.expect("spend"));
    }
    (reload(store, a.id).await, reload(store, b.id).await, reload(store, input.id).await)
}

/// `find_caller` reads a session (pending or expired too) with its owner as stored and the
/// owner's unused backup codes — not the spent ones, not another user's; a deleted session
/// is gone on the very next call.
pub async fn a_session_resolves_to_its_owner_and_unused_backup_codes_until_deleted<S: Storage>(
    store: Arc<S>,
) {
    let (a, b, c) = owners_with_codes(&*store).await;
    let mut pending = session("a-pending", a.id, 5);
    pending.kind = SessionKind::PendingMfa;
    for record in [session("a1", a.id, 600), pending, session("b1", b.id, 600)] {
        SessionRepository::create(&*store, record).await.expect("create");
    }
    SessionRepository::create(&*store, session("c1", c.id, 600)).await.expect("create");
    let found = SessionRepository::find_caller(&*store, &digest("a1")).await.expect("find");
    let expected = CallerRecord {
        credential: session("a1", a.id, 600),
        user: a.clone(),
        backup_codes_remaining: 8,
    };
    assert_eq!(found, Some(expected));
    let found = SessionRepository::find_caller(&*store, &digest("a-pending"))
        .await
        .expect("find")
        .expect("found");
    assert_eq!((found.credential.kind, found.user.id), (SessionKind::PendingMfa, a.id));
    assert_eq!(found.credential.expires_at, t(5), "expired sessions are returned too");
    let found =
        SessionRepository::find_caller(&*store, &digest("b1")).await.expect("find").expect("found");
    assert_eq!((found.user, found.backup_codes_remaining), (b, 10));
    let found =
        SessionRepository::find_caller(&*store, &digest("c1")).await.expect("find").expect("found");
    assert_eq!((found.user, found.backup_codes_remaining), (c, 0));

    assert!(SessionRepository::delete(&*store, &digest("a1")).await.expect("delete"));
    assert_eq!(SessionRepository::find_caller(&*store, &digest("a1")).await.expect("find"), None);
    assert_eq!(SessionRepository::find_caller(&*store, &digest("nope")).await.expect("find"), None);
    assert!(SessionRepository::find_caller(&*store, &digest("b1")).await.expect("find").is_some());
}

// ---------------------------------------------------------------------------------------
// API tokens
// ---------------------------------------------------------------------------------------

/// A token is found by its hash and listed until revoked; revoking twice reports false.
pub async fn an_api_token_is_found_by_hash_until_revoked<S: Storage>(store: Arc<S>) {
    let u = user(&*store, "tok@example.com").await;
    let record = token("ci", u.id, 5);
    ApiTokenRepository::create(&*store, record.clone()).await.expect("create");
    assert_eq!(store.find_active(&record.token_hash).await.expect("find"), Some(record.clone()));
    ApiTokenRepository::touch(&*store, record.id, t(9)).await.expect("touch");
    let used = store.find_active(&record.token_hash).await.expect("find").expect("active");
    assert_eq!(used.last_used_at, Some(t(9)));
    assert_eq!(store.list_for_user(u.id).await.expect("list"), vec![used]);
    assert!(store.revoke(u.id, record.id, t(10)).await.expect("revoke"));
    assert_eq!(store.find_active(&record.token_hash).await.expect("find"), None);
    assert!(store.list_for_user(u.id).await.expect("list").is_empty());
    assert!(!store.revoke(u.id, record.id, t(11)).await.expect("revoke"), "already revoked");
    assert!(!store.revoke(u.id, ApiTokenId::generate(), t(11)).await.expect("revoke"));
}

/// Revoking another user's token reports false and leaves it active.
pub async fn another_users_token_cannot_be_revoked<S: Storage>(store: Arc<S>) {
    let owner = user(&*store, "owner@example.com").await;
    let other = user(&*store, "other@example.com").await;
    let record = token("mine", owner.id, 0);
    ApiTokenRepository::create(&*store, record.clone()).await.expect("create");
    assert!(!store.revoke(other.id, record.id, t(1)).await.expect("revoke"));
    assert!(store.find_active(&record.token_hash).await.expect("find").is_some());
}

/// Each user's active tokens, oldest first.
pub async fn tokens_are_listed_oldest_first_per_user<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let b = user(&*store, "b@example.com").await;
    for (label, owner, created) in [("a-late", a.id, 30), ("b-1", b.id, 10), ("a-early", a.id, 10)]
    {
        ApiTokenRepository::create(&*store, token(label, owner, created)).await.expect("create");
    }
    let names: Vec<String> =
        store.list_for_user(a.id).await.expect("list").into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["a-early", "a-late"]);
    assert_eq!(store.list_for_user(b.id).await.expect("list").len(), 1);
}

/// `find_caller` reads an active token with its owner as stored and the owner's unused
/// backup codes — not the spent ones, not another user's; a revoked token is gone on the
/// very next call.
pub async fn a_token_resolves_to_its_owner_and_unused_backup_codes_until_revoked<S: Storage>(
    store: Arc<S>,
) {
    let (a, b, c) = owners_with_codes(&*store).await;
    let (mine, theirs, admin) =
        (token("a-ci", a.id, 5), token("b-ci", b.id, 6), token("c", c.id, 7));
    for record in [&mine, &theirs, &admin] {
        ApiTokenRepository::create(&*store, record.clone()).await.expect("create");
    }
    let found = ApiTokenRepository::find_caller(&*store, &mine.token_hash).await.expect("find");
    let expected =
        CallerRecord { credential: mine.clone(), user: a.clone(), backup_codes_remaining: 8 };
    assert_eq!(found, Some(expected));
    ApiTokenRepository::touch(&*store, mine.id, t(9)).await.expect("touch");
    let found = ApiTokenRepository::find_caller(&*store, &mine.token_hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.credential.last_used_at, Some(t(9)));
    let found = ApiTokenRepository::find_caller(&*store, &theirs.token_hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!((found.user, found.backup_codes_remaining), (b, 10));
    let found = ApiTokenRepository::find_caller(&*store, &admin.token_hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!((found.user, found.backup_codes_remaining), (c, 0));

    assert!(store.revoke(a.id, mine.id, t(10)).await.expect("revoke"));
    assert_eq!(
        ApiTokenRepository::find_caller(&*store, &mine.token_hash).await.expect("find"),
        None
    );
    assert_eq!(
        ApiTokenRepository::find_caller(&*store, &digest("nope")).await.expect("find"),
        None
    );
    assert!(
        ApiTokenRepository::find_caller(&*store, &theirs.token_hash).await.expect("find").is_some()
    );
}

// ---------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------

/// Events read back field for field, newest first, filtered by user and kind, paged.
pub async fn audit_events_are_read_newest_first_filtered_and_paged<S: Storage>(store: Arc<S>) {
    let a = UserId::generate();
    let admin = UserId::generate();
    let detailed = AuditEvent {
        at: t(3),
        user_id: Some(a),
        actor_id: Some(admin),
        kind: AuditEventKind::MfaDisableFail,
        outcome: AuditOutcome::Failure("INVALID_CODE".to_owned()),
        proof: Some(ProofKind::BackupCode),
        detail: Some("testidp amr=otp".to_owned()),
        client_addr: Some("203.0.113.7".to_owned()),
        user_agent: Some("curl/8".to_owned()),
    };
    store.record(event(1, Some(a), AuditEventKind::LoginSuccess)).await.expect("record");
    store.record(event(2, None, AuditEventKind::LoginFail)).await.expect("record");
    store.record(detailed.clone()).await.expect("record");
    store.record(event(4, Some(a), AuditEventKind::Logout)).await.expect("record");

    let all = store.query(AuditQuery { limit: 10, ..AuditQuery::default() }).await.expect("query");
    let times: Vec<_> = all.iter().map(|e| e.event.at).collect();
    assert_eq!(times, [t(4), t(3), t(2), t(1)]);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newer events have larger ids");
    assert_eq!(all[1].event, detailed);

    let mine = AuditQuery { user_id: Some(a), limit: 10, ..AuditQuery::default() };
    assert_eq!(store.query(mine).await.expect("query").len(), 3);
    let kind = AuditQuery {
        kind: Some(AuditEventKind::MfaDisableFail),
        limit: 10,
        ..AuditQuery::default()
    };
    assert_eq!(store.query(kind).await.expect("query").len(), 1);
    let page = AuditQuery { limit: 2, offset: 1, ..AuditQuery::default() };
    let page: Vec<_> = store.query(page).await.expect("query").iter().map(|e| e.event.at).collect();
    assert_eq!(page, [t(3), t(2)]);
}

/// `purge_before` deletes events older than the cut-off and returns how many.
pub async fn old_audit_events_are_purged<S: Storage>(store: Arc<S>) {
    for at in [10, 20, 30] {
        store.record(event(at, None, AuditEventKind::LoginFail)).await.expect("record");
    }
    assert_eq!(store.purge_before(t(20)).await.expect("purge"), 1);
    let left = store.query(AuditQuery { limit: 10, ..AuditQuery::default() }).await.expect("query");
    assert_eq!(left.iter().map(|e| e.event.at).collect::<Vec<_>>(), [t(30), t(20)]);
}

// ---------------------------------------------------------------------------------------
// Attempt counters
// ---------------------------------------------------------------------------------------

const POLICY: AttemptPolicy =
    AttemptPolicy { max_failures: 5, window_secs: 900, lockout_after: Some(100) };

fn granted(reservation: Reservation) -> AttemptCounter {
    match reservation {
        Reservation::Granted(counter) => counter,
        Reservation::Refused(throttle) => {
            panic!("expected a granted reservation, got {throttle:?}")
        }
    }
}

/// Reservations follow [`AttemptCounter::reserve`]: each counts a failure until the limit,
/// then they are refused with the domain's throttle and count nothing; a new window takes
/// them again; clear forgets.
pub async fn attempt_counters_follow_the_domain_rule<S: Storage>(store: Arc<S>) {
    let key = "sf:user:00000000-0000-0000-0000-000000000001";
    assert_eq!(store.get(key).await.expect("get"), None);
    let mut expected = None;
    for at in [0, 10, 20, 30, 40] {
        let next = AttemptCounter::reserve(expected, &POLICY, t(at)).expect("allowed");
        expected = Some(next);
        let counter = granted(store.reserve(key, &POLICY, t(at)).await.expect("reserve"));
        assert_eq!(counter, next);
    }
    assert_eq!(
        store.get(key).await.expect("get"),
        Some(AttemptCounter { window_start: t(0), failures: 5, consecutive: 5 })
    );
    assert_eq!(
        store.reserve(key, &POLICY, t(100)).await.expect("reserve"),
        Reservation::Refused(Throttle::Blocked { retry_after_secs: 800, locked_out: false })
    );
    assert_eq!(store.get(key).await.expect("get"), expected, "a refusal counts nothing");
    let later = granted(store.reserve(key, &POLICY, t(1000)).await.expect("reserve"));
    assert_eq!(later, AttemptCounter { window_start: t(1000), failures: 1, consecutive: 6 });
    assert_eq!(store.get("addr:192.0.2.1").await.expect("get"), None, "keys are separate");
    store.clear(key).await.expect("clear");
    assert_eq!(store.get(key).await.expect("get"), None);
    store.clear("never-seen").await.expect("clear an unknown key");
}

/// Releases follow [`AttemptCounter::released`]: a success gives the place back and ends the
/// run; a non-guess gives back the place and one step of the run; a release into a window
/// that has since been replaced gives back no place; an unknown key stays unknown.
pub async fn releasing_a_reservation_follows_the_domain_rule<S: Storage>(store: Arc<S>) {
    let key = "sf:user:00000000-0000-0000-0000-000000000002";
    let mut last = None;
    for at in [0, 1, 2] {
        last = Some(granted(store.reserve(key, &POLICY, t(at)).await.expect("reserve")));
    }
    let window = last.expect("reserved").window_start;
    store.release(key, window, Release::NotAGuess).await.expect("release");
    assert_eq!(
        store.get(key).await.expect("get"),
        Some(AttemptCounter { window_start: t(0), failures: 2, consecutive: 2 })
    );
    store.release(key, window, Release::Succeeded).await.expect("release");
    assert_eq!(
        store.get(key).await.expect("get"),
        Some(AttemptCounter { window_start: t(0), failures: 1, consecutive: 0 })
    );
    // Reserved in the old window, released after a new one began: the new one owes nothing.
    let new = granted(store.reserve(key, &POLICY, t(1000)).await.expect("reserve"));
    assert_eq!((new.window_start, new.failures), (t(1000), 1));
    store.release(key, window, Release::NotAGuess).await.expect("release");
    assert_eq!(
        store.get(key).await.expect("get"),
        Some(AttemptCounter { window_start: t(1000), failures: 1, consecutive: 0 })
    );
    store.release("never-seen", t(0), Release::Succeeded).await.expect("release unknown");
    assert_eq!(store.get("never-seen").await.expect("get"), None);
}

/// Fifty concurrent reservations under a limit of a hundred: every one is granted and
/// counted once.
pub async fn concurrent_reservations_lose_no_count_below_the_limit<S: Storage>(store: Arc<S>) {
    let key = "addr:198.51.100.9";
    let policy = AttemptPolicy { max_failures: 100, ..POLICY };
    let mut failures = concurrently(50, |_| {
        let store = Arc::clone(&store);
        async move { granted(store.reserve(key, &policy, t(5)).await.expect("reserve")).failures }
    })
    .await;
    failures.sort_unstable();
    assert_eq!(failures, (1..=50).collect::<Vec<u32>>(), "each reservation saw its own count");
    let counter = store.get(key).await.expect("get").expect("exists");
    assert_eq!((counter.failures, counter.consecutive), (50, 50));
}

/// The race the limiter exists for: two hundred reservations released at the same moment
/// against a limit of five are granted exactly five places; the rest are refused with the
/// time to wait, and the counter shows five.
pub async fn two_hundred_concurrent_reservations_grant_exactly_the_limit<S: Storage>(
    store: Arc<S>,
) {
    let key = "sf:user:00000000-0000-0000-0000-000000000003";
    let results = concurrently(200, |_| {
        let store = Arc::clone(&store);
        async move { store.reserve(key, &POLICY, t(5)).await.expect("reserve") }
    })
    .await;
    let granted = results.iter().filter(|r| matches!(r, Reservation::Granted(_))).count();
    assert_eq!(granted, 5, "exactly the limit is granted");
    for refused in results.iter().filter(|r| matches!(r, Reservation::Refused(_))) {
        assert_eq!(
            *refused,
            // The window began with the first reservation, at the same instant.
            Reservation::Refused(Throttle::Blocked { retry_after_secs: 900, locked_out: false })
        );
    }
    let counter = store.get(key).await.expect("get").expect("exists");
    assert_eq!((counter.failures, counter.consecutive), (5, 5));
}

/// A lockout holds under concurrency too: with three consecutive failures allowed in all,
/// of a hundred concurrent reservations across windows three are granted, and the key then
/// stays locked in later windows.
pub async fn concurrent_reservations_never_pass_a_lockout<S: Storage>(store: Arc<S>) {
    let key = "sf:user:00000000-0000-0000-0000-000000000004";
    let policy = AttemptPolicy { max_failures: 100, window_secs: 900, lockout_after: Some(3) };
    let results = concurrently(100, |_| {
        let store = Arc::clone(&store);
        async move { store.reserve(key, &policy, t(5)).await.expect("reserve") }
    })
    .await;
    let granted = results.iter().filter(|r| matches!(r, Reservation::Granted(_))).count();
    assert_eq!(granted, 3);
    assert_eq!(
        store.reserve(key, &policy, t(100_000)).await.expect("reserve"),
        Reservation::Refused(Throttle::Blocked { retry_after_secs: 900, locked_out: true })
    );
}

// ---------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------

/// A reachable store answers `ping`.
pub async fn a_reachable_store_answers_ping<S: Storage>(store: Arc<S>) {
    store.ping().await.expect("ping");
}

// ---------------------------------------------------------------------------------------
// OIDC: login flows, links, sessions' provider authentication
// ---------------------------------------------------------------------------------------

fn flow(label: &str, expires: i64) -> OidcFlowRecord {
    OidcFlowRecord {
        id_hash: digest(label),
        provider: "corp".to_owned(),
        state: format!("state-{label}"),
        nonce: format!("nonce-{label}"),
        pkce_verifier: format!("verifier-{label}"),
        return_to: Some("/after".to_owned()),
        created_at: t(0),
        expires_at: t(expires),
    }
}

fn oidc_event(at: i64, user: UserId, kind: AuditEventKind) -> AuditEvent {
    AuditEvent { detail: Some("provider=corp".to_owned()), ..event(at, Some(user), kind) }
}

async fn events_of<S: Storage>(store: &S, kind: AuditEventKind) -> Vec<AuditEvent> {
    let query = AuditQuery { kind: Some(kind), limit: 100, ..AuditQuery::default() };
    store.query(query).await.expect("query").into_iter().map(|e| e.event).collect()
}

/// A flow reads back field for field; of 20 concurrent takes exactly one gets it, and it is
/// gone after.
pub async fn an_oidc_flow_round_trips_and_is_taken_exactly_once_under_concurrency<S: Storage>(
    store: Arc<S>,
) {
    store.create_flow(flow("f1", 600)).await.expect("create flow");
    store.create_flow(flow("f2", 600)).await.expect("create flow");
    let taken = concurrently(20, |_| {
        let store = Arc::clone(&store);
        async move { store.take_flow(&digest("f1")).await.expect("take") }
    })
    .await;
    let winners: Vec<_> = taken.into_iter().flatten().collect();
    assert_eq!(winners, [flow("f1", 600)], "exactly one take gets the flow, intact");
    assert_eq!(store.take_flow(&digest("f1")).await.expect("take"), None);
    assert_eq!(store.take_flow(&digest("f2")).await.expect("take"), Some(flow("f2", 600)));
    assert_eq!(store.take_flow(&digest("nope")).await.expect("take"), None);
}

/// Flows past their expiry are deleted; live ones stay.
pub async fn expired_oidc_flows_are_deleted<S: Storage>(store: Arc<S>) {
    store.create_flow(flow("old", 10)).await.expect("create flow");
    store.create_flow(flow("new", 1000)).await.expect("create flow");
    assert_eq!(store.delete_expired_flows(t(500)).await.expect("purge"), 1);
    assert_eq!(store.take_flow(&digest("old")).await.expect("take"), None);
    assert!(store.take_flow(&digest("new")).await.expect("take").is_some());
}

/// A link finds its user and sets the user's provider, with its audit event; a second
/// subject for the same account or the same subject for another account is refused
/// (nothing stored); another provider may link the same account.
pub async fn an_oidc_link_is_stored_with_its_event_and_never_doubled<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let b = user(&*store, "b@example.com").await;
    let linked = AuditEventKind::OidcLinked;
    let outcome = store.link("corp", "sub-a", a.id, oidc_event(1, a.id, linked), None).await;
    assert_eq!(outcome.expect("link"), LinkOutcome::Linked);
    assert_eq!(
        store.find_linked_user("corp", "sub-a").await.expect("find").map(|u| u.id),
        Some(a.id)
    );
    assert_eq!(reload(&*store, a.id).await.oidc_provider.as_deref(), Some("corp"));
    assert_eq!(store.find_linked_user("corp", "sub-b").await.expect("find"), None);
    assert_eq!(store.find_linked_user("other", "sub-a").await.expect("find"), None);

    let again = store.link("corp", "sub-a2", a.id, oidc_event(2, a.id, linked), None).await;
    assert_eq!(again.expect("link"), LinkOutcome::Refused, "one subject per account and provider");
    let stolen = store.link("corp", "sub-a", b.id, oidc_event(3, b.id, linked), None).await;
    assert_eq!(stolen.expect("link"), LinkOutcome::Refused, "a subject links one account");
    assert_eq!(reload(&*store, b.id).await.oidc_provider, None);
    let gone =
        store.link("corp", "sub-x", UserId::generate(), oidc_event(4, a.id, linked), None).await;
    assert_eq!(gone.expect("link"), LinkOutcome::Refused, "no such user");
    let elsewhere = store.link("other", "sub-a", a.id, oidc_event(5, a.id, linked), None).await;
    assert_eq!(elsewhere.expect("link"), LinkOutcome::Linked);
    assert_eq!(
        reload(&*store, a.id).await.oidc_provider.as_deref(),
        Some("corp"),
        "the first stays"
    );

    let events = events_of(&*store, linked).await;
    assert_eq!(events.len(), 2, "only the stored links are audited: {events:?}");
    assert_eq!(events[1], oidc_event(1, a.id, linked));

    // Deleting the user deletes the link.
    assert!(UserRepository::delete(&*store, a.id, &[]).await.expect("delete"));
    assert_eq!(store.find_linked_user("corp", "sub-a").await.expect("find"), None);
}

/// Of ten concurrent links of one account to different subjects, exactly one is stored.
pub async fn concurrent_links_of_one_account_store_exactly_one<S: Storage>(store: Arc<S>) {
    let a = user(&*store, "a@example.com").await;
    let outcomes =
        concurrently(10, |i| {
            let store = Arc::clone(&store);
            let event = oidc_event(1, a.id, AuditEventKind::OidcLinked);
            async move {
                store.link("corp", &format!("sub-{i}"), a.id, event, None).await.expect("link")
            }
        })
        .await;
    let linked = outcomes.iter().filter(|o| **o == LinkOutcome::Linked).count();
    assert_eq!(linked, 1, "{outcomes:?}");
    assert_eq!(events_of(&*store, AuditEventKind::OidcLinked).await.len(), 1);
}

/// An OIDC-only user is created linked, with its event; a taken e-mail or subject is a
/// conflict that stores nothing.
pub async fn a_linked_oidc_user_is_created_with_its_event_or_not_at_all<S: Storage>(store: Arc<S>) {
    let created_kind = AuditEventKind::OidcUserCreated;
    let mut input = new_user("o@example.com", 0);
    input.login = LoginMethod::OidcOnly;
    input.oidc_provider = Some("corp".to_owned());
    let id = input.id;
    let created = store
        .create_linked_user(input.clone(), "sub-o", oidc_event(1, id, created_kind))
        .await
        .expect("create");
    assert_eq!(created.login, LoginMethod::OidcOnly);
    assert_eq!(created.oidc_provider.as_deref(), Some("corp"));
    assert_eq!(reload(&*store, id).await, created);
    let found = store.find_linked_user("corp", "sub-o").await.expect("find");
    assert_eq!(found.map(|u| u.id), Some(id));
    assert_eq!(events_of(&*store, created_kind).await, [oidc_event(1, id, created_kind)]);

    let mut same_email = input.clone();
    same_email.id = UserId::generate();
    let conflict = store.create_linked_user(same_email, "sub-p", oidc_event(2, id, created_kind));
    assert!(matches!(conflict.await, Err(StoreError::Conflict(_))));
    let mut same_subject = new_user("p@example.com", 0);
    same_subject.login = LoginMethod::OidcOnly;
    same_subject.oidc_provider = Some("corp".to_owned());
    let other = same_subject.id;
    let conflict =
        store.create_linked_user(same_subject, "sub-o", oidc_event(3, other, created_kind));
    assert!(matches!(conflict.await, Err(StoreError::Conflict(_))));
    assert_eq!(store.find_by_id(other).await.expect("find"), None, "nothing stored");
    assert_eq!(UserRepository::count(&*store).await.expect("count"), 1);
    assert_eq!(events_of(&*store, created_kind).await.len(), 1);
}

/// A session's provider authentication reads back, is replaced by a newer one, and is gone
/// with the session.
pub async fn a_sessions_provider_authentication_lives_and_dies_with_the_session<S: Storage>(
    store: Arc<S>,
) {
    let a = user(&*store, "a@example.com").await;
    SessionRepository::create(&*store, session("s1", a.id, 100)).await.expect("session");
    assert_eq!(store.session_auth(&digest("s1")).await.expect("read"), None);
    let auth = |at| SessionIdpAuth { provider: "corp".to_owned(), auth_time: t(at) };
    store.record_session_auth(&digest("s1"), auth(5)).await.expect("record");
    assert_eq!(store.session_auth(&digest("s1")).await.expect("read"), Some(auth(5)));
    store.record_session_auth(&digest("s1"), auth(7)).await.expect("record again");
    assert_eq!(store.session_auth(&digest("s1")).await.expect("read"), Some(auth(7)));
    assert!(SessionRepository::delete(&*store, &digest("s1")).await.expect("delete"));
    assert_eq!(store.session_auth(&digest("s1")).await.expect("read"), None);
}
