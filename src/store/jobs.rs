//! The queue's tables and SQL: every read and write of `_flux_jobs` and
//! `_flux_partial_attempts`. The rules (backoff, what an attempt's outcome does to its job)
//! are the queue's; this module only stores their results.

use std::time::Duration;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::resolve::MATCH_LIMIT;
use super::search::Query;
use super::StoreError;
use crate::record::{short_error, ExecId, JobId, JobState, Transition};

/// The queue's tables, created with the store's own (see [`super::Store::open`]).
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
    updated_at_us INTEGER NOT NULL,
    data_edited INTEGER NOT NULL DEFAULT 0
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

/// How long an idempotency key keeps returning the first job.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

const COLUMNS: &str =
    "id, name, data, state, run_at_us, attempts, max_attempts, enqueued_at_us, enqueued_by, \
                       next_exec_id, last_record, last_error, replays, updated_at_us, data_edited";

/// Brings a queue table made by an older flux up to date: columns added since.
pub fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let has_edited: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('_flux_jobs') WHERE name = 'data_edited')",
        [],
        |row| row.get(0),
    )?;
    if !has_edited {
        conn.execute_batch(
            "ALTER TABLE _flux_jobs ADD COLUMN data_edited INTEGER NOT NULL DEFAULT 0",
        )?;
    }
    Ok(())
}

/// One job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: JobId,
    pub name: String,
    pub data: Value,
    pub state: JobState,
    pub run_at_us: i64,
    /// Attempts started so far (the running one included).
    pub attempts: u32,
    pub max_attempts: u32,
    pub enqueued_at_us: i64,
    pub enqueued_by: Option<String>,
    /// The execution id the next attempt will have.
    pub next_exec_id: String,
    pub last_record: Option<String>,
    pub last_error: Option<String>,
    pub replays: u32,
    pub updated_at_us: i64,
    /// Its payload was replaced when it was last replayed: attempts since then ran with other
    /// data than the ones before.
    #[serde(default)]
    pub data_edited: bool,
}

/// A job id column: made by flux, so always one; a damaged one is a conversion error.
fn job_id(row: &Row<'_>, column: usize) -> rusqlite::Result<JobId> {
    let text: String = row.get(column)?;
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn job_row(row: &Row<'_>) -> rusqlite::Result<JobRow> {
    let data: String = row.get(2)?;
    let state: String = row.get(3)?;
    Ok(JobRow {
        id: job_id(row, 0)?,
        name: row.get(1)?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        state: JobState::parse(&state).unwrap_or(JobState::Pending),
        run_at_us: row.get(4)?,
        attempts: row.get(5)?,
        max_attempts: row.get(6)?,
        enqueued_at_us: row.get(7)?,
        enqueued_by: row.get(8)?,
        next_exec_id: row.get(9)?,
        last_record: row.get(10)?,
        last_error: row.get(11)?,
        replays: row.get(12)?,
        updated_at_us: row.get(13)?,
        data_edited: row.get(14)?,
    })
}

/// `opts` of `ctx.queue.enqueue(name, data, opts)`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnqueueOptions {
    /// Milliseconds, or a duration string such as `'5s'`.
    pub delay: Option<Value>,
    /// An ISO 8601 date.
    pub run_at: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("invalid enqueue options: {0}")]
    Options(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for EnqueueError {
    fn from(error: rusqlite::Error) -> Self {
        EnqueueError::Store(error.into())
    }
}

/// A job written by [`enqueue`].
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    pub id: JobId,
    pub run_at_us: i64,
    /// The execution id its first attempt will have.
    pub exec_id: String,
    /// An idempotency key matched an earlier job; nothing was added.
    pub duplicate: bool,
}

/// The furthest ahead a job may be scheduled, by `delay` or `runAt`.
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(365 * 24 * 3600);

