//! An execution that ran out of time: busy (its code was still running at the deadline, and
//! was stopped where it was) or pending (it awaited a call or a timer that had not answered).

use super::{call_chain, Finding, Related};
use crate::record::{ExecutionRecord, SpanStatus, Status};

pub(super) fn timed_out(record: &ExecutionRecord, _: &Related) -> Option<Finding> {
    if record.status != Status::Timeout {
        return None;
    }
    let error = record.error.as_ref();
    let message = error.map_or_else(|| "timed out".to_string(), |e| e.message.clone());
    // The runtime keeps the stack of an interrupted execution: it was busy.
    if let Some(error) = error.filter(|e| !e.frames.is_empty()) {
        let at = error.location.as_deref().unwrap_or("its code");
        return Some(Finding {
            cause: "timeout-busy",
            root_cause: format!("Timeout: {message}"),
            location: error.location.clone(),
            call_chain: call_chain(error),
            blamed: None,
            suggestion: Some(format!(
                "→ {at} was still computing at the deadline: look for a loop that never ends, or move the heavy work to a job with a longer timeout"
            )),
        });
    }
    // A span that timed out is a SQL statement stopped at the deadline.
    let pending = record.spans.iter().find(|s| {
        s.parent.is_some() && matches!(s.status, SpanStatus::Pending | SpanStatus::Timeout)
    });
    if let Some(span) = pending {
        return Some(Finding {
            cause: "timeout-pending",
            root_cause: format!("Timeout: {message}"),
            location: span.location.clone(),
            call_chain: Vec::new(),
            blamed: None,
            suggestion: Some(if span.status == SpanStatus::Timeout {
                format!("→ {} was still running at the deadline: make the query cheaper (an index, a LIMIT), or raise the function's timeout", span.name)
            } else {
                format!("→ {} never finished: give it a timeout of its own, or raise the function's timeout", span.name)
            }),
        });
    }
    // No call pending: a timer that had not fired (the runtime names where it was set).
    if let Some(at) = error.and_then(|e| e.location.clone()) {
        return Some(Finding {
            cause: "timeout-pending",
            root_cause: format!("Timeout: {message}"),
            location: Some(at),
            call_chain: Vec::new(),
            blamed: None,
            suggestion: Some(
                "→ The function awaited a timer that fires after its deadline: shorten the delay, or raise the function's timeout".into(),
            ),
        });
    }
    Some(Finding {
        cause: "timeout",
        root_cause: format!("Timeout: {message}"),
        location: None,
        call_chain: Vec::new(),
        blamed: None,
        suggestion: Some(
            "→ The code was busy or awaited something that never settles: check loops and unresolved promises".into(),
        ),
    })
}
