//! Collects one execution's spans and console output while it runs.

use std::time::Instant;

use serde_json::{Map, Value};

use crate::record::{ConsoleLine, Dropped, Span, SpanKind, SpanStatus, Uncaught};

pub struct Recorder {
    pub started: Instant,
    pub spans: Vec<Span>,
    pub console: Vec<ConsoleLine>,
    /// Errors nobody caught (a timer's throw, an unhandled rejection).
    pub uncaught: Vec<Uncaught>,
    /// The open `db.transaction` span: statements inside it become its children.
    pub transaction: Option<u32>,
    /// What went past the caps below.
    pub dropped: Dropped,
    console_bytes: usize,
}

/// What one execution's record keeps (and `flux dev` prints), so that a loop cannot fill the
/// store, the memory or the terminal. Past a cap, output is counted in `dropped`.
pub const MAX_SPANS: usize = 1_000;
pub const MAX_CONSOLE_LINES: usize = 1_000;
pub const MAX_CONSOLE_LINE: usize = 64 * 1024;
pub const MAX_CONSOLE_BYTES: usize = 1024 * 1024;

/// The id `open` returns for a span past the cap; closing it does nothing.
pub const DROPPED_SPAN: u32 = u32::MAX;

/// What became of a console line.
#[derive(Debug, PartialEq, Eq)]
pub enum Logged {
    /// Recorded (possibly cut short): the last line of `console`.
    Kept,
    /// Past the cap; `first` for the first line dropped.
    Dropped { first: bool },
}

impl Recorder {
    pub fn new(root_name: &str, root_location: Option<String>) -> Recorder {
        Recorder {
            started: Instant::now(),
            spans: vec![Span {
                id: 0,
                parent: None,
                name: SpanKind::Function(root_name.to_string()),
                start_us: 0,
                duration_us: 0,
                status: SpanStatus::Pending,
                location: root_location,
                attrs: Map::new(),
                error: None,
            }],
            console: Vec::new(),
            uncaught: Vec::new(),
            transaction: None,
            dropped: Dropped::default(),
            console_bytes: 0,
        }
    }

    pub fn elapsed_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    pub fn open(
        &mut self,
        name: SpanKind,
        location: Option<String>,
        attrs: Map<String, Value>,
    ) -> u32 {
        if self.spans.len() >= MAX_SPANS {
            self.dropped.spans += 1;
            return DROPPED_SPAN;
        }
        let id = self.spans.len() as u32;
        let parent = self.transaction.unwrap_or(0);
        let start_us = self.elapsed_us();
        self.spans.push(Span {
            id,
            parent: Some(parent),
            name,
            start_us,
            duration_us: 0,
            status: SpanStatus::Pending,
            location,
            attrs,
            error: None,
        });
        id
    }

    pub fn close(
        &mut self,
        id: u32,
        status: SpanStatus,
        error: Option<String>,
        attrs: Map<String, Value>,
    ) {
        let now = self.elapsed_us();
        if let Some(span) = self.spans.get_mut(id as usize) {
            span.duration_us = now.saturating_sub(span.start_us);
            span.status = status;
            span.error = error;
            span.attrs.extend(attrs);
        }
    }

    pub fn log(&mut self, level: &str, mut message: String) -> Logged {
        let room = MAX_CONSOLE_BYTES.saturating_sub(self.console_bytes);
        if self.console.len() >= MAX_CONSOLE_LINES || room == 0 {
            let first = self.dropped.console_lines == 0;
            self.dropped.console_lines += 1;
            self.dropped.console_bytes += message.len() as u64;
            return Logged::Dropped { first };
        }
        let limit = MAX_CONSOLE_LINE.min(room);
        if message.len() > limit {
            let mut cut = limit;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            let cut_bytes = message.len() - cut;
            self.dropped.console_bytes += cut_bytes as u64;
            message.truncate(cut);
            message.push_str(&format!("… ({cut_bytes} bytes cut)"));
        }
        self.console_bytes += message.len();
        let at_us = self.elapsed_us();
        self.console.push(ConsoleLine {
            level: level.to_string(),
            message,
            at_us,
        });
        Logged::Kept
    }

    /// Closes the root span `now` µs after the start; spans still open were pending when the
    /// execution ended, and end then too.
    pub fn finish(&mut self, now: u64, status: SpanStatus, error: Option<String>) -> Vec<Span> {
        for span in self.spans.iter_mut().skip(1) {
            if span.status == SpanStatus::Pending {
                span.duration_us = now.saturating_sub(span.start_us);
            }
        }
        if let Some(root) = self.spans.first_mut() {
            root.duration_us = now;
            root.status = status;
            root.error = error;
        }
        std::mem::take(&mut self.spans)
    }
}
