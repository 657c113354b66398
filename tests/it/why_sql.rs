//! `flux why` on database failures, one cause each: what SQLite refused and why, where, who
//! caused it when another execution did, and what to do; and the same finding in
//! `--format json`.

use serde_json::{json, Value};

use crate::support::{wait_for, Project, Server, DEADLINE, SNAPSHOT_FILTERS};

const SCHEMA: &str = "
CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE, name TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active');
CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT, price INTEGER, CONSTRAINT price_positive CHECK (price > 0));
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), total INTEGER);
CREATE TABLE imports (id INTEGER PRIMARY KEY, ref TEXT UNIQUE);
";

/// A small shop: each function does one thing to its tables.
fn shop() -> Project {
    Project::with_files(&[
        ("migrations/001_shop.sql", SCHEMA),
        (
            "flux.config.ts",
            "export default { workers: { import_feed: { maxAttempts: 2, backoff: { type: 'linear', initialDelay: '10ms' } } } }\n",
        ),
        (
            "functions/add_user.ts",
            "export default async function handler(req, ctx) {\n  return ctx.db.insert('users', req.body)\n}\n",
        ),
        (
            "functions/add_product.ts",
            "export default async function handler(req, ctx) {\n  return ctx.db.insert('products', req.body)\n}\n",
        ),
        (
            "functions/place_order.ts",
            "export default async function handler(req, ctx) {\n  return ctx.db.insert('orders', { user_id: req.body.userId, total: 10 })\n}\n",
        ),
        (
            "functions/delete_user.ts",
            "export default async function handler(req, ctx) {\n  await ctx.db.query('DELETE FROM users WHERE id = $1', [req.body.id])\n}\n",
        ),
        (
            "functions/ban_user.ts",
            "export default async function handler(req, ctx) {\n  await ctx.db.query(\"UPDATE users SET status = 'banned' WHERE id = $1\", [req.body.id])\n}\n",
        ),
        (
            "functions/checkout.ts",
            "export default async function handler(req, ctx) {\n  const [user] = await ctx.db.query('SELECT * FROM users WHERE email = $1', [req.body.email])\n  if (user.status !== 'active') throw new Error(`user ${user.id} is ${user.status}`)\n  return { ok: true }\n}\n",
        ),
        (
            "functions/greet.ts",
            "export default async function handler(req, ctx) {\n  const rows = await ctx.db.query('SELECT name FROM users WHERE id = $1', [req.body.id])\n  if (rows.length === 0) throw new Error('user not found')\n  return `Hello ${rows[0].name}`\n}\n",
        ),
        (
            "functions/search.ts",
            "export default async function handler(req, ctx) {\n  return ctx.db.query('SELECT * FORM users WHERE name = $1', [req.query.q])\n}\n",
        ),
        (
            "functions/report.ts",
            "export default async function handler(req, ctx) {\n  return ctx.db.query('SELECT id, nme FROM users')\n}\n",
        ),
        (
            "functions/stats.ts",
            "export default async function handler(req, ctx) {\n  return ctx.db.query('SELECT count(*) AS n FROM user')\n}\n",
        ),
        (
            "functions/import_feed.ts",
            "export default async function handler(job, ctx) {\n  await ctx.db.insert('imports', { ref: job.data.ref })\n  throw new Error('the feed went away')\n}\n",
        ),
    ])
}

/// Posts `body` to `path`; the request must succeed.
fn ok(server: &Server, path: &str, body: &str) {
    let reply = server.post_json(path, body);
    assert!(
        reply.status < 300,
        "{path}: {} {}",
        reply.status,
        reply.body
    );
}

/// Posts `body` to `path`; the request must fail. Returns its id once it is recorded.
fn failing(server: &Server, path: &str, body: &str) -> String {
    let reply = server.post_json(path, body);
    assert_eq!(reply.status, 500, "{path}: {}", reply.body);
    let id = reply.request_id();
    server.record(&id);
    id
}