fn delay_out_of_range(got: &str) -> EnqueueError {
    EnqueueError::Options(format!(
        "delay must be from 0 to {} milliseconds (365 days), got {got}",
        MAX_SCHEDULE_AHEAD.as_millis()
    ))
}

fn parse_delay(delay: &Value) -> Result<Duration, EnqueueError> {
    match delay {
        Value::Number(n) => n
            .as_f64()
            .filter(|ms| (0.0..=MAX_SCHEDULE_AHEAD.as_millis() as f64).contains(ms))
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .ok_or_else(|| delay_out_of_range(&n.to_string())),
        Value::String(text) => {
            let delay = match humantime::parse_duration(text.trim()) {
                Ok(delay) => delay,
                // NaN and Infinity arrive as text (JSON has no such numbers).
                Err(_) if text.trim().parse::<f64>().is_ok() => {
                    return Err(delay_out_of_range(text.trim()))
                }
                Err(e) => {
                    return Err(EnqueueError::Options(format!(
                        "delay '{text}' is not a duration such as '5s' ({e})"
                    )))
                }
            };
            if delay > MAX_SCHEDULE_AHEAD {
                return Err(EnqueueError::Options(format!(
                    "delay '{text}' is longer than the 365 days a job may be scheduled ahead"
                )));
            }
            Ok(delay)
        }
        other => Err(EnqueueError::Options(format!(
            "delay must be milliseconds or a duration string, got {other}"
        ))),
    }
}

/// `duration` in microseconds, saturating.
pub(super) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The oldest enqueue time at `now_us` whose idempotency key still matches.
pub(super) fn idempotency_window_start(now_us: i64) -> i64 {
    now_us.saturating_sub(micros(IDEMPOTENCY_WINDOW))
}

/// What a new job is given when enqueued at `now_us` to run at `run_at_us`.
pub(super) struct NewJob {
    pub id: JobId,
    /// The id its first execution will record under.
    pub exec_id: String,
    /// Scheduled when due later than now, else pending.
    pub state: JobState,
}

pub(super) fn new_job(run_at_us: i64, now_us: i64) -> NewJob {
    NewJob {
        id: JobId::random(),
        exec_id: ExecId::random().to_string(),
        state: if run_at_us > now_us {
            JobState::Scheduled
        } else {
            JobState::Pending
        },
    }
}

/// When a job enqueued at `now_us` with `options` is due.
pub(super) fn run_at(options: &EnqueueOptions, now_us: i64) -> Result<i64, EnqueueError> {
    Ok(match (&options.delay, &options.run_at) {
        (Some(_), Some(_)) => {
            return Err(EnqueueError::Options(
                "give either delay or runAt, not both".into(),
            ))
        }
        (Some(delay), None) => now_us.saturating_add(micros(parse_delay(delay)?)),
        (None, Some(text)) => {
            let at =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| {
                    EnqueueError::Options(format!("runAt '{text}' is not an ISO 8601 date ({e})"))
                })?;
            let at_us = i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX);
            if at_us > now_us.saturating_add(micros(MAX_SCHEDULE_AHEAD)) {
                return Err(EnqueueError::Options(format!(
                    "runAt '{text}' is more than the 365 days ahead a job may be scheduled"
                )));
            }
            at_us
        }
        (None, None) => now_us,
    })
}

