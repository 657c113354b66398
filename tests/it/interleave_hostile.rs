//! Hostile uses of an engine that interleaves many executions: promises shared between
//! executions, a `ctx` kept past its execution, globals changed while others run, Ctrl-C with
//! many in flight, atomic attempts beside plain ones.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{console_messages, wait_for, Beacon, Project, Reply, Server, DEADLINE};

const NOTES: (&str, &str) = (
    "migrations/001_notes.sql",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, who TEXT NOT NULL);",
);

fn who(server: &Server) -> Value {
    server.get("/who").json()
}

const WHO: (&str, &str) = (
    "functions/who.ts",
    r#"export default async (req: any, ctx: any) =>
  (await ctx.db.query('SELECT who FROM notes ORDER BY id')).map((r: any) => r.who)"#,
);

/// A promise kept at module level (a memoised config fetch) and awaited by a second
/// execution: the second's code goes on when the first's fetch settles, inside the first's
/// turn on the engine. Its timers, fetches and console lines are still its own.
#[test]
fn an_execution_awaiting_another_s_promise_keeps_its_own_timers_and_console() {
    let held = Beacon::holding();
    let signal = Beacon::start();
    let function = format!(
        r#"let shared: Promise<unknown> | undefined
export default async (req: any) => {{
  if (!shared) {{
    shared = fetch('{held}/shared')
    await shared
    console.log('first')
    return 'first'
  }}
  const waited = shared.then(() => console.log('second, after the shared fetch'))
  fetch('{signal}/second-waits')
  await waited
  await new Promise((resolve) => setTimeout(resolve, 1))
  console.log('second, after its timer')
  return 'second'
}}"#,
        held = held.url,
        signal = signal.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 3 } }",
        ),
        ("functions/memo.ts", &function),
    ]);
    let server = project.start();
    let first = server.get_in_background("/memo");
    assert_eq!(held.next("the first to fetch"), "/shared");
    let second = server.get_in_background("/memo");
    assert_eq!(signal.next("the second to wait"), "/second-waits");
    held.release();
    let first = first.join().expect("join");
    assert_eq!(first.status, 200, "{}", first.body);
    let second = second.join().expect("join");
    assert_eq!(
        second.status, 200,
        "the second's timer was its own, not the first's (cleared when the first ended): {}",
        second.body
    );
    let record = server.record(&first.request_id());
    assert_eq!(console_messages(&record), ["first"], "{record}");
    let record = server.record(&second.request_id());
    assert_eq!(
        console_messages(&record),
        ["second, after the shared fetch", "second, after its timer"],
        "{record}"
    );
}

/// A module whose top level awaits a fetch: the execution that first imported it times out
/// while the fetch is pending. The module's evaluation must not be left waiting forever for
/// a fetch that was forgotten with that execution.
#[test]
fn a_module_whose_top_level_await_outlives_its_first_importer_still_loads() {
    let held = Beacon::holding();
    let module = format!(
        r#"const config = await fetch('{held}/config').then((r) => r.status)
export default async (req: any) => ({{ config }})"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 1 } }",
        ),
        ("functions/tla.ts", &module),
    ]);
    let server = project.start();
    let first = server.get_in_background("/tla");
    assert_eq!(held.next("the module's fetch"), "/config");
    let first = first.join().expect("join");
    assert_eq!(first.status, 504, "{}", first.body);
    held.release();
    // A later execution loads the module (fetching again if needs be) and answers.
    let later = server.get("/tla");
    assert_eq!(later.status, 200, "{}", later.body);
    assert_eq!(later.json(), json!({ "config": 200 }));
}

