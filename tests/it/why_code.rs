//! `flux why` on failures that did not come from the database: an upstream's error answer, an
//! answer that was not the JSON the code parsed, a 5xx the function returned, a missing module
//! or export, a thrown value that is not an Error. Each against a local upstream, never the
//! network.

use std::io::{BufRead, BufReader, Read, Write};

use serde_json::Value;

use crate::support::{Project, Server, SNAPSHOT_FILTERS};

/// `insta::assert_snapshot!` of an inline snapshot, with ids, times and ports filtered.
macro_rules! assert_why {
    ($text:expr, @$snapshot:literal) => {
        insta::with_settings!({ filters => SNAPSHOT_FILTERS.to_vec() }, {
            insta::assert_snapshot!($text, @$snapshot);
        })
    };
}

/// A local HTTP service answering each path it knows with a fixed status, content type and
/// body, and anything else with a 404.
struct Upstream {
    url: String,
}

impl Upstream {
    fn start(answers: &[(&str, u16, &str, &str)]) -> Upstream {
        let answers: Vec<(String, u16, String, String)> = answers
            .iter()
            .map(|(p, s, t, b)| (p.to_string(), *s, t.to_string(), b.to_string()))
            .collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(&stream);
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                // The headers, then the body, so that the client sees its request read.
                let mut length = 0;
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    header.clear();
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let path = request_line.split(' ').nth(1).unwrap_or_default();
                let (status, content_type, body) = answers
                    .iter()
                    .find(|(p, ..)| p == path)
                    .map(|(_, s, t, b)| (*s, t.as_str(), b.as_str()))
                    .unwrap_or((404, "text/plain", "no such path"));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Whatever\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Upstream { url }
    }
}

/// A project with `functions`, each `(name, code)`, where `UPSTREAM` in the code is the
/// upstream's URL.
fn project(upstream: &Upstream, functions: &[(&str, &str)]) -> Project {
    let project = Project::with_files(&[]);
    for (name, code) in functions {
        project.write(
            &format!("functions/{name}"),
            &code.replace("UPSTREAM", &upstream.url),
        );
    }
    project
}

/// `GET /<function>`'s execution id, once its record is stored.
fn failed_request(server: &Server, function: &str, status: u16) -> String {
    let reply = server.get(&format!("/{function}"));
    assert_eq!(reply.status, status, "{}", reply.body);
    let id = reply.request_id();
    server.record(&id);
    id
}