/// Writes a job on `conn`, inside whatever transaction `conn` has open.
pub fn enqueue(
    conn: &Connection,
    name: &str,
    data: &Value,
    options: &EnqueueOptions,
    max_attempts: u32,
    enqueued_by: Option<ExecId>,
    now_us: i64,
) -> Result<Enqueued, EnqueueError> {
    let run_at_us = run_at(options, now_us)?;
    if let Some(key) = &options.idempotency_key {
        let window_start = idempotency_window_start(now_us);
        let existing: Option<(JobId, i64, String)> = conn
            .query_row(
                "SELECT id, run_at_us, next_exec_id FROM _flux_jobs WHERE idempotency_key = ?1 AND name = ?2
                 AND (state IN ('pending', 'scheduled', 'running') OR enqueued_at_us >= ?3)
                 ORDER BY enqueued_at_us DESC LIMIT 1",
                params![key, name, window_start],
                |row| Ok((job_id(row, 0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        if let Some((id, run_at_us, exec_id)) = existing {
            return Ok(Enqueued {
                id,
                run_at_us,
                exec_id,
                duplicate: true,
            });
        }
    }
    let NewJob { id, exec_id, state } = new_job(run_at_us, now_us);
    conn.prepare_cached(
        "INSERT INTO _flux_jobs (id, name, data, state, run_at_us, max_attempts, enqueued_at_us,
         enqueued_by, idempotency_key, next_exec_id, updated_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?7)",
    )?
    .execute(params![
        id.to_string(),
        name,
        data.to_string(),
        state.as_str(),
        run_at_us,
        max_attempts,
        now_us,
        enqueued_by.map(|e| e.to_string()),
        options.idempotency_key,
        exec_id,
    ])?;
    Ok(Enqueued {
        id,
        run_at_us,
        exec_id,
        duplicate: false,
    })
}

/// Up to `limit` waiting jobs that are due, oldest first. Jobs named in `full` are left out:
/// their workers are at their concurrency. Nothing is written: see [`mark_running`].
pub fn due_jobs(
    conn: &Connection,
    now_us: i64,
    limit: usize,
    full: &[String],
) -> rusqlite::Result<Vec<JobRow>> {
    // One index range per state, read in run_at order and merged here: a single query over
    // both states would sort every due job each time. No LIMIT clause: the planner looks at
    // a bound LIMIT's value, so a changing one would re-prepare the statement every round.
    let mut pending = due_in_state(conn, "pending", now_us, limit, full)?;
    let scheduled = due_in_state(conn, "scheduled", now_us, limit, full)?;
    if !scheduled.is_empty() {
        pending.extend(scheduled);
        pending.sort_by_key(|job| job.run_at_us);
        pending.truncate(limit);
    }
    Ok(pending)
}

fn due_in_state(
    conn: &Connection,
    state: &'static str,
    now_us: i64,
    limit: usize,
    full: &[String],
) -> rusqlite::Result<Vec<JobRow>> {
    // Numbered parameters keep the text, and so the cached statement, the same each round.
    // The state is written into the text: with it bound, the ORDER BY planning depends on the
    // bound value and SQLite re-prepares the statement on every run.
    let exclude = if full.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = (0..full.len()).map(|i| format!("?{}", i + 2)).collect();
        format!(" AND name NOT IN ({})", list.join(", "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM _flux_jobs WHERE state = '{state}' AND run_at_us <= ?1{exclude}
         ORDER BY run_at_us"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut values: Vec<rusqlite::types::Value> = vec![now_us.into()];
    values.extend(
        full.iter()
            .map(|name| rusqlite::types::Value::Text(name.clone())),
    );
    let jobs = stmt.query_map(params_from_iter(values), job_row)?;
    jobs.take(limit).collect()
}

/// Records that an attempt of each of `job_ids` has started.
pub fn mark_running<'a>(
    conn: &Connection,
    job_ids: impl IntoIterator<Item = &'a JobId>,
    now_us: i64,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE _flux_jobs SET state = 'running', attempts = attempts + 1, updated_at_us = ?2 WHERE id = ?1",
    )?;
    for job_id in job_ids {
        stmt.execute(params![job_id.to_string(), now_us])?;
    }
    Ok(())
}

/// When the next waiting job not named in `skip` is due, if any job waits.
pub fn next_due(conn: &Connection, skip: &[String]) -> rusqlite::Result<Option<i64>> {
    // Per state, so that each is one step down the index rather than a scan of the waiting
    // (with names to skip, a walk in run_at order up to the first job not skipped).
    let earliest = |state: &str| -> rusqlite::Result<Option<i64>> {
        if skip.is_empty() {
            return conn
                .prepare_cached(&format!(
                    "SELECT min(run_at_us) FROM _flux_jobs WHERE state = '{state}'"
                ))?
                .query_row([], |row| row.get(0));
        }
        let list: Vec<String> = (1..=skip.len()).map(|i| format!("?{i}")).collect();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT run_at_us FROM _flux_jobs WHERE state = '{state}' AND name NOT IN ({})
             ORDER BY run_at_us LIMIT 1",
            list.join(", ")
        ))?;
        let mut rows = stmt.query(params_from_iter(skip.iter()))?;
        rows.next()?.map(|row| row.get(0)).transpose()
    };
    Ok(earliest("pending")?
        .into_iter()
        .chain(earliest("scheduled")?)
        .min())
}

/// At start-up: attempts that were running when the last `flux dev` died run again, and do not
/// count against their job's attempts. Returns how many there were.
pub fn recover_running(conn: &Connection, now_us: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE _flux_jobs SET state = 'pending', attempts = max(attempts - 1, 0), updated_at_us = ?1
         WHERE state = 'running'",
        [now_us],
    )
}

