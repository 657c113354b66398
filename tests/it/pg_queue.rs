//! The job queue on PostgreSQL (`flux dev --database`): the seed's story (enqueue from a
//! function, retries with backoff, timeouts, dead letters, replay, transactional enqueue), and
//! what only many processes on one database bring: each job run once by whichever process
//! claims it, a killed process's attempts picked up by another within the lease (recorded as
//! interrupted), an atomic worker's writes never standing without their job's outcome (nor
//! after its lease ran out, nor after its process died between its two commits), and polling
//! without NOTIFY.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::pg::owned_database;
use crate::support::{wait_for, Project, Server, BULK_DEADLINE, DEADLINE};

fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("connect")
}

fn count(url: &str, sql: &str) -> i64 {
    client(url).query_one(sql, &[]).expect("count").get(0)
}

fn job_records(server: &Server, function: &str) -> Vec<Value> {
    let list = server
        .get(&format!(
            "/_flux/api/records?type=job&fn={function}&limit=1000"
        ))
        .json();
    list["records"].as_array().cloned().unwrap_or_default()
}

fn done(url: &str, function: &str) -> i64 {
    client(url)
        .query_one(
            "SELECT count(*) FROM _flux_jobs WHERE name = $1 AND state = 'done'",
            &[&function],
        )
        .expect("count")
        .get(0)
}

/// The example project with retries in milliseconds, on `url`.
fn fast_example() -> Project {
    let project = Project::example();
    project.write(
        "flux.config.ts",
        "export default {\n  workers: {\n    send_welcome_email: { maxAttempts: 3, timeoutSeconds: 5, backoff: { type: 'linear', initialDelay: '50ms' } },\n  },\n}\n",
    );
    project
}

#[test]
fn the_seed_story_runs_on_postgresql() {
    let project = fast_example();
    let url = owned_database();
    let server = Server::start(&project, &["--database", &url]);
    let created = server.post_json(
        "/create_user",
        r#"{"email":"ada@example.com","name":"Ada"}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);

    // The job create_user enqueued runs and sends the welcome email.
    let ok = wait_for("the welcome job", DEADLINE, || {
        job_records(&server, "send_welcome_email")
            .into_iter()
            .find(|r| r["status"] == "ok")
    });
    let ok = server.record(ok["id"].as_str().expect("id"));
    assert_eq!(ok["links"]["enqueued_by"], created.request_id().as_str());
    assert_eq!(ok["links"]["attempt"], 1);
    assert_eq!(ok["spans"][2]["name"], "email.send");

    // A job for a missing user fails three times, with the configured backoff, then is dead.
    let (code, _, stderr) = project.run(&[
        "queue",
        "enqueue",
        "send_welcome_email",
        "--data",
        r#"{"userId":"u_99","email":"a@b.com"}"#,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let dead = wait_for("the dead letter", DEADLINE, || {
        let (_, stdout, _) = project.run(&["queue", "dead-letter", "list"]);
        (!stdout.is_empty()).then_some(stdout)
    });
    let line = dead.lines().next().expect("a line");
    let (id, rest) = line.split_once(' ').expect("id first");
    assert_eq!(rest, "send_welcome_email failed 3× last: user not found");
    let mut attempts: Vec<Value> = job_records(&server, "send_welcome_email")
        .into_iter()
        .filter(|r| r["status"] == "error")
        .map(|r| server.record(r["id"].as_str().unwrap_or("")))
        .collect();
    attempts.sort_by_key(|r| r["links"]["attempt"].as_u64());
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[1]["links"]["previous_attempt"], attempts[0]["id"]);
    let gap = |a: &Value, b: &Value| {
        b["started_at_us"].as_i64().unwrap_or(0)
            - a["started_at_us"].as_i64().unwrap_or(0)
            - a["duration_us"].as_i64().unwrap_or(0)
    };
    // Linear from 50 ms (±10 %): far from the default's 1 s and 4 s; a retry wakes the
    // dispatcher at its time, not at the next poll.
    let (first, second) = (
        gap(&attempts[0], &attempts[1]),
        gap(&attempts[1], &attempts[2]),
    );
    assert!((44_000..850_000).contains(&first), "{first}");
    assert!((89_000..2_000_000).contains(&second), "{second}");

    // trace and why read the attempts from PostgreSQL.
    let (_, trace, _) = project.run(&["trace", id]);
    assert_eq!(
        trace
            .lines()
            .filter(|l| l.starts_with("  JOB send_welcome_email error"))
            .count(),
        3,
        "{trace}"
    );
    let (code, why, stderr) = project.run(&["why", id]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        why.starts_with("ROOT CAUSE Row not found: users WHERE id = 'u_99'\n"),
        "{why}"
    );

    // Stats count per state; a paused queue starts nothing until resumed.
    let (code, stats, _) = project.run(&["queue", "stats"]);
    assert_eq!(code, 0);
    assert!(stats.contains("send_welcome_email"), "{stats}");
    let (code, _, stderr) = project.run(&["queue", "pause"]);
    assert_eq!(code, 0, "{stderr}");
    client(&url)
        .execute(
            "INSERT INTO users (id, email, name) VALUES ('u_99', 'a@b.com', 'Bob')",
            &[],
        )
        .expect("insert");
    let (code, stdout, stderr) = project.run(&["queue", "dead-letter", "replay", id]);
    assert_eq!(code, 0, "{stderr}");
    let new_id = stdout
        .trim()
        .strip_prefix("Re-enqueued send_welcome_email as req:")
        .expect(&stdout)
        .to_string();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM _flux_jobs WHERE state = 'pending'"
        ),
        1,
        "paused: the replayed job waits"
    );
    let (code, _, stderr) = project.run(&["queue", "resume"]);
    assert_eq!(code, 0, "{stderr}");
    let replayed = server.record(&new_id);
    assert_eq!(replayed["status"], "ok");
    assert_eq!(replayed["links"]["attempt"], 1, "a fresh attempt count");
    let (_, stdout, _) = project.run(&["queue", "dead-letter", "list"]);
    assert_eq!(stdout, "");

    // The tail's history has every job attempt, in commit order, with what came next.
    let (code, tail, stderr) = project.run(&[
        "tail",
        "--filter",
        "type=job",
        "--last",
        "1h",
        "--no-follow",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = tail.lines().filter(|l| l.starts_with("JOB ")).collect();
    assert_eq!(lines.len(), 5, "{tail}");
    assert!(
        lines[0].starts_with("JOB send_welcome_email done"),
        "{tail}"
    );
    assert!(
        lines[4].starts_with("JOB send_welcome_email done"),
        "{tail}"
    );
    assert!(
        lines[1..4]
            .iter()
            .all(|l| l.starts_with("JOB send_welcome_email error")),
        "{tail}"
    );
    assert!(lines[3].ends_with("attempt 3/3"), "{tail}");
    server.stop();
}

#[test]
fn a_timed_out_attempt_is_recorded_and_retried_until_dead_on_postgresql() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { workers: { hang: { maxAttempts: 2, timeoutSeconds: 0.3, backoff: { type: 'linear', initialDelay: '10ms' } } } }",
        ),
        (
            "functions/hang.ts",
            "export default async () => { await new Promise((r) => setTimeout(r, 60000)) }",
        ),
    ]);
    let url = owned_database();
    let server = Server::start(&project, &["--database", &url]);
    let job = server
        .enqueue(&json!({ "name": "hang", "data": {} }))
        .job_id();
    server.wait_dead(&job);
    let records = job_records(&server, "hang");
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        records.iter().all(|r| r["status"] == "timeout"),
        "{records:?}"
    );
    server.stop();
}

