//! Which files are routes and which are workers, what a request for the wrong one is told,
//! what reloading a config or removing a worker says, and where `flux dev` runs from.

use serde_json::{json, Value};

use crate::support::{wait_for, Project, Server, DEADLINE};

/// The example project's worker, configured as the product page does.
const WORKER_CONFIG: &str =
    "export default { workers: { send_welcome_email: { maxAttempts: 3 } } }\n";

fn error_of(reply: &crate::support::Reply) -> String {
    reply.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn stats_row(server: &Server, function: &str) -> Value {
    let all = server.get("/_flux/api/queue/stats").json();
    all["stats"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["function"] == function).cloned())
        .unwrap_or(Value::Null)
}

#[test]
fn a_configured_worker_is_not_an_http_route_unless_its_config_says_so() {
    let project = Project::example();
    project.write("flux.config.ts", WORKER_CONFIG);
    let server = project.start();
    let output = server.wait_for_output("state ");
    assert!(
        output.contains("  workers    send_welcome_email        functions/send_welcome_email.ts"),
        "the banner lists workers apart from routes:\n{output}"
    );

    let reply = server.post_json("/send_welcome_email", r#"{"userId":"u_1"}"#);
    assert_eq!(reply.status, 404);
    insta::assert_snapshot!(error_of(&reply), @"send_welcome_email is a worker: enqueue it with ctx.queue.enqueue or flux queue enqueue; set workers.send_welcome_email.http = true to also serve it");
    assert!(
        reply.headers.get("x-flux-request-id").is_none(),
        "nothing ran"
    );

    // The story still works: the route enqueues the worker, which runs.
    let created = server.post_json(
        "/create_user",
        r#"{"email":"ada@example.com","name":"Ada"}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    wait_for("the welcome job", DEADLINE, || {
        (stats_row(&server, "send_welcome_email")["done"] == 1).then_some(())
    });

    project.write(
        "flux.config.ts",
        "export default { workers: { send_welcome_email: { http: true } } }\n",
    );
    wait_for("the worker served over HTTP", DEADLINE, || {
        let reply = server.post_json("/send_welcome_email", r#"{"userId":"u_1"}"#);
        (reply.status != 404).then_some(())
    });
}

#[test]
fn an_enqueued_function_becomes_a_worker_and_stays_one_after_a_restart() {
    let project = Project::with_files(&[
        ("functions/notify.ts", "export default () => 'notified'"),
        (
            "functions/kick.ts",
            "export default async (req, ctx) => { await ctx.queue.enqueue('notify', {}); return 'kicked' }",
        ),
    ]);
    let server = project.start();
    // Not a worker yet: nothing names it so.
    assert_eq!(server.get("/notify").json(), "notified");
    assert_eq!(server.get("/kick").json(), "kicked");
    let reply = server.get("/notify");
    assert_eq!(reply.status, 404);
    assert!(
        error_of(&reply).starts_with("notify is a worker"),
        "{}",
        reply.body
    );
    // A near miss is not pointed at a worker.
    let near = server.get("/notifyy");
    assert_eq!(near.status, 404);
    assert_eq!(near.json()["suggestions"], json!([]), "{}", near.body);
    drop(server.stop());

    // The store remembers what was enqueued.
    let server = project.start();
    assert_eq!(server.get("/notify").status, 404);
}

#[test]
fn test_files_type_files_and_helpers_are_not_routes_and_404s_say_why() {
    let project = Project::with_files(&[
        ("functions/hello.ts", "export default () => 'hi'"),
        ("functions/hello.test.ts", "export default () => 'test'"),
        ("functions/billing/charge.spec.ts", "export default () => 'spec'"),
        ("functions/types.d.ts", "export type User = { id: string }"),
        (
            "functions/shapes.ts",
            "// shared shapes\nexport type User = { id: string }\nexport interface Job { n: number }\n",
        ),
        ("functions/_util.ts", "export const x = 1"),
        ("functions/billing/index.ts", "export default () => 'billing'"),
    ]);
    let server = project.start();
    assert_eq!(server.get("/hello").json(), "hi");
    assert_eq!(server.get("/billing").json(), "billing");
    for path in [
        "/hello.test",
        "/billing/charge.spec",
        "/types",
        "/types.d",
        "/shapes",
    ] {
        assert_eq!(server.get(path).status, 404, "{path}");
    }
    insta::assert_snapshot!(error_of(&server.get("/")), @"no function serves / — create functions/index.ts to serve /");
    insta::assert_snapshot!(error_of(&server.get("/billing/index")), @"no function serves /billing/index — an index file serves its folder: functions/billing/index.ts serves /billing");
    insta::assert_snapshot!(error_of(&server.get("/index")), @"no function serves /index — an index file serves its folder: functions/index.ts would serve /");
    insta::assert_snapshot!(error_of(&server.get("/_util")), @"no function serves /_util — functions/_util.ts is a helper, not a route (a name starting with _ is private): rename it to serve /_util");
}

#[test]
fn a_removed_worker_keeps_its_jobs_pending_until_it_is_back() {
    let project =
        Project::with_files(&[("functions/later.ts", "export default (job) => job.data.n")]);
    let server = project.start();
    server.post("/_flux/api/queue/pause");
    server.enqueue(&json!([
        { "name": "later", "data": { "n": 1 } },
        { "name": "later", "data": { "n": 2 } },
    ]));
    std::fs::remove_file(project.path().join("functions/later.ts")).expect("remove");
    server.wait_for_output("2 job(s) wait for later, which has no function now");
    server.post("/_flux/api/queue/resume");

    // A job whose worker exists runs meanwhile: the queue is not stuck behind the others.
    project.write("functions/other.ts", "export default () => 'ok'");
    server.enqueue(&json!({ "name": "other", "data": {} }));
    wait_for("the other job", DEADLINE, || {
        (stats_row(&server, "other")["done"] == 1).then_some(())
    });
    let row = stats_row(&server, "later");
    assert_eq!(row["pending"], 2, "{row}");
    assert_eq!(row["dead"], 0, "{row}");
    assert_eq!(row["missing_worker"], true, "{row}");
    let (code, stdout, stderr) = project.run(&["queue", "stats"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("later"), "{stdout}");
    assert!(
        stderr.contains("2 job(s) wait for a missing worker: functions/later.ts does not exist"),
        "{stderr}"
    );

    project.write("functions/later.ts", "export default (job) => job.data.n");
    wait_for("the jobs run once the worker is back", DEADLINE, || {
        (stats_row(&server, "later")["done"] == 2).then_some(())
    });
    assert!(stats_row(&server, "later").get("missing_worker").is_none());
}

#[test]
fn a_reloaded_config_says_what_applies_after_restart_and_names_the_closest_worker() {
    let project = Project::example();
    project.write(
        "flux.config.ts",
        "export default { workers: { send_welcom_email: { maxAttempts: 2 } } }\n",
    );
    let server = project.start();
    server.wait_for_output(
        "! workers.send_welcom_email: no function of that name (did you mean send_welcome_email?)",
    );

    project.write(
        "flux.config.ts",
        "export default { queue: { concurrency: 5 }, workers: { send_welcome_email: { maxAttempts: 2 } } }\n",
    );
    server.wait_for_output(
        "! queue.concurrency changed: applies after restart (Ctrl-C, then flux dev)",
    );
    let output = server.output();
    assert_eq!(
        output.matches("no function of that name").count(),
        1,
        "the fixed name is not warned about again:\n{output}"
    );

    // shutdown.graceSeconds applies at once: the stop says so.
    project.write(
        "flux.config.ts",
        "export default { shutdown: { graceSeconds: 3 }, queue: { concurrency: 5 } }\n",
    );
    wait_for("the second reload", DEADLINE, || {
        (server.output().matches("flux.config.ts reloaded").count() >= 2).then_some(())
    });
    let output = server.stop();
    assert!(
        output.contains("in-flight executions get 3s to finish"),
        "{output}"
    );
    assert!(
        !output.contains("shutdown.graceSeconds changed"),
        "{output}"
    );
}

#[test]
fn flux_dev_runs_from_a_subfolder_of_the_project() {
    let project = Project::example();
    let server = Server::start_in(&project, "functions");
    let created = server.post_json(
        "/create_user",
        r#"{"email":"ada@example.com","name":"Ada"}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(project.path().join(".flux/flux.db").is_file());
    assert!(!project.path().join("functions/.flux").exists());
}

#[test]
fn a_busy_port_is_reported_before_anything_is_written_to_the_store() {
    let project = Project::example();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (code, _, stderr) = project.run(&["dev", "--port", &port]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot listen on 127.0.0.1:"), "{stderr}");
    assert!(
        stderr.contains(&format!("another program uses port {port}")),
        "{stderr}"
    );
    assert!(
        !project.path().join(".flux/flux.db").exists(),
        "no store was created, no migration ran"
    );
}
