//! What happens to a job after one of its attempts: decided by the queue, committed by the
//! store with the attempt's record, and streamed to `flux tail` as data.

use serde::{Deserialize, Serialize};

use super::ExecId;

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
