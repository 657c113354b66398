use crate::support::{Beacon, Project, Server};

const PROJECT: &[(&str, &str)] = &[
    (
        "flux.config.ts",
        "export default { http: { timeoutSeconds: 0.5, maxBodySize: '1kb' } }",
    ),
    (
        "functions/echo.ts",
        "export default (req) => ({ body: req.body })",
    ),
    ("functions/create_user.ts", "export default () => 'created'"),
    (
        "functions/throw_value.ts",
        "export default async () => { throw { code: 42 } }",
    ),
    (
        "functions/never.ts",
        "export default () => new Promise(() => {})",
    ),
    // Tells the test it has started (by fetching `req.query.beacon`), then spins.
    (
        "functions/spin.ts",
        "export default async (req) => { await fetch(req.query.beacon); while (true) {} }",
    ),
    (
        "functions/pending_fetch.ts",
        "export default async (req) => { await fetch(req.query.target); return 'late' }",
    ),
    (
        "functions/raw_commit.ts",
        "export default async (req, ctx) => { await ctx.db.query('/* end it */ COMMIT') }",
    ),
    (
        "functions/slow.ts",
        "export default async () => { await new Promise(r => setTimeout(r, 5000)); return 'slow' }",
    ),
];

#[test]
fn a_json_body_with_a_lone_surrogate_escape_is_accepted_with_u_fffd_in_its_place() {
    // JSON.stringify writes "\ud83d" for a string cut inside an emoji; JSON.parse accepts it.
    // flux holds the body as UTF-8, so the lone half is U+FFFD (as a USVString would be).
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let reply = server.post_json(
        "/echo",
        r#"{"cut":"ab\ud83d","low":"\ude00","pair":"\ud83d\ude00","text":"\\ud800"}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json()["body"],
        serde_json::json!({
            "cut": "ab\u{FFFD}",
            "low": "\u{FFFD}",
            "pair": "\u{1F600}",
            "text": "\\ud800",
        })
    );
}

#[test]
fn a_malformed_json_body_is_a_recorded_400() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let reply = server.post_json("/echo", "{\"email\": ");
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("malformed JSON body"),
        "{}",
        reply.body
    );
    let record = server.record(&reply.request_id());
    assert_eq!(record["status"], "error");
    assert_eq!(record["http_status"], 400);
    assert_eq!(record["input"]["body"], "{\"email\": ");
}

#[test]
fn a_body_over_the_limit_is_a_recorded_413() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let reply = server.post_json("/echo", &format!("\"{}\"", "a".repeat(2000)));
    assert_eq!(reply.status, 413);
    assert!(reply.body.contains("http.maxBodySize"), "{}", reply.body);
    assert_eq!(server.record(&reply.request_id())["http_status"], 413);
    assert_eq!(
        server.post_json("/echo", "\"small\"").json()["body"],
        "small"
    );
}

#[test]
fn an_unknown_function_is_a_404_naming_close_matches() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let reply = server.get("/create_usr");
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.json()["suggestions"],
        serde_json::json!(["/create_user"])
    );
    assert!(reply.json()["error"]
        .as_str()
        .unwrap_or("")
        .contains("did you mean /create_user?"));
}

#[test]
fn path_traversal_never_leaves_the_functions_folder() {
    let project = Project::with_files(PROJECT);
    project.write("secret.ts", "export default () => 'secret'");
    let server = project.start();
    for path in [
        "/../secret",
        "/%2e%2e/secret",
        "/%2E%2E%2Fsecret",
        "/echo/..%2f..%2fsecret",
        "/..%5csecret",
    ] {
        let response = std::process::Command::new("curl")
            .args(["-s", "--path-as-is", &format!("{}{path}", server.url)])
            .output();
        let body = match response {
            Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
            Err(_) => server.get(path).body,
        };
        assert!(
            !body.contains("secret\""),
            "{path} reached outside functions/: {body}"
        );
    }
}

#[test]
fn throwing_a_non_error_value_is_recorded_with_the_value() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let reply = server.get("/throw_value");
    assert_eq!(reply.status, 500);
    let record = server.record(&reply.request_id());
    assert_eq!(
        record["error"]["message"],
        "a non-Error value was thrown: {\"code\":42}"
    );
}

