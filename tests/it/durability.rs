//! An acknowledged write is a committed write: under concurrent conflicts, a full disk, a
//! deferred foreign key and a killed process, what a caller was told matches what is stored.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{wait_for, Project, Server, BULK_DEADLINE, DEADLINE};

/// Ids in `table` of the project's store, read straight from the file.
fn stored_ids(project: &Project, table: &str) -> BTreeSet<String> {
    let db = project.path().join(".flux/flux.db");
    let conn = rusqlite::Connection::open(db).expect("open store");
    conn.busy_timeout(Duration::from_secs(5)).expect("timeout");
    let mut stmt = conn
        .prepare(&format!("SELECT id FROM {table}"))
        .expect("query");
    let ids = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("ids");
    ids
}

/// What callers were told: ids answered 2xx, and the replies of those answered 5xx.
#[derive(Default)]
struct Answers {
    acknowledged: BTreeSet<String>,
    failed: Vec<(String, u16, String)>,
}

/// `threads` clients posting `{ id }` to `/put` until `stop` says so or each sent `max`.
fn put_load(
    server: &Server,
    threads: usize,
    max: usize,
    body_pad: usize,
    stop: &AtomicBool,
) -> Answers {
    let answers = Mutex::new(Answers::default());
    let sent = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let answers = &answers;
            let sent = &sent;
            scope.spawn(move || {
                for i in 0..max {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let id = format!("t{t}-{i}");
                    let body = json!({ "id": id, "pad": "x".repeat(body_pad) }).to_string();
                    let reply = server.post_json("/put", &body);
                    sent.fetch_add(1, Ordering::SeqCst);
                    let mut answers = answers.lock().expect("lock");
                    match reply.status {
                        200..=299 => {
                            answers.acknowledged.insert(id);
                        }
                        status => answers.failed.push((id, status, reply.body)),
                    }
                }
            });
        }
    });
    answers.into_inner().expect("lock")
}

const PUT: &str = "export default async (req, ctx) => {
  await ctx.db.query('INSERT INTO items (id, pad) VALUES ($1, $2)', [req.body.id, req.body.pad])
  // A moment between the write and the response, for another statement to undo the write.
  await new Promise((r) => setTimeout(r, 10))
  return { ok: true }
}
";

#[test]
fn writes_undone_by_another_executions_rollback_are_never_acknowledged() {
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE items (id TEXT PRIMARY KEY, pad TEXT);
             CREATE TABLE once (k TEXT PRIMARY KEY ON CONFLICT ROLLBACK);
             INSERT INTO once VALUES ('taken');",
        ),
        ("functions/put.ts", PUT),
        (
            "functions/conflict.ts",
            "export default async (req, ctx) => {
  try {
    await ctx.db.query(\"INSERT INTO once (k) VALUES ('taken')\")
  } catch (e) {
    return new Response('conflict', { status: 409 })
  }
}
",
        ),
        (
            "flux.config.ts",
            "export default { http: { concurrency: 8 } }",
        ),
    ]);
    let server = project.start();
    let stop = AtomicBool::new(false);
    let conflicts = AtomicUsize::new(0);
    let answers = std::thread::scope(|scope| {
        let conflicting = scope.spawn(|| {
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                let reply = server.post_json("/conflict", "{}");
                assert_eq!(reply.status, 409, "{}", reply.body);
                conflicts.fetch_add(1, Ordering::SeqCst);
            }
        });
        let answers = put_load(&server, 6, 150, 0, &AtomicBool::new(false));
        stop.store(true, Ordering::SeqCst);
        conflicting.join().expect("conflicting thread");
        answers
    });
    assert!(conflicts.load(Ordering::SeqCst) > 0);
    assert!(
        !answers.failed.is_empty(),
        "no write was ever undone: the test did not exercise the conflict"
    );
    for (id, status, body) in &answers.failed {
        assert_eq!(*status, 500, "{id}: {body}");
        assert!(body.contains("WritesLost"), "{id}: {body}");
    }
    let stored = stored_ids(&project, "items");
    let lost: Vec<_> = answers.acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    let failed: BTreeSet<String> = answers.failed.iter().map(|f| f.0.clone()).collect();
    let unacknowledged: Vec<_> = stored.intersection(&failed).collect();
    assert!(
        unacknowledged.is_empty(),
        "answered 500 but stored: {unacknowledged:?}"
    );
    // The failed request's record says why.
    let (_, _, body) = &answers.failed[0];
    let request_id = serde_json::from_str::<Value>(body).expect("json")["requestId"]
        .as_str()
        .expect("request id")
        .to_string();
    let record = server.record(&request_id);
    assert_eq!(record["status"], "error");
    assert_eq!(record["error"]["name"], "WritesLost");
    assert!(
        record["mutations"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["committed"] == false)),
        "{record}"
    );
}