/// Notes attempts whose writes are about to commit ahead of their record: should flux dev
/// die before the record, the next start writes one for them (see [`take_partial_attempts`]).
pub fn mark_partial_attempts(
    conn: &Connection,
    attempts: &[(ExecId, JobId, i64)],
) -> rusqlite::Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO _flux_partial_attempts (exec_id, job_id, started_at_us)
         VALUES (?1, ?2, ?3)",
    )?;
    for (exec, job_id, started_at_us) in attempts {
        stmt.execute(params![exec.to_string(), job_id.to_string(), started_at_us])?;
    }
    Ok(())
}

/// The attempts' records are being stored: the notes of [`mark_partial_attempts`] go.
pub fn forget_partial_attempts(conn: &Connection, execs: &[ExecId]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM _flux_partial_attempts WHERE exec_id = ?1")?;
    for exec in execs {
        stmt.execute([exec.to_string()])?;
    }
    Ok(())
}

/// Attempts that committed writes and then lost their record to a killed process: their
/// execution id, their job (if it still exists) and when they started. Removes the notes.
pub fn take_partial_attempts(
    conn: &Connection,
) -> rusqlite::Result<Vec<(ExecId, Option<JobRow>, i64)>> {
    let rows: Vec<(String, String, i64)> = conn
        .prepare("SELECT exec_id, job_id, started_at_us FROM _flux_partial_attempts")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut attempts = Vec::with_capacity(rows.len());
    for (exec, job_id, started_at_us) in rows {
        let Ok(exec) = exec.parse::<ExecId>() else {
            continue;
        };
        let job = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM _flux_jobs WHERE id = ?1"))?
            .query_row([&job_id], job_row)
            .optional()?;
        attempts.push((exec, job, started_at_us));
    }
    conn.execute("DELETE FROM _flux_partial_attempts", [])?;
    Ok(attempts)
}