/// Commits or rolls back a transaction holding an enqueue, 200 times.
const TX_PROJECT: &[(&str, &str)] = &[
    ("migrations/001.sql", "CREATE TABLE seen (n INTEGER PRIMARY KEY);"),
    ("flux.config.ts", "export default { queue: { concurrency: 4 } }"),
    (
        "functions/burst.ts",
        r#"export default async function handler(req, ctx) {
  let committed = 0
  for (let i = 0; i < 200; i++) {
    try {
      await ctx.db.transaction(async (tx) => {
        await tx.queue.enqueue('record_n', { n: i })
        if (i % 2 === 1) throw new Error('roll back ' + i)
      })
      committed++
    } catch (e) {}
  }
  return { committed }
}
"#,
    ),
    (
        "functions/record_n.ts",
        "export default async (job, ctx) => { await ctx.db.query('INSERT INTO seen (n) VALUES ($1)', [job.data.n]) }",
    ),
];

#[test]
fn jobs_enqueued_in_rolled_back_transactions_never_exist_on_postgresql() {
    let project = Project::with_files(TX_PROJECT);
    let url = owned_database();
    let server = Server::start(&project, &["--database", &url]);
    let reply = server.post_json("/burst", "{}");
    assert_eq!(reply.json(), json!({ "committed": 100 }));
    wait_for("100 jobs to run", BULK_DEADLINE, || {
        (done(&url, "record_n") == 100).then_some(())
    });
    assert_eq!(
        count(&url, "SELECT count(*) FROM seen WHERE n % 2 = 0"),
        100
    );
    assert_eq!(count(&url, "SELECT count(*) FROM seen"), 100);
    assert_eq!(count(&url, "SELECT count(*) FROM _flux_jobs"), 100);
    server.stop();
}

/// A request's write is on disk before it answers; a job attempt's commits are flushed by
/// its record's, which decides the job's outcome, so they do not wait for a flush of their
/// own. Each reports the durability its statement committed with.
#[test]
fn a_request_s_writes_are_flushed_before_it_answers_and_a_job_s_by_its_record() {
    let project = Project::with_files(&[
        (
            "migrations/001_seen.sql",
            "CREATE TABLE seen (kind text PRIMARY KEY, sync text NOT NULL);",
        ),
        (
            "functions/write.ts",
            "export default async (req, ctx) => {
  await ctx.db.query(\"INSERT INTO seen VALUES ('request', current_setting('synchronous_commit'))\")
  await ctx.queue.enqueue('write_job', {})
  return { ok: true }
}",
        ),
        (
            "functions/write_job.ts",
            "export default async (job, ctx) => {
  await ctx.db.query(\"INSERT INTO seen VALUES ('job', current_setting('synchronous_commit'))\")
}",
        ),
    ]);
    let url = owned_database();
    let server = Server::start(&project, &["--database", &url]);
    assert_eq!(server.post_json("/write", "{}").status, 200);
    wait_for("the job to run", DEADLINE, || {
        (done(&url, "write_job") == 1).then_some(())
    });
    let seen: Vec<(String, String)> = client(&url)
        .query("SELECT kind, sync FROM seen ORDER BY kind", &[])
        .expect("seen")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        seen,
        [
            ("job".to_string(), "off".to_string()),
            ("request".to_string(), "on".to_string())
        ]
    );
    server.stop();
}

/// A project whose worker `work` writes which process (`tag`) ran each job, after `sleep_ms`.
fn tagged(tag: &str, sleep_ms: u32, config: &str) -> Project {
    Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE runs (n INTEGER NOT NULL, by TEXT NOT NULL);",
        ),
        ("flux.config.ts", config),
        (
            "functions/work.ts",
            &format!(
                "export default async (job, ctx) => {{\n  await new Promise((r) => setTimeout(r, {sleep_ms}))\n  await ctx.db.query('INSERT INTO runs (n, by) VALUES ($1, $2)', [job.data.n, '{tag}'])\n}}\n"
            ),
        ),
    ])
}

