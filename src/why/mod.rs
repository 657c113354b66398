//! Root-cause analysis over execution records. Each rule is a small function that looks at a
//! failed record (and the records around it) and either explains the failure or passes; the
//! first rule that explains it wins, the thrown error itself being the last resort.

mod chain;
mod code;
mod gather;
mod timeout;
mod uncaught;
mod upstream;

pub use chain::call_chain;
pub use gather::{gather, Lookup};

use serde::Serialize;
use serde_json::Value;

mod sql;

pub use sql::{lookups, unique_conflict, Lookups};

use crate::record::{ExecutionRecord, JobId, Kind, RowChange, Status, TableSchema};

/// What `flux why` says about one execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The kind of cause (`unique`, `not-null`, `timeout-busy`, …): the rule that produced it,
    /// for scripts and tests.
    pub cause: &'static str,
    pub root_cause: String,
    pub location: Option<String>,
    /// The calls that led to the location, innermost first (`helper.ts:4 in sendMail`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_chain: Vec<String>,
    /// The execution the failure is blamed on, when another one caused it.
    pub blamed: Option<Blame>,
    pub suggestion: Option<String>,
}

/// Another execution that caused (part of) a failure, and what it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blame {
    pub id: String,
    pub function: Option<String>,
    /// When it did it, microseconds since the epoch, when known.
    pub at_us: Option<i64>,
    /// What it did, in words: `inserted users.email = 'a@x'`.
    pub did: String,
}

/// The records around the one being explained, and what the store knows that bears on it.
#[derive(Debug, Default)]
pub struct Related {
    /// The execution that enqueued this job.
    pub enqueued_by: Option<ExecutionRecord>,
    /// For a uniqueness violation: the execution that wrote the value already there.
    pub conflicting_writer: Option<Writer>,
    /// The app's tables.
    pub schema: Vec<TableSchema>,
    /// Whether the rows [`sql::lookups`] asked about exist.
    pub rows: Vec<RowPresence>,
    /// The recorded changes to the rows [`sql::lookups`] asked about.
    pub row_history: Vec<RowChange>,
}

/// The execution that wrote a row's value, and the job it was an attempt of.
#[derive(Debug, Clone, PartialEq)]
pub struct Writer {
    pub id: String,
    pub function: Option<String>,
    /// Microseconds since the epoch.
    pub at_us: i64,
    /// `insert` or `update`.
    pub op: String,
    pub job_id: Option<JobId>,
    pub attempt: Option<u32>,
}

/// Whether `table` has a row whose `column` is `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPresence {
    pub table: String,
    pub column: String,
    pub value: Value,
    pub exists: bool,
}

/// What the execution was given: a job's data, or a request's method, path, query and body.
pub fn input(record: &ExecutionRecord) -> Value {
    match record.kind {
        Kind::Job => record.input.get("data").cloned().unwrap_or_default(),
        Kind::Http => serde_json::json!({
            "method": record.method, "path": record.path,
            "query": record.input.get("query"), "body": record.input.get("body"),
        }),
    }
}

type Rule = fn(&ExecutionRecord, &Related) -> Option<Finding>;

/// In order: the most specific explanation first.
const RULES: [Rule; 10] = [
    sql::row_not_found,
    sql::statement_failed,
    upstream::not_json,
    upstream::upstream_error,
    timeout::timed_out,
    code::missing_module,
    code::missing_export,
    code::non_error_thrown,
    upstream::returned_5xx,
    thrown_error,
];

/// Explains a failed execution, or one that succeeded with an error nobody caught; `None`
/// for one that succeeded cleanly.
pub fn explain(record: &ExecutionRecord, related: &Related) -> Option<Finding> {
    if record.status == Status::Ok {
        return uncaught::uncaught(record);
    }
    let mut finding = RULES.iter().find_map(|rule| rule(record, related))?;
    // A finding placed where the thrown error was gets that error's call chain.
    if let Some(error) = &record.error {
        if finding.call_chain.is_empty() && finding.location == error.location {
            finding.call_chain = call_chain(error);
        }
    }
    if finding.blamed.is_none() {
        finding.blamed = sql::reach(record, related);
    }
    Some(finding)
}

/// The error that ended the execution, where it was thrown.
fn thrown_error(record: &ExecutionRecord, _: &Related) -> Option<Finding> {
    let error = record.error.as_ref()?;
    Some(Finding {
        cause: "error",
        root_cause: format!("{}: {}", error.name, error.message),
        location: error.location.clone(),
        call_chain: call_chain(error),
        blamed: None,
        suggestion: None,
    })
}

#[cfg(test)]
mod tests;
