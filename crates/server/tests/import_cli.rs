//! `slugbase import slugbase` as an operator runs it: the real binary over the SlugBase
//! fixture (see `import_slugbase.rs` for where it comes from) into a SQLite file — a dry run
//! that writes nothing, the import, a re-run that changes nothing — and nothing secret in
//! what it prints or logs. No OIDC provider is configured here, so the fixture's OIDC-only
//! user is reported and skipped (`import_slugbase.rs` imports it with its provider).
#![allow(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

mod common;

use common::{Env, slugbase_fixture as fixture};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_dry_run_writes_nothing_the_import_then_a_rerun_changes_nothing_and_nothing_secret_shows() {
    let Some(fixture) = fixture() else { return };
    let env = Env::new();
    let source = env.dir.path().join("slugbase-copy.db");
    std::fs::copy(fixture.join("slugbase.db"), &source).unwrap();
    let source = source.to_str().unwrap().to_owned();
    let dotenv = fixture.join("secrets.env");
    let dotenv = dotenv.to_str().unwrap();
    let import = |extra: &[&str]| {
        let mut args = vec!["import", "slugbase", "--from", &source, "--slugbase-env", dotenv];
        args.extend_from_slice(extra);
        env.cli(&args, None)
    };

    let dry = import(&["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let dry_out = text(&dry.stdout);
    // No OIDC provider is configured here: the OIDC-only user is reported, not imported.
    assert!(dry_out.contains("5 would import, 0 already imported, 1 skipped"), "{dry_out}");
    assert!(dry_out.contains("frank.li@shared.example"), "{dry_out}");
    assert!(dry_out.contains("its provider is not configured here"), "{dry_out}");
    let list = env.cli(&["user", "list"], None);
    assert_eq!(text(&list.stdout).lines().count(), 1, "a dry run stores no user");

    let first = import(&[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let first_out = text(&first.stdout);
    assert!(first_out.contains("5 imported, 0 already imported, 1 skipped"), "{first_out}");

    let again = import(&[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let again_out = text(&again.stdout);
    assert!(again_out.contains("0 imported, 5 already imported, 1 skipped"), "{again_out}");
    assert_eq!(again_out.matches("unchanged").count(), 5, "{again_out}");

    // Nothing secret in anything printed or logged: passwords, TOTP secrets, backup codes,
    // tokens, the key, the stored hashes and envelopes.
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("truth.json")).unwrap())
            .unwrap();
    let mut secrets: Vec<String> = Vec::new();
    for user in truth["users"].as_array().unwrap() {
        for field in ["password", "totp_secret"] {
            secrets.extend(user[field].as_str().map(str::to_owned));
        }
        for field in ["backup_codes_unused", "backup_codes_used"] {
            for code in user[field].as_array().unwrap() {
                secrets.push(code.as_str().unwrap().to_owned());
            }
        }
        for token in user["api_tokens"].as_array().unwrap() {
            secrets.push(token["token"].as_str().unwrap().to_owned());
        }
    }
    let key_line = std::fs::read_to_string(dotenv).unwrap();
    let key = key_line.lines().find_map(|l| l.strip_prefix("ENCRYPTION_KEY=")).unwrap();
    secrets.push(key.to_owned());
    secrets.push("$2a$10$".to_owned());
    let everything = [dry, first, again]
        .iter()
        .map(|o| format!("{}{}", text(&o.stdout), text(&o.stderr)))
        .collect::<String>();
    for secret in &secrets {
        assert!(!everything.contains(secret.as_str()), "a secret was printed or logged");
    }
}

#[test]
fn the_key_cannot_be_given_as_an_argument() {
    let env = Env::new();
    for flag in ["--encryption-key", "--key"] {
        let output =
            env.cli(&["import", "slugbase", "--from", "x.db", flag, "0123456789abcdef"], None);
        assert!(!output.status.success());
    }
}
