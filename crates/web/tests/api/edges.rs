//! Issue 22, items 3 and 4 over HTTP: e-mail limits apply to the lower-cased address on
//! every path that creates an account, one password policy answers alike on every path, and
//! a stored row that no longer decodes (a user, an audit event, an API token, a session, an
//! outbox notice) is listed as damaged instead of failing the list.

use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_testkit::steps::{ADMIN_EMAIL, PASSWORD};
use slugbase_testkit::{Api, TestApp, detail_fields};

/// `"a@" + "Ⱥ"×100 + ".io"`: 205 bytes as typed, 305 lower-cased (`ⱥ` is 3 bytes).
fn growing_a() -> String {
    format!("a@{}.io", "\u{23a}".repeat(100))
}

/// 84 × `İ` (2 bytes) + `@example.com`: 180 bytes typed, 264 lower-cased (`i` + U+0307).
fn growing_i() -> String {
    format!("{}@example.com", "\u{130}".repeat(84))
}

fn setup_body(email: &str, password: &str) -> Value {
    json!({"email": email, "name": "Admin", "password": password})
}

/// The one `VALIDATION_FAILED` answer of a field, with its message.
fn refused(reply: slugbase_testkit::Reply, field: &str) -> String {
    let body = reply.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(detail_fields(&body), [field], "{body}");
    body["details"][0]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn setup_and_admin_create_refuse_an_address_that_grows_past_254_bytes_when_lower_cased() {
    let app = TestApp::spawn().await;
    let anonymous = app.client();
    for email in [growing_a(), growing_i()] {
        assert!(email.len() <= 254, "under the limit as typed");
        let message =
            refused(anonymous.post("/api/auth/setup", setup_body(&email, PASSWORD)).await, "email");
        assert_eq!(message, "email is too long");
    }
    let admin = app.setup_admin().await;
    for email in [growing_a(), growing_i()] {
        let body = json!({"email": email, "name": "Grown", "password": PASSWORD});
        let message = refused(admin.post("/api/admin/users", body).await, "email");
        assert_eq!(message, "email is too long");
        let oidc_only = json!({"email": email, "name": "Grown"});
        refused(admin.post("/api/admin/users", oidc_only).await, "email");
    }
    // Nothing was stored, and the list answers.
    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    // At the limit once lower-cased is fine: 80 × ⱥ (240 bytes) + "aaa" + "@example.io".
    let at_limit = format!("aaa{}@example.io", "\u{23a}".repeat(80));
    let created = app.create_user(&admin, &at_limit, Some(PASSWORD)).await;
    assert_eq!(created["email"].as_str().unwrap().len(), 254);
    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
}

/// Setup, admin create and password change refuse the same passwords with the same reason
/// and message (`VALIDATION_FAILED`; the field is the body's own: `password`, or
/// `new_password` for a change).
#[tokio::test]
async fn setup_admin_create_and_password_change_share_one_password_policy() {
    let app = TestApp::spawn().await;
    let anonymous = app.client();
    let cases = [
        ("password", "Password is too common; choose one that is not on lists of common passwords"),
        ("seven77", "Password must be at least 8 characters"),
        (&*"a".repeat(129), "Password must be at most 128 characters"),
        // 129 four-byte characters: counted as characters, not bytes.
        (&*"\u{1f600}".repeat(129), "Password must be at most 128 characters"),
    ];
    for (password, says) in cases {
        let reply = anonymous.post("/api/auth/setup", setup_body(ADMIN_EMAIL, password)).await;
        assert_eq!(refused(reply, "password"), says, "setup with {password:?}");
    }
    let admin = app.setup_admin().await;
    for (password, says) in cases {
        let body = json!({"email": "new@example.com", "name": "New", "password": password});
        assert_eq!(refused(admin.post("/api/admin/users", body).await, "password"), says);
        let change = json!({"current_password": PASSWORD, "new_password": password});
        let reply = admin.post("/api/auth/password", change).await;
        assert_eq!(refused(reply, "new_password"), says, "change to {password:?}");
    }
    // 128 four-byte characters are within the policy everywhere.
    let long = "\u{1f600}".repeat(128);
    app.create_user(&admin, "long@example.com", Some(&long)).await;
    app.login("long@example.com", &long).await;
}

/// A user row damaged in the database (here: the e-mail a former build stored lower-cased
/// past 254 bytes) is listed as `{"id", "damaged": true, "problem"}`; the others as ever.
#[tokio::test]
async fn a_damaged_user_row_is_listed_as_damaged_and_the_list_still_answers() {
    let app = TestApp::spawn().await;
    let admin: Api = app.setup_admin().await;
    let victim = app.create_user(&admin, "victim@example.com", Some(PASSWORD)).await;
    app.create_user(&admin, "other@example.com", Some(PASSWORD)).await;
    let id = victim["id"].as_str().unwrap().to_owned();
    let grown = format!("a@{}.io", "\u{2c65}".repeat(100));
    let db = rusqlite::Connection::open(app.dir.path().join("slugbase.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let changed = db
        .execute("UPDATE users SET email = ?1 WHERE id = ?2", rusqlite::params![grown, id])
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);

    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 3, "{users:?}");
    let damaged: Vec<&Value> = users.iter().filter(|u| u["damaged"] == true).collect();
    assert_eq!(damaged.len(), 1, "{users:?}");
    assert_eq!(
        damaged[0],
        &json!({"id": id, "damaged": true, "problem": "corrupt stored data: email"})
    );
    let emails: Vec<&str> = users.iter().filter_map(|u| u["email"].as_str()).collect();
    assert_eq!(emails, [ADMIN_EMAIL, "other@example.com"]);
    assert!(users.iter().all(|u| u.get("damaged").is_none() || u["damaged"] == true));
}

/// The same for the audit log: an event whose stored kind this build does not know is listed
/// as damaged by its id; the page answers 200 with the other events.
#[tokio::test]
async fn a_damaged_audit_event_is_listed_as_damaged_and_the_page_still_answers() {
    let app = TestApp::spawn().await;
    let admin: Api = app.setup_admin().await;
    app.create_user(&admin, "someone@example.com", Some(PASSWORD)).await;
    let page = admin.get("/api/admin/audit-log").await.expect(StatusCode::OK);
    let events = page["events"].as_array().unwrap().clone();
    assert!(events.len() >= 2, "{page}");
    let id = events[0]["id"].as_i64().unwrap();
    let db = rusqlite::Connection::open(app.dir.path().join("slugbase.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let sql = "UPDATE audit_events SET kind = 'no_such_kind' WHERE id = ?1";
    assert_eq!(db.execute(sql, rusqlite::params![id]).unwrap(), 1);
    drop(db);

    let page = admin.get("/api/admin/audit-log").await.expect(StatusCode::OK);
    let listed = page["events"].as_array().unwrap();
    assert_eq!(listed.len(), events.len(), "{page}");
    assert_eq!(
        listed[0],
        json!({"id": id.to_string(), "damaged": true, "problem": "corrupt stored data: audit event kind"})
    );
    assert_eq!(listed[1..], events[1..]);
}

/// Runs `sql` with `key` on the test app's SQLite file, past every rule of the application;
/// returns how many rows it changed.
fn damage(app: &slugbase_testkit::TestApp, sql: &str, key: &str) -> usize {
    let db = rusqlite::Connection::open(app.dir.path().join("slugbase.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute(sql, rusqlite::params![key]).unwrap()
}

/// A stored API token and a stored outbox notice that no longer decode are listed as
/// `{"id", "damaged": true, "problem"}` (the token by its row id, the notice by its id);
/// `GET /api/tokens` and `GET /api/admin/outbox` answer 200 with the others intact.
#[tokio::test]
async fn a_damaged_token_or_notice_is_listed_as_damaged_and_its_list_still_answers() {
    let app = TestApp::spawn().await;
    let admin: Api = app.setup_admin().await;
    let mut plain = Vec::new();
    for name in ["first", "middle", "last"] {
        let created = admin.post("/api/tokens", json!({"name": name})).await;
        plain.push(created.expect(StatusCode::CREATED)["token"].as_str().unwrap().to_owned());
    }
    let tokens = admin.get("/api/tokens").await.expect(StatusCode::OK);
    let tokens = tokens.as_array().unwrap().clone();
    assert_eq!(tokens.len(), 3, "{tokens:?}");
    let id = tokens[1]["id"].as_str().unwrap().to_owned();
    let sql = "UPDATE api_tokens SET last_used_at = 9223372036854775807 WHERE id = ?1";
    assert_eq!(damage(&app, sql, &id), 1);

    let listed = admin.get("/api/tokens").await.expect(StatusCode::OK);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(
        listed[1],
        json!({"id": id, "damaged": true, "problem": "corrupt stored data: time out of range"})
    );
    assert_eq!((&listed[0], &listed[2]), (&tokens[0], &tokens[2]));
    // The damaged token's holder is refused as unauthenticated (never a 500); the others work.
    let res = app.bearer(&plain[1]).get("/api/auth/me").await;
    res.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    app.bearer(&plain[0]).get("/api/auth/me").await.expect(StatusCode::OK);

    // The outbox: the three "token created" notices (at least).
    let page = admin.get("/api/admin/outbox").await.expect(StatusCode::OK);
    let notices = page["notices"].as_array().unwrap().clone();
    assert!(notices.len() >= 3, "{page}");
    let id = notices[1]["id"].as_str().unwrap().to_owned();
    let sql = "UPDATE outbox SET kind = 'no_such_kind' WHERE id = ?1";
    assert_eq!(damage(&app, sql, &id), 1);

    let page = admin.get("/api/admin/outbox").await.expect(StatusCode::OK);
    let listed = page["notices"].as_array().unwrap();
    assert_eq!(listed.len(), notices.len(), "{page}");
    assert_eq!(
        listed[1],
        json!({"id": id, "damaged": true, "problem": "corrupt stored data: notice kind"})
    );
    let ids = |list: &[Value]| -> Vec<Value> { list.iter().map(|n| n["id"].clone()).collect() };
    assert_eq!(ids(listed), ids(&notices));
    assert!(listed.iter().enumerate().all(|(i, n)| i == 1 || n.get("damaged").is_none()));
}

/// A stored session that no longer decodes is listed by its public handle (never the stored
/// digest) as damaged, and `GET /api/auth/sessions` answers 200 with the other sessions; the
/// damaged row of one user changes nothing for another user's requests.
#[tokio::test]
async fn a_damaged_session_is_listed_by_its_handle_and_spoils_no_one_elses_requests() {
    let app = TestApp::spawn().await;
    let admin: Api = app.setup_admin().await;
    app.create_user(&admin, "other@example.com", Some(PASSWORD)).await;
    let second = app.login(ADMIN_EMAIL, PASSWORD).await;
    let third = app.login(ADMIN_EMAIL, PASSWORD).await;
    let other = app.login("other@example.com", PASSWORD).await;
    let before = admin.get("/api/auth/sessions").await.expect(StatusCode::OK);
    let before = before.as_array().unwrap().clone();
    assert_eq!(before.len(), 3, "{before:?}");
    let handles: Vec<&str> = before.iter().map(|s| s["id"].as_str().unwrap()).collect();

    // The admin's second session (the second one stored), damaged.
    let stored: String = {
        let db = rusqlite::Connection::open(app.dir.path().join("slugbase.db")).unwrap();
        db.query_row("SELECT id_hash FROM sessions ORDER BY rowid LIMIT 1 OFFSET 1", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let sql = "UPDATE sessions SET kind = 'no_such_kind' WHERE id_hash = ?1";
    assert_eq!(damage(&app, sql, &stored), 1);

    let listed = admin.get("/api/auth/sessions").await.expect(StatusCode::OK);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    let damaged: Vec<&Value> = listed.iter().filter(|s| s["damaged"] == true).collect();
    assert_eq!(damaged.len(), 1, "{listed:?}");
    let handle = damaged[0]["id"].as_str().unwrap();
    assert!(handles.contains(&handle), "named by its public handle: {handle}");
    assert_ne!(handle, stored, "never the stored digest");
    assert!(!serde_json::to_string(listed).unwrap().contains(&stored), "never the stored digest");
    assert_eq!(damaged[0]["problem"], "corrupt stored data: session kind");
    let intact: Vec<&Value> = listed.iter().filter(|s| s.get("damaged").is_none()).collect();
    assert_eq!(intact.len(), 2);
    assert!(intact.iter().any(|s| s["current"] == true), "{listed:?}");

    // Its own holder is signed out (401, not a 500) and can sign in again.
    let res = second.get("/api/auth/me").await;
    res.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    app.login(ADMIN_EMAIL, PASSWORD).await.get("/api/auth/me").await.expect(StatusCode::OK);

    // Ending a session by the damaged handle finds nothing; revoke-others ends it.
    admin.delete(&format!("/api/auth/sessions/{handle}")).await.expect(StatusCode::NOT_FOUND);
    // Another session of the same user, and another user, are not affected.
    third.get("/api/auth/me").await.expect(StatusCode::OK);
    other.get("/api/auth/me").await.expect(StatusCode::OK);
    other.get("/api/auth/sessions").await.expect(StatusCode::OK);
    admin.post("/api/auth/sessions/revoke-others", json!({})).await.expect(StatusCode::OK);
    let left = admin.get("/api/auth/sessions").await.expect(StatusCode::OK);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
}

/// Text-direction controls (U+202E "right-to-left override" and the rest of Unicode's
/// bidirectional controls) would disguise a name — and what an e-mail or a list shows around
/// it. Every name people give is refused with one: a display name (setup, admin create), an
/// API token's, a passkey's. A name stored before the rule keeps its account working.
#[tokio::test]
async fn names_with_text_direction_controls_are_refused_everywhere_but_old_ones_still_sign_in() {
    let app = TestApp::spawn().await;
    let disguised = "Laptop\u{202E}exe.txt";
    let isolated = "Ann \u{2067}x\u{2069}";
    let res = app
        .client()
        .post(
            "/api/auth/setup",
            json!({"email": "a@example.com", "name": disguised, "password": PASSWORD}),
        )
        .await;
    assert!(refused(res, "name").contains("text-direction"));
    let mut admin: Api = app.setup_admin().await;

    for name in [disguised, isolated, "Bob\u{200F}"] {
        let body = json!({"email": "b@example.com", "name": name, "password": PASSWORD});
        assert!(
            refused(admin.post("/api/admin/users", body).await, "name").contains("text-direction")
        );
        let res = admin.post("/api/tokens", json!({"name": name})).await;
        assert!(refused(res, "name").contains("text-direction"));
        let path = format!("/api/auth/passkeys/{}", uuid::Uuid::new_v4());
        let res = admin.send(reqwest::Method::PATCH, &path, Some(&json!({"name": name}))).await;
        assert!(refused(res.unwrap(), "name").contains("text-direction"));
    }
    // Right-to-left scripts need no control character, and stay welcome.
    let body = json!({"email": "c@example.com", "name": "مريم", "password": PASSWORD});
    assert_eq!(
        admin.post("/api/admin/users", body).await.expect(StatusCode::CREATED)["name"],
        "مريم"
    );
    admin.make_token("رمز").await;

    // A name stored before the rule: the account signs in and is listed, not damaged.
    let old = app.create_user(&admin, "old@example.com", Some(PASSWORD)).await;
    let db = rusqlite::Connection::open(app.dir.path().join("slugbase.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let id = old["id"].as_str().unwrap();
    db.execute("UPDATE users SET name = ?1 WHERE id = ?2", rusqlite::params![disguised, id])
        .unwrap();
    drop(db);
    let signed_in = app.login("old@example.com", PASSWORD).await;
    let me = signed_in.get("/api/auth/me").await.expect(StatusCode::OK);
    assert_eq!(me["name"], disguised);
    let users = admin.get("/api/admin/users").await.expect(StatusCode::OK);
    assert!(users.as_array().unwrap().iter().all(|u| u.get("damaged").is_none()), "{users}");
}

/// The audit log filters by outcome and by time (issue 25): each bad filter is a 400 naming
/// its parameter; good ones combine.
#[tokio::test]
async fn the_audit_log_filters_by_outcome_and_time_and_names_a_bad_filter() {
    let app = TestApp::spawn().await;
    let admin: Api = app.setup_admin().await;
    let wrong = json!({"email": ADMIN_EMAIL, "password": "not the password"});
    app.client().post("/api/auth/login", &wrong).await;
    let page = |query: &str| {
        let admin = admin.clone();
        let path = format!("/api/admin/audit-log?{query}");
        async move { admin.get(&path).await }
    };

    let failures = page("outcome=failure").await.expect(StatusCode::OK);
    let failures = failures["events"].as_array().unwrap().clone();
    assert!(!failures.is_empty());
    assert!(failures.iter().all(|e| e["outcome"] == "failure"), "{failures:?}");
    let successes = page("outcome=success").await.expect(StatusCode::OK);
    assert!(successes["events"].as_array().unwrap().iter().all(|e| e["outcome"] == "success"));
    let all = page("").await.expect(StatusCode::OK)["events"].as_array().unwrap().len();
    let future = page("since=2999-01-01T00:00:00Z").await.expect(StatusCode::OK);
    assert_eq!(future["events"], json!([]));
    let past = page("until=2000-01-01T00:00:00%2B01:00").await.expect(StatusCode::OK);
    assert_eq!(past["events"], json!([]));
    let window = page("since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z").await;
    assert_eq!(window.expect(StatusCode::OK)["events"].as_array().unwrap().len(), all);

    assert!(refused(page("outcome=maybe").await, "outcome").contains("success or failure"));
    assert!(refused(page("since=yesterday").await, "since").contains("RFC 3339"));
    let backwards = page("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z").await;
    assert!(refused(backwards, "until").contains("after since"));
}
