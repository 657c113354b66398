//! Many executions on one engine: they interleave at their awaits, each recorded apart from
//! the others; a transaction that waits holds no engine; a spinning execution costs the
//! others on its engine a timeout once, not every time.

use std::thread::JoinHandle;

use serde_json::json;

use crate::support::{console_messages, spans_named, wait_for, Beacon, Project, Reply, DEADLINE};

const NOTES: (&str, &str) = (
    "migrations/001_notes.sql",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, who TEXT NOT NULL);",
);

#[test]
fn records_of_interleaved_executions_do_not_mix() {
    const N: usize = 40;
    let beacon = Beacon::holding();
    let function = format!(
        r#"export default async (req: any, ctx: any) => {{
  const i = Number(req.query.i)
  console.log('start', i)
  await new Promise((resolve) => setTimeout(resolve, i % 5))
  const reply = await fetch('{url}/mixed/' + i)
  await ctx.db.insert('notes', {{ who: 'n' + i }})
  const rows = await ctx.db.query('SELECT who FROM notes WHERE who = $1', ['n' + i])
  console.log('end', i, reply.status, rows.length)
  if (i % 2) throw new Error('odd ' + i)
  return {{ i }}
}}"#,
        url = beacon.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 60 } }",
        ),
        NOTES,
        ("functions/mixed.ts", &function),
    ]);
    let server = project.start();
    let requests: Vec<JoinHandle<Reply>> = (0..N)
        .map(|i| server.get_in_background(&format!("/mixed?i={i}")))
        .collect();
    // All of them are waiting on their fetch at once, on the one engine.
    for _ in 0..N {
        beacon.next("every execution to be waiting on its fetch");
    }
    beacon.release();
    for (i, request) in requests.into_iter().enumerate() {
        let reply = request.join().expect("join");
        let expected_status = if i % 2 == 1 { 500 } else { 200 };
        assert_eq!(reply.status, expected_status, "{i}: {}", reply.body);
        let record = server.record(&reply.request_id());
        assert_eq!(
            console_messages(&record),
            [format!("start {i}"), format!("end {i} 200 1")],
            "{i}: its own console lines, none of another's"
        );
        let fetches = spans_named(&record, "fetch");
        assert_eq!(fetches.len(), 1, "{i}: {record}");
        assert_eq!(
            fetches[0]["attrs"]["url"],
            format!("{}/mixed/{i}", beacon.url),
            "{i}"
        );
        for name in ["db.insert", "db.query"] {
            let spans = spans_named(&record, name);
            assert_eq!(spans.len(), 1, "{i}: one {name}: {record}");
            let params = &spans[0]["attrs"]["params"];
            assert!(
                params.to_string().contains(&format!("\"n{i}\"")),
                "{i}: {name} with its own parameters: {params}"
            );
        }
        let mutations = record["mutations"].as_array().cloned().unwrap_or_default();
        assert_eq!(mutations.len(), 1, "{i}: its one insert: {record}");
        assert_eq!(mutations[0]["after"]["who"], format!("n{i}"), "{i}");
        if i % 2 == 1 {
            assert_eq!(record["status"], "error");
            assert_eq!(record["error"]["message"], format!("odd {i}"));
            assert_eq!(record["error"]["location"], "mixed.ts:9");
        } else {
            assert_eq!(record["status"], "ok");
            assert_eq!(record["output"]["body"], json!({ "i": i }));
        }
    }
}

#[test]
fn a_transaction_waiting_on_a_fetch_holds_no_engine() {
    let beacon = Beacon::holding();
    let holder = format!(
        r#"export default async (req: any, ctx: any) => {{
  await ctx.db.transaction(async (tx: any) => {{
    await tx.insert('notes', {{ who: 'holder' }})
    await fetch('{url}/holding')
    await tx.insert('notes', {{ who: 'holder, after the fetch' }})
  }})
  return 'committed'
}}"#,
        url = beacon.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 60 } }",
        ),
        NOTES,
        ("functions/holder.ts", &holder),
        (
            "functions/writer.ts",
            r#"export default async (req: any, ctx: any) => {
  await ctx.db.insert('notes', { who: 'writer' })
  return (await ctx.db.query('SELECT who FROM notes ORDER BY id')).map((r: any) => r.who)
}"#,
        ),
        ("functions/hello.ts", "export default () => 'hello'"),
    ]);
    let server = project.start();
    let holding = server.get_in_background("/holder");
    assert_eq!(beacon.next("the transaction to be open"), "/holding");
    // Its write waits for the transaction (as it would for SQLite's lock)…
    let writer = server.get_in_background("/writer");
    // …and the one engine they share goes on serving others meanwhile.
    for _ in 0..3 {
        assert_eq!(server.get("/hello").status, 200);
    }
    assert!(!holding.is_finished() && !writer.is_finished());
    beacon.release();
    let held = holding.join().expect("join");
    assert_eq!(held.status, 200, "{}", held.body);
    let written = writer.join().expect("join");
    assert_eq!(written.status, 200, "{}", written.body);
    assert_eq!(
        written.json(),
        json!(["holder", "holder, after the fetch", "writer"]),
        "the held write ran after the transaction committed"
    );
    let record = server.record(&held.request_id());
    let committed: Vec<bool> = record["mutations"]
        .as_array()
        .map(|m| m.iter().map(|m| m["committed"] == true).collect())
        .unwrap_or_default();
    assert_eq!(committed, [true, true], "{record}");
    let record = server.record(&written.request_id());
    assert_eq!(record["mutations"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_write_held_past_its_deadline_never_lands() {
    let beacon = Beacon::holding();
    let holder = format!(
        r#"export default async (job: any, ctx: any) => {{
  await ctx.db.transaction(async (tx: any) => {{
    await tx.insert('notes', {{ who: 'holder' }})
    await fetch('{url}/holding')
  }})
}}"#,
        url = beacon.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { timeoutSeconds: 1 }, workers: { holder: { timeoutSeconds: 60 } } }",
        ),
        NOTES,
        ("functions/holder.ts", &holder),
        (
            "functions/late.ts",
            r#"export default async (req: any, ctx: any) => {
  await ctx.db.insert('notes', { who: 'late' })
  return 'inserted'
}"#,
        ),
        (
            "functions/who.ts",
            r#"export default async (req: any, ctx: any) =>
  (await ctx.db.query('SELECT who FROM notes ORDER BY id')).map((r: any) => r.who)"#,
        ),
    ]);
    let server = project.start();
    server.enqueue(&json!({ "name": "holder", "data": {} }));
    assert_eq!(beacon.next("the job's transaction to be open"), "/holding");
    let late = server.get("/late");
    assert_eq!(late.status, 504, "{}", late.body);
    // Its record commits once the job's transaction has ended (the store commits nothing of
    // its own while an execution's transaction is open).
    beacon.release();
    let record = server.record(&late.request_id());
    assert_eq!(record["status"], "timeout");
    let message = record["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("db.insert"), "{message}");
    assert_eq!(record["mutations"], json!([]), "{record}");
    let rows = wait_for("the job's commit", DEADLINE, || {
        let rows = server.get("/who").json();
        (rows != json!([])).then_some(rows)
    });
    assert_eq!(rows, json!(["holder"]), "the timed-out write never landed");
}
