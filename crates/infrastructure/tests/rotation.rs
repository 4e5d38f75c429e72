//! Encryption key rotation (`slugbase keys rotate`) through the real use cases, real
//! AES-256-GCM and real TOTP, on every backend: in-memory, a SQLite file, a fresh
//! PostgreSQL and a fresh MySQL/MariaDB database (each skipped with one line without its
//! server, failing under `CI=true`).
//!
//! After rotating from k1 to k2, a configuration with only k1 can no longer open any stored
//! secret, one with only k2 opens all of them, and TOTP sign-in and a pending enrollment's
//! confirmation still work under it. Missing and wrong keys are reported, never a panic.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use slugbase_application::collaborators::new_account::NewAccountInput;
use slugbase_application::collaborators::second_factor::Possession;
use slugbase_application::ports::{
    CipherError, Clock as _, SecretCipher, SecretRotation, Storage, UserRepository,
};
use slugbase_application::use_cases::login::{LoginInput, LoginOutcome};
use slugbase_application::use_cases::rotate_keys::{RotateKeys, RotationProblem};
use slugbase_application::{AuthSettings, Caller, ClientInfo, PlainToken, UseCases};
use slugbase_domain::{EncryptedSecret, MfaState, Password, TotpSecret, UserId};
use slugbase_infrastructure::crypto::{
    AesGcmSecretCipher, Argon2Params, EncryptionKeys, ManualClock,
};
use slugbase_infrastructure::memory::InMemoryStore;
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::testing::wiring::{CryptoConfig, DEFAULT_TOTP_ISSUER, build_deps};
use slugbase_infrastructure::testing::{mysql_url, postgres_url};

const PASSWORD: &str = "correct horse battery";
/// The middle of a 30-second step.
const START: i64 = 1_800_000_015;

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    key
}

/// Keys by id; the first is the current one.
fn keys(list: &[(&str, [u8; 32])]) -> EncryptionKeys {
    EncryptionKeys {
        current_id: list[0].0.to_owned(),
        keys: list.iter().map(|(id, k)| ((*id).to_owned(), *k)).collect(),
    }
}

fn cipher(list: &[(&str, [u8; 32])]) -> Arc<AesGcmSecretCipher> {
    Arc::new(AesGcmSecretCipher::new(keys(list)).unwrap())
}

fn rotate<S: SecretRotation + 'static>(store: &Arc<S>, list: &[(&str, [u8; 32])]) -> RotateKeys {
    let cipher = cipher(list);
    RotateKeys::new(store.clone(), cipher.clone(), cipher)
}

fn totp_at(secret: &TotpSecret, at: DateTime<Utc>) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret.expose_base32()).unwrap();
    let totp = totp_rs::Builder::new().with_secret(bytes).build().unwrap();
    totp.generate(u64::try_from(at.timestamp()).unwrap()).to_string()
}

/// The service over `store` with some encryption keys (same backup-code key and clock).
struct Service {
    uc: UseCases,
    clock: Arc<ManualClock>,
    client: ClientInfo,
}

impl Service {
    fn new<S: Storage>(
        store: &Arc<S>,
        clock: &Arc<ManualClock>,
        backup_key: [u8; 32],
        list: &[(&str, [u8; 32])],
    ) -> Self {
        let crypto = CryptoConfig {
            argon2: Argon2Params::cheap_for_tests(),
            totp_issuer: DEFAULT_TOTP_ISSUER.to_owned(),
            encryption: keys(list),
            backup_code_key: backup_key,
        };
        let deps = build_deps(store.clone(), crypto, clock.clone()).unwrap();
        Self {
            uc: UseCases::new(deps, AuthSettings::default()),
            clock: clock.clone(),
            client: ClientInfo::new(Some("192.0.2.7".into()), Some("rotation-tests")),
        }
    }

    fn code_now(&self, secret: &TotpSecret) -> String {
        totp_at(secret, self.clock.now())
    }

    async fn caller(&self, session: &PlainToken) -> Caller {
        self.uc.authenticate.session(session.expose()).await.unwrap()
    }

    async fn login(&self, email: &str) -> LoginOutcome {
        let input = LoginInput { email: email.into(), password: Password::new(PASSWORD) };
        self.uc.login.execute(&self.client, Ok(input)).await.unwrap()
    }

    async fn user(&self, admin: &Caller, email: &str) -> PlainToken {
        let input = NewAccountInput {
            email: email.into(),
            name: "User".into(),
            password: Some(PASSWORD.into()),
            is_admin: false,
        };
        self.uc.admin.create_user(admin, &self.client, Ok(input)).await.unwrap();
        match self.login(email).await {
            LoginOutcome::SignedIn { session, .. } => session,
            LoginOutcome::MfaRequired { .. } => panic!("a new user has no MFA"),
        }
    }
}

