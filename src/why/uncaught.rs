//! An execution that succeeded, but with an error nobody caught: a timer callback's throw or
//! a promise rejected with no handler. Its status stays `ok` (the function's answer was
//! sent); `why` explains it by the first such error.

use super::{call_chain, Finding};
use crate::record::{ExecutionRecord, UncaughtOrigin};

pub(super) fn uncaught(record: &ExecutionRecord) -> Option<Finding> {
    let first = record.uncaught.first()?;
    let error = &first.error;
    let when = if first.after_end {
        " after the function had returned"
    } else {
        ""
    };
    let (cause, what, suggestion) = match first.origin {
        UncaughtOrigin::Timer => (
            "uncaught-timer-error",
            "a timer's callback threw",
            "→ Catch errors inside the timer's callback (try/catch), or await the work in the function instead of a timer",
        ),
        UncaughtOrigin::Microtask => (
            "uncaught-microtask-error",
            "a queueMicrotask callback threw",
            "→ Catch errors inside the callback (try/catch), or await the work in the function instead",
        ),
        UncaughtOrigin::Rejection => (
            "uncaught-rejection",
            "a promise was rejected and nobody handled it",
            "→ Await the promise (or add .catch) so its failure is handled: as it is, the function succeeded without the work it started",
        ),
    };
    Some(Finding {
        cause,
        root_cause: format!("Uncaught: {what}{when}: {}: {}", error.name, error.message),
        location: error.location.clone(),
        call_chain: call_chain(error),
        blamed: None,
        suggestion: Some(suggestion.into()),
    })
}
