//! The JS runtime's boundaries: executions do not see each other's globals, Web Crypto and
//! `fetch` follow the web platform's limits and cancellation, a panicking engine is contained,
//! and one execution's spans and console output are capped.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use serde_json::Value;

use crate::support::{wait_for, Project, Server, DEADLINE};

/// One engine running one execution at a time, so that every request runs in the same JS
/// context one after the other.
const ONE_ENGINE: (&str, &str) = (
    "flux.config.ts",
    "export default { http: { engines: 1, concurrency: 1, timeoutSeconds: 5 } }",
);

#[test]
fn globals_and_built_ins_do_not_leak_between_executions() {
    let project = Project::with_files(&[
        ONE_ENGINE,
        (
            "functions/patch.ts",
            r#"export default () => {
  const tried: Record<string, string> = {}
  try { JSON.stringify = (v: unknown) => { (globalThis as any).stolen = v; return '"patched"' }; tried.json = 'patched' } catch (e) { tried.json = e.name }
  try { (Array.prototype as any).leak = 1; tried.proto = 'patched' } catch (e) { tried.proto = e.name }
  const before = (globalThis as any).secret ?? null;
  (globalThis as any).secret = 'from patch';
  try { (globalThis as any).fetch = () => 'mock'; tried.fetch = 'replaced' } catch (e) { tried.fetch = e.name }
  // Globals that cannot simply be deleted or reassigned: the engine's context is rebuilt.
  Object.defineProperty(globalThis, 'sticky', { value: 'left behind' })
  Object.preventExtensions(globalThis)
  return { tried, before }
}"#,
        ),
        (
            "functions/peek.ts",
            r#"class MyError extends Error { constructor(m: string) { super(m); this.name = 'MyError' } }
function Legacy() {}
Legacy.prototype.toString = function () { return 'legacy' }
export default () => {
  const upstream = fetch('http://127.0.0.1:9/')
  const realFetch = typeof (upstream as any)?.then === 'function'
  if (realFetch) (upstream as Promise<unknown>).catch(() => {})
  return {
    secret: (globalThis as any).secret ?? null,
    sticky: (globalThis as any).sticky ?? null,
    extensible: Object.isExtensible(globalThis),
    stolen: (globalThis as any).stolen ?? null,
    json: JSON.stringify({ a: 1 }),
    proto: ([] as any).leak ?? null,
    realFetch,
    errorName: new MyError('x').name,
    legacy: String(new (Legacy as any)()),
  }
}"#,
        ),
    ]);
    let server = project.start();

    let patched = server.get("/patch").json();
    assert_eq!(patched["tried"]["json"], "TypeError", "{patched}");
    assert_eq!(patched["tried"]["proto"], "TypeError", "{patched}");
    assert_eq!(patched["tried"]["fetch"], "TypeError", "{patched}");
    assert_eq!(patched["before"], Value::Null);

    let peek = server.get("/peek").json();
    assert_eq!(
        peek["secret"],
        Value::Null,
        "globalThis.secret leaked: {peek}"
    );
    assert_eq!(peek["stolen"], Value::Null, "{peek}");
    assert_eq!(peek["sticky"], Value::Null, "{peek}");
    assert_eq!(peek["extensible"], true, "{peek}");
    assert_eq!(peek["json"], r#"{"a":1}"#);
    assert_eq!(peek["proto"], Value::Null);
    assert_eq!(peek["realFetch"], true, "the replaced fetch leaked: {peek}");
    // Frozen built-ins still let user code set `name` on its errors and override methods.
    assert_eq!(peek["errorName"], "MyError");
    assert_eq!(peek["legacy"], "legacy");

    // The same function called again starts from clean globals too.
    let again = server.get("/patch").json();
    assert_eq!(again["before"], Value::Null, "{again}");
}