fn enqueue_work(server: &Server, n: usize) {
    let jobs: Vec<Value> = (0..n)
        .map(|i| json!({ "name": "work", "data": { "n": i } }))
        .collect();
    server.enqueue(&Value::Array(jobs));
}

#[test]
fn attempts_go_on_while_their_records_wait_for_the_store() {
    let url = owned_database();
    let project = tagged("s", 0, "export default { queue: { concurrency: 1 } }");
    let server = Server::start(&project, &["--database", &url]);
    // Another session holds the commit-order counter: no record can commit meanwhile.
    let mut holder = client(&url);
    let mut stall = holder.transaction().expect("begin");
    stall
        .execute("SELECT n FROM _flux_seq FOR UPDATE", &[])
        .expect("lock the counter");
    enqueue_work(&server, 8);
    // A slot frees when an attempt's code ends, not when its record commits: all eight run,
    // one at a time, though no record has committed (three would, were slots held).
    wait_for("eight attempts run", BULK_DEADLINE, || {
        (count(&url, "SELECT count(*) FROM runs") == 8).then_some(())
    });
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM _flux_records WHERE function = 'work'"
        ),
        0,
        "the records wait for the counter"
    );
    stall.rollback().expect("release the counter");
    wait_for("eight jobs done, each with its record", DEADLINE, || {
        (done(&url, "work") == 8
            && count(
                &url,
                "SELECT count(*) FROM _flux_records WHERE function = 'work'",
            ) == 8)
            .then_some(())
    });
    server.stop();
}

#[test]
fn two_processes_on_one_database_run_each_job_once_and_share_them() {
    let url = owned_database();
    let config = "export default { queue: { concurrency: 8 } }";
    let a = tagged("a", 20, config);
    let b = tagged("b", 20, config);
    let server_a = Server::start(&a, &["--database", &url]);
    let server_b = Server::start(&b, &["--database", &url]);
    enqueue_work(&server_a, 200);
    wait_for("200 jobs done", BULK_DEADLINE, || {
        (done(&url, "work") == 200).then_some(())
    });
    let mut db = client(&url);
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT n), count(*) FILTER (WHERE by = 'a'),
                    count(*) FILTER (WHERE by = 'b') FROM runs",
            &[],
        )
        .expect("runs");
    let (runs, distinct, by_a, by_b): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!((runs, distinct), (200, 200), "each job ran exactly once");
    assert!(
        by_a > 0 && by_b > 0,
        "both processes ran some: {by_a} and {by_b}"
    );
    let records = count(
        &url,
        "SELECT count(*) FROM _flux_records WHERE kind = 'job' AND status = 'ok'",
    );
    assert_eq!(records, 200, "one record per job");
    // Each process's API reads the same queue.
    let stats = server_b.get("/_flux/api/queue/stats").json();
    assert!(stats.to_string().contains("\"done\":200"), "{stats}");
    server_a.stop();
    server_b.stop();
}

#[test]
fn a_killed_process_s_attempts_are_run_by_another_within_the_lease() {
    let url = owned_database();
    let config = "export default { queue: { lease: '2s' } }";
    // The first process's worker never finishes; the second's does at once.
    let a = tagged("a", 600_000, config);
    let b = tagged("b", 0, config);
    let server_a = Server::start(&a, &["--database", &url]);
    enqueue_work(&server_a, 4);
    wait_for("the first process to run all four", DEADLINE, || {
        (count(
            &url,
            "SELECT count(*) FROM _flux_jobs WHERE state = 'running'",
        ) == 4)
            .then_some(())
    });
    let server_b = Server::start(&b, &["--database", &url]);
    // Renewed while it lives: nothing changes hands.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&url, "SELECT count(*) FROM runs"), 0);
    let killed = Instant::now();
    drop(server_a); // SIGKILL
    wait_for("the other process to run them", DEADLINE, || {
        (done(&url, "work") == 4).then_some(())
    });
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "picked up within the lease (2 s) and a renewal period: {took:?}"
    );
    assert_eq!(
        count(&url, "SELECT count(*) FROM runs WHERE by = 'b'"),
        4,
        "each run once, by the survivor"
    );
    let mut db = client(&url);
    let statuses: Vec<(String, String)> = db
        .query(
            "SELECT job_id, status FROM _flux_records WHERE kind = 'job' ORDER BY seq",
            &[],
        )
        .expect("records")
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let interrupted = statuses.iter().filter(|(_, s)| s == "interrupted").count();
    let ok = statuses.iter().filter(|(_, s)| s == "ok").count();
    assert_eq!((interrupted, ok), (4, 4), "{statuses:?}");
    let lost = server_b.record(
        &db.query_one(
            "SELECT id FROM _flux_records WHERE status = 'interrupted' LIMIT 1",
            &[],
        )
        .expect("an interrupted record")
        .get::<_, String>(0),
    );
    assert!(
        lost["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("stopped renewing its lease"),
        "{lost}"
    );
    assert_eq!(lost["links"]["attempt"], 1);
    server_b.stop();
}

