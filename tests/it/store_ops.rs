//! The store keeps taking writes whatever its surroundings do: a stdout nobody reads, numbers
//! out of range, bad config edits, a size limit under load, a damaged or empty file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{wait_for, Project, Server, DEADLINE};

const NOTES: &[(&str, &str)] = &[
    (
        "migrations/001_notes.sql",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);",
    ),
    (
        "functions/note.ts",
        "export default async (req, ctx) => { await ctx.db.insert('notes', { n: Number(req.query.n) }); return 'ok' }",
    ),
    (
        // A long name makes long execution lines: fewer fit in the pipe.
        "functions/a_note_with_a_long_name_so_that_fewer_lines_fit_in_a_pipe.ts",
        "export default async (req, ctx) => { await ctx.db.insert('notes', { n: Number(req.query.n) }); return 'ok' }",
    ),
    (
        "functions/count.ts",
        "export default async (req, ctx) => (await ctx.db.query('SELECT count(*) AS n, count(DISTINCT n) AS distinct_n FROM notes'))[0]",
    ),
];

/// `flux dev` whose stdout is a pipe this test holds but never reads (or has closed).
struct UnreadServer {
    child: Child,
    url: String,
    stdout: Option<std::process::ChildStdout>,
}

impl UnreadServer {
    fn start(project: &Project, keepstdout_open: bool) -> UnreadServer {
        let server_file = project.path().join(".flux/server.json");
        let mut child = project
            .flux(&["dev", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn flux dev");
        let stdout = child.stdout.take().expect("stdout");
        let stdout = keepstdout_open.then_some(stdout);
        let url = wait_for("flux dev's server.json", DEADLINE, || {
            let text = std::fs::read_to_string(&server_file).ok()?;
            let info: Value = serde_json::from_str(&text).ok()?;
            info["url"].as_str().map(String::from)
        });
        UnreadServer { child, url, stdout }
    }

    /// Sends `total` writing requests from 8 threads; every one must be answered with 200.
    fn write_notes(&self, total: usize) {
        self.write_notes_to("note", total)
    }

    fn write_notes_to(&self, function: &str, total: usize) {
        let threads = 8;
        std::thread::scope(|scope| {
            for t in 0..threads {
                let url = self.url.clone();
                scope.spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(20))
                        .build()
                        .expect("client");
                    for n in (t..total).step_by(threads) {
                        let reply = client
                            .get(format!("{url}/{function}?n={n}"))
                            .send()
                            .unwrap_or_else(|e| panic!("request {n} was not answered: {e}"));
                        assert_eq!(reply.status().as_u16(), 200, "request {n}");
                    }
                });
            }
        });
    }

    fn count(&self) -> Value {
        let reply = reqwest::blocking::get(format!("{}/count", self.url)).expect("count");
        reply.json().expect("json")
    }
}

impl Drop for UnreadServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_stdout_nobody_reads_does_not_stop_writes_and_the_lines_not_shown_are_counted() {
    let project = Project::with_files(NOTES);
    let mut server = UnreadServer::start(&project, true);
    // Far more execution lines than a pipe's buffer (64 KiB is ~700 of these) and the
    // printer's backlog hold.
    let total = 3_000;
    let function = "a_note_with_a_long_name_so_that_fewer_lines_fit_in_a_pipe";
    server.write_notes_to(function, total);
    assert_eq!(
        server.count(),
        json!({ "n": total, "distinct_n": total }),
        "every acknowledged write is stored"
    );
    // Reading now releases the lines that were held, then the count of those dropped.
    let stdout = server.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut shown = 0;
    let mut not_shown = None;
    let note = regex::Regex::new(r"(\d+) execution lines? not shown").expect("regex");
    let until = std::time::Instant::now() + DEADLINE;
    while shown + not_shown.unwrap_or(0) < total {
        let line = rx
            .recv_timeout(until.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| {
                panic!("{shown} lines shown, {not_shown:?} counted as not shown, of {total}")
            });
        if line.contains(function) {
            shown += 1;
        } else if let Some(n) = note.captures(&line) {
            not_shown = Some(not_shown.unwrap_or(0) + n[1].parse::<usize>().expect("count"));
        }
    }
    assert!(not_shown.is_some(), "some lines were dropped");
    assert_eq!(shown + not_shown.unwrap_or(0), total);
}

