//! Recorded data never reaches the terminal raw: control characters and bidi overrides from a
//! request body, a console line, an error message or a row value are shown escaped by every
//! command and by `flux dev` itself, while `--format json` keeps them exact.

use serde_json::Value;

use crate::support::{assert_filtered_snapshot, wait_for, Project, Server, DEADLINE};

/// A window-title change (OSC … BEL), a screen clear (CSI 2J), a carriage return and a
/// right-to-left override.
const EVIL: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{202e}";
/// The same, as the terminal should show it.
const SHOWN: &str = "\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\r\\u{202e}";

fn hostile_project() -> Project {
    Project::with_files(&[
        (
            "flux.config.ts",
            "export default { workers: { hostile_job: { maxAttempts: 1 } } }",
        ),
        (
            "migrations/001.sql",
            "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT);",
        ),
        (
            "functions/hostile.ts",
            "export default async function handler(req, ctx) {\n  const evil = req.body.evil\n  console.log('said ' + evil)\n  await ctx.db.insert('notes', { id: 'n' + evil, body: evil })\n  await ctx.queue.enqueue('hostile_job', { evil })\n  throw new Error('boom ' + evil)\n}\n",
        ),
        (
            "functions/hostile_job.ts",
            "export default async function handler(job, ctx) {\n  console.log('job ' + job.data.evil)\n  throw new Error('job failed ' + job.data.evil)\n}\n",
        ),
    ])
}

/// Fails when `output` holds a byte a terminal would act on; `what` names the command.
fn assert_inert(what: &str, output: &str) {
    for bad in ['\u{1b}', '\u{7}', '\r', '\u{202e}', '\u{9b}'] {
        assert!(
            !output.contains(bad),
            "{what} wrote {bad:?} raw to the terminal:\n{output:?}"
        );
    }
}

/// `flux <args>` in `project`: its stdout and stderr must be inert, and stdout must show
/// the escaped form.
fn run_inert(project: &Project, args: &[&str]) -> String {
    let (code, stdout, stderr) = project.run(args);
    assert_eq!(code, 0, "flux {args:?}: {stderr}");
    let what = format!("flux {}", args.join(" "));
    assert_inert(&what, &stdout);
    assert_inert(&what, &stderr);
    assert!(
        stdout.contains(SHOWN),
        "{what} does not show the escaped text:\n{stdout}"
    );
    stdout
}

/// A failed request with hostile text everywhere, and its job, dead after one attempt.
fn hostile_run(project: &Project) -> (Server, String, String) {
    let server = project.start();
    let body = serde_json::json!({ "evil": EVIL }).to_string();
    let reply = server.post_json("/hostile", &body);
    assert_eq!(reply.status, 500, "{}", reply.body);
    let id = reply.request_id();
    let record = server.record(&id);
    let job_id = record["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find_map(|s| s["attrs"]["job_id"].as_str()))
        .expect("the request enqueued a job")
        .to_string();
    let attempt = wait_for("the job to die", DEADLINE, || {
        let reply = server.get(&format!("/_flux/api/jobs/{job_id}"));
        let value = reply.json();
        (value["job"]["state"] == "dead")
            .then(|| value["attempts"][0]["id"].as_str().map(String::from))
            .flatten()
    });
    server.record(&attempt);
    (server, id, attempt)
}

#[test]
fn recorded_control_characters_are_shown_escaped_by_every_command() {
    let project = hostile_project();
    let (server, id, attempt) = hostile_run(&project);

    let trace = run_inert(&project, &["trace", &id, "--color", "never"]);
    assert_filtered_snapshot!("hostile_trace", trace);
    run_inert(&project, &["trace", &id, "--verbose"]);
    run_inert(&project, &["trace", &attempt, "--verbose"]);
    run_inert(&project, &["why", &id]);
    run_inert(&project, &["why", &attempt]);
    run_inert(&project, &["tail", "--last", "1h", "--no-follow"]);
    run_inert(&project, &["state", "history", "notes"]);
    let row = format!("n{EVIL}");
    run_inert(&project, &["state", "blame", "notes", "--id", &row]);
    run_inert(&project, &["queue", "list"]);
    run_inert(&project, &["queue", "dead-letter", "list"]);

    // With colour on, the only escape sequences are the renderer's own colours (SGR).
    let (code, coloured, _) = project.run(&["trace", &id, "--verbose", "--color", "always"]);
    assert_eq!(code, 0);
    assert!(coloured.contains("\u{1b}[31m"), "no colour: {coloured:?}");
    for bad in ["\u{1b}]", "\u{1b}[2J", "\u{7}", "\r", "\u{202e}"] {
        assert!(!coloured.contains(bad), "{bad:?} raw: {coloured:?}");
    }

    // flux dev's own lines: the execution lines and the functions' console output.
    let output = server.wait_for_output("job failed");
    assert_inert("flux dev", &output);
    assert!(output.contains(&format!("said {SHOWN}")), "{output}");
    assert!(output.contains(&format!("boom {SHOWN}")), "{output}");

    // The same read from the store, with the server stopped.
    drop(server);
    run_inert(&project, &["trace", &id]);
    run_inert(&project, &["queue", "dead-letter", "list"]);
}

#[test]
fn json_output_keeps_the_recorded_bytes_exact() {
    let project = hostile_project();
    let (_server, id, attempt) = hostile_run(&project);

    let (code, json, _) = project.run(&["trace", &id, "--format", "json"]);
    assert_eq!(code, 0);
    let record: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(record["input"]["body"]["evil"], EVIL);
    assert_eq!(record["console"][0]["message"], format!("said {EVIL}"));
    assert_eq!(record["error"]["message"], format!("boom {EVIL}"));
    assert_eq!(record["mutations"][0]["after"]["body"], EVIL);

    let (code, json, _) = project.run(&["queue", "dead-letter", "list", "--json"]);
    assert_eq!(code, 0);
    let dead: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(dead[0]["id"], attempt.as_str());
    let error = dead[0]["error"].as_str().expect("error");
    assert!(error.ends_with(&format!("job failed {EVIL}")), "{error:?}");

    let (code, json, _) = project.run(&["state", "history", "notes", "--json"]);
    assert_eq!(code, 0);
    let changes: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(changes[0]["pk"], format!("n{EVIL}"));
}
