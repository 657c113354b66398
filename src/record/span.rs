//! Spans: the timed steps of one execution (its handler, each statement, fetch, enqueue, …),
//! what kind each is and the attributes each kind carries.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatus {
    Ok,
    Error,
    Timeout,
    /// Still open when the execution ended (e.g. a pending `await` at a timeout).
    Pending,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Index in `ExecutionRecord::spans`; the root span is 0.
    pub id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<u32>,
    /// What the span is, stored as its name: `db.insert(users)`, `db.query`, `fetch`, …; the
    /// root span is named after the function.
    pub name: SpanKind,
    /// Microseconds since the execution started.
    pub start_us: u64,
    pub duration_us: u64,
    pub status: SpanStatus,
    /// `file.ts:line` of the call in the user's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Kind-specific details, keyed by the names in [`attr`]: SQL, params, row count, URL, …
    #[serde(default)]
    pub attrs: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Span {
    /// The text attribute `key` (one of [`attr`]).
    pub fn str_attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).and_then(Value::as_str)
    }

    /// The unsigned integer attribute `key` (one of [`attr`]).
    pub fn u64_attr(&self, key: &str) -> Option<u64> {
        self.attrs.get(key).and_then(Value::as_u64)
    }
}

/// What a span recorded. Stored (and shown) as its name, the strings records have always
/// held, so that records written by earlier versions read back as the same kinds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// `db.query`: a statement run by `ctx.db.query`.
    DbQuery,
    /// `db.insert(<table>)`: the statement `ctx.db.insert` built.
    DbInsert { table: String },
    /// `db.transaction`: a `ctx.db.transaction`; the statements inside are its children.
    DbTransaction,
    /// `queue.enqueue(<job>)`: a job enqueued with `ctx.queue.enqueue`.
    QueueEnqueue { job: String },
    /// `email.send`: an email captured by `ctx.email.send`.
    EmailSend,
    /// `fetch`: an outgoing HTTP request.
    Fetch,
    /// The execution's root span, named after its function. A name no kind above claims
    /// reads back as this too.
    Function(String),
}

const DB_QUERY: &str = "db.query";
const DB_TRANSACTION: &str = "db.transaction";
const EMAIL_SEND: &str = "email.send";
const FETCH: &str = "fetch";
const DB_INSERT: &str = "db.insert";
const QUEUE_ENQUEUE: &str = "queue.enqueue";

impl SpanKind {
    /// The kind a stored name stands for.
    pub fn parse(name: &str) -> SpanKind {
        match name {
            DB_QUERY => return SpanKind::DbQuery,
            DB_TRANSACTION => return SpanKind::DbTransaction,
            EMAIL_SEND => return SpanKind::EmailSend,
            FETCH => return SpanKind::Fetch,
            _ => {}
        }
        // `db.insert(users)`, `queue.enqueue(send_email)`: the argument is a name of its own.
        let call = name.strip_suffix(')').and_then(|rest| rest.split_once('('));
        match call {
            Some((DB_INSERT, table)) => SpanKind::DbInsert {
                table: table.to_string(),
            },
            Some((QUEUE_ENQUEUE, job)) => SpanKind::QueueEnqueue {
                job: job.to_string(),
            },
            _ => SpanKind::Function(name.to_string()),
        }
    }
}

impl fmt::Display for SpanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpanKind::DbQuery => f.write_str(DB_QUERY),
            SpanKind::DbInsert { table } => write!(f, "{DB_INSERT}({table})"),
            SpanKind::DbTransaction => f.write_str(DB_TRANSACTION),
            SpanKind::QueueEnqueue { job } => write!(f, "{QUEUE_ENQUEUE}({job})"),
            SpanKind::EmailSend => f.write_str(EMAIL_SEND),
            SpanKind::Fetch => f.write_str(FETCH),
            SpanKind::Function(name) => f.write_str(name),
        }
    }
}

