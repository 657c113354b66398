//! `flux deploy` and `flux serve`: what a version holds, deploying to a running server, the
//! version in each record, uploads of only what the server lacks, a refused migration,
//! `--list` and `--rollback`, the deploy scope, and requests during a deploy.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::support::{wait_for, Project, Server, DEADLINE};

fn hello(answer: &str) -> String {
    format!("export default () => new Response('{answer}')\n")
}

fn project(answer: &str) -> Project {
    Project::with_files(&[
        ("functions/hello.ts", &hello(answer)),
        (
            "migrations/001_notes.sql",
            "CREATE TABLE notes (id TEXT PRIMARY KEY);\n",
        ),
    ])
}

/// `flux deploy --to <server> <extra> --json`, run in the project: (exit code, its JSON or
/// null, stderr).
fn deploy(
    project: &Project,
    server: &Server,
    extra: &[&str],
    token: Option<&str>,
) -> (i32, Value, String) {
    let mut args = vec!["deploy", "--to", &server.url, "--json"];
    args.extend_from_slice(extra);
    let env: Vec<(&str, &str)> = token.map(|t| ("FLUX_TOKEN", t)).into_iter().collect();
    let (code, stdout, stderr) = project.run_with_env(&args, &env);
    (
        code,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

/// Deploys and returns the new version's short id (12 hex characters).
fn deployed(project: &Project, server: &Server) -> String {
    let (code, body, stderr) = deploy(project, server, &[], None);
    assert_eq!(code, 0, "{stderr}");
    body["version"]["id"].as_str().expect("version id")[..12].to_string()
}

fn answer(server: &Server) -> (u16, String) {
    let reply = server.get("/hello");
    (reply.status, reply.body)
}

fn code_version(server: &Server, reply_id: &str) -> String {
    server.record(reply_id)["code_version"]
        .as_str()
        .expect("code_version")
        .to_string()
}

#[test]
fn dry_run_lists_the_files_the_project_runs_and_nothing_else() {
    let project = Project::with_files(&[
        (
            "functions/hello.ts",
            "import { greet } from '../lib/greet.ts'\nimport shout from 'shout'\nexport default () => shout(greet())\n",
        ),
        ("lib/greet.ts", "export const greet = () => 'hi'\n"),
        ("lib/unused.ts", "export const x = 1\n"),
        (
            "node_modules/shout/package.json",
            r#"{ "name": "shout", "main": "index.js", "dependencies": { "upper": "1" } }"#,
        ),
        ("node_modules/shout/index.js", "module.exports = (s) => require('upper')(s) + '!'\n"),
        ("node_modules/shout/README.md", "docs\n"),
        ("node_modules/upper/package.json", r#"{ "name": "upper", "main": "index.js" }"#),
        ("node_modules/upper/index.js", "module.exports = (s) => s.toUpperCase()\n"),
        ("node_modules/unrelated/package.json", r#"{ "name": "unrelated" }"#),
        ("node_modules/unrelated/index.js", "module.exports = 1\n"),
        ("migrations/001_users.sql", "CREATE TABLE users (id TEXT);\n"),
        ("migrations/notes.txt", "not SQL\n"),
        ("emails/welcome.html", "<p>hi</p>\n"),
        (".flux/flux.db", "not deployed\n"),
        ("package.json", "{}\n"),
    ]);
    let (code, stdout, stderr) = project.run(&["deploy", "--dry-run", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let body: Value = serde_json::from_str(&stdout).expect("json");
    let paths: Vec<&str> = body["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        paths,
        [
            "emails/welcome.html",
            "functions/hello.ts",
            "lib/greet.ts",
            "migrations/001_users.sql",
            "node_modules/shout/index.js",
            "node_modules/shout/package.json",
            "node_modules/upper/index.js",
            "node_modules/upper/package.json",
            "package.json",
        ]
    );
    // The human form: the id as the CLI shows ids, the count, the size, the largest files.
    let (code, stdout, _) = project.run(&["deploy", "--dry-run"]);
    assert_eq!(code, 0);
    let id = body["version"].as_str().expect("version");
    assert!(
        stdout.starts_with(&format!("version {}: 9 files, ", &id[..12])),
        "{stdout}"
    );
    assert!(stdout.contains("largest files:"), "{stdout}");
    // The same files, the same version; a changed file, another.
    let (_, again, _) = project.run(&["deploy", "--dry-run", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&again).expect("json")["version"],
        body["version"]
    );
    project.write("lib/greet.ts", "export const greet = () => 'hello'\n");
    let (_, changed, _) = project.run(&["deploy", "--dry-run", "--json"]);
    assert_ne!(
        serde_json::from_str::<Value>(&changed).expect("json")["version"],
        body["version"]
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_project_or_a_huge_file_is_refused() {
    let project = project("v1");
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("secret.ts"), "export default 1\n").expect("write");
    std::os::unix::fs::symlink(
        outside.path().join("secret.ts"),
        project.path().join("functions/secret.ts"),
    )
    .expect("symlink");
    let (code, _, stderr) = project.run(&["deploy", "--dry-run"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("functions/secret.ts is a symlink to a place outside the project"),
        "{stderr}"
    );
    std::fs::remove_file(project.path().join("functions/secret.ts")).expect("remove");
    // A file too big to be code: refused by its size, before it is read.
    let big = std::fs::File::create(project.path().join("functions/huge.bin")).expect("create");
    big.set_len(33 * 1024 * 1024).expect("grow");
    let (code, _, stderr) = project.run(&["deploy", "--dry-run"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "functions/huge.bin is 33.0 MiB, more than a deployed file may be (32.0 MiB)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_deploy_switches_flux_serve_to_the_new_version_and_records_name_it() {
    let project = project("v1");
    let server = Server::serve(&project, &[]);
    let (status, body) = answer(&server);
    assert_eq!(status, 503);
    assert!(
        body.contains("no version deployed yet: run flux deploy"),
        "{body}"
    );

    let first = deployed(&project, &server);
    let reply = server.get("/hello");
    assert_eq!((reply.status, reply.body.as_str()), (200, "v1"));
    assert_eq!(code_version(&server, &reply.request_id()), first);
    // The debugging commands, from the project's folder, read the server deployed to.
    let id = reply.request_id();
    let (code, stdout, stderr) = project.run(&["trace", &id[..8], "--url", &server.url]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("hello"), "{stdout}");

    project.write("functions/hello.ts", &hello("v2"));
    let (code, body, stderr) = deploy(&project, &server, &["-m", "say v2"], None);
    assert_eq!(code, 0, "{stderr}");
    // Only the changed file travels.
    assert_eq!(body["uploaded"]["files"], 1, "{body}");
    let second = body["version"]["id"].as_str().expect("id")[..12].to_string();
    assert_ne!(second, first);
    let reply = server.get("/hello");
    assert_eq!((reply.status, reply.body.as_str()), (200, "v2"));
    assert_eq!(code_version(&server, &reply.request_id()), second);

    // The same project again: nothing to upload.
    let (code, body, _) = deploy(&project, &server, &[], None);
    assert_eq!(code, 0);
    assert_eq!(body["uploaded"]["files"], 0, "{body}");

    // --list: newest first, the active one marked, with its message.
    let (code, stdout, stderr) = project.run(&["deploy", "--to", &server.url, "--list"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[1].starts_with(&format!("*  {second}")), "{stdout}");
    assert!(lines[1].contains("say v2"), "{stdout}");
    assert!(lines[2].starts_with(&format!("   {first}")), "{stdout}");

    // --rollback: the one before; then by name.
    let (code, stdout, stderr) = project.run(&["deploy", "--to", &server.url, "--rollback"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("Version {first} is active again")),
        "{stdout}"
    );
    assert_eq!(answer(&server), (200, "v1".into()));
    let (code, _, stderr) =
        project.run(&["deploy", "--to", &server.url, "--rollback", &second[..6]]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(answer(&server), (200, "v2".into()));
    // A restarted server runs the active version at once.
    server.stop();
    let server = Server::serve(&project, &[]);
    assert_eq!(answer(&server), (200, "v2".into()));
    let (code, _, stderr) = project.run(&["deploy", "--to", &server.url, "--rollback", "abcdef"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no version abcdef"), "{stderr}");
}

#[test]
fn a_deploy_whose_migration_fails_is_refused_and_the_old_version_keeps_serving() {
    let project = project("v1");
    let server = Server::serve(&project, &[]);
    deployed(&project, &server);
    project.write("functions/hello.ts", &hello("v2"));
    project.write(
        "migrations/002_broken.sql",
        "-- a second table\nCREATE TABLEE oops (id TEXT);\n",
    );
    let (code, _, stderr) = deploy(&project, &server, &[], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("migrations/002_broken.sql:2"), "{stderr}");
    assert!(stderr.contains("syntax error"), "{stderr}");
    assert!(
        stderr.contains("keeps running the version before"),
        "{stderr}"
    );
    assert_eq!(answer(&server), (200, "v1".into()));
    // The refused version is not among the versions.
    let (_, stdout, _) = project.run(&["deploy", "--to", &server.url, "--list", "--json"]);
    let versions: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{stdout}");
}

#[test]
fn a_read_token_cannot_deploy_and_a_deploy_token_can() {
    let project = project("v1");
    let server = Server::serve(&project, &["--host", "0.0.0.0", "--token", "s3cret"]);
    // Through the API: the CLI in the project folder takes a server of other files for
    // another project's (deploy itself does not).
    let token = |scope: &str, name: &str| {
        let reply = server.send(
            server
                .request(reqwest::Method::POST, "/_flux/api/tokens")
                .header("authorization", "Bearer s3cret")
                .json(&serde_json::json!({ "scope": scope, "name": name })),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()["token"].as_str().expect("token").to_string()
    };
    let read = token("read", "oncall");
    let ci = token("deploy", "ci");
    let (code, _, stderr) = deploy(&project, &server, &[], Some(&read));
    assert_ne!(code, 0);
    assert!(
        stderr.contains("403") || stderr.contains("forbidden"),
        "{stderr}"
    );
    assert!(
        stderr.contains("flux token create --scope deploy"),
        "{stderr}"
    );
    assert_eq!(server.get("/hello").status, 503);
    let (code, body, stderr) = deploy(&project, &server, &[], Some(&ci));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(body["version"]["deployed_by"], "ci");
    assert_eq!(answer(&server), (200, "v1".into()));
    // Without a token: 401, as every /_flux/ route beyond loopback.
    let (code, _, _) = deploy(&project, &server, &[], None);
    assert_eq!(code, 5);
}

#[test]
fn requests_during_a_deploy_all_succeed() {
    let project = project("v1");
    let server = Arc::new(Server::serve(&project, &[]));
    deployed(&project, &server);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load = {
        let (server, stop, done) = (Arc::clone(&server), Arc::clone(&stop), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                answers.push(answer(&server));
                done.fetch_add(1, Ordering::SeqCst);
            }
            answers
        })
    };
    wait_for("requests before the deploy", DEADLINE, || {
        (done.load(Ordering::SeqCst) >= 5).then_some(())
    });
    project.write("functions/hello.ts", &hello("v2"));
    deployed(&project, &server);
    let seen = done.load(Ordering::SeqCst);
    wait_for("requests after the deploy", DEADLINE, || {
        (done.load(Ordering::SeqCst) >= seen + 5).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    let answers = load.join().expect("load thread");
    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(answers.first().map(|a| a.1.as_str()), Some("v1"));
    assert_eq!(answers.last().map(|a| a.1.as_str()), Some("v2"));
}

fn worker(version: &str) -> String {
    format!("// {version}\nexport default async function handler(job: FluxJob, ctx: FluxContext) {{}}\n")
}

#[test]
fn jobs_enqueued_by_one_version_run_on_the_next_and_a_removed_worker_is_warned_about() {
    let project = Project::with_files(&[
        ("functions/hello.ts", &hello("v1")),
        ("functions/work.ts", &worker("v1")),
        ("functions/gone.ts", &worker("v1")),
    ]);
    let server = Server::serve(&project, &[]);
    deployed(&project, &server);
    // Held back, so that they are still waiting when the next version comes.
    assert_eq!(server.post("/_flux/api/queue/pause").status, 200);
    let job = server
        .enqueue(&serde_json::json!({ "name": "work", "data": null }))
        .job_id();
    let orphan = server
        .enqueue(&serde_json::json!({ "name": "gone", "data": null }))
        .job_id();
    project.write("functions/work.ts", &worker("v2"));
    std::fs::remove_file(project.path().join("functions/gone.ts")).expect("remove");
    let second = deployed(&project, &server);
    server.wait_for_output("1 job(s) wait for gone, which has no function now");
    assert_eq!(server.post("/_flux/api/queue/resume").status, 200);
    let done = wait_for("the job to run on the new version", DEADLINE, || {
        let body = server.get(&format!("/_flux/api/jobs/{job}")).json();
        (body["job"]["state"] == "done").then_some(body)
    });
    let attempt = done["attempts"][0]["id"].as_str().expect("attempt id");
    assert_eq!(code_version(&server, attempt), second);
    let orphan = server.get(&format!("/_flux/api/jobs/{orphan}")).json();
    assert_eq!(orphan["job"]["state"], "pending", "{orphan}");
}

#[test]
fn a_deployed_version_runs_its_helpers_and_packages_and_an_unresolved_import_is_refused() {
    let project = Project::with_files(&[
        (
            "functions/hello.ts",
            "import { greet } from '../lib/greet.ts'\nimport shout from 'shout'\nexport default () => new Response(shout(greet()))\n",
        ),
        ("lib/greet.ts", "export const greet = () => 'hi'\n"),
        (
            "node_modules/shout/package.json",
            r#"{ "name": "shout", "main": "index.js" }"#,
        ),
        ("node_modules/shout/index.js", "module.exports = (s) => s.toUpperCase() + '!'\n"),
    ]);
    let server = Server::serve(&project, &[]);
    deployed(&project, &server);
    assert_eq!(answer(&server), (200, "HI!".into()));
    project.write(
        "functions/hello.ts",
        "import nope from 'nope'\nexport default () => nope\n",
    );
    let (code, _, stderr) = deploy(&project, &server, &[], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot import 'nope' from hello.ts: no package 'nope' in node_modules"),
        "{stderr}"
    );
    assert_eq!(answer(&server), (200, "HI!".into()));
}

#[test]
fn without_to_a_deploy_goes_to_the_projects_flux_dev_which_keeps_it() {
    let project = project("v1");
    let server = project.start();
    let (code, stdout, stderr) = project.run(&["deploy", "-m", "from my laptop"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("Deployed version ") && stdout.contains(&server.url),
        "{stdout}"
    );
    let (code, stdout, stderr) = project.run(&["deploy", "--list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("from my laptop"), "{stdout}");
}
