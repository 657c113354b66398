//! `flux why <id>`: the root cause of a failed execution, where it is, and what to do.

use serde_json::json;

use super::exit;
use super::trace::fetch_record;
use super::{CliError, Format, GlobalArgs, WhyArgs};
use crate::client::Target;
use crate::output::print_line;
use crate::record::{ExecId, ExecutionRecord, Kind};
use crate::render::{escape, inspect, record_line, render_mutations, Style};
use crate::store::ChangeFilter;
use crate::why::{explain, unique_conflict, Finding, Related};

pub fn run(args: &WhyArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let prefix =
        ExecId::parse_prefix(&args.id).map_err(|e| CliError::new(exit::USAGE, e.to_string()))?;
    let target = Target::resolve(global);
    let record = fetch_record(&prefix, &target)?;
    // The records around it are context: missing ones (pruned, say) only make the answer plainer.
    let related = Related {
        enqueued_by: record
            .links
            .enqueued_by
            .and_then(|id| fetch_record(&id.to_string(), &target).ok()),
        conflicting_writer: unique_conflict(&record).and_then(|(table, column, value)| {
            let filter = ChangeFilter {
                table,
                column_value: Some((column, value.to_string())),
                limit: 1,
                ..Default::default()
            };
            let changes = super::state::fetch(&target, &filter).ok()?;
            changes
                .into_iter()
                .find(|c| c.record_id != record.id.to_string())
                .map(|c| (c.record_id, c.function))
        }),
    };
    let finding = explain(&record, &related);
    if global.format() == Format::Json {
        let value = json!({
            "id": record.id,
            "status": record.status,
            "finding": finding,
            "input": input(&record),
            "data_changes": record.mutations,
        });
        return print_line(
            &serde_json::to_string_pretty(&value).map_err(|e| CliError::failure(e.to_string()))?,
        );
    }
    print_line(&render(&record, finding.as_ref(), global.style()))
}

/// What the execution was given: a job's data, or a request's method, path and body.
fn input(record: &ExecutionRecord) -> serde_json::Value {
    match record.kind {
        Kind::Job => record.input.get("data").cloned().unwrap_or_default(),
        Kind::Http => json!({
            "method": record.method, "path": record.path,
            "query": record.input.get("query"), "body": record.input.get("body"),
        }),
    }
}

fn render(record: &ExecutionRecord, finding: Option<&Finding>, style: Style) -> String {
    let mut out = Vec::new();
    let input_line = match record.kind {
        Kind::Job => format!("{} {}", style.bold("JOB INPUT"), inspect(&input(record))),
        Kind::Http => {
            let body = record
                .input
                .get("body")
                .filter(|b| !b.is_null())
                .map(inspect)
                .unwrap_or_default();
            format!(
                "{} {} {} {body}",
                style.bold("REQUEST"),
                escape(record.method.as_deref().unwrap_or("?")),
                escape(record.path.as_deref().unwrap_or("/"))
            )
            .trim_end()
            .to_string()
        }
    };
    match finding {
        None => {
            out.push(format!(
                "{} {}",
                style.green("OK"),
                record_line(&record.into(), style)
            ));
            out.push(format!(
                "nothing failed: {} span(s), {} data change(s)",
                record.spans.len(),
                record.mutations.len()
            ));
            out.push(input_line);
        }
        Some(finding) => {
            out.push(format!(
                "{} {}",
                style.bold("ROOT CAUSE"),
                style.red(&escape(&finding.root_cause))
            ));
            if let Some(location) = &finding.location {
                out.push(format!("{} {}", style.bold("LOCATION"), escape(location)));
            }
            out.push(input_line);
        }
    }
    if !record.mutations.is_empty() {
        out.push(style.bold("DATA CHANGES"));
        out.extend(render_mutations(&record.mutations, style));
    }
    if let Some(suggestion) = finding.and_then(|f| f.suggestion.as_ref()) {
        // A suggestion may run over several lines; each is escaped.
        out.push(format!(
            "{} {}",
            style.bold("SUGGESTION"),
            super::escape_message(suggestion)
        ));
    }
    out.join("\n")
}
