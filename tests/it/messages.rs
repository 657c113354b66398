//! QuickJS's terse TypeErrors completed from the code that failed: what `flux why`, `flux tail`
//! and the failed response say name the value, and what the input had instead.

use crate::support::{wait_for, Project, DEADLINE, SNAPSHOT_FILTERS};

/// `insta::assert_snapshot!` (inline) with the shared filters for ids, times and durations.
macro_rules! assert_filtered {
    ($text:expr, @$snapshot:literal) => {
        insta::with_settings!({ filters => SNAPSHOT_FILTERS.to_vec() }, {
            insta::assert_snapshot!($text, @$snapshot);
        })
    };
}

#[test]
fn a_request_names_the_undefined_value_and_the_keys_the_body_had() {
    let project = Project::with_files(&[
        (
            "functions/signup.ts",
            "export default async function handler(req: FluxRequest, ctx: FluxContext) {\n  const name = req.body.userName.trim()\n  return { name }\n}\n",
        ),
        (
            "functions/notify.ts",
            "import { notify } from './lib/mail.ts'\nexport default async (req: FluxRequest) => notify(req.body)\n",
        ),
        (
            "functions/lib/mail.ts",
            "export function notify(user: any) {\n  return user.sendMail('welcome')\n}\n",
        ),
    ]);
    let server = project.start();

    let reply = server.post_json("/signup", r#"{"user_name":"Ada","email":"a@b.c"}"#);
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.json()["error"],
        "TypeError: cannot read properties of undefined (reading 'trim'): req.body.userName is undefined; req.body has user_name, not userName"
    );
    let id = reply.request_id();
    server.record(&id);
    let (code, why, stderr) = project.run(&["why", &id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert_filtered!(why, @r"
    ROOT CAUSE TypeError: cannot read properties of undefined (reading 'trim'): req.body.userName is undefined; req.body has user_name, not userName
    LOCATION signup.ts:2
    REQUEST POST /signup { user_name: 'Ada', email: 'a@b.c' }
    ");

    // In a helper module the value is named; the input is the function's, not the helper's.
    let reply = server.post_json("/notify", r#"{"id":"u_1"}"#);
    assert_eq!(reply.status, 500);
    let id = reply.request_id();
    server.record(&id);
    let (code, why, stderr) = project.run(&["why", &id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert_filtered!(why, @r"
    ROOT CAUSE TypeError: user.sendMail is not a function
    LOCATION lib/mail.ts:2
      at lib/mail.ts:2 in notify
      at notify.ts:2 in default
    REQUEST POST /notify { id: 'u_1' }
    ");

    // The original message is kept as the stack's first line, as V8 writes it.
    let (_, trace, _) = project.run(&["trace", &id[..8], "--verbose"]);
    assert!(
        trace.contains("TypeError: user.sendMail is not a function\n  at lib/mail.ts:2 in notify\n  at notify.ts:2 in default\n  TypeError: not a function\n"),
        "{trace}"
    );
}

#[test]
fn a_job_names_the_misspelt_ctx_method_and_the_keys_its_data_had() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { workers: { lookup: { maxAttempts: 1 }, greet: { maxAttempts: 1 } } }",
        ),
        (
            "functions/lookup.ts",
            "export default async function handler(job: FluxJob, ctx: FluxContext) {\n  return await ctx.db.qeury('SELECT 1')\n}\n",
        ),
        (
            "functions/greet.ts",
            "export default async function handler(job: FluxJob<{ userId: string }>, ctx: FluxContext) {\n  const { userId } = job.data\n  return userId.toUpperCase()\n}\n",
        ),
    ]);
    let _server = project.start();
    let attempt = |name: &str, data: &str| {
        let (code, stdout, stderr) = project.run(&["queue", "enqueue", name, "--data", data]);
        assert_eq!(code, 0, "{stderr}");
        let id = stdout
            .trim()
            .rsplit_once("(first attempt: req:")
            .and_then(|(_, id)| id.strip_suffix(')'))
            .expect(&stdout)
            .to_string();
        // Recorded once `why` finds it.
        wait_for(&format!("the record of {id}"), DEADLINE, || {
            let (code, why, _) = project.run(&["why", &id]);
            (code == 0).then_some(why)
        })
    };

    assert_filtered!(attempt("lookup", r#"{"userId":"u_1"}"#), @r"
    ROOT CAUSE TypeError: ctx.db.qeury is not a function (did you mean query?)
    LOCATION lookup.ts:2
    JOB INPUT { userId: 'u_1' }
    ");
    assert_filtered!(attempt("greet", r#"{"user_id":"u_1"}"#), @r"
    ROOT CAUSE TypeError: cannot read properties of undefined (reading 'toUpperCase'): userId is undefined; job.data has user_id, not userId
    LOCATION greet.ts:3
    JOB INPUT { user_id: 'u_1' }
    ");

    let (code, tail, stderr) = project.run(&["tail", "--last", "1h", "--no-follow"]);
    assert_eq!(code, 0, "{stderr}");
    assert_filtered!(tail, @r"
    JOB lookup error [DUR] req:[ID]
    └─ TypeError: ctx.db.qeury is not a function (did you mean query?)
    JOB greet error [DUR] req:[ID]
    └─ TypeError: cannot read properties of undefined (reading 'toUpperCase'): userId is undefined; job.data has user_id, not userId
    ");
}

#[test]
fn a_node_global_fails_at_the_users_line_saying_what_to_use_instead() {
    let project = Project::with_files(&[(
        "functions/config.ts",
        "export default async () => {\n  return { key: process.env.API_KEY }\n}\n",
    )]);
    let server = project.start();
    let reply = server.get("/config");
    assert_eq!(reply.status, 500);
    let record = server.record(&reply.request_id());
    assert_eq!(
        record["error"]["message"],
        "process is not defined: flux has no process global; read the variables the config's `env` names from ctx.env (ctx.env.API_KEY), or import process from 'node:process', whose env holds the same"
    );
    assert_eq!(record["error"]["location"], "config.ts:2");
}
