//! `flux why` places each failure in the user's code: the line that failed, in the file where
//! it failed (a helper, a package's caller), with the call chain beside it; timeouts say where
//! busy code was stopped or what was pending; errors nobody caught are recorded and explained.

use crate::support::{Project, Server};

const SPIN: &str = "export function spin() {
  let i = 0;
  while (true) {
    i++;
  }
}
";

const MAIL: &str = "export function sendMail(to: any) {
  const address: any = undefined;
  return address.toUpperCase() + to;
}
";

const PACKAGE: &str = "export function parse(value) {
  if (!value) throw new Error('bad input');
  return value;
}
";

/// One function per kind of failure, chosen by `?k=`.
const FAILS: &str = "import { sendMail } from './lib/mail.ts';
import { spin } from './lib/spin.ts';
import { parse } from '../node_modules/pkg/index.js';

export default async function handler(req: any, ctx: any) {
  const k = req.query.k;
  if (k === 'helper') return sendMail('a');
  if (k === 'package') return parse(undefined);
  if (k === 'string') throw 'nope';
  if (k === 'object') throw { code: 1 };
  if (k === 'busy') { await ctx.db.query('SELECT 1'); spin(); }
  if (k === 'sleep') await new Promise((resolve) => setTimeout(resolve, 5000));
  if (k === 'tx') {
    await ctx.db.transaction(async (tx: any) => {
      await tx.query('SELECT 1');
      await tx.query('SELECT * FROM missing_table');
    });
  }
  if (k === 'lines') {
    return await ctx.db.query(
      'SELECT * FROM missing_table WHERE id = $1',
      [1],
    );
  }
  if (k === 'chained') {
    const o: any = { a() { return this; } };
    return o
      .a()
      .b();
  }
  if (k === 'timer') {
    setTimeout(() => { throw new Error('in a timer'); }, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (k === 'rejection') {
    Promise.reject(new Error('nobody waits for me'));
  }
  if (k === 'left') {
    setTimeout(() => console.log('never'), 60000);
  }
  if (k === 'fetch') {
    fetch(req.query.url);
  }
  return 'done';
}
";

fn project() -> Project {
    Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { timeoutSeconds: 1 } }",
        ),
        ("functions/lib/mail.ts", MAIL),
        ("functions/lib/spin.ts", SPIN),
        ("node_modules/pkg/index.js", PACKAGE),
        ("functions/fails.ts", FAILS),
    ])
}

/// `flux why` of the execution `GET /fails?k=<k>` made.
fn why(project: &Project, server: &Server, k: &str) -> String {
    let id = server.get(&format!("/fails?k={k}")).request_id();
    server.record(&id);
    let (code, stdout, stderr) = project.run(&["why", &id]);
    assert_eq!(code, 0, "flux why failed: {stderr}");
    stdout
}