#[test]
fn a_deferred_foreign_key_left_unresolved_fails_its_writer_alone() {
    // SQLite checks a deferred foreign key only at the outermost COMMIT, which flux shares
    // among the writes of every execution: left to it, one function's orphan would fail every
    // other caller's writes in that commit.
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE parent (id TEXT PRIMARY KEY);
             CREATE TABLE child (id TEXT PRIMARY KEY,
               parent TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TABLE items (id TEXT PRIMARY KEY, pad TEXT);",
        ),
        ("functions/put.ts", PUT),
        (
            "functions/orphan.ts",
            "export default async (req, ctx) => {
  if (req.body.alone) {
    await ctx.db.query(\"INSERT INTO child (id, parent) VALUES ($1, 'missing')\", [req.body.id])
  } else {
    await ctx.db.transaction(async (tx) => {
      await tx.query(\"INSERT INTO child (id, parent) VALUES ($1, 'missing')\", [req.body.id])
    })
  }
  return { ok: true }
}
",
        ),
        (
            "functions/family.ts",
            "export default async (req, ctx) => {
  await ctx.db.transaction(async (tx) => {
    await tx.query(\"INSERT INTO child (id, parent) VALUES ($1, $1)\", [req.body.id])
    await tx.query('INSERT INTO parent (id) VALUES ($1)', [req.body.id])
  })
  return { ok: true }
}
",
        ),
    ]);
    let server = project.start();
    for alone in [true, false] {
        let orphan = server.post_json(
            "/orphan",
            &json!({ "id": "c1", "alone": alone }).to_string(),
        );
        assert_eq!(orphan.status, 500, "{}", orphan.body);
        assert!(orphan.body.contains("FOREIGN KEY"), "{}", orphan.body);
    }
    // Resolved before its transaction ends, it commits.
    let family = server.post_json("/family", r#"{"id":"f1"}"#);
    assert_eq!(family.status, 200, "{}", family.body);
    // Orphans beside ordinary writes: every ordinary write is acknowledged and stored.
    let stop = AtomicBool::new(false);
    let answers = std::thread::scope(|scope| {
        let orphans = scope.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 200 {
                let body = json!({ "id": format!("o{n}"), "alone": n % 2 == 0 }).to_string();
                let reply = server.post_json("/orphan", &body);
                assert_eq!(reply.status, 500, "{}", reply.body);
                assert!(reply.body.contains("FOREIGN KEY"), "{}", reply.body);
                n += 1;
            }
        });
        let answers = put_load(&server, 4, 60, 0, &AtomicBool::new(false));
        stop.store(true, Ordering::SeqCst);
        orphans.join().expect("orphans");
        answers
    });
    assert!(
        answers.failed.is_empty(),
        "writes failed beside an orphan: {:?}",
        answers.failed
    );
    let stored = stored_ids(&project, "items");
    let lost: Vec<_> = answers.acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert_eq!(
        stored_ids(&project, "child"),
        BTreeSet::from(["f1".to_string()])
    );
}

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped.
struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("mkdir");
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill it, which needs root (CI runs as root)"
        );
        SmallDisk {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn on_a_full_disk_every_acknowledged_write_is_stored_and_flux_recovers() {
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE items (id TEXT PRIMARY KEY, pad TEXT);
             CREATE TABLE effects (id TEXT PRIMARY KEY);",
        ),
        (
            "functions/put.ts",
            "export default async (req, ctx) => {
  await ctx.db.query('INSERT INTO items (id, pad) VALUES ($1, $2)', [req.body.id, req.body.pad])
  await ctx.queue.enqueue('effect', { id: req.body.id })
  return { ok: true }
}
",
        ),
        (
            "functions/effect.ts",
            "export default async (job, ctx) => {
  await ctx.db.query('INSERT OR IGNORE INTO effects (id) VALUES ($1)', [job.data.id])
}
",
        ),
    ]);
    // The store lives on a small disk, beside a file that frees room once removed.
    let store_dir = project.path().join(".flux");
    let disk = SmallDisk::mount(&store_dir, "8m");
    let filler = store_dir.join("filler");
    std::fs::write(&filler, vec![0u8; 4 * 1024 * 1024]).expect("filler");
    let server = project.start();
    let stop = AtomicBool::new(false);
    let answers = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            // Go on a while after the disk fills, so that commits fail again and again.
            let filled = wait_for("the disk to fill", Duration::from_secs(60), || {
                (free_bytes(&store_dir) < 64 * 1024).then(Instant::now)
            });
            while !stop.load(Ordering::SeqCst) && filled.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(20));
            }
            stop.store(true, Ordering::SeqCst);
        });
        let answers = put_load(&server, 4, 5_000, 2_000, &stop);
        stop.store(true, Ordering::SeqCst);
        watcher.join().expect("watcher");
        answers
    });
    assert!(
        !answers.failed.is_empty(),
        "the disk never filled: the test did not exercise a full disk"
    );
    for (id, status, body) in &answers.failed {
        assert!(*status >= 500, "{id}: {status} {body}");
    }
    // Room again: flux takes writes and stores what waited.
    std::fs::remove_file(&filler).expect("free room");
    let after = wait_for("a write to succeed again", DEADLINE, || {
        let reply = server.post_json("/put", r#"{"id":"after","pad":""}"#);
        (reply.status == 200).then_some(reply)
    });
    let stored = stored_ids(&project, "items");
    let lost: Vec<_> = answers.acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert!(stored.contains("after"));
    server.record(&after.request_id());
    // Every acknowledged request has its record: none was dropped while the disk was full.
    let ok_records = wait_for(
        "the records of the acknowledged requests",
        BULK_DEADLINE,
        || {
            let list = server
                .get("/_flux/api/records?fn=put&status=ok&limit=100000")
                .json();
            let n = list["records"].as_array().map_or(0, Vec::len);
            (n > answers.acknowledged.len()).then_some(n)
        },
    );
    assert_eq!(
        ok_records,
        answers.acknowledged.len() + 1,
        "the acknowledged ones and 'after'"
    );
    // Every acknowledged request's job ran, and no attempt ran twice under one id.
    wait_for("the queue to drain", BULK_DEADLINE, || {
        let stats = server.get("/_flux/api/queue/stats").json();
        let waiting = stats["stats"].as_array().is_some_and(|rows| {
            rows.iter().any(|r| {
                ["pending", "scheduled", "running"]
                    .iter()
                    .any(|k| r[*k].as_u64().unwrap_or(0) > 0)
            })
        });
        (!waiting).then_some(())
    });
    let effects = stored_ids(&project, "effects");
    let without: Vec<_> = answers.acknowledged.difference(&effects).collect();
    assert!(
        without.is_empty(),
        "acknowledged, but their job never ran: {without:?}"
    );
    // A request told its writes were lost did not get them all: its insert may have committed
    // before the failed commit (each statement stands alone), its enqueue did not.
    let all_done: Vec<_> = answers
        .failed
        .iter()
        .filter(|f| f.2.contains("WritesLost") && stored.contains(&f.0) && effects.contains(&f.0))
        .collect();
    assert!(
        all_done.is_empty(),
        "answered WritesLost, yet every write stored: {all_done:?}"
    );
    let conn = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("store");
    let twice: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT id FROM _flux_records GROUP BY id HAVING count(*) > 1)",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(twice, 0, "execution ids recorded more than once");
    // A job whose enqueue was in a failed commit was never stored: it never started (a claim
    // reading the open transaction could start it before that commit failed).
    only_stored_jobs_ran(&project);
    drop(server);
    drop(disk);
}

