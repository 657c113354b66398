//! `flux serve --database`: several processes, each with its own data folder and port, on one
//! PostgreSQL database. A deploy to any of them is served by all; a failing migration leaves
//! every one on the version before; rollback; records name their version; tokens made on one
//! work (and stop working) on all; `flux tail` on one shows every process's executions in
//! commit order and resumes by cursor; pruning; a deploy under load drops no request.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use flux::project::Retention;
use flux::store::postgres::{PgStore, PRUNE_LOCK};
use flux::store::Storage;
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::pg::{fresh_database, owned_database};
use crate::support::{wait_for, Project, Server, DEADLINE};

fn hello(answer: &str) -> String {
    format!("export default () => new Response('{answer}')\n")
}

fn project(answer: &str) -> Project {
    Project::with_files(&[
        ("functions/hello.ts", &hello(answer)),
        (
            "functions/notes.ts",
            "export default async (req: FluxRequest, ctx: FluxContext) => {\n  await ctx.db.insert('notes', { id: crypto.randomUUID() })\n  return (await ctx.db.query('SELECT count(*)::int AS n FROM notes'))[0]\n}\n",
        ),
        (
            "functions/list.ts",
            "export default async (req: FluxRequest, ctx: FluxContext) => ctx.db.query('SELECT id FROM notes ORDER BY id')\n",
        ),
        (
            "migrations/001_notes.sql",
            "CREATE TABLE notes (id TEXT PRIMARY KEY);\n",
        ),
    ])
}

/// Two `flux serve --database <url>` on one database, with their own data folders.
fn pair(project: &Project, url: &str, extra: &[&str]) -> (Server, Server) {
    let start = |data: &str| {
        let mut args = vec!["--database", url];
        args.extend_from_slice(extra);
        Server::serve_in(project, data, &args)
    };
    (start(".serve-a"), start(".serve-b"))
}

