use crate::support::{assert_filtered_snapshot, Project};

#[test]
fn trace_shows_the_tree_the_failing_span_the_changes_and_the_error() {
    let project = Project::with_files(&[
        ("migrations/001.sql", "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE);"),
        (
            "functions/signup.ts",
            "export default async function handler(req, ctx) {\n  console.log('signing up', req.body.email)\n  await ctx.db.insert('users', { id: 'u_1', email: req.body.email })\n  await ctx.db.insert('users', { id: 'u_2', email: req.body.email })\n}\n",
        ),
    ]);
    let server = project.start();
    let reply = server.post_json("/signup", r#"{"email":"a@b.c"}"#);
    assert_eq!(reply.status, 500);
    let id = reply.request_id();
    server.record(&id);

    let (code, stdout, stderr) = project.run(&["trace", &id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert_filtered_snapshot!("trace_failed_signup", stdout);

    let (code, verbose, _) = project.run(&["trace", &id[..8], "--verbose"]);
    assert_eq!(code, 0);
    assert!(
        verbose
            .contains("sql: INSERT INTO \"users\" (\"id\", \"email\") VALUES ($1, $2) RETURNING *"),
        "{verbose}"
    );
    assert!(verbose.contains("params: [ 'u_2', 'a@b.c' ]"), "{verbose}");

    let (code, json, _) = project.run(&["trace", &id, "--format", "json"]);
    assert_eq!(code, 0);
    let record: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(record["id"], id.as_str());
    let (_, alias, _) = project.run(&["trace", &id, "--json"]);
    assert_eq!(alias, json);
}

#[test]
fn unknown_ambiguous_and_malformed_ids_are_clear_errors() {
    let project = Project::with_files(&[("functions/ok.ts", "export default () => 1")]);
    let server = project.start();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(server.get("/ok").request_id());
    }
    for id in &ids {
        server.record(id);
    }

    let (code, _, stderr) = project.run(&["trace", "ffff0000"]);
    assert_eq!(code, 3, "not found: {stderr}");
    assert!(
        stderr.contains("no execution or job has an id starting with ffff0000"),
        "{stderr}"
    );

    let (code, _, stderr) = project.run(&["trace", "ab"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("at least 4 characters"), "{stderr}");

    let (code, _, stderr) = project.run(&["trace", "zzzz"]);
    assert_eq!(code, 2, "{stderr}");

    // Two records whose ids share the prefix abcd, written beside the real ones.
    let conn =
        rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("open store");
    for id in &ids[..2] {
        let copy = format!("abcd{}", &id[4..]);
        let hi = copy.parse::<flux::record::ExecId>().expect("id").hi();
        conn.execute(
            "INSERT INTO _flux_records (id, id_hi, kind, function, status, started_at_us, duration_us, body)
             SELECT ?2, ?3, kind, function, status, started_at_us, duration_us, replace(body, id, ?2)
             FROM _flux_records WHERE id = ?1",
            rusqlite::params![id, copy, hi],
        )
        .expect("copy record");
    }
    let (code, _, stderr) = project.run(&["trace", "abcd"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("abcd is ambiguous"), "{stderr}");
    assert_eq!(server.get("/_flux/api/records/abcd").status, 409);
    let (code, _, stderr) = project.run(&["--url", "http://127.0.0.1:9", "trace", &ids[0][..8]]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("no flux server at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(stderr.contains("flux dev"), "{stderr}");
}

#[test]
fn why_names_the_execution_that_wrote_the_conflicting_row_and_outputs_are_pinned() {
    let project = Project::with_files(&[
        ("migrations/001.sql", "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE);"),
        (
            "functions/signup.ts",
            "export default async function handler(req, ctx) {\n  return ctx.db.insert('users', { id: req.body.id, email: req.body.email })\n}\n",
        ),
    ]);
    let server = project.start();
    let first = server
        .post_json("/signup", r#"{"id":"u_1","email":"a@b.c"}"#)
        .request_id();
    let second = server.post_json("/signup", r#"{"id":"u_2","email":"a@b.c"}"#);
    assert_eq!(second.status, 500);
    let second = second.request_id();
    server.record(&second);

    let (code, why, stderr) = project.run(&["why", &second[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert!(why.starts_with("ROOT CAUSE Constraint violation: UNIQUE constraint failed: users.email\nLOCATION signup.ts:2\n"), "{why}");
    assert!(
        why.contains(&format!(
            "SUGGESTION → req:{} (signup) already wrote users.email = 'a@b.c'",
            &first[..8]
        )),
        "{why}"
    );
    assert_filtered_snapshot!("why_constraint", why);

    let (_, history, _) = project.run(&["state", "history", "users"]);
    assert_filtered_snapshot!("state_history", history);
    let (_, blame, _) = project.run(&["state", "blame", "users", "--id", "u_1"]);
    assert_filtered_snapshot!("state_blame", blame);
    let (_, tail, _) = project.run(&["tail", "--last", "1h", "--no-follow"]);
    assert_filtered_snapshot!("tail_history", tail);
}

#[test]
fn a_record_written_by_a_newer_flux_says_to_upgrade() {
    let project = Project::with_files(&[("functions/ping.ts", "export default () => 'pong'")]);
    let server = project.start();
    let id = server.get("/ping").request_id();
    server.record(&id);
    server.stop();
    let conn =
        rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("open store");
    let changed = conn
        .execute(
            "UPDATE _flux_records SET body = json_set(body, '$.format', 999) WHERE id = ?1",
            [&id],
        )
        .expect("update");
    assert_eq!(changed, 1);
    drop(conn);
    let (code, _, stderr) = project.run(&["trace", &id[..8]]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("written by a newer flux (record format 999"),
        "{stderr}"
    );
    assert!(stderr.contains("upgrade flux"), "{stderr}");
}

#[test]
fn trace_marks_enqueues_that_did_not_happen() {
    let project = Project::with_files(&[
        ("functions/noop.ts", "export default async () => {}"),
        (
            "functions/signup.ts",
            "export default async (req, ctx) => {
               await ctx.queue.enqueue('noop', { n: 1 }, { idempotencyKey: 'once' })
               await ctx.queue.enqueue('noop', { n: 2 }, { idempotencyKey: 'once' })
               try {
                 await ctx.db.transaction(async (tx) => {
                   await ctx.queue.enqueue('noop', { n: 3 })
                   throw new Error('changed my mind')
                 })
               } catch {}
               return 'ok'
             }",
        ),
    ]);
    let server = project.start();
    let reply = server.post_json("/signup", "{}");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (code, trace, stderr) = project.run(&["trace", &reply.request_id()]);
    assert_eq!(code, 0, "{stderr}");
    let enqueues: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("queue.enqueue"))
        .collect();
    assert_eq!(enqueues.len(), 3, "{trace}");
    assert!(!enqueues[0].contains("(already"), "{trace}");
    assert!(enqueues[1].contains(" (already enqueued)"), "{trace}");
    assert!(enqueues[2].contains(" (rolled back, never ran)"), "{trace}");
}
