//! Root-cause analysis over execution records. Each rule is a small function that looks at a
//! failed record (and the records around it) and either explains the failure or passes; the
//! first rule that explains it wins, the thrown error itself being the last resort.

mod code;
mod upstream;

use serde::Serialize;
use serde_json::Value;

use crate::record::{
    attr, inspect, ExecutionRecord, Kind, MutationOp, Span, SpanKind, SpanStatus, Status,
};

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

/// The records around the one being explained.
#[derive(Debug, Default)]
pub struct Related {
    /// The execution that enqueued this job.
    pub enqueued_by: Option<ExecutionRecord>,
    /// For a uniqueness violation: the execution that wrote the value already there, and its
    /// function.
    pub conflicting_writer: Option<(String, Option<String>)>,
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

/// For a failed `UNIQUE constraint failed: users.email`: the table, the column and the value
/// the statement tried to write, so the row already holding it can be looked up.
pub fn unique_conflict(record: &ExecutionRecord) -> Option<(String, String, Value)> {
    let span = record
        .spans
        .iter()
        .find(|s| s.parent.is_some() && s.status == SpanStatus::Error)?;
    let error = span.error.as_deref()?;
    let target = error
        .strip_prefix("UNIQUE constraint failed: ")?
        .split(',')
        .next()?
        .trim();
    let (table, column) = target.split_once('.')?;
    let sql = span.str_attr(attr::SQL)?;
    let params = span.attrs.get(attr::PARAMS).and_then(Value::as_array)?;
    // ctx.db.insert writes `("a", "b") VALUES ($1, $2)`: the column's place is its parameter.
    let columns = sql.split_once('(')?.1.split_once(')')?.0;
    let position = columns
        .split(',')
        .position(|c| c.trim().trim_matches('"') == column)?;
    Some((
        table.to_string(),
        column.to_string(),
        params.get(position)?.clone(),
    ))
}

type Rule = fn(&ExecutionRecord, &Related) -> Option<Finding>;

/// In order: the most specific explanation first.
const RULES: [Rule; 10] = [
    row_not_found,
    constraint_violation,
    upstream::not_json,
    upstream::upstream_error,
    timed_out,
    code::missing_module,
    code::missing_export,
    code::non_error_thrown,
    upstream::returned_5xx,
    thrown_error,
];

/// Explains a failed execution; `None` for one that succeeded.
pub fn explain(record: &ExecutionRecord, related: &Related) -> Option<Finding> {
    if record.status == Status::Ok {
        return None;
    }
    RULES.iter().find_map(|rule| rule(record, related))
}

/// `SELECT … FROM <table> WHERE <column> = $n`: a lookup of one row by a key.
fn key_lookup(sql: &str) -> Option<(String, String, usize)> {
    let pattern = regex::Regex::new(
        r#"(?is)^\s*select\b.*?\bfrom\s+"?(\w+)"?\s+where\s+"?(\w+)"?\s*=\s*\$(\d+)\s*(limit\s+1\s*)?;?\s*$"#,
    )
    .ok()?;
    let captures = pattern.captures(sql)?;
    Some((
        captures[1].to_string(),
        captures[2].to_string(),
        captures[3].parse().ok()?,
    ))
}

/// `users` → `user`, for suggestions that name one row.
fn singular(table: &str) -> &str {
    table
        .strip_suffix('s')
        .filter(|s| !s.is_empty())
        .unwrap_or(table)
}

/// A query for one row by key found nothing, and the execution then failed.
fn row_not_found(record: &ExecutionRecord, related: &Related) -> Option<Finding> {
    let (span, table, column, value) = record.spans.iter().find_map(|span| {
        if span.name != SpanKind::DbQuery || span.status != SpanStatus::Ok {
            return None;
        }
        if span.u64_attr(attr::ROWS) != Some(0) {
            return None;
        }
        let sql = span.str_attr(attr::SQL)?;
        let (table, column, n) = key_lookup(sql)?;
        let value = span
            .attrs
            .get(attr::PARAMS)?
            .get(n.checked_sub(1)?)?
            .clone();
        Some((span, table, column, value))
    })?;
    let suggestion = (record.kind == Kind::Job)
        .then(|| row_not_found_suggestion(record, span, &table, &value, related));
    Some(Finding {
        cause: "row-not-found",
        root_cause: format!(
            "Row not found: {table} WHERE {column} = {}",
            inspect(&value)
        ),
        location: span.location.clone(),
        call_chain: Vec::new(),
        blamed: None,
        suggestion,
    })
}

fn row_not_found_suggestion(
    record: &ExecutionRecord,
    span: &Span,
    table: &str,
    key: &Value,
    related: &Related,
) -> String {
    let seed = format!(
        "→ Check that {} row is committed before enqueueing job\n(consider using AFTER INSERT trigger or transactional enqueue)",
        singular(table)
    );
    let Some(enqueuer) = &related.enqueued_by else {
        return seed;
    };
    let insert = enqueuer
        .mutations
        .iter()
        .find(|m| m.table == table && m.op == MutationOp::Insert && &m.pk == key);
    let who = format!("req:{}", enqueuer.id.short());
    match insert {
        Some(m) if !m.committed => format!(
            "→ {who}, which enqueued this job, inserted the {} row but rolled it back\n(enqueue inside the same ctx.db.transaction, so the job exists only if the row does)",
            singular(table)
        ),
        Some(m) => {
            let inserted_at = enqueuer.started_at_us + m.at_us as i64;
            let read_at = record.started_at_us + span.start_us as i64;
            if inserted_at > read_at {
                format!("→ {who} inserted the {} row after this job read it: commit it before enqueueing\n(consider using AFTER INSERT trigger or transactional enqueue)", singular(table))
            } else {
                seed
            }
        }
        None => seed,
    }
}

/// A statement failed on a constraint.
fn constraint_violation(record: &ExecutionRecord, related: &Related) -> Option<Finding> {
    let span = record.spans.iter().find(|s| {
        s.parent.is_some()
            && s.status == SpanStatus::Error
            && s.error
                .as_deref()
                .is_some_and(|e| e.contains("constraint failed"))
    })?;
    Some(Finding {
        cause: "constraint-violation",
        root_cause: format!(
            "Constraint violation: {}",
            span.error.as_deref().unwrap_or("")
        ),
        location: span.location.clone(),
        call_chain: Vec::new(),
        blamed: None,
        suggestion: Some(match (&related.conflicting_writer, unique_conflict(record)) {
            (Some((id, function)), Some((table, column, value))) => format!(
                "→ req:{} ({}) already wrote {table}.{column} = {}: look for an existing row first, or use INSERT … ON CONFLICT",
                &id[..id.len().min(8)],
                function.as_deref().unwrap_or("?"),
                inspect(&value)
            ),
            _ => "→ Another write already holds this value: look the row up with 'flux state history'".into(),
        }),
    })
}

/// The execution ran out of time; names what it was waiting on.
fn timed_out(record: &ExecutionRecord, _: &Related) -> Option<Finding> {
    if record.status != Status::Timeout {
        return None;
    }
    // A span that timed out is a SQL statement stopped at the deadline.
    let pending = record.spans.iter().find(|s| {
        s.parent.is_some() && matches!(s.status, SpanStatus::Pending | SpanStatus::Timeout)
    });
    let message = record
        .error
        .as_ref()
        .map_or_else(|| "timed out".to_string(), |e| e.message.clone());
    Some(Finding {
        cause: "timeout",
        root_cause: format!("Timeout: {message}"),
        location: pending.and_then(|s| s.location.clone()),
        call_chain: Vec::new(),
        blamed: None,
        suggestion: Some(match pending {
            Some(span) if span.status == SpanStatus::Timeout => format!("→ {} was still running at the deadline: make the query cheaper (an index, a LIMIT), or raise the function's timeout", span.name),
            Some(span) => format!("→ {} never finished: give it a timeout of its own, or raise the function's timeout", span.name),
            None => "→ The code was busy or awaited something that never settles: check loops and unresolved promises".into(),
        }),
    })
}

/// The error that ended the execution, where it was thrown.
fn thrown_error(record: &ExecutionRecord, _: &Related) -> Option<Finding> {
    let error = record.error.as_ref()?;
    Some(Finding {
        cause: "error",
        root_cause: format!("{}: {}", error.name, error.message),
        location: error.location.clone(),
        call_chain: Vec::new(),
        blamed: None,
        suggestion: None,
    })
}

#[cfg(test)]
mod tests;
