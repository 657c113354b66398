//! The execution-record model: the one contract between engine, store, server and CLI.
//!
//! Every HTTP request and every job attempt produces one [`ExecutionRecord`]. The store
//! persists it as JSON next to a few indexed columns; the server and the CLI read it back
//! through the same types, so a field added here reaches every consumer.

mod assemble;
mod change;
mod id;
mod inspect;
mod job;
mod schema;
mod span;

#[cfg(test)]
pub(crate) use assemble::sample;
pub use assemble::{flux_error, Ending, Start, Traced};
pub use change::{Blame, RowChange};
pub use id::{short_text, ExecId, IdError, JobId, SHORT_LEN};
pub use inspect::inspect;
pub use job::{short_error, JobState, Transition};
pub use schema::{ForeignKey, TableSchema};
pub use span::{attr, Span, SpanKind, SpanStatus};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Http,
    Job,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Job => "job",
        }
    }
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Error,
    Timeout,
    /// Stopped by a shutdown before it finished.
    Interrupted,
    /// A job attempt stopped (or a waiting job withdrawn) because someone asked
    /// (`POST /_flux/api/jobs/<id>/cancel`).
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::Interrupted => "interrupted",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "ok" => Some(Status::Ok),
            "error" => Some(Status::Error),
            "timeout" => Some(Status::Timeout),
            "interrupted" => Some(Status::Interrupted),
            "cancelled" => Some(Status::Cancelled),
            _ => None,
        }
    }
}

/// The error name of an execution whose writes were undone before they were committed.
pub const WRITES_LOST: &str = "WritesLost";

/// The record format this flux writes, and the newest it reads. Bump it when a change would
/// make an older flux misread a record; an added optional field does not need it (older flux
/// ignores fields it does not know).
pub const RECORD_FORMAT: u32 = 1;

/// The format of records written before formats were numbered.
fn first_format() -> u32 {
    1
}

/// Why a stored or served record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordReadError {
    #[error(
        "this record was written by a newer flux (record format {found}; this flux reads          formats up to {RECORD_FORMAT})"
    )]
    NewerFormat { found: u32 },
    #[error("the record is unreadable: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// The record's format: [`RECORD_FORMAT`] for a record this flux made.
    #[serde(default = "first_format")]
    pub format: u32,
    pub id: ExecId,
    pub kind: Kind,
    /// The function's route name, e.g. `create_user` or `billing/index`.
    pub function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub status: Status,
    /// The HTTP status sent back, for HTTP executions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Start time, microseconds since the Unix epoch.
    pub started_at_us: i64,
    pub duration_us: u64,
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    #[serde(default)]
    pub console: Vec<ConsoleLine>,
    /// Errors nobody caught, in the order they happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncaught: Vec<Uncaught>,
    /// Hash of the project's code that ran.
    pub code_version: String,
    #[serde(default)]
    pub spans: Vec<Span>,
    #[serde(default)]
    pub mutations: Vec<Mutation>,
    #[serde(default)]
    pub links: Links,
    /// What the execution produced beyond the record's caps, counted but not kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<Dropped>,
}

/// Spans and console output one execution produced past its caps (so that a loop cannot
/// fill the store or the terminal): how much was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// Spans not recorded.
    #[serde(default)]
    pub spans: u64,
    /// Console lines not recorded nor printed.
    #[serde(default)]
    pub console_lines: u64,
    /// Console bytes not recorded: those of the dropped lines and the cut ends of long lines.
    #[serde(default)]
    pub console_bytes: u64,
}

impl Dropped {
    pub fn is_empty(&self) -> bool {
        self.spans == 0 && self.console_lines == 0 && self.console_bytes == 0
    }
}

/// Only a record's format, read before the rest: a newer format may not parse as this
/// flux's record, and should be reported as newer rather than as broken.
#[derive(Deserialize)]
struct FormatOnly {
    #[serde(default = "first_format")]
    format: u32,
}

impl FormatOnly {
    fn check(self) -> Result<(), RecordReadError> {
        if self.format > RECORD_FORMAT {
            return Err(RecordReadError::NewerFormat { found: self.format });
        }
        Ok(())
    }
}

