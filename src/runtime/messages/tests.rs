use serde_json::{json, Value};

use super::*;

/// Completes `message` for the code in `source`, whose failing line is the one marked `// <-`
/// and column the 1-based byte column of `at` in it (the first occurrence).
fn run(source: &str, at: &str, name: &str, message: &str, input: Option<&Value>) -> Option<String> {
    let (index, text) = source
        .lines()
        .enumerate()
        .find(|(_, line)| line.contains("// <-"))
        .expect("a marked line");
    let column = text.find(at).expect("the column's text is on the line") + 1;
    let site = Site {
        source,
        line: u32::try_from(index + 1).expect("small"),
        column: u32::try_from(column).expect("small"),
        input,
        input_name: "job",
    };
    complete(name, message, &site)
}

const WORKER: &str = "export default async function handler(job, ctx) {
  const rows = await ctx.db.qeury('SELECT 1') // <-
}
";

#[test]
fn a_misspelt_ctx_method_is_named_with_the_right_one() {
    assert_eq!(
        run(WORKER, "qeury", "TypeError", "not a function", None).as_deref(),
        Some("ctx.db.qeury is not a function (did you mean query?)")
    );
}

#[test]
fn ctx_is_known_by_whatever_the_handler_calls_it() {
    let source = "export default async (req, context) => {
  await context.queue.enqueu('send', {}) // <-
}
";
    assert_eq!(
        run(source, "enqueu", "TypeError", "not a function", None).as_deref(),
        Some("context.queue.enqueu is not a function (did you mean enqueue?)")
    );
}

#[test]
fn a_transactions_tx_is_known() {
    let source = "export default async (req, ctx) => {
  await ctx.db.transaction(async (tx) => {
    await tx.insrt('users', {}) // <-
  })
}
";
    assert_eq!(
        run(source, "insrt", "TypeError", "not a function", None).as_deref(),
        Some("tx.insrt is not a function (did you mean insert?)")
    );
}

#[test]
fn a_misspelt_global_method_is_named_with_the_right_one() {
    let source = "export default async (req) => {
  return JSON.parze(req.body) // <-
}
";
    assert_eq!(
        run(source, "parze", "TypeError", "not a function", None).as_deref(),
        Some("JSON.parze is not a function (did you mean parse?)")
    );
}

#[test]
fn an_unknown_method_is_named_without_a_guess() {
    let source = "export default async (req) => {
  user.sendMail(req.body) // <-
}
";
    assert_eq!(
        run(source, "sendMail", "TypeError", "not a function", None).as_deref(),
        Some("user.sendMail is not a function")
    );
    // A name far from every member of ctx.db: no guess.
    let source = "export default async (req, ctx) => {
  await ctx.db.remove('users') // <-
}
";
    assert_eq!(
        run(source, "remove", "TypeError", "not a function", None).as_deref(),
        Some("ctx.db.remove is not a function")
    );
}

#[test]
fn reading_a_property_of_undefined_names_the_undefined_value() {
    let source = "export default async (job) => {
  const id = job.data.userId.toUpperCase() // <-
}
";
    let input = json!({ "id": "j1", "data": { "user_id": "u1", "email": "a@b.c" } });
    assert_eq!(
        run(source, "job.data", "TypeError", "cannot read property 'toUpperCase' of undefined", Some(&input)).as_deref(),
        Some("cannot read properties of undefined (reading 'toUpperCase'): job.data.userId is undefined; job.data has user_id, not userId")
    );
    // Without the input (a helper module): the value is named, nothing said of the input.
    assert_eq!(
        run(source, "job.data", "TypeError", "cannot read property 'toUpperCase' of undefined", None).as_deref(),
        Some("cannot read properties of undefined (reading 'toUpperCase'): job.data.userId is undefined")
    );
}

#[test]
fn a_value_destructured_from_the_input_is_traced_back_to_it() {
    let source = "export default async function handler(job, ctx) {
  const { userId, email } = job.data
  const name = userId.trim() // <-
}
";
    let input = json!({ "data": { "customer": "u1", "email": "a@b.c" } });
    assert_eq!(
        run(source, "userId", "TypeError", "cannot read property 'trim' of undefined", Some(&input)).as_deref(),
        Some("cannot read properties of undefined (reading 'trim'): userId is undefined; job.data has no userId (its keys: customer, email)")
    );
}

#[test]
fn a_destructured_parameter_is_named_from_the_input() {
    let source = "export default async ({ data, attempt }) => {
  return data.items.map((x) => x) // <-
}
";
    let input = json!({ "attempt": 1, "data": {} });
    assert_eq!(
        run(source, "data", "TypeError", "cannot read property 'map' of undefined", Some(&input)).as_deref(),
        Some("cannot read properties of undefined (reading 'map'): data.items is undefined; job.data has no keys")
    );
}