#[test]
fn get_random_values_refuses_float_arrays_and_more_than_64_kib() {
    let project = Project::with_files(&[(
        "functions/random.ts",
        r#"export default () => {
  const out: Record<string, unknown> = {}
  const attempt = (key: string, fn: () => unknown) => {
    try { fn(); out[key] = 'no error' } catch (e) { out[key] = `${e.name} ${e instanceof DOMException}` }
  }
  attempt('over', () => crypto.getRandomValues(new Uint8Array(65537)))
  attempt('float', () => crypto.getRandomValues(new Float64Array(4)))
  attempt('view', () => crypto.getRandomValues(new DataView(new ArrayBuffer(4))))
  const full = crypto.getRandomValues(new Uint8Array(65536))
  out.tailFilled = full.subarray(65536 - 64).some((b) => b !== 0)
  out.wide = crypto.getRandomValues(new BigUint64Array(2)).some((n) => n !== 0n)
  return out
}"#,
    )]);
    let server = project.start();
    let out = server.get("/random").json();
    assert_eq!(out["over"], "QuotaExceededError true", "{out}");
    assert_eq!(out["float"], "TypeMismatchError true", "{out}");
    assert_eq!(out["view"], "TypeMismatchError true", "{out}");
    assert_eq!(out["tailFilled"], true);
    assert_eq!(out["wide"], true);
}

/// An upstream that never answers `/slow` (and tells when such a connection closes), and
/// answers `/open` with whether a `/slow` connection is open.
struct SilentUpstream {
    url: String,
    accepted: mpsc::Receiver<()>,
    closed: mpsc::Receiver<()>,
}

impl SilentUpstream {
    fn start() -> SilentUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (accepted_tx, accepted) = mpsc::channel();
        let (closed_tx, closed) = mpsc::channel();
        let open = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (accepted_tx, closed_tx, open) =
                    (accepted_tx.clone(), closed_tx.clone(), Arc::clone(&open));
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 4096];
                    let Ok(n) = stream.read(&mut buffer) else {
                        return;
                    };
                    if buffer[..n].starts_with(b"GET /open") {
                        let answer = if open.load(Ordering::SeqCst) > 0 {
                            "yes"
                        } else {
                            "no!"
                        };
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\n{answer}"
                        );
                        return;
                    }
                    open.fetch_add(1, Ordering::SeqCst);
                    let _ = accepted_tx.send(());
                    // Answers nothing, and waits for the client to hang up.
                    while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
                    open.fetch_sub(1, Ordering::SeqCst);
                    let _ = closed_tx.send(());
                });
            }
        });
        SilentUpstream {
            url,
            accepted,
            closed,
        }
    }

    fn wait_closed(&self, what: &str) {
        self.accepted
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("{what}: the upstream got no connection"));
        self.closed
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("{what}: the upstream connection was never closed"));
    }
}

