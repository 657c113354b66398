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
fn a_deferred_foreign_key_that_fails_the_commit_fails_its_writers_not_the_store() {
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
  await ctx.db.transaction(async (tx) => {
    await tx.query(\"INSERT INTO child (id, parent) VALUES ($1, 'missing')\", [req.body.id])
  })
  return { ok: true }
}
",
        ),
    ]);
    let server = project.start();
    let orphan = server.post_json("/orphan", r#"{"id":"c1"}"#);
    assert_eq!(orphan.status, 500, "{}", orphan.body);
    assert!(orphan.body.contains("FOREIGN KEY"), "{}", orphan.body);
    assert!(stored_ids(&project, "child").is_empty());
    // Orphans beside ordinary writes: what was acknowledged is stored, nothing else.
    let stop = AtomicBool::new(false);
    let answers = std::thread::scope(|scope| {
        let orphans = scope.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 200 {
                let reply =
                    server.post_json("/orphan", &json!({ "id": format!("o{n}") }).to_string());
                assert_eq!(reply.status, 500, "{}", reply.body);
                n += 1;
            }
        });
        let answers = put_load(&server, 4, 60, 0, &AtomicBool::new(false));
        stop.store(true, Ordering::SeqCst);
        orphans.join().expect("orphans");
        answers
    });
    let stored = stored_ids(&project, "items");
    assert!(answers.acknowledged.is_subset(&stored));
    let failed: BTreeSet<String> = answers.failed.iter().map(|f| f.0.clone()).collect();
    assert!(stored.is_disjoint(&failed));
    assert!(stored_ids(&project, "child").is_empty());
    let after = server.post_json("/put", r#"{"id":"after","pad":""}"#);
    assert_eq!(after.status, 200, "{}", after.body);
    assert!(stored_ids(&project, "items").contains("after"));
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

#[test]
fn a_job_whose_enqueue_did_not_commit_never_runs() {
    // Each request enqueues a job beside a write that makes the shared commit fail (a
    // deferred foreign key): the request fails, and a job whose enqueue was in that commit was
    // never stored, so it must never start. The dispatcher claimed from the open transaction,
    // so it could start a job before its enqueue committed, and run it though that commit
    // then failed.
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE parent (id TEXT PRIMARY KEY);
             CREATE TABLE child (id TEXT PRIMARY KEY,
               parent TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TABLE effects (id TEXT PRIMARY KEY);",
        ),
        (
            "functions/orphan.ts",
            "export default async (req, ctx) => {
  await Promise.all([
    ctx.queue.enqueue('effect', { id: req.body.id }),
    ctx.db.query(\"INSERT INTO child (id, parent) VALUES ($1, 'missing')\", [req.body.id]),
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
        assert!(reply.body.contains("FOREIGN KEY"), "{}", reply.body);
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
    let conn = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("store");
    let ids = |sql: &str| -> BTreeSet<String> {
        let mut stmt = conn.prepare(sql).expect("query");
        stmt.query_map([], |row| row.get::<_, String>(0))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("ids")
    };
    let jobs = ids("SELECT json_extract(data, '$.id') FROM _flux_jobs WHERE name = 'effect'");
    assert!(jobs.contains("marker"));
    let effects = stored_ids(&project, "effects");
    let without_job: Vec<_> = effects.difference(&jobs).collect();
    assert!(
        without_job.is_empty(),
        "jobs whose enqueue was undone ran: {without_job:?}"
    );
    let attempts_without_job = ids(
        "SELECT r.job_id FROM _flux_records r WHERE r.function = 'effect'
         AND NOT EXISTS (SELECT 1 FROM _flux_jobs j WHERE j.id = r.job_id)",
    );
    assert!(
        attempts_without_job.is_empty(),
        "jobs whose enqueue was undone started: {attempts_without_job:?}"
    );
}