#[test]
fn transaction_statements_in_sql_are_refused_with_the_way_to_do_it() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let reply = server.get("/raw_commit");
    assert_eq!(reply.status, 500);
    let record = server.record(&reply.request_id());
    let message = record["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("use ctx.db.transaction(async (tx) =>"),
        "{record}"
    );
}

#[test]
fn a_handler_that_never_resolves_is_killed_at_the_timeout() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let reply = server.get("/never");
    assert_eq!(reply.status, 504);
    let record = server.record(&reply.request_id());
    assert_eq!(record["status"], "timeout");
    assert_eq!(record["error"]["message"], "timed out after 500ms");
}

#[test]
fn a_timeout_names_what_was_pending() {
    let project = Project::with_files(PROJECT);
    let server = project.start();
    let reply = server.get(&format!("/pending_fetch?target={}/slow", server.url));
    assert_eq!(reply.status, 504);
    let record = server.record(&reply.request_id());
    let message = record["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("while waiting on fetch at pending_fetch.ts:1"),
        "{message}"
    );
    assert_eq!(record["spans"][1]["status"], "pending");
}

#[test]
fn a_busy_loop_is_killed_and_the_server_stays_responsive() {
    let beacon = Beacon::start();
    let project = Project::with_files(PROJECT);
    // Long enough that the other request is surely answered while the loop still spins.
    project.write(
        "flux.config.ts",
        "export default { http: { timeoutSeconds: 10 } }",
    );
    let server = project.start();
    let url = format!("{}/spin?beacon={}/spinning", server.url, beacon.url);
    let spinner = std::thread::spawn(move || {
        reqwest::blocking::get(url)
            .map(|r| r.status().as_u16())
            .ok()
    });
    assert_eq!(beacon.next("the handler to start spinning"), "/spinning");
    assert_eq!(server.get("/echo").status, 200);
    assert!(
        !spinner.is_finished(),
        "the other request was answered only once the spinning handler had been stopped"
    );
    assert_eq!(spinner.join().expect("join"), Some(504));
    // The engine that ran the loop serves again.
    for _ in 0..8 {
        assert_eq!(server.get("/echo").status, 200);
    }
}

#[test]
fn a_corrupt_store_is_reported_and_left_untouched() {
    let project = Project::with_files(PROJECT);
    let garbage = b"this is not a sqlite database, but it is somebody's data".repeat(100);
    project.write(
        ".flux/flux.db",
        std::str::from_utf8(&garbage).expect("utf8"),
    );
    let output = Server::try_start(&project, &[])
        .err()
        .expect("start-up must fail");
    assert!(output.contains(".flux/flux.db"), "{output}");
    assert!(output.contains("not a flux store"), "{output}");
    assert!(output.contains("mv "), "{output}");
    assert_eq!(
        std::fs::read(project.path().join(".flux/flux.db")).expect("still there"),
        garbage
    );
}

#[test]
fn a_broken_config_stops_start_up_naming_the_key() {
    let project = Project::with_files(&[
        ("functions/x.ts", "export default () => 1"),
        (
            "flux.config.ts",
            "export default { workers: { x: { maxAttempts: 'five' } } }",
        ),
    ]);
    let output = Server::try_start(&project, &[])
        .err()
        .expect("start-up must fail");
    assert!(
        output.contains("flux.config.ts: workers.x.maxAttempts"),
        "{output}"
    );
}

#[test]
fn a_duration_without_a_unit_is_a_usage_error_with_an_example() {
    let project = Project::with_files(PROJECT);
    let _server = project.start();
    for (args, example) in [
        (&["tail", "--last", "1", "--no-follow"][..], "--last 1h"),
        (&["tail", "--since", "5", "--no-follow"][..], "--since 10m"),
        (
            &["state", "history", "users", "--last", "1"][..],
            "--last 1h",
        ),
        (
            &["queue", "enqueue", "create_user", "--delay", "2"][..],
            "--delay 10m",
        ),
    ] {
        let (code, stdout, stderr) = project.run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("has no unit"), "{args:?}: {stderr}");
        assert!(stderr.contains(example), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    // Nothing was enqueued by the refused command.
    let (code, stdout, _) = project.run(&["queue", "list", "--format", "json"]);
    assert_eq!(code, 0);
    assert!(!stdout.contains("create_user"), "{stdout}");
}
