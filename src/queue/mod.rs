//! The durable job queue's rules. Jobs live in `_flux_jobs`, in the same SQLite file as the
//! app's tables, so an enqueue inside a transaction commits or rolls back with it. A job's state
//! changes are committed together with the record of the attempt that caused them. The tables
//! and their SQL are the store's (`store::jobs`); the job model is the record's
//! (`record::JobState`, `record::Transition`); what happens after an attempt is decided here.

mod dispatcher;
mod leased;
mod runner;

use std::time::Duration;

use serde_json::Value;

use crate::project::{Backoff, BackoffKind};
use crate::record::{
    flux_error, Ending, ExecId, ExecutionRecord, JobId, Kind, Links, Start, Status, Traced,
    Transition,
};
use crate::store::JobRow;

pub use dispatcher::{
    recover_attempts, tail_feed, ConfigSource, Dispatcher, DispatcherHandle, Recovered, TailSender,
};
pub use leased::LeasedQueue;
pub use runner::{Attempt, Ended, Runner};

/// What an attempt's runner needs to know about its job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobAttempt {
    pub job_id: JobId,
    pub name: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// The attempt's writes commit only if it succeeds (`atomic: true` in the worker's config).
    pub atomic: bool,
}

/// The delay before attempt `failed + 1`, after `failed` failures, with ±10 % jitter.
pub fn backoff_delay(backoff: &Backoff, failed: u32, jitter: f64) -> Duration {
    let n = failed.max(1);
    let factor = match backoff.kind {
        BackoffKind::Exponential => 4f64.powi(n as i32 - 1),
        BackoffKind::Linear => f64::from(n),
    };
    let jitter = jitter.clamp(-1.0, 1.0) * 0.1;
    Duration::from_secs_f64(
        (backoff.initial.as_secs_f64() * factor * (1.0 + jitter)).min(86_400.0 * 365.0),
    )
}

/// Decides what happens to the job after `record`, the attempt described by `attempt`.
pub fn transition_after(record: &ExecutionRecord, attempt: &JobAttempt, now_us: i64) -> Transition {
    match record.status {
        Status::Ok => Transition::Done,
        Status::Cancelled => Transition::Cancelled,
        Status::Interrupted => Transition::Requeue {
            next_exec_id: ExecId::random(),
        },
        Status::Error | Status::Timeout if attempt.attempt >= attempt.max_attempts => {
            Transition::Dead
        }
        Status::Error | Status::Timeout => {
            let jitter = rand::random::<f64>() * 2.0 - 1.0;
            let delay = backoff_delay(&attempt.backoff, attempt.attempt, jitter);
            Transition::Retry {
                run_at_us: now_us + delay.as_micros() as i64,
                next_exec_id: ExecId::random(),
            }
        }
    }
}

/// Why a job that never ran this attempt was cancelled, as its record and the job say it.
pub const CANCELLED_WAITING: &str = "cancelled by request before this attempt ran";

/// The record of a waiting job's cancellation: the attempt it would have run next, never
/// started, `cancelled` (so the job's list of attempts ends with why it stopped).
pub fn cancelled_waiting_record(job: &JobRow, now_us: i64) -> ExecutionRecord {
    let (id, input, links) = attempt_of(&JobRow {
        attempts: job.attempts + 1,
        ..job.clone()
    });
    let start = Start {
        id,
        kind: Kind::Job,
        function: job.name.clone(),
        method: None,
        path: None,
        input,
        links,
    };
    let ending = Ending {
        status: Status::Cancelled,
        http_status: None,
        started_at_us: now_us,
        duration_us: 0,
        output: None,
        error: Some(flux_error("CancelledError", CANCELLED_WAITING.into())),
        code_version: String::new(),
        mutations: Vec::new(),
    };
    ExecutionRecord::assemble(start, ending, Traced::default())
}

/// The attempt of `job` whose number is `job.attempts` (a row that counts it): its execution
/// id (`next_exec_id`), the job object its worker receives, and its record's links.
pub fn attempt_of(job: &JobRow) -> (ExecId, Value, Links) {
    let id = job
        .next_exec_id
        .parse()
        .unwrap_or_else(|_| ExecId::random());
    let previous_attempt = job.last_record.as_deref().and_then(|id| id.parse().ok());
    let links = Links {
        job_id: Some(job.id.clone()),
        attempt: Some(job.attempts),
        max_attempts: Some(job.max_attempts),
        enqueued_by: job.enqueued_by.as_deref().and_then(|id| id.parse().ok()),
        previous_attempt,
        // A replay resets the count: its first attempt follows the dead one.
        replay_of: (job.attempts == 1 && job.replays > 0)
            .then_some(previous_attempt)
            .flatten(),
        edited_data: job.data_edited,
    };
    (id, job_input(job), links)
}

/// The job object a worker receives as its first argument.
pub fn job_input(row: &JobRow) -> Value {
    serde_json::json!({
        "id": row.id,
        "name": row.name,
        "data": row.data,
        "attempt": row.attempts,
        "maxAttempts": row.max_attempts,
        "enqueuedAt": crate::timefmt::rfc3339(row.enqueued_at_us),
        "enqueuedBy": row.enqueued_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_seed() {
        let exponential = Backoff::default();
        let secs = |failed| backoff_delay(&exponential, failed, 0.0).as_secs_f64();
        assert_eq!([secs(1), secs(2), secs(3)], [1.0, 4.0, 16.0]);
        let linear = Backoff {
            kind: BackoffKind::Linear,
            initial: Duration::from_millis(100),
        };
        let ms = |failed| backoff_delay(&linear, failed, 0.0).as_millis();
        assert_eq!([ms(1), ms(2), ms(3)], [100, 200, 300]);
        assert_eq!(backoff_delay(&exponential, 2, 1.0).as_millis(), 4_400);
        assert_eq!(backoff_delay(&exponential, 2, -1.0).as_millis(), 3_600);
    }
}