#[test]
fn a_null_in_the_input_is_said_to_be_there() {
    let source = "export default async (job) => {
  return job.data.user.name // <-
}
";
    let input = json!({ "data": { "user": null } });
    assert_eq!(
        run(source, "job", "TypeError", "cannot read property 'name' of null", Some(&input)).as_deref(),
        Some("cannot read properties of null (reading 'name'): job.data.user is null; job.data.user is null in the input")
    );
}

#[test]
fn the_innermost_access_of_the_property_is_the_one_that_failed() {
    let source = "export default async () => {
  const o = {}
  const z = 1 + load().a.b.c // <-
}
";
    assert_eq!(
        run(
            source,
            "load",
            "TypeError",
            "cannot read property 'b' of undefined",
            None
        )
        .as_deref(),
        Some("cannot read properties of undefined (reading 'b'): load(…).a is undefined")
    );
    assert_eq!(
        run(
            source,
            "load",
            "TypeError",
            "cannot read property 'c' of undefined",
            None
        )
        .as_deref(),
        Some("cannot read properties of undefined (reading 'c'): load(…).a.b is undefined")
    );
}

#[test]
fn setting_a_property_of_undefined_names_the_value() {
    let source = "export default async (job) => {
  job.data.meta.seen = true // <-
}
";
    let input = json!({ "data": { "metadata": {} } });
    assert_eq!(
        run(source, "job", "TypeError", "cannot set property 'seen' of undefined", Some(&input)).as_deref(),
        Some("cannot set properties of undefined (setting 'seen'): job.data.meta is undefined; job.data has no meta (its keys: metadata)")
    );
}

#[test]
fn iterating_undefined_or_a_plain_object_names_it() {
    let source = "export default async (job) => {
  for (const item of job.data.items) {} // <-
}
";
    let input = json!({ "data": { "item": [1] } });
    assert_eq!(
        run(
            source,
            "job.data",
            "TypeError",
            "cannot read property 'Symbol.iterator' of undefined",
            Some(&input)
        )
        .as_deref(),
        Some("job.data.items is not iterable (it is undefined); job.data has item, not items")
    );
    let source = "export default async (job) => {
  return [...job.data] // <-
}
";
    assert_eq!(
        run(
            source,
            "job.data",
            "TypeError",
            "value is not iterable",
            None
        )
        .as_deref(),
        Some("job.data is not iterable")
    );
}

#[test]
fn new_on_what_is_not_a_class_names_it() {
    let source = "import * as lib from './lib.ts'
export default async () => {
  return new lib.Client() // <-
}
";
    assert_eq!(
        run(source, "lib.Client", "TypeError", "not a constructor", None).as_deref(),
        Some("lib.Client is not a constructor")
    );
    // QuickJS says "not a function" for `new` on undefined.
    assert_eq!(
        run(source, "lib.Client", "TypeError", "not a function", None).as_deref(),
        Some("lib.Client is not a constructor")
    );
}

#[test]
fn a_misspelt_global_is_named_with_the_right_one() {
    let source = "export default async () => {
  return fecth('https://example.com') // <-
}
";
    assert_eq!(
        run(
            source,
            "fecth",
            "ReferenceError",
            "fecth is not defined",
            None
        )
        .as_deref(),
        Some("fecth is not defined (did you mean fetch?)")
    );
}

#[test]
fn a_node_global_says_what_to_use_in_flux() {
    let source = "export default async () => {
  const key = process.env.API_KEY // <-
  return key
}
";
    assert_eq!(
        run(
            source,
            "process",
            "ReferenceError",
            "process is not defined",
            None
        )
        .as_deref(),
        Some("process is not defined: flux has no process global; read the variables the config's `env` names from ctx.env (ctx.env.API_KEY), or import process from 'node:process', whose env holds the same")
    );
    let source = "export default async () => Buffer.from('hi').toString('base64') // <-
";
    let completed = run(
        source,
        "Buffer",
        "ReferenceError",
        "Buffer is not defined",
        None,
    );
    assert!(
        completed
            .as_deref()
            .is_some_and(|m| m.starts_with("Buffer is not defined: flux has no Buffer")),
        "{completed:?}"
    );
}

#[test]
fn many_keys_are_cut_after_eight() {
    let source = "export default async (job) => job.data.zzz.length // <-
";
    let data: serde_json::Map<String, Value> =
        (1..=10).map(|i| (format!("k{i}"), json!(i))).collect();
    let input = json!({ "data": data });
    assert_eq!(
        run(source, "job.data", "TypeError", "cannot read property 'length' of undefined", Some(&input)).as_deref(),
        Some("cannot read properties of undefined (reading 'length'): job.data.zzz is undefined; job.data has no zzz (its keys: k1, k2, k3, k4, k5, k6, k7, k8, …)")
    );
}