#[test]
fn a_process_killed_mid_drain_loses_no_job_and_repeats_only_interrupted_ones() {
    let url = owned_database();
    let config = "export default { queue: { lease: '1s', concurrency: 16 } }";
    let a = tagged("a", 10, config);
    let b = tagged("b", 10, config);
    let server_a = Server::start(&a, &["--database", &url]);
    let server_b = Server::start(&b, &["--database", &url]);
    enqueue_work(&server_a, 400);
    wait_for("a quarter done", BULK_DEADLINE, || {
        (count(&url, "SELECT count(*) FROM runs WHERE by = 'a'") >= 50).then_some(())
    });
    drop(server_a); // SIGKILL, mid-drain
    wait_for("every job done", BULK_DEADLINE, || {
        (done(&url, "work") == 400).then_some(())
    });
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM _flux_jobs WHERE state <> 'done'"
        ),
        0,
        "none stuck running"
    );
    assert_eq!(count(&url, "SELECT count(DISTINCT n) FROM runs"), 400);
    let repeated = count(&url, "SELECT count(*) - count(DISTINCT n) FROM runs");
    let interrupted = count(
        &url,
        "SELECT count(*) FROM _flux_records WHERE status = 'interrupted'",
    );
    assert!(
        repeated <= interrupted,
        "a job runs twice only after an attempt lost with its process: {repeated} repeats, \
         {interrupted} interrupted"
    );
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM _flux_jobs j JOIN _flux_records r ON r.id = j.last_record
             WHERE r.status = 'ok'"
        ),
        400,
        "each job's last record is the attempt that did it"
    );
    eprintln!("{repeated} repeated runs, {interrupted} interrupted attempts");
    server_b.stop();
}

#[test]
fn an_atomic_attempt_s_writes_never_stand_without_its_job_s_outcome() {
    let url = owned_database();
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE ledger (n INTEGER PRIMARY KEY);",
        ),
        (
            "flux.config.ts",
            "export default { workers: { book: { atomic: true, maxAttempts: 1 } } }",
        ),
        (
            "functions/book.ts",
            "export default async (job, ctx) => {\n  await ctx.db.query('INSERT INTO ledger (n) VALUES ($1)', [job.data.n])\n  await new Promise((r) => setTimeout(r, 5))\n  if (job.data.fail) throw new Error('declined')\n}\n",
        ),
    ]);
    let server = Server::start(&project, &["--database", &url]);
    // A reader that, in one snapshot, never sees a ledger row whose job is neither done nor
    // marked as committed by its attempt, nor a done job without its record.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (url, stop) = (url.clone(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut db = client(&url);
            let mut looks = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut tx = db
                    .build_transaction()
                    .isolation_level(postgres::IsolationLevel::RepeatableRead)
                    .start()
                    .expect("snapshot");
                let row = tx
                    .query_one(
                        "SELECT (SELECT count(*) FROM ledger),
                                (SELECT count(*) FROM _flux_records
                                 WHERE function = 'book' AND status = 'ok'),
                                (SELECT count(*) FROM _flux_jobs
                                 WHERE name = 'book' AND state = 'done'),
                                (SELECT count(*) FROM _flux_jobs WHERE name = 'book'
                                 AND state = 'running' AND committed_attempt = attempts)",
                        &[],
                    )
                    .expect("look");
                let (rows, records, done, marked): (i64, i64, i64, i64) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                assert_eq!(rows, done + marked, "writes seen without their outcome");
                assert_eq!(records, done, "a done job seen without its record");
                tx.commit().expect("end");
                looks += 1;
            }
            looks
        })
    };
    let jobs: Vec<Value> = (0..40)
        .map(|n| json!({ "name": "book", "data": { "n": n, "fail": n % 4 == 3 } }))
        .collect();
    server.enqueue(&Value::Array(jobs));
    wait_for("every attempt recorded", BULK_DEADLINE, || {
        (count(
            &url,
            "SELECT count(*) FROM _flux_records WHERE function = 'book'",
        ) == 40)
            .then_some(())
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let looks = watcher.join().expect("never seen apart");
    assert!(looks > 0);
    assert_eq!(count(&url, "SELECT count(*) FROM ledger"), 30);
    assert_eq!(
        count(&url, "SELECT count(*) FROM ledger WHERE n % 4 = 3"),
        0,
        "a failed attempt leaves no writes"
    );
    assert_eq!(
        count(&url, "SELECT count(*) FROM _flux_jobs WHERE state = 'dead'"),
        10
    );
    let failed = job_records(&server, "book")
        .into_iter()
        .find(|r| r["status"] == "error")
        .expect("a failed attempt");
    let failed = server.record(failed["id"].as_str().unwrap_or(""));
    assert_eq!(failed["mutations"][0]["committed"], false, "{failed}");
    let ok = job_records(&server, "book")
        .into_iter()
        .find(|r| r["status"] == "ok")
        .expect("a booked attempt");
    let ok = server.record(ok["id"].as_str().unwrap_or(""));
    assert_eq!(ok["mutations"][0]["committed"], true, "{ok}");
    server.stop();
}

#[test]
fn an_atomic_attempt_that_lost_its_lease_rolls_its_writes_back() {
    let url = owned_database();
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE ledger (n INTEGER PRIMARY KEY); CREATE TABLE gate (open INTEGER);",
        ),
        (
            "flux.config.ts",
            "export default { workers: { book: { atomic: true } } }",
        ),
        (
            "functions/book.ts",
            "export default async (job, ctx) => {\n  await ctx.db.query('INSERT INTO ledger (n) VALUES ($1)', [job.data.n])\n  while ((await ctx.db.query('SELECT count(*)::int AS c FROM gate'))[0].c === 0) {\n    await new Promise((r) => setTimeout(r, 20))\n  }\n}\n",
        ),
    ]);
    let server = Server::start(&project, &["--database", &url]);
    let job = server
        .enqueue(&json!({ "name": "book", "data": { "n": 1 } }))
        .job_id();
    wait_for("the attempt running", DEADLINE, || {
        (count(
            &url,
            "SELECT count(*) FROM _flux_jobs WHERE state = 'running'",
        ) == 1)
            .then_some(())
    });
    // As if this process had stalled past its lease and another had claimed the job.
    let mut db = client(&url);
    db.execute(
        "UPDATE _flux_jobs SET lease_owner = 'another process' WHERE id = $1",
        &[&job],
    )
    .expect("steal");
    db.execute("INSERT INTO gate VALUES (1)", &[])
        .expect("open");
    let record = wait_for("the attempt's record", DEADLINE, || {
        job_records(&server, "book").into_iter().next()
    });
    let record = server.record(record["id"].as_str().unwrap_or(""));
    assert_eq!(record["status"], "error", "{record}");
    assert!(
        record["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("lease ran out"),
        "{record}"
    );
    assert_eq!(record["mutations"][0]["committed"], false, "{record}");
    assert_eq!(count(&url, "SELECT count(*) FROM ledger"), 0, "rolled back");
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM _flux_jobs WHERE lease_owner = 'another process'"
        ),
        1,
        "the job stays the other process's"
    );
    server.stop();
}

