use serde_json::{json, Value};

use crate::support::{wait_for, Project, Server, BULK_DEADLINE, DEADLINE};

/// A worker that dead-letters its jobs at the first failure.
const FAILS_ONCE: &[(&str, &str)] = &[
    (
        "flux.config.ts",
        "export default { workers: { fail: { maxAttempts: 1 } } }",
    ),
    (
        "functions/fail.ts",
        "export default () => { throw new Error('nope') }",
    ),
];

/// The example project with retries in milliseconds instead of seconds.
fn fast_example() -> Project {
    let project = Project::example();
    project.write(
        "flux.config.ts",
        "export default {\n  workers: {\n    send_welcome_email: { maxAttempts: 3, timeoutSeconds: 5, backoff: { type: 'linear', initialDelay: '50ms' } },\n  },\n}\n",
    );
    project
}

fn job_records(server: &Server, function: &str) -> Vec<Value> {
    let list = server
        .get(&format!(
            "/_flux/api/records?type=job&fn={function}&limit=1000"
        ))
        .json();
    list["records"].as_array().cloned().unwrap_or_default()
}

fn stats(server: &Server, function: &str) -> Value {
    let all = server.get("/_flux/api/queue/stats").json();
    all["stats"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["function"] == function).cloned())
        .unwrap_or(Value::Null)
}