fn sealed_of(mfa: &MfaState) -> EncryptedSecret {
    match mfa {
        MfaState::Enabled { secret: Some(secret), .. } => secret.clone(),
        other => other.pending_secret().expect("a secret").clone(),
    }
}

async fn stored<S: Storage>(store: &Arc<S>, user: UserId) -> EncryptedSecret {
    sealed_of(&UserRepository::find_by_id(&**store, user).await.unwrap().unwrap().mfa)
}

/// The whole scenario over one backend.
async fn rotation_scenario<S: Storage + SecretRotation>(store: Arc<S>) {
    let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(START, 0).unwrap()));
    let backup_key = random_key();
    let (k1, k2) = (random_key(), random_key());
    let old = Service::new(&store, &clock, backup_key, &[("k1", k1)]);

    // Under k1: alice has MFA on, bob has an enrollment pending, carol has no MFA.
    let setup = NewAccountInput {
        email: "admin@example.com".into(),
        name: "Admin".into(),
        password: Some(PASSWORD.into()),
        is_admin: true,
    };
    let (_, admin_session) = old.uc.setup.execute(&old.client, Ok(setup)).await.unwrap();
    let admin = old.caller(&admin_session).await;
    let alice_session = old.user(&admin, "alice@example.com").await;
    let bob_session = old.user(&admin, "bob@example.com").await;
    old.user(&admin, "carol@example.com").await;
    let alice = old.caller(&alice_session).await;
    let alice_secret = old.uc.enroll_begin.execute(&alice, &old.client).await.unwrap().secret;
    let alice = old.caller(&alice_session).await;
    let code = old.code_now(&alice_secret);
    old.uc.enroll_confirm.execute(&alice, &old.client, Ok(code)).await.unwrap();
    let bob = old.caller(&bob_session).await;
    let bob_secret = old.uc.enroll_begin.execute(&bob, &old.client).await.unwrap().secret;
    let (alice_id, bob_id) = (alice.user.id, bob.user.id);
    assert!(stored(&store, alice_id).await.as_str().starts_with("k1:"));

    // A configuration that lacks k1 reports both secrets by user and key id; no panic, no
    // change.
    let report = rotate(&store, &[("k2", k2)]).execute().await.unwrap();
    assert_eq!(report.examined, 2);
    assert_eq!(report.resealed(), 0);
    assert_eq!(report.failures.len(), 2, "{report:?}");
    for failure in &report.failures {
        assert_eq!(failure.problem, RotationProblem::UnknownKey("k1".into()));
        assert!(failure.problem.to_string().contains("keys.encryption.k1"));
    }
    let enabled: Vec<_> = report.failures.iter().map(|f| (f.user_id, f.enabled)).collect();
    assert!(enabled.contains(&(alice_id, true)) && enabled.contains(&(bob_id, false)));
    assert!(stored(&store, alice_id).await.as_str().starts_with("k1:"));

    // A k1 with the wrong bytes is reported as such.
    let report = rotate(&store, &[("k2", k2), ("k1", random_key())]).execute().await.unwrap();
    assert_eq!(report.failures.len(), 2);
    assert_eq!(report.failures[0].problem, RotationProblem::WrongKeyOrCorrupt(Some("k1".into())));
    assert!(stored(&store, bob_id).await.as_str().starts_with("k1:"));

    // Rotate with k2 current and k1 still known: both secrets re-sealed, enabled and pending.
    let report = rotate(&store, &[("k2", k2), ("k1", k1)]).execute().await.unwrap();
    assert_eq!(report.current_key_id, "k2");
    assert_eq!(report.examined, 2);
    assert_eq!(report.resealed_enabled, 1);
    assert_eq!(report.resealed_pending, 1);
    assert!(report.complete(), "{report:?}");
    // Running again finds nothing left to do.
    let again = rotate(&store, &[("k2", k2), ("k1", k1)]).execute().await.unwrap();
    assert_eq!((again.already_current, again.resealed()), (2, 0));

    // Old-key-only configuration can no longer open them; new-key-only opens the same
    // secrets as before (the authenticator apps need no change).
    let (alice_sealed, bob_sealed) = (stored(&store, alice_id).await, stored(&store, bob_id).await);
    assert!(alice_sealed.as_str().starts_with("k2:") && bob_sealed.as_str().starts_with("k2:"));
    let only_old = cipher(&[("k1", k1)]);
    assert!(
        matches!(only_old.decrypt(alice_id, &alice_sealed), Err(CipherError::UnknownKey(id)) if id == "k2")
    );
    assert!(matches!(only_old.decrypt(bob_id, &bob_sealed), Err(CipherError::UnknownKey(_))));
    let only_new = cipher(&[("k2", k2)]);
    assert_eq!(
        only_new.decrypt(alice_id, &alice_sealed).unwrap().expose_base32(),
        alice_secret.expose_base32()
    );
    assert_eq!(
        only_new.decrypt(bob_id, &bob_sealed).unwrap().expose_base32(),
        bob_secret.expose_base32()
    );
    // Enabled state and replay state are kept: the code that confirmed alice's enrollment
    // (this very step) is still refused.
    assert!(matches!(
        UserRepository::find_by_id(&*store, alice_id).await.unwrap().unwrap().mfa,
        MfaState::Enabled { last_totp_step: Some(_), .. }
    ));

    // The service with only k2: alice signs in with TOTP, bob confirms his enrollment.
    let new = Service::new(&store, &clock, backup_key, &[("k2", k2)]);
    let LoginOutcome::MfaRequired { pending } = new.login("alice@example.com").await else {
        panic!("MFA is still on for alice");
    };
    let replay = new
        .uc
        .verify_login
        .execute(
            Some(pending.expose()),
            &new.client,
            Ok(Possession::Code(new.code_now(&alice_secret))),
        )
        .await;
    assert!(replay.is_err(), "the step accepted before rotation stays spent");
    clock.advance(TimeDelta::seconds(30));
    let (user, _) = new
        .uc
        .verify_login
        .execute(
            Some(pending.expose()),
            &new.client,
            Ok(Possession::Code(new.code_now(&alice_secret))),
        )
        .await
        .unwrap();
    assert_eq!(user.id, alice_id);
    let bob = new.caller(&bob_session).await;
    let codes =
        new.uc.enroll_confirm.execute(&bob, &new.client, Ok(new.code_now(&bob_secret))).await;
    assert_eq!(codes.unwrap().len(), 10);
    // The old configuration, by contrast, can no longer check alice's codes.
    clock.advance(TimeDelta::seconds(30));
    let LoginOutcome::MfaRequired { pending } = old.login("alice@example.com").await else {
        panic!("MFA is still on for alice");
    };
    let refused = old
        .uc
        .verify_login
        .execute(
            Some(pending.expose()),
            &old.client,
            Ok(Possession::Code(old.code_now(&alice_secret))),
        )
        .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn rotation_reseals_every_secret_in_memory() {
    rotation_scenario(Arc::new(InMemoryStore::new())).await;
}