/// `flux why --format json`'s finding for `GET /fails?k=<k>`.
fn finding(project: &Project, server: &Server, k: &str) -> serde_json::Value {
    let id = server.get(&format!("/fails?k={k}")).request_id();
    server.record(&id);
    let (code, stdout, stderr) = project.run(&["why", &id, "--format", "json"]);
    assert_eq!(code, 0, "flux why failed: {stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    json["finding"].clone()
}

#[test]
fn thrown_errors_are_placed_where_they_were_thrown() {
    let project = project();
    let server = project.start();
    // In a helper module: its line, and the function's call below it.
    insta::assert_snapshot!(why(&project, &server, "helper"), @r"
    ROOT CAUSE TypeError: cannot read properties of undefined (reading 'toUpperCase'): address is undefined
    LOCATION lib/mail.ts:3
      at lib/mail.ts:3 in sendMail
      at fails.ts:7 in handler
    REQUEST GET /fails
    ");
    // Inside a package: the first project frame, the package's frame beside it.
    insta::assert_snapshot!(why(&project, &server, "package"), @r"
    ROOT CAUSE Error: bad input
    LOCATION fails.ts:8
      at node_modules/pkg/index.js:2 in parse (package)
      at fails.ts:8 in handler
    REQUEST GET /fails
    ");
    // A value that is not an Error has no stack: QuickJS keeps its throw site.
    insta::assert_snapshot!(why(&project, &server, "string"), @r"
    ROOT CAUSE A value that is not an Error was thrown: 'nope'
    LOCATION fails.ts:9
    REQUEST GET /fails
    SUGGESTION → Throw an Error instead (throw new Error('nope')): an Error has a message and a stack, which tell where it was thrown and through which calls
    ");
    insta::assert_snapshot!(why(&project, &server, "object"), @r#"
    ROOT CAUSE A value that is not an Error was thrown: {"code":1}
    LOCATION fails.ts:10
    REQUEST GET /fails
    SUGGESTION → Throw an Error instead (throw Object.assign(new Error('…'), {"code":1})): an Error has a message and a stack, which tell where it was thrown and through which calls
    "#);
    // The statement that failed inside a transaction, not the transaction's line.
    insta::assert_snapshot!(why(&project, &server, "tx"), @r"
    ROOT CAUSE No such table: missing_table
    LOCATION fails.ts:16
    REQUEST GET /fails
    SUGGESTION → No table missing_table exists: create it in a migration (migrations/*.sql, applied in name order when flux dev starts or sees the file)
    ");
    // A call over several lines: the line of the call, not of its arguments.
    insta::assert_snapshot!(why(&project, &server, "lines"), @r"
    ROOT CAUSE No such table: missing_table
    LOCATION fails.ts:20
    REQUEST GET /fails
    SUGGESTION → No table missing_table exists: create it in a migration (migrations/*.sql, applied in name order when flux dev starts or sees the file)
    ");
    insta::assert_snapshot!(why(&project, &server, "chained"), @r"
    ROOT CAUSE TypeError: o.a(…).b is not a function
    LOCATION fails.ts:29
    REQUEST GET /fails
    ");
    let helper = finding(&project, &server, "helper");
    assert_eq!(helper["cause"], "error");
    assert_eq!(helper["location"], "lib/mail.ts:3");
    assert_eq!(
        helper["call_chain"],
        serde_json::json!(["lib/mail.ts:3 in sendMail", "fails.ts:7 in handler"])
    );
}

#[test]
fn a_timeout_says_where_busy_code_was_stopped_or_what_was_pending() {
    let project = project();
    let server = project.start();
    insta::assert_snapshot!(why(&project, &server, "busy"), @r"
    ROOT CAUSE Timeout: timed out after 1s while its code was busy at lib/spin.ts:4 (running, not awaiting)
    LOCATION lib/spin.ts:4
      at lib/spin.ts:4 in spin
      at fails.ts:11 in handler
    REQUEST GET /fails
    SUGGESTION → lib/spin.ts:4 was still computing at the deadline: look for a loop that never ends, or move the heavy work to a job with a longer timeout
    ");
    insta::assert_snapshot!(why(&project, &server, "sleep"), @r"
    ROOT CAUSE Timeout: timed out after 1s while waiting on a timer (5000ms) at fails.ts:12 that had not fired
    LOCATION fails.ts:12
    REQUEST GET /fails
    SUGGESTION → The function awaited a timer that fires after its deadline: shorten the delay, or raise the function's timeout
    ");
    assert_eq!(finding(&project, &server, "busy")["cause"], "timeout-busy");
    assert_eq!(
        finding(&project, &server, "sleep")["cause"],
        "timeout-pending"
    );
}

#[test]
fn errors_nobody_caught_are_recorded_and_explained() {
    let project = project();
    let server = project.start();
    insta::assert_snapshot!(why(&project, &server, "timer"), @r"
    ROOT CAUSE Uncaught: a timer's callback threw: Error: in a timer
    LOCATION fails.ts:32
    REQUEST GET /fails
    SUGGESTION → Catch errors inside the timer's callback (try/catch), or await the work in the function instead of a timer
    ");
    insta::assert_snapshot!(why(&project, &server, "rejection"), @r"
    ROOT CAUSE Uncaught: a promise was rejected and nobody handled it: Error: nobody waits for me
    LOCATION fails.ts:36
    REQUEST GET /fails
    SUGGESTION → Await the promise (or add .catch) so its failure is handled: as it is, the function succeeded without the work it started
    ");
    assert_eq!(
        finding(&project, &server, "rejection")["cause"],
        "uncaught-rejection"
    );
    // The execution still answered; trace shows what went uncaught.
    let id = server.get("/fails?k=timer").request_id();
    server.record(&id);
    let (_, trace, _) = project.run(&["trace", &id]);
    let uncaught = trace
        .split("UNCAUGHT\n")
        .nth(1)
        .expect("an UNCAUGHT section");
    assert!(
        uncaught.contains("Error: in a timer (in a timer)\n    at fails.ts:32"),
        "{trace}"
    );
    // A fetch nobody awaited, still running when the function returned: cancelled then, its
    // rejection is recorded as after the end.
    let beacon = crate::support::Beacon::holding();
    let id = server
        .get(&format!("/fails?k=fetch&url={}/slow", beacon.url))
        .request_id();
    let record = server.record(&id);
    assert_eq!(record["uncaught"][0]["after_end"], true, "{record}");
    assert_eq!(
        crate::support::console_messages(&record),
        ["1 fetch was still pending when the function returned and cancelled"]
    );
    let (_, why, _) = project.run(&["why", &id]);
    assert!(
        why.starts_with("ROOT CAUSE Uncaught: a promise was rejected and nobody handled it after the function had returned: TypeError: fetch cancelled: the execution that started it has ended\nLOCATION fails.ts:42\n"),
        "{why}"
    );
    beacon.release();
    // A timer still pending when the function returned never runs: the record says so.
    let id = server.get("/fails?k=left").request_id();
    let record = server.record(&id);
    assert_eq!(
        crate::support::console_messages(&record),
        ["1 timer was still pending when the function returned and never ran (60000ms at fails.ts:39)"]
    );
}
