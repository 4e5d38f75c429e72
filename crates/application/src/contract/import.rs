//! The contract of [`AccountImport`](crate::ports::AccountImport), of the backup codes it
//! stores (spent like ours) and of the replacement of an imported password hash at sign-in
//! ([`UserRepository::upgrade_password_hash`](crate::ports::UserRepository)).

use std::collections::HashMap;
use std::sync::Arc;

use slugbase_domain::{AuditEventKind, LoginMethod, MfaState, PasswordHash};

use crate::ports::{
    AuditQuery, ChangeEffects, ImportOutcome, ImportedAccount, ImportedMfa, MfaProof, Storage,
    UserRepository,
};

use super::{
    concurrently, count_true, digest, event, new_user, reload, secret, session, t, token, user,
};

const BCRYPT: &str = "$2a$10$abcdefghijklmnopqrstuu0123456789abcdefghijklmnopqrstu";

/// An account as the SlugBase importer hands it over: a bcrypt hash, MFA on with three
/// imported codes, one token, no OIDC link.
fn imported(email: &str, source_id: &str) -> ImportedAccount {
    let mut user = new_user(email, 3);
    user.login = LoginMethod::Local(PasswordHash::from_phc(BCRYPT));
    user.is_admin = true;
    let id = user.id;
    ImportedAccount {
        source: "slugbase".to_owned(),
        source_id: source_id.to_owned(),
        user,
        mfa: Some(ImportedMfa {
            secret: secret("imported"),
            enrolled_at: t(4),
            backup_codes: vec![digest("legacy-0"), digest("legacy-1"), digest("legacy-2")],
        }),
        tokens: vec![token(&format!("{source_id}-token"), id, 5)],
        oidc_subject: None,
        audit: event(6, Some(id), AuditEventKind::AccountImported),
    }
}

/// A backup-code proof as the second-factor check builds it for a typed code.
fn any_code(keyed: &str, imported: &str) -> MfaProof {
    MfaProof::AnyBackupCode { keyed: digest(keyed), imported: digest(imported) }
}

async fn imported_events<S: Storage>(store: &S) -> usize {
    let query =
        AuditQuery { kind: Some(AuditEventKind::AccountImported), limit: 50, ..Default::default() };
    store.query(query).await.expect("query").len()
}

/// An imported account is stored whole (hash, MFA, codes, token, event) and found again by
/// its source id; a second import of it stores nothing.
pub async fn an_imported_account_is_stored_whole_once_and_found_by_its_source_id<S: Storage>(
    store: Arc<S>,
) {
    let account = imported("imported@example.com", "src-1");
    let outcome = store.import_account(&account).await.expect("import");
    let ImportOutcome::Imported(created) = outcome else { panic!("got {outcome:?}") };
    assert_eq!(created.id, account.user.id);
    let read = reload(&*store, account.user.id).await;
    assert_eq!(read.login, account.user.login);
    assert!(read.is_admin);
    assert_eq!(
        read.mfa,
        MfaState::Enabled {
            secret: Some(secret("imported")),
            enrolled_at: t(4),
            last_totp_step: None,
            pending: None,
        }
    );
    assert_eq!(store.backup_codes_remaining(read.id).await.expect("codes"), 3);
    let tokens = store.list_for_user(read.id).await.expect("tokens");
    assert_eq!(tokens, account.tokens);
    assert!(store.find_active(&account.tokens[0].token_hash).await.expect("find").is_some());
    assert_eq!(imported_events(&*store).await, 1);
    let found = store.imported_from("slugbase").await.expect("find");
    assert_eq!(found, HashMap::from([("src-1".to_owned(), read.id)]));
    assert!(store.imported_from("elsewhere").await.expect("find").is_empty(), "by source");

    // Again, even under another id and e-mail: the source id decides, nothing changes.
    let mut again = imported("other@example.com", "src-1");
    again.tokens.clear();
    let outcome = store.import_account(&again).await.expect("import");
    assert_eq!(outcome, ImportOutcome::AlreadyImported(read.id));
    assert_eq!(store.count().await.expect("count"), 1);
    assert_eq!(imported_events(&*store).await, 1);

    // The record outlives the account: deleted here, it is not imported again.
    assert!(UserRepository::delete(&*store, read.id, &[]).await.expect("delete"));
    let found = store.imported_from("slugbase").await.expect("find");
    assert_eq!(found.get("src-1"), Some(&read.id));
    let outcome = store.import_account(&imported("third@example.com", "src-1")).await;
    assert_eq!(outcome.expect("import"), ImportOutcome::AlreadyImported(read.id));
    assert_eq!(store.count().await.expect("count"), 0);
}

/// Concurrent imports of one source account store it once.
pub async fn concurrent_imports_of_one_account_store_it_once<S: Storage>(store: Arc<S>) {
    let results = concurrently(10, |i| {
        let store = Arc::clone(&store);
        async move {
            let account = imported(&format!("race{i}@example.com"), "src-race");
            let outcome = store.import_account(&account).await.expect("import");
            matches!(outcome, ImportOutcome::Imported(_))
        }
    })
    .await;
    assert_eq!(count_true(&results), 1);
    assert_eq!(store.count().await.expect("count"), 1);
    assert_eq!(imported_events(&*store).await, 1);
}

