//! `flux why <id>`: the root cause of a failed execution, where it is, and what to do.

use serde_json::json;

use super::trace::fetch_record;
use super::{CliError, Format, GlobalArgs, WhyArgs};
use crate::output::print_line;
use crate::record::ExecId;
use crate::render::render_why;
use crate::store::ChangeFilter;
use crate::why::{explain, input, unique_conflict, Related};

pub fn run(args: &WhyArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let prefix = ExecId::parse_prefix(&args.id)?;
    let target = global.target();
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
    let text = match global.format() {
        Format::Json => serde_json::to_string_pretty(&json!({
            "id": record.id,
            "status": record.status,
            "finding": finding,
            "input": input(&record),
            "data_changes": record.mutations,
        }))?,
        Format::Pretty => render_why(&record, finding.as_ref(), global.style()),
    };
    Ok(print_line(&text)?)
}