/// `flux why <id>`'s output; it must succeed.
fn why(project: &Project, id: &str) -> String {
    let (code, stdout, stderr) = project.run(&["why", &id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// `flux why <id> --format json`'s finding.
fn finding(project: &Project, id: &str) -> Value {
    let (code, stdout, stderr) = project.run(&["why", id, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).expect("json");
    answer["finding"].clone()
}

#[test]
fn an_upstream_error_names_its_status_url_and_answer_with_advice_for_the_status() {
    let upstream = Upstream::start(&[
        (
            "/v1/charges",
            422,
            "application/json",
            r#"{"error": "amount must be positive", "field": "amount"}"#,
        ),
        ("/v1/rates", 503, "text/plain", "down for maintenance"),
        ("/v1/me", 401, "application/json", r#"{"error":"bad key"}"#),
    ]);
    let project = project(
        &upstream,
        &[
            (
                "charge.ts",
                "export default async function handler(req, ctx) {\n  const r = await fetch('UPSTREAM/v1/charges', { method: 'POST', body: '{\"amount\":-5}' })\n  if (!r.ok) throw new Error(`charge failed: ${r.status}`)\n  return r.json()\n}\n",
            ),
            (
                "rates.ts",
                "export default async function handler(req, ctx) {\n  const r = await fetch('UPSTREAM/v1/rates')\n  if (!r.ok) throw new Error('no rates')\n  return r.json()\n}\n",
            ),
            (
                "me.ts",
                "export default async function handler(req, ctx) {\n  const r = await fetch('UPSTREAM/v1/me')\n  if (!r.ok) throw new Error('who am I?')\n  return r.json()\n}\n",
            ),
        ],
    );
    let server = project.start();

    let charge = failed_request(&server, "charge", 500);
    assert_why!(why(&project, &charge), @r#"
    ROOT CAUSE Upstream HTTP 422 from POST http://127.0.0.1:[PORT]/v1/charges: {"error": "amount must be positive", "field": "amount"}
    LOCATION charge.ts:2
    REQUEST GET /charge
    SUGGESTION → The upstream rejected what was sent (HTTP 422): its answer says which field; check the body and parameters this code built
    "#);
    let json = finding(&project, &charge);
    assert_eq!(json["cause"], "upstream-error");
    assert_eq!(json["location"], "charge.ts:2");

    let rates = failed_request(&server, "rates", 500);
    assert_why!(why(&project, &rates), @r"
    ROOT CAUSE Upstream HTTP 503 from GET http://127.0.0.1:[PORT]/v1/rates: down for maintenance
    LOCATION rates.ts:2
    REQUEST GET /rates
    SUGGESTION → The upstream failed (HTTP 503), not this code: retry with backoff, or enqueue the call as a job (ctx.queue.enqueue), which retries with backoff
    ");

    let me = failed_request(&server, "me", 500);
    assert_why!(why(&project, &me), @r#"
    ROOT CAUSE Upstream HTTP 401 from GET http://127.0.0.1:[PORT]/v1/me: {"error":"bad key"}
    LOCATION me.ts:2
    REQUEST GET /me
    SUGGESTION → The upstream refused the credentials (HTTP 401): check the key or token sent; ctx.env holds only the variables the config's env names
    "#);
}

#[test]
fn a_parse_of_an_answer_that_is_not_json_blames_the_answer() {
    let upstream = Upstream::start(&[
        (
            "/api/orders",
            502,
            "text/html",
            "<html>\n<body><h1>502 Bad Gateway</h1></body>\n</html>",
        ),
        (
            "/api/profile",
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><title>Sign in</title>",
        ),
    ]);
    let project = project(
        &upstream,
        &[
            (
                "orders.ts",
                "export default async function handler(req, ctx) {\n  const r = await fetch('UPSTREAM/api/orders')\n  const orders = await r.json()\n  return orders\n}\n",
            ),
            (
                "profile.ts",
                "export default async function handler(req, ctx) {\n  const r = await fetch('UPSTREAM/api/profile')\n  const text = await r.text()\n  return JSON.parse(text)\n}\n",
            ),
        ],
    );
    let server = project.start();

    // `r.json()` parses inside flux: its caller's line is the location.
    let orders = failed_request(&server, "orders", 500);
    assert_why!(why(&project, &orders), @r"
    ROOT CAUSE Not JSON: GET http://127.0.0.1:[PORT]/api/orders answered HTTP 502 (text/html): <html> <body><h1>502 Bad Gateway</h1></body> </html>; parsing it threw SyntaxError: unexpected token: '<'
    LOCATION orders.ts:3
    REQUEST GET /orders
    SUGGESTION → The upstream failed, and its error page is what the code parsed: check r.ok before reading the body, and retry with backoff
    ");

    // A 200 that is a page, parsed in the project's code: the parse's line.
    let profile = failed_request(&server, "profile", 500);
    assert_why!(why(&project, &profile), @r"
    ROOT CAUSE Not JSON: GET http://127.0.0.1:[PORT]/api/profile answered HTTP 200 (text/html; charset=utf-8): <!DOCTYPE html><title>Sign in</title>; parsing it threw SyntaxError: unexpected token: '<'
    LOCATION profile.ts:4
    REQUEST GET /profile
    SUGGESTION → The URL answered a page, not JSON (a login or proxy page, or a site's page instead of its API): check the URL and the credentials sent, and the content type before r.json()
    ");
    let json = finding(&project, &profile);
    assert_eq!(json["cause"], "upstream-not-json");
    assert_eq!(json["location"], "profile.ts:4");
    assert!(json["suggestion"]
        .as_str()
        .is_some_and(|s| s.contains("check the URL")));

    // The answer's start is on the fetch's span, for `flux trace --verbose` too.
    let (_, verbose, _) = project.run(&["trace", &profile, "--verbose"]);
    assert!(
        verbose.contains("content_type: text/html; charset=utf-8")
            && verbose.contains("body: <!DOCTYPE html><title>Sign in</title>"),
        "{verbose}"
    );
}

#[test]
fn a_returned_5xx_is_a_failure_in_tail_trace_and_why_and_a_4xx_is_not() {
    let upstream = Upstream::start(&[]);
    let project = project(
        &upstream,
        &[
            (
                "maintenance.ts",
                "export default async function handler(req, ctx) {\n  return new Response('back at noon', { status: 503 })\n}\n",
            ),
            (
                "broken.ts",
                "export default async function handler(req, ctx) {\n  return Response.json({ error: 'no stock', sku: 'A1' }, { status: 500 })\n}\n",
            ),
            (
                "missing.ts",
                "export default async function handler(req, ctx) {\n  return new Response('no such order', { status: 404 })\n}\n",
            ),
        ],
    );
    let server = project.start();
    let maintenance = failed_request(&server, "maintenance", 503);
    let broken = failed_request(&server, "broken", 500);
    let missing = failed_request(&server, "missing", 404);

    assert_why!(why(&project, &maintenance), @r"
    ROOT CAUSE maintenance returned HTTP 503: back at noon
    LOCATION maintenance.ts:2
    REQUEST GET /maintenance
    ");
    assert_why!(why(&project, &broken), @r"
    ROOT CAUSE broken returned HTTP 500: { error: 'no stock', sku: 'A1' }
    LOCATION broken.ts:2
    REQUEST GET /broken
    ");
    let json = finding(&project, &broken);
    assert_eq!(json["cause"], "http-5xx");
    assert_eq!(json["suggestion"], Value::Null);
    // A 4xx is the function's answer to a bad request, not its failure.
    assert_why!(why(&project, &missing), @r"
    OK GET /missing 404 [DUR] req:[ID]
    nothing failed: 1 span(s), 0 data change(s)
    REQUEST GET /missing
    ");

    // The same status, failed or not, in the three commands.
    let (_, tail, _) = project.run(&["tail", "--last", "1h", "--no-follow"]);
    assert_why!(tail, @r"
    GET /maintenance 503 [DUR] req:[ID]
    GET /broken 500 [DUR] req:[ID]
    GET /missing 404 [DUR] req:[ID]
    ");
    let (_, trace, _) = project.run(&["trace", &maintenance]);
    assert!(
        trace.starts_with("GET /maintenance 503 ") && trace.contains("← error here"),
        "{trace}"
    );
    let (_, trace, _) = project.run(&["trace", &missing]);
    assert!(
        trace.starts_with("GET /missing 404 ") && !trace.contains("error"),
        "{trace}"
    );
    let status = |id: &str| server.record(id)["status"].clone();
    assert_eq!(
        [status(&maintenance), status(&broken), status(&missing)],
        ["error", "error", "ok"]
    );
}

#[test]
fn a_missing_export_is_named_at_its_import_with_what_the_module_exports() {
    let upstream = Upstream::start(&[]);
    let project = project(
        &upstream,
        &[
            (
                "_lib/format.ts",
                "export function formatName(name: string) { return name.trim() }\nexport const formatDate = (d: Date) => d.toISOString()\nexport * from './money'\n",
            ),
            ("_lib/money.ts", "export const cents = (n: number) => n * 100\n"),
            (
                "greet.ts",
                "// Greets by name.\nimport { formatNam } from './_lib/format'\n\nexport default async function handler(req, ctx) {\n  return formatNam(req.query.name)\n}\n",
            ),
            (
                "report.ts",
                "import format from './_lib/format.ts'\n\nexport default async function handler(req, ctx) {\n  return format.formatDate(new Date())\n}\n",
            ),
            (
                "total.ts",
                "import { cents } from './_lib/format'\n\nexport default async function handler(req, ctx) {\n  return cents(2)\n}\n",
            ),
        ],
    );
    let server = project.start();

    let greet = failed_request(&server, "greet", 500);
    assert_why!(why(&project, &greet), @r"
    ROOT CAUSE Missing export: _lib/format.ts has no export 'formatNam'
    LOCATION greet.ts:2
    REQUEST GET /greet
    SUGGESTION → Did you mean formatName? _lib/format.ts exports formatName, formatDate, cents
    ");
    let json = finding(&project, &greet);
    assert_eq!(json["cause"], "missing-export");
    assert_eq!(json["location"], "greet.ts:2");

    let report = failed_request(&server, "report", 500);
    assert_why!(why(&project, &report), @r"
    ROOT CAUSE Missing export: _lib/format.ts has no default export
    LOCATION report.ts:1
    REQUEST GET /report
    SUGGESTION → _lib/format.ts has only named exports (formatName, formatDate, cents): import them by name, import { formatName } from …, or add an export default to it
    ");

    // A name passed on by `export * from` is there.
    let total = server.get("/total");
    assert_eq!((total.status, total.body.as_str()), (200, "200"));
}

#[test]
fn a_missing_module_is_named_at_its_import() {
    let upstream = Upstream::start(&[]);
    let project = project(
        &upstream,
        &[
            (
                "_lib/mail.ts",
                "import { render } from './templates'\nexport const send = () => render()\n",
            ),
            (
                "typo.ts",
                "import { z } from './_lib/zod'\nimport { send } from './_lib/mial'\n\nexport default async function handler(req, ctx) {\n  return send()\n}\n",
            ),
            ("_lib/zod.ts", "export const z = 1\n"),
            (
                "notify.ts",
                "import { send } from './_lib/mail'\n\nexport default async function handler(req, ctx) {\n  return send()\n}\n",
            ),
        ],
    );
    let server = project.start();
    let typo = failed_request(&server, "typo", 500);
    assert_why!(why(&project, &typo), @r"
    ROOT CAUSE Missing module: './_lib/mial' imported by typo.ts: no such file in the project
    LOCATION typo.ts:2
    REQUEST GET /typo
    SUGGESTION → Did you mean './_lib/mail'? The path is relative to typo.ts's folder
    ");
    let notify = failed_request(&server, "notify", 500);
    // The import that failed is in the helper, not in the function.
    assert_why!(why(&project, &notify), @r"
    ROOT CAUSE Missing module: './templates' imported by _lib/mail.ts: no such file in the project
    LOCATION _lib/mail.ts:1
    REQUEST GET /notify
    SUGGESTION → Check the path: it is relative to _lib/mail.ts's folder, and flux looks for it with .ts, .js, .mjs and .mts, then for an index file in it
    ");
    assert_eq!(finding(&project, &notify)["cause"], "missing-module");
}

#[test]
fn a_thrown_value_that_is_not_an_error_asks_for_an_error_and_a_plain_error_gets_no_advice() {
    let upstream = Upstream::start(&[]);
    let project = project(
        &upstream,
        &[
            (
                "refund.ts",
                "export default async function handler(req, ctx) {\n  throw 'refund window closed'\n}\n",
            ),
            (
                "quota.ts",
                "export default async function handler(req, ctx) {\n  throw { code: 42, reason: 'quota' }\n}\n",
            ),
            (
                "plain.ts",
                "export default async function handler(req, ctx) {\n  throw new Error('the moon is full')\n}\n",
            ),
        ],
    );
    let server = project.start();

    let refund = failed_request(&server, "refund", 500);
    let why_refund = why(&project, &refund);
    assert!(
        why_refund.starts_with(
            "ROOT CAUSE A value that is not an Error was thrown: 'refund window closed'\n"
        ),
        "{why_refund}"
    );
    assert!(
        why_refund.ends_with("SUGGESTION → Throw an Error instead (throw new Error('refund window closed')): an Error has a message and a stack, which tell where it was thrown and through which calls\n"),
        "{why_refund}"
    );
    let json = finding(&project, &refund);
    assert_eq!(json["cause"], "non-error-thrown");

    let quota = failed_request(&server, "quota", 500);
    let json = finding(&project, &quota);
    assert_eq!(json["cause"], "non-error-thrown");
    assert_eq!(
        json["suggestion"],
        r#"→ Throw an Error instead (throw Object.assign(new Error('…'), {"code":42,"reason":"quota"})): an Error has a message and a stack, which tell where it was thrown and through which calls"#
    );

    let plain = failed_request(&server, "plain", 500);
    assert_why!(why(&project, &plain), @r"
    ROOT CAUSE Error: the moon is full
    LOCATION plain.ts:2
    REQUEST GET /plain
    ");
    assert_eq!(finding(&project, &plain)["cause"], "error");
}