/// A `ctx` kept in a module-level variable and used by the next execution: every call fails
/// with the error that says so, and nothing lands in the first's record or the database.
#[test]
fn a_ctx_used_after_its_execution_ended_fails_and_writes_nothing() {
    let project = Project::with_files(&[
        ("flux.config.ts", "export default { http: { engines: 1 } }"),
        NOTES,
        WHO,
        ("emails/hi.html", "<title>Hi</title><p>Hello</p>"),
        (
            "functions/keep.ts",
            r#"let kept: any
export default async (req: any, ctx: any) => {
  if (!kept) {
    kept = ctx
    return 'kept'
  }
  const attempts: Record<string, () => Promise<unknown>> = {
    insert: () => kept.db.insert('notes', { who: 'stale' }),
    query: () => kept.db.query('INSERT INTO notes (who) VALUES ($1)', ['stale sql']),
    transaction: () => kept.db.transaction(async (tx: any) => tx.insert('notes', { who: 'stale tx' })),
    enqueue: () => kept.queue.enqueue('keep', {}),
    email: () => kept.email.send({ to: 'a@example.com', template: 'hi', data: {} }),
  }
  const errors: Record<string, string> = {}
  for (const [name, attempt] of Object.entries(attempts)) {
    try {
      await attempt()
      errors[name] = 'no error'
    } catch (e: any) {
      errors[name] = e.message
    }
  }
  return errors
}"#,
        ),
    ]);
    let server = project.start();
    let first = server.get("/keep");
    assert_eq!(first.status, 200, "{}", first.body);
    let second = server.get("/keep");
    assert_eq!(second.status, 200, "{}", second.body);
    let errors = second.json();
    for name in ["insert", "query", "transaction", "enqueue", "email"] {
        assert_eq!(
            errors[name], "ctx was used after its execution ended",
            "{name}: {errors}"
        );
    }
    assert_eq!(who(&server), json!([]));
    let record = server.record(&first.request_id());
    assert_eq!(record["mutations"], json!([]), "{record}");
    assert_eq!(
        record["spans"].as_array().map(Vec::len),
        Some(1),
        "{record}"
    );
    let record = server.record(&second.request_id());
    assert_eq!(record["mutations"], json!([]), "{record}");
}

/// One execution sets a global while another is in flight on the one engine: once the
/// engine has been idle, the next execution does not see it.
#[test]
fn a_global_set_while_others_run_is_gone_once_the_engine_was_idle() {
    let held = Beacon::holding();
    let function = format!(
        r#"export default async (req: any) => {{
  const seen = typeof (globalThis as any).leak
  if (req.query.set) (globalThis as any).leak = req.query.set
  if (req.query.freeze) Object.preventExtensions(globalThis)
  if (req.query.wait) await fetch('{held}/' + req.query.wait)
  return {{ seen }}
}}"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 10 } }",
        ),
        ("functions/g.ts", &function),
    ]);
    let server = project.start();
    let waiting = server.get_in_background("/g?wait=a");
    assert_eq!(held.next("the first to wait"), "/a");
    let setter = server.get("/g?set=1");
    assert_eq!(setter.json(), json!({ "seen": "undefined" }));
    held.release();
    assert_eq!(waiting.join().expect("join").status, 200);
    let after = server.get("/g");
    assert_eq!(
        after.json(),
        json!({ "seen": "undefined" }),
        "the engine was idle"
    );

    // Made non-extensible while another runs: the context is replaced, not reused as it is.
    let held = Beacon::holding();
    project.write(
        "functions/g2.ts",
        &format!(
            r#"export default async (req: any) => {{
  if (req.query.freeze) Object.preventExtensions(globalThis)
  if (req.query.wait) await fetch('{held}/' + req.query.wait)
  ;(globalThis as any).mine = req.query.n
  return Object.isExtensible(globalThis)
}}"#,
            held = held.url
        ),
    );
    wait_for("the new function to be served", DEADLINE, || {
        (server.get("/g2?n=probe").status == 200).then_some(())
    });
    let waiting = server.get_in_background("/g2?wait=b&n=1");
    assert_eq!(held.next("the waiter"), "/b");
    let frozen = server.get("/g2?freeze=1&n=2");
    assert_eq!(
        frozen.status, 500,
        "assigning to a non-extensible global throws: {}",
        frozen.body
    );
    held.release();
    // What the one in flight meanwhile met is not specified here; it ends either way.
    waiting.join().expect("join");
    let after = server.get("/g2?n=3");
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(
        after.json(),
        json!(true),
        "a fresh context after the engine was idle"
    );
}

