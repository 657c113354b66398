//! `flux trace`: a record as a header, a span tree, its data changes, console and error.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::width::{max_width, pad_left, pad_right};
use super::{escape, escape_block_line, escaped_lines, inspect, Style};
use crate::record::{
    attr, short_text, ExecutionRecord, Kind, Mutation, MutationOp, RecordSummary, Span, SpanKind,
    SpanStatus, Status, UncaughtOrigin,
};
use crate::timefmt::{rfc3339, short_duration};

fn header(record: &ExecutionRecord, style: Style) -> String {
    let ok = record.status == Status::Ok;
    let outcome = match record.kind {
        Kind::Http => record
            .http_status
            .map_or_else(|| record.status.as_str().to_string(), |s| s.to_string()),
        Kind::Job if ok => "done".to_string(),
        Kind::Job => record.status.as_str().to_string(),
    };
    let outcome = if ok {
        style.green(&outcome)
    } else {
        style.red(&outcome)
    };
    let what = match record.kind {
        Kind::Http => format!(
            "{} {}",
            escape(record.method.as_deref().unwrap_or("?")),
            escape(record.path.as_deref().unwrap_or("/"))
        ),
        Kind::Job => format!("JOB {}", escape(&record.function)),
    };
    let mut line = format!(
        "{} {outcome} {} {}  {}",
        style.bold(&what),
        short_duration(record.duration_us),
        style.dim(&format!("req:{}", record.id.short())),
        style.dim(&rfc3339(record.started_at_us)),
    );
    if let (Some(attempt), Some(max)) = (record.links.attempt, record.links.max_attempts) {
        line.push_str(&format!("  attempt {attempt}/{max}"));
    }
    line
}

/// Children of each span, in start order.
fn children(spans: &[Span]) -> Vec<Vec<usize>> {
    let mut children = vec![Vec::new(); spans.len()];
    for (i, span) in spans.iter().enumerate() {
        if let Some(parent) = span.parent {
            if let Some(list) = children.get_mut(parent as usize) {
                list.push(i);
            }
        }
    }
    children
}

struct Line {
    label: String,
    duration: String,
    status: SpanStatus,
    marker: bool,
    details: Vec<String>,
    continuation: String,
}

/// What other records say about this one: the fate of the jobs it enqueued, and for a job
/// attempt, the execution that enqueued it and every attempt of its job.
#[derive(Debug, Default)]
pub struct TraceContext {
    /// Job id → (state, attempts made).
    pub jobs: HashMap<String, (String, u32)>,
    pub enqueued_by: Option<RecordSummary>,
    pub attempts: Vec<RecordSummary>,
}

fn span_details(span: &Span, verbose: bool) -> Vec<String> {
    let mut details = Vec::new();
    let attrs: &Map<String, Value> = &span.attrs;
    if verbose {
        for (key, value) in attrs {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => inspect(other),
            };
            details.push(format!("{key}: {shown}"));
        }
    } else if let Some(Value::String(sql)) = attrs.get(attr::SQL) {
        if span.name == SpanKind::DbQuery {
            let plural = |n: &Value| if n == 1 { "" } else { "s" };
            let outcome = match (attrs.get(attr::CHANGES), attrs.get(attr::ROWS)) {
                (Some(changes), _) => format!(" → {changes} row{} changed", plural(changes)),
                (None, Some(rows)) => format!(" → {rows} row{}", plural(rows)),
                _ => String::new(),
            };
            details.push(format!("{sql}{outcome}"));
        }
    }
    if span.name == SpanKind::Fetch && !verbose {
        let method = span.str_attr(attr::METHOD).unwrap_or("GET");
        let url = span.str_attr(attr::URL).unwrap_or("");
        let status = attrs
            .get(attr::STATUS)
            .map(|s| format!(" → {s}"))
            .unwrap_or_default();
        details.push(format!("{method} {url}{status}"));
    }
    if span.name == SpanKind::EmailSend && !verbose {
        let to = span.str_attr(attr::TO).unwrap_or("?");
        let subject = span
            .str_attr(attr::SUBJECT)
            .map(|s| format!(": '{s}'"))
            .unwrap_or_default();
        let show = span
            .u64_attr(attr::EMAIL_ID)
            .map(|id| format!(" (flux email show {id})"))
            .unwrap_or_default();
        details.push(format!("to {to}{subject}{show}"));
    }
    if span.status == SpanStatus::Pending {
        details.push("still pending when the execution ended".into());
    }
    if let Some(error) = &span.error {
        if span.parent.is_some() {
            details.push(error.clone());
        }
    }
    details
}

