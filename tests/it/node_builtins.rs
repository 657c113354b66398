//! Node's built-in modules flux provides (`node:events`, `node:buffer`, `node:crypto`,
//! `node:util`, `node:process`, `node:path`, `node:url`), each run inside `flux dev` and
//! compared with what Node 20 answers for the same code, and the message for the others.

use serde_json::json;

use crate::support::{console_messages, wait_for, Project, Server, DEADLINE};

/// A function's JSON answer, the function failing the test with its record otherwise.
fn answer(server: &Server, path: &str) -> serde_json::Value {
    let reply = server.get(path);
    if reply.status != 200 {
        let record = server.record(&reply.request_id());
        panic!("{path} answered {}: {}", reply.status, record["error"]);
    }
    reply.json()
}

#[test]
fn events_emit_in_order_and_throw_an_unhandled_error_and_timers_wait_as_node_does() {
    let project =
        Project::with_files(&[("functions/events.ts", EVENTS), ("functions/wait.ts", WAIT)]);
    let server = project.start();
    assert_eq!(
        answer(&server, "/events"),
        json!({
            "seen": ["first:1", "on:1", "once:1", "first:2", "on:2", "handled:again"],
            "counts": [3, 1],
            "emitted": false,
            "unhandled": "disk full",
            "ready": "go",
            "sameModule": true,
            "names": ["data", "error"],
        })
    );
    // node:timers/promises: a wait resolves to its value, an aborted one rejects as in Node.
    assert_eq!(
        answer(&server, "/wait"),
        json!({ "value": "slept", "abort": ["AbortError", "ABORT_ERR"], "same": true })
    );
}

const WAIT: &str = r#"import { setTimeout as sleep, scheduler } from 'node:timers/promises'
import timers from 'node:timers'

export default async () => {
  const value = await sleep(5, 'slept')
  const controller = new AbortController()
  const pending = sleep(10000, 'never', { signal: controller.signal })
  controller.abort()
  let abort = null
  try { await pending } catch (e) { abort = [e.name, e.code] }
  await scheduler.wait(1)
  return { value, abort, same: timers.setTimeout === globalThis.setTimeout }
}
"#;

const EVENTS: &str = r#"import EventEmitter, { once } from 'node:events'
import * as bare from 'events'

class Job extends EventEmitter {}

export default async () => {
  const job = new Job()
  const seen = []
  const onData = (x) => seen.push(`on:${x}`)
  job.on('data', onData)
  job.once('data', (x) => seen.push(`once:${x}`))
  job.prependListener('data', (x) => seen.push(`first:${x}`))
  const counts = [job.listenerCount('data')]
  job.emit('data', 1)
  job.emit('data', 2)
  job.off('data', onData)
  counts.push(job.listenerCount('data'))
  const emitted = job.emit('nothing')
  let unhandled = null
  try {
    job.emit('error', new Error('disk full'))
  } catch (e) {
    unhandled = e.message
  }
  job.on('error', (e) => seen.push(`handled:${e.message}`))
  job.emit('error', new Error('again'))
  setTimeout(() => job.emit('ready', 'go'), 1)
  const [ready] = await once(job, 'ready')
  return {
    seen, counts, emitted, unhandled, ready,
    sameModule: bare.default === EventEmitter && bare.EventEmitter === EventEmitter,
    names: job.eventNames(),
  }
}
"#;

#[test]
fn buffer_and_string_decoder_encode_read_and_write_bytes_as_node_does() {
    let project = Project::with_files(&[
        ("functions/buffer.ts", BUFFER),
        ("functions/decode.ts", DECODE),
    ]);
    let server = project.start();
    assert_eq!(
        answer(&server, "/buffer"),
        json!({
            "length": 13,
            "base64": "aMOpbGxvIHfDtnJsZA==",
            "hex": "68c3a96c",
            "fromBase64": "hello",
            "fromHex": "flux",
            "concat": "abcd",
            "numbers": [3735928559u32, -2, "deadbeeffeff"],
            "equals": true,
            "compare": -1,
            "isBuffer": [true, false],
            "uint8": true,
            "json": "{\"type\":\"Buffer\",\"data\":[104,105]}",
            "inspected": "<Buffer 66 6c 75 78>",
            "byteLength": 3,
            "atob": "hi",
            "base64url": ["aGk_Pn4", "hi?>~", 5, true],
        })
    );
    // A character split across writes comes out whole; a cut one ends as U+FFFD.
    assert_eq!(
        answer(&server, "/decode"),
        json!({
            "parts": ["", "€", ""],
            "base64": "aGkhIQ==",
            "hex": "ff01",
            "utf16": "hi",
            "cut": "\u{fffd}",
        })
    );
}

