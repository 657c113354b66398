//! npm packages inside `flux dev`: the acceptance set's real code (installed by tests/it/npm.rs),
//! hand-written packages for CommonJS and Node's resolution rules, confinement, and reload.

use serde_json::{json, Value};

use crate::support::{Project, Server};

/// The JSON `functions/t.ts` (`code`) answers with in a project holding the npm fixture.
fn run(code: &str) -> Value {
    let project = Project::with_npm(&[("functions/t.ts", code)]);
    let server = project.start();
    let reply = server.get("/t");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// The error message of the execution a request to `path` failed with.
fn error_of(server: &Server, path: &str) -> String {
    let reply = server.get(path);
    assert_eq!(reply.status, 500, "{}", reply.body);
    let record = server.record(&reply.request_id());
    record["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn zod_parses_and_reports_issues() {
    let result = run("import { z } from 'zod'\n\
         const User = z.object({ name: z.string().min(2), age: z.number().int().positive() })\n\
         export default () => {\n\
           const ok = User.parse({ name: 'Ada', age: 36 })\n\
           const bad = User.safeParse({ name: 'A', age: -1 })\n\
           return { ok, success: bad.success,\n\
             issues: bad.success ? [] : bad.error.issues.map((i) => ({ path: i.path.join('.'), code: i.code })) }\n\
         }");
    assert_eq!(
        result,
        json!({
            "ok": {"name": "Ada", "age": 36},
            "success": false,
            "issues": [{"path": "name", "code": "too_small"}, {"path": "age", "code": "too_small"}]
        })
    );
}

#[test]
fn date_fns_formats_and_adds_days() {
    let result = run("import { format, addDays } from 'date-fns'\n\
         export default () => ({ day: format(addDays(new Date(2024, 0, 30), 3), 'yyyy-MM-dd EEEE') })");
    assert_eq!(result, json!({"day": "2024-02-02 Friday"}));
}

#[test]
fn dayjs_a_commonjs_package_adds_a_month() {
    let result = run("import dayjs from 'dayjs'\n\
         export default () => ({ day: dayjs('2024-01-31').add(1, 'month').format('YYYY-MM-DD') })");
    assert_eq!(result, json!({"day": "2024-02-29"}));
}

#[test]
fn lodash_a_commonjs_package_has_a_default_and_named_exports() {
    let result = run("import _ from 'lodash'\n\
         import { chunk, debounce } from 'lodash'\n\
         export default () => ({\n\
           chunks: chunk([1, 2, 3, 4, 5], 2),\n\
           groups: _.groupBy(['one', 'two', 'three'], 'length'),\n\
           debounce: typeof debounce,\n\
           same: _.chunk === chunk,\n\
         })");
    assert_eq!(
        result,
        json!({
            "chunks": [[1, 2], [3, 4], [5]],
            "groups": {"3": ["one", "two"], "5": ["three"]},
            "debounce": "function",
            "same": true
        })
    );
}

#[test]
fn lodash_es_an_es_module_graph() {
    let result = run("import { chunk, sortBy } from 'lodash-es'\n\
         export default () => ({ chunks: chunk(['a', 'b', 'c'], 2),\n\
           sorted: sortBy([{ n: 3 }, { n: 1 }], 'n').map((x) => x.n) })");
    assert_eq!(
        result,
        json!({"chunks": [["a", "b"], ["c"]], "sorted": [1, 3]})
    );
}

#[test]
fn nanoid_makes_ids_of_its_alphabet() {
    let result = run("import { nanoid, customAlphabet } from 'nanoid'\n\
         export default () => {\n\
           const id = nanoid()\n\
           const digits = customAlphabet('0123456789', 8)()\n\
           return { id: /^[A-Za-z0-9_-]{21}$/.test(id), digits: /^[0-9]{8}$/.test(digits), differ: nanoid() !== id }\n\
         }");
    assert_eq!(result, json!({"id": true, "digits": true, "differ": true}));
}

#[test]
fn uuid_v4_has_its_shape_and_v5_is_deterministic() {
    let result = run("import { v4, v5, validate, version } from 'uuid'\n\
         export default () => {\n\
           const id = v4()\n\
           return { v4: validate(id) && version(id) === 4, v5: v5('flux.dev', v5.DNS) }\n\
         }");
    assert_eq!(
        result,
        json!({"v4": true, "v5": "31904ea5-585b-556f-8e05-1dd1f877eaa7"})
    );
}

#[test]
fn superjson_round_trips_a_date_and_a_map() {
    let result = run("import superjson from 'superjson'\n\
         export default () => {\n\
           const text = superjson.stringify({ at: new Date(0), seen: new Map([['a', 1]]) })\n\
           const back = superjson.parse(text)\n\
           return { date: back.at instanceof Date && back.at.getTime() === 0,\n\
             map: back.seen instanceof Map && back.seen.get('a') === 1 }\n\
         }");
    assert_eq!(result, json!({"date": true, "map": true}));
}

#[test]
fn hono_routes_a_request_inside_a_function() {
    let result = run("import { Hono } from 'hono'\n\
         const app = new Hono()\n\
         app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), q: c.req.query('q') }))\n\
         app.post('/echo', async (c) => c.text(`got ${await c.req.text()}`, 201))\n\
         export default async () => {\n\
           const user = await app.fetch(new Request('http://local/users/42?q=x'))\n\
           const echo = await app.fetch(new Request('http://local/echo', { method: 'POST', body: 'hi' }))\n\
           const missing = await app.fetch(new Request('http://local/nope'))\n\
           return { user: await user.json(), echo: [echo.status, await echo.text()], missing: missing.status }\n\
         }");
    assert_eq!(
        result,
        json!({"user": {"id": "42", "q": "x"}, "echo": [201, "got hi"], "missing": 404})
    );
}

#[test]
fn jose_signs_and_verifies_hs256_and_es256_jwts_as_node_does() {
    // The tokens below were made by jose under Node 20 with the same keys and claims.
    let result = run(
        r#"import { SignJWT, jwtVerify, importJWK, generateKeyPair } from 'jose'
         const secret = new TextEncoder().encode('a-string-secret-at-least-256-bits-long')
         const nodeEs256 = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1XzciLCJpYXQiOjE3NjcyMjU2MDB9.e8yd2xtn382IEfpwZ37-_IbQlccPr4P3Sszf8U8UGWlwXXEfiEWZJc1Du-3nVifMx-_9BmPm0wC4PMvvZTAJWA'
         const nodePublic = { kty: 'EC', x: 'H0aOEZ5sTDX43Kz8zGtPz1GFKewEmQ9t8vFD21YsxLA', y: 'ERx608fzvv_QJebp_Z3E6Dclur3_cwXXvmq34v5r5yw', crv: 'P-256' }
         export default async () => {
           const hs = await new SignJWT({ sub: 'u_42', role: 'admin' })
             .setProtectedHeader({ alg: 'HS256' }).setIssuedAt(1767225600).sign(secret)
           const hsBack = (await jwtVerify(hs, secret)).payload
           const { publicKey, privateKey } = await generateKeyPair('ES256')
           const es = await new SignJWT({ sub: 'u_7' }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey)
           const esBack = (await jwtVerify(es, publicKey)).payload.sub
           const fromNode = (await jwtVerify(nodeEs256, await importJWK(nodePublic, 'ES256'))).payload
           const [h, p, sig] = hs.split('.')
           const forged = `${h}.${btoa(JSON.stringify({ sub: 'u_42', role: 'root', iat: 1767225600 })).replace(/=+$/, '')}.${sig}`
           const tampered = await jwtVerify(forged, secret).then(() => 'accepted', (e) => e.code)
           const wrongKey = await jwtVerify(es, (await generateKeyPair('ES256')).publicKey).then(() => 'accepted', (e) => e.code)
           return { hs, hsBack, esBack, fromNode, tampered, wrongKey }
         }"#,
    );
    assert_eq!(
        result,
        json!({
            "hs": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1XzQyIiwicm9sZSI6ImFkbWluIiwiaWF0IjoxNzY3MjI1NjAwfQ.wuO64O0lkuh2IvUYs5OqbVD8T_er2s5N_u81oej835Y",
            "hsBack": {"sub": "u_42", "role": "admin", "iat": 1767225600},
            "esBack": "u_7",
            "fromNode": {"sub": "u_7", "iat": 1767225600},
            "tampered": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
            "wrongKey": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        })
    );
}

#[test]
fn faker_seeded_output_is_stable_and_its_compiled_modules_are_reused() {
    let project = Project::with_npm(&[(
        "functions/t.ts",
        "import { faker } from '@faker-js/faker'\n\
         export default () => {\n\
           faker.seed(42)\n\
           return { name: faker.person.fullName(), n: faker.number.int({ min: 1, max: 1000 }) }\n\
         }",
    )]);
    let expected = json!({"name": "Tracy Miller", "n": 156});
    let server = project.start();
    assert_eq!(server.get("/t").json(), expected);
    server.stop();
    // The compiled modules were kept for the next start, under this build's name.
    let cache = project.path().join(".flux/cache/modules");
    let builds: Vec<_> = std::fs::read_dir(&cache)
        .expect("the cache")
        .flatten()
        .collect();
    assert_eq!(builds.len(), 1);
    let files: Vec<_> = std::fs::read_dir(builds[0].path())
        .expect("a build")
        .flatten()
        .collect();
    assert!(files.len() > 50, "{} files", files.len());
    // A restart reads them; one that was damaged is compiled again, not loaded.
    std::fs::write(files[0].path(), b"not bytecode").expect("damage a file");
    let server = project.start();
    assert_eq!(server.get("/t").json(), expected);
}

/// Hand-written packages: CommonJS with a require cycle, JSON and `__esModule`; Node's
/// resolution rules (conditions, nested, wildcard subpaths, `imports`, scoped packages, a
/// workspace symlinked inside the project).
const FIXTURES: &[(&str, &str)] = &[
    (
        "node_modules/cjs-demo/package.json",
        r#"{ "name": "cjs-demo", "main": "index.js" }"#,
    ),
    (
        "node_modules/cjs-demo/index.js",
        "const a = require('./a')\n\
         exports.fromA = a.name\n\
         exports.partialBSaw = a.bSaw\n\
         exports.data = require('./data.json').value\n\
         exports.filename = __filename\n\
         exports.dirname = __dirname\n\
         exports.resolved = require.resolve('./a')\n\
         exports.same = module.exports === exports && this === exports\n\
         exports.delete = 'a reserved word'\n",
    ),
    (
        "node_modules/cjs-demo/a.js",
        "exports.name = 'a'\nexports.bSaw = require('./b.js').sawOfA\n",
    ),
    // A cycle: b requires a while a is still loading and sees what a exported so far.
    (
        "node_modules/cjs-demo/b.js",
        "exports.sawOfA = Object.keys(require('./a'))\n",
    ),
    ("node_modules/cjs-demo/data.json", r#"{ "value": 7 }"#),
    (
        "node_modules/es-interop/package.json",
        r#"{ "name": "es-interop", "main": "lib/index.cjs", "type": "module" }"#,
    ),
    (
        "node_modules/es-interop/lib/index.cjs",
        "Object.defineProperty(exports, '__esModule', { value: true })\n\
         exports.default = (n) => `hi ${n}`\n\
         exports.helper = 2\n",
    ),
    (
        "node_modules/cond/package.json",
        r##"{ "name": "cond", "type": "module",
             "exports": {
               ".": { "node": "./node.js", "flux": { "import": "./flux.js", "default": "./nope.js" }, "default": "./default.js" },
               "./feature/*": { "import": "./features/*.js" },
               "./package.json": "./package.json"
             },
             "imports": { "#internal": "./internal.js" } }"##,
    ),
    ("node_modules/cond/node.js", "export default 'node build'"),
    (
        "node_modules/cond/default.js",
        "export default 'default build'",
    ),
    (
        "node_modules/cond/flux.js",
        "import internal from '#internal'\nexport default `flux build, ${internal}`",
    ),
    ("node_modules/cond/internal.js", "export default 'internal'"),
    (
        "node_modules/cond/features/x.js",
        "export const feature = 'x'",
    ),
    (
        "node_modules/@acme/tool/package.json",
        r#"{ "name": "@acme/tool", "module": "esm/index.js", "main": "cjs/index.js" }"#,
    ),
    // A `module` build without `"type"`: an ES module by its syntax, its imports too.
    (
        "node_modules/@acme/tool/esm/index.js",
        "import { part } from './part'\nexport const tool = `esm ${part}`",
    ),
    (
        "node_modules/@acme/tool/esm/part.js",
        "export const part = 'part'",
    ),
    (
        "node_modules/@acme/tool/cjs/index.js",
        "exports.tool = 'cjs'",
    ),
    (
        "packages/ws-lib/package.json",
        r#"{ "name": "ws-lib", "exports": "./main.mjs" }"#,
    ),
    ("packages/ws-lib/main.mjs", "export const ws = 'workspace'"),
];

fn fixture_project(function: &str) -> Project {
    let mut files = FIXTURES.to_vec();
    files.push(("functions/t.ts", function));
    let project = Project::with_files(&files);
    std::os::unix::fs::symlink(
        "../packages/ws-lib",
        project.path().join("node_modules/ws-lib"),
    )
    .expect("symlink the workspace");
    project
}

#[test]
fn commonjs_modules_require_json_cycles_and_interop() {
    let project = fixture_project(
        "import demo, { fromA, partialBSaw, delete as del } from 'cjs-demo'\n\
         import greet, { helper } from 'es-interop'\n\
         export default () => ({ demo, named: [fromA, partialBSaw, del], greet: greet('Ada'), helper })",
    );
    let server = project.start();
    let reply = server.get("/t");
    assert_eq!(reply.status, 200, "{}", reply.body);
    insta::assert_snapshot!(serde_json::to_string_pretty(&reply.json()).unwrap(), @r#"
    {
      "demo": {
        "fromA": "a",
        "partialBSaw": [
          "name"
        ],
        "data": 7,
        "filename": "node_modules/cjs-demo/index.js",
        "dirname": "node_modules/cjs-demo",
        "resolved": "node_modules/cjs-demo/a.js",
        "same": true,
        "delete": "a reserved word"
      },
      "named": [
        "a",
        [
          "name"
        ],
        "a reserved word"
      ],
      "greet": "hi Ada",
      "helper": 2
    }
    "#);
}

#[test]
fn packages_resolve_by_node_rules() {
    let project = fixture_project(
        "import cond from 'cond'\n\
         import { feature } from 'cond/feature/x'\n\
         import manifest from 'cond/package.json'\n\
         import { tool } from '@acme/tool'\n\
         import { ws } from 'ws-lib'\n\
         import { feature as passed } from './_reexports.ts'\n\
         export default async () => {\n\
           // A dynamic import resolves as a static one does; a CommonJS package's namespace\n\
           // has its facade's names.\n\
           const { fromA } = await import('cjs-demo')\n\
           return { cond, feature, name: manifest.name, tool, ws, passed, fromA }\n\
         }",
    );
    project.write(
        "functions/_reexports.ts",
        "export * from 'cond/feature/x'\n",
    );
    let server = project.start();
    let reply = server.get("/t");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"cond": "flux build, internal", "feature": "x", "name": "cond", "tool": "esm part",
            "ws": "workspace", "passed": "x", "fromA": "a"})
    );
}

