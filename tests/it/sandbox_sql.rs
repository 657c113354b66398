//! What a function's SQL may not do: reach files, flux's own tables or the connection's
//! settings, run past its execution's deadline, or return an unbounded result.

use serde_json::{json, Value};

use crate::support::{Project, Server, DEADLINE};

const PROJECT: &[(&str, &str)] = &[
    (
        "flux.config.ts",
        "export default { http: { timeoutSeconds: 1 }, db: { maxResultSize: '1MiB' } }",
    ),
    (
        "migrations/001.sql",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         CREATE TABLE audit (what TEXT);
         CREATE TRIGGER wipe_records AFTER INSERT ON audit BEGIN DELETE FROM _flux_records; END;",
    ),
    // Runs the SQL of the request; a refusal comes back as `{ error }`.
    (
        "functions/sql.ts",
        "export default async (req, ctx) => {
           console.log('running the query')
           try { return { rows: await ctx.db.query(req.body.sql) } }
           catch (e) { return { error: e.message } }
         }",
    ),
    // The same after a write, so that the SQL runs on the store thread's connection.
    (
        "functions/write_then_sql.ts",
        "export default async (req, ctx) => {
           await ctx.db.insert('notes', { body: 'before' })
           console.log('running the query')
           try { return { rows: await ctx.db.query(req.body.sql) } }
           catch (e) { return { error: e.message } }
         }",
    ),
    (
        "functions/note.ts",
        "export default async (req, ctx) => ctx.db.insert('notes', { body: req.body.body })",
    ),
    (
        "functions/mail.ts",
        "export default async (req, ctx) => ctx.email.send({ to: 'ada@example.com', template: 'hi' })",
    ),
    ("emails/hi.html", "<title>Hi</title><p>Hello</p>"),
];

const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

fn run_sql(server: &Server, function: &str, sql: &str) -> Value {
    let reply = server.post_json(function, &json!({ "sql": sql }).to_string());
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// The error the function's `ctx.db.query` threw, which the test requires.
fn refusal(server: &Server, sql: &str) -> String {
    let reply = run_sql(server, "/sql", sql);
    reply["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{sql} was not refused: {reply}"))
        .to_string()
}

fn note_count(server: &Server) -> i64 {
    run_sql(server, "/sql", "SELECT count(*) AS n FROM notes")["rows"][0]["n"]
        .as_i64()
        .expect("a count")
}

fn store_count(project: &Project, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("open");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .expect("count")
}

#[test]
fn attach_and_vacuum_into_are_refused_and_create_no_file() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let outside = tempfile::tempdir().expect("tempdir");
    let target = |name: &str| outside.path().join(name).display().to_string();
    for (sql, file) in [
        (
            format!("ATTACH DATABASE '{}' AS other", target("plain.db")),
            "plain.db",
        ),
        (
            format!("ATTACH 'file:{}?mode=rwc' AS other", target("uri.db")),
            "uri.db",
        ),
    ] {
        let message = refusal(&server, &sql);
        assert!(
            message.contains("ATTACH and DETACH are not allowed"),
            "{sql}: {message}"
        );
        assert!(!outside.path().join(file).exists(), "{sql} created {file}");
    }
    // VACUUM writes, so it runs in the store's open transaction, where SQLite refuses it; it
    // would attach its target anyway.
    let vacuum = format!("VACUUM INTO '{}'", target("copy.db"));
    assert!(refusal(&server, &vacuum).contains("VACUUM"));
    assert!(
        !outside.path().join("copy.db").exists(),
        "VACUUM INTO wrote a copy"
    );
    // Reading the store itself through an attachment is refused the same way.
    let store = project.path().join(".flux/flux.db").display().to_string();
    let message = refusal(&server, &format!("ATTACH '{store}' AS copy"));
    assert!(message.contains("ATTACH"), "{message}");
    assert!(refusal(&server, "DETACH other").contains("ATTACH and DETACH"));
}