#[test]
fn the_seed_scenario_fails_three_times_dead_letters_and_replays() {
    let project = fast_example();
    let server = project.start();
    let created = server.post_json(
        "/create_user",
        r#"{"email":"ada@example.com","name":"Ada"}"#,
    );
    assert_eq!(created.status, 201);

    // The job create_user enqueued succeeds and sends the welcome email.
    let done = wait_for("the welcome job", DEADLINE, || {
        job_records(&server, "send_welcome_email")
            .into_iter()
            .find(|r| r["status"] == "ok")
    });
    let done = server.record(done["id"].as_str().expect("id"));
    assert_eq!(done["links"]["enqueued_by"], created.request_id().as_str());
    assert_eq!(done["links"]["attempt"], 1);
    assert_eq!(done["spans"][2]["name"], "email.send");
    let enqueuer = server.record(&created.request_id());
    assert_eq!(
        enqueuer["spans"][2]["name"],
        "queue.enqueue(send_welcome_email)"
    );
    assert_eq!(
        enqueuer["spans"][2]["attrs"]["job_id"],
        done["links"]["job_id"]
    );

    // A job for a user that does not exist fails every attempt, with the configured backoff.
    let (code, stdout, stderr) = project.run(&[
        "queue",
        "enqueue",
        "send_welcome_email",
        "--data",
        r#"{"userId":"u_99","email":"a@b.com"}"#,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("Enqueued send_welcome_email as job "),
        "{stdout}"
    );
    let dead = wait_for("the dead letter", DEADLINE, || {
        let (_, stdout, _) = project.run(&["queue", "dead-letter", "list"]);
        (!stdout.is_empty()).then_some(stdout)
    });
    let line = dead.lines().next().expect("a line");
    let (id, rest) = line.split_once(' ').expect("id first");
    assert_eq!(id.len(), 8);
    assert_eq!(rest, "send_welcome_email failed 3× last: user not found");

    let failures: Vec<Value> = job_records(&server, "send_welcome_email")
        .into_iter()
        .filter(|r| r["status"] == "error")
        .collect();
    assert_eq!(failures.len(), 3);
    let mut attempts: Vec<Value> = failures
        .iter()
        .map(|r| server.record(r["id"].as_str().unwrap_or("")))
        .collect();
    attempts.sort_by_key(|r| r["links"]["attempt"].as_u64());
    assert!(
        attempts[2]["id"].as_str().unwrap_or("").starts_with(id),
        "the list shows the last attempt"
    );
    assert_eq!(attempts[1]["links"]["previous_attempt"], attempts[0]["id"]);
    assert_eq!(
        attempts[0]["error"]["message"],
        "user not found (userId: u_99)"
    );
    assert_eq!(attempts[0]["error"]["location"], "send_welcome_email.ts:8");
    // Linear backoff from 50 ms: about 50 ms, then about 100 ms between attempts (±10 %). The
    // upper bounds leave room for a loaded machine and still tell it from the default
    // exponential backoff (1 s, then 4 s).
    let gap = |a: &Value, b: &Value| {
        b["started_at_us"].as_i64().unwrap_or(0)
            - a["started_at_us"].as_i64().unwrap_or(0)
            - a["duration_us"].as_i64().unwrap_or(0)
    };
    assert!(
        (44_000..850_000).contains(&gap(&attempts[0], &attempts[1])),
        "{}",
        gap(&attempts[0], &attempts[1])
    );
    assert!(
        (89_000..2_000_000).contains(&gap(&attempts[1], &attempts[2])),
        "{}",
        gap(&attempts[1], &attempts[2])
    );

    // trace shows the enqueue's outcome on the enqueuing span, and a job attempt's siblings.
    let (_, trace, _) = project.run(&["trace", &created.request_id()[..8]]);
    let job = done["links"]["job_id"].as_str().unwrap_or("").to_string();
    assert!(
        trace.contains(&format!(
            "queue.enqueue(send_welcome_email) → job {}: 1 attempt, done",
            &job[..8]
        )),
        "{trace}"
    );
    let (_, trace, _) = project.run(&["trace", id]);
    assert!(trace.contains("ATTEMPTS"), "{trace}");
    assert_eq!(
        trace
            .lines()
            .filter(|l| l.starts_with("  JOB send_welcome_email error"))
            .count(),
        3,
        "{trace}"
    );
    assert!(trace.contains("← this one"), "{trace}");

    // flux why names the query that found nothing, as the product page shows.
    let (code, why, stderr) = project.run(&["why", id]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        why,
        "ROOT CAUSE Row not found: users WHERE id = 'u_99'\n\
         LOCATION send_welcome_email.ts:6\n\
         JOB INPUT { userId: 'u_99', email: 'a@b.com' }\n\
         SUGGESTION → Check that user row is committed before enqueueing job\n\
         (consider using AFTER INSERT trigger or transactional enqueue)\n"
    );

    // Fix the cause, then replay: the new execution succeeds.
    let conn = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("store");
    conn.execute(
        "INSERT INTO users (id, email, name) VALUES ('u_99', 'a@b.com', 'Bob')",
        [],
    )
    .expect("insert");
    let (code, stdout, stderr) = project.run(&["queue", "dead-letter", "replay", id]);
    assert_eq!(code, 0, "{stderr}");
    let new_id = stdout
        .trim()
        .strip_prefix("Re-enqueued send_welcome_email as req:")
        .expect(&stdout)
        .to_string();
    let replayed = server.record(&new_id);
    assert_eq!(replayed["status"], "ok");
    assert_eq!(replayed["links"]["attempt"], 1, "a fresh attempt count");
    let (_, stdout, _) = project.run(&["queue", "dead-letter", "list"]);
    assert_eq!(stdout, "");

    // Replaying what is not dead says so and fails.
    let (code, _, stderr) = project.run(&["queue", "dead-letter", "replay", &new_id]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not dead-lettered"), "{stderr}");
    let (code, _, stderr) = project.run(&["queue", "dead-letter", "replay", "ffffffff"]);
    assert_eq!(code, 3, "{stderr}");
}

const TX_PROJECT: &[(&str, &str)] = &[
    ("migrations/001.sql", "CREATE TABLE seen (n INTEGER PRIMARY KEY);"),
    ("flux.config.ts", "export default { queue: { concurrency: 4 } }"),
    (
        "functions/burst.ts",
        r#"export default async function handler(req, ctx) {
  let committed = 0
  for (let i = 0; i < 1000; i++) {
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
    ("functions/record_n.ts", "export default async (job, ctx) => { await ctx.db.query('INSERT INTO seen (n) VALUES ($1)', [job.data.n]) }"),
];

#[test]
fn jobs_enqueued_in_rolled_back_transactions_never_exist() {
    let project = Project::with_files(TX_PROJECT);
    let server = project.start();
    let reply = server.post_json("/burst", "{}");
    assert_eq!(reply.json(), json!({ "committed": 500 }));
    wait_for("500 jobs to run", BULK_DEADLINE, || {
        (stats(&server, "record_n")["done"] == 500).then_some(())
    });
    let conn = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("store");
    let (count, odd): (i64, i64) = conn
        .query_row("SELECT count(*), sum(n % 2) FROM seen", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("count");
    assert_eq!((count, odd), (500, 0));
    let jobs: i64 = conn
        .query_row("SELECT count(*) FROM _flux_jobs", [], |r| r.get(0))
        .expect("jobs");
    assert_eq!(jobs, 500);
}

#[test]
fn committed_jobs_survive_sigkill_and_run_after_a_restart() {
    let project = Project::with_files(&[
        ("migrations/001.sql", "CREATE TABLE keys (k TEXT PRIMARY KEY);"),
        ("flux.config.ts", "export default { queue: { concurrency: 4 } }"),
        (
            "functions/put_key.ts",
            "export default async (job, ctx) => {\n  await new Promise((r) => setTimeout(r, 5))\n  await ctx.db.query('INSERT OR IGNORE INTO keys (k) VALUES ($1)', [job.data.key])\n}\n",
        ),
    ]);
    let keys = |project: &Project| -> i64 {
        let conn = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("store");
        conn.query_row("SELECT count(*) FROM keys", [], |r| r.get(0))
            .unwrap_or(0)
    };
    let server = project.start();
    server.post("/_flux/api/queue/pause");
    let jobs: Vec<Value> = (0..1000)
        .map(|i| json!({ "name": "put_key", "data": { "key": format!("k{i}") } }))
        .collect();
    server.enqueue(&Value::Array(jobs));
    server.post("/_flux/api/queue/resume");

    let mut server = Some(server);
    for threshold in [100, 400, 700] {
        let running = server.take().expect("server");
        wait_for("some keys", BULK_DEADLINE, || {
            (keys(&project) >= threshold).then_some(())
        });
        unsafe {
            libc::kill(running.pid() as i32, libc::SIGKILL);
        }
        drop(running);
        server = Some(project.start());
    }
    let server = server.expect("server");
    wait_for("all 1000 keys", BULK_DEADLINE, || {
        (keys(&project) == 1000).then_some(())
    });
    wait_for("no job left waiting or running", DEADLINE, || {
        let row = stats(&server, "put_key");
        (row["pending"] == 0 && row["running"] == 0 && row["scheduled"] == 0).then_some(())
    });
    assert_eq!(stats(&server, "put_key")["dead"], 0);
}

#[test]
fn a_timed_out_attempt_is_killed_recorded_and_retried_until_dead() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { workers: {\n  spin: { maxAttempts: 2, timeoutSeconds: 0.2, backoff: { type: 'exponential', initialDelay: 10 } },\n  wait: { maxAttempts: 1, timeoutSeconds: 0.2 },\n} }",
        ),
        ("functions/spin.ts", "export default () => { while (true) {} }"),
        ("functions/wait.ts", "export default async () => { await new Promise(() => {}) }"),
    ]);
    let server = project.start();
    for name in ["spin", "wait"] {
        server.enqueue(&json!({ "name": name }));
    }
    wait_for("both jobs dead", DEADLINE, || {
        (stats(&server, "spin")["dead"] == 1 && stats(&server, "wait")["dead"] == 1).then_some(())
    });
    let spins = job_records(&server, "spin");
    assert_eq!(spins.len(), 2);
    assert!(spins.iter().all(|r| r["status"] == "timeout"), "{spins:?}");
    let wait = server.record(job_records(&server, "wait")[0]["id"].as_str().expect("id"));
    assert_eq!(wait["status"], "timeout");
    assert!(
        wait["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("timed out after 200ms"),
        "{wait}"
    );
    // HTTP still answers while jobs spin and after.
    assert_eq!(server.get("/_flux/api/health").status, 200);
}

#[cfg(target_os = "linux")]
#[test]
fn spinning_jobs_do_not_starve_http_requests() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { workers: { spin: { maxAttempts: 1, timeoutSeconds: 600 } } }",
        ),
        (
            "functions/spin.ts",
            "export default () => { while (true) {} }",
        ),
        (
            "functions/burst.ts",
            "export default () => { const end = Date.now() + 300; while (Date.now() < end) {} }",
        ),
        ("functions/ping.ts", "export default () => 'pong'"),
    ]);
    let server = project.start();
    // Job engines give way to requests during long slices of JS only, where flux may raise
    // their priority again afterwards (as root here); elsewhere they are lowered for good.
    // Relative to the nice value the server inherits from this process (`nice cargo test`).
    // SAFETY: a plain syscall about this process.
    let base = i64::from(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) });
    let lowered = (base + 10).min(19);
    let per_slice = can_raise_priority_again();
    let idle = if per_slice { base } else { lowered };
    let nices = || job_engine_nices(server.pid());
    wait_for("the job engines idle at their priority", DEADLINE, || {
        let nices = nices();
        (!nices.is_empty() && nices.iter().all(|nice| *nice == idle)).then_some(())
    });
    server.enqueue(&json!({ "name": "burst" }));
    wait_for("the burst's engine lowered", DEADLINE, || {
        nices().contains(&lowered).then_some(())
    });
    wait_for("every engine back after the burst", DEADLINE, || {
        (stats(&server, "burst")["done"] == 1 && nices().iter().all(|nice| *nice == idle))
            .then_some(())
    });

    for _ in 0..2 {
        server.enqueue(&json!({ "name": "spin" }));
    }
    wait_for("both jobs running", DEADLINE, || {
        (stats(&server, "spin")["running"] == 2).then_some(())
    });
    wait_for("the spinning engines lowered", DEADLINE, || {
        (nices().iter().filter(|nice| **nice == lowered).count() >= 2).then_some(())
    });
    // Every request is answered while both jobs spin (they would for ten minutes): none waits
    // for a spinning job to be stopped. The benchmark measures latency; this guards against
    // starvation.
    for _ in 0..40 {
        assert_eq!(server.get("/ping").json(), "pong");
    }
    assert_eq!(
        stats(&server, "spin")["running"],
        2,
        "the jobs stopped spinning before the requests were answered"
    );
}