/// Ctrl-C with fifty executions in flight on one engine: every one answers 503, is recorded
/// as interrupted, and flux exits within its grace.
#[test]
fn ctrl_c_with_fifty_in_flight_records_every_one_interrupted() {
    const N: usize = 50;
    let held = Beacon::holding();
    let function = format!(
        r#"export default async (req: any) => {{
  await fetch('{held}/wait/' + req.query.i)
  return 'released'
}}"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 60 }, shutdown: { graceSeconds: 1 } }",
        ),
        ("functions/wait.ts", &function),
    ]);
    let server = project.start();
    let requests: Vec<JoinHandle<Reply>> = (0..N)
        .map(|i| server.get_in_background(&format!("/wait?i={i}")))
        .collect();
    for _ in 0..N {
        held.next("every execution to wait");
    }
    let stopped = Instant::now();
    server.interrupt();
    let output = server.wait_exit();
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "exited {:?} after Ctrl-C with a 1 s grace:\n{output}",
        stopped.elapsed()
    );
    let mut ids = Vec::new();
    for request in requests {
        let reply = request.join().expect("join");
        assert_eq!(reply.status, 503, "{}", reply.body);
        ids.push(reply.request_id());
    }
    let server = project.start();
    for id in ids {
        let record = server.record(&id);
        assert_eq!(record["status"], "interrupted", "{record}");
    }
}

/// Atomic attempts and plain ones interleaved on one queue engine: an atomic attempt that
/// throws undoes its own writes only, and every other attempt's writes stand.
#[test]
fn atomic_attempts_interleaved_with_plain_ones_keep_their_writes_apart() {
    let held = Beacon::holding();
    let job = |atomic: bool| {
        format!(
            r#"export default async (job: any, ctx: any) => {{
  await ctx.db.insert('notes', {{ who: job.data.who }})
  await fetch('{held}/' + job.data.who)
  await ctx.db.insert('notes', {{ who: job.data.who + ' again' }})
  if (job.data.fail) throw new Error('no')
  return {{ atomic: {atomic} }}
}}"#,
            held = held.url
        )
    };
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { queue: { engines: 1 }, workers: { atomic: { atomic: true, maxAttempts: 1, timeoutSeconds: 20 }, plain: { maxAttempts: 1, timeoutSeconds: 20 } } }",
        ),
        NOTES,
        WHO,
        ("functions/atomic.ts", &job(true)),
        ("functions/plain.ts", &job(false)),
    ]);
    let server = project.start();
    let enqueued = server
        .enqueue(&json!([
            { "name": "plain", "data": { "who": "p1" } },
            { "name": "atomic", "data": { "who": "a1", "fail": true } },
            { "name": "plain", "data": { "who": "p2", "fail": true } },
            { "name": "atomic", "data": { "who": "a2" } },
        ]))
        .json();
    let ids: Vec<String> = enqueued["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["id"].as_str().expect("id").to_string())
        .collect();
    // The first atomic attempt holds its transaction open across its fetch (the plain ones
    // and the other atomic one wait for it, or wait on their own fetch beside it).
    wait_for(
        "the failing atomic attempt to wait on its fetch",
        DEADLINE,
        || (held.next("the jobs to fetch") == "/a1").then_some(()),
    );
    held.release();
    for id in &ids {
        wait_for("the job to end", DEADLINE, || {
            let state = server.get(&format!("/_flux/api/jobs/{id}")).json();
            matches!(
                state["job"]["state"].as_str(),
                Some("done" | "failed" | "dead")
            )
            .then_some(())
        });
    }
    let mut rows: Vec<String> = who(&server)
        .as_array()
        .expect("rows")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        ["a2", "a2 again", "p1", "p1 again", "p2", "p2 again"],
        "the failed atomic attempt's writes are undone, nothing else"
    );
}