#[test]
fn a_closed_stdout_does_not_kill_flux_dev() {
    let project = Project::with_files(NOTES);
    let mut server = UnreadServer::start(&project, false);
    server.write_notes(200);
    assert!(
        server.child.try_wait().expect("try_wait").is_none(),
        "flux dev exited after its stdout was closed"
    );
    assert_eq!(server.count(), json!({ "n": 200, "distinct_n": 200 }));
}

const ENQUEUE: &[(&str, &str)] = &[
    ("functions/work.ts", "export default async () => 'done'"),
    (
        "functions/enqueue.ts",
        "export default async (req, ctx) => {
  const given = req.query.delay
  const delay = given === 'NaN' ? NaN : given === 'Infinity' ? Infinity : given.match(/^[-0-9.e+]+$/) ? Number(given) : given
  try {
    const job = await ctx.queue.enqueue('work', {}, { delay })
    return { id: job.id }
  } catch (e) {
    return { error: e.message }
  }
}",
    ),
];

#[test]
fn delays_out_of_range_are_refused_from_functions_and_the_api_and_writes_go_on() {
    let project = Project::with_files(ENQUEUE);
    let server = project.start();
    for delay in ["1e300", "NaN", "Infinity", "-1", "1e19", "1000000y"] {
        let reply = server.get(&format!("/enqueue?delay={}", urlencode(delay)));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let error = reply.json()["error"].as_str().map(String::from);
        let error = error.unwrap_or_else(|| panic!("delay {delay} was accepted: {}", reply.body));
        assert!(error.contains("delay"), "{delay}: {error}");
        assert!(error.contains("365 days"), "{delay}: {error}");
    }
    for opts in [
        json!({ "delay": 1e300 }),
        json!({ "delay": -1 }),
        json!({ "delay": 1e19 }),
        json!({ "delay": "NaN" }),
        json!({ "runAt": "9999-12-31T00:00:00Z" }),
    ] {
        let reply = server.send(
            server
                .request(reqwest::Method::POST, "/_flux/api/jobs")
                .json(&json!({ "name": "work", "opts": opts })),
        );
        assert_eq!(reply.status, 400, "{opts}: {}", reply.body);
        assert!(
            reply.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains("365 days")),
            "{}",
            reply.body
        );
    }
    // The store still takes writes: enqueues from a function and from the API, then run.
    let reply = server.get("/enqueue?delay=1");
    let id = reply.json()["id"].as_str().map(String::from);
    assert!(id.is_some(), "{}", reply.body);
    server.enqueue(&json!({ "name": "work", "opts": { "delay": 10 } }));
    wait_for("both jobs done", DEADLINE, || {
        let stats = server.get("/_flux/api/queue/stats").json();
        let done = stats["stats"]
            .as_array()?
            .iter()
            .find(|row| row["function"] == "work")?
            .get("done")?
            .as_u64()?;
        (done == 2).then_some(())
    });
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B")
}

#[test]
fn a_live_config_edit_with_a_bad_number_keeps_the_old_config_and_later_edits_apply() {
    let project = Project::with_files(&[
        ("flux.config.ts", "export default { http: { timeoutSeconds: 10 } }"),
        (
            "functions/slow.ts",
            "export default async () => { await new Promise((r) => setTimeout(r, 300)); return 'slow' }",
        ),
    ]);
    let server = project.start();
    assert_eq!(server.get("/slow").status, 200);
    for (bad, shown) in [("1e300", "up to 86400"), ("NaN", "NaN"), ("-1", "above 0")] {
        project.write(
            "flux.config.ts",
            &format!("export default {{ http: {{ timeoutSeconds: {bad} }} }}"),
        );
        let output = server.wait_for_output(&format!("found {bad}"));
        assert!(output.contains("http.timeoutSeconds"), "{output}");
        assert!(output.contains(shown), "{output}");
        assert!(output.contains("keeping the previous config"), "{output}");
        // The old timeout (10 s) still applies.
        assert_eq!(server.get("/slow").status, 200);
    }
    project.write(
        "flux.config.ts",
        "export default { http: { timeoutSeconds: 0.1 } }",
    );
    wait_for("the valid edit to apply", DEADLINE, || {
        (server.get("/slow").status == 504).then_some(())
    });
}

