//! `flux store check`: SQLite's integrity check over the whole store, however long it takes.

use std::time::Instant;

use serde_json::json;

use super::{CliError, Format, GlobalArgs, StoreCommand};
use crate::output::print_line;
use crate::project::Layout;
use crate::store::{Storage, Store, StoreError};

pub fn run(command: &StoreCommand, global: &GlobalArgs) -> Result<(), CliError> {
    match command {
        StoreCommand::Check { dir } => check(dir, global),
    }
}

fn check(dir: &std::path::Path, global: &GlobalArgs) -> Result<(), CliError> {
    let layout = Layout::new(dir);
    let path = layout.store_path();
    let store = Store::open_existing(&path).map_err(|e| match e {
        StoreError::Open { .. } if !path.exists() => {
            CliError::failure(format!("{} has no store yet", dir.display()))
                .with_hint("flux dev creates .flux/flux.db; run the check in the project folder")
        }
        other => damaged(other, &path),
    })?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let started = Instant::now();
    store.check_integrity(None).map_err(|e| damaged(e, &path))?;
    let took = started.elapsed();
    let text = match global.format() {
        Format::Json => json!({
            "ok": true,
            "path": path.display().to_string(),
            "bytes": bytes,
            "seconds": took.as_secs_f64(),
        })
        .to_string(),
        Format::Pretty => format!(
            "✓ {} passed SQLite's integrity check ({}, {:.1}s)",
            path.display(),
            bytesize::ByteSize::b(bytes),
            took.as_secs_f64()
        ),
    };
    Ok(print_line(&text)?)
}

fn damaged(error: StoreError, path: &std::path::Path) -> CliError {
    let hint = match error {
        StoreError::Damaged { .. } | StoreError::Empty { .. } | StoreError::Corrupt { .. } => format!(
            "stop flux dev, move it aside (mv {0} {0}.bad) to start with an empty store, or put a backup in its place",
            path.display()
        ),
        _ => "check the file's permissions".to_string(),
    };
    CliError::from(error).with_hint(hint)
}
