//! `flux why`: a finding laid out for the terminal.

use super::{
    escape, escape_message, inspect, max_width, pad_left, pad_right, record_line, render_mutations,
    Style,
};
use crate::record::{short_text, ExecutionRecord, Kind, RecordSummary, Status};
use crate::timefmt::{rfc3339, short_duration};
use crate::why::{input, Blame, Finding};

/// `req:1a2b3c4d (create_user) at 07:11:22.790Z: deleted users 42`.
fn blame_line(blame: &Blame) -> String {
    let mut line = format!("req:{}", short_text(&blame.id));
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

/// A job's attempts, as `flux why` shows them beside the record it explains.
#[derive(Debug, Default)]
pub struct WhyAttempts {
    /// The attempts to list, oldest first (none: no ATTEMPTS section).
    pub listed: Vec<RecordSummary>,
    /// The attempt asked about, when it succeeded and the record explained is the last of the
    /// failed attempts before it.
    pub succeeded: Option<RecordSummary>,
}

/// The root cause (or that nothing failed), where, the input, the job's attempts, the data
/// changes, and what to do.
pub fn render_why(
    record: &ExecutionRecord,
    finding: Option<&Finding>,
    attempts: &WhyAttempts,
    style: Style,
) -> String {
    let mut out = Vec::new();
    if let (Some(succeeded), Some(_)) = (&attempts.succeeded, finding) {
        out.extend(retried_lines(succeeded, record, &attempts.listed, style));
    }
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
    if !attempts.listed.is_empty() {
        out.push(style.bold("ATTEMPTS"));
        let asked = attempts.succeeded.as_ref().map_or(record.id, |s| s.id);
        out.extend(attempt_lines(&attempts.listed, asked, record.id, style));
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

/// `OK JOB … attempt 3/3` and `succeeded on attempt 3/3 after 2 failed attempts; attempt 2/3
/// (req:…) failed:`, above the finding of that failed attempt.
fn retried_lines(
    succeeded: &RecordSummary,
    failed: &ExecutionRecord,
    attempts: &[RecordSummary],
    style: Style,
) -> Vec<String> {
    let failures = attempts
        .iter()
        .take_while(|a| a.id != succeeded.id)
        .filter(|a| a.status != Status::Ok)
        .count();
    let plural = if failures == 1 { "" } else { "s" };
    let of = |n: Option<u32>, max: Option<u32>| match (n, max) {
        (Some(n), Some(max)) => format!("attempt {n}/{max}"),
        _ => "a later attempt".to_string(),
    };
    vec![
        format!("{} {}", style.green("OK"), record_line(succeeded, style)),
        format!(
            "succeeded on {} after {failures} failed attempt{plural}; {} (req:{}) failed:",
            of(succeeded.attempt, succeeded.max_attempts),
            of(failed.links.attempt, failed.links.max_attempts),
            failed.id.short()
        ),
    ]
}

/// One line per attempt: id, attempt n/max, status, duration, the error's first line; the
/// attempt asked about and the one explained are marked.
fn attempt_lines(
    attempts: &[RecordSummary],
    asked: crate::record::ExecId,
    explained: crate::record::ExecId,
    style: Style,
) -> Vec<String> {
    let columns: Vec<[String; 4]> = attempts
        .iter()
        .map(|a| {
            let n = match (a.attempt, a.max_attempts) {
                (Some(n), Some(max)) => format!("attempt {n}/{max}"),
                _ => String::new(),
            };
            [
                format!("req:{}", a.id.short()),
                n,
                a.status.as_str().to_string(),
                short_duration(a.duration_us),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..4)
        .map(|i| max_width(columns.iter().map(|c| c[i].as_str())))
        .collect();
    attempts
        .iter()
        .zip(&columns)
        .map(|(attempt, [id, n, status, duration])| {
            let ok = attempt.status == Status::Ok;
            let mut line = format!(
                "  {}  {}  {}  {}",
                style.dim(id),
                pad_right(n, widths[1]),
                style.status(ok, &pad_right(status, widths[2])),
                pad_left(duration, widths[3]),
            );
            if let Some(first) = attempt.error.as_deref().and_then(|e| e.lines().next()) {
                line.push_str(&format!("  {}", escape(first)));
            }
            if attempt.id == asked {
                line.push_str("  ← this one");
            } else if attempt.id == explained {
                line.push_str("  ← explained above");
            }
            line
        })
        .collect()
}
