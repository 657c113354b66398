//! Exit codes (a public contract: scripts branch on them) and the error type behind them.

use std::fmt;

pub const OK: i32 = 0;
/// The command ran and failed (a server error, a failed start-up, …).
pub const FAILURE: i32 = 1;
/// The command line was wrong (clap's own errors use this too).
pub const USAGE: i32 = 2;
/// An id, record or function that does not exist.
pub const NOT_FOUND: i32 = 3;
/// No flux server answered.
pub const UNREACHABLE: i32 = 4;
/// The server refused the token.
pub const UNAUTHORIZED: i32 = 5;

/// An error for the user: what happened, what to do next, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hint: Option<String>,
    pub code: i32,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            hint: None,
            code,
        }
    }

    pub fn failure(message: impl Into<String>) -> CliError {
        CliError::new(FAILURE, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }
}

/// An error message or hint for the terminal: its lines kept, anything else a terminal
/// would act on (it may quote input or recorded data) shown escaped.
pub fn escape_message(text: &str) -> String {
    crate::render::escaped_lines(text)
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}
