//! `flux trace <id>`.

use super::source::local_store;
use super::{CliError, ErrorKind, Format, GlobalArgs, TraceArgs};
use crate::api::JobDetail;
use crate::client::{self, Answer, Target};
use crate::record::RecordSummary;
use crate::record::{attr, ExecId, ExecutionRecord, RecordReadError};
use crate::render::{render_trace, TraceContext};
use crate::store::resolve::{ambiguous_message, not_found_message};
use crate::store::{JobRow, NamedRecord, Storage, StoreError};

pub fn run(args: &TraceArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let prefix = ExecId::parse_prefix(&args.id)?;
    let target = global.target();
    let record = fetch_record(&prefix, &target)?;
    match global.format() {
        Format::Json => {
            let json = serde_json::to_string_pretty(&record)?;
            Ok(crate::output::print_line(&json)?)
        }
        Format::Pretty => {
            let context = context(&record, &target);
            Ok(crate::output::print_line(&render_trace(
                &record,
                &context,
                args.verbose,
                global.style(),
            ))?)
        }
    }
}

/// The record `prefix` names (an execution, or a job's latest attempt), from the server or,
/// when none answers, the project's store.
pub fn fetch_record(prefix: &str, target: &Target) -> Result<ExecutionRecord, CliError> {
    match client::get::<serde_json::Value>(target, &format!("/_flux/api/records/{prefix}"))? {
        Answer::Ok(value) => ExecutionRecord::from_value(value)
            .map_err(|e| unreadable_record(&format!("the server sent {prefix}"), &e)),
        Answer::Status(status, message, _) => Err(CliError::refused(status, message).with_hint_if(
            ErrorKind::NotFound,
            "ids are printed by 'flux dev' and 'flux queue list', and sent in the x-flux-request-id header",
        )),
        Answer::Unreachable => match local_store(target)? {
            Some(store) => read_from_store(store.as_ref(), prefix),
            None => Err(target.unreachable().into()),
        },
    }
}

fn read_from_store(store: &dyn Storage, prefix: &str) -> Result<ExecutionRecord, CliError> {
    let found = store.find_named_record(prefix).map_err(|e| match e {
        StoreError::Record(e) => unreadable_record(&store.location(), &e),
        e => e.into(),
    })?;
    match found {
        NamedRecord::Found(record) => Ok(*record),
        NamedRecord::NotFound(job) => {
            Err(
                CliError::not_found(not_found_message(prefix, job.as_deref())).with_hint(format!(
                    "read from {} (this project's flux server is not running)",
                    store.location()
                )),
            )
        }
        NamedRecord::Ambiguous(candidates) => {
            Err(CliError::usage(ambiguous_message(prefix, &candidates)))
        }
    }
}

/// A record this flux cannot read; one a newer flux wrote says what to do about it.
fn unreadable_record(source: &str, error: &RecordReadError) -> CliError {
    let failure = CliError::failure(format!("{source}: {error}"));
    match error {
        RecordReadError::NewerFormat { .. } => failure.with_hint(
            "upgrade flux to the version that wrote it (./install.sh in a newer flux checkout)",
        ),
        RecordReadError::Json(_) => failure,
    }
}

/// A job and its attempts, from the server or the store; `None` when neither knows it.
pub(super) fn job_info(id: &str, target: &Target) -> Option<(JobRow, Vec<RecordSummary>)> {
    match client::get::<JobDetail<JobRow>>(target, &format!("/_flux/api/jobs/{id}")).ok()? {
        Answer::Ok(detail) => Some((detail.job, detail.attempts)),
        Answer::Unreachable => {
            let store = local_store(target).ok()??;
            store.job_with_attempts(id).ok().flatten()
        }
        _ => None,
    }
}

/// The fate of the jobs `record` enqueued; for a job attempt, who enqueued it and its siblings.
fn context(record: &ExecutionRecord, target: &Target) -> TraceContext {
    let mut context = TraceContext::default();
    for span in &record.spans {
        if let Some(job_id) = span.str_attr(attr::JOB_ID) {
            if let Some((job, _)) = job_info(job_id, target) {
                context.jobs.insert(
                    job_id.to_string(),
                    (job.state.as_str().to_string(), job.attempts),
                );
            }
        }
    }
    if let Some(job_id) = &record.links.job_id {
        if let Some((_, attempts)) = job_info(&job_id.to_string(), target) {
            context.attempts = attempts;
        }
    }
    if let Some(enqueuer) = record.links.enqueued_by {
        context.enqueued_by = fetch_record(&enqueuer.to_string(), target)
            .ok()
            .map(|r| RecordSummary::from(&r));
    }
    context
}