impl ExecutionRecord {
    /// A record from its JSON, refused with [`RecordReadError::NewerFormat`] when a newer
    /// flux wrote it.
    pub fn from_json(text: &str) -> Result<ExecutionRecord, RecordReadError> {
        serde_json::from_str::<FormatOnly>(text)?.check()?;
        Ok(serde_json::from_str(text)?)
    }

    /// [`ExecutionRecord::from_json`] for JSON already parsed (a server's answer).
    pub fn from_value(value: Value) -> Result<ExecutionRecord, RecordReadError> {
        FormatOnly::deserialize(&value)?.check()?;
        Ok(serde_json::from_value(value)?)
    }

    /// The span that failed first, the one `trace` marks and `why` starts from.
    pub fn failing_span(&self) -> Option<&Span> {
        let failed = |s: &&Span| s.status != SpanStatus::Ok;
        // The deepest failing span is the most precise one: prefer spans below the root.
        self.spans
            .iter()
            .filter(failed)
            .find(|s| s.parent.is_some())
            .or_else(|| self.spans.iter().find(failed))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// `Error`, `TypeError`, `TimeoutError`, …
    #[serde(default = "default_error_name")]
    pub name: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// `file.ts:line` in the user's code, relative to `functions/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The call chain at the failure, innermost first: project frames, and the package frames
    /// among them (`package: true`), without flux's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Frame>,
    /// The lines of the project's file around `location`, as the code that ran had them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<SourceLine>,
}

/// One line of code shown around an error's location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLine {
    pub line: u32,
    pub text: String,
    /// The line the location names.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub current: bool,
}

/// Lines shown on each side of an error's line.
const SOURCE_CONTEXT: u32 = 3;

/// A shown line is cut after this many characters (a minified line can be huge).
const SOURCE_LINE_CHARS: usize = 200;

/// The lines of `code` around `line` (1-based): a few before and after, the line marked.
pub fn source_around(code: &str, line: u32) -> Vec<SourceLine> {
    let first = line.saturating_sub(SOURCE_CONTEXT).max(1);
    code.lines()
        .enumerate()
        .map(|(i, text)| (i as u32 + 1, text))
        .skip_while(|(n, _)| *n < first)
        .take_while(|(n, _)| *n <= line + SOURCE_CONTEXT)
        .map(|(n, text)| SourceLine {
            line: n,
            text: text.chars().take(SOURCE_LINE_CHARS).collect(),
            current: n == line,
        })
        .collect()
}

/// One frame of a call chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The function's name; `None` for an anonymous one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Relative to `functions/` for project files; `node_modules/…` for a package's.
    pub file: String,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// A frame inside `node_modules`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub package: bool,
}

/// An error nobody caught: thrown by a timer's callback, or a promise rejected with no
/// handler, including after the function had returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uncaught {
    pub origin: UncaughtOrigin,
    pub error: ErrorInfo,
    /// Microseconds since the execution started.
    pub at_us: u64,
    /// It happened after the function had returned (or thrown).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_end: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncaughtOrigin {
    Timer,
    Rejection,
    /// A `queueMicrotask` callback threw.
    Microtask,
}

fn default_error_name() -> String {
    "Error".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleLine {
    pub level: String,
    pub message: String,
    /// Microseconds since the execution started.
    pub at_us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MutationOp {
    Insert,
    Update,
    Delete,
}

impl MutationOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MutationOp::Insert => "insert",
            MutationOp::Update => "update",
            MutationOp::Delete => "delete",
        }
    }
}

/// One row changed by an execution, as SQLite's pre-update hook reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mutation {
    pub table: String,
    /// The row's primary key value (or rowid when the table has none).
    pub pk: Value,
    pub op: MutationOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Map<String, Value>>,
    pub committed: bool,
    /// The span (statement) that made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<u32>,
    /// Microseconds since the execution started.
    pub at_us: u64,
}

/// Causal links between executions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Links {
    /// The job this attempt belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The execution that enqueued the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enqueued_by: Option<ExecId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attempt: Option<ExecId>,
    /// For the first attempt after a dead-letter replay: the dead attempt it replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<ExecId>,
    /// The job was replayed with an edited payload: this attempt's data are not those of the
    /// attempts before the replay.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited_data: bool,
}

