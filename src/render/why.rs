//! `flux why`: a finding laid out for the terminal.

use super::{escape, escape_message, inspect, record_line, render_mutations, Style};
use crate::record::{ExecutionRecord, Kind};
use crate::timefmt::rfc3339;
use crate::why::{input, Blame, Finding};

/// `req:1a2b3c4d (create_user) at 07:11:22.790Z: deleted users 42`.
fn blame_line(blame: &Blame) -> String {
    let mut line = format!("req:{}", &blame.id[..blame.id.len().min(8)]);
    if let Some(function) = &blame.function {
        line.push_str(&format!(" ({function})"));
    }
    if let Some(at_us) = blame.at_us {
        let time = rfc3339(at_us);
        // The time of day: the day is today's in a debugging session, and the full time is
        // in `--format json` and `flux trace`.
        let time = time.split_once('T').map_or(time.as_str(), |(_, t)| t);
        line.push_str(&format!(" at {time}"));
    }
    escape(&format!("{line}: {}", blame.did)).into_owned()
}

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
            if let Some(blame) = &finding.blamed {
                out.push(format!("{} {}", style.bold("CAUSED BY"), blame_line(blame)));
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