#[test]
fn a_second_statement_is_refused_before_it_can_change_a_setting() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    for sql in [
        "SELECT 1; PRAGMA hard_heap_limit = 200000",
        "SELECT 1; PRAGMA query_only = 1",
        "SELECT ';'; INSERT INTO notes (body) VALUES ('smuggled')",
    ] {
        let message = refusal(&server, sql);
        assert!(
            message.contains("a call runs one SQL statement"),
            "{sql}: {message}"
        );
    }
    // None of them took effect: writes still work, on both kinds of connection.
    assert_eq!(note_count(&server), 0);
    assert_eq!(server.post_json("/note", r#"{"body":"one"}"#).status, 200);
    let after_write = run_sql(
        &server,
        "/write_then_sql",
        "SELECT count(*) AS n FROM notes",
    );
    assert_eq!(after_write["rows"][0]["n"], 2, "{after_write}");
}

#[test]
fn pragmas_outside_the_schema_ones_are_refused_in_every_form() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    for (sql, named) in [
        ("PRAGMA query_only = 1", "PRAGMA query_only"),
        ("pragma main.foreign_keys = off", "PRAGMA foreign_keys"),
        ("PRAGMA hard_heap_limit = 200000", "PRAGMA hard_heap_limit"),
        ("SELECT * FROM pragma_database_list", "PRAGMA database_list"),
        (
            "SELECT file FROM pragma_database_list",
            "PRAGMA database_list",
        ),
        ("PRAGMA writable_schema = 1", "PRAGMA writable_schema"),
    ] {
        let message = refusal(&server, sql);
        assert!(
            message.contains(named) && message.contains("only schema pragmas"),
            "{sql}: {message}"
        );
    }
    // The schema-qualified trick needs an attached schema, which cannot exist.
    assert!(refusal(&server, "ATTACH ':memory:' AS table_info").contains("ATTACH"));
    assert!(!refusal(&server, "PRAGMA table_info.query_only").is_empty());
    let columns = run_sql(&server, "/sql", "PRAGMA table_info(notes)");
    assert_eq!(columns["rows"][1]["name"], "body", "{columns}");
    let columns = run_sql(
        &server,
        "/sql",
        "SELECT name FROM pragma_table_info('notes')",
    );
    assert_eq!(columns["rows"][0]["name"], "id", "{columns}");

    // The settings were not applied: writes still work on both kinds of connection.
    assert_eq!(server.post_json("/note", r#"{"body":"one"}"#).status, 200);
    let after_write = run_sql(&server, "/write_then_sql", "PRAGMA query_only = 1");
    assert!(after_write["error"].is_string(), "{after_write}");
    assert_eq!(server.post_json("/note", r#"{"body":"two"}"#).status, 200);
    // 'one', the function's own 'before' and 'two'.
    assert_eq!(note_count(&server), 3);
}

#[test]
fn the_schema_table_cannot_be_rewritten_and_the_store_reopens() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let reply = server.post_json("/note", r#"{"body":"kept"}"#);
    let id = reply.request_id();
    assert!(refusal(&server, "PRAGMA writable_schema = 1").contains("writable_schema"));
    let message = refusal(
        &server,
        "UPDATE sqlite_master SET sql = 'garbage' WHERE name = 'notes'",
    );
    assert!(message.contains("may not be modified"), "{message}");
    let after_write = run_sql(
        &server,
        "/write_then_sql",
        "UPDATE sqlite_master SET sql = 'garbage' WHERE name = 'notes'",
    );
    assert!(after_write["error"].is_string(), "{after_write}");
    server.stop();
    let server = project.start();
    assert_eq!(server.record(&id)["status"], "ok");
    assert_eq!(note_count(&server), 2);
}

#[test]
fn flux_tables_are_out_of_reach_of_a_function() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let earlier = server.post_json("/note", r#"{"body":"kept"}"#).request_id();
    assert_eq!(server.get("/mail").status, 200);
    let record_before = server.record(&earlier);
    let sent = store_count(&project, "_flux_emails");
    assert_eq!(sent, 1);
    for sql in [
        "UPDATE _flux_records SET status = 'ok', body = '{}'",
        "DELETE FROM _flux_emails",
        "SELECT body FROM _flux_records",
        "SELECT count(*) AS n FROM _FLUX_RECORDS",
        "INSERT INTO _flux_jobs (id) VALUES ('forged')",
        "DROP TABLE _flux_mutations",
        "CREATE TEMP TRIGGER spy AFTER INSERT ON _flux_records BEGIN SELECT 1; END",
    ] {
        let message = refusal(&server, sql);
        assert!(message.contains("flux's own tables"), "{sql}: {message}");
        let on_writer = run_sql(&server, "/write_then_sql", sql);
        let message = on_writer["error"].as_str().unwrap_or_default();
        assert!(message.contains("flux's own tables"), "{sql}: {on_writer}");
    }
    assert_eq!(server.record(&earlier), record_before);
    assert_eq!(store_count(&project, "_flux_emails"), sent);
}

#[test]
fn a_trigger_on_an_app_table_cannot_write_flux_tables() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let earlier = server.post_json("/note", r#"{"body":"kept"}"#).request_id();
    let record_before = server.record(&earlier);
    let message = refusal(&server, "INSERT INTO audit (what) VALUES ('x')");
    assert!(
        message.contains("_flux_records is one of flux's own tables"),
        "{message}"
    );
    assert_eq!(server.record(&earlier), record_before);
    assert_eq!(
        run_sql(&server, "/sql", "SELECT count(*) AS n FROM audit")["rows"][0]["n"],
        0
    );
}

#[test]
fn a_migration_that_touches_flux_tables_stops_start_up_and_changes_nothing() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let earlier = server.post_json("/note", r#"{"body":"kept"}"#).request_id();
    server.stop();
    project.write("migrations/002_wipe.sql", "DELETE FROM _flux_records;");
    let output = Server::try_start(&project, &[])
        .err()
        .expect("start-up must fail");
    assert!(output.contains("migrations/002_wipe.sql"), "{output}");
    assert!(output.contains("flux's own tables"), "{output}");
    project.write("migrations/002_wipe.sql", "PRAGMA writable_schema = 1;");
    let output = Server::try_start(&project, &[])
        .err()
        .expect("start-up must fail");
    assert!(output.contains("PRAGMA writable_schema"), "{output}");
    std::fs::remove_file(project.path().join("migrations/002_wipe.sql")).expect("remove");
    let server = project.start();
    assert_eq!(server.record(&earlier)["status"], "ok");
}

#[test]
fn extensions_and_raw_pages_stay_refused() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let message = refusal(&server, "SELECT load_extension('/tmp/evil.so')");
    assert!(
        message.contains("load_extension() is not allowed"),
        "{message}"
    );
    let message = refusal(&server, "SELECT * FROM dbstat");
    assert!(message.contains("raw pages"), "{message}");
    for sql in [
        "SELECT readfile('/etc/passwd')",
        "SELECT writefile('/tmp/x', 'y')",
        "SELECT * FROM sqlite_dbpage",
    ] {
        assert!(!refusal(&server, sql).is_empty(), "{sql}");
    }
    let message = refusal(&server, "BEGIN");
    assert!(
        message.contains("use ctx.db.transaction(async (tx) =>"),
        "{message}"
    );
}

/// Posts `sql` to `function` on another thread; returns its status and the request id. An
/// answer that does not come within DEADLINE (far less than the endless query would run)
/// fails the test.
fn spawn_slow(
    server: &Server,
    function: &str,
    sql: &str,
) -> std::thread::JoinHandle<(u16, String)> {
    let url = format!("{}{function}", server.url);
    let body = json!({ "sql": sql }).to_string();
    std::thread::spawn(move || {
        let response = reqwest::blocking::Client::builder()
            .timeout(DEADLINE)
            .build()
            .expect("client")
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("an answer within DEADLINE");
        let id = response
            .headers()
            .get("x-flux-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (response.status().as_u16(), id)
    })
}

fn assert_stopped_at_the_deadline(project: &Project, server: &Server, function: &str) {
    let slow = spawn_slow(server, function, ENDLESS);
    server.wait_for_output(&format!("[{}] running the query", &function[1..]));
    // Another execution writes meanwhile: it is not held past the slow one's deadline (a write
    // held by another execution for LOCK_WAIT fails as busy).
    let note = server.post_json("/note", r#"{"body":"meanwhile"}"#);
    assert_eq!(note.status, 200, "{}", note.body);
    let (status, id) = slow.join().expect("join");
    assert_eq!(status, 504);
    let record = server.record(&id);
    assert_eq!(record["status"], "timeout");
    let message = record["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("timed out after 1s")
            && message.contains("db.query at")
            && message.contains("interrupted at the deadline"),
        "{message}"
    );
    let spans = record["spans"].as_array().expect("spans");
    let query = spans
        .iter()
        .find(|span| span["name"] == "db.query")
        .unwrap_or_else(|| panic!("no db.query span: {record}"));
    assert_eq!(query["status"], "timeout", "{query}");
    let (_, why, _) = project.run(&["why", &id]);
    assert!(
        why.contains(&format!("{}.ts:", &function[1..]))
            && why.contains("db.query was still running at the deadline"),
        "{why}"
    );
    // The engine and the store serve again.
    assert!(note_count(server) >= 1);
}

#[test]
fn an_endless_query_ends_at_the_deadline_on_an_engine_connection() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    assert_stopped_at_the_deadline(&project, &server, "/sql");
}

#[test]
fn an_endless_query_ends_at_the_deadline_on_the_store_thread() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    assert_stopped_at_the_deadline(&project, &server, "/write_then_sql");
}

#[test]
fn ctrl_c_stops_an_endless_query() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { timeoutSeconds: 120 }, shutdown: { graceSeconds: 0.2 } }",
        ),
        (
            "functions/endless.ts",
            "export default async (req, ctx) => {
               console.log('counting')
               return ctx.db.query(req.body.sql)
             }",
        ),
    ]);
    let server = project.start();
    let slow = spawn_slow(&server, "/endless", ENDLESS);
    server.wait_for_output("[endless] counting");
    // The query is interrupted once the grace is over: flux exits within `stop`'s DEADLINE,
    // long before the execution's own timeout.
    server.stop();
    let (status, _) = slow.join().expect("join");
    assert_eq!(status, 503);
}

