//! The API the dashboard reads: search and cursor paging of records, per-minute counts,
//! replays (edited, in bulk, by filter), cancelling jobs.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::{wait_for, Beacon, Project, Server, DEADLINE};

/// `noisy` logs a marker built at run time (so it is in its console line only), `quiet` echoes
/// its body, `broken` throws.
const FUNCTIONS: &[(&str, &str)] = &[
    (
        "functions/noisy.ts",
        "export default (req) => { console.log('needle' + '-in-' + 'console ' + req.body.n); return { n: req.body.n } }",
    ),
    (
        "functions/quiet.ts",
        "export default (req) => ({ got: req.body })",
    ),
    (
        "functions/broken.ts",
        "export default () => { throw new Error('the Flux Capacitor is unplugged') }",
    ),
];

fn records(server: &Server, query: &str) -> Value {
    let reply = server.get(&format!("/_flux/api/records?{query}"));
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.json()
}

fn ids(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| r["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The ids `q=` finds once they are all searchable (a record is indexed up to 200 ms after it
/// is stored): waits until exactly `count` match.
fn found(server: &Server, query: &str, count: usize) -> Vec<String> {
    wait_for(
        &format!("{count} records to match {query}"),
        DEADLINE,
        || {
            let found = ids(&records(server, query));
            (found.len() == count).then_some(found)
        },
    )
}

/// Calls `function` with `body` and waits until its record is stored; returns its id.
fn call(server: &Server, function: &str, body: &Value) -> String {
    let reply = server.post_json(&format!("/{function}"), &body.to_string());
    let id = reply.request_id();
    server.record(&id);
    id
}

#[test]
fn search_finds_text_in_console_lines_inputs_and_errors_only_where_it_is() {
    let project = Project::with_files(FUNCTIONS);
    let server = project.start();
    let noisy = call(&server, "noisy", &json!({ "n": 1 }));
    let quiet = call(&server, "quiet", &json!({ "email": "Alice@Example.com" }));
    let broken = call(&server, "broken", &json!({}));

    // The marker is in noisy's console line and nowhere in its input.
    assert_eq!(found(&server, "q=needle-in-console", 1), [noisy.as_str()]);
    // Substrings match, whatever their case.
    assert_eq!(found(&server, "q=lice%40example", 1), [quiet.as_str()]);
    assert_eq!(found(&server, "q=capacitor", 1), vec![broken.as_str()]);
    // Search combines with the other filters.
    assert!(ids(&records(&server, "q=capacitor&status=ok")).is_empty());
    assert_eq!(
        ids(&records(&server, "q=capacitor&fn=broken&type=http")),
        [broken.as_str()]
    );
    // Query syntax is text: quotes and operators are searched for, not obeyed.
    assert!(ids(&records(&server, "q=%22needle%22%20OR%20quiet")).is_empty());

    // An empty search box filters nothing.
    assert_eq!(ids(&records(&server, "q=&fn=broken")).len(), 1);
    // One or two characters (too short for the index) are found where they are too, and only
    // there: `us` is in every stored record (`started_at_us`), in none of their texts.
    assert_eq!(ids(&records(&server, "q=%40")), [quiet.as_str()]);
    assert_eq!(ids(&records(&server, "q=fL")), [broken.as_str()]);
    assert_eq!(ids(&records(&server, "q=r%3A")), [broken]);
    assert_eq!(ids(&records(&server, "q=1&fn=noisy")), [noisy]);
    assert!(ids(&records(&server, "q=us")).is_empty());
}

#[test]
fn a_time_range_keeps_the_records_started_within_it() {
    let project = Project::with_files(FUNCTIONS);
    let server = project.start();
    for n in 0..3 {
        call(&server, "quiet", &json!({ "n": n }));
    }
    let all = records(&server, "fn=quiet");
    let started: Vec<i64> = all["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["started_at_us"].as_i64().expect("started_at_us"))
        .collect();
    let (newest, middle, oldest) = (started[0], started[1], started[2]);
    let every = ids(&all);
    // since= is inclusive, until= exclusive: [middle, newest) is the middle record alone.
    assert_eq!(
        ids(&records(
            &server,
            &format!("fn=quiet&since={middle}&until={newest}")
        )),
        [every[1].clone()]
    );
    assert_eq!(
        ids(&records(&server, &format!("fn=quiet&until={middle}"))),
        [every[2].clone()]
    );
    assert_eq!(
        ids(&records(
            &server,
            &format!("fn=quiet&since={oldest}&until=2999-01-01T00:00:00Z")
        )),
        every
    );
    // As the dashboard sends them: RFC 3339 times, a range that ended before any record.
    assert!(ids(&records(
        &server,
        "since=2020-01-01T00:00:00.000Z&until=2020-01-02T00:00:00.000Z"
    ))
    .is_empty());
    let bad = server.get("/_flux/api/records?until=yesterday");
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn paging_by_cursor_neither_repeats_nor_skips_while_new_records_arrive() {
    let project = Project::with_files(FUNCTIONS);
    let server = project.start();
    let mut first: Vec<String> = (0..23)
        .map(|n| call(&server, "quiet", &json!({ "n": n })))
        .collect();
    first.reverse();

    let mut seen = Vec::new();
    let mut page = records(&server, "fn=quiet&limit=5");
    let mut pages = 1;
    loop {
        seen.extend(ids(&page));
        // New records arrive between pages: they are newer than any cursor handed out.
        call(&server, "quiet", &json!({ "late": pages }));
        let Some(next) = page["next"].as_str() else {
            break;
        };
        page = records(&server, &format!("fn=quiet&limit=5&before={next}"));
        pages += 1;
    }
    assert_eq!(seen, first, "every record once, newest first");
    assert_eq!(pages, 5);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        seen.len(),
        "no repeats"
    );
    // A page that ends exactly at the last record says so: no `next`.
    let total = seen.len() + pages;
    assert!(records(&server, &format!("fn=quiet&limit={total}"))["next"].is_null());
    let all_but_one = records(&server, &format!("fn=quiet&limit={}", total - 1));
    let next = all_but_one["next"].as_str().expect("a next page");
    let last = records(&server, &format!("fn=quiet&limit={total}&before={next}"));
    assert_eq!(ids(&last).len(), 1);
    assert!(last["next"].is_null());

    for garbage in ["xyz", "12", "1.2.3", "%F0%9F%92%A5"] {
        let reply = server.get(&format!("/_flux/api/records?before={garbage}"));
        assert_eq!(reply.status, 400, "{garbage}: {}", reply.body);
        let error = reply.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            error.ends_with("not a cursor: pass the `next` of an earlier page as it was given"),
            "{error}"
        );
    }
}

#[test]
fn search_entries_are_pruned_with_their_records() {
    let mut files = FUNCTIONS.to_vec();
    files.push((
        "flux.config.ts",
        "export default { retention: { maxAge: '2s' } }",
    ));
    let project = Project::with_files(&files);
    let server = project.start();
    for n in 0..3 {
        call(&server, "noisy", &json!({ "n": n }));
    }
    found(&server, "q=needle-in-console", 3);
    // Pruning by age runs a few seconds after start: the records go, and their search rows.
    wait_for("the records to be pruned", DEADLINE, || {
        ids(&records(&server, "fn=noisy")).is_empty().then_some(())
    });
    assert!(ids(&records(&server, "q=needle-in-console")).is_empty());
    server.stop();
    let db = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("store");
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |row| row.get(0)).expect(sql) };
    assert_eq!(
        count("SELECT count(*) FROM _flux_search WHERE _flux_search MATCH '\"needle-in-console\"'"),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM _flux_search_docsize WHERE id NOT IN (SELECT seq FROM _flux_records)"),
        0,
        "no search row outlives its record"
    );
}