#[test]
fn imports_stay_inside_the_project() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("index.js"), "export default 'outside'").expect("write");
    let climb = format!("{}etc/passwd", "../".repeat(40));
    let main = format!(r#"{{ "name": "climbs", "main": "{climb}" }}"#);
    let project = Project::with_files(&[
        ("node_modules/climbs/package.json", &main),
        (
            "node_modules/bad-exports/package.json",
            r#"{ "name": "bad-exports", "exports": { ".": "./../../secret.js" } }"#,
        ),
        ("secret.js", "export default 'secret'"),
        (
            "functions/climbs.ts",
            "import x from 'climbs'\nexport default () => x",
        ),
        (
            "functions/linked.ts",
            "import x from 'linked'\nexport default () => x",
        ),
        (
            "functions/exports.ts",
            "import x from 'bad-exports'\nexport default () => x",
        ),
        (
            "functions/missing.ts",
            "import { z } from 'zood'\nexport default () => z",
        ),
        (
            "functions/absolute.ts",
            "import x from '/etc/passwd'\nexport default () => x",
        ),
    ]);
    std::os::unix::fs::symlink(outside.path(), project.path().join("node_modules/linked"))
        .expect("symlink");
    let server = project.start();
    let messages: Vec<String> = ["/climbs", "/linked", "/exports", "/missing", "/absolute"]
        .iter()
        .map(|path| error_of(&server, path))
        .collect();
    insta::assert_snapshot!(messages.join("\n"), @r#"
    cannot import 'climbs' from climbs.ts: it is outside the project
    cannot import 'linked' from linked.ts: it is outside the project
    cannot import 'bad-exports' from exports.ts: Invalid "exports" target "./../../secret.js" defined for '.' in the package config node_modules/bad-exports/package.json
    cannot import 'zood' from missing.ts: no package 'zood' in node_modules (install it with npm install zood)
    cannot import '/etc/passwd' from absolute.ts: an import names a project file ('./x.ts') or a package ('zod')
    "#);
}

#[test]
fn an_npm_install_while_dev_runs_takes_effect() {
    let project = Project::with_files(&[
        (
            "node_modules/greeting/package.json",
            r#"{ "name": "greeting", "version": "1.0.0", "type": "module", "main": "index.js" }"#,
        ),
        ("node_modules/greeting/index.js", "export default 'hello'"),
        (
            "node_modules/.package-lock.json",
            r#"{ "packages": { "greeting": "1.0.0" } }"#,
        ),
        (
            "functions/t.ts",
            "import greeting from 'greeting'\nexport default () => greeting",
        ),
        (
            "functions/later.ts",
            "import later from 'later'\nexport default () => later",
        ),
    ]);
    let server = project.start();
    assert_eq!(server.get("/t").body, "\"hello\"");
    assert!(error_of(&server, "/later").contains("no package 'later'"));
    // What npm does: the package's files, then its record of the install.
    project.write("node_modules/greeting/index.js", "export default 'bonjour'");
    project.write(
        "node_modules/later/package.json",
        r#"{ "name": "later", "main": "index.js" }"#,
    );
    project.write(
        "node_modules/later/index.js",
        "module.exports = 'installed later'",
    );
    project.write(
        "node_modules/.package-lock.json",
        r#"{ "packages": { "greeting": "2.0.0", "later": "1.0.0" } }"#,
    );
    server.wait_for_output("reloaded");
    // Every engine's context is new: each request sees the install (two engines serve them).
    for _ in 0..4 {
        assert_eq!(server.get("/t").body, "\"bonjour\"");
        assert_eq!(server.get("/later").body, "\"installed later\"");
    }
}

#[test]
fn an_error_inside_a_commonjs_package_is_placed_at_the_callers_line() {
    let project = Project::with_files(&[
        (
            "node_modules/strict-parse/package.json",
            r#"{ "name": "strict-parse", "main": "lib/index.js" }"#,
        ),
        (
            "node_modules/strict-parse/lib/index.js",
            "exports.parse = function parse(value) {\n  if (!value) throw new Error('bad input')\n  return value\n}\n",
        ),
        (
            "functions/t.ts",
            "import { parse } from 'strict-parse'\n\
             export default () => {\n\
               return parse(undefined)\n\
             }",
        ),
    ]);
    let server = project.start();
    let id = server.get("/t").request_id();
    server.record(&id);
    let (code, stdout, stderr) = project.run(&["why", &id]);
    assert_eq!(code, 0, "flux why failed: {stderr}");
    insta::assert_snapshot!(stdout, @r"
    ROOT CAUSE Error: bad input
    LOCATION t.ts:3
      at node_modules/strict-parse/lib/index.js:2 in parse (package)
      at t.ts:3 in default
    REQUEST GET /t
    ");
}

#[test]
fn a_built_in_is_a_separate_branch_for_import_and_require() {
    let project = Project::with_files(&[
        (
            "node_modules/reads-files/package.json",
            r#"{ "name": "reads-files" }"#,
        ),
        (
            "node_modules/reads-files/index.js",
            "exports.read = () => require('node:fs').readFileSync('x')\n\
             exports.where = require.resolve('fs')\n",
        ),
        (
            "functions/esm.ts",
            "import { readFile } from 'node:fs'\nexport default () => readFile",
        ),
        (
            "functions/cjs.ts",
            "import { read, where } from 'reads-files'\nexport default () => read()",
        ),
    ]);
    let server = project.start();
    assert_eq!(
        error_of(&server, "/esm"),
        "cannot import 'node:fs' from esm.ts: flux does not provide node:fs; functions cannot \
         read or write files: keep data in ctx.db, import JSON (import data from './data.json'), \
         or fetch it"
    );
    assert!(
        error_of(&server, "/cjs").contains("node:fs"),
        "a require of a built-in goes to the built-ins"
    );
}

#[test]
fn an_edit_to_a_loaded_package_reloads_it() {
    let project = Project::with_files(&[
        (
            "node_modules/greeting/package.json",
            r#"{ "name": "greeting", "type": "module", "main": "index.js" }"#,
        ),
        ("node_modules/greeting/index.js", "export default 'hello'"),
        (
            "functions/t.ts",
            "import greeting from 'greeting'\nexport default () => greeting",
        ),
    ]);
    let server = project.start();
    assert_eq!(server.get("/t").body, "\"hello\"");
    // A patch, no install: the package was watched when it loaded.
    project.write("node_modules/greeting/index.js", "export default 'patched'");
    server.wait_for_output("reloaded");
    for _ in 0..4 {
        assert_eq!(server.get("/t").body, "\"patched\"");
    }
}