/// Applies an attempt's outcome to its job (called in the transaction that stores the record).
pub fn apply_transition(
    conn: &Connection,
    job_id: &JobId,
    record_id: &str,
    transition: &Transition,
    error: Option<&str>,
    now_us: i64,
) -> rusqlite::Result<()> {
    let job_id = job_id.to_string();
    match transition {
        Transition::Done => conn.prepare_cached(
            "UPDATE _flux_jobs SET state = 'done', last_record = ?2, last_error = NULL, updated_at_us = ?3 WHERE id = ?1",
        )?
        .execute(params![job_id, record_id, now_us])?,
        Transition::Retry { run_at_us, next_exec_id } => conn.prepare_cached(
            "UPDATE _flux_jobs SET state = 'scheduled', run_at_us = ?4, next_exec_id = ?5, last_record = ?2,
             last_error = ?6, updated_at_us = ?3 WHERE id = ?1",
        )?
        .execute(params![job_id, record_id, now_us, run_at_us, next_exec_id.to_string(), error])?,
        Transition::Dead => conn.prepare_cached(
            "UPDATE _flux_jobs SET state = 'dead', last_record = ?2, last_error = ?4, updated_at_us = ?3 WHERE id = ?1",
        )?
        .execute(params![job_id, record_id, now_us, error])?,
        Transition::Requeue { next_exec_id } => conn.prepare_cached(
            "UPDATE _flux_jobs SET state = 'pending', attempts = max(attempts - 1, 0), next_exec_id = ?4,
             last_record = ?2, updated_at_us = ?3 WHERE id = ?1",
        )?
        .execute(params![job_id, record_id, now_us, next_exec_id.to_string()])?,
        Transition::Cancelled => conn.prepare_cached(
            "UPDATE _flux_jobs SET state = 'cancelled', last_record = ?2, last_error = ?4, updated_at_us = ?3 WHERE id = ?1",
        )?
        .execute(params![job_id, record_id, now_us, error])?,
    };
    Ok(())
}

/// Counts per function and state, for `flux queue stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsRow {
    pub function: String,
    pub pending: u64,
    pub scheduled: u64,
    pub running: u64,
    pub done: u64,
    pub dead: u64,
    #[serde(default)]
    pub cancelled: u64,
    /// How long the oldest pending job has waited.
    pub oldest_pending_age_us: Option<i64>,
    /// Jobs wait and no function of this name exists (removed or renamed): they stay
    /// pending until it is back. Set by whoever knows the project's functions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing_worker: bool,
}

impl StatsRow {
    /// Marks the rows with waiting jobs whose worker does not `exist`.
    pub fn mark_missing_workers(rows: &mut [StatsRow], exists: impl Fn(&str) -> bool) {
        for row in rows {
            row.missing_worker = row.pending + row.scheduled > 0 && !exists(&row.function);
        }
    }
}

pub(super) fn stats(conn: &Connection, now_us: i64) -> rusqlite::Result<Vec<StatsRow>> {
    let mut stmt = conn.prepare(
        "SELECT name, state, count(*), min(CASE WHEN state = 'pending' THEN run_at_us END)
         FROM _flux_jobs GROUP BY name, state ORDER BY name",
    )?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(stats_from_rows(rows, now_us))
}

/// Stats rows from counts `(name, state, count, oldest pending run_at)` in name order.
pub(super) fn stats_from_rows(
    counts: Vec<(String, String, i64, Option<i64>)>,
    now_us: i64,
) -> Vec<StatsRow> {
    let mut rows: Vec<StatsRow> = Vec::new();
    for (name, state, count, oldest) in counts {
        let count = count.max(0) as u64;
        if rows.last().is_none_or(|r| r.function != name) {
            rows.push(StatsRow {
                function: name,
                ..StatsRow::default()
            });
        }
        let Some(entry) = rows.last_mut() else {
            continue;
        };
        match JobState::parse(&state) {
            Some(JobState::Pending) => {
                entry.pending = count;
                entry.oldest_pending_age_us = oldest.map(|at| (now_us - at).max(0));
            }
            Some(JobState::Scheduled) => entry.scheduled = count,
            Some(JobState::Running) => entry.running = count,
            Some(JobState::Done) => entry.done = count,
            Some(JobState::Dead) => entry.dead = count,
            Some(JobState::Cancelled) => entry.cancelled = count,
            None => {}
        }
    }
    rows
}

/// Jobs, newest first, optionally of one state and one function.
pub(super) fn list_jobs(
    conn: &Connection,
    state: Option<JobState>,
    name: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<JobRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM _flux_jobs WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR name = ?2)
         ORDER BY updated_at_us DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(
        params![state.map(JobState::as_str), name, limit as i64],
        job_row,
    )?;
    rows.collect()
}

