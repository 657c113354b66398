#!/usr/bin/env node
// Runs the web-platform-tests for flux's globals in flux (a real `flux dev`) and in Node, with
// the same minimal harness (harness.js), and prints per directory how many cases each passes.
//
//   node scripts/wpt/run.mjs [--wpt DIR] [--flux BIN] [--diff] [--verbose] [--only SUBSTRING] [--json FILE]
//
// DIR is a checkout of https://github.com/web-platform-tests/wpt (or $WPT_DIR): the tests are
// read from it, never copied here. `git clone --depth 1 https://github.com/web-platform-tests/wpt`
// makes one. BIN defaults to target/debug/flux (build it first: `cargo build`).

import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

// The directories measured, and the files in them that are out of scope with the reason.
const SCOPE = [
  'url',
  'encoding',
  'fetch/api/headers',
  'fetch/api/body',
  'html/webappapis/atob',
  'html/webappapis/structured-clone',
  'html/webappapis/timers',
  'html/webappapis/microtask-queuing',
  'FileAPI/blob',
  'xhr/formdata',
  'dom/abort',
  'dom/events',
  'WebCryptoAPI/digest',
  'WebCryptoAPI/sign_verify',
  'WebCryptoAPI/import_export',
  'WebCryptoAPI/generateKey',
  'WebCryptoAPI/derive_bits_keys',
  'WebCryptoAPI/encrypt_decrypt',
];
const EXCLUDED = [
  // The IDL tests need idlharness.js and a full WebIDL reflection of every interface.
  [/idlharness/, 'needs idlharness.js'],
  // IDNA (UTS 46) tables: a separate large corpus, not URL parsing.
  [/IdnaTestV2/, 'IDNA tables, not in scope'],
  [/\.worker\.js$|\.serviceworker\.js$/, 'needs a worker global'],
  [/\.sub\./, 'needs the WPT server to substitute the file'],
  // Legacy (non-UTF-8) encodings are exercised through documents and the WPT server.
  [/encoding\/legacy-|encoding\/streams\/|textdecoder-streaming|unsupported-labels/, 'needs a document or the WPT server'],
  [/fetch\/api\/body\/formdata|fetch\/api\/headers\/headers-no-cors/, 'needs fetch to the WPT server'],
  [/Blob-constructor-dom|Blob-stream/, 'needs a document or ReadableStream'],
  // The Web Crypto algorithms flux does not implement (src/runtime/js/subtle.js says which).
  [/WebCryptoAPI\/.*(rsa_pss|rsa_oaep|aes_cbc|aes_ctr|ecdh|cfrg_curves|AES-CBC|AES-CTR|AES-KW|ECDH|RSA-OAEP|RSA-PSS|X25519|X448|Ed448)/,
    'an algorithm flux does not implement'],
];

// What a file's code shows it needs beyond a plain global scope.
function excludedByContent(source) {
  if (/fetch_tests_from_worker|fetch_tests_from_window/.test(source)) return 'runs its tests in a worker or window';
  if (/\bdocument\.|\bwindow\.open|iframe/.test(source)) return 'needs a document';
  if (/get-host-info|RESOURCES_DIR|\.py\b/.test(source)) return 'needs the WPT server';
  return null;
}

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
};
const wptDir = option('--wpt') || process.env.WPT_DIR;
const fluxBin = resolve(option('--flux') || process.env.FLUX_BIN || join(repo, 'target', 'debug', 'flux'));
const showDiff = args.includes('--diff');
const only = option('--only');
const jsonOut = option('--json');
const verbose = args.includes('--verbose');
const TIMEOUT_MS = 5000;

if (!wptDir || !existsSync(wptDir)) {
  console.error('usage: node scripts/wpt/run.mjs --wpt DIR [--flux BIN] [--diff] [--verbose] [--only SUBSTRING] [--json FILE]');
  console.error('DIR (or $WPT_DIR) is a WPT checkout: git clone --depth 1 https://github.com/web-platform-tests/wpt');
  process.exit(2);
}
if (!existsSync(fluxBin)) {
  console.error(`no flux binary at ${fluxBin}: run \`cargo build\` or pass --flux BIN`);
  process.exit(2);
}

const harness = readFileSync(join(here, 'harness.js'), 'utf8');

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'resources' || name === 'support' ? [] : walk(path);
    return [path];
  });
}