const DECODE: &str = r#"import { StringDecoder } from 'node:string_decoder'

export default () => {
  const euro = new Uint8Array([0xe2, 0x82, 0xac])
  const utf8 = new StringDecoder('utf8')
  const parts = [utf8.write(euro.subarray(0, 1)), utf8.write(euro.subarray(1)), utf8.end()]
  const b64 = new StringDecoder('base64')
  const hex = new StringDecoder('hex')
  return {
    parts,
    base64: b64.write(new Uint8Array([104, 105, 33, 33])) + b64.end(),
    hex: hex.write(new Uint8Array([255, 1])),
    utf16: new StringDecoder('utf16le').write(new Uint8Array([104, 0, 105, 0])),
    cut: new StringDecoder('utf8').end(new Uint8Array([0xe2, 0x82])),
  }
}
"#;

const BUFFER: &str = r#"import { Buffer, atob } from 'node:buffer'
import util from 'node:util'

export default () => {
  const b = Buffer.from('héllo wörld')
  const n = Buffer.alloc(6)
  n.writeUInt32BE(0xdeadbeef, 0)
  n.writeInt16LE(-2, 4)
  return {
    length: b.length,
    base64: b.toString('base64'),
    hex: b.subarray(0, 4).toString('hex'),
    fromBase64: Buffer.from('aGVsbG8=', 'base64').toString(),
    fromHex: Buffer.from('666c7578', 'hex').toString('utf8'),
    concat: Buffer.concat([Buffer.from('ab'), Buffer.from([99, 100])]).toString(),
    numbers: [n.readUInt32BE(0), n.readInt16LE(4), n.toString('hex')],
    equals: Buffer.from('x').equals(Buffer.from('x')),
    compare: Buffer.compare(Buffer.from('a'), Buffer.from('b')),
    isBuffer: [Buffer.isBuffer(b), Buffer.isBuffer(new Uint8Array(2))],
    uint8: b instanceof Uint8Array,
    json: JSON.stringify(Buffer.from('hi')),
    inspected: util.inspect(Buffer.from('flux')),
    byteLength: Buffer.byteLength('€'),
    atob: atob('aGk='),
    base64url: [Buffer.from('hi?>~').toString('base64url'), Buffer.from('aGk_Pn4', 'base64url').toString(), Buffer.byteLength('aGk_Pn4', 'base64url'), Buffer.isEncoding('base64url')],
  }
}
"#;

#[test]
fn crypto_hashes_and_hmacs_match_node() {
    let project = Project::with_files(&[("functions/hash.ts", CRYPTO)]);
    let server = project.start();
    assert_eq!(
        answer(&server, "/hash"),
        json!({
            "hashes": {
                "md5": "5eb63bbbe01eeed093cb22bb8f5acdc3",
                "sha1": "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed",
                "sha256": "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
                "sha384": "fdbd8e75a67f29f701a4e040385e2e23986303ea10239211af907fcbb83578b3e417cb71ce646efd0819dd8c088de1bd",
                "sha512": "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f",
            },
            "base64": "ouECB8e+MOHQewt+NT7MGhNk85BX4azt0/dsXSzu0YA=",
            "base64url": "ouECB8e-MOHQewt-NT7MGhNk85BX4azt0_dsXSzu0YA",
            "latin1Input": "e0e8bfafbb0689563b2fba789c97b3cc",
            "bytesInput": "7037807198c22a7d2b0807371d763779a84fdfcf",
            "digestBytes": [32, true, "ba7816bf"],
            "hmac": "b82fcb791acec57859b989b430a826488ce2e479fdf92326bd0a2e8375a42ba4",
            "hmacBufferKey": "pucBs0toLowcCat0Pw516Y3YXIuDtTHnykg/XhYBPfa+5ka9cZIfMAkQH/9+fPDw4gDlBBQZmNtVtmqnveYQGg==",
            "safe": [true, false],
            "unequal": "RangeError: Input buffers must have the same byte length",
            "reused": "Digest already called",
            "unsupported": "Digest method not supported: SHA3-256 (flux has md5, sha1, sha224, sha256, sha384, sha512)",
            "random": [16, true, 4],
            "webcrypto": true,
        })
    );
}