/// A dead job as `flux queue dead-letter list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The last attempt's execution id: the one to `flux why`.
    pub id: String,
    pub job_id: JobId,
    pub function: String,
    pub attempts: u32,
    pub error: String,
    /// The error as the list line shows it.
    pub short_error: String,
    pub died_at_us: i64,
}

/// Dead jobs, most recently dead first: of worker `name`, and whose last attempt's record
/// contains `search` (see [`super::search`]) when given.
pub fn dead_jobs(
    conn: &Connection,
    name: Option<&str>,
    search: Option<&Query>,
) -> rusqlite::Result<Vec<JobRow>> {
    let Some(search) = search else {
        return list_jobs(conn, Some(JobState::Dead), name, 100_000);
    };
    if !search.indexed() {
        // Too short for the index: the newest dead jobs' last records are looked through.
        let mut body = conn.prepare_cached(
            "SELECT body FROM _flux_records WHERE id_hi BETWEEN ?2 AND ?3 AND id = ?1",
        )?;
        let mut kept = Vec::new();
        for job in list_jobs(conn, Some(JobState::Dead), name, super::search::SCAN_ROWS)? {
            let Some(id) = &job.last_record else {
                continue;
            };
            let (low, high) = ExecId::hi_range(id);
            let text: Option<String> = body
                .query_row(params![id, low, high], |row| row.get(0))
                .optional()?;
            if text.is_some_and(|text| search.matches_body(&text)) {
                kept.push(job);
            }
        }
        return Ok(kept);
    }
    let expr = search.match_expr();
    let sql = format!(
        "SELECT {COLUMNS} FROM _flux_jobs WHERE state = 'dead' AND (?1 IS NULL OR name = ?1)
         AND last_record IN (SELECT id FROM _flux_records WHERE seq IN
             (SELECT rowid FROM _flux_search WHERE _flux_search MATCH ?2))
         ORDER BY updated_at_us DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![name, expr], job_row)?;
    rows.collect()
}

pub(super) fn dead_letters(
    conn: &Connection,
    name: Option<&str>,
    search: Option<&Query>,
) -> rusqlite::Result<Vec<DeadLetter>> {
    let jobs = dead_jobs(conn, name, search)?;
    Ok(jobs.into_iter().map(DeadLetter::from).collect())
}

impl From<JobRow> for DeadLetter {
    fn from(job: JobRow) -> DeadLetter {
        let error = job.last_error.clone().unwrap_or_default();
        DeadLetter {
            id: job
                .last_record
                .clone()
                .unwrap_or_else(|| job.id.to_string()),
            job_id: job.id,
            function: job.name,
            attempts: job.attempts,
            short_error: short_error(&error),
            error,
            died_at_us: job.updated_at_us,
        }
    }
}

#[derive(Debug)]
pub enum JobLookup {
    Found(Box<JobRow>),
    NotFound,
    Ambiguous(Vec<String>),
}