/// What every level of the span-tree walk shares.
struct Walk<'a> {
    record: &'a ExecutionRecord,
    context: &'a TraceContext,
    tree: Vec<Vec<usize>>,
    failing: Option<u32>,
    verbose: bool,
}

impl Walk<'_> {
    /// `→ job 1a2b3c4d: 3 attempts, dead` on a span that enqueued a job; what did not happen
    /// is said too: a duplicate of a job already enqueued, an enqueue rolled back with its
    /// transaction.
    fn hand_off(&self, span: &Span) -> String {
        let Some(job) = span.str_attr(attr::JOB_ID) else {
            return String::new();
        };
        let short = escape(short_text(job));
        if span.attrs.get(attr::DUPLICATE) == Some(&Value::Bool(true)) {
            return format!(" → job {short} (already enqueued)");
        }
        let rolled_back = span
            .attrs
            .get(attr::TRANSACTION)
            .and_then(Value::as_u64)
            .and_then(|id| self.record.spans.iter().find(|s| u64::from(s.id) == id))
            .is_some_and(|tx| tx.str_attr(attr::OUTCOME) == Some("rolled back"));
        if rolled_back {
            return format!(" → job {short} (rolled back, never ran)");
        }
        match self.context.jobs.get(job) {
            Some((state, attempts)) => {
                let plural = if *attempts == 1 { "" } else { "s" };
                format!(" → job {short}: {attempts} attempt{plural}, {state}")
            }
            None => format!(" → job {short}"),
        }
    }

    fn walk(&self, index: usize, prefix: &str, last: bool, out: &mut Vec<Line>) {
        let span = &self.record.spans[index];
        let (branch, continuation) = if span.parent.is_none() {
            (String::new(), String::new())
        } else if last {
            (format!("{prefix}└─ "), format!("{prefix}   "))
        } else {
            (format!("{prefix}├─ "), format!("{prefix}│  "))
        };
        let location = span
            .location
            .as_deref()
            .map(|l| format!("  {}", escape(l)))
            .unwrap_or_default();
        out.push(Line {
            label: format!(
                "{branch}{}{}{location}",
                escape(&span.name.to_string()),
                self.hand_off(span)
            ),
            duration: short_duration(span.duration_us),
            status: span.status,
            marker: self.failing == Some(span.id),
            details: span_details(span, self.verbose),
            continuation: continuation.clone(),
        });
        let kids = &self.tree[index];
        for (n, &child) in kids.iter().enumerate() {
            self.walk(child, &continuation, n + 1 == kids.len(), out);
        }
    }
}

fn change_lines(mutation: &Mutation) -> Vec<(String, String)> {
    let empty = Map::new();
    let before = mutation.before.as_ref().unwrap_or(&empty);
    let after = mutation.after.as_ref().unwrap_or(&empty);
    let mut columns: Vec<&String> = after.keys().collect();
    for key in before.keys() {
        if !after.contains_key(key) {
            columns.push(key);
        }
    }
    columns
        .into_iter()
        .filter_map(|column| {
            let old = before.get(column);
            let new = after.get(column);
            if mutation.op == MutationOp::Update && old == new {
                return None;
            }
            let show = |v: Option<&Value>| v.map_or("∅".to_string(), inspect);
            Some((
                escape(column).into_owned(),
                format!("{} → {}", show(old), show(new)),
            ))
        })
        .collect()
}

pub fn render_mutations(mutations: &[Mutation], style: Style) -> Vec<String> {
    let mut lines = Vec::new();
    for m in mutations {
        let pk = match &m.pk {
            Value::String(s) => escape(s).into_owned(),
            other => escape(&other.to_string()).into_owned(),
        };
        let fate = if m.committed {
            String::new()
        } else {
            format!(" {}", style.yellow("(rolled back)"))
        };
        lines.push(format!(
            "  {} {} {}{fate}",
            escape(&m.table),
            pk,
            m.op.as_str()
        ));
        let changes = change_lines(m);
        let width = max_width(changes.iter().map(|(c, _)| c.as_str()));
        for (column, change) in changes {
            lines.push(format!("    {}  {change}", pad_right(&column, width)));
        }
    }
    lines
}