/// An e-mail held by another account, or an OIDC subject linked to one, stores nothing.
pub async fn an_import_that_collides_stores_nothing<S: Storage>(store: Arc<S>) {
    let existing = user(&*store, "taken@example.com").await;
    let account = imported("TAKEN@example.com", "src-taken");
    assert_eq!(store.import_account(&account).await.expect("import"), ImportOutcome::EmailTaken);
    assert_eq!(store.find_by_id(account.user.id).await.expect("find"), None);
    assert!(store.find_active(&account.tokens[0].token_hash).await.expect("find").is_none());

    let linked = event(0, Some(existing.id), AuditEventKind::OidcLinked);
    store.link("corp", "sub-1", existing.id, linked, None).await.expect("link");
    let mut account = imported("fresh@example.com", "src-linked");
    account.user.login = LoginMethod::OidcOnly;
    account.user.oidc_provider = Some("corp".to_owned());
    account.oidc_subject = Some("sub-1".to_owned());
    let outcome = store.import_account(&account).await.expect("import");
    assert_eq!(outcome, ImportOutcome::OidcSubjectTaken);
    assert_eq!(store.count().await.expect("count"), 1);
    assert_eq!(imported_events(&*store).await, 0);
    assert!(!store.imported_from("slugbase").await.expect("find").contains_key("src-linked"));
}

/// An imported OIDC-only account signs in through its provider's subject.
pub async fn an_imported_oidc_account_is_found_by_its_subject<S: Storage>(store: Arc<S>) {
    let mut account = imported("oidc-import@example.com", "src-oidc");
    account.user.login = LoginMethod::OidcOnly;
    account.user.oidc_provider = Some("corp".to_owned());
    account.oidc_subject = Some("corp-7f3a".to_owned());
    account.mfa = None;
    assert!(matches!(
        store.import_account(&account).await.expect("import"),
        ImportOutcome::Imported(_)
    ));
    let found = store.find_linked_user("corp", "corp-7f3a").await.expect("find");
    assert_eq!(found.map(|u| u.id), Some(account.user.id));
}

/// An imported backup code is spent by either digest it may be typed as, exactly once under
/// concurrency; our own codes still spend by the keyed digest.
pub async fn fifty_concurrent_spends_of_one_imported_code_succeed_exactly_once<S: Storage>(
    store: Arc<S>,
) {
    let account = imported("spend@example.com", "src-spend");
    store.import_account(&account).await.expect("import");
    let id = account.user.id;
    let results = concurrently(50, |_| {
        let store = Arc::clone(&store);
        async move {
            store.spend_proof(id, &any_code("keyed-1", "legacy-1"), t(30)).await.expect("spend")
        }
    })
    .await;
    assert_eq!(count_true(&results), 1);
    assert!(!store.spend_proof(id, &any_code("keyed-1", "legacy-1"), t(31)).await.expect("spend"));
    assert_eq!(store.backup_codes_remaining(id).await.expect("codes"), 2);
    // Neither digest of a code the user does not have spends anything.
    assert!(!store.spend_proof(id, &any_code("keyed-9", "legacy-9"), t(31)).await.expect("spend"));
}

/// Regenerating replaces the imported codes with ours: the imported ones stop working.
pub async fn regenerating_replaces_imported_codes<S: Storage>(store: Arc<S>) {
    let account = imported("regen@example.com", "src-regen");
    store.import_account(&account).await.expect("import");
    let id = account.user.id;
    let fresh = vec![digest("ours-0"), digest("ours-1")];
    let effects =
        ChangeEffects::audited(event(40, Some(id), AuditEventKind::MfaBackupRegenerateSuccess));
    let done = store
        .regenerate_with_proof(id, &any_code("k0", "legacy-0"), fresh, t(40), &effects)
        .await
        .expect("regenerate");
    assert!(done);
    assert!(!store.spend_proof(id, &any_code("k2", "legacy-2"), t(41)).await.expect("spend"));
    assert!(store.spend_proof(id, &any_code("ours-1", "sha-ours-1"), t(41)).await.expect("spend"));
}

/// The imported hash is replaced once, with its session and event, and only while it is
/// still the stored one.
pub async fn an_imported_hash_is_upgraded_once_with_its_effects<S: Storage>(store: Arc<S>) {
    let account = imported("upgrade@example.com", "src-upgrade");
    store.import_account(&account).await.expect("import");
    let id = account.user.id;
    let old = PasswordHash::from_phc(BCRYPT);
    let results = concurrently(10, |i| {
        let (store, old) = (Arc::clone(&store), old.clone());
        async move {
            let new = PasswordHash::from_phc(format!("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$h{i}"));
            let effects = ChangeEffects {
                start_session: Some(session(&format!("upgrade-{i}"), id, 600)),
                ..ChangeEffects::audited(event(50, Some(id), AuditEventKind::PasswordHashUpgraded))
            };
            store.upgrade_password_hash(id, &old, new, &effects).await.expect("upgrade")
        }
    })
    .await;
    assert_eq!(count_true(&results), 1);
    let read = reload(&*store, id).await;
    let LoginMethod::Local(hash) = &read.login else { panic!("local") };
    assert!(hash.as_str().starts_with("$argon2id$"));
    let winner = results.iter().position(|won| *won).expect("a winner");
    let sessions = store.sessions_of(id).await.expect("sessions");
    let ids: Vec<_> = sessions.into_iter().map(|s| s.id_hash).collect();
    assert_eq!(ids, vec![session(&format!("upgrade-{winner}"), id, 600).id_hash]);
    let query = AuditQuery {
        kind: Some(AuditEventKind::PasswordHashUpgraded),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(store.query(query).await.expect("query").len(), 1);
}