#[test]
fn fetch_honours_abort_signals_and_is_cancelled_when_its_execution_ends() {
    let upstream = SilentUpstream::start();
    let project = Project::with_files(&[
        ONE_ENGINE,
        (
            "functions/aborting.ts",
            r#"export default async (req: any) => {
  const started = Date.now()
  const controller = new AbortController()
  const signals: Record<string, () => AbortSignal> = {
    timeout: () => AbortSignal.timeout(100),
    abort: () => { setTimeout(() => controller.abort(), 50); return controller.signal },
    already: () => AbortSignal.abort(),
    any: () => AbortSignal.any([controller.signal, AbortSignal.timeout(100)]),
  }
  try {
    const signal = req.query.how === 'bogus' ? ({ aborted: false } as any) : signals[req.query.how]()
    await fetch(req.query.url, { signal })
    return { outcome: 'answered' }
  } catch (e) {
    return { name: e.name, dom: e instanceof DOMException, ms: Date.now() - started }
  }
}"#,
        ),
        (
            "functions/forgets.ts",
            r#"export default async (req: any) => {
  fetch(`${req.query.upstream}/slow`)
  // Returns once the upstream holds the request, with the fetch still waiting for its answer.
  while ((await (await fetch(`${req.query.upstream}/open`)).text()) !== 'yes') {}
  return 'returned'
}"#,
        ),
    ]);
    let server = project.start();
    let call = |how: &str| {
        let path = format!("/aborting?how={how}&url={}/slow", upstream.url);
        let reply = server.get(&path);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    };

    let timed_out = call("timeout");
    assert_eq!(timed_out["name"], "TimeoutError", "{timed_out}");
    assert_eq!(timed_out["dom"], true);
    // Well before the execution's own 5 s timeout.
    assert!(
        timed_out["ms"].as_u64().unwrap_or(u64::MAX) < 2_000,
        "{timed_out}"
    );
    upstream.wait_closed("AbortSignal.timeout");

    let aborted = call("abort");
    assert_eq!(aborted["name"], "AbortError", "{aborted}");
    upstream.wait_closed("AbortController.abort");

    let any = call("any");
    assert_eq!(any["name"], "TimeoutError", "{any}");
    upstream.wait_closed("AbortSignal.any");

    let bogus = call("bogus");
    assert_eq!(bogus["name"], "TypeError", "{bogus}");
    assert!(
        upstream.accepted.try_recv().is_err(),
        "a bogus signal still connected"
    );

    let already = call("already");
    assert_eq!(already["name"], "AbortError", "{already}");
    assert!(
        upstream.accepted.try_recv().is_err(),
        "an aborted signal still connected"
    );

    // The execution returns while its fetch waits: the request is cancelled with it.
    let reply = server.get(&format!("/forgets?upstream={}", upstream.url));
    assert_eq!(reply.status, 200);
    upstream.wait_closed("a fetch left running");
    let record = server.record(&reply.request_id());
    assert_eq!(record["spans"][1]["name"], "fetch");
    assert_eq!(record["spans"][1]["status"], "pending", "{record}");
}

#[test]
fn a_panicking_engine_is_contained() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { engines: 1, concurrency: 1 }, queue: { engines: 1, concurrency: 1 }, shutdown: { graceSeconds: 600 }, workers: { crashy: { http: true, maxAttempts: 2, backoff: { type: 'linear', initialDelay: '10ms' } } } }",
        ),
        (
            "migrations/001_notes.sql",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        ),
        (
            "functions/crashy.ts",
            r#"export default async (input: unknown, ctx: any) => {
  await ctx.db.transaction(async (tx: any) => {
    await tx.insert('notes', { body: 'written before the crash' })
    await tx.query('SELECT 1')
  })
  return 'unreachable'
}"#,
        ),
        (
            "functions/note.ts",
            r#"export default async (req: unknown, ctx: any) => {
  await ctx.db.insert('notes', { body: 'after' })
  return (await ctx.db.query('SELECT body FROM notes')).map((r: any) => r.body)
}"#,
        ),
    ]);
    let server = Server::start_with_env(&project, &[], &[("FLUX_TEST_PANIC_ON", "crashy")]);

    let crashed = server.get("/crashy");
    assert_eq!(crashed.status, 500, "{}", crashed.body);
    let record = server.record(&crashed.request_id());
    assert_eq!(record["status"], "error");
    assert_eq!(record["error"]["name"], "InternalError");
    let message = record["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("engine crashed"), "{message}");
    assert_eq!(record["mutations"][0]["committed"], false, "{record}");

    // The same (and only) engine serves the next request; the crashed transaction was rolled
    // back and released (a held transaction would keep this write waiting, then fail it as
    // busy).
    let note = server.get("/note");
    assert_eq!(note.status, 200, "{}", note.body);
    assert_eq!(note.json(), serde_json::json!(["after"]));

    // A job whose attempt crashes is failed and retried, then dead-lettered.
    server.enqueue(&serde_json::json!({ "name": "crashy", "data": {} }));
    let attempts = wait_for("two crashed attempts", DEADLINE, || {
        let list = server
            .get("/_flux/api/records?type=job&fn=crashy&limit=10")
            .json();
        let records = list["records"].as_array().cloned().unwrap_or_default();
        (records.len() == 2).then_some(records)
    });
    for attempt in &attempts {
        assert_eq!(attempt["status"], "error", "{attempt}");
    }
    let (_, dead, _) = project.run(&["queue", "dead-letter", "list", "--format", "json"]);
    assert!(dead.contains("crashy"), "{dead}");

    // Ctrl-C still stops flux, well within its grace period: `stop` waits at most DEADLINE.
    let output = server.stop();
    assert!(output.contains("flux dev stopped"), "{output}");
}

