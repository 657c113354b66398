//! Exit codes (a public contract: scripts branch on them) and the error type behind them.
//!
//! A command fails with a [`CliError`]: what went wrong (its `source`), what kind of failure
//! it is, and hints on what to do next. The kind alone decides the exit code, in
//! [`ErrorKind::exit_code`]; library errors become `CliError`s through `From`, so a command
//! can use `?` on them.

use std::error::Error;
use std::fmt;

use crate::client::ClientError;
use crate::record::IdError;
use crate::store::StoreError;

/// Success.
pub const OK: i32 = 0;
/// The command ran and failed (a server error, a failed start-up, …).
pub const FAILURE: i32 = 1;
/// The command line was wrong (clap's own errors use this too), or an id was ambiguous.
pub const USAGE: i32 = 2;
/// An id, record or function that does not exist.
pub const NOT_FOUND: i32 = 3;
/// No flux server answered.
pub const UNREACHABLE: i32 = 4;
/// The server refused the token.
pub const UNAUTHORIZED: i32 = 5;

/// What kind of failure a command had: the one thing its exit code depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command ran and failed.
    Failure,
    /// A bad flag or argument, an ambiguous id.
    Usage,
    /// No execution, job, row or setting of that id or name.
    NotFound,
    /// No flux server answered (or only another project's did).
    Unreachable,
    /// The server wants a token the command did not give.
    Unauthorized,
    /// Whoever read the output went away (`flux … | head`): not an error, the command
    /// ends quietly.
    BrokenPipe,
}

impl ErrorKind {
    /// The exit code of each kind: the only place they are mapped.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Failure => FAILURE,
            ErrorKind::Usage => USAGE,
            ErrorKind::NotFound => NOT_FOUND,
            ErrorKind::Unreachable => UNREACHABLE,
            ErrorKind::Unauthorized => UNAUTHORIZED,
            ErrorKind::BrokenPipe => OK,
        }
    }

    /// The kind of a refusal by the server, by its HTTP status: the only place they are
    /// mapped. An ambiguous id prefix is a conflict (409), which the user fixes in the
    /// command line.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Unauthorized,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Usage,
            _ => ErrorKind::Failure,
        }
    }
}

/// An error for the user: what happened, hints on what to do next, and (by its kind) the
/// exit code.
#[derive(Debug)]
pub struct CliError {
    kind: ErrorKind,
    source: Box<dyn Error + Send + Sync>,
    hints: Vec<String>,
}

/// A message that is the whole error: what most commands say in their own words.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Message {}

impl CliError {
    /// An error of `kind` caused by `source`.
    pub fn with_source(kind: ErrorKind, source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        CliError {
            kind,
            source: source.into(),
            hints: Vec::new(),
        }
    }

    /// An error of `kind` that `message` says all of.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CliError {
        CliError::with_source(kind, Message(message.into()))
    }

    pub fn failure(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::Failure, message)
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::Usage, message)
    }

    pub fn not_found(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::NotFound, message)
    }

    pub fn unreachable(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::Unreachable, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::Unauthorized, message)
    }

    /// A refusal by the server: its HTTP status decides the kind.
    pub fn refused(status: u16, message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::from_http_status(status), message)
    }

    /// Adds a hint, shown after the error and any hint given before it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }

    /// Adds a hint that only fits errors of `kind`: what to do about a refusal depends on
    /// which one it was.
    pub fn with_hint_if(self, kind: ErrorKind, hint: impl Into<String>) -> CliError {
        if self.kind == kind {
            self.with_hint(hint)
        } else {
            self
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }

    /// What happened, in one message.
    pub fn message(&self) -> String {
        self.source.to_string()
    }

    pub fn hints(&self) -> &[String] {
        &self.hints
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)
    }
}

impl Error for CliError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Writing the output failed: a reader that went away ends the command quietly
/// ([`ErrorKind::BrokenPipe`], exit 0), anything else is a failure.
impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return CliError::with_source(ErrorKind::BrokenPipe, error);
        }
        CliError::failure(format!("cannot write output: {error}"))
    }
}

