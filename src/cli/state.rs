//! `flux state history` and `flux state blame`: who changed a table or a row, and how.

use super::exit;
use super::{CliError, Format, GlobalArgs, StateCommand};
use crate::api::Changes;
use crate::client::{encode, read_or_store, Target};
use crate::output::print_line;
use crate::record::ExecId;
use crate::render::{escape, inspect};
use crate::store::{blame, row_changes, ChangeFilter, RowChange};
use crate::timefmt::{parse_since, rfc3339};

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
    read_or_store(
        target,
        &path,
        |body: Changes<RowChange>| body.changes,
        |conn| row_changes(conn, filter),
    )
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

fn show_pk(pk: &serde_json::Value) -> String {
    let text = pk.as_str().map_or_else(|| pk.to_string(), String::from);
    escape(&text).into_owned()
}

pub fn run(command: &StateCommand, global: &GlobalArgs) -> Result<(), CliError> {
    let target = Target::resolve(global);
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
                    Some(("req", value)) => {
                        record_prefix = Some(
                            ExecId::parse_prefix(value)
                                .map_err(|e| CliError::new(exit::USAGE, e.to_string()))?,
                        )
                    }
                    _ => {
                        return Err(CliError::new(
                            exit::USAGE,
                            format!("--filter {f}: expected req=ID"),
                        ))
                    }
                }
            }
            let since_us = match last {
                Some(text) => Some(
                    parse_since(text)
                        .map_err(|e| CliError::new(exit::USAGE, format!("--last: {e}")))?,
                ),
                None => None,
            };
            let filter = ChangeFilter {
                table: table.clone(),
                row: id.clone(),
                record_prefix,
                since_us,
                limit: *limit,
                oldest_first: false,
                column_value: None,
            };
            let changes = fetch(&target, &filter)?;
            if global.format() == Format::Json {
                return print_line(
                    &serde_json::to_string_pretty(&changes)
                        .map_err(|e| CliError::failure(e.to_string()))?,
                );
            }
            if changes.is_empty() {
                eprintln!("no recorded changes to {table} match");
            }
            for change in &changes {
                let fate = if change.committed {
                    String::new()
                } else {
                    format!(" {}", style.yellow("(rolled back)"))
                };
                print_line(&format!(
                    "{} {} {} {} {} {}{fate}",
                    style.dim(&rfc3339(change.at_us)),
                    style.dim(&format!("req:{}", short(&change.record_id))),
                    escape(change.function.as_deref().unwrap_or("?")),
                    escape(&change.op),
                    escape(&change.table),
                    show_pk(&change.pk),
                ))?;
                let empty = serde_json::Map::new();
                let before = change.before.as_ref().unwrap_or(&empty);
                let after = change.after.as_ref().unwrap_or(&empty);
                let mut columns: Vec<&String> = after
                    .keys()
                    .chain(before.keys().filter(|k| !after.contains_key(*k)))
                    .collect();
                columns.dedup();
                let columns: Vec<(&String, String)> = columns
                    .into_iter()
                    .map(|c| (c, escape(c).into_owned()))
                    .collect();
                let width = columns
                    .iter()
                    .map(|(_, shown)| shown.chars().count())
                    .max()
                    .unwrap_or(0);
                for (column, shown) in columns {
                    let (old, new) = (before.get(column), after.get(column));
                    if change.op == "update" && old == new {
                        continue;
                    }
                    let show = |v: Option<&serde_json::Value>| v.map_or("∅".to_string(), inspect);
                    print_line(&format!(
                        "    {shown:<width$}  {} → {}",
                        show(old),
                        show(new)
                    ))?;
                }
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
                return Err(CliError::new(exit::NOT_FOUND, format!("no recorded row {table} {id}"))
                    .with_hint("only rows changed while flux dev recorded (and not pruned since) have a history"));
            };
            if global.format() == Format::Json {
                return print_line(
                    &serde_json::to_string_pretty(&columns)
                        .map_err(|e| CliError::failure(e.to_string()))?,
                );
            }
            let names: Vec<String> = columns
                .iter()
                .map(|c| escape(&c.column).into_owned())
                .collect();
            let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            for (column, name) in columns.iter().zip(&names) {
                print_line(&format!(
                    "{name:<width$}  {}  {} {} {}",
                    inspect(&column.value),
                    style.dim(&format!("req:{}", short(&column.record_id))),
                    escape(column.function.as_deref().unwrap_or("?")),
                    style.dim(&rfc3339(column.at_us)),
                ))?;
            }
            Ok(())
        }
    }
}