const CRYPTO: &str = r#"import crypto, { createHash, createHmac, timingSafeEqual, randomBytes, randomUUID } from 'node:crypto'
import { Buffer } from 'node:buffer'

export default () => {
  const hashes = {}
  for (const alg of ['md5', 'sha1', 'sha256', 'sha384', 'sha512']) {
    hashes[alg] = createHash(alg).update('hello ').update('world').digest('hex')
  }
  const digest = createHash('sha256').update('abc').digest()
  let unequal = null
  try {
    timingSafeEqual(Buffer.from('a'), Buffer.from('ab'))
  } catch (e) {
    unequal = `${e.name}: ${e.message}`
  }
  let reused = null
  const h = createHash('sha1')
  h.digest()
  try { h.update('x') } catch (e) { reused = e.message }
  let unsupported = null
  try { createHmac('SHA3-256', 'k') } catch (e) { unsupported = e.message }
  return {
    hashes,
    base64: createHash('SHA256').update('flux').digest('base64'),
    base64url: createHash('sha256').update('flux').digest('base64url'),
    latin1Input: createHash('md5').update('ff00', 'hex').digest('hex'),
    bytesInput: createHash('sha1').update(new Uint8Array([1, 2, 3])).digest('hex'),
    digestBytes: [digest.length, Buffer.isBuffer(digest), digest.toString('hex').slice(0, 8)],
    hmac: createHmac('sha256', 'secret').update('payload').digest('hex'),
    hmacBufferKey: createHmac('sha512', Buffer.from('key')).update('m').digest('base64'),
    safe: [timingSafeEqual(Buffer.from('abc'), Buffer.from('abc')), timingSafeEqual(Buffer.from('abc'), Buffer.from('abd'))],
    unequal,
    reused,
    unsupported,
    random: [randomBytes(16).length, /^[0-9a-f-]{36}$/.test(randomUUID()), crypto.getRandomValues(new Uint8Array(4)).length],
    webcrypto: crypto.webcrypto === globalThis.crypto,
  }
}
"#;

