//! `flux why`: a finding laid out for the terminal.

use super::{escape, escape_message, inspect, record_line, render_mutations, Style};
use crate::record::{ExecutionRecord, Kind};
use crate::why::{input, Finding};

/// The root cause (or that nothing failed), where, the input, the data changes, and what to do.
pub fn render_why(record: &ExecutionRecord, finding: Option<&Finding>, style: Style) -> String {
    let mut out = Vec::new();
    let input_line = match record.kind {
        Kind::Job => format!("{} {}", style.bold("JOB INPUT"), inspect(&input(record))),
        Kind::Http => {
            let body = record
                .input
                .get("body")
                .filter(|b| !b.is_null())
                .map(inspect)
                .unwrap_or_default();
            format!(
                "{} {} {} {body}",
                style.bold("REQUEST"),
                escape(record.method.as_deref().unwrap_or("?")),
                escape(record.path.as_deref().unwrap_or("/"))
            )
            .trim_end()
            .to_string()
        }
    };
    match finding {
        None => {
            out.push(format!(
                "{} {}",
                style.green("OK"),
                record_line(&record.into(), style)
            ));
            out.push(format!(
                "nothing failed: {} span(s), {} data change(s)",
                record.spans.len(),
                record.mutations.len()
            ));
            out.push(input_line);
        }
        Some(finding) => {
            out.push(format!(
                "{} {}",
                style.bold("ROOT CAUSE"),
                style.red(&escape(&finding.root_cause))
            ));
            if let Some(location) = &finding.location {
                out.push(format!("{} {}", style.bold("LOCATION"), escape(location)));
                for call in &finding.call_chain {
                    out.push(format!("  at {}", escape(call)));
                }
            }
            out.push(input_line);
        }
    }
    if !record.mutations.is_empty() {
        out.push(style.bold("DATA CHANGES"));
        out.extend(render_mutations(&record.mutations, style));
    }
    if let Some(suggestion) = finding.and_then(|f| f.suggestion.as_ref()) {
        // A suggestion may run over several lines; each is escaped.
        out.push(format!(
            "{} {}",
            style.bold("SUGGESTION"),
            escape_message(suggestion)
        ));
    }
    out.join("\n")
}