/// A handler that never settles times out; the others on its engine, before and after, are
/// served as if it were not there.
#[test]
fn a_handler_that_never_settles_times_out_alone() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 1 } }",
        ),
        (
            "functions/never.ts",
            "export default () => new Promise(() => { console.log('never') })",
        ),
        (
            "functions/tick.ts",
            r#"export default async (req: any) => {
  await new Promise((resolve) => setTimeout(resolve, 5))
  console.log('tick', req.query.i)
  return Number(req.query.i)
}"#,
        ),
    ]);
    let server = project.start();
    let never = server.get_in_background("/never");
    let ticks: Vec<Reply> = (0..10)
        .map(|i| server.get(&format!("/tick?i={i}")))
        .collect();
    for (i, tick) in ticks.iter().enumerate() {
        assert_eq!(tick.status, 200, "{}", tick.body);
        assert_eq!(tick.json(), json!(i));
        let record = server.record(&tick.request_id());
        assert_eq!(console_messages(&record), [format!("tick {i}")], "{record}");
    }
    let never = never.join().expect("join");
    assert_eq!(never.status, 504, "{}", never.body);
    let record = server.record(&never.request_id());
    assert_eq!(console_messages(&record), ["never"], "{record}");
    assert_eq!(server.get("/tick?i=10").json(), json!(10));
}

/// Intervals of executions interleaved on one engine: each fires its own callback the times
/// it asked for, logged on its own record, and clearing one leaves the others alone.
#[test]
fn intervals_of_interleaved_executions_stay_their_own() {
    const N: usize = 8;
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 20 } }",
        ),
        (
            "functions/interval.ts",
            r#"export default async (req: any) => {
  const i = Number(req.query.i)
  let ticks = 0
  await new Promise<void>((resolve) => {
    const id = setInterval(() => {
      ticks += 1
      console.log('tick', i, ticks)
      if (ticks === 3) { clearInterval(id); resolve() }
    }, 1 + (i % 3))
  })
  // A cleared interval fires no more.
  await new Promise((resolve) => setTimeout(resolve, 10))
  return ticks
}"#,
        ),
    ]);
    let server = project.start();
    let requests: Vec<JoinHandle<Reply>> = (0..N)
        .map(|i| server.get_in_background(&format!("/interval?i={i}")))
        .collect();
    for (i, request) in requests.into_iter().enumerate() {
        let reply = request.join().expect("join");
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json(), json!(3));
        let record = server.record(&reply.request_id());
        assert_eq!(
            console_messages(&record),
            (1..=3).map(|t| format!("tick {i} {t}")).collect::<Vec<_>>(),
            "{record}"
        );
    }
}

/// A transaction that writes in parallel and throws, while another execution on its engine
/// writes in parallel outside any transaction: the first's writes are all undone, the
/// second's all kept, and each record has its own.
#[test]
fn a_transaction_that_throws_beside_parallel_writers_undoes_only_its_own() {
    const ROWS: usize = 20;
    let held = Beacon::holding();
    let function = format!(
        r#"export default async (req: any, ctx: any) => {{
  const who = req.query.who
  const many = (db: any) => Promise.all(Array.from({{ length: {ROWS} }}, (_, i) => db.insert('notes', {{ who: who + i }})))
  if (req.query.tx) {{
    await ctx.db.transaction(async (tx: any) => {{
      await many(tx)
      await fetch('{held}/tx')
      await many(tx).catch(() => {{}})
      try {{
        await ctx.db.transaction(async () => {{}})
      }} catch (e: any) {{
        console.log(e.message)
      }}
      throw new Error('undo ' + who)
    }})
  }}
  await many(ctx.db)
  return 'written'
}}"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 20 } }",
        ),
        NOTES,
        WHO,
        ("functions/write.ts", &function),
    ]);
    let server = project.start();
    let undone = server.get_in_background("/write?who=t&tx=1");
    assert_eq!(held.next("the transaction to be open"), "/tx");
    let kept = server.get_in_background("/write?who=k");
    held.release();
    let undone = undone.join().expect("join");
    assert_eq!(undone.status, 500, "{}", undone.body);
    let kept = kept.join().expect("join");
    assert_eq!(kept.status, 200, "{}", kept.body);
    let rows = who(&server);
    let mut rows: Vec<String> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    rows.sort();
    let mut expected: Vec<String> = (0..ROWS).map(|i| format!("k{i}")).collect();
    expected.sort();
    assert_eq!(rows, expected);
    let record = server.record(&undone.request_id());
    assert_eq!(record["error"]["message"], "undo t", "{record}");
    assert_eq!(
        console_messages(&record),
        ["a transaction is already open: ctx.db.transaction cannot be nested"],
        "{record}"
    );
    let mutations = record["mutations"].as_array().cloned().unwrap_or_default();
    assert_eq!(mutations.len(), 2 * ROWS, "{record}");
    assert!(
        mutations.iter().all(|m| m["committed"] == false),
        "{record}"
    );
    assert!(
        mutations.iter().all(|m| m["after"]["who"]
            .as_str()
            .is_some_and(|w| w.starts_with('t'))),
        "{record}"
    );
    let record = server.record(&kept.request_id());
    let mutations = record["mutations"].as_array().cloned().unwrap_or_default();
    assert_eq!(mutations.len(), ROWS, "{record}");
    assert!(
        mutations.iter().all(|m| m["committed"] == true
            && m["after"]["who"]
                .as_str()
                .is_some_and(|w| w.starts_with('k'))),
        "{record}"
    );
}