impl From<serde_json::Error> for CliError {
    fn from(error: serde_json::Error) -> CliError {
        CliError::with_source(ErrorKind::Failure, error)
    }
}

/// An id or prefix the user typed that cannot be one.
impl From<IdError> for CliError {
    fn from(error: IdError) -> CliError {
        CliError::with_source(ErrorKind::Usage, error)
    }
}

impl From<StoreError> for CliError {
    fn from(error: StoreError) -> CliError {
        CliError::with_source(ErrorKind::Failure, error)
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> CliError {
        match error {
            ClientError::Unauthorized { .. } => {
                CliError::with_source(ErrorKind::Unauthorized, error)
                    .with_hint("pass the server's token with FLUX_TOKEN (flux dev --token)")
                    .with_hint("or save it for every command: flux config set token TOKEN")
            }
            ClientError::NoServer { ref start_hint, .. } => {
                let hint = start_hint.clone();
                CliError::with_source(ErrorKind::Unreachable, error).with_hint(hint)
            }
            // Not reached, as a server that is down is not: the same exit code, another fix.
            ClientError::Untrusted { ref why, .. } => {
                let hint = why.hint();
                CliError::with_source(ErrorKind::Unreachable, error).with_hint(hint)
            }
            other => CliError::with_source(ErrorKind::Failure, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_code() {
        let codes = [
            (ErrorKind::Failure, 1),
            (ErrorKind::Usage, 2),
            (ErrorKind::NotFound, 3),
            (ErrorKind::Unreachable, 4),
            (ErrorKind::Unauthorized, 5),
            (ErrorKind::BrokenPipe, 0),
        ];
        for (kind, code) in codes {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
        }
    }

    #[test]
    fn a_closed_pipe_is_not_a_failure() {
        let closed = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(CliError::from(closed).exit_code(), OK);
        let full = std::io::Error::other("disk full");
        let error = CliError::from(full);
        assert_eq!(error.exit_code(), FAILURE);
        assert_eq!(error.message(), "cannot write output: disk full");
    }

    #[test]
    fn refusals_map_by_status() {
        assert_eq!(CliError::refused(404, "gone").kind(), ErrorKind::NotFound);
        assert_eq!(CliError::refused(409, "ambiguous").kind(), ErrorKind::Usage);
        assert_eq!(
            CliError::refused(401, "token").kind(),
            ErrorKind::Unauthorized
        );
        assert_eq!(CliError::refused(500, "boom").kind(), ErrorKind::Failure);
    }

    #[test]
    fn client_errors_keep_their_message_and_get_their_kind_and_hints() {
        let none = CliError::from(ClientError::NoServer {
            message: "no flux server at http://127.0.0.1:9".into(),
            start_hint: "start one".into(),
        });
        assert_eq!(none.exit_code(), UNREACHABLE);
        assert_eq!(none.message(), "no flux server at http://127.0.0.1:9");
        assert_eq!(none.hints(), ["start one"]);

        let refused = CliError::from(ClientError::Unauthorized {
            message: "the server wants a token".into(),
        });
        assert_eq!(refused.exit_code(), UNAUTHORIZED);
        assert_eq!(refused.hints().len(), 2);

        let garbled = reqwest::blocking::Client::new()
            .get("not a url")
            .build()
            .expect_err("not a URL");
        let garbled = CliError::from(ClientError::Answer {
            url: "http://127.0.0.1:9".into(),
            source: garbled,
        });
        assert_eq!(garbled.exit_code(), FAILURE);
        assert!(
            garbled
                .message()
                .starts_with("unexpected answer from the server at http://127.0.0.1:9: "),
            "{}",
            garbled.message()
        );
    }

    #[test]
    fn a_hint_for_one_kind_is_not_given_to_another() {
        let missing = CliError::refused(404, "gone").with_hint_if(ErrorKind::NotFound, "look");
        assert_eq!(missing.hints(), ["look"]);
        let broken = CliError::refused(500, "boom").with_hint_if(ErrorKind::NotFound, "look");
        assert!(broken.hints().is_empty());
    }
}
