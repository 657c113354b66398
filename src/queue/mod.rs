//! The durable job queue. Jobs live in `_flux_jobs`, in the same SQLite file as the app's
//! tables, so an enqueue inside a transaction commits or rolls back with it. A job's state
//! changes are committed together with the record of the attempt that caused them.

mod dispatcher;
mod runner;
mod store;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::project::{Backoff, BackoffKind};
use crate::record::{ExecId, ExecutionRecord, Status};

pub use dispatcher::{
    recover_attempts, tail_feed, ConfigSource, Dispatcher, DispatcherHandle, TailSender,
};
pub use runner::{Attempt, Runner};
pub use store::{
    apply_transition, dead_letters, due_jobs, enqueue, find_job, forget_partial_attempts,
    list_jobs, mark_partial_attempts, mark_running, next_due, recover_running, replay, stats,
    take_partial_attempts, DeadLetter, EnqueueError, EnqueueOptions, Enqueued, JobLookup, JobRow,
    ReplayError, StatsRow,
};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _flux_jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    state TEXT NOT NULL,
    run_at_us INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    enqueued_at_us INTEGER NOT NULL,
    enqueued_by TEXT,
    idempotency_key TEXT,
    next_exec_id TEXT NOT NULL,
    last_record TEXT,
    last_error TEXT,
    replays INTEGER NOT NULL DEFAULT 0,
    updated_at_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS _flux_jobs_due ON _flux_jobs (state, run_at_us);
-- Not a partial index: with one, SQLite re-prepares every statement on this table whose
-- bound values change (to re-check the index's WHERE), which costs more than the NULL entries.
DROP INDEX IF EXISTS _flux_jobs_key;
CREATE INDEX IF NOT EXISTS _flux_jobs_idempotency ON _flux_jobs (idempotency_key);
-- Attempts whose writes committed before their record: written with those writes, removed
-- with the record, so that a killed flux dev still leaves a record of every attempt that wrote.
CREATE TABLE IF NOT EXISTS _flux_partial_attempts (
    exec_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    started_at_us INTEGER NOT NULL
);
";

/// The states a job moves through. `pending` and `scheduled` wait; `running` is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Scheduled,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Pending,
        JobState::Scheduled,
        JobState::Running,
        JobState::Done,
        JobState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What an attempt's runner needs to know about its job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobAttempt {
    pub job_id: String,
    pub name: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// The attempt's writes commit only if it succeeds (`atomic: true` in the worker's config).
    pub atomic: bool,
}

/// What an attempt's outcome does to its job; committed with the attempt's record.
#[derive(Debug, Clone, PartialEq)]
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

/// The summaries of a job's attempts, oldest first.
pub fn attempts_of(
    conn: &rusqlite::Connection,
    job: &JobRow,
) -> crate::store::Result<Vec<crate::record::RecordSummary>> {
    let Some(latest) = &job.last_record else {
        return Ok(Vec::new());
    };
    let chain = crate::store::attempt_chain(conn, latest)?;
    Ok(chain
        .iter()
        .map(crate::record::RecordSummary::from)
        .collect())
}

/// A job (by its id or any attempt's id prefix) and the summaries of its attempts.
pub fn attempt_summaries(
    conn: &rusqlite::Connection,
    prefix: &str,
) -> crate::store::Result<Option<(JobRow, Vec<crate::record::RecordSummary>)>> {
    let JobLookup::Found(job) = find_job(conn, prefix)? else {
        return Ok(None);
    };
    let attempts = attempts_of(conn, &job)?;
    Ok(Some((*job, attempts)))
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
}