#[cfg(target_os = "linux")]
/// Whether a thread of this process may lower its nice value again once it raised it (root,
/// `CAP_SYS_NICE` or `RLIMIT_NICE`), as flux's job engines try at their start.
fn can_raise_priority_again() -> bool {
    std::thread::spawn(|| {
        // SAFETY: plain syscalls about the calling thread.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let base = libc::getpriority(libc::PRIO_PROCESS, tid);
            libc::setpriority(libc::PRIO_PROCESS, tid, (base + 10).min(19)) == 0
                && libc::setpriority(libc::PRIO_PROCESS, tid, base) == 0
        }
    })
    .join()
    .unwrap_or(false)
}

#[cfg(target_os = "linux")]
/// The nice values of a process's job engine threads (`flux-job-N`), from `/proc`.
fn job_engine_nices(pid: u32) -> Vec<i64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    let mut nices = Vec::new();
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `tid (comm) state …`: the name may hold anything; the fields follow its last ')'.
        let Some((head, fields)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.contains("(flux-job-") {
            continue;
        }
        // After the name: state is field 3 of `proc_pid_stat(5)`, nice field 19.
        if let Some(nice) = fields.split_whitespace().nth(16) {
            nices.push(nice.parse().unwrap_or(i64::MIN));
        }
    }
    nices
}