#[test]
fn minutes_count_runs_and_failures_per_function() {
    let project = Project::with_files(FUNCTIONS);
    let server = project.start();
    for n in 0..3 {
        call(&server, "quiet", &json!({ "n": n }));
    }
    for _ in 0..2 {
        call(&server, "broken", &json!({}));
    }
    let totals = |query: &str| -> Vec<(String, u64, u64)> {
        let reply = server.get(&format!("/_flux/api/stats/minutes?{query}"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let mut totals: Vec<(String, u64, u64)> = Vec::new();
        for minute in reply.json()["minutes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let stamp = minute["minute"].as_str().unwrap_or_default();
            assert!(stamp.ends_with(":00.000Z"), "{stamp} starts a minute");
            let function = minute["fn"].as_str().unwrap_or_default().to_string();
            let (runs, failures) = (
                minute["runs"].as_u64().unwrap_or(0),
                minute["failures"].as_u64().unwrap_or(0),
            );
            match totals.iter_mut().find(|t| t.0 == function) {
                Some(total) => {
                    total.1 += runs;
                    total.2 += failures;
                }
                None => totals.push((function, runs, failures)),
            }
        }
        totals.sort();
        totals
    };
    assert_eq!(
        totals("last=1h"),
        [("broken".to_string(), 2, 2), ("quiet".to_string(), 3, 0)]
    );
    assert_eq!(totals("fn=quiet"), [("quiet".to_string(), 3, 0)]);
    let bad = server.get("/_flux/api/stats/minutes?last=soon");
    assert_eq!(bad.status, 400, "{}", bad.body);
}

/// `pay` fails unless its data say `ok`; `ship` always fails. Neither retries.
const WORKERS: &[(&str, &str)] = &[
    (
        "flux.config.ts",
        "export default { workers: { pay: { maxAttempts: 1 }, ship: { maxAttempts: 1 } } }",
    ),
    (
        "functions/pay.ts",
        "export default (job) => { if (!job.data.ok) throw new Error('card declined for ' + job.data.who); return 'paid ' + job.data.who }",
    ),
    (
        "functions/ship.ts",
        "export default () => { throw new Error('no address') }",
    ),
];

fn dead(server: &Server, query: &str) -> Vec<Value> {
    let reply = server.get(&format!("/_flux/api/dead-letter?{query}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["dead"].as_array().cloned().unwrap_or_default()
}

fn wait_dead(server: &Server, count: usize) -> Vec<Value> {
    wait_for(&format!("{count} dead letters"), DEADLINE, || {
        let dead = dead(server, "");
        (dead.len() == count).then_some(dead)
    })
}

/// Each job's `replays`, by the `who` of its data, for worker `name`.
fn replays(server: &Server, name: &str) -> Vec<(String, u64)> {
    let jobs = server.get(&format!("/_flux/api/jobs?fn={name}")).json();
    let mut counts: Vec<(String, u64)> = jobs["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|job| {
            (
                job["data"]["who"].as_str().unwrap_or("").to_string(),
                job["replays"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    counts.sort();
    counts
}

#[test]
fn a_replay_with_an_edited_payload_runs_with_it_and_says_so() {
    let project = Project::with_files(WORKERS);
    let server = project.start();
    server.enqueue(&json!({ "name": "pay", "data": { "who": "ada", "ok": false } }));
    let dead_id = wait_dead(&server, 1)[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let reply = server.post_json(
        &format!("/_flux/api/dead-letter/{}/replay", &dead_id[..8]),
        r#"{ "data": { "who": "ada", "ok": true } }"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let replayed = reply.json();
    assert_eq!(replayed["replayOf"], dead_id.as_str());
    let attempt = server.record(replayed["exec_id"].as_str().unwrap_or_default());
    assert_eq!(attempt["status"], "ok");
    assert_eq!(
        attempt["input"]["data"],
        json!({ "who": "ada", "ok": true })
    );
    assert_eq!(attempt["output"], "paid ada", "{attempt}");
    assert_eq!(attempt["links"]["replay_of"], dead_id.as_str());
    assert_eq!(attempt["links"]["previous_attempt"], dead_id.as_str());
    assert_eq!(attempt["links"]["edited_data"], true);
    let job = wait_for("the job done", DEADLINE, || {
        let job = server
            .get(&format!("/_flux/api/jobs/{}", &dead_id[..8]))
            .json();
        (job["job"]["state"] == "done").then_some(job)
    });
    assert_eq!(job["job"]["data_edited"], true);
    assert_eq!(job["attempts"].as_array().map(Vec::len), Some(2));

    // A body that is not `{ data }` is refused, and nothing is replayed.
    server.enqueue(&json!({ "name": "ship", "data": { "who": "bob" } }));
    let ship = wait_dead(&server, 1)[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let bad = server.post_json(
        &format!("/_flux/api/dead-letter/{ship}/replay"),
        r#"{ "payload": 1 }"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(dead(&server, "").len(), 1);

    // Replayed while the queue is paused and cancelled before it ran: the cancelled attempt's
    // record still says what it replays.
    server.post("/_flux/api/queue/pause");
    let reply = server.post_json(
        &format!("/_flux/api/dead-letter/{ship}/replay"),
        r#"{ "data": { "who": "bob", "edited": true } }"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let waiting = reply.json()["exec_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let cancelled = cancel(&server, &ship);
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let attempt = server.record(&waiting);
    assert_eq!(attempt["status"], "cancelled", "{attempt}");
    assert_eq!(attempt["links"]["attempt"], 1);
    assert_eq!(attempt["links"]["replay_of"], ship.as_str(), "{attempt}");
    assert_eq!(attempt["links"]["previous_attempt"], ship.as_str());
    assert_eq!(attempt["links"]["edited_data"], true);
}

#[test]
fn bulk_replays_touch_only_the_dead_jobs_that_match() {
    let project = Project::with_files(WORKERS);
    let server = project.start();
    for who in ["ada", "bob", "cyd"] {
        server.enqueue(&json!({ "name": "pay", "data": { "who": who } }));
        server.enqueue(&json!({ "name": "ship", "data": { "who": who } }));
    }
    server.enqueue(&json!({ "name": "pay", "data": { "who": "dee", "ok": true } }));
    wait_dead(&server, 6);

    // Filters of the list: by worker, by text of the last attempt (its error, its data).
    assert_eq!(dead(&server, "fn=pay").len(), 3);
    found(&server, "q=no%20address", 3);
    found(&server, "q=declined", 3);
    let bob = dead(&server, "fn=pay&q=declined%20for%20bob");
    assert_eq!(bob.len(), 1);
    assert_eq!(
        dead(&server, "q=%22who%22%3A%22cyd%22").len(),
        2,
        "data are searched"
    );
    // Two characters: bob's two jobs (his name in their data, pay's error).
    assert_eq!(dead(&server, "q=bo").len(), 2);

    let by_filter = |body: Value| {
        let reply = server.post_json("/_flux/api/dead-letter/replay", &body.to_string());
        assert_eq!(reply.status, 200, "{body}: {}", reply.body);
        reply.json()["replayed"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let replayed = by_filter(json!({ "filter": { "fn": "pay", "q": "declined for bob" } }));
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0]["replayOf"], bob[0]["id"]);
    assert_eq!(
        replays(&server, "pay"),
        [
            ("ada".into(), 0),
            ("bob".into(), 1),
            ("cyd".into(), 0),
            ("dee".into(), 0)
        ]
    );
    assert_eq!(replays(&server, "ship").iter().map(|r| r.1).sum::<u64>(), 0);
    // The replayed attempt runs (and fails again): the queue is back to six dead.
    server.record(replayed[0]["id"].as_str().unwrap_or_default());
    wait_dead(&server, 6);

    // By ids: all or none. A job that is not dead refuses the whole request.
    let ship: Vec<String> = dead(&server, "fn=ship")
        .iter()
        .map(|d| d["id"].as_str().unwrap_or_default()[..8].to_string())
        .collect();
    let done = server.get("/_flux/api/jobs?fn=pay&state=done").json()["jobs"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let refused = server.post_json(
        "/_flux/api/dead-letter/replay",
        &json!({ "ids": [ship[0], done] }).to_string(),
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(replays(&server, "ship").iter().map(|r| r.1).sum::<u64>(), 0);
    assert_eq!(by_filter(json!({ "ids": ship })).len(), 3);
    wait_dead(&server, 6);

    // Empty fields of a filter form filter nothing.
    assert_eq!(
        by_filter(json!({ "filter": { "fn": "ship", "q": " " } })).len(),
        3
    );
    wait_dead(&server, 6);
    assert_eq!(by_filter(json!({ "all": true })).len(), 6);
    for bad in [
        json!({}),
        json!({ "all": true, "ids": [] }),
        json!({ "filter": { "q": 5 } }),
    ] {
        let reply = server.post_json("/_flux/api/dead-letter/replay", &bad.to_string());
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
    }
}

/// `wait` awaits a fetch of `job.data.gate`; `spin` fetches it, then loops forever (line 5);
/// `later` returns at once. Long timeouts: only a cancel stops them in time.
const CANCELLABLE: &[(&str, &str)] = &[
    (
        "flux.config.ts",
        "export default { workers: { wait: { timeoutSeconds: 120, maxAttempts: 1 }, spin: { timeoutSeconds: 120, maxAttempts: 3 } } }",
    ),
    (
        "functions/wait.ts",
        "export default async (job) => { await fetch(job.data.gate); return 'got through' }",
    ),
    (
        "functions/spin.ts",
        "export default async (job) => {\n  await fetch(job.data.gate)\n  let i = 0\n  while (true) {\n    i++\n  }\n}\n",
    ),
    ("functions/later.ts", "export default () => 'ran'"),
];

fn cancel(server: &Server, job: &str) -> crate::support::Reply {
    server.post(&format!("/_flux/api/jobs/{job}/cancel"))
}

/// The job, as `GET /_flux/api/jobs/<id>` shows it with its attempts.
fn job(server: &Server, id: &str) -> Value {
    let reply = server.get(&format!("/_flux/api/jobs/{id}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// What `flux queue list --state cancelled --json` lists: job ids.
fn listed_cancelled(project: &Project) -> Vec<String> {
    let (code, stdout, stderr) = project.run(&["queue", "list", "--state", "cancelled", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let jobs: Value = serde_json::from_str(&stdout).expect("json");
    jobs.as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|j| j["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_waiting_job_is_cancelled_at_once_and_never_runs() {
    let project = Project::with_files(CANCELLABLE);
    let server = project.start();
    server.post("/_flux/api/queue/pause");
    let pending = server
        .enqueue(&json!({ "name": "later", "data": {} }))
        .job_id();
    let scheduled = server
        .enqueue(&json!({ "name": "later", "data": {}, "opts": { "delay": "1h" } }))
        .job_id();
    for id in [&pending, &scheduled] {
        let reply = cancel(&server, &id[..8]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json(), json!({ "id": id, "state": "cancelled" }));
    }
    // Its record says so: one attempt, never started.
    let shown = wait_for("the cancellation's record", DEADLINE, || {
        let shown = job(&server, &pending);
        (shown["attempts"].as_array().map(Vec::len) == Some(1)).then_some(shown)
    });
    assert_eq!(shown["job"]["state"], "cancelled");
    assert_eq!(shown["attempts"][0]["status"], "cancelled");
    let record = server.record(shown["attempts"][0]["id"].as_str().unwrap_or_default());
    assert_eq!(record["error"]["name"], "CancelledError");

    // Once the queue resumes, other jobs run and the cancelled ones do not.
    server.post("/_flux/api/queue/resume");
    let other = server
        .enqueue(&json!({ "name": "later", "data": {} }))
        .job_id();
    wait_for("the other job", DEADLINE, || {
        (job(&server, &other)["job"]["state"] == "done").then_some(())
    });
    assert_eq!(job(&server, &pending)["job"]["state"], "cancelled");
    let mut listed = listed_cancelled(&project);
    listed.sort();
    let mut expected = vec![pending.clone(), scheduled];
    expected.sort();
    assert_eq!(listed, expected);
    let (code, stdout, _) = project.run(&["queue", "stats"]);
    assert_eq!(code, 0);
    assert!(
        stdout.lines().next().unwrap_or("").contains("CANCELLED"),
        "{stdout}"
    );

    // Over is over: a second cancel, or one of a finished job, is a conflict.
    for id in [&pending, &other] {
        let again = cancel(&server, id);
        assert_eq!(again.status, 409, "{}", again.body);
        assert!(again.json()["error"]
            .as_str()
            .unwrap_or("")
            .ends_with("only a waiting or running job can be cancelled"));
    }
    let unknown = cancel(&server, "abcdef12");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

#[test]
fn a_running_job_is_cancelled_at_its_await() {
    let project = Project::with_files(CANCELLABLE);
    let server = project.start();
    let gate = Beacon::holding();
    let id = server
        .enqueue(&json!({ "name": "wait", "data": { "gate": format!("{}/waiting", gate.url) } }))
        .job_id();
    assert_eq!(gate.next("the job to await its fetch"), "/waiting");
    let reply = cancel(&server, &id);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["state"], "cancelled");
    gate.release();

    let shown = job(&server, &id);
    assert_eq!(shown["job"]["state"], "cancelled");
    let attempt = server.record(shown["attempts"][0]["id"].as_str().unwrap_or_default());
    assert_eq!(attempt["status"], "cancelled");
    let message = attempt["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("cancelled by request while waiting on fetch"),
        "{message}"
    );
    assert!(attempt["duration_us"].as_u64().unwrap_or(u64::MAX) < 60_000_000);
    assert_eq!(listed_cancelled(&project), [id]);
}

#[test]
fn a_spinning_job_is_interrupted_and_not_retried() {
    let project = Project::with_files(CANCELLABLE);
    let server = project.start();
    let gate = Beacon::start();
    let id = server
        .enqueue(&json!({ "name": "spin", "data": { "gate": format!("{}/spinning", gate.url) } }))
        .job_id();
    assert_eq!(gate.next("the job to start spinning"), "/spinning");
    let reply = cancel(&server, &id);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["state"], "cancelled");

    let shown = job(&server, &id);
    assert_eq!(shown["job"]["state"], "cancelled");
    assert_eq!(
        shown["attempts"].as_array().map(Vec::len),
        Some(1),
        "no retry"
    );
    let attempt = server.record(shown["attempts"][0]["id"].as_str().unwrap_or_default());
    assert_eq!(attempt["status"], "cancelled");
    assert_eq!(attempt["error"]["location"], "spin.ts:5");
    // The lines around it, as the code that ran had them.
    assert_eq!(
        attempt["error"]["source"],
        json!([
            { "line": 2, "text": "  await fetch(job.data.gate)" },
            { "line": 3, "text": "  let i = 0" },
            { "line": 4, "text": "  while (true) {" },
            { "line": 5, "text": "    i++", "current": true },
            { "line": 6, "text": "  }" },
            { "line": 7, "text": "}" },
        ])
    );
    let message = attempt["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(
        message,
        "cancelled by request while its code was busy at spin.ts:5 (running, not awaiting)"
    );
    // The engine it spun on serves the next job.
    let later = server
        .enqueue(&json!({ "name": "later", "data": {} }))
        .job_id();
    wait_for("the next job", DEADLINE, || {
        (job(&server, &later)["job"]["state"] == "done").then_some(())
    });
    // `flux tail` says what happened.
    let (code, stdout, stderr) =
        project.run(&["tail", "--no-follow", "--last", "1h", "--filter", "fn=spin"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("JOB spin cancelled"), "{stdout}");
}

#[test]
fn flux_queue_cancel_stops_a_running_job_from_the_terminal() {
    let project = Project::with_files(CANCELLABLE);
    let server = project.start();
    let gate = Beacon::holding();
    let id = server
        .enqueue(&json!({ "name": "wait", "data": { "gate": format!("{}/held", gate.url) } }))
        .job_id();
    assert_eq!(gate.next("the job to await its fetch"), "/held");
    let (code, stdout, stderr) = project.run(&["queue", "cancel", &id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), format!("Cancelled job {}", &id[..8]));
    gate.release();
    let (code, _, stderr) = project.run(&["queue", "cancel", &id[..8]]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("is cancelled: only a waiting or running job can be cancelled"),
        "{stderr}"
    );
}

#[test]
fn a_cancelled_atomic_attempt_leaves_no_writes() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { workers: { careful: { atomic: true, timeoutSeconds: 120, maxAttempts: 2 } } }",
        ),
        ("migrations/001_marks.sql", "CREATE TABLE marks (id INTEGER PRIMARY KEY, note TEXT);"),
        (
            "functions/careful.ts",
            "export default async (job, ctx) => {\n  await ctx.db.insert('marks', { note: 'half done' })\n  await fetch(job.data.gate)\n}\n",
        ),
    ]);
    let server = project.start();
    let gate = Beacon::holding();
    let id = server
        .enqueue(&json!({ "name": "careful", "data": { "gate": format!("{}/inside", gate.url) } }))
        .job_id();
    assert_eq!(gate.next("the attempt to have written"), "/inside");
    let reply = cancel(&server, &id);
    assert_eq!(reply.status, 200, "{}", reply.body);
    gate.release();

    let shown = job(&server, &id);
    let attempt = server.record(shown["attempts"][0]["id"].as_str().unwrap_or_default());
    assert_eq!(attempt["status"], "cancelled");
    assert_eq!(attempt["mutations"][0]["committed"], false, "{attempt}");
    let exists = server.get("/_flux/api/rows/marks?column=note&value=%22half%20done%22");
    assert_eq!(exists.json()["exists"], false);
}

#[test]
fn records_stored_just_before_a_kill_are_searchable_after_the_restart() {
    let project = Project::with_files(FUNCTIONS);
    let server = project.start();
    let called: Vec<String> = (0..3)
        .map(|n| call(&server, "noisy", &json!({ "n": n })))
        .collect();
    // Killed at once: their texts may not be indexed yet (that waits up to 200 ms).
    unsafe {
        libc::kill(server.pid() as i32, libc::SIGKILL);
    }
    drop(server);
    let server = project.start();
    let mut searched = found(&server, "q=needle-in-console", 3);
    searched.reverse();
    assert_eq!(searched, called);
    // A search pages like the list.
    let first = records(&server, "q=needle-in-console&limit=2");
    let next = first["next"].as_str().expect("a second page");
    let second = records(
        &server,
        &format!("q=needle-in-console&limit=2&before={next}"),
    );
    assert_eq!(
        [ids(&first), ids(&second)].concat(),
        searched.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert!(second["next"].is_null());
    // And what comes after them is searchable as before.
    let later = call(&server, "noisy", &json!({ "n": 3 }));
    assert_eq!(found(&server, "q=console%203", 1), [later]);
}

#[test]
fn a_page_from_another_origin_can_neither_cancel_nor_replay() {
    let project = Project::with_files(WORKERS);
    let server = project.start();
    server.enqueue(&json!({ "name": "ship", "data": { "who": "ada" } }));
    let dead_id = wait_dead(&server, 1)[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let from_elsewhere = |path: &str, body: &str| {
        server.send(
            server
                .request(reqwest::Method::POST, path)
                .header("origin", "http://evil.example")
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    };
    for (path, body) in [
        (
            "/_flux/api/dead-letter/replay".to_string(),
            r#"{ "all": true }"#,
        ),
        (
            format!("/_flux/api/dead-letter/{dead_id}/replay"),
            r#"{ "data": 1 }"#,
        ),
        (format!("/_flux/api/jobs/{dead_id}/cancel"), ""),
    ] {
        let reply = from_elsewhere(&path, body);
        assert_eq!(reply.status, 403, "{path}: {}", reply.body);
    }
    let still = dead(&server, "");
    assert_eq!(still.len(), 1);
    assert_eq!(still[0]["id"], dead_id.as_str(), "not replayed");
}

#[test]
fn an_error_carries_the_typescript_lines_around_it_as_they_ran() {
    let project = Project::with_files(&[
        (
            "functions/typed.ts",
            "type In = { n: number }\nexport default (req: { body: In }) => {\n  const n: number = req.body.n\n  throw new Error('typed ' + n)\n}\n",
        ),
        ("functions/fine.ts", "export default () => 'fine'\n"),
    ]);
    let server = project.start();
    let id = call(&server, "typed", &json!({ "n": 7 }));
    // Edited since: the record keeps the lines that ran.
    project.write("functions/typed.ts", "export default () => 'fixed'\n");
    let record = server.record(&format!("{id}?why=1"));
    assert_eq!(record["error"]["location"], "typed.ts:4");
    assert_eq!(
        record["error"]["source"],
        json!([
            { "line": 1, "text": "type In = { n: number }" },
            { "line": 2, "text": "export default (req: { body: In }) => {" },
            { "line": 3, "text": "  const n: number = req.body.n" },
            { "line": 4, "text": "  throw new Error('typed ' + n)", "current": true },
            { "line": 5, "text": "}" },
        ])
    );
    // And `flux why`'s answer, in words, as the terminal prints it.
    let why = record["why"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("ROOT CAUSE Error: typed 7\nLOCATION typed.ts:4\n"),
        "{why}"
    );
    let (_, terminal, _) = project.run(&["why", &id, "--color", "never"]);
    assert_eq!(why.trim_end(), terminal.trim_end());
    // A record with nothing to explain has no answer.
    let fine = call(&server, "fine", &json!({}));
    assert!(server.record(&format!("{fine}?why=1")).get("why").is_none());
    // Asked without `why=1`, a failed record comes without it.
    let plain = server.record(&id);
    assert!(plain.get("why").is_none(), "{plain}");
    assert_eq!(plain["error"]["location"], "typed.ts:4");
    let reply = server.get(&format!("/_flux/api/records/{id}?why=yes"));
    assert_eq!(reply.status, 400, "{}", reply.body);
}

/// The events of a tail websocket opened with `query`, read until `count` arrived (or the
/// deadline), as `(function, status)`; other messages left out.
fn tail_events(
    server: &Server,
    query: &str,
    count: usize,
    mut between: impl FnMut() + Send,
) -> Vec<Value> {
    use futures_util::StreamExt;
    let url = format!(
        "{}/_flux/api/tail?{query}",
        server.url.replacen("http://", "ws://", 1)
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("tail");
        let mut events = Vec::new();
        let until = tokio::time::Instant::now() + DEADLINE;
        while events.len() < count {
            let message = tokio::time::timeout_at(until, socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out with {events:?}"))
                .expect("open")
                .expect("message");
            let Ok(text) = message.into_text() else {
                continue;
            };
            let event: Value = serde_json::from_str(&text).expect("json");
            if event.get("record").is_some() {
                events.push(event);
                // The history is in: what comes next is live.
                if events.len() == 1 {
                    // On a thread of its own: the blocking client runs a runtime of its own.
                    std::thread::scope(|scope| {
                        scope.spawn(&mut between).join().expect("between");
                    });
                }
            }
        }
        events
    })
}

#[test]
fn a_tail_with_q_streams_only_the_records_whose_text_matches() {
    let project = Project::with_files(FUNCTIONS);
    let server = project.start();
    let early = call(&server, "noisy", &json!({ "n": 1 }));
    call(
        &server,
        "quiet",
        &json!({ "text": "needle-in-console but in the input" }),
    );
    call(&server, "quiet", &json!({ "n": 2 }));
    let mut late = String::new();
    let events = tail_events(&server, "after=0&q=NEEDLE-in-console%201", 1, || {});
    assert_eq!(
        events[0]["record"]["id"],
        early.as_str(),
        "case-insensitive"
    );
    // History and then live, both filtered by the text (in the input, or a console line).
    let events = tail_events(&server, "after=0&q=in-console", 3, || {
        call(&server, "quiet", &json!({ "n": 3 }));
        late = call(&server, "noisy", &json!({ "n": 4 }));
    });
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["record"]["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids[0], early);
    assert_eq!(ids[2], late);
    assert!(events.iter().all(|e| e.get("search").is_none()), "not sent");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["record"]["function"] == "quiet")
            .count(),
        1,
        "{events:?}"
    );
}