function testFiles() {
  const files = [];
  const skipped = [];
  for (const scope of SCOPE) {
    for (const path of walk(join(wptDir, scope)).sort()) {
      const rel = relative(wptDir, path).split('\\').join('/');
      if (!/\.any\.js$|\.window\.js$/.test(rel)) continue;
      if (only && !rel.includes(only)) continue;
      const reason = EXCLUDED.find(([pattern]) => pattern.test(rel))?.[1] || excludedByContent(readFileSync(path, 'utf8'));
      if (reason) skipped.push([rel, reason]);
      else files.push(rel);
    }
  }
  return { files, skipped };
}

// The test's code: the harness, its META scripts in order, the test, as one function body.
function build(rel) {
  const source = readFileSync(join(wptDir, rel), 'utf8');
  const scripts = [...source.matchAll(/^\/\/ META: script=(.+)$/gm)].map((m) => m[1].trim());
  const dir = posix.dirname(rel);
  const resolvePath = (path) => (path.startsWith('/') ? path.slice(1) : posix.normalize(posix.join(dir, path)));
  const parts = [];
  for (const script of scripts) {
    const path = resolvePath(script.split('?')[0]);
    if (/testharness|testharnessreport/.test(path)) continue;
    parts.push(`// ${path}\n${readFileSync(join(wptDir, path), 'utf8')}`);
  }
  parts.push(`// ${rel}\n${source}`);
  const code = parts.join('\n;\n');
  // JSON files the code names are served to its `fetch` (the runner has no WPT server).
  const resources = {};
  for (const [, path] of code.matchAll(/["'`]([^"'`\s]+\.json)["'`]/g)) {
    const file = join(wptDir, resolvePath(path));
    if (!existsSync(file)) continue;
    // Sent as text and parsed by the harness, in flux and in Node alike (see harness.js).
    const text = readFileSync(file, 'utf8');
    JSON.parse(text);
    resources[path] = text;
  }
  const body = `${harness}\ntry {\n${code}\n} catch (e) {\n  __wptError = 'the file threw: ' + String(e) + '\\n' + (e && e.stack);\n}\nreturn __wptFinish(timeoutMs);\n`;
  // Tests without a name take the file's title, as in testharness.js.
  const title = /^\/\/ META: title=(.+)$/m.exec(source)?.[1].trim() || posix.basename(rel);
  return { body, resources, title };
}

// Node: the same body in this process (each file's harness state lives in its own call).
let nodeUncaught = null;
process.on('uncaughtException', (e) => { nodeUncaught = e; });
process.on('unhandledRejection', () => {});

async function runInNode(body, resources, title) {
  nodeUncaught = null;
  try {
    const run = new Function('resources', 'timeoutMs', '__wptTitle', body);
    const result = await run(resources, TIMEOUT_MS, title);
    if (nodeUncaught && !result.error) result.error = `uncaught: ${nodeUncaught.message}`;
    return result;
  } catch (e) {
    return { tests: [], error: `could not run: ${e.message}` };
  }
}

// flux: one project whose one function evaluates the posted body and answers its results.
const FUNCTION = `export default async function handler(req) {
  const { body, resources, timeoutMs, title } = req.body
  try {
    const run = new Function('resources', 'timeoutMs', '__wptTitle', body)
    return await run(resources, timeoutMs, title)
  } catch (e) {
    return { tests: [], error: 'could not run: ' + (e && e.message) }
  }
}
`;
const CONFIG = `export default { http: { timeoutSeconds: 600, maxBodySize: '256mb' } }\n`;

async function startFlux() {
  const dir = mkdtempSync(join(tmpdir(), 'flux-wpt-'));
  mkdirSync(join(dir, 'functions'));
  writeFileSync(join(dir, 'functions', 'wpt.ts'), FUNCTION);
  writeFileSync(join(dir, 'flux.config.ts'), CONFIG);
  const child = spawn(fluxBin, ['dev', dir, '--port', '0', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const serverFile = join(dir, '.flux', 'server.json');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`flux dev exited: ${stderr}`);
    if (existsSync(serverFile)) {
      try {
        const { url } = JSON.parse(readFileSync(serverFile, 'utf8'));
        // SIGKILL: a graceful stop would wait for a request still under way (up to its timeout).
        if (url) return { url, stop: () => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); } };
      } catch {
        // Half-written: read it again on the next turn.
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`flux dev did not start: ${stderr}`);
}

// node:http, not fetch: fetch gives up on an answer that takes more than 300 s (undici's
// headersTimeout), and a file of thousands of PBKDF2 derivations can take longer.
function post(url, payload) {
  return new Promise((resolvePost, rejectPost) => {
    const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolvePost({ status: response.statusCode, text }));
      response.on('error', rejectPost);
    });
    request.on('error', rejectPost);
    request.end(payload);
  });
}

async function runInFlux(flux, body, resources, title) {
  try {
    const { status, text } = await post(`${flux.url}/wpt`, JSON.stringify({ body, resources, timeoutMs: TIMEOUT_MS, title }));
    if (status !== 200) return { tests: [], error: `HTTP ${status}: ${text.slice(0, 300)}` };
    return JSON.parse(text);
  } catch (e) {
    return { tests: [], error: `request failed: ${e.message}` };
  }
}

const { files, skipped } = testFiles();
const flux = await startFlux();
const rows = new Map();
const diffs = [];
const errors = [];
const perFile = [];
try {
  for (const rel of files) {
    if (verbose) process.stderr.write(`${rel}\n`);
    const { body, resources, title } = build(rel);
    const [inFlux, inNode] = [await runInFlux(flux, body, resources, title), await runInNode(body, resources, title)];
    const fluxPass = new Map(inFlux.tests.map((t) => [t.name, t]));
    const nodePass = new Map(inNode.tests.map((t) => [t.name, t]));
    const names = new Set([...fluxPass.keys(), ...nodePass.keys()]);
    const passed = (map, name) => map.get(name)?.status === 'PASS';
    const dir = posix.dirname(rel);
    const row = rows.get(dir) || { files: 0, cases: 0, flux: 0, node: 0 };
    row.files += 1;
    row.cases += names.size;
    let f = 0;
    let n = 0;
    for (const name of names) {
      if (passed(fluxPass, name)) f += 1;
      if (passed(nodePass, name)) n += 1;
      if (!passed(fluxPass, name) && passed(nodePass, name)) {
        const t = fluxPass.get(name);
        diffs.push(`${rel}: ${name}\n    flux: ${t ? `${t.status} ${t.message}` : 'not run'}`.replace(/\s+$/, ''));
      }
    }
    row.flux += f;
    row.node += n;
    rows.set(dir, row);
    const failures = (map) => [...names].filter((name) => !passed(map, name))
      .map((name) => ({ name, status: map.get(name)?.status || 'NOTRUN', message: map.get(name)?.message || '' }));
    perFile.push({
      file: rel, cases: names.size, flux: f, node: n, fluxError: inFlux.error, nodeError: inNode.error,
      fluxFailures: failures(fluxPass), nodeFailures: failures(nodePass),
    });
    if (inFlux.error) errors.push(`flux ${rel}: ${inFlux.error.split('\n')[0]}`);
    if (inNode.error) errors.push(`node ${rel}: ${inNode.error.split('\n')[0]}`);
  }
} finally {
  flux.stop();
}

const pad = (text, width) => String(text).padEnd(width);
const padStart = (text, width) => String(text).padStart(width);
const width = Math.max(9, ...[...rows.keys()].map((d) => d.length)) + 2;
console.log(`${pad('directory', width)}${padStart('files', 6)}${padStart('cases', 8)}${padStart('flux', 8)}${padStart('node', 8)}`);
const total = { files: 0, cases: 0, flux: 0, node: 0 };
for (const [dir, row] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(`${pad(dir, width)}${padStart(row.files, 6)}${padStart(row.cases, 8)}${padStart(row.flux, 8)}${padStart(row.node, 8)}`);
  for (const key of Object.keys(total)) total[key] += row[key];
}
console.log(`${pad('total', width)}${padStart(total.files, 6)}${padStart(total.cases, 8)}${padStart(total.flux, 8)}${padStart(total.node, 8)}`);
if (skipped.length) {
  const list = verbose || showDiff ? `:\n  ${skipped.map(([rel, reason]) => `${rel}: ${reason}`).join('\n  ')}` : ' (--verbose lists them)';
  console.log(`\n${skipped.length} files out of scope${list}`);
}
if (errors.length) console.log(`\nfile-level errors:\n  ${errors.join('\n  ')}`);
if (showDiff) console.log(`\nflux fails, node passes (${diffs.length})${diffs.length ? `:\n  ${diffs.join('\n  ')}` : ''}`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ directories: Object.fromEntries(rows), total, files: perFile, skipped }, null, 2));
// Timers a test left behind must not keep the runner alive.
process.exit(0);