#[test]
fn nothing_to_add_leaves_the_message_alone() {
    // Other errors, and messages that already say it all.
    assert_eq!(run(WORKER, "qeury", "Error", "user not found", None), None);
    assert_eq!(
        run(
            WORKER,
            "qeury",
            "TypeError",
            "Cannot convert undefined or null to object",
            None
        ),
        None
    );
    assert_eq!(
        run(
            WORKER,
            "qeury",
            "ReferenceError",
            "nosuch is not defined",
            None
        ),
        None
    );
    // A name far from every global: nothing to suggest.
    let source = "export default async () => {
  return computeTotals() // <-
}
";
    assert_eq!(
        run(
            source,
            "computeTotals",
            "ReferenceError",
            "computeTotals is not defined",
            None
        ),
        None
    );
    // The property is in the input: the code changed it, the input is not to blame.
    let source = "export default async (job) => {
  return job.data.user.name // <-
}
";
    let input = json!({ "data": { "user": { "name": "x" } } });
    assert_eq!(
        run(
            source,
            "job",
            "TypeError",
            "cannot read property 'name' of undefined",
            Some(&input)
        )
        .as_deref(),
        Some("cannot read properties of undefined (reading 'name'): job.data.user is undefined")
    );
}

#[test]
fn source_that_does_not_fit_the_message_leaves_it_alone() {
    // The file changed since: the line at the location reads another property.
    assert_eq!(
        run(
            WORKER,
            "qeury",
            "TypeError",
            "cannot read property 'toUpperCase' of undefined",
            None
        ),
        None
    );
    // The column points at no call.
    assert_eq!(
        run(WORKER, "const", "TypeError", "not a function", None),
        None
    );
    // A line past the end, a column past the line.
    let site = Site {
        source: WORKER,
        line: 40,
        column: 3,
        input: None,
        input_name: "job",
    };
    assert_eq!(complete("TypeError", "not a function", &site), None);
    let site = Site {
        line: 2,
        column: 400,
        ..site
    };
    assert_eq!(complete("TypeError", "not a function", &site), None);
    // Source that does not parse.
    let site = Site {
        source: "export default (job => {\n  job.x() // <-\n",
        line: 2,
        column: 7,
        ..site
    };
    assert_eq!(complete("TypeError", "not a function", &site), None);
}

#[test]
fn a_handler_exported_by_name_gets_the_input() {
    let source = "async function handler(job, ctx) {
  return job.data.userId.trim() // <-
}
export default handler
";
    let input = json!({ "data": { "user_id": "u1" } });
    assert_eq!(
        run(source, "job", "TypeError", "cannot read property 'trim' of undefined", Some(&input)).as_deref(),
        Some("cannot read properties of undefined (reading 'trim'): job.data.userId is undefined; job.data has user_id, not userId")
    );
    // Another function of the module with a parameter of the same name is not the handler.
    let source = "function format(job) {
  return job.data.userId.trim() // <-
}
export default async (job, ctx) => format(job.data)
";
    assert_eq!(
        run(
            source,
            "job",
            "TypeError",
            "cannot read property 'trim' of undefined",
            Some(&input)
        )
        .as_deref(),
        Some("cannot read properties of undefined (reading 'trim'): job.data.userId is undefined")
    );
}

#[test]
fn a_misspelt_local_name_is_named_with_the_right_one() {
    let source = "import { sendWelcome } from './mail.ts'
export default async (job) => {
  const user = job.data
  await sendWelcom(usr) // <-
}
";
    assert_eq!(
        run(source, "usr", "ReferenceError", "usr is not defined", None).as_deref(),
        Some("usr is not defined (did you mean user?)")
    );
    assert_eq!(
        run(
            source,
            "sendWelcom",
            "ReferenceError",
            "sendWelcom is not defined",
            None
        )
        .as_deref(),
        Some("sendWelcom is not defined (did you mean sendWelcome?)")
    );
}

#[test]
fn a_helpers_ctx_parameter_is_flux_ctx() {
    let source = "export async function save(ctx, row) {
  await ctx.db.inset('orders', row) // <-
}
";
    assert_eq!(
        run(source, "inset", "TypeError", "not a function", None).as_deref(),
        Some("ctx.db.inset is not a function (did you mean insert?)")
    );
}

#[test]
fn an_error_raised_inside_a_package_or_built_in_is_not_completed_at_the_callers_line() {
    // The caller's `decoder.write(bytes)` did not fail: code inside the built-in did.
    let built_in = "    at utf8FillLast (flux:node/vendor/string_decoder.js:12:5)\n    at default (decode.ts:6:20)\n";
    assert_eq!(first_project_frame(built_in), None);
    let package =
        "    at parse (../node_modules/zod/lib/index.js:12:5)\n    at default (f.ts:2:3)\n";
    assert_eq!(first_project_frame(package), None);
    // A native frame on top (a callback that is not a function) still points at the caller.
    let native = "    at forEach (native)\n    at default (f.ts:2:3)\n";
    assert_eq!(first_project_frame(native), Some(("f.ts", 2, 3)));
    let host = "    at default (f.ts:2:3)\n    at <anonymous> (flux:host.js:395:18)\n";
    assert_eq!(first_project_frame(host), Some(("f.ts", 2, 3)));
}