#[test]
fn an_atomic_attempt_whose_process_dies_between_its_commits_is_finished_not_run_again() {
    let url = owned_database();
    let files = [
        (
            "migrations/001.sql",
            "CREATE TABLE ledger (n INTEGER PRIMARY KEY);",
        ),
        (
            "flux.config.ts",
            "export default { queue: { lease: '1s' }, workers: { book: { atomic: true } } }",
        ),
        (
            "functions/book.ts",
            "export default async (job, ctx) => {\n  await ctx.db.query('INSERT INTO ledger (n) VALUES ($1)', [job.data.n])\n}\n",
        ),
    ];
    let project = Project::with_files(&files);
    let server_a = Server::start(&project, &["--database", &url]);
    // The attempt's record is refused (the record writer tries again and again): its writes
    // and its job's mark are committed, the record and `done` are not. The sequence counts
    // the refusals (a sequence is not rolled back with them).
    let mut db = client(&url);
    db.batch_execute(
        "CREATE SEQUENCE refused_books; GRANT USAGE ON SEQUENCE refused_books TO PUBLIC;
         CREATE FUNCTION refuse_book() RETURNS trigger LANGUAGE plpgsql
         SET search_path FROM CURRENT AS $$
         BEGIN PERFORM nextval('refused_books'); RAISE EXCEPTION 'not now'; END $$;
         CREATE TRIGGER refuse_book BEFORE INSERT ON _flux_records FOR EACH ROW
         WHEN (NEW.function = 'book' AND NEW.status = 'ok') EXECUTE FUNCTION refuse_book();",
    )
    .expect("refuse the records");
    let job = server_a
        .enqueue(&json!({ "name": "book", "data": { "n": 1 } }))
        .job_id();
    wait_for(
        "the record refused after the writes committed",
        DEADLINE,
        || {
            (count(&url, "SELECT count(*) FROM ledger") == 1
            && count(
                &url,
                "SELECT count(*) FROM _flux_jobs WHERE state = 'running' AND committed_attempt = 1",
            ) == 1
            && count(&url, "SELECT count(*) FROM refused_books WHERE is_called") == 1)
            .then_some(())
        },
    );
    drop(server_a); // SIGKILL
    db.batch_execute("DROP TRIGGER refuse_book ON _flux_records")
        .expect("let go");
    let other = Project::with_files(&files);
    let server_b = Server::start(&other, &["--database", &url]);
    wait_for("the job finished by the other process", DEADLINE, || {
        (done(&url, "book") == 1).then_some(())
    });
    assert_eq!(count(&url, "SELECT count(*) FROM ledger"), 1);
    let records = job_records(&server_b, "book");
    assert_eq!(records.len(), 1, "never run again: {records:?}");
    let record = server_b.record(records[0]["id"].as_str().unwrap_or(""));
    assert_eq!(record["status"], "interrupted", "{record}");
    assert!(
        record["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("writes committed"),
        "{record}"
    );
    let row = db
        .query_one(
            "SELECT attempts, committed_attempt IS NULL FROM _flux_jobs WHERE id = $1",
            &[&job],
        )
        .expect("the job");
    assert_eq!((row.get::<_, i32>(0), row.get::<_, bool>(1)), (1, true));
    server_b.stop();
}

#[test]
fn without_notify_the_queue_drains_by_polling() {
    let url = owned_database();
    let quiet = tagged(
        "q",
        0,
        "export default { queue: { notify: false, pollInterval: 50 } }",
    );
    let server = Server::start(&quiet, &["--database", &url]);
    let listening = || {
        count(
            &url,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN flux_jobs%'",
        )
    };
    enqueue_work(&server, 50);
    wait_for("50 jobs done by polling", DEADLINE, || {
        (done(&url, "work") == 50).then_some(())
    });
    assert_eq!(listening(), 0, "nothing listens");
    server.stop();

    // With notify on (the default), one connection listens.
    let loud = tagged("l", 0, "export default {}");
    let server = Server::start(&loud, &["--database", &url]);
    wait_for("a listening connection", DEADLINE, || {
        (listening() == 1).then_some(())
    });
    server.stop();
}

/// A process that enqueues `work` but runs none of it: its own `work` never ends, one at a
/// time, and one is running (pausing it would pause the others too).
fn busy_enqueuer(url: &str, queue: &str) -> (Project, Server) {
    let project = tagged(
        "e",
        600_000,
        &format!(
            "export default {{ queue: {{ {queue} }}, workers: {{ work: {{ concurrency: 1 }} }}, \
             shutdown: {{ graceSeconds: 0 }} }}"
        ),
    );
    let server = Server::start(&project, &["--database", url]);
    server.enqueue(&json!({ "name": "work", "data": { "n": -1 } }));
    wait_for("its one attempt running", DEADLINE, || {
        (count(
            url,
            "SELECT count(*) FROM _flux_jobs WHERE state = 'running'",
        ) == 1)
            .then_some(())
    });
    (project, server)
}

#[test]
fn a_job_enqueued_by_one_process_wakes_another_through_notify() {
    let url = owned_database();
    // Polls too rarely to matter here: only the NOTIFY can start the job soon.
    let (_enqueuer, server_e) = busy_enqueuer(&url, "pollInterval: '60s'");
    let runner = tagged("r", 0, "export default { queue: { pollInterval: '60s' } }");
    let server_r = Server::start(&runner, &["--database", &url]);
    wait_for("the runner listening", DEADLINE, || {
        (count(
            &url,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN flux_jobs%'",
        ) == 2)
            .then_some(())
    });
    let enqueued = Instant::now();
    enqueue_work(&server_e, 3);
    wait_for("the jobs run by the other process", DEADLINE, || {
        (done(&url, "work") == 3).then_some(())
    });
    assert!(
        enqueued.elapsed() < Duration::from_secs(20),
        "woken, not polled: {:?}",
        enqueued.elapsed()
    );
    assert_eq!(count(&url, "SELECT count(*) FROM runs WHERE by = 'r'"), 3);
    server_e.stop();
    server_r.stop();
}

#[test]
fn a_job_enqueued_inside_or_outside_a_transaction_wakes_its_own_process_without_notify() {
    let url = owned_database();
    // Neither NOTIFY nor a poll within the test: only the commit's own wake-up starts them.
    let project = tagged(
        "k",
        0,
        "export default { queue: { notify: false, pollInterval: '60s' } }",
    );
    project.write(
        "functions/kick.ts",
        "export default async (req, ctx) => {\n  await ctx.queue.enqueue('work', { n: 1 })\n  await ctx.db.transaction(async (tx) => { await tx.queue.enqueue('work', { n: 2 }) })\n  return 'ok'\n}\n",
    );
    // Its dispatcher polls once as it starts, before the server answers.
    let server = Server::start(&project, &["--database", &url]);
    let kicked = Instant::now();
    assert_eq!(server.post_json("/kick", "{}").status, 200);
    wait_for("both jobs done", DEADLINE, || {
        (done(&url, "work") == 2).then_some(())
    });
    assert!(
        kicked.elapsed() < Duration::from_secs(20),
        "woken by the commits, not polled: {:?}",
        kicked.elapsed()
    );
    server.stop();
}

#[test]
fn a_worker_s_own_concurrency_holds_and_jobs_of_a_missing_worker_wait() {
    let url = owned_database();
    let project = tagged(
        "w",
        30,
        "export default { workers: { work: { concurrency: 1 } } }",
    );
    project.write("functions/ghost.ts", "export default async () => {}");
    let server = Server::start(&project, &["--database", &url]);
    server.post("/_flux/api/queue/pause");
    let ghost = server
        .enqueue(&json!({ "name": "ghost", "data": {} }))
        .job_id();
    std::fs::remove_file(project.path().join("functions/ghost.ts")).expect("remove");
    server.wait_for_output("1 job(s) wait for ghost, which has no function now");
    server.post("/_flux/api/queue/resume");
    enqueue_work(&server, 6);
    wait_for("six jobs done", DEADLINE, || {
        (done(&url, "work") == 6).then_some(())
    });
    let mut spans: Vec<(i64, i64)> = client(&url)
        .query(
            "SELECT started_at_us, started_at_us + duration_us FROM _flux_records
             WHERE function = 'work' ORDER BY started_at_us",
            &[],
        )
        .expect("records")
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    spans.sort_unstable();
    assert_eq!(spans.len(), 6);
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "one at a time: {spans:?}");
    }
    // The job for a worker that has no function waits, unclaimed, until it has one.
    let state = |id: &str| -> (String, i32, Option<String>) {
        let row = client(&url)
            .query_one(
                "SELECT state, attempts, lease_owner FROM _flux_jobs WHERE id = $1",
                &[&id],
            )
            .expect("job");
        (row.get(0), row.get(1), row.get(2))
    };
    assert_eq!(state(&ghost), ("pending".into(), 0, None));
    project.write("functions/ghost.ts", "export default async () => {}");
    wait_for("the ghost job run once its worker exists", DEADLINE, || {
        (state(&ghost).0 == "done").then_some(())
    });
    server.stop();
}

