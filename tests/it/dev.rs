use serde_json::{json, Value};

use crate::support::{wait_for, Beacon, Project, Server, DEADLINE};

#[test]
fn the_seed_request_creates_a_user_and_its_record_shows_the_insert() {
    let project = Project::example();
    let server = project.start();
    let reply = server.post_json(
        "/create_user",
        r#"{"email":"ada@example.com","name":"Ada"}"#,
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let user_id = reply.json()["id"].as_str().expect("id").to_string();
    assert!(user_id.starts_with("u_"), "{user_id}");
    let id = reply.request_id();
    assert_eq!(id.len(), 32);

    let record = server.record(&id);
    assert_eq!(record["kind"], "http");
    assert_eq!(record["function"], "create_user");
    assert_eq!(record["method"], "POST");
    assert_eq!(record["http_status"], 201);
    assert_eq!(record["input"]["body"]["email"], "ada@example.com");
    let spans: Vec<&str> = record["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        spans,
        [
            "create_user",
            "db.insert(users)",
            "queue.enqueue(send_welcome_email)"
        ]
    );
    assert_eq!(record["spans"][1]["location"], "create_user.ts:3");
    let mutation = &record["mutations"][0];
    assert_eq!(mutation["table"], "users");
    assert_eq!(mutation["op"], "insert");
    assert_eq!(mutation["pk"], user_id.as_str());
    assert_eq!(mutation["after"]["email"], "ada@example.com");
    assert_eq!(mutation["committed"], true);

    let (code, stdout, stderr) = project.run(&["trace", &id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("POST /create_user 201 "), "{stdout}");
    assert!(
        stdout.contains("db.insert(users)  create_user.ts:3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("email       ∅ → 'ada@example.com'"),
        "{stdout}"
    );

    // Records survive a restart, and read from the store while no server runs.
    server.stop();
    let (code, stdout, stderr) = project.run(&["trace", &id[..8]]);
    assert_eq!(code, 0, "trace with flux dev stopped: {stderr}");
    assert!(stdout.contains("db.insert(users)"), "{stdout}");
    let server = project.start();
    assert_eq!(server.record(&id[..8])["id"], id.as_str());
}

#[test]
fn migrations_run_once_in_order_and_a_failing_one_stops_start_up() {
    let project = Project::with_files(&[
        ("functions/count.ts", "export default async (req, ctx) => (await ctx.db.query('SELECT count(*) AS n FROM items'))[0]"),
        ("migrations/001_items.sql", "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT);"),
        ("migrations/002_seed.sql", "INSERT INTO items (label) VALUES ('first');"),
    ]);
    let server = project.start();
    assert_eq!(server.get("/count").json()["n"], 1);
    server.stop();
    // A second start applies nothing again: the seed row is still alone.
    let server = project.start();
    assert_eq!(server.get("/count").json()["n"], 1);
    server.stop();

    project.write(
        "migrations/003_broken.sql",
        "ALTER TABLE nowhere ADD COLUMN x TEXT;",
    );
    let output = Server::try_start(&project, &[])
        .err()
        .expect("start-up must fail");
    assert!(output.contains("migrations/003_broken.sql"), "{output}");
    assert!(output.contains("no such table: nowhere"), "{output}");
}

#[test]
fn nested_folders_give_nested_paths_and_index_serves_its_folder() {
    let project = Project::with_files(&[
        (
            "functions/billing/index.ts",
            "export default () => ({ route: 'billing' })",
        ),
        (
            "functions/billing/charge.ts",
            "export default (req) => ({ route: 'charge', method: req.method })",
        ),
        ("functions/_helpers/util.ts", "export const x = 1"),
    ]);
    let server = project.start();
    assert_eq!(server.get("/billing").json()["route"], "billing");
    assert_eq!(server.get("/billing/").json()["route"], "billing");
    assert_eq!(
        server.post_json("/billing/charge", "{}").json()["method"],
        "POST"
    );
    assert_eq!(server.get("/_helpers/util").status, 404);
}

#[test]
fn handlers_get_the_request_and_the_web_globals() {
    let project = Project::with_files(&[
        (
            "lib/greet.ts",
            "export function greet(name: string): string {\n  return `hi ${name}`\n}\n",
        ),
        (
            "functions/echo.ts",
            r#"import { greet } from '../lib/greet.ts'
export default async function handler(req: any, ctx: any) {
  const url = new URL('/a/b?x=1&y=two', 'http://example.com')
  const params = new URLSearchParams(url.search)
  const bytes = new TextEncoder().encode('héllo')
  const clone = structuredClone({ nested: { list: [1, 2] } })
  const headers = new Headers({ 'X-Thing': 'v' })
  const waited = await new Promise((resolve) => setTimeout(() => resolve('timer'), 10))
  const cancelled = setTimeout(() => { throw new Error('must not fire') }, 5)
  clearTimeout(cancelled)
  console.log('echo', { query: req.query })
  return {
    greeting: greet(req.body.name),
    method: req.method, path: req.path, query: req.query, header: req.headers['x-custom'],
    href: url.href, y: params.get('y'), bytes: bytes.length,
    decoded: new TextDecoder().decode(bytes), clone, thing: headers.get('x-thing'),
    uuid: crypto.randomUUID(), waited,
    noProcess: typeof process === 'undefined', noRequire: typeof require === 'undefined',
  }
}
"#,
        ),
    ]);
    let server = project.start();
    let reply = server.send(
        server
            .request(reqwest::Method::POST, "/echo?q=1")
            .header("content-type", "application/json")
            .header("x-custom", "yes")
            .body(r#"{"name":"Ada"}"#),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["greeting"], "hi Ada");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/echo");
    assert_eq!(body["query"], json!({ "q": "1" }));
    assert_eq!(body["header"], "yes");
    assert_eq!(body["href"], "http://example.com/a/b?x=1&y=two");
    assert_eq!(body["y"], "two");
    assert_eq!(body["bytes"], 6);
    assert_eq!(body["decoded"], "héllo");
    assert_eq!(body["clone"], json!({ "nested": { "list": [1, 2] } }));
    assert_eq!(body["thing"], "v");
    assert_eq!(body["uuid"].as_str().map(str::len), Some(36));
    assert_eq!(body["waited"], "timer");
    assert_eq!(body["noProcess"], true);
    assert_eq!(body["noRequire"], true);
    let record = server.record(&reply.request_id());
    assert_eq!(
        record["console"][0]["message"],
        "echo { query: { q: '1' } }"
    );
    assert!(server
        .output()
        .contains("[echo] echo { query: { q: '1' } }"));
}

#[test]
fn fetch_is_recorded_with_method_url_and_status() {
    let project = Project::with_files(&[
        ("functions/upstream.ts", "export default () => new Response('nope', { status: 503 })"),
        (
            "functions/caller.ts",
            "export default async (req, ctx) => {\n  const res = await fetch(req.query.target)\n  return { status: res.status, text: await res.text() }\n}\n",
        ),
    ]);
    let server = project.start();
    let target = format!("{}/upstream", server.url);
    let reply = server.get(&format!("/caller?target={target}"));
    assert_eq!(reply.json(), json!({ "status": 503, "text": "nope" }));
    let record = server.record(&reply.request_id());
    let fetch = &record["spans"][1];
    assert_eq!(fetch["name"], "fetch");
    assert_eq!(fetch["attrs"]["method"], "GET");
    assert_eq!(fetch["attrs"]["url"], target.as_str());
    assert_eq!(fetch["attrs"]["status"], 503);
    assert_eq!(fetch["status"], "error");
    assert_eq!(fetch["location"], "caller.ts:2");
}

const DB_PROJECT: &[(&str, &str)] = &[
    ("migrations/001.sql", "CREATE TABLE notes (id TEXT PRIMARY KEY DEFAULT ('n_' || lower(hex(randomblob(4)))), body TEXT NOT NULL, n INTEGER);"),
    (
        "functions/db.ts",
        r#"export default async function handler(req, ctx) {
  const mode = req.query.mode
  if (mode === 'insert') return ctx.db.insert('notes', { body: 'x', n: 1 })
  if (mode === 'swap') return ctx.db.query('SELECT $2 AS second, $1 AS first', ['a', 'b'])
  if (mode === 'raw') {
    await ctx.db.query("INSERT INTO notes (id, body) VALUES ('raw', 'r')")
    await ctx.db.query("UPDATE notes SET body = 'r2' WHERE id = $1", ['raw'])
    await ctx.db.query("DELETE FROM notes WHERE id = 'raw'")
    return 'ok'
  }
  if (mode === 'commit' || mode === 'rollback') {
    try {
      await ctx.db.transaction(async (tx) => {
        await tx.insert('notes', { id: mode, body: 'in tx' })
        if (mode === 'rollback') throw new Error('changed my mind')
      })
    } catch (e) { return { caught: e.message } }
    return 'committed'
  }
  if (mode === 'slow-tx') {
    await ctx.db.transaction(async (tx) => {
      await tx.insert('notes', { id: 'slow', body: 'pending' })
      // Held open until the test releases the gate.
      await fetch(req.query.gate)
    })
    return 'done'
  }
  if (mode === 'count') return (await ctx.db.query('SELECT count(*) AS n FROM notes'))[0]
  if (mode === 'bad-sql') return ctx.db.query('SELEC nonsense')
  if (mode === 'email') return ctx.email.send({ to: 'a@b.c', template: 'hello', data: { name: '<Ada>' } })
  if (mode === 'no-template') return ctx.email.send({ to: 'a@b.c', template: 'nope' })
  if (mode === 'slow-tx-undo') {
    try {
      await ctx.db.transaction(async (tx) => {
        await tx.insert('notes', { id: 'undone', body: 'pending' })
        await fetch(req.query.gate)
        throw new Error('undo')
      })
    } catch (e) { return 'rolled back' }
  }
  if (mode === 'insert-read') {
    console.log('writing', req.query.id)
    await ctx.db.insert('notes', { id: req.query.id, body: 'mine' })
    return (await ctx.db.query('SELECT body FROM notes WHERE id = $1', [req.query.id]))[0]
  }
}
"#,
    ),
    ("emails/hello.html", "<title>Hello {{name}}</title><p>Hi {{ name }}</p>"),
];

#[test]
fn the_database_api_returns_rows_and_captures_every_mutation() {
    let project = Project::with_files(DB_PROJECT);
    let server = project.start();

    let inserted = server.get("/db?mode=insert").json();
    assert!(
        inserted["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("n_")),
        "{inserted}"
    );
    assert_eq!(inserted["body"], "x");

    assert_eq!(
        server.get("/db?mode=swap").json(),
        json!([{ "second": "b", "first": "a" }])
    );

    let reply = server.get("/db?mode=raw");
    let record = server.record(&reply.request_id());
    let ops: Vec<(&str, &str, bool)> = record["mutations"]
        .as_array()
        .expect("mutations")
        .iter()
        .map(|m| {
            (
                m["op"].as_str().unwrap_or(""),
                m["pk"].as_str().unwrap_or(""),
                m["committed"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("insert", "raw", true),
            ("update", "raw", true),
            ("delete", "raw", true)
        ]
    );
    assert_eq!(record["mutations"][1]["before"]["body"], "r");
    assert_eq!(record["mutations"][1]["after"]["body"], "r2");
    assert_eq!(record["spans"][2]["attrs"]["params"], json!(["raw"]));
    assert_eq!(record["spans"][2]["attrs"]["changes"], 1);

    assert_eq!(server.get("/db?mode=commit").json(), "committed");
    let reply = server.get("/db?mode=rollback");
    assert_eq!(reply.json(), json!({ "caught": "changed my mind" }));
    let record = server.record(&reply.request_id());
    assert_eq!(record["mutations"][0]["committed"], false);
    let tx = &record["spans"][1];
    assert_eq!(tx["name"], "db.transaction");
    assert_eq!(tx["attrs"]["outcome"], "rolled back");
    assert_eq!(
        record["spans"][2]["parent"], 1,
        "statements inside the transaction are its children"
    );
    assert_eq!(
        server.get("/db?mode=count").json()["n"],
        2,
        "insert and commit rows only"
    );

    let reply = server.get("/db?mode=bad-sql");
    assert_eq!(reply.status, 500);
    let record = server.record(&reply.request_id());
    assert!(
        record["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("syntax error"),
        "{record}"
    );
    assert_eq!(record["error"]["location"], "db.ts:29");
}

#[test]
fn transactions_are_isolated_from_concurrent_executions() {
    let project = Project::with_files(DB_PROJECT);
    let server = project.start();
    let gate = Beacon::holding();
    let url = format!("{}/db?mode=slow-tx&gate={}/inside", server.url, gate.url);
    let slow = std::thread::spawn(move || reqwest::blocking::get(url).expect("slow").status());
    // While the transaction is open, other executions see the table as it was.
    assert_eq!(gate.next("the transaction to be open"), "/inside");
    assert_eq!(server.get("/db?mode=count").json()["n"], 0);
    gate.release();
    assert_eq!(slow.join().expect("join"), 200);
    assert_eq!(server.get("/db?mode=count").json()["n"], 1);
}

#[test]
fn a_write_waits_for_an_open_transaction_and_outlives_its_rollback() {
    let project = Project::with_files(DB_PROJECT);
    let server = project.start();
    let gate = Beacon::holding();
    let url = format!(
        "{}/db?mode=slow-tx-undo&gate={}/doomed",
        server.url, gate.url
    );
    let doomed = std::thread::spawn(move || {
        reqwest::blocking::get(url)
            .expect("doomed")
            .text()
            .expect("body")
    });
    assert_eq!(gate.next("the doomed transaction to be open"), "/doomed");
    // Runs after the transaction ends, so its rollback cannot take this row with it; it reads
    // its own write, and the row is committed by the time the response arrives. The write is
    // made while the transaction is held open.
    let url = format!("{}/db?mode=insert-read&id=beside", server.url);
    let beside = std::thread::spawn(move || {
        reqwest::blocking::get(url)
            .expect("beside")
            .text()
            .expect("body")
    });
    server.wait_for_output("[db] writing beside");
    gate.release();
    let reply = beside.join().expect("join");
    assert_eq!(
        serde_json::from_str::<Value>(&reply).expect("JSON"),
        json!({ "body": "mine" })
    );
    assert_eq!(
        rusqlite_count(&project, "SELECT group_concat(id) FROM notes"),
        "beside"
    );
    assert_eq!(doomed.join().expect("join"), "\"rolled back\"");
    assert_eq!(
        rusqlite_count(&project, "SELECT group_concat(id) FROM notes"),
        "beside"
    );
}

#[test]
fn emails_are_rendered_and_captured_and_a_missing_template_fails_at_the_call() {
    let project = Project::with_files(DB_PROJECT);
    let server = project.start();
    let reply = server.get("/db?mode=email");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let record = server.record(&reply.request_id());
    assert_eq!(record["spans"][1]["name"], "email.send");
    assert_eq!(record["spans"][1]["attrs"]["subject"], "Hello &lt;Ada&gt;");
    let store = rusqlite_count(&project, "SELECT html FROM _flux_emails");
    assert!(store.contains("Hi &lt;Ada&gt;"), "{store}");

    let reply = server.get("/db?mode=no-template");
    assert_eq!(reply.status, 500);
    let record = server.record(&reply.request_id());
    assert_eq!(
        record["error"]["message"],
        "email template 'nope' not found: create emails/nope.html"
    );
    assert_eq!(record["error"]["location"], "db.ts:31");
}

/// One text value read straight from the project's store.
fn rusqlite_count(project: &Project, sql: &str) -> String {
    let conn =
        rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("open store");
    conn.query_row(sql, [], |row| row.get::<_, String>(0))
        .expect("query")
}

#[test]
fn a_second_flux_dev_on_the_same_project_is_refused() {
    let project = Project::example();
    let server = project.start();
    let output = Server::try_start(&project, &[])
        .err()
        .expect("second start must fail");
    assert!(output.contains("is already running"), "{output}");
    assert!(
        output.contains(&format!("pid {}", server.pid())),
        "{output}"
    );
    assert_eq!(
        server.get("/_flux/api/health").status,
        200,
        "the first keeps running"
    );
}

#[test]
fn ctrl_c_lets_in_flight_requests_finish_or_records_them_as_interrupted() {
    let project = Project::with_files(&[
        ("flux.config.ts", "export default { shutdown: { graceSeconds: 5 } }"),
        ("functions/quick.ts", "export default async (req) => { await fetch(req.query.gate); return 'finished' }"),
        ("functions/stuck.ts", "export default async () => { console.log('stuck started'); await new Promise(r => setTimeout(r, 60000)) }"),
    ]);
    let server = project.start();
    let url = server.url.clone();
    let gate = Beacon::holding();
    let quick = std::thread::spawn({
        let url = format!("{url}/quick?gate={}/quick", gate.url);
        move || reqwest::blocking::get(url).and_then(|r| r.text()).ok()
    });
    let stuck = std::thread::spawn(move || {
        reqwest::blocking::get(format!("{url}/stuck"))
            .ok()
            .map(|r| {
                let id = r
                    .headers()
                    .get("x-flux-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                (r.status().as_u16(), id)
            })
    });
    // Both are running when Ctrl-C arrives; quick goes on only once flux is stopping, and
    // finishes within the grace.
    assert_eq!(gate.next("quick to start"), "/quick");
    server.wait_for_output("stuck started");
    server.interrupt();
    server.wait_for_output("stopping: in-flight executions get 5s to finish");
    gate.release();
    let output = server.wait_exit();
    assert!(output.contains("flux dev stopped"), "{output}");
    assert_eq!(quick.join().expect("join").as_deref(), Some("\"finished\""));
    let (status, id) = stuck
        .join()
        .expect("join")
        .expect("the stuck request got an answer");
    assert_eq!(status, 503);
    let server = project.start();
    let record = server.record(&id.expect("id"));
    assert_eq!(record["status"], "interrupted");
}

#[test]
fn the_records_api_filters_and_finds_by_prefix() {
    let project = Project::with_files(&[
        ("functions/ok.ts", "export default () => 'fine'"),
        (
            "functions/fail.ts",
            "export default () => { throw new Error('boom') }",
        ),
    ]);
    let server = project.start();
    let ok_id = server.get("/ok").request_id();
    let fail_id = server.get("/fail").request_id();
    server.record(&fail_id);
    server.record(&ok_id);

    let errors = server.get("/_flux/api/records?status=error").json();
    let ids: Vec<&str> = errors["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, [fail_id.as_str()]);
    assert_eq!(errors["records"][0]["error"], "Error: boom");
    let by_fn = server
        .get("/_flux/api/records?fn=ok&type=http&since=1h&limit=5")
        .json();
    assert_eq!(by_fn["records"].as_array().map(Vec::len), Some(1));
    let all = server.get("/_flux/api/records").json();
    assert_eq!(all["records"][0]["id"], fail_id.as_str(), "newest first");
    assert_eq!(
        server
            .get("/_flux/api/records?until=2000-01-01T00:00:00Z")
            .json()["records"],
        json!([])
    );
    assert_eq!(server.get("/_flux/api/records?status=weird").status, 400);
    assert_eq!(server.get("/_flux/api/records?colour=red").status, 400);

    assert_eq!(
        server
            .get(&format!("/_flux/api/records/{}", &ok_id[..6]))
            .json()["id"],
        ok_id.as_str()
    );
    assert_eq!(server.get("/_flux/api/records/ffffffffffff").status, 404);
    assert_eq!(server.get("/_flux/api/records/xyz!").status, 400);
    assert_eq!(server.get("/_flux/api/nothing").status, 404);
}

#[test]
fn listening_beyond_loopback_needs_a_token_and_the_api_enforces_it() {
    let project = Project::with_files(&[("functions/hello.ts", "export default () => 'hi'")]);
    // Without --token, one is made up and printed.
    let server = Server::start(&project, &["--host", "0.0.0.0"]);
    let output = server.wait_for_output("requires this token");
    let generated = output
        .lines()
        .skip_while(|l| !l.contains("requires this token"))
        .nth(1)
        .expect("the token line")
        .trim()
        .to_string();
    assert_eq!(generated.len(), 32, "{output}");
    assert_eq!(server.get("/_flux/api/records").status, 401);
    let allowed = server.send(
        server
            .request(reqwest::Method::GET, "/_flux/api/records")
            .bearer_auth(&generated),
    );
    assert_eq!(allowed.status, 200);
    // The CLI in the project finds it in .flux/; elsewhere it needs FLUX_TOKEN.
    let id = server.get("/hello").request_id();
    wait_for("the record, through the CLI", DEADLINE, || {
        (project.run(&["trace", &id[..8]]).0 == 0).then_some(())
    });
    let (code, _, stderr) = project.run(&["--url", &server.url, "trace", &id[..8]]);
    assert_eq!(code, 5, "{stderr}");
    let mut with_token = project.flux(&["--url", &server.url, "trace", &id[..8]]);
    assert!(with_token
        .env("FLUX_TOKEN", &generated)
        .status()
        .expect("run")
        .success());
    server.stop();

    let server = Server::start(&project, &["--host", "0.0.0.0", "--token", "s3cret"]);
    assert_eq!(server.get("/hello").status, 200, "functions stay public");
    let denied = server.get("/_flux/api/records");
    assert_eq!(denied.status, 401);
    assert!(!denied.body.contains("records\""), "{}", denied.body);
    let allowed = server.send(
        server
            .request(reqwest::Method::GET, "/_flux/api/records")
            .bearer_auth("s3cret"),
    );
    assert_eq!(allowed.status, 200);
    let wrong: Value = server
        .send(
            server
                .request(reqwest::Method::GET, "/_flux/api/records")
                .bearer_auth("s3cre7"),
        )
        .json();
    assert!(wrong["error"]
        .as_str()
        .unwrap_or("")
        .contains("unauthorised"));
}

#[test]
fn state_history_and_blame_show_who_changed_a_row() {
    let project = Project::with_files(DB_PROJECT);
    project.write(
        "functions/rename.ts",
        "export default async (req, ctx) => ctx.db.query('UPDATE notes SET body = $1 WHERE id = $2', [req.query.body, 'raw'])",
    );
    project.write(
        "functions/make.ts",
        "export default async (req, ctx) => ctx.db.insert('notes', { id: 'raw', body: 'first', n: 1 })",
    );
    let server = project.start();
    let made = server.get("/make").request_id();
    let renamed = server.get("/rename?body=second").request_id();
    server.get("/db?mode=rollback");
    server.record(&made);
    let last = server.get("/db?mode=count").request_id();
    server.record(&last);

    let (code, history, stderr) = project.run(&["state", "history", "notes", "--id", "raw"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = history.lines().collect();
    assert!(
        lines[0].contains(&format!("req:{} rename update notes raw", &renamed[..8])),
        "{history}"
    );
    assert_eq!(lines[1].trim(), "body  'first' → 'second'");
    assert!(
        lines[2].contains(&format!("req:{} make insert notes raw", &made[..8])),
        "{history}"
    );

    let (_, all, _) = project.run(&["state", "history", "notes"]);
    assert!(all.contains("insert notes rollback (rolled back)"), "{all}");
    let (_, by_request, _) = project.run(&[
        "state",
        "history",
        "notes",
        "--filter",
        &format!("req={}", &made[..8]),
    ]);
    assert_eq!(
        by_request.lines().filter(|l| l.contains(" req:")).count(),
        1,
        "{by_request}"
    );

    let (code, blame, stderr) = project.run(&["state", "blame", "notes", "--id", "raw"]);
    assert_eq!(code, 0, "{stderr}");
    let line = |column: &str| {
        blame
            .lines()
            .find(|l| l.starts_with(column))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        line("body").contains(&format!("'second'  req:{} rename", &renamed[..8])),
        "{blame}"
    );
    assert!(
        line("n ").contains(&format!("req:{} make", &made[..8])),
        "{blame}"
    );
    let (code, _, _) = project.run(&["state", "blame", "notes", "--id", "nope"]);
    assert_eq!(code, 3);
}
