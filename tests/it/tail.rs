use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::support::{wait_for, Project, Server, DEADLINE};

/// A running `flux tail`, its output lines arriving on a channel.
struct Tail {
    child: Child,
    lines: mpsc::Receiver<String>,
    errors: mpsc::Receiver<String>,
}

impl Tail {
    fn start(project: &Project, args: &[&str]) -> Tail {
        let mut command = project.flux(&[&["tail"], args].concat());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tail");
        let forward = |stream: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let lines = forward(Box::new(child.stdout.take().expect("stdout")));
        let errors = forward(Box::new(child.stderr.take().expect("stderr")));
        Tail {
            child,
            lines,
            errors,
        }
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(DEADLINE)
            .expect("a line from flux tail")
    }

    fn next_error(&self) -> String {
        self.errors
            .recv_timeout(DEADLINE)
            .expect("a line on flux tail's stderr")
    }
}

impl Tail {
    /// Triggers executions until one comes through: from then on the subscription is live.
    /// Lines of the other triggered executions may still come after this returns.
    fn wait_until_subscribed(&self, mut trigger: impl FnMut()) {
        wait_for("tail to subscribe", DEADLINE, || {
            trigger();
            self.lines.recv_timeout(Duration::from_millis(300)).ok()
        });
        while self.lines.try_recv().is_ok() {}
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fast_example() -> Project {
    let project = Project::example();
    project.write(
        "flux.config.ts",
        "export default { workers: { send_welcome_email: { maxAttempts: 2, backoff: { type: 'linear', initialDelay: '50ms' } } } }",
    );
    project
}

#[test]
fn tail_streams_job_attempts_with_their_errors_and_what_happens_next() {
    let project = fast_example();
    let server = project.start();
    let tail = Tail::start(&project, &["--filter", "type=job"]);
    tail.wait_until_subscribed(|| {
        server.post_json("/create_user", r#"{"email":"a@b.c"}"#);
    });
    server.enqueue(&json!({
        "name": "send_welcome_email", "data": { "userId": "u_99", "email": "a@b.com" }
    }));
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("dead-letter")) {
        let line = tail.next_line();
        if !line.starts_with("JOB send_welcome_email done") {
            seen.push(line);
        }
    }
    assert!(
        seen[0].starts_with("JOB send_welcome_email error "),
        "{seen:?}"
    );
    assert_eq!(seen[1], "└─ Error: user not found (userId: u_99)");
    assert!(seen[2].trim().starts_with("↻ attempt 2/2 in "), "{seen:?}");
    assert!(seen[3].contains(" attempt 2/2"), "{seen:?}");
    assert_eq!(
        seen[5].trim(),
        "✗ moved to the dead-letter queue after 2 attempts"
    );
    assert!(
        seen.iter().all(|l| !l.starts_with("POST ")),
        "type=job keeps requests out"
    );
}

#[test]
fn history_filters_and_no_follow() {
    let project = fast_example();
    let server = project.start();
    let created = server
        .post_json("/create_user", r#"{"email":"a@b.c"}"#)
        .request_id();
    server.post_json("/create_user", r#"{"email":"d@e.f"}"#);
    wait_for("both jobs", DEADLINE, || {
        let records = server.get("/_flux/api/records?type=job").json();
        (records["records"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
    let (code, stdout, stderr) = project.run(&[
        "tail",
        "--last",
        "1h",
        "--no-follow",
        "--filter",
        &format!("req={}", &created[..8]),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with("JOB send_welcome_email done "),
        "{stdout}"
    );
    let (_, all, _) = project.run(&["tail", "--last", "1h", "--no-follow", "--json"]);
    let events: Vec<serde_json::Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(events.len(), 4);
    assert!(events
        .windows(2)
        .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
    let (code, _, stderr) = project.run(&["tail", "--filter", "colour=red"]);
    assert_eq!(code, 2, "{stderr}");
    // With the server stopped, history still reads from the store.
    server.stop();
    let (code, stdout, stderr) = project.run(&[
        "tail",
        "--last",
        "1h",
        "--no-follow",
        "--filter",
        "type=http",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("POST /create_user 201"))
            .count(),
        2,
        "{stdout}"
    );
    let (code, _, _) = project.run(&["tail"]);
    assert_eq!(code, 4, "following needs a server");
}

#[test]
fn tail_reconnects_and_resumes_without_gaps_or_duplicates() {
    let project = Project::with_files(&[("functions/ping.ts", "export default () => 'pong'")]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
        .to_string();
    let server = Server::start(&project, &["--port", &port]);
    let tail = Tail::start(&project, &[]);
    let mut triggered = Vec::new();
    tail.wait_until_subscribed(|| triggered.push(server.get("/ping").request_id()));
    let before = server.get("/ping").request_id();
    // Lines of the pings sent while subscribing may still be on their way.
    let line = loop {
        let line = tail.next_line();
        if !triggered.iter().any(|id| line.contains(&id[..8])) {
            break line;
        }
    };
    assert!(line.contains(&before[..8]), "{line}");
    server.stop();
    assert_eq!(tail.next_error(), "reconnecting…");
    // Executions while tail is away are printed once it is back, in order, once each.
    let server = Server::start(&project, &["--port", &port]);
    let missed = server.get("/ping").request_id();
    let after = server.get("/ping").request_id();
    let first = tail.next_line();
    let second = tail.next_line();
    assert!(
        first.contains(&missed[..8]) && second.contains(&after[..8]),
        "{first} / {second}"
    );
    // The next line is the next execution's: none of the above came twice.
    let next = server.get("/ping").request_id();
    let line = tail.next_line();
    assert!(line.contains(&next[..8]), "a duplicate: {line}");
}

#[test]
fn the_tail_feed_carries_what_happens_next_as_data() {
    let project = fast_example();
    let server = project.start();
    let tail = Tail::start(&project, &["--filter", "type=job", "--json"]);
    tail.wait_until_subscribed(|| {
        server.post_json("/create_user", r#"{"email":"a@b.c"}"#);
    });
    server.enqueue(&json!({
        "name": "send_welcome_email", "data": { "userId": "u_99", "email": "a@b.com" }
    }));
    let mut kinds = Vec::new();
    while kinds.last() != Some(&"dead".to_string()) {
        let event: serde_json::Value =
            serde_json::from_str(&tail.next_line()).expect("an NDJSON event");
        if event["record"]["status"] == "ok" {
            continue;
        }
        let next = &event["next"];
        if next["kind"] == "retry" {
            assert!(next["run_at_us"].as_i64().is_some(), "{event}");
            assert_eq!(next["next_exec_id"].as_str().map(str::len), Some(32));
        }
        assert!(event.get("note").is_none(), "no rendered text: {event}");
        kinds.push(next["kind"].as_str().unwrap_or("none").to_string());
    }
    assert_eq!(kinds, ["retry", "dead"]);
}
