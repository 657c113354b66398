//! An execution's record from the request that started it and how it ended (assembled by
//! [`ExecutionRecord::assemble`]): by an engine for every execution it runs, and by the server
//! for a request it refused before the function ran.

use serde_json::json;

use super::recorder::Recorder;
use super::ExecutionRequest;
use crate::record::{flux_error, Ending, ExecutionRecord, SpanStatus, Start, Status, Traced};

impl ExecutionRequest {
    /// Its record. The root span (`recorder`'s first) ends as the execution did, after
    /// `ending.duration_us`, and so do spans still open.
    pub(super) fn record(&self, ending: Ending, recorder: &mut Recorder) -> ExecutionRecord {
        let span_status = match ending.status {
            Status::Ok => SpanStatus::Ok,
            Status::Timeout | Status::Interrupted => SpanStatus::Timeout,
            Status::Error | Status::Cancelled => SpanStatus::Error,
        };
        let spans = recorder.finish(
            ending.duration_us,
            span_status,
            ending.error.as_ref().map(|e| e.message.clone()),
        );
        let start = Start {
            id: self.id,
            kind: self.kind,
            function: self.function.name.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            input: self.recorded_input.clone(),
            links: self.links.clone(),
        };
        let traced = Traced {
            spans,
            console: std::mem::take(&mut recorder.console),
            uncaught: std::mem::take(&mut recorder.uncaught),
            dropped: std::mem::take(&mut recorder.dropped),
        };
        ExecutionRecord::assemble(start, ending, traced)
    }

    /// The record of a request refused before its function ran (a bad or too large body): a
    /// `RequestError` that took no time, the refusal's status and message as its output.
    pub fn refused_record(
        &self,
        http_status: u16,
        message: &str,
        started_at_us: i64,
        code_version: String,
    ) -> ExecutionRecord {
        let mut recorder = Recorder::new(&self.function.name, Some(self.function.module.clone()));
        let ending = Ending {
            status: Status::Error,
            http_status: Some(http_status),
            started_at_us,
            duration_us: 0,
            output: Some(json!({ "status": http_status, "body": { "error": message } })),
            error: Some(flux_error("RequestError", message.to_string())),
            code_version,
            mutations: Vec::new(),
        };
        self.record(ending, &mut recorder)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::recorder::Recorder;
    use crate::project::FunctionFile;
    use crate::record::Ending;
    use crate::record::{ExecId, Kind, Links, SpanKind, SpanStatus, Status};
    use crate::runtime::ExecutionRequest;

    fn request() -> ExecutionRequest {
        ExecutionRequest {
            id: ExecId::random(),
            kind: Kind::Http,
            function: FunctionFile {
                name: "create_user".into(),
                module: "create_user.ts".into(),
                path: "functions/create_user.ts".into(),
                modified: None,
                len: 0,
            },
            input: json!({ "body": "the handler's view" }),
            recorded_input: json!({ "body": "the record's view" }),
            method: Some("POST".into()),
            path: Some("/create_user".into()),
            timeout: Duration::from_secs(30),
            links: Links::default(),
            job: None,
        }
    }

    #[test]
    fn a_refused_request_is_an_error_that_took_no_time() {
        let request = request();
        let record = request.refused_record(413, "too large", 1_000, "v1".into());
        assert_eq!(record.id, request.id);
        assert_eq!(record.kind, Kind::Http);
        assert_eq!(record.function, "create_user");
        assert_eq!(record.method.as_deref(), Some("POST"));
        assert_eq!(record.path.as_deref(), Some("/create_user"));
        assert_eq!(record.status, Status::Error);
        assert_eq!(record.http_status, Some(413));
        assert_eq!((record.started_at_us, record.duration_us), (1_000, 0));
        assert_eq!(record.input, json!({ "body": "the record's view" }));
        assert_eq!(
            record.output,
            Some(json!({ "status": 413, "body": { "error": "too large" } }))
        );
        let error = record.error.expect("an error");
        assert_eq!(
            (error.name.as_str(), error.message.as_str()),
            ("RequestError", "too large")
        );
        assert_eq!(record.code_version, "v1");
        assert_eq!(record.spans.len(), 1);
        let root = &record.spans[0];
        assert_eq!(root.name, SpanKind::Function("create_user".into()));
        assert_eq!(root.location.as_deref(), Some("create_user.ts"));
        assert_eq!((root.start_us, root.duration_us), (0, 0));
        assert_eq!(root.status, SpanStatus::Error);
        assert_eq!(root.error.as_deref(), Some("too large"));
        assert!(record.console.is_empty() && record.mutations.is_empty());
        assert!(record.dropped.is_none());
    }

    #[test]
    fn the_root_span_and_open_spans_end_with_the_execution() {
        let request = request();
        let mut recorder = Recorder::new("create_user", None);
        let open = recorder.open("fetch".into(), None, Default::default());
        let ending = Ending {
            status: Status::Timeout,
            http_status: Some(504),
            started_at_us: 5,
            duration_us: 7_000_000,
            output: None,
            error: Some(crate::record::flux_error(
                "TimeoutError",
                "timed out".into(),
            )),
            code_version: "v2".into(),
            mutations: Vec::new(),
        };
        let record = request.record(ending, &mut recorder);
        assert_eq!(record.duration_us, 7_000_000);
        let root = &record.spans[0];
        assert_eq!(root.duration_us, record.duration_us);
        assert_eq!(root.status, SpanStatus::Timeout);
        assert_eq!(root.error.as_deref(), Some("timed out"));
        let pending = &record.spans[open as usize];
        assert_eq!(pending.status, SpanStatus::Pending);
        assert_eq!(pending.start_us + pending.duration_us, 7_000_000);
        assert_eq!(record.input, request.recorded_input);
    }
}
