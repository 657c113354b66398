//! Two projects side by side: a command run in one never answers from the other's server.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crate::support::{wait_for, Project, Server, DEADLINE};

/// A project whose one function records a row naming the project.
fn project(name: &str) -> Project {
    Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE items (id TEXT PRIMARY KEY, owner TEXT);",
        ),
        (
            &format!("functions/{name}_only.ts"),
            &format!("export default async function handler(req, ctx) {{\n  await ctx.db.insert('items', {{ id: '{name}_item', owner: '{name}' }})\n  return {{ ok: true }}\n}}\n"),
        ),
    ])
}

/// `flux <args>` in `project`, talking to `url` through FLUX_URL.
fn run_with_url(project: &Project, url: &str, args: &[&str]) -> (i32, String, String) {
    let output = project
        .flux(args)
        .env("FLUX_URL", url)
        .output()
        .expect("run flux");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Project A with one recorded execution and its server stopped; project B serving, with
/// one execution of its own.
fn a_stopped_b_running() -> (Project, String, String, Project, Server, String) {
    let a = project("alpha");
    let a_server = a.start();
    let a_url = a_server.url.clone();
    let a_id = a_server.get("/alpha_only").request_id();
    a_server.record(&a_id);
    a_server.stop();
    let b = project("beta");
    let b_server = b.start();
    let b_id = b_server.get("/beta_only").request_id();
    b_server.record(&b_id);
    (a, a_id, a_url, b, b_server, b_id)
}

#[test]
fn reads_in_a_project_never_show_another_projects_server() {
    let (a, a_id, _, b, b_server, b_id) = a_stopped_b_running();
    let b_root = b.path().canonicalize().expect("canonical");
    let notice = format!(
        "the flux server at {} belongs to another project ({})",
        b_server.url,
        b_root.display()
    );

    // FLUX_URL names B's server: A's own execution is found in A's store, with a notice.
    let (code, stdout, stderr) = run_with_url(&a, &b_server.url, &["trace", &a_id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("GET /alpha_only 200"), "{stdout}");
    assert!(stderr.contains(&notice), "{stderr}");
    assert!(stderr.contains("reading this project's store"), "{stderr}");
    // B's execution is not A's: not found, rather than B's record.
    let (code, stdout, stderr) = run_with_url(&a, &b_server.url, &["trace", &b_id[..8]]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(!stdout.contains("beta"), "{stdout}");

    for args in [
        &["tail", "--last", "1h", "--no-follow"][..],
        &["state", "history", "items"],
        &["queue", "list"],
    ] {
        let (code, stdout, stderr) = run_with_url(&a, &b_server.url, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(
            !stdout.contains("beta"),
            "{args:?} showed B's data: {stdout}"
        );
        assert!(stderr.contains(&notice), "{args:?}: {stderr}");
    }
    let (_, tail, _) = run_with_url(&a, &b_server.url, &["tail", "--last", "1h", "--no-follow"]);
    assert!(tail.contains("GET /alpha_only 200"), "{tail}");
    let (_, history, _) = run_with_url(&a, &b_server.url, &["state", "history", "items"]);
    assert!(history.contains("owner  ∅ → 'alpha'"), "{history}");

    // The user config's url names B's server: the same.
    let home = tempfile::tempdir().expect("home");
    let config_home = home.path().join("config");
    let set = a
        .flux(&["config", "set", "url", &b_server.url])
        .env("XDG_CONFIG_HOME", &config_home)
        .output()
        .expect("flux config set");
    assert!(set.status.success(), "{set:?}");
    let output = a
        .flux(&["trace", &a_id[..8]])
        .env("XDG_CONFIG_HOME", &config_home)
        .output()
        .expect("flux trace");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("GET /alpha_only 200"), "{stdout}");
    assert!(stderr.contains(&notice), "{stderr}");

    // A stale .flux/server.json (A was killed, B took its address) is caught the same way.
    std::fs::write(
        a.path().join(".flux/server.json"),
        serde_json::json!({ "url": b_server.url, "pid": 1 }).to_string(),
    )
    .expect("write server.json");
    let (code, stdout, stderr) = a.run(&["trace", &a_id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("GET /alpha_only 200"), "{stdout}");
    assert!(stderr.contains(&notice), "{stderr}");

    // From B's own folder, the same address is B's server, used as before.
    let (code, stdout, stderr) = run_with_url(&b, &b_server.url, &["trace", &b_id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("GET /beta_only 200"), "{stdout}");
    assert!(!stderr.contains("another project"), "{stderr}");
}

#[test]
fn nothing_is_sent_to_another_projects_server() {
    let (a, _, _, _b, b_server, _) = a_stopped_b_running();

    // Following needs A's server: B's is refused at once, and said to be another project's.
    let mut tail = a
        .flux(&["tail"])
        .env("FLUX_URL", &b_server.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flux tail");
    let ended = wait_for("flux tail to refuse B's server", DEADLINE, || {
        match tail.try_wait() {
            Ok(None) => None,
            other => Some(other),
        }
    });
    let _ = tail.kill();
    let output = tail.wait_with_output().expect("tail output");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(
        ended.ok().flatten().and_then(|status| status.code()),
        Some(4),
        "{stdout}{stderr}"
    );
    assert!(stderr.contains("belongs to another project"), "{stderr}");
    assert!(stderr.contains("flux dev"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");

    // A write meant for A does not land in B.
    let (code, _, stderr) = run_with_url(&a, &b_server.url, &["queue", "enqueue", "beta_only"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("belongs to another project"), "{stderr}");
    let jobs = b_server.get("/_flux/api/jobs").json();
    assert_eq!(jobs["jobs"], serde_json::json!([]), "B got a job: {jobs}");

    // A folder that has never been served has no identity: a server with one is not its.
    let fresh = Project::with_files(&[("functions/x.ts", "export default () => 1")]);
    let (code, stdout, stderr) = run_with_url(&fresh, &b_server.url, &["queue", "stats"]);
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(stderr.contains("belongs to another project"), "{stderr}");
}

#[test]
fn a_server_that_does_not_answer_is_named_with_the_address_this_project_last_used() {
    let (a, _, a_url, _b, _b_server, _) = a_stopped_b_running();
    let (code, _, stderr) = run_with_url(&a, "http://127.0.0.1:9", &["queue", "pause"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "no flux server at http://127.0.0.1:9 (this project's server last ran at {a_url})"
        )),
        "{stderr}"
    );
    // Once it runs again, its identity is the same: the CLI uses it without a notice.
    let a_server = a.start();
    let (code, _, stderr) = run_with_url(&a, &a_server.url, &["queue", "stats"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("another project"), "{stderr}");
}

#[test]
fn a_tail_does_not_follow_another_project_onto_its_servers_address() {
    let a = project("alpha");
    let a_server = a.start();
    let port = a_server.url.rsplit(':').next().expect("port").to_string();
    let mut tail = a
        .flux(&["tail"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flux tail");
    let printed = Arc::new(Mutex::new(String::new()));
    let stdout = tail.stdout.take().expect("stdout");
    let into = Arc::clone(&printed);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            into.lock().expect("lock").push_str(&format!("{line}\n"));
        }
    });
    // The tail is connected once it prints A's execution.
    wait_for("the tail to print A's execution", DEADLINE, || {
        a_server.get("/alpha_only");
        let text = printed.lock().expect("lock").clone();
        text.contains("GET /alpha_only").then_some(())
    });
    a_server.stop();

    // B takes A's address while the tail tries to reconnect.
    let b = project("beta");
    let b_server = Server::start(&b, &["--port", &port]);
    b_server.get("/beta_only");
    let ended = wait_for("the tail to stop at B's server", DEADLINE, || {
        match tail.try_wait() {
            Ok(None) => None,
            other => Some(other),
        }
    });
    let _ = tail.kill();
    let output = tail.wait_with_output().expect("tail output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        ended.ok().flatten().and_then(|status| status.code()),
        Some(4),
        "{stderr}"
    );
    assert!(stderr.contains("now serves another project"), "{stderr}");
    let printed = printed.lock().expect("lock").clone();
    assert!(
        !printed.contains("beta"),
        "the tail printed B's data: {printed}"
    );
}
