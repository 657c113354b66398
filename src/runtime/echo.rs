//! What a running execution shows on `flux dev`'s terminal, as data: the runtime hands it to
//! whoever started the engines, and the terminal side (`render`) words it.

use std::sync::Arc;

use crate::record::ExecId;

#[derive(Debug, Clone, PartialEq)]
pub enum Echo {
    /// A console line the record kept.
    Console {
        function: String,
        level: String,
        message: String,
    },
    /// The first console line past the record's caps: the rest is neither shown nor recorded.
    ConsoleCapped {
        function: String,
        exec: ExecId,
        max_lines: usize,
        max_bytes: usize,
    },
    /// An email captured instead of sent.
    Email {
        to: String,
        template: String,
        subject: String,
    },
}

/// Hears every [`Echo`], on the engine thread that made it.
pub type EchoSink = Arc<dyn Fn(Echo) + Send + Sync>;