/// Bytes free on the filesystem holding `path`.
fn free_bytes(path: &Path) -> u64 {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) };
    assert_eq!(rc, 0, "statvfs");
    stats.f_bavail as u64 * stats.f_frsize as u64
}

const ATOMIC_PROJECT: &[(&str, &str)] = &[
    (
        "migrations/001.sql",
        "CREATE TABLE charges (id INTEGER PRIMARY KEY, job TEXT NOT NULL);",
    ),
    (
        "flux.config.ts",
        "export default { workers: {
  charge_atomic: { atomic: true, backoff: { type: 'linear', initialDelay: '10ms' } },
  charge_plain: { backoff: { type: 'linear', initialDelay: '10ms' } },
} }",
    ),
    (
        "functions/charge_atomic.ts",
        "export default async (job, ctx) => {
  await ctx.db.query('INSERT INTO charges (job) VALUES ($1)', [job.id])
  await ctx.db.transaction(async (tx) => {
    await tx.query('INSERT INTO charges (job) VALUES ($1)', [job.id])
  })
  if (job.attempt === 1) throw new Error('the card was declined')
}
",
    ),
    (
        "functions/charge_plain.ts",
        "export default async (job, ctx) => {
  await ctx.db.query('INSERT INTO charges (job) VALUES ($1)', [job.id])
  if (job.attempt === 1) throw new Error('the card was declined')
}
",
    ),
];

