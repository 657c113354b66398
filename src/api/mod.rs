//! The bodies of the HTTP API under `/_flux/api/` and the messages of its tail websocket: one
//! definition, written by `server/` and read by `client/`, so that neither probes the other's
//! JSON for keys.
//!
//! The rows some bodies carry (jobs, queue counts, dead letters, row changes) are the storage
//! model's types, not the API's: those bodies take them as type parameters, which keeps this
//! module depending on `record` (and `token`'s scopes) alone.

mod deploy;
mod queue;
mod tail;
mod tokens;

use serde::{Deserialize, Serialize};

use crate::record::RecordSummary;

pub use deploy::{Activated, BlobHashes, MissingBlobs, NewDeploy, Rollback, StoredBlob, Versions};
pub use queue::{
    BulkReplay, BulkReplayed, Cancelled, DeadFilter, DeadLetters, EnqueuedJob, EnqueuedJobs,
    JobDetail, Jobs, NewJob, NewJobs, Paused, QueueStats, Replayed, ReplayedJob,
};
pub use tail::TailMessage;
pub use tokens::{CreatedToken, NewToken, Revoked, Rotate, Tokens};

/// Every refusal and failure: `{ "error": … }`, with what helps the caller go on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    /// The ids an ambiguous prefix matched (409).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<String>>,
    /// Routes close to one that serves nothing (404 of a function call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestions: Option<Vec<String>>,
    /// The state of a job that cannot be replayed (422).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The id of the recorded execution of a refused function call.
    #[serde(default, rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: error.into(),
            ..ErrorBody::default()
        }
    }
}

/// `GET /_flux/api/health`. Read leniently: an older flux reports less (no `project_id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    pub ok: bool,
    pub version: String,
    pub pid: u32,
    /// The project's folder.
    pub project: Option<String>,
    /// The project's id (`project::identity`); `null` while it has none.
    pub project_id: Option<String>,
    /// The store's file.
    pub store: String,
    /// What the caller's token (or session) may do: `read`, `operate`, `deploy` or `admin`
    /// (also when the server needs no token).
    pub scope: Option<String>,
}

/// `GET /_flux/api/records`: summaries, newest first, and the cursor of the next page
/// (`before=`), absent on the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Records {
    pub records: Vec<RecordSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /_flux/api/stats/minutes`: executions and failures per function and minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Minutes {
    pub minutes: Vec<Minute>,
}

/// One function's executions that started in one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Minute {
    /// The minute's start, RFC 3339.
    pub minute: String,
    #[serde(rename = "fn")]
    pub function: String,
    pub runs: u64,
    /// Errors, timeouts and interrupted executions.
    pub failures: u64,
}

/// `GET /_flux/api/records/<id>`: the record, and with `?why=1`, for a failed execution (or one
/// with an uncaught error), `flux why`'s answer in words. Generic over the record so that this module
/// names no more than it must; readers that want only the record read it as one (the extra
/// key is ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordWithWhy<R> {
    #[serde(flatten)]
    pub record: R,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// `GET /_flux/api/state/<table>`: row changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes<C> {
    pub changes: Vec<C>,
}

/// `GET /_flux/api/schema`: the app's tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema<T> {
    pub tables: Vec<T>,
}

/// `GET /_flux/api/rows/<table>?column=&value=`: whether such a row exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowExists {
    pub exists: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_error_body_has_only_what_was_said() {
        let body = ErrorBody {
            candidates: Some(vec!["d5e6".into()]),
            ..ErrorBody::new("ambiguous")
        };
        assert_eq!(
            serde_json::to_value(&body).expect("serialize"),
            json!({ "error": "ambiguous", "candidates": ["d5e6"] })
        );
        let refused = ErrorBody {
            request_id: Some("ab".into()),
            ..ErrorBody::new("too large")
        };
        assert_eq!(
            serde_json::to_value(&refused).expect("serialize"),
            json!({ "error": "too large", "requestId": "ab" })
        );
    }

    #[test]
    fn health_from_an_older_flux_reads_without_an_identity() {
        let health: Health =
            serde_json::from_value(json!({ "ok": true, "version": "0.0.1" })).expect("health");
        assert_eq!(health.project_id, None);
        let current = Health {
            project_id: None,
            ..Health::default()
        };
        // A project without an id says so with null, as it always has.
        assert_eq!(
            serde_json::to_value(&current).expect("serialize")["project_id"],
            json!(null)
        );
    }
}

/// `GET /_flux/api/emails`: the newest captured emails, newest first, without bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emails<E> {
    pub emails: Vec<E>,
}
