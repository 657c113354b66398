//! An execution's record, assembled in one place: from what started it and how it ended. The
//! engines build every record this way (the server's refusals through them), and so does the
//! queue for an attempt a killed `flux dev` cut short.

use serde_json::Value;

use super::{
    ConsoleLine, Dropped, ErrorInfo, ExecId, ExecutionRecord, Kind, Links, Mutation, Span, Status,
    Uncaught, RECORD_FORMAT,
};

/// What an execution's record says from its start: who ran, with what input, linked to what.
#[derive(Debug, Clone)]
pub struct Start {
    pub id: ExecId,
    pub kind: Kind,
    pub function: String,
    pub method: Option<String>,
    pub path: Option<String>,
    pub input: Value,
    pub links: Links,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Ending {
    pub status: Status,
    pub http_status: Option<u16>,
    pub started_at_us: i64,
    pub duration_us: u64,
    pub output: Option<Value>,
    pub error: Option<ErrorInfo>,
    pub code_version: String,
    pub mutations: Vec<Mutation>,
}

/// What was traced while it ran.
#[derive(Debug, Clone, Default)]
pub struct Traced {
    pub spans: Vec<Span>,
    pub console: Vec<ConsoleLine>,
    pub uncaught: Vec<Uncaught>,
    pub dropped: Dropped,
}

/// An error raised by flux rather than thrown by the function: a name and a message.
pub fn flux_error(name: &str, message: String) -> ErrorInfo {
    ErrorInfo {
        name: name.into(),
        message,
        stack: None,
        location: None,
        frames: Vec::new(),
        source: Vec::new(),
    }
}

impl ExecutionRecord {
    /// The record of an execution that started as `start`, ended as `ending` and traced
    /// `traced`, in this flux's record format.
    pub fn assemble(start: Start, ending: Ending, traced: Traced) -> ExecutionRecord {
        ExecutionRecord {
            format: RECORD_FORMAT,
            id: start.id,
            kind: start.kind,
            function: start.function,
            method: start.method,
            path: start.path,
            status: ending.status,
            http_status: ending.http_status,
            started_at_us: ending.started_at_us,
            duration_us: ending.duration_us,
            input: start.input,
            output: ending.output,
            error: ending.error,
            console: traced.console,
            uncaught: traced.uncaught,
            code_version: ending.code_version,
            spans: traced.spans,
            mutations: ending.mutations,
            links: start.links,
            dropped: (!traced.dropped.is_empty()).then_some(traced.dropped),
        }
    }
}

/// A finished record for tests: `function` ran as `kind` and ended with `status`, 50 µs long,
/// with no input, output, spans or links; struct-update the fields a test cares about.
#[cfg(test)]
pub(crate) fn sample(kind: Kind, function: &str, status: Status) -> ExecutionRecord {
    let start = Start {
        id: ExecId::random(),
        kind,
        function: function.into(),
        method: None,
        path: None,
        input: Value::Object(Default::default()),
        links: Links::default(),
    };
    let ending = Ending {
        status,
        http_status: None,
        started_at_us: 1_000_000,
        duration_us: 50,
        output: None,
        error: None,
        code_version: "v".into(),
        mutations: Vec::new(),
    };
    ExecutionRecord::assemble(start, ending, Traced::default())
}