#[test]
fn util_formats_and_inspects_as_node_does() {
    let project = Project::with_files(&[("functions/util.ts", UTIL)]);
    let server = project.start();
    let reply = server.get("/util");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let lines = |key: &str| -> String {
        body[key]
            .as_array()
            .expect("a list")
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    // Node 20's output for the same values.
    insta::assert_snapshot!(lines("format"), @r#"
    cart has 3 items costing 9.5
    ---
    42% done, {"ok":true}
    ---
    { a: [ 1, [length]: 1 ] }
    ---
    extra 1 { a: 'b' } [ 2 ]
    "#);
    insta::assert_snapshot!(lines("inspect"), @r#"
    { a: 1, b: 'two', c: [ 1, 2, 3 ], d: { e: { f: [Object] } } }
    ---
    Map(1) { 'k' => Set(2) { 1, 2 } }
    ---
    Point { x: 1, y: 2 }
    ---
    <ref *1> { name: 'loop', self: [Circular *1] }
    ---
    [
       0,  1,  2,  3,  4,  5,  6,  7,  8,
       9, 10, 11, 12, 13, 14, 15, 16, 17,
      18, 19, 20, 21, 22, 23, 24, 25, 26,
      27, 28, 29
    ]
    ---
    [
      {
        id: 1,
        email: 'ada@example.com',
        roles: [ 'admin' ],
        profile: { city: 'London', age: 36 }
      }
    ]
    ---
    {
      s: "it's",
      n: -0,
      big: 10n,
      sym: Symbol(s),
      u: undefined,
      fn: [Function: named],
      arrow: [Function: arrow]
    }
    ---
    { nested: [Object] }
    ---
    Uint8Array(3) [ 1, 2, 3 ]
    ---
    'text'
    "#);
    assert_eq!(body["promisified"], json!([42, "negative"]), "promisify");
    assert_eq!(body["types"], json!([true, true, true, true, true, true]));
    assert_eq!(body["inherits"], json!(["animal", true]));
    assert_eq!(body["deepEqual"], json!([true, false]));
    assert_eq!(body["encoder"], "ünï");
    // An error: its header, its stack in the function's files (not flux's), its own keys.
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("HttpError: not found\n    at HttpError (util.ts:5:")
            && error.ends_with(" {\n  status: 404\n}")
            && !error.contains("flux:"),
        "{error}"
    );
    // A deprecated function works, and warns once (on the console, as Node does on stderr).
    assert_eq!(body["deprecated"], json!(["still works", "still works"]));
    let record = server.record(&reply.request_id());
    assert_eq!(
        console_messages(&record),
        vec!["[DEP_FLUX] DeprecationWarning: old() is deprecated".to_string()]
    );
}

const UTIL: &str = r#"import util, { format, inspect, promisify, types, inherits, deprecate, isDeepStrictEqual } from 'node:util'
import utilTypes from 'node:util/types'

class Point { constructor(x, y) { this.x = x; this.y = y } }
class HttpError extends Error { constructor(m) { super(m); this.name = 'HttpError'; this.status = 404 } }
const circular = { name: 'loop' }
circular.self = circular

export default async () => {
  const legacy = (a, cb) => setTimeout(() => (a < 0 ? cb(new Error('negative')) : cb(null, a * 2)), 1)
  const double = promisify(legacy)
  let rejected = null
  try { await double(-1) } catch (e) { rejected = e.message }
  function Animal() {}
  Animal.prototype.kind = function () { return 'animal' }
  function Dog() {}
  inherits(Dog, Animal)
  const old = deprecate(() => 'still works', 'old() is deprecated', 'DEP_FLUX')
  return {
    format: [
      format('%s has %d items costing %f', 'cart', 3, 9.5),
      format('%i%% done, %j', 42.9, { ok: true }),
      format('%o', { a: [1] }),
      format('extra', 1, { a: 'b' }, [2]),
    ],
    inspect: [
      inspect({ a: 1, b: 'two', c: [1, 2, 3], d: { e: { f: { g: 1 } } } }),
      inspect(new Map([['k', new Set([1, 2])]])),
      inspect(new Point(1, 2)),
      inspect(circular),
      inspect(Array.from({ length: 30 }, (_, i) => i)),
      inspect([{ id: 1, email: 'ada@example.com', roles: ['admin'], profile: { city: 'London', age: 36 } }]),
      inspect({ s: "it's", n: -0, big: 10n, sym: Symbol('s'), u: undefined, fn: function named() {}, arrow: () => 1 }),
      inspect({ nested: { deeper: { deepest: { gone: true } } } }, { depth: 0 }),
      inspect(new Uint8Array([1, 2, 3])),
      inspect('text'),
    ],
    promisified: [await double(21), rejected],
    types: [types.isDate(new Date()), types.isPromise(Promise.resolve()), types.isRegExp(/x/), types.isUint8Array(new Uint8Array()), utilTypes.isMap(new Map()), types.isAsyncFunction(async () => {})],
    inherits: [new Dog().kind(), Dog.super_ === Animal],
    deprecated: [old(), old()],
    deepEqual: [isDeepStrictEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), isDeepStrictEqual({ a: 1 }, { a: '1' })],
    encoder: new util.TextDecoder().decode(new util.TextEncoder().encode('ünï')),
    error: inspect(new HttpError('not found')),
  }
}
"#;

#[test]
fn process_env_holds_the_declared_variables_and_path_and_url_are_posix_and_whatwg() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { env: ['NODEB_DECLARED'] }",
        ),
        ("functions/proc.ts", PROCESS),
    ]);
    let server = Server::start_with_env(
        &project,
        &[],
        &[("NODEB_DECLARED", "yes"), ("NODEB_UNDECLARED", "secret")],
    );
    assert_eq!(
        answer(&server, "/proc"),
        json!({
            "keys": ["NODEB_DECLARED"],
            // Shared by the executions of a context, it cannot carry one's writes to another.
            "write": "process.env is read-only in flux: it holds the variables the config's env declares, shared by every execution",
            "declared": "yes",
            // As ctx.env: only what the config declares.
            "undeclared": null,
            "has": [true, false],
            "spread": { "NODEB_DECLARED": "yes" },
            "text": "[object Object]",
            "same": true,
            "ticked": "ticked",
            "platform": std::env::consts::OS.replace("macos", "darwin"),
            // A function has no working directory: path.resolve starts at the root.
            "path": ["/a/c/d.txt", "/x/y", "../../d", ".gz", "b", "/a/b", true, "/"],
            "url": "https://example.com/p?q=1",
            "fileUrl": "url.fileURLToPath: functions cannot read the project's files; import data instead (import data from './data.json')",
        })
    );

    // A variable the config comes to declare shows at once, as it does in ctx.env.
    project.write(
        "flux.config.ts",
        "export default { env: ['NODEB_DECLARED', 'NODEB_UNDECLARED'] }",
    );
    wait_for("the newly declared variable", DEADLINE, || {
        let reply = server.get("/proc");
        (reply.status == 200 && reply.json()["undeclared"] == "secret").then_some(())
    });
}