#[test]
fn retention_max_size_bounds_the_file_and_keeps_app_rows_and_new_records() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { retention: { maxSize: '1mb', minAge: 0 } }",
        ),
        NOTES[0],
        (
            "functions/note.ts",
            // A large output makes each record ~4 KB: the history outgrows the limit fast.
            "export default async (req, ctx) => { await ctx.db.insert('notes', { n: Number(req.query.n) }); return 'x'.repeat(4000) }",
        ),
        NOTES[3],
    ]);
    let server = project.start();
    let db = project.path().join(".flux/flux.db");
    let wal = project.path().join(".flux/flux.db-wal");
    let size = || {
        let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        len(&db) + len(&wal)
    };
    let total = 4_000;
    let peak = std::sync::atomic::AtomicU64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut last_id = String::new();
    std::thread::scope(|scope| {
        // Measures, not synchronisation: the largest size the files reach during the load.
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak.fetch_max(size(), std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let threads = 8;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let server = &server;
                scope.spawn(move || {
                    let mut last = String::new();
                    for n in (t..total).step_by(threads) {
                        let reply = server.get(&format!("/note?n={n}"));
                        assert_eq!(reply.status, 200, "request {n}: {}", reply.body);
                        last = reply.request_id();
                    }
                    last
                })
            })
            .collect();
        for handle in handles {
            last_id = handle.join().expect("client thread");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    // ~20 MB of history go through a store limited to 1 MB of it (before the limit counted
    // flux's own tables and was checked every second, db + WAL reached 26 MB here).
    let peak = peak.into_inner();
    const BOUND: u64 = 10 * 1024 * 1024;
    assert!(peak < BOUND, "db + WAL reached {peak} bytes");
    assert_eq!(
        server.get("/count").json(),
        json!({ "n": total, "distinct_n": total }),
        "app rows are never pruned"
    );
    // The newest record is kept.
    assert_eq!(server.record(&last_id)["status"], "ok");
    // Once the load stops, flux's share goes back under the limit and the WAL is cut back.
    wait_for("the WAL to be truncated", DEADLINE, || {
        (std::fs::metadata(&wal).map_or(0, |m| m.len()) <= 4 * 1024 * 1024).then_some(())
    });
}

/// What `flux dev` printed when it refused to start; a server that starts fails the test.
fn refused_start(project: &Project) -> String {
    match Server::try_start(project, &[]) {
        Ok(server) => panic!("flux dev started:\n{}", server.stop()),
        Err(output) => output,
    }
}

/// A store with some history, stopped cleanly (its WAL folded in).
fn project_with_a_store() -> Project {
    let project = Project::with_files(NOTES);
    let server = project.start();
    for n in 0..300 {
        assert_eq!(server.get(&format!("/note?n={n}")).status, 200);
    }
    server.stop();
    project
}

#[test]
fn a_store_damaged_in_the_middle_is_named_and_not_written_to() {
    let project = project_with_a_store();
    let db = project.path().join(".flux/flux.db");
    let sound = std::fs::read(&db).expect("read store");
    let pages = sound.len() / 4096;
    assert!(pages > 20, "store has {pages} pages");
    // The second page is read while the store is opened (schema or a table flux reads at
    // start); the middle and last ones only by the integrity check. Each is damage either way.
    for page in [1, pages / 2, pages - 1] {
        let mut bytes = sound.clone();
        bytes[page * 4096..(page + 1) * 4096].fill(0xAB);
        std::fs::write(&db, &bytes).expect("damage store");

        let stderr = refused_start(&project);
        assert!(stderr.contains("is damaged"), "page {page}: {stderr}");
        assert!(stderr.contains(".flux/flux.db"), "page {page}: {stderr}");
        assert!(stderr.contains("mv "), "page {page}: {stderr}");
        assert_eq!(
            std::fs::read(&db).expect("read store"),
            bytes,
            "page {page}: the damaged store was written to"
        );

        let (code, _, stderr) = project.run(&["store", "check"]);
        assert_eq!(code, 1, "page {page}: {stderr}");
        assert!(stderr.contains("is damaged"), "page {page}: {stderr}");
    }
}

#[test]
fn a_sound_store_passes_the_check() {
    let project = project_with_a_store();
    let (code, stdout, stderr) = project.run(&["store", "check", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(report["ok"], true);
}

#[test]
fn an_empty_store_file_is_reported_not_reinitialised() {
    let project = Project::with_files(NOTES);
    project.write(".flux/flux.db", "");
    let stderr = refused_start(&project);
    assert!(stderr.contains("empty (0 bytes)"), "{stderr}");
    assert!(stderr.contains(".flux/flux.db"), "{stderr}");
    let len = std::fs::metadata(project.path().join(".flux/flux.db"))
        .expect("store")
        .len();
    assert_eq!(len, 0, "the empty store was re-initialised");
}
