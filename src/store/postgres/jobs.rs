//! The queue's table on PostgreSQL: the reads of `Storage` (stats, lists, dead letters, what a
//! prefix names), a job's transition with its attempt's record, and enqueueing. The rules
//! (when a job is due, what a dead letter shows) are `store::jobs`'.

use postgres::types::Type;
use postgres::GenericClient;
use serde_json::Value;

use super::super::jobs::{
    idempotency_window_start, merge_ids, new_job, replayable, run_at, stats_from_rows, NewJob,
};
use super::super::resolve::MATCH_LIMIT;
use super::super::search::Query;
use super::super::{
    DeadLetter, EnqueueError, EnqueueOptions, Enqueued, JobLookup, JobRow, ReplayError, Result,
    StatsRow, StoreError,
};
use super::records::prefix_range;
use crate::record::{ExecId, JobId, JobState, Transition};

pub(super) const COLUMNS: &str =
    "id, name, data, state, run_at_us, attempts, max_attempts, enqueued_at_us, \
    enqueued_by, next_exec_id, last_record, last_error, replays, updated_at_us, data_edited";

/// A job as stored; ids and states are flux's own, so one that does not parse is damage.
fn job_row(row: &postgres::Row) -> Result<JobRow> {
    let id: String = row.get(0);
    let data: String = row.get(2);
    let state: String = row.get(3);
    let count = |i: usize| u32::try_from(row.get::<_, i32>(i)).unwrap_or(0);
    Ok(JobRow {
        id: id.parse().map_err(|_| StoreError::BadRow {
            table: "_flux_jobs",
            message: format!("{id:?} is not a job id"),
        })?,
        name: row.get(1),
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        state: JobState::parse(&state).unwrap_or(JobState::Pending),
        run_at_us: row.get(4),
        attempts: count(5),
        max_attempts: count(6),
        enqueued_at_us: row.get(7),
        enqueued_by: row.get(8),
        next_exec_id: row.get(9),
        last_record: row.get(10),
        last_error: row.get(11),
        replays: count(12),
        updated_at_us: row.get(13),
        data_edited: row.get(14),
    })
}

pub(super) fn job_rows(rows: Vec<postgres::Row>) -> Result<Vec<JobRow>> {
    rows.iter().map(job_row).collect()
}

/// Writes a job in `client`'s transaction (a connection of flux's role); an idempotency key
/// that matches an earlier job returns that one instead (as SQLite's `jobs::enqueue`).
pub fn enqueue(
    client: &mut impl GenericClient,
    name: &str,
    data: &Value,
    options: &EnqueueOptions,
    max_attempts: u32,
    enqueued_by: Option<ExecId>,
    now_us: i64,
) -> Result<Enqueued, EnqueueError> {
    enqueue_as(
        client,
        None,
        name,
        data,
        options,
        max_attempts,
        enqueued_by,
        now_us,
    )
}

/// [`enqueue`] through `_flux_enqueue` (`schema.rs`), so that the sandbox's connection,
/// inside a user's transaction, enqueues the same way: it passes `key`
/// (`_flux_sandbox.key`), flux's own connections `None`.
#[allow(clippy::too_many_arguments)]
pub(super) fn enqueue_as(
    client: &mut impl GenericClient,
    key: Option<&str>,
    name: &str,
    data: &Value,
    options: &EnqueueOptions,
    max_attempts: u32,
    enqueued_by: Option<ExecId>,
    now_us: i64,
) -> Result<Enqueued, EnqueueError> {
    let run_at_us = run_at(options, now_us)?;
    let NewJob { id, exec_id, state } = new_job(run_at_us, now_us);
    // Typed: one round trip (a statement sent as text is described first).
    let rows = client
        .query_typed(
            "SELECT id, run_at_us, next_exec_id, duplicate FROM _flux_enqueue(\
             $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                (&key, Type::TEXT),
                (&id.to_string(), Type::TEXT),
                (&name, Type::TEXT),
                (&data.to_string(), Type::TEXT),
                (&state.as_str(), Type::TEXT),
                (&run_at_us, Type::INT8),
                (&i32::try_from(max_attempts).unwrap_or(i32::MAX), Type::INT4),
                (&now_us, Type::INT8),
                (&enqueued_by.map(|e| e.to_string()), Type::TEXT),
                (&options.idempotency_key, Type::TEXT),
                (&exec_id, Type::TEXT),
                (&idempotency_window_start(now_us), Type::INT8),
            ],
        )
        .map_err(StoreError::from)?;
    let row = rows.first().ok_or_else(|| StoreError::BadRow {
        table: "_flux_jobs",
        message: "_flux_enqueue returned no row".into(),
    })?;
    let stored: String = row.get(0);
    Ok(Enqueued {
        id: stored.parse().map_err(|_| StoreError::BadRow {
            table: "_flux_jobs",
            message: format!("{stored:?} is not a job id"),
        })?,
        run_at_us: row.get(1),
        exec_id: row.get(2),
        duplicate: row.get(3),
    })
}