fn charges(project: &Project, job: &str) -> i64 {
    let conn = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("store");
    conn.query_row("SELECT count(*) FROM charges WHERE job = ?1", [job], |r| {
        r.get(0)
    })
    .expect("count")
}

fn job_state(server: &Server, id: &str) -> Value {
    server.get(&format!("/_flux/api/jobs/{id}")).json()
}

#[test]
fn an_atomic_attempt_keeps_its_writes_only_if_it_succeeds_a_plain_one_keeps_them() {
    let project = Project::with_files(ATOMIC_PROJECT);
    let server = project.start();
    let enqueued = server
        .enqueue(&json!([
            { "name": "charge_atomic", "data": {} },
            { "name": "charge_plain", "data": {} },
        ]))
        .json();
    let ids: Vec<String> = enqueued["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["id"].as_str().expect("id").to_string())
        .collect();
    for id in &ids {
        wait_for("the job to be done", DEADLINE, || {
            (job_state(&server, id)["job"]["state"] == "done").then_some(())
        });
    }
    // The failed atomic attempt's two inserts were rolled back; the successful one's kept.
    assert_eq!(charges(&project, &ids[0]), 2);
    // A plain attempt's writes stand on their own: the retry wrote a second row.
    assert_eq!(charges(&project, &ids[1]), 2);
    let first = server.record(
        job_state(&server, &ids[0])["attempts"][0]["id"]
            .as_str()
            .expect("first attempt"),
    );
    assert!(
        first["mutations"]
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|m| m["committed"] == false)),
        "{first}"
    );
}

