//! A job's model: the states it moves through and what an attempt's outcome does to it —
//! decided by the queue, committed by the store with the attempt's record, and streamed to
//! `flux tail` as data.

use serde::{Deserialize, Serialize};

use super::ExecId;

/// The states a job moves through. `pending` and `scheduled` wait; `running` is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Scheduled,
    Running,
    Done,
    Dead,
    /// Withdrawn while waiting, or stopped while running, because someone asked.
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Pending,
        JobState::Scheduled,
        JobState::Running,
        JobState::Done,
        JobState::Dead,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What an attempt's outcome does to its job; committed with the attempt's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Transition {
    Done,
    /// Try again at `run_at_us`, as execution `next_exec_id`.
    Retry {
        run_at_us: i64,
        next_exec_id: ExecId,
    },
    /// No attempts left: into the dead-letter queue.
    Dead,
    /// Stopped by a shutdown: run again on the next start, this attempt not counted.
    Requeue {
        next_exec_id: ExecId,
    },
    /// Stopped because someone asked: not run again.
    Cancelled,
}

/// The error as a dead-letter line shows it: `user not found` for
/// `user not found (userId: u_99)`.
pub fn short_error(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or("").trim();
    let without_detail = match first_line.rfind(" (") {
        Some(i) if first_line.ends_with(')') && i > 0 => &first_line[..i],
        _ => first_line,
    };
    let mut short: String = without_detail.chars().take(80).collect();
    if without_detail.chars().count() > 80 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_lines_drop_the_detail() {
        assert_eq!(
            short_error("user not found (userId: u_99)"),
            "user not found"
        );
        assert_eq!(
            short_error("Stripe 429 rate limit"),
            "Stripe 429 rate limit"
        );
        assert_eq!(short_error("(only detail)"), "(only detail)");
    }

    #[test]
    fn a_transition_is_tagged_data_on_the_wire() {
        let id: ExecId = "d5e6f7a8000000000000000000000001".parse().expect("id");
        let retry = Transition::Retry {
            run_at_us: 42,
            next_exec_id: id,
        };
        let wire = serde_json::to_value(&retry).expect("serialize");
        assert_eq!(
            wire,
            serde_json::json!({ "kind": "retry", "run_at_us": 42, "next_exec_id": id.to_string() })
        );
        assert_eq!(
            serde_json::from_value::<Transition>(wire).expect("deserialize"),
            retry
        );
        assert_eq!(
            serde_json::to_value(&Transition::Dead).expect("serialize"),
            serde_json::json!({ "kind": "dead" })
        );
    }
}
