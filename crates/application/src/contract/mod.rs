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
//!
//! One file per port (the outbox's with it); the checks are re-exported here, where the
//! macro finds them by name.

mod attempts;
mod audit;
mod effects;
mod health;
mod import;
mod mfa;
mod oidc;
mod outbox;
mod passkey_factor;
mod passkeys;
mod sessions;
mod tokens;
mod users;

pub use attempts::*;
pub use audit::*;
pub use effects::*;
pub use health::*;
pub use import::*;
pub use mfa::*;
pub use oidc::*;
pub use outbox::*;
pub use passkey_factor::*;
pub use passkeys::*;
pub use sessions::*;
pub use tokens::*;
pub use users::*;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use slugbase_domain::{
    ApiTokenId, AttemptCounter, AttemptPolicy, AuditEventKind, AuditOutcome, DisplayName, Email,
    EncryptedSecret, LoginMethod, PasswordHash, TotpStep, User, UserId,
};

use crate::ports::{
    ApiTokenRecord, AuditEvent, ChangeEffects, MfaProof, NewUser, Reservation, SecretDigest,
    SessionKind, SessionRecord, Storage, UserRepository,
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
            an_mfa_grace_start_is_stored_once_and_read_with_the_user,
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
            an_imported_account_is_stored_whole_once_and_found_by_its_source_id,
            concurrent_imports_of_one_account_store_it_once,
            an_import_that_collides_stores_nothing,
            an_imported_oidc_account_is_found_by_its_subject,
            fifty_concurrent_spends_of_one_imported_code_succeed_exactly_once,
            regenerating_replaces_imported_codes,
            an_imported_hash_is_upgraded_once_with_its_effects,
            an_oidc_flow_round_trips_and_is_taken_exactly_once_under_concurrency,
            expired_oidc_flows_are_deleted,
            an_oidc_link_is_stored_with_its_event_and_never_doubled,
            concurrent_links_of_one_account_store_exactly_one,
            a_linked_oidc_user_is_created_with_its_event_or_not_at_all,
            a_sessions_provider_authentication_lives_and_dies_with_the_session,
            a_notice_is_claimed_by_one_sender_until_its_lease_runs_out,
            a_stopping_sender_gives_back_only_its_own_unsent_claims,
            the_outbox_standing_counts_pending_and_failed_notices,
            concurrent_claims_hand_out_each_notice_once,
            delivery_outcomes_are_recorded_and_failure_is_audited_with_it,
            notices_are_listed_newest_first_by_status,
            a_password_change_commits_its_effects_with_the_hash,
            a_backup_code_spent_at_login_stores_its_notice_only_when_spent,
            a_token_and_its_notice_are_stored_together,
            sessions_of_a_user_keep_their_client,
            purges_delete_finished_notices_in_batches_and_never_pending_ones,
            a_passkey_is_stored_with_its_effects_and_its_credential_id_is_unique,
            a_passkey_is_renamed_by_its_owner_only,
            a_passkey_is_removed_with_a_spent_proof_and_its_effects_or_not_at_all,
            a_passkey_use_is_recorded_only_when_its_counter_moves_forward,
            concurrent_uses_with_one_counter_are_recorded_once,
            a_passkey_proof_is_spent_for_its_owner_only_with_a_counter_that_moves_forward,
            disable_and_reset_remove_the_users_passkeys_and_no_one_elses,
            a_passkey_sign_in_commits_its_session_with_the_spend_or_nothing,
            a_ceremony_is_taken_once_by_its_owner_before_it_expires,
            concurrent_takes_of_one_ceremony_succeed_exactly_once,
            expired_ceremonies_are_deleted,
            a_first_passkey_turns_mfa_on_with_its_codes_and_later_ones_store_only_themselves,
            concurrent_first_passkeys_turn_mfa_on_exactly_once,
            a_totp_enrollment_beside_passkeys_keeps_mfa_on_until_confirmed,
            the_last_second_factor_is_never_removed_with_a_passkey,
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