#[test]
fn a_worker_with_its_own_concurrency_is_not_starved_by_another_workers_backlog() {
    // `solo` (concurrency 1) has the earliest job, `work` a backlog after it. The claims took
    // the other workers' jobs first and gave `solo` only the slots they left: it waited for
    // the whole backlog.
    let url = owned_database();
    let project = tagged(
        "w",
        20,
        "export default { queue: { concurrency: 2 }, workers: { solo: { concurrency: 1 } } }",
    );
    project.write("functions/solo.ts", "export default async () => {}");
    let server = Server::start(&project, &["--database", &url]);
    server.post("/_flux/api/queue/pause");
    server.enqueue(&json!({ "name": "solo", "data": {} }));
    enqueue_work(&server, 20);
    server.post("/_flux/api/queue/resume");
    wait_for("the backlog done", DEADLINE, || {
        (done(&url, "work") == 20 && done(&url, "solo") == 1).then_some(())
    });
    let before_solo = count(
        &url,
        "SELECT count(*) FROM _flux_records w, _flux_records s
         WHERE w.function = 'work' AND s.function = 'solo' AND w.started_at_us < s.started_at_us",
    );
    assert!(
        before_solo < 4,
        "solo's job, the earliest, started after {before_solo} of the backlog's"
    );
    server.stop();
}

