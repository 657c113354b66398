//! `flux why <id>`: the root cause of a failed execution, where it is, and what to do.

use serde_json::json;

use super::trace::fetch_record;
use super::{CliError, Format, GlobalArgs, WhyArgs};
use crate::output::print_line;
use crate::record::ExecId;
use crate::render::render_why;
use crate::why::{explain, input};

pub fn run(args: &WhyArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let prefix = ExecId::parse_prefix(&args.id)?;
    let target = global.target();
    let record = fetch_record(&prefix, &target)?;
    // The records around it are context: missing ones (pruned, say) only make the answer plainer.
    let related = super::related::gather(&record, &target);
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