#[test]
fn one_execution_s_spans_and_console_output_are_capped() {
    let project = Project::with_files(&[
        (
            "functions/spammy.ts",
            r#"export default async (req: unknown, ctx: any) => {
  console.log('x'.repeat(100_000))
  for (let i = 0; i < 1200; i++) console.log(`line ${i}`)
  for (let i = 0; i < 1500; i++) await ctx.db.query('SELECT 1')
  return 'done'
}"#,
        ),
        (
            "functions/bulky.ts",
            "export default () => { for (let i = 0; i < 20; i++) console.log('y'.repeat(60_000)); return 'done' }",
        ),
    ]);
    let server = project.start();

    let reply = server.get("/spammy");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = reply.request_id();
    server.record(&id);
    let (code, json, stderr) = project.run(&["trace", &id[..8], "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let record: Value = serde_json::from_str(&json).expect("trace JSON");
    assert_eq!(record["spans"].as_array().map(Vec::len), Some(1000));
    assert_eq!(record["dropped"]["spans"], 501);
    assert_eq!(record["console"].as_array().map(Vec::len), Some(1000));
    assert_eq!(record["dropped"]["console_lines"], 201);
    let first = record["console"][0]["message"].as_str().unwrap_or_default();
    assert!(
        first.len() < 66 * 1024 && first.ends_with("bytes cut)"),
        "{}",
        first.len()
    );
    assert!(record["dropped"]["console_bytes"].as_u64().unwrap_or(0) > 100_000 - 65_536);

    let (_, text, _) = project.run(&["trace", &id[..8]]);
    assert!(text.contains("… 501 more spans not recorded"), "{text}");
    assert!(
        text.contains("… 201 more console lines not recorded"),
        "{text}"
    );

    // flux dev's terminal shows the lines the record keeps, then says the rest was dropped.
    let output = server.wait_for_output("console output capped");
    let printed = output
        .lines()
        .filter(|l| l.starts_with("[spammy] line "))
        .count();
    assert_eq!(printed, 999);
    assert!(!output.contains("[spammy] line 999"));

    // Past 1 MiB of console output in all, lines are dropped too.
    let reply = server.get("/bulky");
    let record = server.record(&reply.request_id());
    let kept: usize = record["console"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| l["message"].as_str().map_or(0, str::len))
                .sum()
        })
        .unwrap_or(0);
    assert!(kept <= 1024 * 1024 + 64, "{kept} bytes kept");
    assert_eq!(
        record["dropped"]["console_lines"], 2,
        "{}",
        record["dropped"]
    );
}

#[test]
fn a_timeout_too_long_for_the_clock_is_refused_at_start_not_crashed() {
    // `Instant + 1e19 s` overflows: it used to panic the engine thread on every request.
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { http: { timeoutSeconds: 1e19 } }",
        ),
        ("functions/hello.ts", "export default () => 'hello'"),
    ]);
    let output = crate::support::Server::try_start(&project, &[])
        .err()
        .expect("flux dev refuses the config");
    assert!(output.contains("http.timeoutSeconds"), "{output}");
    assert!(output.contains("1e19"), "{output}");
    assert!(!output.contains("panicked"), "{output}");
}