#[test]
fn cancelling_a_waiting_or_running_job_on_postgresql() {
    let url = owned_database();
    let project = Project::with_files(&[(
        "functions/wait.ts",
        "export default async () => { for (;;) await new Promise((r) => setTimeout(r, 20)) }",
    )]);
    let server = Server::start(&project, &["--database", &url]);
    let running = server
        .enqueue(&json!({ "name": "wait", "data": {} }))
        .job_id();
    wait_for("the attempt running", DEADLINE, || {
        (count(
            &url,
            "SELECT count(*) FROM _flux_jobs WHERE state = 'running'",
        ) == 1)
            .then_some(())
    });
    server.post("/_flux/api/queue/pause");
    let waiting = server
        .enqueue(&json!({ "name": "wait", "data": {} }))
        .job_id();
    for job in [&waiting, &running] {
        let (code, stdout, stderr) = project.run(&["queue", "cancel", &job[..8]]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout.trim(), format!("Cancelled job {}", &job[..8]));
    }
    let states: Vec<(String, String)> = client(&url)
        .query("SELECT id, state FROM _flux_jobs ORDER BY id", &[])
        .expect("jobs")
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert!(states.iter().all(|(_, s)| s == "cancelled"), "{states:?}");
    let records = job_records(&server, "wait");
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        records.iter().all(|r| r["status"] == "cancelled"),
        "{records:?}"
    );
    server.stop();
}

#[test]
fn a_job_running_in_another_process_is_cancelled_through_this_one() {
    let url = owned_database();
    let files: &[(&str, &str)] = &[(
        "functions/wait.ts",
        "export default async () => { for (;;) await new Promise((r) => setTimeout(r, 20)) }",
    )];
    let (runs_it, asked) = (Project::with_files(files), Project::with_files(files));
    let server_r = Server::start(&runs_it, &["--database", &url]);
    let job = server_r
        .enqueue(&json!({ "name": "wait", "data": {} }))
        .job_id();
    wait_for("the attempt running", DEADLINE, || {
        (count(
            &url,
            "SELECT count(*) FROM _flux_jobs WHERE state = 'running'",
        ) == 1)
            .then_some(())
    });
    let server_a = Server::start(&asked, &["--database", &url]);
    let started = Instant::now();
    let (code, stdout, stderr) = asked.run(&["queue", "cancel", &job[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), format!("Cancelled job {}", &job[..8]));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped by its process at once: {:?}",
        started.elapsed()
    );
    let records = job_records(&server_a, "wait");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["status"], "cancelled");
    server_a.stop();
    server_r.stop();
}

#[test]
fn pausing_the_queue_in_one_process_pauses_the_others_listening() {
    let url = owned_database();
    let a = tagged("a", 0, "export default {}");
    let b = tagged("b", 0, "export default {}");
    let server_a = Server::start(&a, &["--database", &url]);
    let server_b = Server::start(&b, &["--database", &url]);
    wait_for("both listening", DEADLINE, || {
        (count(
            &url,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN flux_jobs%'",
        ) == 2)
            .then_some(())
    });
    let paused = |server: &Server| server.get("/_flux/api/queue/stats").json()["paused"] == true;
    let (code, _, stderr) = a.run(&["queue", "pause"]);
    assert_eq!(code, 0, "{stderr}");
    wait_for("the other process paused", DEADLINE, || {
        paused(&server_b).then_some(())
    });
    assert!(paused(&server_a));
    enqueue_work(&server_b, 5);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(count(&url, "SELECT count(*) FROM runs"), 0, "none ran");
    let (code, _, stderr) = a.run(&["queue", "resume"]);
    assert_eq!(code, 0, "{stderr}");
    wait_for("the jobs run", DEADLINE, || {
        (done(&url, "work") == 5).then_some(())
    });
    assert!(!paused(&server_b));
    server_a.stop();
    server_b.stop();
}

/// Rough figures, not a benchmark: `nice -n 19 cargo test --test it -- --ignored
/// pg_queue::measure --nocapture`.
#[test]
#[ignore]
fn measure() {
    for notify in [true, false] {
        let url = owned_database();
        let project = tagged(
            "m",
            0,
            &format!("export default {{ queue: {{ notify: {notify}, concurrency: 100 }} }}"),
        );
        // Enqueued by another process that runs none: only a NOTIFY (or a poll) tells this one.
        let (_other, enqueuer) = busy_enqueuer(&url, &format!("notify: {notify}"));
        let server = Server::start(&project, &["--database", &url]);
        // One at a time, on an idle queue: enqueue → start.
        let mut latencies = Vec::new();
        for i in 0..50 {
            let id = enqueuer
                .enqueue(&json!({ "name": "work", "data": { "n": i } }))
                .job_id();
            wait_for("the job done", DEADLINE, || {
                (count(
                    &url,
                    &format!(
                        "SELECT count(*) FROM _flux_jobs WHERE id = '{id}' AND state = 'done'"
                    ),
                ) == 1)
                    .then_some(())
            });
            let row = client(&url)
                .query_one(
                    "SELECT r.started_at_us - j.enqueued_at_us FROM _flux_jobs j
                     JOIN _flux_records r ON r.job_id = j.id WHERE j.id = $1",
                    &[&id],
                )
                .expect("latency");
            latencies.push(row.get::<_, i64>(0));
        }
        latencies.sort_unstable();
        let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        println!(
            "notify {notify}, enqueued by another process: enqueue→start p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            pick(0.5),
            pick(0.9),
            pick(1.0)
        );
        if notify {
            // A no-op drain of 1,000 jobs, enqueued while paused.
            let noop = Project::with_files(&[
                (
                    "flux.config.ts",
                    "export default { queue: { concurrency: 100 } }",
                ),
                ("functions/noop.ts", "export default async () => {}"),
            ]);
            let url = owned_database();
            let server = Server::start(&noop, &["--database", &url]);
            server.post("/_flux/api/queue/pause");
            let jobs: Vec<Value> = (0..1000).map(|_| json!({ "name": "noop" })).collect();
            server.enqueue(&Value::Array(jobs));
            let start = Instant::now();
            server.post("/_flux/api/queue/resume");
            wait_for("1,000 done", BULK_DEADLINE, || {
                (done(&url, "noop") == 1000).then_some(())
            });
            let took = start.elapsed();
            println!(
                "no-op drain of 1,000 jobs, one process: {:.2} s ({:.0} jobs/s)",
                took.as_secs_f64(),
                1000.0 / took.as_secs_f64()
            );
            server.stop();
        }
        enqueuer.stop();
        server.stop();
    }
}