/// The short form used in lists and streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSummary {
    pub id: ExecId,
    pub kind: Kind,
    pub function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub started_at_us: i64,
    pub duration_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a job attempt: which one, of how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// The first error nobody caught (`Error: …`), and how many there were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncaught: Option<(String, usize)>,
}

impl From<&ExecutionRecord> for RecordSummary {
    fn from(r: &ExecutionRecord) -> Self {
        RecordSummary {
            id: r.id,
            kind: r.kind,
            function: r.function.clone(),
            method: r.method.clone(),
            path: r.path.clone(),
            status: r.status,
            http_status: r.http_status,
            started_at_us: r.started_at_us,
            duration_us: r.duration_us,
            error: r
                .error
                .as_ref()
                .map(|e| format!("{}: {}", e.name, e.message)),
            attempt: r.links.attempt,
            max_attempts: r.links.max_attempts,
            job_id: r.links.job_id.clone(),
            uncaught: r.uncaught.first().map(|u| {
                let error = format!("{}: {}", u.error.name, u.error.message);
                (error, r.uncaught.len())
            }),
        }
    }
}

/// One execution as `flux tail` streams it: its summary, its place in commit order (the
/// cursor a reconnecting client resumes after), and, for a job attempt committed while the
/// client listened, what happens to its job next (as data: the client renders it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailEvent {
    pub seq: i64,
    pub record: RecordSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enqueued_by: Option<String>,
    /// Read leniently: a transition this flux does not know (a newer server's) leaves the
    /// event without one rather than losing the event.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known_transition"
    )]
    pub next: Option<Transition>,
    /// What a search finds it by (the store's search text of its record), for the server's
    /// filter of a tail with `q=`: not sent.
    #[serde(skip)]
    pub search: Option<std::sync::Arc<str>>,
}

fn known_transition<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Transition>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(format: Option<u32>) -> Value {
        let mut record = json!({
            "id": "d5e6f7a8000000000000000000000001", "kind": "http", "function": "ping",
            "status": "ok", "started_at_us": 1, "duration_us": 2, "input": null,
            "code_version": "v",
        });
        if let Some(format) = format {
            record["format"] = json!(format);
        }
        record
    }

    #[test]
    fn a_tail_event_with_a_transition_this_flux_does_not_know_keeps_its_record() {
        let event: TailEvent = serde_json::from_value(json!({
            "seq": 3,
            "record": {
                "id": "d5e6f7a8000000000000000000000001", "kind": "job", "function": "f",
                "status": "error", "started_at_us": 1, "duration_us": 2,
            },
            "next": { "kind": "parked", "until_us": 9 },
        }))
        .expect("event");
        assert_eq!(event.seq, 3);
        assert_eq!(event.next, None);
        let known: TailEvent = serde_json::from_value(json!({
            "seq": 4,
            "record": serde_json::to_value(&event.record).expect("summary"),
            "next": { "kind": "dead" },
        }))
        .expect("event");
        assert_eq!(known.next, Some(Transition::Dead));
    }

    #[test]
    fn a_record_from_before_formats_were_numbered_is_format_1() {
        let record = ExecutionRecord::from_json(&stored(None).to_string()).expect("read");
        assert_eq!(record.format, 1);
        let written = serde_json::to_value(&record).expect("write");
        assert_eq!(written["format"], json!(RECORD_FORMAT));
    }

    #[test]
    fn a_record_of_a_newer_format_is_refused_as_newer_not_as_broken() {
        // A newer format may change any field: here `status` no longer parses.
        let mut newer = stored(Some(RECORD_FORMAT + 1));
        newer["status"] = json!({ "code": 7 });
        for error in [
            ExecutionRecord::from_json(&newer.to_string()).expect_err("newer"),
            ExecutionRecord::from_value(newer).expect_err("newer"),
        ] {
            assert!(
                matches!(error, RecordReadError::NewerFormat { found } if found == RECORD_FORMAT + 1),
                "{error}"
            );
            assert!(error.to_string().contains("newer flux"), "{error}");
        }
        let current = stored(Some(RECORD_FORMAT));
        assert!(ExecutionRecord::from_value(current).is_ok());
    }
}