const PROCESS: &str = r#"import process, { env, nextTick } from 'node:process'
import path from 'node:path'
import { URL, fileURLToPath } from 'node:url'

export default async () => {
  const ticked = await new Promise((resolve) => nextTick(resolve, 'ticked'))
  let fileUrl = null
  try { fileURLToPath('file:///etc/passwd') } catch (e) { fileUrl = e.message }
  let write = null
  try { env.NODEB_DECLARED = 'changed' } catch (e) { write = e.message }
  return {
    keys: Object.keys(env),
    write,
    declared: env.NODEB_DECLARED ?? null,
    undeclared: env.NODEB_UNDECLARED ?? null,
    has: ['NODEB_DECLARED' in env, 'NODEB_UNDECLARED' in env],
    spread: { ...env },
    text: String(env),
    same: process.env === env,
    ticked,
    platform: process.platform,
    path: [path.join('/a/b', '../c', 'd.txt'), path.resolve('x', 'y'), path.relative('/a/b/c', '/a/d'), path.extname('f.tar.gz'), path.basename('/a/b.ts', '.ts'), path.dirname('/a/b/c'), path.posix === path, path.sep],
    url: new URL('/p?q=1', 'https://example.com').href,
    fileUrl,
  }
}
"#;

#[test]
fn a_node_module_flux_lacks_fails_at_its_import_saying_what_to_use_instead() {
    let project = Project::with_files(&[
        (
            "functions/files.ts",
            "// Reads a file\nimport { readFileSync } from 'node:fs'\nexport default () => readFileSync('x')\n",
        ),
        (
            "functions/typo.ts",
            "import { EventEmiter } from 'node:events'\nexport default () => new EventEmiter()\n",
        ),
        (
            "functions/spawn.ts",
            "import { spawn } from 'child_process'\nexport default () => spawn('ls')\n",
        ),
    ]);
    let server = project.start();
    let failure = |path: &str| {
        let reply = server.get(path);
        assert_eq!(reply.status, 500, "{}", reply.body);
        let record = server.record(&reply.request_id());
        (
            record["error"]["message"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            record["error"]["location"].clone(),
        )
    };
    assert_eq!(
        failure("/files"),
        (
            "cannot import 'node:fs' from files.ts: flux does not provide node:fs; functions cannot read or write files: keep data in ctx.db, import JSON (import data from './data.json'), or fetch it".to_string(),
            json!("files.ts:2")
        )
    );
    assert_eq!(
        failure("/spawn"),
        (
            "cannot import 'child_process' from spawn.ts: flux does not provide node:child_process; functions cannot start processes or threads; enqueue a job (ctx.queue.enqueue) for work in the background".to_string(),
            json!("spawn.ts:1")
        )
    );
    // A name the built-in does not export is found at its line, with what it does export.
    let (message, location) = failure("/typo");
    assert!(
        message.starts_with("Could not find export 'EventEmiter' in module 'node:events'; it exports EventEmitter, "),
        "{message}"
    );
    assert_eq!(location, json!("typo.ts:1"));
}