#[test]
fn a_result_past_the_cap_is_a_clear_error_and_flux_stays_up() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let huge = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000) \
                SELECT x, 'a row of some text' AS label FROM c";
    let message = refusal(&server, huge);
    assert!(
        message.contains("larger than db.maxResultSize (1.0 MiB)")
            && message.contains("LIMIT")
            && message.contains("flux.config.ts"),
        "{message}"
    );
    let on_writer = run_sql(&server, "/write_then_sql", huge);
    assert!(
        on_writer["error"]
            .as_str()
            .is_some_and(|e| e.contains("db.maxResultSize")),
        "{on_writer}"
    );
    assert_eq!(server.get("/_flux/api/health").status, 200);
    let paged = run_sql(
        &server,
        "/sql",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) SELECT x FROM c",
    );
    assert_eq!(paged["rows"].as_array().map(Vec::len), Some(1000));
}

#[test]
fn a_result_cap_out_of_range_is_a_config_error() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { db: { maxResultSize: '2TiB' } }",
        ),
        ("functions/ok.ts", "export default () => 'ok'"),
    ]);
    let output = Server::try_start(&project, &[])
        .err()
        .expect("start-up must fail");
    assert!(output.contains("db.maxResultSize"), "{output}");
    assert!(output.contains("at most 1GiB"), "{output}");
}