#[test]
fn host_functions_throw_their_errors_at_the_call_site_and_engine_globals_are_quickjs_own() {
    let project = Project::with_files(&[(
        "functions/errors.ts",
        r#"export default async (req: unknown, ctx: any) => {
  const out: Record<string, unknown> = {}
  const attempt = async (key: string, fn: () => Promise<unknown>) => {
    try { await fn(); out[key] = 'no error' } catch (e: any) { out[key] = `${e.name}: ${e.message} @ ${e.__fluxSite}` }
  }
  await attempt('query', () => ctx.db.query(5))
  await attempt('params', () => ctx.db.query('SELECT 1', 'not an array'))
  await attempt('insert', () => ctx.db.insert('notes', 'text'))
  await attempt('table', () => ctx.db.insert('', {}))
  await attempt('sql', () => ctx.db.query('SELECT * FROM missing'))
  await attempt('nested', () => ctx.db.transaction(async () => ctx.db.transaction(async () => 1)))
  await attempt('name', () => ctx.queue.enqueue(42))
  await attempt('worker', () => ctx.queue.enqueue('nobody', {}))
  await attempt('email', () => ctx.email.send({ to: 1, template: 'welcome' }))
  await attempt('emailArgs', () => ctx.email.send('hello'))
  await attempt('scheme', () => fetch('ftp://example.com/file'))
  // What the user's own code throws while its arguments become JSON stays its own.
  await attempt('toJSON', () => ctx.db.query('SELECT 1', [{ toJSON() { throw new RangeError('from toJSON') } }]))

  const order: string[] = []
  queueMicrotask(() => order.push('microtask'))
  order.push('sync')
  await null
  out.order = order
  // Queued by the engine, in turn with promise reactions.
  const turns: string[] = []
  Promise.resolve().then(() => turns.push('then 1'))
  queueMicrotask(() => turns.push('microtask'))
  Promise.resolve().then(() => turns.push('then 2'))
  await new Promise((resolve) => setTimeout(resolve, 0))
  out.turns = turns
  try { queueMicrotask(1 as any); out.notAFunction = 'no error' } catch (e: any) { out.notAFunction = e.name }
  const a = crypto.randomUUID(), b = crypto.randomUUID()
  out.uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(a) && a !== b
  return out
}"#,
    )]);
    let server = project.start();
    let out = server.get("/errors").json();
    let expected = [
        ("query", "Error: ctx.db.query(sql, params) takes a SQL string and an array of values", 6),
        ("params", "Error: ctx.db.query(sql, params) takes a SQL string and an array of values", 7),
        ("insert", "Error: ctx.db.insert('notes', row): row must be an object of column values", 8),
        ("table", "Error: ctx.db.insert(table, row): the table name is empty", 9),
        ("sql", "Error: no such table: missing", 10),
        ("nested", "Error: a transaction is already open: ctx.db.transaction cannot be nested", 11),
        ("name", "Error: ctx.queue.enqueue(name, data): name must be the worker's name, e.g. 'send_welcome_email'", 12),
        ("worker", "Error: no worker named 'nobody': create functions/nobody.ts to handle these jobs", 13),
        ("email", "Error: ctx.email.send({ to, template, data }): `to` and `template` must be strings", 14),
        ("emailArgs", "Error: ctx.email.send({ to, template, data }) takes an object", 15),
        ("scheme", "Error: fetch: only http and https URLs are supported, not ftp:", 16),
    ];
    for (key, message, line) in expected {
        assert_eq!(
            out[key],
            format!("{message} @ errors.ts:{line}"),
            "{key}: {out}"
        );
    }
    assert_eq!(
        out["toJSON"], "RangeError: from toJSON @ undefined",
        "{out}"
    );
    assert_eq!(
        out["order"],
        serde_json::json!(["sync", "microtask"]),
        "{out}"
    );
    assert_eq!(
        out["turns"],
        serde_json::json!(["then 1", "microtask", "then 2"]),
        "{out}"
    );
    assert_eq!(out["notAFunction"], "TypeError", "{out}");
    assert_eq!(out["uuid"], true, "{out}");
}

