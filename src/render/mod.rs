//! Terminal output: record lines, span trees, values. Colour only when asked for.

mod trace;
mod value;

use owo_colors::OwoColorize;

use crate::record::{Kind, RecordSummary, Status};
use crate::timefmt::short_duration;

pub use trace::render_trace;
pub use value::inspect;

/// Whether to colour output; decided once per command from flags, env and the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn plain() -> Style {
        Style { color: false }
    }

    pub fn red(&self, text: &str) -> String {
        if self.color {
            text.red().to_string()
        } else {
            text.to_string()
        }
    }

    pub fn green(&self, text: &str) -> String {
        if self.color {
            text.green().to_string()
        } else {
            text.to_string()
        }
    }

    pub fn yellow(&self, text: &str) -> String {
        if self.color {
            text.yellow().to_string()
        } else {
            text.to_string()
        }
    }

    pub fn dim(&self, text: &str) -> String {
        if self.color {
            text.dimmed().to_string()
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        if self.color {
            text.bold().to_string()
        } else {
            text.to_string()
        }
    }

    fn status(&self, ok: bool, text: &str) -> String {
        if ok {
            self.green(text)
        } else {
            self.red(text)
        }
    }
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
                summary.method.as_deref().unwrap_or("?"),
                summary.path.as_deref().unwrap_or("/"),
                style.status(ok, &status),
            )
        }
        Kind::Job => {
            let outcome = if ok { "done" } else { summary.status.as_str() };
            format!(
                "JOB {} {} {duration} {id}",
                summary.function,
                style.status(ok, outcome)
            )
        }
    }
}