#[test]
fn an_attempt_killed_after_committing_writes_leaves_a_record_and_runs_again() {
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE marks (id TEXT PRIMARY KEY);",
        ),
        (
            "functions/slow_job.ts",
            "export default async (job, ctx) => {
  const seen = await ctx.db.query('SELECT id FROM marks WHERE id = $1', [job.id])
  if (seen.length > 0) return { again: true }
  await ctx.db.query('INSERT INTO marks (id) VALUES ($1)', [job.id])
  await new Promise((r) => setTimeout(r, 60000))
}
",
        ),
    ]);
    let server = project.start();
    let job = server
        .enqueue(&json!({ "name": "slow_job", "data": {} }))
        .json();
    let job_id = job["jobs"][0]["id"].as_str().expect("job id").to_string();
    wait_for("the attempt's write to be committed", DEADLINE, || {
        stored_ids(&project, "marks")
            .contains(&job_id)
            .then_some(())
    });
    unsafe {
        libc::kill(server.pid() as i32, libc::SIGKILL);
    }
    drop(server);
    let server = project.start();
    wait_for("the job to be done", DEADLINE, || {
        (job_state(&server, &job_id)["job"]["state"] == "done").then_some(())
    });
    let attempts = job_state(&server, &job_id)["attempts"].clone();
    let attempts = attempts.as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let killed = server.record(attempts[0]["id"].as_str().expect("id"));
    assert_eq!(killed["status"], "interrupted", "{killed}");
    assert!(
        killed["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("killed")),
        "{killed}"
    );
    let rerun = server.record(attempts[1]["id"].as_str().expect("id"));
    assert_eq!(rerun["status"], "ok");
    assert_eq!(rerun["output"]["again"], true);
    // The record made at the restart is searchable by its error, as any other.
    let found = server.get("/_flux/api/records?q=was%20killed%20while");
    assert_eq!(found.status, 200, "{}", found.body);
    let ids: Vec<Value> = found.json()["records"]
        .as_array()
        .map(|records| records.iter().map(|r| r["id"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(ids, [attempts[0]["id"].clone()], "{}", found.body);
}

/// Asserts that no `effect` job ran (a row in `effects`) or started (an attempt's record)
/// without its job stored: none whose enqueue was undone or failed to commit. Returns the
/// stored jobs' `data.id`s.
fn only_stored_jobs_ran(project: &Project) -> BTreeSet<String> {
    let conn = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("store");
    let ids = |sql: &str| -> BTreeSet<String> {
        let mut stmt = conn.prepare(sql).expect("query");
        stmt.query_map([], |row| row.get::<_, String>(0))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("ids")
    };
    let jobs = ids("SELECT json_extract(data, '$.id') FROM _flux_jobs WHERE name = 'effect'");
    let effects = stored_ids(project, "effects");
    let without_job: Vec<_> = effects.difference(&jobs).collect();
    assert!(
        without_job.is_empty(),
        "jobs never stored ran: {without_job:?}"
    );
    let attempts_without_job = ids(
        "SELECT r.job_id FROM _flux_records r WHERE r.function = 'effect'
         AND NOT EXISTS (SELECT 1 FROM _flux_jobs j WHERE j.id = r.job_id)",
    );
    assert!(
        attempts_without_job.is_empty(),
        "jobs never stored started: {attempts_without_job:?}"
    );
    jobs
}

/// `once` undoes the store's whole transaction when written again (ON CONFLICT ROLLBACK);
/// `effects` is what jobs did.
const UNDOING_SCHEMA: &str = "CREATE TABLE once (k TEXT PRIMARY KEY ON CONFLICT ROLLBACK);
INSERT INTO once VALUES ('taken');
CREATE TABLE effects (id TEXT PRIMARY KEY);";

#[test]
fn a_job_whose_enqueue_was_undone_never_runs() {
    // Each request enqueues a job beside a write that undoes the store's shared transaction
    // (ON CONFLICT ROLLBACK): the request fails, and a job whose enqueue was in that
    // transaction was never stored, so it must never start. (Claims wait for an enqueue's
    // commit: a claim reading the open transaction could start the job before a commit that
    // then failed. A deferred foreign key made such commits fail until it was checked at each
    // write's own end; now a full disk or an I/O error can, and the store thread's unit test
    // `no_claim_reads_an_enqueue_before_its_commit_and_one_follows_it` covers that.)
    let project = Project::with_files(&[
        ("migrations/001.sql", UNDOING_SCHEMA),
        (
            "functions/orphan.ts",
            "export default async (req, ctx) => {
  await Promise.all([
    ctx.queue.enqueue('effect', { id: req.body.id }),
    ctx.db.query(\"INSERT INTO once (k) VALUES ('taken')\"),
  ])
  return { ok: true }
}
",
        ),
        (
            "functions/mark.ts",
            "export default async (req, ctx) => {
  await ctx.queue.enqueue('effect', { id: 'marker' })
  return { ok: true }
}
",
        ),
        (
            "functions/effect.ts",
            "export default async (job, ctx) => {
  await ctx.db.query('INSERT OR IGNORE INTO effects (id) VALUES ($1)', [job.data.id])
}
",
        ),
    ]);
    let server = project.start();
    for n in 0..200 {
        let reply = server.post_json("/orphan", &json!({ "id": format!("o{n}") }).to_string());
        assert_eq!(reply.status, 500, "{}", reply.body);
        // Its statement's error, or, when its enqueue was undone with it, that.
        assert!(
            reply.body.contains("UNIQUE") || reply.body.contains("WritesLost"),
            "{}",
            reply.body
        );
    }
    // A job enqueued after them runs; by then any of theirs that started has run too.
    assert_eq!(server.post_json("/mark", "{}").status, 200);
    wait_for("the marker job to run", DEADLINE, || {
        stored_ids(&project, "effects")
            .contains("marker")
            .then_some(())
    });
    // A stop lets every attempt that started end and stores its record, whether or not it
    // wrote its effect.
    server.stop();
    // An enqueue may have committed alone, ahead of the failing write (each lone write stands
    // alone): such a job exists and runs. None other may.
    assert!(only_stored_jobs_ran(&project).contains("marker"));
}

#[test]
fn an_api_enqueue_or_replay_undone_with_its_transaction_never_runs() {
    // As above, through the API: enqueues and dead-letter replays share the store's
    // transaction with other callers' writes, here requests whose statement undoes it. An
    // enqueue or a replay answered with an error was never stored, so its job (or its replayed
    // payload) must never start; one answered 201 or 200 must.
    let project = Project::with_files(&[
        ("migrations/001.sql", UNDOING_SCHEMA),
        (
            "functions/conflict.ts",
            "export default async (req, ctx) => {
  await ctx.db.query(\"INSERT INTO once (k) VALUES ('taken')\")
}
",
        ),
        (
            "functions/effect.ts",
            "export default async (job, ctx) => {
  if (job.data.fail) throw new Error('dies until replayed with new data')
  await ctx.db.query('INSERT OR IGNORE INTO effects (id) VALUES ($1)', [job.data.id])
}
",
        ),
        (
            "flux.config.ts",
            // A job's own write may be undone too (its attempt is told so and fails): it runs
            // again.
            "export default { workers: { effect: { maxAttempts: 20, backoff: { type: 'linear', initialDelay: '10ms' } } } }",
        ),
    ]);
    let server = project.start();
    const DEAD: usize = 60;
    let dead: Vec<String> = (0..DEAD)
        .map(|n| {
            let reply = server.enqueue(
                &json!({ "name": "effect", "data": { "id": format!("d{n}"), "fail": true } }),
            );
            reply.json()["jobs"][0]["id"]
                .as_str()
                .expect("job id")
                .to_string()
        })
        .collect();
    for job in &dead {
        server.wait_dead(job);
    }
    let stop = AtomicBool::new(false);
    let conflicts = AtomicUsize::new(0);
    // Ids of effects whose enqueue or replay was acknowledged, and of those answered otherwise.
    let acknowledged = Mutex::new(BTreeSet::new());
    let refused = Mutex::new(BTreeSet::new());
    let answer = |id: String, ok: bool| {
        let answers = if ok { &acknowledged } else { &refused };
        answers.lock().expect("answers").insert(id);
    };
    std::thread::scope(|scope| {
        for thread in 0..2 {
            let (server, stop, conflicts) = (&server, &stop, &conflicts);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let reply = server.post_json("/conflict", "{}");
                    assert_eq!(reply.status, 500, "{}", reply.body);
                    assert!(reply.body.contains("UNIQUE"), "{thread}: {}", reply.body);
                    conflicts.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let (server, dead, answer) = (&server, &dead, &answer);
        let enqueues = scope.spawn(move || {
            for n in 0..200 {
                let id = format!("a{n}");
                let reply = server.send(
                    server
                        .request(reqwest::Method::POST, "/_flux/api/jobs")
                        .json(&json!({ "name": "effect", "data": { "id": id } })),
                );
                answer(id, reply.status == 201);
            }
        });
        let replays = scope.spawn(move || {
            for (n, job) in dead.iter().enumerate() {
                let id = format!("r{n}");
                let reply = server.send(
                    server
                        .request(
                            reqwest::Method::POST,
                            &format!("/_flux/api/dead-letter/{job}/replay"),
                        )
                        .json(&json!({ "data": { "id": id } })),
                );
                answer(id, reply.status == 200);
            }
        });
        enqueues.join().expect("enqueues");
        replays.join().expect("replays");
        stop.store(true, Ordering::Relaxed);
    });
    assert!(conflicts.load(Ordering::Relaxed) > 0);
    let acknowledged = acknowledged.into_inner().expect("answers");
    let refused = refused.into_inner().expect("answers");
    // A job enqueued after them runs; by then any of theirs that started has run too.
    server.enqueue(&json!({ "name": "effect", "data": { "id": "marker" } }));
    wait_for("every acknowledged job to run", BULK_DEADLINE, || {
        let effects = stored_ids(&project, "effects");
        (effects.contains("marker") && acknowledged.is_subset(&effects)).then_some(())
    });
    server.stop();
    let effects = stored_ids(&project, "effects");
    let ran_unstored: Vec<_> = effects.intersection(&refused).collect();
    assert!(
        ran_unstored.is_empty(),
        "jobs whose enqueue or replay was undone ran ({} of {} refused): {ran_unstored:?}",
        ran_unstored.len(),
        refused.len()
    );
    let unknown: Vec<_> = effects
        .iter()
        .filter(|id| *id != "marker" && !acknowledged.contains(*id))
        .collect();
    assert!(unknown.is_empty(), "effects of no call: {unknown:?}");
    eprintln!(
        "{} enqueues and replays acknowledged, {} refused",
        acknowledged.len(),
        refused.len()
    );
}