/// A fetch aborted by `AbortSignal.timeout` while others on its engine wait on theirs: it
/// rejects with a TimeoutError; theirs are answered when the upstream answers.
#[test]
fn a_fetch_aborted_by_its_signal_leaves_its_neighbours_fetches_alone() {
    let held = Beacon::holding();
    let function = format!(
        r#"export default async (req: any) => {{
  const signal = req.query.abort ? AbortSignal.timeout(50) : undefined
  try {{
    const reply = await fetch('{held}/' + req.query.n, {{ signal }})
    return {{ status: reply.status }}
  }} catch (e: any) {{
    return {{ error: e.name }}
  }}
}}"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 20 } }",
        ),
        ("functions/f.ts", &function),
    ]);
    let server = project.start();
    let waiting: Vec<JoinHandle<Reply>> = (0..5)
        .map(|n| server.get_in_background(&format!("/f?n=w{n}")))
        .collect();
    for _ in 0..5 {
        held.next("the waiters to fetch");
    }
    let aborted: Vec<JoinHandle<Reply>> = (0..5)
        .map(|n| server.get_in_background(&format!("/f?n=a{n}&abort=1")))
        .collect();
    for request in aborted {
        let reply = request.join().expect("join");
        assert_eq!(
            reply.json(),
            json!({ "error": "TimeoutError" }),
            "{}",
            reply.body
        );
    }
    held.release();
    for request in waiting {
        let reply = request.join().expect("join");
        assert_eq!(reply.json(), json!({ "status": 200 }), "{}", reply.body);
    }
}

/// A job that spins on the queue's engine: HTTP, on engines of its own, is served meanwhile.
#[test]
fn a_spinning_job_does_not_hold_up_http() {
    let signal = Beacon::start();
    let spin = format!(
        r#"export default async () => {{
  await fetch('{signal}/spinning')
  while (true) {{}}
}}"#,
        signal = signal.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1 }, queue: { engines: 1 }, workers: { spin: { timeoutSeconds: 60, maxAttempts: 1 } } }",
        ),
        ("functions/spin.ts", &spin),
        (
            "functions/hello.ts",
            "export default async () => { await new Promise((r) => setTimeout(r, 1)); return 'hello' }",
        ),
    ]);
    let server = project.start();
    let job = server
        .enqueue(&json!({ "name": "spin", "data": {} }))
        .json();
    let id = job["jobs"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(signal.next("the job to spin"), "/spinning");
    for _ in 0..20 {
        let reply = server.get("/hello");
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let state = server.get(&format!("/_flux/api/jobs/{id}")).json();
    assert_eq!(state["job"]["state"], "running", "still spinning: {state}");
}

/// A second execution spins after awaiting a promise the first one's fetch settles: the
/// spin runs in the first's turn on the engine, but the spinner is the second, and its
/// timeout must not blame the first (nor mark the first's function CPU-heavy).
#[test]
fn a_spin_after_a_shared_promise_is_blamed_on_the_spinner() {
    let held = Beacon::holding();
    let signal = Beacon::start();
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 2 } }",
        ),
        (
            "functions/shared.ts",
            &format!(
                "export const config = () => (globalThis as any).__config ??= fetch('{held}/config')",
                held = held.url
            ),
        ),
        (
            "functions/first.ts",
            r#"import { config } from './shared.ts'
export default async () => { await config(); return 'first' }"#,
        ),
        (
            "functions/second.ts",
            &format!(
                r#"import {{ config }} from './shared.ts'
export default async () => {{
  const waited = config().then(() => {{ while (true) {{}} }})
  fetch('{signal}/second-waits')
  await waited
}}"#,
                signal = signal.url
            ),
        ),
    ]);
    let server = project.start();
    let first = server.get_in_background("/first");
    assert_eq!(held.next("the first to fetch"), "/config");
    let second = server.get_in_background("/second");
    assert_eq!(signal.next("the second to wait"), "/second-waits");
    held.release();
    let first = first.join().expect("join");
    assert_eq!(first.status, 200, "{}", first.body);
    let second = second.join().expect("join");
    assert_eq!(second.status, 504, "{}", second.body);
    let record = server.record(&second.request_id());
    let message = record["error"]["message"].as_str().unwrap_or_default();
    let blamed = format!(
        "its engine was busy running {} (first)",
        &first.request_id()[..8]
    );
    assert!(
        !message.contains(&blamed),
        "the second spun, the first did not: {message}"
    );
}