#[tokio::test]
async fn rotation_reseals_every_secret_in_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("rotation.db").display());
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    rotation_scenario(Arc::new(store)).await;
}

#[tokio::test]
async fn rotation_reseals_every_secret_in_postgresql() {
    let Some(url) = postgres_url().await else { return };
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    rotation_scenario(Arc::new(store)).await;
}

#[tokio::test]
async fn rotation_reseals_every_secret_in_mysql() {
    let Some(url) = mysql_url().await else { return };
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    rotation_scenario(Arc::new(store)).await;
}

/// Compare-and-set: a secret replaced since it was read is left alone.
#[tokio::test]
async fn replacing_a_sealed_secret_is_a_compare_and_set_on_every_backend() {
    async fn check<S: Storage + SecretRotation>(store: Arc<S>) {
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(START, 0).unwrap()));
        let service = Service::new(&store, &clock, random_key(), &[("k1", random_key())]);
        let setup = NewAccountInput {
            email: "admin@example.com".into(),
            name: "Admin".into(),
            password: Some(PASSWORD.into()),
            is_admin: true,
        };
        let (admin, session) = service.uc.setup.execute(&service.client, Ok(setup)).await.unwrap();
        let caller = service.caller(&session).await;
        service.uc.enroll_begin.execute(&caller, &service.client).await.unwrap();
        let first = stored(&store, admin.id).await;
        let page = store.sealed_secrets_page(None, 10).await.unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!((page[0].user_id, page[0].enabled), (admin.id, false));
        assert_eq!(page[0].sealed, first);
        assert!(store.sealed_secrets_page(Some(admin.id), 10).await.unwrap().is_empty());

        let stale = EncryptedSecret::new("k1:stale");
        let replacement = EncryptedSecret::new("k1:replacement");
        assert!(!store.replace_sealed_secret(admin.id, &stale, &replacement).await.unwrap());
        assert_eq!(stored(&store, admin.id).await, first);
        assert!(store.replace_sealed_secret(admin.id, &first, &replacement).await.unwrap());
        assert_eq!(stored(&store, admin.id).await, replacement);
        assert!(!store.replace_sealed_secret(admin.id, &first, &stale).await.unwrap());
    }
    check(Arc::new(InMemoryStore::new())).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cas.db").display());
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    check(Arc::new(store)).await;
    if let Some(url) = postgres_url().await {
        let store = SeaOrmStore::connect(&url).await.unwrap();
        store.migrate_with(slugbase_migration::up).await.unwrap();
        check(Arc::new(store)).await;
    }
    if let Some(url) = mysql_url().await {
        let store = SeaOrmStore::connect(&url).await.unwrap();
        store.migrate_with(slugbase_migration::up).await.unwrap();
        check(Arc::new(store)).await;
    }
}