impl From<&str> for SpanKind {
    fn from(name: &str) -> SpanKind {
        SpanKind::parse(name)
    }
}

impl Serialize for SpanKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpanKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SpanKind, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(SpanKind::parse(&name))
    }
}

/// The keys of [`Span::attrs`], by the kinds that write them.
pub mod attr {
    /// `db.query`, `db.insert(…)`: the statement, its parameters, the rows it returned and
    /// (when it changed any) how many rows it changed.
    pub const SQL: &str = "sql";
    pub const PARAMS: &str = "params";
    pub const ROWS: &str = "rows";
    pub const CHANGES: &str = "changes";
    /// `db.query`: the primary keys of the rows it returned (the first 20), when they are
    /// rows of one table that has a single-column key.
    pub const KEYS: &str = "keys";

    /// `db.transaction`: `committed` or `rolled back`.
    pub const OUTCOME: &str = "outcome";

    /// `queue.enqueue(…)`: the worker and data given, the job's id, whether an idempotency key
    /// made it a duplicate, and the transaction span it was enqueued in.
    pub const JOB: &str = "job";
    pub const DATA: &str = "data";
    pub const JOB_ID: &str = "job_id";
    pub const DUPLICATE: &str = "duplicate";
    pub const TRANSACTION: &str = "transaction";

    /// `email.send`: the recipient, the template, the subject sent and the captured email's
    /// number (`flux email show <n>`).
    pub const TO: &str = "to";
    pub const TEMPLATE: &str = "template";
    pub const SUBJECT: &str = "subject";
    pub const EMAIL_ID: &str = "email_id";

    /// `fetch`: the request, the response's HTTP status and content type, the start of its
    /// body when it was an error or not JSON (text only: what `why` quotes), or why it was
    /// aborted.
    pub const METHOD: &str = "method";
    pub const URL: &str = "url";
    pub const STATUS: &str = "status";
    pub const CONTENT_TYPE: &str = "content_type";
    pub const BODY: &str = "body";
    pub const ABORTED: &str = "aborted";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_from_the_names_records_hold() {
        let names = [
            ("db.query", SpanKind::DbQuery),
            ("db.transaction", SpanKind::DbTransaction),
            ("email.send", SpanKind::EmailSend),
            ("fetch", SpanKind::Fetch),
            (
                "db.insert(users)",
                SpanKind::DbInsert {
                    table: "users".into(),
                },
            ),
            (
                "queue.enqueue(send_welcome_email)",
                SpanKind::QueueEnqueue {
                    job: "send_welcome_email".into(),
                },
            ),
            ("billing/index", SpanKind::Function("billing/index".into())),
            ("db.insert", SpanKind::Function("db.insert".into())),
            (
                "db.drop(users)",
                SpanKind::Function("db.drop(users)".into()),
            ),
        ];
        for (name, kind) in names {
            assert_eq!(SpanKind::parse(name), kind, "{name}");
            assert_eq!(kind.to_string(), name);
            let json = serde_json::to_value(&kind).expect("a kind serializes");
            assert_eq!(json, Value::String(name.into()));
            let back: SpanKind = serde_json::from_value(json).expect("a name deserializes");
            assert_eq!(back, kind);
        }
    }

    #[test]
    fn a_span_keeps_its_stored_form() {
        let stored = serde_json::json!({
            "id": 1, "parent": 0, "name": "db.insert(users)", "start_us": 3, "duration_us": 2,
            "status": "ok", "attrs": { "sql": "INSERT …", "rows": 1 },
        });
        let span: Span = serde_json::from_value(stored.clone()).expect("a stored span reads");
        assert_eq!(
            span.name,
            SpanKind::DbInsert {
                table: "users".into()
            }
        );
        assert_eq!(span.str_attr(attr::SQL), Some("INSERT …"));
        assert_eq!(span.u64_attr(attr::ROWS), Some(1));
        assert_eq!(serde_json::to_value(&span).expect("a span writes"), stored);
    }
}