/// The job a prefix names: a job id, or the id of any of its attempts' executions.
pub(super) fn find_job(conn: &Connection, prefix: &str) -> rusqlite::Result<JobLookup> {
    let upper = format!("{prefix}g");
    let mut ids: Vec<String> = conn
        .prepare_cached("SELECT id FROM _flux_jobs WHERE id >= ?1 AND id < ?2 LIMIT 5")?
        .query_map(params![prefix, upper], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let (low, high) = ExecId::hi_range(prefix);
    let from_records: Vec<String> = conn
        .prepare_cached(
            "SELECT DISTINCT job_id FROM _flux_records WHERE id_hi BETWEEN ?3 AND ?4
             AND id >= ?1 AND id < ?2 AND job_id IS NOT NULL LIMIT 5",
        )?
        .query_map(params![prefix, upper, low, high], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let from_next: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM _flux_jobs WHERE next_exec_id >= ?1 AND next_exec_id < ?2 LIMIT 5",
        )?
        .query_map(params![prefix, upper], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    merge_ids(&mut ids, from_records, from_next);
    Ok(match ids.len() {
        0 => JobLookup::NotFound,
        1 => {
            let job = conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM _flux_jobs WHERE id = ?1"))?
                .query_row([&ids[0]], job_row)
                .optional()?;
            job.map_or(JobLookup::NotFound, |job| JobLookup::Found(Box::new(job)))
        }
        _ => JobLookup::Ambiguous(ids),
    })
}

/// Adds the job ids found through attempts' ids to those found by the job's own id, once each.
pub(super) fn merge_ids(ids: &mut Vec<String>, from_records: Vec<String>, from_next: Vec<String>) {
    for id in from_records.into_iter().chain(from_next) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
}

/// The jobs whose own ids start with `prefix`, at most [`MATCH_LIMIT`].
pub(super) fn jobs_by_prefix(conn: &Connection, prefix: &str) -> rusqlite::Result<Vec<JobRow>> {
    let upper = format!("{prefix}g");
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM _flux_jobs WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3"
    ))?
    .query_map(params![prefix, upper, MATCH_LIMIT as i64], job_row)?
    .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("job {} ({name}) is {state}, not dead-lettered: only dead jobs can be replayed", id.short())]
    NotDead {
        id: JobId,
        name: String,
        state: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ReplayError {
    fn from(error: rusqlite::Error) -> Self {
        ReplayError::Store(error.into())
    }
}

/// Puts a dead job back in the queue with a fresh attempt count, with `data` as its payload
/// when given (noted in `data_edited`); returns the execution id its next attempt will have.
pub(super) fn replay(
    conn: &Connection,
    job: &JobRow,
    max_attempts: u32,
    now_us: i64,
    data: Option<&Value>,
) -> Result<String, ReplayError> {
    replayable(job)?;
    let exec_id = ExecId::random().to_string();
    let changed = conn.execute(
        "UPDATE _flux_jobs SET state = 'pending', attempts = 0, max_attempts = ?2, run_at_us = ?3,
         next_exec_id = ?4, replays = replays + 1, updated_at_us = ?3,
         data = coalesce(?5, data), data_edited = ?5 IS NOT NULL
         WHERE id = ?1 AND state = 'dead'",
        params![
            job.id.to_string(),
            max_attempts,
            now_us,
            exec_id,
            data.map(Value::to_string)
        ],
    )?;
    if changed == 0 {
        return Err(ReplayError::no_longer_dead(job));
    }
    Ok(exec_id)
}

/// Only a dead job can be replayed.
pub(super) fn replayable(job: &JobRow) -> Result<(), ReplayError> {
    if job.state != JobState::Dead {
        return Err(ReplayError::NotDead {
            id: job.id.clone(),
            name: job.name.clone(),
            state: job.state.as_str(),
        });
    }
    Ok(())
}

impl ReplayError {
    /// The job was dead when read, and another writer replayed (or pruned) it since.
    pub(super) fn no_longer_dead(job: &JobRow) -> ReplayError {
        ReplayError::NotDead {
            id: job.id.clone(),
            name: job.name.clone(),
            state: "no longer dead",
        }
    }
}

/// Cancels a job that waits (pending or scheduled), naming the id its next attempt would have
/// had as its last record (the record of its cancellation). Returns whether it was waiting.
pub(super) fn cancel_waiting(
    conn: &Connection,
    job: &JobRow,
    reason: &str,
    now_us: i64,
) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE _flux_jobs SET state = 'cancelled', last_record = next_exec_id, last_error = ?2,
         updated_at_us = ?3 WHERE id = ?1 AND state IN ('pending', 'scheduled')",
        params![job.id.to_string(), reason, now_us],
    )?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(SCHEMA).expect("schema");
        conn.execute_batch("CREATE TABLE _flux_records (id TEXT, id_hi INTEGER, job_id TEXT)")
            .expect("records");
        conn
    }

    #[test]
    fn idempotency_keys_return_the_first_job() {
        let conn = conn();
        let options = EnqueueOptions {
            idempotency_key: Some("k".into()),
            ..Default::default()
        };
        let first = enqueue(&conn, "w", &json!({}), &options, 3, None, 1_000).expect("first");
        let second = enqueue(&conn, "w", &json!({}), &options, 3, None, 2_000).expect("second");
        assert_eq!(first.id, second.id);
        assert!(second.duplicate);
    }

    #[test]
    fn delays_schedule_later_and_claims_wait_for_them() {
        let conn = conn();
        let later = EnqueueOptions {
            delay: Some(json!("5s")),
            ..Default::default()
        };
        let job = enqueue(&conn, "w", &json!(null), &later, 3, None, 0).expect("enqueue");
        assert_eq!(job.run_at_us, 5_000_000);
        assert!(due_jobs(&conn, 4_999_999, 10, &[]).expect("due").is_empty());
        assert_eq!(next_due(&conn, &[]).expect("next"), Some(5_000_000));
        let due = due_jobs(&conn, 5_000_000, 10, &[]).expect("due");
        assert_eq!((due.len(), due[0].attempts), (1, 0));
        let bad = EnqueueOptions {
            delay: Some(json!(-1)),
            ..Default::default()
        };
        assert!(enqueue(&conn, "w", &json!(null), &bad, 3, None, 0).is_err());
    }

    #[test]
    fn full_workers_are_skipped_and_running_jobs_recover() {
        let conn = conn();
        for name in ["a", "b"] {
            enqueue(
                &conn,
                name,
                &json!(null),
                &EnqueueOptions::default(),
                3,
                None,
                0,
            )
            .expect("enqueue");
        }
        let due = due_jobs(&conn, 1, 10, &["a".to_string()]).expect("due");
        assert_eq!(
            due.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        mark_running(&conn, [&due[0].id], 2).expect("mark");
        assert_eq!(due_jobs(&conn, 3, 10, &[]).expect("due").len(), 1);
        assert_eq!(recover_running(&conn, 4).expect("recover"), 1);
        assert_eq!(due_jobs(&conn, 5, 10, &[]).expect("due").len(), 2);
    }

    #[test]
    fn only_dead_jobs_replay_with_a_fresh_count() {
        let conn = conn();
        enqueue(
            &conn,
            "w",
            &json!(1),
            &EnqueueOptions::default(),
            3,
            None,
            0,
        )
        .expect("enqueue");
        let job = due_jobs(&conn, 1, 1, &[]).expect("due").remove(0);
        mark_running(&conn, [&job.id], 1).expect("mark");
        let JobLookup::Found(job) = find_job(&conn, &job.id.to_string()).expect("find") else {
            panic!("no job")
        };
        assert!(matches!(
            replay(&conn, &job, 3, 2, None),
            Err(ReplayError::NotDead { .. })
        ));
        apply_transition(
            &conn,
            &job.id,
            "r1",
            &Transition::Dead,
            Some("boom (detail)"),
            3,
        )
        .expect("dead");
        let dead = dead_letters(&conn, None, None).expect("list");
        assert_eq!(
            (dead[0].id.as_str(), dead[0].short_error.as_str()),
            ("r1", "boom")
        );
        let JobLookup::Found(job) = find_job(&conn, &job.id.to_string()[..6]).expect("find") else {
            panic!("job not found by prefix")
        };
        let next = replay(&conn, &job, 5, 4, Some(&json!({ "fixed": true }))).expect("replay");
        let again = due_jobs(&conn, 5, 1, &[]).expect("due").remove(0);
        assert_eq!(
            (again.attempts, again.max_attempts, again.next_exec_id),
            (0, 5, next)
        );
        assert_eq!(
            (again.data, again.data_edited),
            (json!({ "fixed": true }), true)
        );
    }
}