/// `cargo test --test it -- --ignored pg_queue::measure_atomic --nocapture`: how fast one
/// process drains 1,000 atomic jobs that each insert a row (each attempt's commit checks its
/// lease and marks its job; its record follows through the record writer).
#[test]
#[ignore]
fn measure_atomic() {
    let url = owned_database();
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE ledger (n INTEGER PRIMARY KEY);",
        ),
        (
            "flux.config.ts",
            "export default { queue: { concurrency: 100 }, workers: { book: { atomic: true } } }",
        ),
        (
            "functions/book.ts",
            "export default async (job, ctx) => {\n  await ctx.db.query('INSERT INTO ledger (n) VALUES ($1)', [job.data.n])\n}\n",
        ),
    ]);
    let server = Server::start(&project, &["--database", &url]);
    server.post("/_flux/api/queue/pause");
    let jobs: Vec<Value> = (0..1000)
        .map(|n| json!({ "name": "book", "data": { "n": n } }))
        .collect();
    server.enqueue(&Value::Array(jobs));
    let start = Instant::now();
    server.post("/_flux/api/queue/resume");
    wait_for("1,000 done", BULK_DEADLINE, || {
        (done(&url, "book") == 1000).then_some(())
    });
    let took = start.elapsed();
    assert_eq!(count(&url, "SELECT count(*) FROM ledger"), 1000);
    println!(
        "atomic drain of 1,000 jobs, one process: {:.2} s ({:.0} jobs/s)",
        took.as_secs_f64(),
        1000.0 / took.as_secs_f64()
    );
    server.stop();
}

#[test]
fn a_process_starts_beside_busy_ones_without_waiting_for_their_locks() {
    let url = owned_database();
    let config = "export default { queue: { concurrency: 4 } }";
    let a = tagged("a", 5, config);
    let first = Server::start(&a, &["--database", &url]);
    // What busy processes hold all the time: row locks' table locks on flux's tables. A start
    // that ran DDL on them (even `ADD COLUMN IF NOT EXISTS`) waited here, and beside real
    // traffic deadlocked.
    let mut busy = client(&url);
    let mut held = busy.transaction().expect("begin");
    held.batch_execute(
        "LOCK TABLE _flux_jobs, _flux_records, _flux_mutations, _flux_seq, _flux_spilled \
         IN ROW EXCLUSIVE MODE",
    )
    .expect("lock flux's tables as busy processes do");
    let b = tagged("b", 5, config);
    let second = Server::start(&b, &["--database", &url]);
    held.rollback().expect("rollback");
    enqueue_work(&second, 20);
    wait_for("20 jobs done", DEADLINE, || {
        (done(&url, "work") == 20).then_some(())
    });
    first.stop();
    second.stop();
}

/// `ctx.db.transaction` inside an atomic attempt is part of the attempt's transaction, as on
/// SQLite: its rollback undoes its own writes only, and its commit does not commit the
/// attempt's (an attempt that then fails leaves nothing).
#[test]
fn a_transaction_inside_an_atomic_attempt_commits_with_the_attempt_only() {
    let url = owned_database();
    let project = Project::with_files(&[
        ("migrations/001.sql", "CREATE TABLE ledger (n INTEGER PRIMARY KEY);"),
        (
            "flux.config.ts",
            "export default { workers: { book: { atomic: true, maxAttempts: 1 } } }",
        ),
        (
            "functions/book.ts",
            "export default async (job, ctx) => {\n  const n = job.data.n\n  await ctx.db.query('INSERT INTO ledger (n) VALUES ($1)', [n + 1])\n  try {\n    await ctx.db.transaction(async (tx) => {\n      await tx.query('INSERT INTO ledger (n) VALUES ($1)', [n + 2])\n      throw new Error('undo this one')\n    })\n  } catch {}\n  await ctx.db.transaction(async (tx) => {\n    await tx.query('INSERT INTO ledger (n) VALUES ($1)', [n + 3])\n  })\n  if (job.data.fail) throw new Error('the attempt fails after all')\n}\n",
        ),
    ]);
    let server = Server::start(&project, &["--database", &url]);
    server.enqueue(&json!({ "name": "book", "data": { "n": 10, "fail": true } }));
    server.enqueue(&json!({ "name": "book", "data": { "n": 20, "fail": false } }));
    wait_for("both attempts recorded", DEADLINE, || {
        (job_records(&server, "book").len() == 2).then_some(())
    });
    let rows: Vec<i32> = client(&url)
        .query("SELECT n FROM ledger ORDER BY n", &[])
        .expect("ledger")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(rows, [21, 23], "the failed attempt left nothing");
    server.stop();
}
