//! Issue 22, items 3 and 4 at the command line (the real binary over a real SQLite file):
//! `slugbase user create` applies the e-mail limits to the lower-cased address and the one
//! password policy (as `user set-password` and the API do), and `slugbase user list` shows a
//! stored row that no longer decodes as damaged instead of failing.

mod common;

use common::Env;
use sea_orm::{ConnectionTrait as _, Database, Statement, Value};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const GOOD: &str = "operator chosen pw 1";

#[test]
fn user_create_refuses_addresses_that_grow_past_the_limit_and_passwords_off_the_policy() {
    let env = Env::new();
    // "a@" + "Ⱥ"×100 + ".io" (205 bytes, 305 lower-cased); 84 × "İ" + "@example.com".
    let growing_a = format!("a@{}.io", "\u{23a}".repeat(100));
    let growing_i = format!("{}@example.com", "\u{130}".repeat(84));
    for email in [&growing_a, &growing_i] {
        let refused = env.cli(&["user", "create", "--email", email], Some(&format!("{GOOD}\n")));
        assert!(!refused.status.success(), "{email} was accepted");
        assert!(text(&refused.stderr).contains("email is too long"), "{}", text(&refused.stderr));
        let oidc = env.cli(&["user", "create", "--email", email, "--oidc-only"], None);
        assert!(!oidc.status.success(), "{email} was accepted as OIDC-only");
    }
    let too_long = "a".repeat(129);
    for (password, says) in [
        ("password", "Password is too common"),
        ("Password", "Password is too common"),
        ("seven77", "Password must be at least 8 characters"),
        (too_long.as_str(), "Password must be at most 128 characters"),
    ] {
        let refused = env.cli(
            &["user", "create", "--email", "root@example.com", "--admin"],
            Some(&format!("{password}\n")),
        );
        assert!(!refused.status.success(), "{password:?} was accepted");
        let stderr = text(&refused.stderr);
        assert!(stderr.contains(says), "{password:?}: {stderr}");
        // Never echoed ("password" itself is a word of the message).
        assert!(password.len() < 20 || !stderr.contains(password), "{stderr}");
    }
    let list = env.cli(&["user", "list"], None);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert_eq!(text(&list.stdout).lines().count(), 1, "only the header: {}", text(&list.stdout));

    // The same policy (and messages) for `user set-password`.
    let created =
        env.cli(&["user", "create", "--email", "root@example.com"], Some(&format!("{GOOD}\n")));
    assert!(created.status.success(), "{}", text(&created.stderr));
    for (password, says) in [
        ("password", "Password is too common"),
        (too_long.as_str(), "Password must be at most 128 characters"),
    ] {
        let refused = env.cli(
            &["user", "set-password", "--email", "root@example.com"],
            Some(&format!("{password}\n")),
        );
        assert!(!refused.status.success(), "{password:?} was accepted");
        assert!(text(&refused.stderr).contains(says), "{}", text(&refused.stderr));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_list_shows_a_damaged_row_by_its_id_and_lists_the_others() {
    let env = Env::new();
    for email in ["first@example.com", "victim@example.com", "last@example.com"] {
        let created = env.cli(&["user", "create", "--email", email], Some(&format!("{GOOD}\n")));
        assert!(created.status.success(), "{}", text(&created.stderr));
    }
    // The e-mail as a former build stored it: lower-cased past 254 bytes.
    let grown = format!("a@{}.io", "\u{2c65}".repeat(100));
    let db = Database::connect(&env.db_url).await.unwrap();
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT id FROM users WHERE email = ?",
            [Value::from("victim@example.com")],
        ))
        .await
        .unwrap()
        .unwrap();
    let id: String = row.try_get_by_index(0).unwrap();
    let update = Statement::from_sql_and_values(
        backend,
        "UPDATE users SET email = ? WHERE id = ?",
        [Value::from(grown.clone()), Value::from(id.clone())],
    );
    assert_eq!(db.execute_raw(update).await.unwrap().rows_affected(), 1);
    db.close().await.unwrap();

    let list = env.cli(&["user", "list"], None);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let listing = text(&list.stdout);
    assert!(listing.contains("first@example.com") && listing.contains("last@example.com"));
    let damaged = listing.lines().find(|l| l.starts_with(&id)).expect("the damaged row is listed");
    assert!(damaged.contains("DAMAGED (corrupt stored data: email)"), "{listing}");
    assert!(!listing.contains(&grown) && !text(&list.stderr).contains(&grown));
    // Logged with its id.
    assert!(text(&list.stderr).contains(&id), "{}", text(&list.stderr));
}
