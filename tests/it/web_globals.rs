//! Web globals (issue 15): TextDecoder on encoding_rs, Blob, File, FormData and form bodies,
//! structuredClone with transfer, queueMicrotask and performance. One module
//! (tests/fixtures/web/globals.mjs) runs as a flux function and under Node 20: the results are
//! the same but where Node departs from the standards, listed here.

use std::process::Command;

use serde_json::{json, Value};

use crate::support::{console_messages, Project};

const GLOBALS: &str = include_str!("../fixtures/web/globals.mjs");

fn node_result(project: &Project) -> Value {
    let module = project.path().join("functions/globals.mjs");
    let output = Command::new("node")
        .arg("-e")
        .arg("import(process.argv[1]).then((m) => m.default()).then((r) => console.log(JSON.stringify(r)))")
        .arg(&module)
        .output()
        .expect("node (20) runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("node printed JSON")
}

#[test]
fn web_globals_answer_as_node_does_where_node_follows_the_standards() {
    let project = Project::with_files(&[("functions/globals.mjs", GLOBALS)]);
    let mut expected = node_result(&project);
    // Where Node 20 departs from the standards, flux follows them:
    // windows-1252 maps 0x80 to €, not U+0080 (Node decodes it as latin1);
    expected["encoding"]["windows1252"] = json!("€Aé");
    // `endings: 'native'` turns a lone CR into LF too;
    expected["blobs"]["endings"] = json!("a\nb\nc");
    // a transfer list entry that is no ArrayBuffer is a DataCloneError (HTML's
    // StructuredSerializeWithTransfer), not a TypeError;
    expected["clones"]["notTransferable"] = json!("DataCloneError");
    // and a File is serializable (Node 20 clones it to a plain object).
    expected["clones"]["file"] = json!([true, "f.txt", 5]);

    let server = project.start();
    let reply = server.get("/globals");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), expected);
}

#[test]
fn what_a_microtask_throws_is_an_uncaught_error_of_its_execution() {
    let project = Project::with_files(&[(
        "functions/micro.ts",
        "export default async () => {\n\
           queueMicrotask(() => { throw new Error('lost in a microtask') })\n\
           queueMicrotask(() => console.log('the next one runs'))\n\
           await null\n\
           return 'answered'\n\
         }",
    )]);
    let server = project.start();
    let reply = server.get("/micro");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!("answered"));
    let record = server.record(&reply.request_id());
    assert_eq!(record["status"], "ok");
    assert_eq!(record["uncaught"][0]["origin"], "microtask");
    assert_eq!(
        record["uncaught"][0]["error"]["message"],
        "lost in a microtask"
    );
    assert_eq!(record["uncaught"][0]["error"]["location"], "micro.ts:2");
    assert_eq!(console_messages(&record), ["the next one runs"]);
    let (code, out, _) = project.run(&["why", &reply.request_id()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("a queueMicrotask callback threw"), "{out}");
}

#[test]
fn events_follow_the_dom_standard_where_node_20_does_not() {
    // Node 20 lets a passive listener cancel, keeps `cancelBubble` after the dispatch and lets
    // an event be dispatched again from its own listener: the DOM standard says otherwise.
    let project = Project::with_files(&[(
        "functions/events.ts",
        "export default () => {\n\
           const target = new EventTarget()\n\
           const event = new Event('x', { cancelable: true })\n\
           const seen: unknown[] = []\n\
           target.addEventListener('x', (e) => { e.preventDefault(); seen.push(e.defaultPrevented) }, { passive: true })\n\
           target.addEventListener('x', (e) => {\n\
             e.stopPropagation()\n\
             seen.push(e.cancelBubble)\n\
             try { target.dispatchEvent(e) } catch (err: any) { seen.push(err.name) }\n\
           })\n\
           target.addEventListener('x', (e) => { e.returnValue = false; seen.push('third') })\n\
           const notCancelled = target.dispatchEvent(event)\n\
           return { seen, notCancelled, cancelBubble: event.cancelBubble, defaultPrevented: event.defaultPrevented }\n\
         }",
    )]);
    let server = project.start();
    let reply = server.get("/events");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({
            "seen": [false, true, "InvalidStateError", "third"],
            "notCancelled": false,
            "cancelBubble": false,
            "defaultPrevented": true,
        })
    );
}