/// `flux why <id>` as the user reads it, after checking that `--format json` carries the
/// same finding (its kind `cause`, root cause, location, blamed execution and suggestion).
fn why(project: &Project, id: &str, cause: &str) -> String {
    let (code, pretty, stderr) = project.run(&["why", &id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    let (code, json, stderr) = project.run(&["why", &id[..8], "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&json).expect("why's JSON");
    let finding = &json["finding"];
    assert_eq!(finding["cause"], cause, "{json}");
    let line = |label: &str, value: &Value| {
        value
            .as_str()
            .map(|text| format!("{label} {text}"))
            .unwrap_or_default()
    };
    for (label, key) in [
        ("ROOT CAUSE", "root_cause"),
        ("LOCATION", "location"),
        ("SUGGESTION", "suggestion"),
    ] {
        let expected = line(label, &finding[key]);
        assert_eq!(
            pretty.contains(&expected),
            !expected.is_empty() || !pretty.contains(label),
            "{label}: {json}\n{pretty}"
        );
    }
    match finding["blamed"].as_object() {
        Some(blamed) => {
            let id = blamed["id"].as_str().expect("blamed id");
            let function = blamed["function"].as_str().expect("blamed function");
            let did = blamed["did"].as_str().expect("what it did");
            assert!(blamed["at_us"].is_i64(), "{json}");
            assert!(
                pretty.contains(&format!("CAUSED BY req:{} ({function}) at ", &id[..8]))
                    && pretty.contains(&format!(": {did}\n")),
                "{json}\n{pretty}"
            );
        }
        None => assert!(!pretty.contains("CAUSED BY"), "{pretty}"),
    }
    pretty
}

/// `insta::assert_snapshot!` with ids and times filtered out.
macro_rules! assert_why {
    ($text:expr, @$snapshot:literal) => {
        insta::with_settings!({ filters => SNAPSHOT_FILTERS.to_vec() }, {
            insta::assert_snapshot!($text, @$snapshot);
        })
    };
}

#[test]
fn not_null_names_the_column_and_what_the_statement_gave() {
    let project = shop();
    let server = project.start();
    let id = failing(&server, "/add_user", r#"{"id":"u_1","email":"a@b.c"}"#);
    assert_why!(why(&project, &id, "not-null"), @r#"
        ROOT CAUSE Constraint violation: NOT NULL constraint failed: users.name
        LOCATION add_user.ts:2
        REQUEST POST /add_user { id: 'u_1', email: 'a@b.c' }
        SUGGESTION → Pass a value for users.name: the statement gave only id, email (a value that is undefined is left out), or give the column a default in a migration
        "#);
}

#[test]
fn check_names_the_constraint_its_expression_and_the_value() {
    let project = shop();
    let server = project.start();
    let id = failing(&server, "/add_product", r#"{"title":"Pen","price":0}"#);
    assert_why!(why(&project, &id, "check"), @r#"
        ROOT CAUSE Constraint violation: CHECK constraint failed: price_positive (price > 0)
        LOCATION add_product.ts:2
        REQUEST POST /add_product { title: 'Pen', price: 0 }
        SUGGESTION → price = 0 breaks CHECK (price > 0): check the value before writing it
        "#);
}

#[test]
fn foreign_key_names_the_missing_parent_and_who_deleted_it() {
    let project = shop();
    let server = project.start();
    ok(
        &server,
        "/add_user",
        r#"{"id":"u_2","email":"b@b.c","name":"Bo"}"#,
    );
    ok(&server, "/delete_user", r#"{"id":"u_2"}"#);
    let id = failing(&server, "/place_order", r#"{"userId":"u_2"}"#);
    let served = why(&project, &id, "foreign-key");
    // With flux dev stopped, the store answers the same (the schema, the rows, their history).
    drop(server);
    assert_eq!(why(&project, &id, "foreign-key"), served);
    assert_why!(served, @r#"
        ROOT CAUSE Constraint violation: FOREIGN KEY constraint failed: no users row with id = 'u_2' (orders.user_id)
        LOCATION place_order.ts:2
        CAUSED BY req:[ID] (delete_user) at [TIME]: deleted users u_2
        REQUEST POST /place_order { userId: 'u_2' }
        DATA CHANGES
          orders 1 insert (rolled back)
            id       ∅ → 1
            user_id  ∅ → 'u_2'
            total    ∅ → 10
        SUGGESTION → req:[ID] (delete_user) deleted that user row: check that it exists before writing orders, or delete its orders with it (ON DELETE CASCADE)
        "#);
}

#[test]
fn foreign_key_on_delete_names_the_children_still_referencing() {
    let project = shop();
    let server = project.start();
    ok(
        &server,
        "/add_user",
        r#"{"id":"u_1","email":"a@b.c","name":"Ada"}"#,
    );
    ok(&server, "/place_order", r#"{"userId":"u_1"}"#);
    let id = failing(&server, "/delete_user", r#"{"id":"u_1"}"#);
    assert_why!(why(&project, &id, "foreign-key"), @r#"
        ROOT CAUSE Constraint violation: FOREIGN KEY constraint failed: orders.user_id still references users u_1
        LOCATION delete_user.ts:2
        REQUEST POST /delete_user { id: 'u_1' }
        DATA CHANGES
          users u_1 delete (rolled back)
            id      'u_1' → ∅
            email   'a@b.c' → ∅
            name    'Ada' → ∅
            status  'active' → ∅
        SUGGESTION → Delete (or reassign) the orders rows that reference it first, in the same ctx.db.transaction, or declare the foreign key ON DELETE CASCADE
        "#);
}

#[test]
fn unique_blames_the_execution_that_wrote_the_value() {
    let project = shop();
    let server = project.start();
    ok(
        &server,
        "/add_user",
        r#"{"id":"u_1","email":"a@b.c","name":"Ada"}"#,
    );
    let id = failing(
        &server,
        "/add_user",
        r#"{"id":"u_2","email":"a@b.c","name":"Bo"}"#,
    );
    assert_why!(why(&project, &id, "unique"), @r#"
        ROOT CAUSE Constraint violation: UNIQUE constraint failed: users.email
        LOCATION add_user.ts:2
        CAUSED BY req:[ID] (add_user) at [TIME]: inserted users.email = 'a@b.c'
        REQUEST POST /add_user { id: 'u_2', email: 'a@b.c', name: 'Bo' }
        SUGGESTION → req:[ID] (add_user) already wrote users.email = 'a@b.c': look for an existing row first, or use INSERT … ON CONFLICT
        "#);
}

#[test]
fn a_retry_meeting_its_earlier_attempts_writes_is_a_retry_collision() {
    let project = shop();
    let server = project.start();
    let reply = server.enqueue(&json!({ "name": "import_feed", "data": { "ref": "feed-7" } }));
    let job = reply.json()["jobs"][0]["id"]
        .as_str()
        .expect("job id")
        .to_string();
    let attempts = wait_for("the job to die", DEADLINE, || {
        let detail = server.get(&format!("/_flux/api/jobs/{job}")).json();
        let attempts = detail["attempts"].as_array().cloned().unwrap_or_default();
        (detail["job"]["state"] == "dead" && attempts.len() == 2).then_some(attempts)
    });
    let second = attempts[1]["id"].as_str().expect("attempt id");
    assert_why!(why(&project, second, "retry-collision"), @r#"
        ROOT CAUSE Constraint violation: UNIQUE constraint failed: imports.ref
        LOCATION import_feed.ts:2
        CAUSED BY req:[ID] (import_feed) at [TIME]: inserted imports.ref = 'feed-7'
        JOB INPUT { ref: 'feed-7' }
        ATTEMPTS
          req:[ID]  attempt 1/2  error [DUR]  Error: the feed went away
          req:[ID]  attempt 2/2  error [DUR]  Error: UNIQUE constraint failed: imports.ref  ← this one
        SUGGESTION → Attempt 1 of this job (req:[ID]) wrote imports.ref = 'feed-7' before it failed, and a failed attempt's writes stay: make the job idempotent (INSERT … ON CONFLICT DO NOTHING, look the row up first, or do its writes in one ctx.db.transaction so that a failed attempt leaves nothing)
        "#);
}

#[test]
fn a_syntax_error_shows_the_token_in_the_statement() {
    let project = shop();
    let server = project.start();
    let reply = server.get("/search?q=Ada");
    assert_eq!(reply.status, 500);
    let id = reply.request_id();
    server.record(&id);
    assert_why!(why(&project, &id, "sql-syntax"), @r#"
        ROOT CAUSE SQL syntax error near "FORM"
        LOCATION search.ts:2
        REQUEST GET /search
        SUGGESTION → Fix the SQL near "FORM":
          SELECT * FORM users WHERE name = $1
                   ^
        "#);
}

#[test]
fn an_unknown_column_or_table_suggests_the_closest_one() {
    let project = shop();
    let server = project.start();
    let mut ids = Vec::new();
    for path in ["/report", "/stats"] {
        let reply = server.get(path);
        assert_eq!(reply.status, 500);
        ids.push(reply.request_id());
        server.record(&ids[ids.len() - 1]);
    }
    assert_why!(why(&project, &ids[0], "no-such-column"), @r#"
        ROOT CAUSE No such column: nme
        LOCATION report.ts:2
        REQUEST GET /report
        SUGGESTION → users has no column nme: did you mean name? (its columns: id, email, name, status)
        "#);
    assert_why!(why(&project, &ids[1], "no-such-table"), @r#"
        ROOT CAUSE No such table: user
        LOCATION stats.ts:2
        REQUEST GET /stats
        SUGGESTION → Did you mean users?
        "#);
}

#[test]
fn a_failure_after_reading_a_row_another_request_changed_blames_that_request() {
    let project = shop();
    let server = project.start();
    ok(
        &server,
        "/add_user",
        r#"{"id":"u_1","email":"a@b.c","name":"Ada"}"#,
    );
    ok(&server, "/ban_user", r#"{"id":"u_1"}"#);
    let id = failing(&server, "/checkout", r#"{"email":"a@b.c"}"#);
    assert_why!(why(&project, &id, "error"), @r#"
        ROOT CAUSE Error: user u_1 is banned
        LOCATION checkout.ts:3
        CAUSED BY req:[ID] (ban_user) at [TIME]: updated users u_1: status 'active' → 'banned'
        REQUEST POST /checkout { email: 'a@b.c' }
        "#);
}

#[test]
fn a_row_not_found_that_another_request_deleted_blames_that_request() {
    let project = shop();
    let server = project.start();
    ok(
        &server,
        "/add_user",
        r#"{"id":"u_1","email":"a@b.c","name":"Ada"}"#,
    );
    ok(&server, "/delete_user", r#"{"id":"u_1"}"#);
    let id = failing(&server, "/greet", r#"{"id":"u_1"}"#);
    assert_why!(why(&project, &id, "row-not-found"), @r#"
        ROOT CAUSE Row not found: users WHERE id = 'u_1'
        LOCATION greet.ts:2
        CAUSED BY req:[ID] (delete_user) at [TIME]: deleted users u_1
        REQUEST POST /greet { id: 'u_1' }
        "#);
    // A row that never existed has no one to blame.
    let id = failing(&server, "/greet", r#"{"id":"u_404"}"#);
    assert!(!why(&project, &id, "row-not-found").contains("CAUSED BY"));
}