/// A spinner beside many executions waiting on their fetch: they time out once, saying what
/// held their engine; the next ones beside it are served.
#[test]
fn a_spinner_beside_many_waiters_costs_them_one_timeout() {
    const N: usize = 10;
    let held = Beacon::holding();
    let waiter = format!(
        r#"export default async (req: any) => {{
  await fetch('{held}/' + req.query.i)
  return 'waited'
}}"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 2 } }",
        ),
        ("functions/waiter.ts", &waiter),
        (
            "functions/spin.ts",
            "export default () => { while (true) {} }",
        ),
    ]);
    let server = project.start();
    let waiting: Vec<JoinHandle<Reply>> = (0..N)
        .map(|i| server.get_in_background(&format!("/waiter?i={i}")))
        .collect();
    for _ in 0..N {
        held.next("the waiters to wait");
    }
    let spun = server.get("/spin");
    assert_eq!(spun.status, 504, "{}", spun.body);
    let spinner = &spun.request_id()[..8];
    for request in waiting {
        let reply = request.join().expect("join");
        assert_eq!(reply.status, 504, "{}", reply.body);
        let record = server.record(&reply.request_id());
        let message = record["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("busy running {spinner} (spin)")),
            "{message}"
        );
    }
    held.release();
    let waiting: Vec<JoinHandle<Reply>> = (0..N)
        .map(|i| server.get_in_background(&format!("/waiter?i={i}")))
        .collect();
    let spinning = server.get_in_background("/spin");
    for request in waiting {
        let reply = request.join().expect("join");
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(spinning.join().expect("join").status, 504);
}

/// An execution that returns and leaves an endless chain of microtasks behind: it is cut
/// off after its result. A neighbour that was waiting on the same engine must not inherit
/// the chain (run it in its own turns until its own timeout, blamed for it).
#[test]
fn an_endless_microtask_chain_left_behind_does_not_time_out_a_neighbour() {
    let held = Beacon::holding();
    let waiter = format!(
        r#"export default async () => {{
  await fetch('{held}/waiting')
  await new Promise((resolve) => setTimeout(resolve, 1))
  return 'waited'
}}"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 2 } }",
        ),
        ("functions/waiter.ts", &waiter),
        (
            "functions/chain.ts",
            "export default () => { const loop = () => { Promise.resolve().then(loop) }; loop(); return 'left' }",
        ),
    ]);
    let server = project.start();
    let waiting = server.get_in_background("/waiter");
    assert_eq!(held.next("the waiter to wait"), "/waiting");
    let left = server.get("/chain");
    assert_eq!(left.status, 200, "{}", left.body);
    held.release();
    let waited = waiting.join().expect("join");
    assert_eq!(waited.status, 200, "{}", waited.body);
}