/// An upstream that answers `/echo` with what it received (method, `x-test` header, body in
/// hex) and `/binary` with four bytes no text encoding survives.
fn echo_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut received = Vec::new();
                let mut buffer = [0u8; 4096];
                let (head, body_start) = loop {
                    let Ok(n) = stream.read(&mut buffer) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    received.extend_from_slice(&buffer[..n]);
                    if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (
                            String::from_utf8_lossy(&received[..end]).into_owned(),
                            end + 4,
                        );
                    }
                };
                let header = |name: &str| {
                    head.lines().find_map(|line| {
                        let (key, value) = line.split_once(':')?;
                        key.eq_ignore_ascii_case(name)
                            .then(|| value.trim().to_string())
                    })
                };
                let length: usize = header("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                while received.len() < body_start + length {
                    let Ok(n) = stream.read(&mut buffer) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    received.extend_from_slice(&buffer[..n]);
                }
                let mut request_line = head.lines().next().unwrap_or_default().split(' ');
                let method = request_line.next().unwrap_or_default().to_string();
                let path = request_line.next().unwrap_or_default().to_string();
                let (content_type, body) = if path == "/binary" {
                    ("application/octet-stream", vec![0u8, 1, 2, 255])
                } else {
                    let hex: String = received[body_start..body_start + length]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    let echo = serde_json::json!({ "method": method, "test": header("x-test"), "body": hex });
                    ("application/json", echo.to_string().into_bytes())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            });
        }
    });
    url
}

#[test]
fn fetch_sends_text_and_binary_bodies_and_reads_binary_responses() {
    let project = Project::with_files(&[(
        "functions/relay.ts",
        r#"export default async (req: any) => {
  const upstream = req.query.upstream
  const text = await (await fetch(`${upstream}/echo`, { method: 'POST', headers: { 'x-test': 'yes' }, body: 'héllo' })).json()
  const bytes = await (await fetch(`${upstream}/echo`, { method: 'PUT', body: new Uint8Array([0, 1, 2, 255]).subarray(1) })).json()
  const res = await fetch(`${upstream}/binary`)
  const binary = [...new Uint8Array(await res.arrayBuffer())]
  return { text, bytes, binary, status: res.status, statusText: res.statusText, type: res.headers.get('content-type'), url: res.url }
}"#,
    )]);
    let server = project.start();
    let upstream = echo_upstream();
    let reply = server.get(&format!("/relay?upstream={upstream}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let out = reply.json();
    assert_eq!(
        out,
        serde_json::json!({
            "text": { "method": "POST", "test": "yes", "body": "68c3a96c6c6f" },
            "bytes": { "method": "PUT", "test": null, "body": "0102ff" },
            "binary": [0, 1, 2, 255],
            "status": 200,
            "statusText": "OK",
            "type": "application/octet-stream",
            "url": format!("{upstream}/binary"),
        })
    );
    let record = server.record(&reply.request_id());
    let fetches: Vec<&Value> = record["spans"]
        .as_array()
        .map(|spans| spans.iter().filter(|s| s["name"] == "fetch").collect())
        .unwrap_or_default();
    assert_eq!(fetches.len(), 3, "{record}");
    assert_eq!(fetches[0]["attrs"]["method"], "POST", "{record}");
    assert_eq!(
        fetches[0]["attrs"]["url"],
        format!("{upstream}/echo"),
        "{record}"
    );
    for span in fetches {
        assert_eq!(span["attrs"]["status"], 200, "{record}");
        assert_eq!(span["status"], "ok", "{record}");
    }
}
