//! The dev server started, used and stopped in-process.

use std::time::Duration;

use serde_json::json;

use super::{DevError, DevOptions, DevServer, LockHolder, Notice};
use crate::record::{ExecId, ExecutionRecord, Status};
use crate::server::REQUEST_ID_HEADER;
use crate::store::StoreWrite;

/// Long enough for a loaded machine; only reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(30);

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let functions = dir.path().join("functions");
    std::fs::create_dir_all(&functions).expect("functions folder");
    std::fs::write(
        functions.join("hello.ts"),
        "export default (req: any) => ({ hello: req.query.name })",
    )
    .expect("write hello.ts");
    dir
}

#[test]
fn starts_serves_a_request_and_stops_in_process() {
    let dir = project();
    let (records, written) = crossbeam_channel::unbounded::<ExecutionRecord>();
    let mut options = DevOptions::new(dir.path());
    options.on_written = Box::new(move |writes: &[StoreWrite]| {
        for write in writes {
            let _ = records.send(write.record.clone());
        }
    });
    let server = DevServer::start(options).expect("the dev server starts");
    assert_ne!(server.local_addr().port(), 0, "a free port was chosen");
    assert!(server.functions().get("hello").is_some());
    let server_file = server.layout().server_file();
    assert!(server_file.is_file(), "commands can find the server");

    // A second server on the same project is refused, and says who holds it.
    match DevServer::start(DevOptions::new(dir.path())) {
        Err(DevError::Locked {
            holder: Some(LockHolder { pid, url }),
            ..
        }) => {
            assert_eq!(pid, std::process::id());
            assert_eq!(url.as_deref(), Some(server.url()));
        }
        other => panic!("expected the project to be locked, got {:?}", other.err()),
    }

    let response = reqwest::blocking::Client::builder()
        .timeout(DEADLINE)
        .build()
        .expect("client")
        .get(format!("{}/hello?name=flux", server.url()))
        .send()
        .expect("the request is answered");
    assert_eq!(response.status(), 200);
    let id: ExecId = response
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("the response names its record");
    let body: serde_json::Value = response.json().expect("a JSON body");
    assert_eq!(body, json!({ "hello": "flux" }));

    let record = written
        .recv_timeout(DEADLINE)
        .expect("the request's record is stored");
    assert_eq!(record.id, id);
    assert_eq!(record.function, "hello");
    assert_eq!(record.status, Status::Ok);
    assert_eq!(record.http_status, Some(200));

    server.shutdown(Duration::from_secs(1));
    assert!(
        !server_file.exists(),
        "the server file goes with the server"
    );
    // The lock went too: the project starts again.
    DevServer::start(DevOptions::new(dir.path()))
        .expect("the project starts again")
        .stop();
}

#[test]
fn a_function_added_while_it_runs_is_told_and_served() {
    let dir = project();
    let (tell, told) = crossbeam_channel::unbounded::<Notice>();
    let mut options = DevOptions::new(dir.path());
    options.notices = std::sync::Arc::new(move |notice| {
        let _ = tell.send(notice);
    });
    let server = DevServer::start(options).expect("the dev server starts");
    std::fs::write(
        dir.path().join("functions/bye.ts"),
        "export default () => ({ bye: true })",
    )
    .expect("write bye.ts");
    // Ends at the first quiet DEADLINE, so that a watcher that says nothing fails the test.
    let added = std::iter::from_fn(|| told.recv_timeout(DEADLINE).ok())
        .find_map(|notice| match notice {
            Notice::FunctionAdded { name } => Some(name),
            _ => None,
        })
        .expect("the watcher tells of the new function");
    assert_eq!(added, "bye");
    let body: serde_json::Value = reqwest::blocking::Client::builder()
        .timeout(DEADLINE)
        .build()
        .expect("client")
        .get(format!("{}/bye", server.url()))
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .expect("the new function answers");
    assert_eq!(body, json!({ "bye": true }));
    server.stop();
}

#[test]
fn a_folder_without_functions_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    match DevServer::start(DevOptions::new(dir.path())) {
        Err(DevError::NoFunctions { root }) => {
            assert_eq!(root, dir.path().canonicalize().expect("canonical"))
        }
        other => panic!("expected NoFunctions, got {:?}", other.err()),
    }
}

#[test]
fn an_empty_token_is_refused() {
    let dir = project();
    let mut options = DevOptions::new(dir.path());
    options.token = Some("  ".into());
    assert!(matches!(
        DevServer::start(options),
        Err(DevError::EmptyToken)
    ));
}