/// Jobs enqueued in a transaction that rolls back, beside jobs enqueued outside any
/// transaction and in one that commits, all on one engine: only the rolled-back ones never
/// exist, and each record names its own.
#[test]
fn enqueues_inside_and_outside_interleaved_transactions_keep_their_fate() {
    let held = Beacon::holding();
    let function = format!(
        r#"export default async (req: any, ctx: any) => {{
  const who = req.query.who
  if (req.query.tx) {{
    await ctx.db.transaction(async (tx: any) => {{
      await tx.queue.enqueue('j', {{ who }})
      await ctx.email.send({{ to: who + '@example.com', template: 'hi', data: {{ who }} }})
      if (req.query.wait) await fetch('{held}/' + who)
      if (req.query.fail) throw new Error('undo ' + who)
    }})
  }} else {{
    await Promise.all([ctx.queue.enqueue('j', {{ who }}), ctx.email.send({{ to: who + '@example.com', template: 'hi', data: {{ who }} }})])
  }}
  return who
}}"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 20 } }",
        ),
        ("functions/j.ts", "export default () => {}"),
        (
            "emails/hi.html",
            "<title>Hi {{who}}</title><p>Hello {{ who }}</p>",
        ),
        ("functions/put.ts", &function),
    ]);
    let server = project.start();
    server.post("/_flux/api/queue/pause");
    let undone = server.get_in_background("/put?who=a&tx=1&wait=1&fail=1");
    assert_eq!(held.next("the transaction to be open"), "/a");
    let outside = server.get_in_background("/put?who=b");
    let committed = server.get_in_background("/put?who=c&tx=1");
    held.release();
    let undone = undone.join().expect("join");
    assert_eq!(undone.status, 500, "{}", undone.body);
    for reply in [outside, committed] {
        let reply = reply.join().expect("join");
        assert_eq!(reply.status, 200, "{}", reply.body);
        let record = server.record(&reply.request_id());
        let who = reply.json();
        let enqueued: Vec<&Value> = record["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .filter(|s| {
                s["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("queue.enqueue"))
            })
            .collect();
        assert_eq!(enqueued.len(), 1, "{record}");
        assert!(
            enqueued[0].to_string().contains(&format!("\"who\":{who}")),
            "{record}"
        );
    }
    let conn = rusqlite::Connection::open(project.path().join(".flux/flux.db")).expect("store");
    let mut statement = conn
        .prepare("SELECT data FROM _flux_jobs WHERE name = 'j' ORDER BY data")
        .expect("prepare");
    let data: Vec<String> = statement
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(data, [r#"{"who":"b"}"#, r#"{"who":"c"}"#]);
    let mut statement = conn
        .prepare("SELECT recipient FROM _flux_emails ORDER BY recipient")
        .expect("prepare");
    let recipients: Vec<String> = statement
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(recipients, ["b@example.com", "c@example.com"]);
}

/// A global set by an execution that ended while another stays in flight: the context stops
/// taking new executions soon after, so new ones stop seeing it though the engine is never
/// idle.
#[test]
fn a_global_left_behind_under_steady_overlap_stops_being_seen() {
    let held = Beacon::holding();
    let function = format!(
        r#"export default async (req: any) => {{
  const seen = typeof (globalThis as any).leak
  if (req.query.set) (globalThis as any).leak = 1
  if (req.query.wait) await fetch('{held}/wait')
  return seen
}}"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 30 } }",
        ),
        ("functions/g.ts", &function),
    ]);
    let server = project.start();
    let waiting = server.get_in_background("/g?wait=1");
    assert_eq!(held.next("the one in flight"), "/wait");
    assert_eq!(server.get("/g?set=1").json(), json!("undefined"));
    wait_for("new executions to stop seeing the global", DEADLINE, || {
        (server.get("/g").json() == json!("undefined")).then_some(())
    });
    held.release();
    assert_eq!(waiting.join().expect("join").status, 200);
}