/// `flux deploy --to <server> <extra> --json` in the project: (exit code, JSON, stderr).
fn deploy(project: &Project, server: &Server, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["deploy", "--to", &server.url, "--json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = project.run(&args);
    (
        code,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

/// Deploys; returns the version's short id.
fn deployed(project: &Project, server: &Server) -> String {
    let (code, body, stderr) = deploy(project, server, &[]);
    assert_eq!(code, 0, "{stderr}");
    body["version"]["id"].as_str().expect("version id")[..12].to_string()
}

fn answer(server: &Server) -> (u16, String) {
    let reply = server.get("/hello");
    (reply.status, reply.body)
}

/// Waits until `server` answers `/hello` with `expected`.
fn serves(server: &Server, expected: &str) {
    wait_for(
        &format!("{} to serve {expected}", server.url),
        DEADLINE,
        || (answer(server) == (200, expected.to_string())).then_some(()),
    );
}

fn code_version(server: &Server, id: &str) -> String {
    server.record(id)["code_version"]
        .as_str()
        .expect("code_version")
        .to_string()
}

#[test]
fn a_deploy_to_one_process_is_served_by_the_other_a_failing_migration_by_none() {
    let url = owned_database();
    let project = project("v1");
    let (a, b) = pair(&project, &url, &[]);
    assert_eq!(answer(&a).0, 503);
    assert_eq!(answer(&b).0, 503);

    let first = deployed(&project, &a);
    serves(&a, "v1");
    serves(&b, "v1");
    // Records name the version on both; the migration ran once, and both use its table.
    let reply = b.get("/hello");
    assert_eq!(code_version(&b, &reply.request_id()), first);
    assert_eq!(code_version(&a, &reply.request_id()), first);
    assert_eq!(a.post("/notes").json()["n"], 1);
    assert_eq!(b.post("/notes").json()["n"], 2);
    // A query's span names the keys of the rows it returned, as on SQLite (`flux why`).
    let listed = b.get("/list");
    let ids: Vec<Value> = listed
        .json()
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["id"].clone())
        .collect();
    let record = b.record(&listed.request_id());
    let query = crate::support::spans_named(&record, "db")
        .into_iter()
        .find(|span| {
            span["attrs"]["sql"]
                .as_str()
                .is_some_and(|sql| sql.starts_with("SELECT id"))
        })
        .unwrap_or_else(|| panic!("no query span: {record}"));
    assert_eq!(query["attrs"]["keys"], Value::Array(ids), "{query}");

    // A broken migration deployed to B: refused with PostgreSQL's error at its line, and
    // neither process leaves v1.
    project.write("functions/hello.ts", &hello("v2"));
    project.write(
        "migrations/002_broken.sql",
        "-- a second table\nCREATE TABLEE oops (id TEXT);\n",
    );
    let (code, _, stderr) = deploy(&project, &b, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("migrations/002_broken.sql:2"), "{stderr}");
    assert!(stderr.contains("syntax error"), "{stderr}");
    assert!(
        stderr.contains("keeps running the version before"),
        "{stderr}"
    );
    let (_, listed, _) = project.run(&["deploy", "--to", &a.url, "--list", "--json"]);
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(answer(&a), (200, "v1".into()));
    assert_eq!(answer(&b), (200, "v1".into()));

    // Fixed and deployed to B: A follows.
    project.write(
        "migrations/002_broken.sql",
        "CREATE TABLE oops (id TEXT);\n",
    );
    let second = deployed(&project, &b);
    serves(&a, "v2");
    serves(&b, "v2");
    let reply = a.get("/hello");
    assert_eq!(code_version(&a, &reply.request_id()), second);

    // --list from either shows the same versions; --rollback through A takes B back too.
    for server in [&a, &b] {
        let (code, stdout, stderr) = project.run(&["deploy", "--to", &server.url, "--list"]);
        assert_eq!(code, 0, "{stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(lines[1].starts_with(&format!("*  {second}")), "{stdout}");
        assert!(lines[2].starts_with(&format!("   {first}")), "{stdout}");
    }
    let (code, stdout, stderr) = project.run(&["deploy", "--to", &a.url, "--rollback"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("Version {first} is active again")),
        "{stdout}"
    );
    serves(&b, "v1");
    let reply = b.get("/hello");
    assert_eq!(code_version(&b, &reply.request_id()), first);

    // A process started later runs the active version from the database at once.
    let c = Server::serve_in(&project, ".serve-c", &["--database", &url]);
    assert_eq!(answer(&c), (200, "v1".into()));
}

#[test]
fn two_deploys_racing_through_two_processes_end_on_one_version_everywhere() {
    let url = owned_database();
    let project = project("v0");
    let (a, b) = pair(&project, &url, &["--quiet"]);
    // Two projects deployed at the same moment, one through each process.
    let other = Project::with_files(&[("functions/hello.ts", &hello("other"))]);
    let racing = std::thread::scope(|scope| {
        let first = scope.spawn(|| deployed(&project, &a));
        let second = scope.spawn(|| deployed(&other, &b));
        [
            first.join().expect("deploy through A"),
            second.join().expect("deploy through B"),
        ]
    });
    let (_, listed, _) = project.run(&["deploy", "--to", &b.url, "--list", "--json"]);
    let listed: Value = serde_json::from_str(&listed).expect("json");
    let active = listed
        .as_array()
        .and_then(|versions| versions.iter().find(|v| v["active"] == true))
        .and_then(|v| v["id"].as_str())
        .expect("an active version")[..12]
        .to_string();
    assert!(
        racing.contains(&active),
        "{active} is neither of {racing:?}"
    );
    let expected = if active == racing[0] { "v0" } else { "other" };
    serves(&a, expected);
    serves(&b, expected);
    for server in [&a, &b] {
        let reply = server.get("/hello");
        assert_eq!(code_version(server, &reply.request_id()), active);
    }
}

#[test]
fn a_version_activated_through_a_flux_dev_on_the_database_is_migrated_by_the_servers() {
    let url = owned_database();
    // flux dev keeps a deployed version without running it or its migrations.
    let dev_project = Project::with_files(&[("functions/hello.ts", &hello("dev"))]);
    let dev = Server::start(&dev_project, &["--database", &url]);
    let a = Server::serve_in(&dev_project, ".serve-a", &["--database", &url]);
    let project = project("v1");
    deployed(&project, &dev);
    serves(&a, "v1");
    // The version's migration ran when A switched to it: its table is there, captured.
    assert_eq!(a.post("/notes").json()["n"], 1);
}

#[test]
fn a_process_killed_during_a_deploys_migration_leaves_the_old_version_everywhere() {
    let url = owned_database();
    let project = project("v1");
    let (a, b) = pair(&project, &url, &["--quiet"]);
    deployed(&project, &a);
    serves(&b, "v1");
    project.write("functions/hello.ts", &hello("v2"));
    project.write(
        "migrations/002_slow.sql",
        "SELECT pg_sleep(2);\nCREATE TABLE slow (id TEXT);\n",
    );
    let deploying = {
        let project_dir = project.path().to_path_buf();
        let to = a.url.clone();
        std::thread::spawn(move || {
            std::process::Command::new(crate::support::flux_bin())
                .args(["deploy", "--to", &to])
                .current_dir(project_dir)
                .output()
                .expect("run flux deploy")
        })
    };
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let sleeping = |db: &mut postgres::Client| -> bool {
        db.query_one(
            "SELECT count(*) > 0 FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep(2)%'",
            &[],
        )
        .expect("pg_stat_activity")
        .get(0)
    };
    wait_for("A to run the slow migration", DEADLINE, || {
        sleeping(&mut db).then_some(())
    });
    // SAFETY: a signal to the flux serve this test started.
    unsafe { libc::kill(a.pid() as i32, libc::SIGKILL) };
    let output = deploying.join().expect("deploy thread");
    assert!(!output.status.success(), "{output:?}");
    // Its transaction ends with its connection: nothing of the migration stays.
    wait_for("A's session to end", DEADLINE, || {
        (!sleeping(&mut db)).then_some(())
    });
    let applied: i64 = db
        .query_one(
            "SELECT count(*) FROM _flux_migrations WHERE name LIKE '002%'",
            &[],
        )
        .expect("migrations")
        .get(0);
    assert_eq!(applied, 0);
    assert_eq!(answer(&b), (200, "v1".into()));
    let (_, listed, _) = project.run(&["deploy", "--to", &b.url, "--list", "--json"]);
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    // Deployed again through B: applied once, and served.
    deployed(&project, &b);
    serves(&b, "v2");
    let applied: i64 = db
        .query_one(
            "SELECT count(*) FROM _flux_migrations WHERE name LIKE '002%'",
            &[],
        )
        .expect("migrations")
        .get(0);
    assert_eq!(applied, 1);
}

fn worker(version: &str) -> String {
    format!("// {version}\nexport default async function handler(job: FluxJob, ctx: FluxContext) {{}}\n")
}

#[test]
fn a_worker_removed_by_a_deploy_to_another_process_is_warned_about_and_its_jobs_wait() {
    let url = owned_database();
    let project = Project::with_files(&[
        ("functions/hello.ts", &hello("v1")),
        ("functions/gone.ts", &worker("v1")),
    ]);
    let (a, b) = pair(&project, &url, &[]);
    deployed(&project, &a);
    serves(&b, "v1");
    assert_eq!(a.post("/_flux/api/queue/pause").status, 200);
    assert_eq!(b.post("/_flux/api/queue/pause").status, 200);
    let job = a
        .enqueue(&serde_json::json!({ "name": "gone", "data": null }))
        .job_id();
    std::fs::remove_file(project.path().join("functions/gone.ts")).expect("remove");
    project.write("functions/hello.ts", &hello("v2"));
    deployed(&project, &b);
    // A switched because B's deploy made it active, and says what the switch left behind.
    a.wait_for_output("1 job(s) wait for gone, which has no function now");
    b.wait_for_output("1 job(s) wait for gone, which has no function now");
    let body = a.get(&format!("/_flux/api/jobs/{job}")).json();
    assert_eq!(body["job"]["state"], "pending", "{body}");
}

#[test]
fn jobs_enqueued_through_one_server_are_run_by_the_servers_queue() {
    let url = owned_database();
    let project = project("v1");
    project.write(
        "functions/note.ts",
        "export default async (job: FluxJob, ctx: FluxContext) => {\n  await ctx.db.insert('notes', { id: String(job.data.n) })\n}\n",
    );
    let (a, b) = pair(&project, &url, &[]);
    deployed(&project, &a);
    serves(&b, "v1");
    let jobs: Vec<Value> = (0..20)
        .map(|n| serde_json::json!({ "name": "note", "data": { "n": n } }))
        .collect();
    a.enqueue(&Value::Array(jobs));
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let mut count = |sql: &str| -> i64 { db.query_one(sql, &[]).expect(sql).get(0) };
    wait_for("20 jobs done", DEADLINE, || {
        (count("SELECT count(*) FROM _flux_jobs WHERE state = 'done'") == 20).then_some(())
    });
    assert_eq!(count("SELECT count(*) FROM notes"), 20, "each run once");
}

#[test]
fn a_token_made_through_one_process_works_on_the_other_until_revoked() {
    let url = owned_database();
    let project = project("v1");
    let (a, b) = pair(&project, &url, &["--host", "0.0.0.0", "--token", "s3cret"]);
    // Beyond loopback the API wants a token on both; function routes are public.
    assert_eq!(b.get("/_flux/api/deploy/versions").status, 401);
    assert_eq!(a.get("/hello").status, 503);
    let made = a.send(
        a.request(reqwest::Method::POST, "/_flux/api/tokens")
            .header("authorization", "Bearer s3cret")
            .json(&serde_json::json!({ "scope": "deploy", "name": "ci" })),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let made = made.json();
    let token = made["token"].as_str().expect("token").to_string();
    let id = made["id"].as_str().expect("token id").to_string();
    // Deployed through B with the token made on A.
    let (code, stdout, stderr) = project.run_with_env(
        &["deploy", "--to", &b.url, "--json"],
        &[("FLUX_TOKEN", &token)],
    );
    assert_eq!(code, 0, "{stderr}");
    let body: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(body["version"]["deployed_by"], "ci");
    serves(&a, "v1");
    let versions = |server: &Server| {
        server
            .send(
                server
                    .request(reqwest::Method::GET, "/_flux/api/deploy/versions")
                    .header("authorization", format!("Bearer {token}")),
            )
            .status
    };
    assert_eq!(versions(&b), 200);
    // Revoked through A: B, which cached it, refuses it within the cache's TTL (5 s).
    let revoked = a.send(
        a.request(
            reqwest::Method::POST,
            &format!("/_flux/api/tokens/{id}/revoke"),
        )
        .header("authorization", "Bearer s3cret"),
    );
    assert!(matches!(revoked.status, 200 | 204), "{}", revoked.body);
    assert_eq!(versions(&a), 401);
    wait_for("B to refuse the revoked token", DEADLINE, || {
        (versions(&b) == 401).then_some(())
    });
}

/// A `/_flux/api/tail` websocket, its messages arriving on a channel.
fn tail(server: &Server, query: &str) -> mpsc::Receiver<Value> {
    let url = format!(
        "{}/_flux/api/tail{query}",
        server.url.replacen("http://", "ws://", 1)
    );
    let (mut socket, _) = tungstenite::connect(url).expect("tail websocket");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(message) = socket.read() {
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).expect("a JSON message");
                if tx.send(value).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The next event's (seq, execution id).
fn next_event(events: &mpsc::Receiver<Value>) -> (i64, String) {
    let message = events.recv_timeout(DEADLINE).expect("a tail message");
    let seq = message["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an event: {message}"));
    let id = message["record"]["id"].as_str().expect("record id");
    (seq, id.to_string())
}

#[test]
fn a_tail_on_one_process_shows_the_others_requests_in_commit_order_and_resumes() {
    let url = owned_database();
    let project = project("v1");
    let (a, b) = pair(&project, &url, &["--quiet"]);
    deployed(&project, &a);
    serves(&b, "v1");
    // B's records of the requests above are committed before the tail starts (B commits in
    // the order its executions end): otherwise one could come after A's first request below.
    a.record(&b.get("/hello").request_id());
    let b = Arc::new(b);

    let events = tail(&a, "");
    // Subscribed once one of A's own requests comes through.
    let mine = a.get("/hello").request_id();
    wait_for("the tail to show A's request", DEADLINE, || {
        let (_, id) = next_event(&events);
        (id == mine).then_some(())
    });
    // Requests to both, B's from two threads at once.
    let sent: Vec<String> = {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    (0..6)
                        .map(|_| b.get("/hello").request_id())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut sent: Vec<String> = (0..3).map(|_| a.get("/hello").request_id()).collect();
        for thread in threads {
            sent.extend(thread.join().expect("load thread"));
        }
        sent
    };
    let wanted: HashSet<&String> = sent.iter().collect();
    let mut seen = Vec::new();
    let mut last = 0;
    // Half of them live; then the tail goes away.
    while seen.len() < sent.len() / 2 {
        let (seq, id) = next_event(&events);
        assert!(seq > last, "seq {seq} after {last}: not in commit order");
        last = seq;
        assert!(wanted.contains(&id), "an execution nobody asked for: {id}");
        seen.push(id);
    }
    drop(events);
    // The rest, and more from B meanwhile, after the cursor: none missed, none repeated.
    let mut sent = sent;
    sent.extend((0..3).map(|_| b.get("/hello").request_id()));
    for id in &sent {
        a.record(id);
    }
    let resumed = tail(&a, &format!("?after={last}&follow=0"));
    loop {
        let message = resumed.recv_timeout(DEADLINE).expect("a tail message");
        if message["end"] == true {
            break;
        }
        let seq = message["seq"].as_i64().expect("seq");
        assert!(seq > last, "seq {seq} after {last}");
        last = seq;
        seen.push(message["record"]["id"].as_str().expect("id").to_string());
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an execution repeated: {seen:?}");
    assert_eq!(
        unique,
        sent.iter().collect::<HashSet<_>>(),
        "missed or extra executions"
    );
    // flux tail itself, pointed at A: B's requests among its lines, in seq order.
    let (code, stdout, stderr) = project.run(&[
        "tail",
        "--url",
        &a.url,
        "--last",
        "1h",
        "--no-follow",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("NDJSON"))
        .collect();
    let ids: HashSet<&str> = lines
        .iter()
        .filter_map(|line| line["record"]["id"].as_str())
        .collect();
    assert!(sent.iter().all(|id| ids.contains(id.as_str())), "{stdout}");
    let seqs: Vec<i64> = lines
        .iter()
        .filter_map(|line| line["seq"].as_i64())
        .collect();
    assert_eq!(seqs.len(), lines.len(), "{stdout}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // Following since a time: the history since then (none), then what comes, not the
    // records from before that time.
    let now = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
    let since = tail(&a, &format!("?since={now}"));
    let later = b.get("/hello").request_id();
    assert_eq!(next_event(&since).1, later);
}

#[test]
fn requests_to_both_processes_during_a_deploy_all_succeed() {
    let url = owned_database();
    let project = project("v1");
    let (a, b) = pair(&project, &url, &["--quiet"]);
    deployed(&project, &a);
    serves(&b, "v1");
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let servers = [Arc::new(a), Arc::new(b)];
    let load: Vec<_> = servers
        .iter()
        .flat_map(|server| [Arc::clone(server), Arc::clone(server)])
        .map(|server| {
            let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    answers.push(answer(&server));
                    done.fetch_add(1, Ordering::SeqCst);
                }
                answers
            })
        })
        .collect();
    wait_for("requests before the deploy", DEADLINE, || {
        (done.load(Ordering::SeqCst) >= 20).then_some(())
    });
    project.write("functions/hello.ts", &hello("v2"));
    deployed(&project, &servers[0]);
    for server in &servers {
        serves(server, "v2");
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for thread in load {
        let answers = thread.join().expect("load thread");
        total += answers.len();
        let failed: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(answers.first().map(|a| a.1.as_str()), Some("v1"));
    }
    assert!(total > 40, "only {total} requests around the deploy");
}

#[test]
fn records_over_the_retention_are_pruned_by_one_process_at_a_time() {
    let url = owned_database();
    let project = project("v1");
    project.write(
        "flux.config.ts",
        "export default { retention: { maxSize: '1MB', minAge: '1ms' } }\n",
    );
    let (a, b) = pair(&project, &url, &["--quiet"]);
    deployed(&project, &a);
    serves(&b, "v1");
    // The retention is read at start: restarted, both run it (each holds its data folder's
    // lock until it stops).
    a.stop();
    b.stop();
    let (a, b) = pair(&project, &url, &["--quiet"]);
    let body = "x".repeat(50_000);
    let first = b.post_json("/hello", &format!("{{\"pad\":\"{body}\"}}"));
    assert_eq!(first.status, 200);
    let first = first.request_id();
    a.record(&first);
    wait_for("the oldest record to be pruned", DEADLINE, || {
        for server in [&a, &b] {
            server.post_json("/hello", &format!("{{\"pad\":\"{body}\"}}"));
        }
        (a.get(&format!("/_flux/api/records/{first}")).status == 404).then_some(())
    });

    // While another session holds the pruning lock, a pruning run deletes nothing and does
    // not wait; once it is let go, the run prunes.
    let store = PgStore::open(&url).expect("open");
    let mut holder = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&PRUNE_LOCK])
        .expect("lock");
    let everything = Retention {
        max_age: Duration::from_micros(1),
        ..Retention::default()
    };
    let now = flux::clock::now_us();
    let mut pruning = store.pruning().expect("pruning");
    assert_eq!(pruning.prune(&everything, now).expect("prune"), 0);
    assert!(store.tail_position().expect("position") > 0);
    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&PRUNE_LOCK])
        .expect("unlock");
    assert!(pruning.prune(&everything, now).expect("prune") > 0);
}

#[test]
fn a_bad_url_an_unreachable_database_and_a_newer_schema_are_told_apart() {
    let project = project("v1");
    let serve = |url: &str| {
        project.run(&[
            "serve",
            "--data",
            ".serve-x",
            "--port",
            "0",
            "--database",
            url,
        ])
    };
    let (code, _, stderr) = serve("mysql://db/app");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("takes a postgres:// URL"), "{stderr}");
    let (code, _, stderr) = serve("postgres://127.0.0.1:1/app?connect_timeout=2");
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("check the host and port"), "{stderr}");
    let url = fresh_database();
    drop(PgStore::open(&url).expect("open"));
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    admin
        .batch_execute("UPDATE _flux_schema SET version = version + 100")
        .expect("a newer flux's stamp");
    let (code, _, stderr) = serve(&url);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("made by a newer flux"), "{stderr}");
    assert!(stderr.contains("run the flux that made them"), "{stderr}");
    // The help names the option and its variable.
    let (code, stdout, _) = project.run(&["serve", "--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("--database <URL>"), "{stdout}");
    assert!(stdout.contains("FLUX_DATABASE_URL"), "{stdout}");
}

/// How long after `flux deploy` through A returns B serves the new version (five deploys),
/// and how long after B answers a tail on A shows the request (ten).
/// `nice -n 19 cargo test --test it -- --ignored pg_serve::follow_latency --nocapture`
#[test]
#[ignore = "a measurement"]
fn follow_latency() {
    let url = owned_database();
    let project = project("v0");
    let (a, b) = pair(&project, &url, &["--quiet"]);
    let mut took = Vec::new();
    for n in 1..=5 {
        let version = format!("v{n}");
        project.write("functions/hello.ts", &hello(&version));
        deployed(&project, &a);
        let start = std::time::Instant::now();
        serves(&b, &version);
        took.push(start.elapsed());
    }
    eprintln!("B served each new version this long after the deploy through A returned: {took:?}");
    // And how long after B answered a request a tail on A shows it.
    let events = tail(&a, "");
    let mut shown = Vec::new();
    for _ in 0..10 {
        let id = b.get("/hello").request_id();
        let start = std::time::Instant::now();
        while next_event(&events).1 != id {}
        shown.push(start.elapsed());
    }
    shown.sort();
    eprintln!("a tail on A showed B's requests this long after B answered (sorted): {shown:?}");
}
