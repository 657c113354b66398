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