/// Ctrl-C while a job spins on the queue's engine and requests wait on the HTTP one: flux
/// exits within its grace, the spinner and the waiters recorded as interrupted.
#[test]
fn ctrl_c_stops_a_spinning_job_beside_waiting_requests() {
    let held = Beacon::holding();
    let signal = Beacon::start();
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 60 }, queue: { engines: 1 }, workers: { spin: { timeoutSeconds: 60, maxAttempts: 1 } }, shutdown: { graceSeconds: 1 } }",
        ),
        (
            "functions/spin.ts",
            &format!(
                "export default async () => {{ await fetch('{signal}/spinning'); while (true) {{}} }}",
                signal = signal.url
            ),
        ),
        (
            "functions/wait.ts",
            &format!(
                "export default async () => {{ await fetch('{held}/wait'); return 'released' }}",
                held = held.url
            ),
        ),
    ]);
    let server = project.start();
    let job = server
        .enqueue(&json!({ "name": "spin", "data": {} }))
        .json();
    let job_id = job["jobs"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(signal.next("the job to spin"), "/spinning");
    let requests: Vec<JoinHandle<Reply>> =
        (0..5).map(|_| server.get_in_background("/wait")).collect();
    for _ in 0..5 {
        held.next("the requests to wait");
    }
    let stopped = Instant::now();
    server.interrupt();
    let output = server.wait_exit();
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "exited {:?} after Ctrl-C with a 1 s grace:\n{output}",
        stopped.elapsed()
    );
    let ids: Vec<String> = requests
        .into_iter()
        .map(|request| {
            let reply = request.join().expect("join");
            assert_eq!(reply.status, 503, "{}", reply.body);
            reply.request_id()
        })
        .collect();
    let server = project.start();
    for id in ids {
        assert_eq!(server.record(&id)["status"], "interrupted");
    }
    let attempts = wait_for("the spinner's attempt to be recorded", DEADLINE, || {
        let state = server.get(&format!("/_flux/api/jobs/{job_id}")).json();
        let attempts = state["attempts"].as_array().cloned().unwrap_or_default();
        (!attempts.is_empty()).then_some(attempts)
    });
    let record = server.record(attempts[0]["id"].as_str().expect("id"));
    assert_eq!(record["status"], "interrupted", "{record}");
}

/// A module that computes for a while once, when it loads (a lookup table, a big library),
/// and whose handler then only waits on I/O: its executions still interleave afterwards.
#[test]
fn a_slow_module_load_does_not_make_its_function_run_alone_for_good() {
    const N: usize = 5;
    let held = Beacon::holding();
    let function = format!(
        r#"const until = Date.now() + 300
let table = 0
while (Date.now() < until) table += 1
export default async (req: any) => {{
  await fetch('{held}/' + req.query.i)
  return table > 0
}}"#,
        held = held.url
    );
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 5 } }",
        ),
        ("functions/loaded.ts", &function),
    ]);
    let server = project.start();
    let first = server.get_in_background("/loaded?i=first");
    assert_eq!(held.next("the first to load and wait"), "/first");
    let requests: Vec<JoinHandle<Reply>> = (0..N)
        .map(|i| server.get_in_background(&format!("/loaded?i={i}")))
        .collect();
    for _ in 0..N {
        held.next("the later ones to wait beside it");
    }
    held.release();
    assert_eq!(first.join().expect("join").status, 200);
    for request in requests {
        assert_eq!(request.join().expect("join").status, 200);
    }
}

/// A `ctx.db` promise started by one execution, left unawaited when it returned, and awaited
/// by the next one: it settles (with its rows, or an error saying its execution ended), it
/// does not leave the next one waiting until its timeout.
#[test]
fn a_promise_of_an_ended_execution_still_settles_for_whoever_awaits_it() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, timeoutSeconds: 2 } }",
        ),
        NOTES,
        (
            "functions/orphan.ts",
            r#"let kept: Promise<unknown> | undefined
export default async (req: any, ctx: any) => {
  if (!kept) {
    kept = ctx.db.insert('notes', { who: 'orphan' })
    return 'started'
  }
  try {
    return { rows: await kept }
  } catch (e: any) {
    return { error: e.message }
  }
}"#,
        ),
    ]);
    let server = project.start();
    assert_eq!(server.get("/orphan").json(), json!("started"));
    let next = server.get("/orphan");
    assert_eq!(next.status, 200, "{}", next.body);
}
