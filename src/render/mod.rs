//! Terminal output: record lines, span trees, values. Colour only when asked for.

mod echo;
mod error;
mod escape;
mod state;
mod style;
mod table;
mod trace;
mod value;
mod why;
mod width;

use crate::record::{Kind, RecordSummary, Status, Transition};
use crate::timefmt::short_duration;

pub use echo::{console_capped_line, console_lines, email_line};
pub use error::{error_json, error_report, escape_message};
pub use escape::{escape, escape_block_line, escaped_lines};
pub use state::{render_blame, render_change};
pub use style::Style;
pub use table::{render_table, Column};
pub use trace::{render_mutations, render_trace, TraceContext};
pub use value::inspect;
pub use why::{render_why, WhyAttempts};
pub use width::{max_width, pad_left, pad_right, width};

/// An execution's line, then `└─ Error: …` when it failed, then what happens to its job next.
pub fn execution_lines(summary: &RecordSummary, next: Option<&Transition>, style: Style) -> String {
    let note = next.and_then(|t| transition_note(summary, t));
    lines_with_note(summary, note.as_deref(), style)
}

/// What happens to a job after this attempt, as `flux tail` says it: `↻ attempt 2/3 in 4.0s`.
fn transition_note(summary: &RecordSummary, next: &Transition) -> Option<String> {
    let attempt = summary.attempt.zip(summary.max_attempts);
    match (next, attempt) {
        (Transition::Retry { run_at_us, .. }, Some((n, max))) => {
            let wait =
                (run_at_us - summary.started_at_us - summary.duration_us as i64).max(0) as u64;
            Some(format!(
                "↻ attempt {}/{max} in {}",
                n + 1,
                short_duration(wait)
            ))
        }
        (Transition::Dead, Some((n, _))) => {
            let plural = if n == 1 { "" } else { "s" };
            Some(format!(
                "✗ moved to the dead-letter queue after {n} attempt{plural}"
            ))
        }
        (Transition::Requeue { .. }, _) => Some("↻ will run again on the next start".into()),
        (Transition::Cancelled, _) => Some("✗ cancelled: it will not run again".into()),
        _ => None,
    }
}

/// An execution's line, its error line when it failed, and a note on what happens next.
fn lines_with_note(summary: &RecordSummary, note: Option<&str>, style: Style) -> String {
    let mut out = record_line(summary, style);
    if let Some(error) = &summary.error {
        out.push_str(&format!("\n└─ {}", style.red(&escape(error))));
    } else if let Some((error, count)) = &summary.uncaught {
        // It succeeded, but something it started failed with nobody to catch it.
        let more = if *count > 1 {
            format!(" (+{} more)", count - 1)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "\n└─ {}",
            style.yellow(&format!("uncaught {}{more}", escape(error)))
        ));
    }
    if let Some(note) = note {
        let note = escape(note);
        let coloured = if note.starts_with('✗') {
            style.red(&note)
        } else {
            style.yellow(&note)
        };
        out.push_str(&format!("\n   {coloured}"));
    }
    out
}

/// One line per execution, the seed's format:
/// `POST /create_user 201 12ms req:4f9a3b2c` and `JOB send_welcome_email done 220ms req:b3c4d5e6`.
pub fn record_line(summary: &RecordSummary, style: Style) -> String {
    let ok = summary.status == Status::Ok;
    let duration = short_duration(summary.duration_us);
    let id = style.dim(&format!("req:{}", summary.id.short()));
    match summary.kind {
        Kind::Http => {
            let status = summary
                .http_status
                .map_or_else(|| summary.status.as_str().to_string(), |s| s.to_string());
            format!(
                "{} {} {} {duration} {id}",
                escape(summary.method.as_deref().unwrap_or("?")),
                escape(summary.path.as_deref().unwrap_or("/")),
                style.status(ok, &status),
            )
        }
        Kind::Job => {
            let outcome = if ok { "done" } else { summary.status.as_str() };
            let mut line = format!(
                "JOB {} {} {duration} {id}",
                escape(&summary.function),
                style.status(ok, outcome)
            );
            // Every attempt of a job that may be retried says which it is, the first too: a
            // reader of one line can tell whether the job may still be retried.
            if let (Some(n), Some(max)) = (summary.attempt, summary.max_attempts) {
                if max > 1 {
                    line.push_str(&format!(" attempt {n}/{max}"));
                }
            }
            line
        }
    }
}