/// Which attempt may still decide its job: the one `owner` claimed as attempt number
/// `attempt` (see [`super::claims`]). Once its lease expired and the job was put back, the
/// attempt's outcome no longer moves the job.
#[derive(Debug, Clone, Copy)]
pub struct Fence<'a> {
    pub attempt: u32,
    pub owner: &'a str,
}

/// One attempt's outcome for its job, as [`OutcomeColumns`] takes it.
pub(super) struct Outcome<'a> {
    pub job_id: &'a JobId,
    pub record_id: String,
    pub transition: &'a Transition,
    pub error: Option<&'a str>,
    pub fence: Option<Fence<'a>>,
}

/// Attempts' outcomes for their jobs, column by column: the arrays that
/// `_flux_write_records` applies in one statement, in the transaction that stores their
/// records (as SQLite's `jobs::apply_transition` does one by one); a fenced outcome only
/// while its attempt still holds its job. A batch holds at most one outcome per job (an
/// attempt follows the commit of the one before).
#[derive(Default)]
pub(super) struct OutcomeColumns<'a> {
    pub id: Vec<String>,
    pub record_id: Vec<String>,
    pub state: Vec<&'static str>,
    pub run_at_us: Vec<Option<i64>>,
    pub next_exec_id: Vec<Option<String>>,
    pub error: Vec<Option<&'a str>>,
    pub attempt: Vec<Option<i32>>,
    pub owner: Vec<Option<&'a str>>,
}

impl<'a> OutcomeColumns<'a> {
    pub fn push(&mut self, outcome: Outcome<'a>) {
        // 'pending' is a requeue: the interrupted attempt is not counted and its error is
        // not the job's; 'done' clears the error; the others set it.
        let (state, run_at_us, next_exec_id) = match outcome.transition {
            Transition::Done => ("done", None, None),
            Transition::Retry {
                run_at_us,
                next_exec_id,
            } => (
                "scheduled",
                Some(*run_at_us),
                Some(next_exec_id.to_string()),
            ),
            Transition::Dead => ("dead", None, None),
            Transition::Requeue { next_exec_id } => {
                ("pending", None, Some(next_exec_id.to_string()))
            }
            Transition::Cancelled => ("cancelled", None, None),
        };
        self.id.push(outcome.job_id.to_string());
        self.record_id.push(outcome.record_id);
        self.state.push(state);
        self.run_at_us.push(run_at_us);
        self.next_exec_id.push(next_exec_id);
        self.error.push(outcome.error);
        self.attempt.push(
            outcome
                .fence
                .map(|f| i32::try_from(f.attempt).unwrap_or(i32::MAX)),
        );
        self.owner.push(outcome.fence.map(|f| f.owner));
    }
}

pub(super) fn stats(client: &mut impl GenericClient, now_us: i64) -> Result<Vec<StatsRow>> {
    let rows = client.query(
        "SELECT name, state, count(*), min(run_at_us) FILTER (WHERE state = 'pending')
         FROM _flux_jobs GROUP BY name, state ORDER BY name COLLATE \"C\"",
        &[],
    )?;
    let counts = rows
        .into_iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect();
    Ok(stats_from_rows(counts, now_us))
}

pub(super) fn list_jobs(
    client: &mut impl GenericClient,
    state: Option<JobState>,
    name: Option<&str>,
    limit: usize,
) -> Result<Vec<JobRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    job_rows(client.query(
        &format!(
            "SELECT {COLUMNS} FROM _flux_jobs WHERE ($1::text IS NULL OR state = $1)
             AND ($2::text IS NULL OR name = $2) ORDER BY updated_at_us DESC LIMIT $3"
        ),
        &[&state.map(JobState::as_str), &name, &limit],
    )?)
}

