//! The API the dashboard reads: search and cursor paging of records, per-minute counts,
//! replays (edited, in bulk, by filter), cancelling jobs.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::{wait_for, Project, Server, DEADLINE};

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
    assert_eq!(ids(&records(&server, "q=needle-in-console")), [noisy]);
    // Substrings match, whatever their case.
    assert_eq!(ids(&records(&server, "q=lice%40example")), [quiet]);
    assert_eq!(ids(&records(&server, "q=capacitor")), vec![broken.clone()]);
    // Search combines with the other filters.
    assert!(ids(&records(&server, "q=capacitor&status=ok")).is_empty());
    assert_eq!(
        ids(&records(&server, "q=capacitor&fn=broken&type=http")),
        [broken]
    );
    // Query syntax is text: quotes and operators are searched for, not obeyed.
    assert!(ids(&records(&server, "q=%22needle%22%20OR%20quiet")).is_empty());

    let short = server.get("/_flux/api/records?q=ab");
    assert_eq!(short.status, 400, "{}", short.body);
    assert_eq!(
        short.json()["error"],
        "q=ab: a search needs at least 3 characters"
    );
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
    assert_eq!(ids(&records(&server, "q=needle-in-console")).len(), 3);
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
        count("SELECT count(*) FROM _flux_search_docsize"),
        count("SELECT count(*) FROM _flux_records"),
        "one search row per record left"
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
    let bob = dead(&server, "fn=pay&q=declined%20for%20bob");
    assert_eq!(bob.len(), 1);
    assert_eq!(
        dead(&server, "q=%22who%22%3A%22cyd%22").len(),
        2,
        "data are searched"
    );
    assert_eq!(server.get("/_flux/api/dead-letter?q=bo").status, 400);

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

    assert_eq!(by_filter(json!({ "all": true })).len(), 6);
    for bad in [
        json!({}),
        json!({ "all": true, "ids": [] }),
        json!({ "filter": { "q": "x" } }),
    ] {
        let reply = server.post_json("/_flux/api/dead-letter/replay", &bad.to_string());
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
    }
}
