//! `flux why <id>`: the root cause of a failed execution (or of a job's failed attempts), where
//! it is, and what to do.

use serde_json::json;

use super::trace::{fetch_record, job_info};
use super::{CliError, Format, GlobalArgs, WhyArgs};
use crate::output::print_line;
use crate::record::{ExecId, RecordSummary, Status};
use crate::render::{render_why, WhyAttempts};
use crate::why::{explain, input};

pub fn run(args: &WhyArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let prefix = ExecId::parse_prefix(&args.id)?;
    let target = global.target();
    let asked = fetch_record(&prefix, &target)?;
    let attempts = asked
        .links
        .job_id
        .as_ref()
        .and_then(|job| job_info(&job.to_string(), &target))
        .map(|(_, attempts)| attempts)
        .unwrap_or_default();
    // A job that succeeded after failed attempts is explained by the last of them.
    let retried = (asked.status == Status::Ok)
        .then(|| last_failure_before(&attempts, asked.id))
        .flatten()
        .and_then(|failed| fetch_record(&failed.id.to_string(), &target).ok());
    let record = retried.as_ref().unwrap_or(&asked);
    // The records around it are context: missing ones (pruned, say) only make the answer plainer.
    let related = super::related::gather(record, &target);
    let finding = explain(record, &related);
    // Without a finding for the failed attempt, the success is all there is to say.
    let (record, finding) = match finding {
        None if retried.is_some() => (&asked, None),
        finding => (record, finding),
    };
    let text = match global.format() {
        Format::Json => serde_json::to_string_pretty(&json!({
            "id": asked.id,
            "status": asked.status,
            "explains": record.id,
            "finding": finding,
            "input": input(record),
            "attempts": attempts,
            "data_changes": record.mutations,
        }))?,
        Format::Pretty => {
            let gave_job = asked
                .links
                .job_id
                .as_ref()
                .is_some_and(|job| job.to_string().starts_with(&prefix));
            let shown = WhyAttempts {
                listed: if gave_job || !all_alike(&attempts) {
                    attempts
                } else {
                    Vec::new()
                },
                succeeded: (record.id != asked.id).then(|| RecordSummary::from(&asked)),
            };
            render_why(record, finding.as_ref(), &shown, global.style())
        }
    };
    Ok(print_line(&text)?)
}

/// The last failed attempt before `asked`, when there is one.
fn last_failure_before(attempts: &[RecordSummary], asked: ExecId) -> Option<&RecordSummary> {
    attempts
        .iter()
        .take_while(|a| a.id != asked)
        .filter(|a| a.status != Status::Ok)
        .last()
}

/// Attempts that all ended the same way (the same status, the same error) tell one story: the
/// record explained tells it, and listing them adds nothing.
fn all_alike(attempts: &[RecordSummary]) -> bool {
    fn first_line(a: &RecordSummary) -> Option<&str> {
        a.error.as_deref().and_then(|e| e.lines().next())
    }
    attempts.windows(2).all(|pair| {
        pair[0].status == pair[1].status && first_line(&pair[0]) == first_line(&pair[1])
    })
}
