//! `flux state history` and `flux state blame`: who changed a table or a row, and how.

use super::source::read_or_store;
use super::{CliError, Format, GlobalArgs, StateCommand};
use crate::api::Changes;
use crate::client::{encode, Target};
use crate::output::print_line;
use crate::record::{ExecId, RowChange};
use crate::render::{render_blame, render_change};
use crate::store::resolve::ambiguous_message;
use crate::store::{blame, ChangeFilter, Scoped};
use crate::timefmt::parse_ago;

pub(super) fn fetch(target: &Target, filter: &ChangeFilter) -> Result<Vec<RowChange>, CliError> {
    let mut path = format!(
        "/_flux/api/state/{}?limit={}",
        encode(&filter.table),
        filter.limit
    );
    if let Some(row) = &filter.row {
        path.push_str(&format!("&id={}", encode(row)));
    }
    if let Some(prefix) = &filter.record_prefix {
        path.push_str(&format!("&req={prefix}"));
    }
    if let Some(since) = filter.since_us {
        path.push_str(&format!("&since={since}"));
    }
    if filter.oldest_first {
        path.push_str("&order=asc");
    }
    if let Some((column, value)) = &filter.column_value {
        path.push_str(&format!(
            "&column={}&value={}",
            encode(column),
            encode(value)
        ));
    }
    let scoped = read_or_store(
        target,
        &path,
        |body: Changes<RowChange>| Scoped::Found(body.changes),
        |store| store.named_row_changes(filter),
    )?;
    match scoped {
        Scoped::Found(changes) => Ok(changes),
        Scoped::Ambiguous(candidates) => Err(CliError::usage(ambiguous_message(
            filter.record_prefix.as_deref().unwrap_or_default(),
            &candidates,
        ))),
    }
}

pub fn run(command: &StateCommand, global: &GlobalArgs) -> Result<(), CliError> {
    let target = global.target();
    let style = global.style();
    match command {
        StateCommand::History {
            table,
            id,
            filter,
            last,
            limit,
        } => {
            let mut record_prefix = None;
            for f in filter {
                match f.split_once('=') {
                    Some(("req", value)) => record_prefix = Some(ExecId::parse_prefix(value)?),
                    _ => {
                        return Err(CliError::usage(format!("--filter {f}: expected req=ID"))
                            .with_hint("ID is an execution's id, as 'flux dev' and 'flux tail' print it, or a job's: --filter req=b3c4d5e6"))
                    }
                }
            }
            let since_us = match last {
                Some(text) => Some(parse_ago(text).map_err(|e| {
                    CliError::usage(format!("--last {e}"))
                        .with_hint("for example: flux state history users --last 1h")
                })?),
                None => None,
            };
            let filter = ChangeFilter {
                table: table.clone(),
                row: id.clone(),
                record_prefix,
                job: None,
                since_us,
                limit: *limit,
                oldest_first: false,
                column_value: None,
            };
            let changes = fetch(&target, &filter)?;
            if global.format() == Format::Json {
                return Ok(print_line(&serde_json::to_string_pretty(&changes)?)?);
            }
            if changes.is_empty() {
                eprintln!("no recorded changes to {table} match");
            }
            for change in &changes {
                print_line(&render_change(change, style))?;
            }
            Ok(())
        }
        StateCommand::Blame { table, id } => {
            let filter = ChangeFilter {
                table: table.clone(),
                row: Some(id.clone()),
                limit: 100_000,
                oldest_first: true,
                ..Default::default()
            };
            let changes = fetch(&target, &filter)?;
            let Some(columns) = blame(&changes) else {
                return Err(CliError::not_found(format!("no recorded row {table} {id}"))
                    .with_hint("only rows changed while flux dev recorded (and not pruned since) have a history"));
            };
            let text = match global.format() {
                Format::Json => serde_json::to_string_pretty(&columns)?,
                // A row with no columns left has nothing to show.
                Format::Pretty if columns.is_empty() => return Ok(()),
                Format::Pretty => render_blame(&columns, style),
            };
            Ok(print_line(&text)?)
        }
    }
}