/// The whole record, for a terminal; `verbose` adds every span's inputs and outputs.
pub fn render_trace(
    record: &ExecutionRecord,
    context: &TraceContext,
    verbose: bool,
    style: Style,
) -> String {
    let mut out = vec![header(record, style)];
    if !record.spans.is_empty() {
        let walk = Walk {
            record,
            context,
            tree: children(&record.spans),
            failing: record.failing_span().map(|s| s.id),
            verbose,
        };
        let mut lines = Vec::new();
        walk.walk(0, "", true, &mut lines);
        let width = max_width(lines.iter().map(|l| l.label.as_str()));
        let duration_width = max_width(lines.iter().map(|l| l.duration.as_str()));
        for line in lines {
            let duration = pad_left(&line.duration, duration_width);
            let mut text = format!("{}  {duration}", pad_right(&line.label, width));
            match line.status {
                SpanStatus::Error | SpanStatus::Timeout if line.marker => {
                    text = format!("{text}  {}", style.red("← error here"));
                }
                SpanStatus::Error => text = format!("{text}  {}", style.red("error")),
                SpanStatus::Timeout => text = format!("{text}  {}", style.red("timeout")),
                SpanStatus::Pending => text = format!("{text}  {}", style.yellow("pending")),
                SpanStatus::Ok => {}
            }
            out.push(text);
            for detail in line.details {
                for detail_line in escaped_lines(&detail) {
                    out.push(format!(
                        "{}   {}",
                        line.continuation,
                        style.dim(&detail_line)
                    ));
                }
            }
        }
    }
    let dropped = record.dropped.clone().unwrap_or_default();
    if dropped.spans > 0 {
        out.push(style.yellow(&format!(
            "… {} more spans not recorded (an execution keeps its first {})",
            dropped.spans,
            record.spans.len()
        )));
    }
    if let Some(enqueuer) = &context.enqueued_by {
        out.push(String::new());
        out.push(format!(
            "{} {}",
            style.bold("ENQUEUED BY"),
            super::record_line(enqueuer, style)
        ));
    }
    if context.attempts.len() > 1 || (record.kind == Kind::Job && !context.attempts.is_empty()) {
        out.push(style.bold("ATTEMPTS"));
        for attempt in &context.attempts {
            let this = if attempt.id == record.id {
                "  ← this one"
            } else {
                ""
            };
            let error = attempt
                .error
                .as_deref()
                .map(|e| format!("  {}", escape(e)))
                .unwrap_or_default();
            out.push(format!(
                "  {}{error}{this}",
                super::record_line(attempt, style)
            ));
        }
    }
    if !record.mutations.is_empty() {
        out.push(String::new());
        out.push(style.bold("DATA CHANGES"));
        out.extend(render_mutations(&record.mutations, style));
    }
    if !record.console.is_empty() || dropped.console_lines > 0 {
        out.push(String::new());
        out.push(style.bold("CONSOLE"));
        for line in &record.console {
            let at = short_duration(line.at_us);
            for (i, text) in escaped_lines(&line.message).enumerate() {
                if i == 0 {
                    out.push(format!("  +{at} {:<5} {text}", escape(&line.level)));
                } else {
                    out.push(format!("  {text}"));
                }
            }
        }
        if dropped.console_lines > 0 || dropped.console_bytes > 0 {
            out.push(style.yellow(&format!(
                "  … {} more console lines not recorded ({} bytes left out in all: an execution's console output is capped)",
                dropped.console_lines, dropped.console_bytes
            )));
        }
    }
    if !record.uncaught.is_empty() {
        out.push(String::new());
        out.push(style.bold("UNCAUGHT"));
        for uncaught in &record.uncaught {
            let origin = match uncaught.origin {
                UncaughtOrigin::Timer => "in a timer",
                UncaughtOrigin::Rejection => "unhandled rejection",
                UncaughtOrigin::Microtask => "in a microtask",
            };
            let after = if uncaught.after_end {
                ", after the function returned"
            } else {
                ""
            };
            let error = &uncaught.error;
            let first = escaped_lines(&error.message).next().unwrap_or_default();
            out.push(format!(
                "  +{} {}",
                short_duration(uncaught.at_us),
                style.red(&format!(
                    "{}: {first} ({origin}{after})",
                    escape(&error.name)
                ))
            ));
            let chain = crate::why::call_chain(error);
            if !chain.is_empty() {
                out.extend(chain.iter().map(|call| format!("    at {}", escape(call))));
            } else if let Some(location) = &error.location {
                out.push(format!("    at {}", escape(location)));
            }
        }
    }
    if let Some(error) = &record.error {
        out.push(String::new());
        out.push(style.bold("ERROR"));
        // A message of several lines keeps its shape, each line indented under the first.
        let mut message = escaped_lines(&error.message);
        let first = message.next().unwrap_or_default();
        out.push(format!(
            "  {}",
            style.red(&format!("{}: {first}", escape(&error.name)))
        ));
        for more in message {
            out.push(format!("  {}", style.red(&more)));
        }
        // The call chain when it says more than the location.
        let chain = crate::why::call_chain(error);
        if !chain.is_empty() {
            out.extend(chain.iter().map(|call| format!("  at {}", escape(call))));
        } else if let Some(location) = &error.location {
            out.push(format!("  at {}", escape(location)));
        }
        if verbose {
            if let Some(stack) = &error.stack {
                for line in stack.lines() {
                    out.push(format!("  {}", style.dim(&escape_block_line(line.trim()))));
                }
            }
        }
    }
    if verbose {
        out.push(String::new());
        out.push(style.bold("INPUT"));
        out.push(format!("  {}", inspect(&record.input)));
        if let Some(output) = &record.output {
            out.push(style.bold("OUTPUT"));
            out.push(format!("  {}", inspect(output)));
        }
        out.push(format!(
            "{} {}",
            style.bold("CODE VERSION"),
            record.code_version
        ));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A window-title change, a screen clear, a carriage return, a C1 CSI and a bidi override.
    const EVIL: &str = "\u{1b}]0;x\u{7}\u{1b}[2J\r\u{9b}1m\u{202e}";

    #[test]
    fn no_recorded_field_reaches_the_terminal_raw() {
        let record: ExecutionRecord = serde_json::from_value(json!({
            "id": "0123456789abcdef0123456789abcdef",
            "kind": "http",
            "function": format!("fn{EVIL}"),
            "method": format!("GET{EVIL}"),
            "path": format!("/p{EVIL}"),
            "status": "error",
            "http_status": 500,
            "started_at_us": 0,
            "duration_us": 10,
            "input": { format!("k{EVIL}"): [EVIL, { "v": EVIL }] },
            "output": { "status": 500, "body": EVIL },
            "error": {
                "name": format!("Error{EVIL}"),
                "message": format!("one{EVIL}\ntwo{EVIL}"),
                "stack": format!("at a{EVIL}\n\tat b{EVIL}"),
                "location": format!("f.ts{EVIL}:1"),
            },
            "console": [{ "level": format!("log{EVIL}"), "message": format!("a{EVIL}\nb{EVIL}"), "at_us": 1 }],
            "code_version": "abc",
            "spans": [
                { "id": 0, "name": format!("root{EVIL}"), "start_us": 0, "duration_us": 10, "status": "error",
                  "location": format!("f.ts{EVIL}:1") },
                { "id": 1, "parent": 0, "name": "fetch", "start_us": 1, "duration_us": 2, "status": "error",
                  "attrs": { "method": EVIL, "url": format!("http://x/{EVIL}"), "status": EVIL },
                  "error": format!("failed{EVIL}") },
                { "id": 2, "parent": 0, "name": "db.query", "start_us": 3, "duration_us": 2, "status": "ok",
                  "attrs": { "sql": format!("SELECT '{EVIL}'"), "rows": 1, "job_id": EVIL } },
            ],
            "mutations": [{
                "table": format!("t{EVIL}"), "pk": { "k": EVIL }, "op": "update",
                "before": { format!("c{EVIL}"): EVIL }, "after": { format!("c{EVIL}"): format!("new{EVIL}") },
                "committed": false, "at_us": 4,
            }],
        }))
        .expect("record");
        let context = TraceContext::default();
        for verbose in [false, true] {
            let text = render_trace(&record, &context, verbose, Style::plain());
            for bad in ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202e}'] {
                assert!(!text.contains(bad), "{bad:?} raw in:\n{text:?}");
            }
            assert!(text.contains("\\u{1b}]0;x\\u{7}"), "{text}");
        }
    }
}