#[test]
fn an_endless_write_ends_at_the_deadline_and_later_writes_work() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    assert_eq!(server.post_json("/note", r#"{"body":"kept"}"#).status, 200);
    // A write that never gets to its row: SQLite undoes the whole open transaction when it
    // interrupts a write, which the store thread notices.
    let endless_insert = format!("INSERT INTO notes (body) {ENDLESS}");
    let (status, id) = spawn_slow(&server, "/sql", &endless_insert)
        .join()
        .expect("join");
    assert_eq!(status, 504);
    assert_eq!(server.record(&id)["status"], "timeout");
    // Its rows are gone, the earlier write is kept, and the store takes writes again.
    assert_eq!(note_count(&server), 1);
    assert_eq!(server.post_json("/note", r#"{"body":"after"}"#).status, 200);
    assert_eq!(note_count(&server), 2);
}

#[test]
fn a_million_rows_meet_the_default_cap() {
    let project = Project::with_files(&[(
        "functions/sql.ts",
        "export default async (req, ctx) => {
           try { return { rows: (await ctx.db.query(req.body.sql)).length } }
           catch (e) { return { error: e.message } }
         }",
    )]);
    let server = project.start();
    let million = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000) \
                   SELECT x FROM c";
    let message = refusal(&server, million);
    assert!(
        message.contains("larger than db.maxResultSize (16.0 MiB)"),
        "{message}"
    );
    assert_eq!(server.get("/_flux/api/health").status, 200);
}

#[test]
fn sigterm_stops_an_endless_query_on_the_store_thread() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { timeoutSeconds: 120 }, shutdown: { graceSeconds: 0.2 } }",
        ),
        ("migrations/001.sql", "CREATE TABLE notes (body TEXT);"),
        (
            "functions/endless.ts",
            "export default async (req, ctx) => {
               await ctx.db.insert('notes', { body: 'first' })
               console.log('counting')
               return ctx.db.query(req.body.sql)
             }",
        ),
    ]);
    let server = project.start();
    let slow = spawn_slow(&server, "/endless", ENDLESS);
    server.wait_for_output("[endless] counting");
    // SAFETY: a signal to the child process this test started.
    unsafe {
        libc::kill(server.pid() as i32, libc::SIGTERM);
    }
    // Answered within spawn_slow's DEADLINE, long before the execution's own timeout.
    let (status, _) = slow.join().expect("join");
    assert_eq!(status, 503);
    let output = server.stop();
    assert!(output.contains("flux dev stopped"), "{output}");
}

#[test]
fn an_uncaught_refusal_is_recorded_at_the_call_site() {
    let project = Project::with_files(&[(
        "functions/attach.ts",
        "export default async (req, ctx) => {\n  return ctx.db.query(\"ATTACH ':memory:' AS other\")\n}",
    )]);
    let server = project.start();
    let reply = server.get("/attach");
    assert_eq!(reply.status, 500);
    let record = server.record(&reply.request_id());
    assert_eq!(record["error"]["location"], "attach.ts:2", "{record}");
    let message = record["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ATTACH and DETACH are not allowed"),
        "{message}"
    );
    let (_, why, _) = project.run(&["why", &reply.request_id()]);
    assert!(
        why.contains("ATTACH and DETACH are not allowed") && why.contains("attach.ts:2"),
        "{why}"
    );
}
