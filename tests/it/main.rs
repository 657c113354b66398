//! Integration tests: the real `flux` binary against temporary projects and real servers.

mod architecture;
mod bad_input;
mod browser;
mod cli;
mod conventions;
mod dashboard_api;
mod dashboard_bench;
mod dashboard_flows;
mod dashboard_ui;
mod deploy;
mod dev;
mod durability;
mod editor;
mod emails;
mod errors;
mod flux_dts;
mod front_door;
mod init;
mod interleave;
mod interleave_hostile;
mod intl;
mod isolation;
mod job_ids;
mod jsx;
mod locations;
mod messages;
mod module_forms;
mod node_builtins;
mod npm;
mod packages;
mod pg_claims;
mod pg_migrate;
mod pg_queue;
mod pg_sandbox;
mod pg_serve;
mod pg_sql;
mod pg_store;
mod pg_thread;
mod queue;
mod reload;
mod sandbox_sql;
mod store_ops;
mod subtle;
mod support;
mod tail;
mod terminal;
mod tls_proxy;
mod tokens;
mod trace;
mod two_projects;
mod vendored;
mod web_conformance;
mod web_forms;
mod web_globals;
mod why_code;
mod why_sql;
mod workers_routes;

/// Every file under tests/it/ is compiled: one left out of the `mod` list above would never run.
#[test]
fn every_test_file_is_registered_here() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = include_str!("main.rs");
    let registered: Vec<&str> = main
        .lines()
        .filter_map(|line| line.strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read tests/it") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        // A module is a `.rs` file or a folder with a `mod.rs` (snapshots/ is neither).
        let module = if path.is_dir() && path.join("mod.rs").exists() {
            name
        } else if let Some(stem) = name.strip_suffix(".rs") {
            stem.to_string()
        } else {
            continue;
        };
        if module != "main" && !registered.contains(&module.as_str()) {
            missing.push(module);
        }
    }
    assert!(
        registered.len() > 10,
        "found only {registered:?} in main.rs: the scan is broken"
    );
    missing.sort();
    assert!(
        missing.is_empty(),
        "tests/it/ files not registered in tests/it/main.rs (add `mod <name>;`): {missing:?}"
    );
}