#[test]
fn enqueue_options_and_errors_reach_the_caller() {
    let project = Project::with_files(&[
        ("functions/work.ts", "export default (job) => job.data"),
        (
            "functions/enqueue.ts",
            r#"export default async function handler(req, ctx) {
  const out = {}
  try { await ctx.queue.enqueue('no_such_worker', {}) } catch (e) { out.unknown = e.message }
  try { await ctx.queue.enqueue('work', {}, { delay: 'soon' }) } catch (e) { out.badDelay = e.message }
  const first = await ctx.queue.enqueue('work', { n: 1 }, { idempotencyKey: 'k1' })
  const again = await ctx.queue.enqueue('work', { n: 2 }, { idempotencyKey: 'k1' })
  out.sameId = first.id === again.id
  const later = await ctx.queue.enqueue('work', { n: 3 }, { delay: '1h' })
  out.later = later.id.length
  return out
}
"#,
        ),
    ]);
    let server = project.start();
    let reply = server.get("/enqueue");
    let body = reply.json();
    assert_eq!(
        body["unknown"],
        "no worker named 'no_such_worker': create functions/no_such_worker.ts to handle these jobs"
    );
    assert!(
        body["badDelay"]
            .as_str()
            .unwrap_or("")
            .contains("delay 'soon'"),
        "{body}"
    );
    assert_eq!(body["sameId"], true);
    assert_eq!(body["later"], 32);
    let record = server.record(&reply.request_id());
    let enqueue_span = record["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .find(|s| s["name"] == "queue.enqueue(no_such_worker)")
        .cloned();
    assert_eq!(
        enqueue_span.map(|s| s["status"].clone()),
        None,
        "the unknown worker fails before any span"
    );
    wait_for("the first job", DEADLINE, || {
        (stats(&server, "work")["done"] == 1).then_some(())
    });
    let row = stats(&server, "work");
    assert_eq!(
        (row["scheduled"].clone(), row["pending"].clone()),
        (json!(1), json!(0))
    );
    let (code, stdout, _) = project.run(&["queue", "stats"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("FUNCTION") && stdout.contains("work"),
        "{stdout}"
    );
    let (code, stdout, _) = project.run(&["queue", "list", "--state", "scheduled", "--json"]);
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(listed[0]["data"], json!({ "n": 3 }));
}

#[test]
fn ctrl_c_interrupts_running_attempts_and_they_run_again_on_the_next_start() {
    let project = Project::with_files(&[
        ("flux.config.ts", "export default { shutdown: { graceSeconds: 0.2 } }"),
        ("migrations/001.sql", "CREATE TABLE runs (at INTEGER);"),
        (
            "functions/slow_job.ts",
            "export default async (job, ctx) => {\n  await ctx.db.query('INSERT INTO runs (at) VALUES ($1)', [Date.now()])\n  if (job.attempt === 1 && (await ctx.db.query('SELECT count(*) AS n FROM runs'))[0].n === 1) await new Promise((r) => setTimeout(r, 60000))\n}\n",
        ),
    ]);
    let server = project.start();
    server.enqueue(&json!({ "name": "slow_job" }));
    wait_for("the attempt to start", DEADLINE, || {
        (stats(&server, "slow_job")["running"] == 1).then_some(())
    });
    server.stop();
    let server = project.start();
    wait_for("the job to run again and finish", DEADLINE, || {
        (stats(&server, "slow_job")["done"] == 1).then_some(())
    });
    let records = job_records(&server, "slow_job");
    let statuses: Vec<&str> = records
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect();
    assert!(
        statuses.contains(&"interrupted") && statuses.contains(&"ok"),
        "{statuses:?}"
    );
    let ok = records.iter().find(|r| r["status"] == "ok").expect("ok");
    assert_eq!(
        server.record(ok["id"].as_str().expect("id"))["links"]["attempt"],
        1,
        "the interrupted attempt did not count"
    );
}

#[test]
fn replay_all_prints_one_json_line_per_job_when_piped() {
    let project = Project::with_files(FAILS_ONCE);
    let server = project.start();
    for i in 0..3 {
        server.enqueue(&json!({ "name": "fail", "data": i }));
    }
    wait_for("three dead jobs", DEADLINE, || {
        (stats(&server, "fail")["dead"] == 3).then_some(())
    });
    let (code, stdout, _) = project.run(&["queue", "dead-letter", "list", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout)
            .expect("json")
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let (code, stdout, stderr) = project.run(&[
        "queue",
        "dead-letter",
        "replay",
        "--all",
        "--filter",
        "fn=fail",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .all(|l| l["name"] == "fail" && l["exec_id"].as_str().is_some()));
    let (code, _, stderr) = project.run(&[
        "queue",
        "dead-letter",
        "replay",
        "--all",
        "--filter",
        "colour=red",
    ]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn queue_commands_read_the_store_when_no_server_runs() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { workers: { fail: { maxAttempts: 1 } } }",
        ),
        (
            "functions/fail.ts",
            "export default () => { throw new Error('gone (detail)') }",
        ),
    ]);
    let server = project.start();
    server.enqueue(&json!({ "name": "fail" }));
    wait_for("a dead job", DEADLINE, || {
        (stats(&server, "fail")["dead"] == 1).then_some(())
    });
    server.stop();
    let (code, stdout, stderr) = project.run(&["queue", "dead-letter", "list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.ends_with(" fail failed 1× last: gone\n"), "{stdout}");
    let (code, _, stderr) = project.run(&["queue", "stats"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = project.run(&["queue", "dead-letter", "replay", &stdout[..8]]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("start 'flux dev'"), "{stderr}");
}

#[test]
fn a_config_edited_while_running_is_reloaded_or_its_error_shown_without_losing_jobs() {
    let project = Project::with_files(FAILS_ONCE);
    let server = project.start();
    project.write(
        "flux.config.ts",
        "export default { workers: { fail: { maxAttempts: 'two' } } }",
    );
    let output = server.wait_for_output("keeping the previous config");
    assert!(output.contains("workers.fail.maxAttempts"), "{output}");
    server.enqueue(&json!({ "name": "fail" }));
    wait_for("the job to die after its one attempt", DEADLINE, || {
        (stats(&server, "fail")["dead"] == 1).then_some(())
    });
    project.write("flux.config.ts", "export default { workers: { fail: { maxAttempts: 2, backoff: { type: 'linear', initialDelay: 10 } } } }");
    server.wait_for_output("flux.config.ts reloaded");
    server.enqueue(&json!({ "name": "fail" }));
    wait_for("the second job to use two attempts", DEADLINE, || {
        (stats(&server, "fail")["dead"] == 2).then_some(())
    });
    assert_eq!(job_records(&server, "fail").len(), 3);
}