/// Dead jobs, most recently dead first: of worker `name`, and whose last attempt's record
/// contains `search`, when given.
pub(super) fn dead_jobs(
    client: &mut impl GenericClient,
    name: Option<&str>,
    search: Option<&Query>,
) -> Result<Vec<JobRow>> {
    let Some(search) = search else {
        return list_jobs(client, Some(JobState::Dead), name, 100_000);
    };
    job_rows(client.query(
        &format!(
            "SELECT {COLUMNS} FROM _flux_jobs WHERE state = 'dead' AND ($1::text IS NULL OR name = $1)
             AND last_record IN (SELECT id FROM _flux_records WHERE search ILIKE $2)
             ORDER BY updated_at_us DESC"
        ),
        &[&name, &search.like_pattern()],
    )?)
}

pub(super) fn dead_letters(
    client: &mut impl GenericClient,
    name: Option<&str>,
    search: Option<&Query>,
) -> Result<Vec<DeadLetter>> {
    Ok(dead_jobs(client, name, search)?
        .into_iter()
        .map(DeadLetter::from)
        .collect())
}

/// The job a prefix names: a job id, or the id of any of its attempts' executions.
pub(super) fn find_job(client: &mut impl GenericClient, prefix: &str) -> Result<JobLookup> {
    let (low, high) = prefix_range(prefix);
    let ids = |client: &mut _, sql: &str| -> Result<Vec<String>> {
        Ok(GenericClient::query(client, sql, &[&low, &high])?
            .into_iter()
            .map(|row| row.get(0))
            .collect())
    };
    let mut found = ids(
        client,
        "SELECT id FROM _flux_jobs WHERE id >= $1 AND id < $2 LIMIT 5",
    )?;
    let from_records = ids(
        client,
        "SELECT DISTINCT job_id FROM _flux_records WHERE id >= $1 AND id < $2
         AND job_id IS NOT NULL LIMIT 5",
    )?;
    let from_next = ids(
        client,
        "SELECT id FROM _flux_jobs WHERE next_exec_id >= $1 AND next_exec_id < $2 LIMIT 5",
    )?;
    merge_ids(&mut found, from_records, from_next);
    Ok(match found.as_slice() {
        [] => JobLookup::NotFound,
        [id] => match client.query_opt(
            &format!("SELECT {COLUMNS} FROM _flux_jobs WHERE id = $1"),
            &[id],
        )? {
            Some(row) => JobLookup::Found(Box::new(job_row(&row)?)),
            None => JobLookup::NotFound,
        },
        _ => JobLookup::Ambiguous(found),
    })
}

/// The jobs whose own ids start with `prefix`, at most [`MATCH_LIMIT`].
pub(super) fn jobs_by_prefix(client: &mut impl GenericClient, prefix: &str) -> Result<Vec<JobRow>> {
    let (low, high) = prefix_range(prefix);
    job_rows(client.query(
        &format!(
            "SELECT {COLUMNS} FROM _flux_jobs WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3"
        ),
        &[&low, &high, &(MATCH_LIMIT as i64)],
    )?)
}

/// Puts a dead job back in the queue with a fresh attempt count, with `data` as its payload
/// when given; returns the execution id its next attempt will have (as SQLite's).
pub(super) fn replay(
    client: &mut impl GenericClient,
    job: &JobRow,
    max_attempts: u32,
    now_us: i64,
    data: Option<&Value>,
) -> Result<String, ReplayError> {
    replayable(job)?;
    let exec_id = ExecId::random().to_string();
    let changed = client
        .execute(
            "UPDATE _flux_jobs SET state = 'pending', attempts = 0, max_attempts = $2,
             run_at_us = $3, next_exec_id = $4, replays = replays + 1, updated_at_us = $3,
             data = coalesce($5, data), data_edited = $5::text IS NOT NULL
             WHERE id = $1 AND state = 'dead'",
            &[
                &job.id.to_string(),
                &i32::try_from(max_attempts).unwrap_or(i32::MAX),
                &now_us,
                &exec_id,
                &data.map(Value::to_string),
            ],
        )
        .map_err(StoreError::from)?;
    if changed == 0 {
        return Err(ReplayError::no_longer_dead(job));
    }
    Ok(exec_id)
}

/// Cancels a job that waits (pending or scheduled); returns whether it was waiting.
pub(super) fn cancel_waiting(
    client: &mut impl GenericClient,
    job: &JobRow,
    reason: &str,
    now_us: i64,
) -> Result<bool> {
    let changed = client.execute(
        "UPDATE _flux_jobs SET state = 'cancelled', last_record = next_exec_id, last_error = $2,
         updated_at_us = $3 WHERE id = $1 AND state IN ('pending', 'scheduled')",
        &[&job.id.to_string(), &reason, &now_us],
    )?;
    Ok(changed == 1)
}
