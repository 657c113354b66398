//! Collects one execution's spans and console output while it runs.

use std::time::Instant;

use serde_json::{Map, Value};

use crate::record::{ConsoleLine, Span, SpanStatus};

pub struct Recorder {
    pub started: Instant,
    pub spans: Vec<Span>,
    pub console: Vec<ConsoleLine>,
    /// The open `db.transaction` span: statements inside it become its children.
    pub transaction: Option<u32>,
}

/// Console output kept per execution, so a logging loop cannot exhaust memory.
const MAX_CONSOLE_LINES: usize = 1_000;
const MAX_CONSOLE_LINE: usize = 16 * 1024;

impl Recorder {
    pub fn new(root_name: &str, root_location: Option<String>) -> Recorder {
        Recorder {
            started: Instant::now(),
            spans: vec![Span {
                id: 0,
                parent: None,
                name: root_name.to_string(),
                start_us: 0,
                duration_us: 0,
                status: SpanStatus::Pending,
                location: root_location,
                attrs: Map::new(),
                error: None,
            }],
            console: Vec::new(),
            transaction: None,
        }
    }

    pub fn elapsed_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    pub fn open(
        &mut self,
        name: String,
        location: Option<String>,
        attrs: Map<String, Value>,
    ) -> u32 {
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

    pub fn log(&mut self, level: &str, mut message: String) {
        if self.console.len() >= MAX_CONSOLE_LINES {
            return;
        }
        if message.len() > MAX_CONSOLE_LINE {
            let mut cut = MAX_CONSOLE_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("… (truncated)");
        }
        let at_us = self.elapsed_us();
        self.console.push(ConsoleLine {
            level: level.to_string(),
            message,
            at_us,
        });
    }

    /// Closes the root span; spans still open were pending when the execution ended.
    pub fn finish(&mut self, status: SpanStatus, error: Option<String>) -> Vec<Span> {
        let now = self.elapsed_us();
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
