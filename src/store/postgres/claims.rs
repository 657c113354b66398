//! The queue's claims on PostgreSQL, for many processes sharing one database: a process
//! claims due jobs under a lease (an owner and an expiry), the attempt's outcome moves the
//! job only while that lease holds ([`super::jobs::Fence`], applied by
//! [`super::insert_writes`]), and jobs whose lease expired (their process died or hung) are
//! put back for any process to claim.
//!
//! A claim is one statement in its own transaction, one round trip (`UPDATE … WHERE id =
//! ANY(ARRAY(SELECT … FOR UPDATE SKIP LOCKED LIMIT n)) RETURNING …`): no transaction stays open
//! while the attempt runs, and claimers skip each other's locked rows instead of queueing on
//! them. A row another claimer took after this statement's snapshot is re-checked under its
//! lock (PostgreSQL re-evaluates the `WHERE` on the newest version), so no job is claimed twice.
//! An owner names one process's life (a fresh one at each start), so that a restarted
//! process's claims are not taken for those of its previous life.
//!
//! An atomic attempt's writes commit in its own transaction (the sandbox role's), which marks
//! its job as committed by it while the lease holds ([`mark_committed`]); the mark lasts until
//! its record's transition, so a process dying in between leaves a job that is finished, not
//! run again.
//!
//! Leases are measured on the database's clock (`clock_timestamp()`), so processes on hosts
//! whose clocks disagree still agree on when a lease ran out.

use std::time::Duration;

use std::sync::LazyLock;

use postgres::GenericClient;

use super::super::jobs::micros;
use super::super::{prepare_writes, search, JobRow, Result, StoreWrite};
use super::insert_writes_once;
use super::jobs::{job_rows, COLUMNS};
use super::prepared::Prepared;
use crate::record::{ExecId, ExecutionRecord};

/// Now on the database's clock, in microseconds since the epoch.
const DB_NOW: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

/// Claims up to `limit` due jobs of any worker (waiting, `run_at_us <= now_us`) for `owner`
/// until `lease` from now: they become `running` with their attempt counted. Returns them
/// (their `next_exec_id` is the attempt's execution id) in `run_at` order.
pub fn claim(
    client: &mut postgres::Client,
    statements: &mut Prepared,
    owner: &str,
    lease: Duration,
    now_us: i64,
    limit: usize,
) -> Result<Vec<JobRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let statement = statements.get(client, CLAIM.as_str())?;
    claimed(client.query(&statement, &[&owner, &micros(lease), &now_us, &limit])?)
}

/// As [`claim`], only jobs of the workers in `workers`, each up to its own cap: the earliest
/// due of each, then the earliest of those. A queue that looks past some workers (their own
/// `concurrency` is full, or their function is gone) reads only the others' waiting jobs,
/// however many of theirs come first; a worker with room for fewer than the queue takes its
/// turn in `run_at` order with the others, not only from what they leave.
pub fn claim_among(
    client: &mut postgres::Client,
    statements: &mut Prepared,
    owner: &str,
    lease: Duration,
    now_us: i64,
    limit: usize,
    workers: &[(String, usize)],
) -> Result<Vec<JobRow>> {
    if workers.is_empty() {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let names: Vec<&str> = workers.iter().map(|(name, _)| name.as_str()).collect();
    let caps: Vec<i64> = workers
        .iter()
        .map(|(_, cap)| i64::try_from(*cap).unwrap_or(i64::MAX))
        .collect();
    let statement = statements.get(client, CLAIM_AMONG.as_str())?;
    claimed(client.query(
        &statement,
        &[&owner, &micros(lease), &now_us, &limit, &names, &caps],
    )?)
}

/// What a claim sets on the jobs it takes; `$1` owner, `$2` lease, `$3` now.
///
/// A claim is one round trip, in a transaction of its own, not flushed to disk before it
/// returns: a claim lost in a crash of PostgreSQL leaves its jobs waiting, and no attempt's
/// outcome can have committed before it (that commit would have flushed the claim with it).
/// The setting is made by the rows returned (a claim of none writes nothing to flush) and
/// lasts until the statement's own commit.
static CLAIMED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "state = 'running', attempts = attempts + 1, lease_owner = $1,
         lease_until_us = {DB_NOW} + $2, updated_at_us = $3"
    )
});

/// The claim of any worker's jobs (see [`claim`]).
///
/// The jobs it takes are chosen and locked once, by a sub-select whose result is an array,
/// and then updated by id. As `WHERE id IN (SELECT …)`, the planner may join the two: a claim
/// planned on an empty table (a drained queue, analysed), whose plan the connection keeps,
/// walked every job by id and ran the sub-select again for each, so a burst that came next
/// made each claim read the whole backlog, and take more jobs than its limit. Its plan is
/// the waiting jobs' index, then the primary key, whatever the statistics, on the claims'
/// connection only ([`super::PgStore::connect_for_claims`] prices out the other paths).
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE _flux_jobs SET {}
         WHERE id = ANY(ARRAY(SELECT id FROM _flux_jobs
             WHERE state IN ('pending', 'scheduled') AND run_at_us <= $3
             ORDER BY run_at_us LIMIT $4 FOR UPDATE SKIP LOCKED))
         RETURNING {COLUMNS}, set_config('synchronous_commit', 'off', true)",
        *CLAIMED
    )
});

/// The claim of some workers' jobs (`$5`, each up to its cap in `$6`): each worker's
/// earliest, from the waiting jobs' index by worker, locked there (those not taken are
/// unlocked at the commit), then the earliest of them. Filtered by name in `run_at` order, a
/// claim read every waiting job of the workers looked past that came first (36 ms a claim
/// behind 100,000).
///
/// Each worker's range is bounded by row comparisons on `(name, run_at_us)` in that index's
/// order, not by `name = …`: with an equality the planner takes the name as fixed, and the
/// waiting jobs' index by `run_at_us` alone, filtered by name, gives the same order; a plan
/// kept from statistics where it looked cheaper (`run_at_us` follows the table's order) read
/// every waiting job of the others. Only the index by worker gives these rows in this order.
static CLAIM_AMONG: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE _flux_jobs SET {}
         WHERE id = ANY(ARRAY(SELECT due.id
             FROM unnest($5::text[], $6::bigint[]) AS worker(name, cap)
             CROSS JOIN LATERAL (SELECT id, run_at_us FROM _flux_jobs
                 WHERE state IN ('pending', 'scheduled')
                 AND (name, run_at_us) >= (worker.name, '{}'::bigint)
                 AND (name, run_at_us) <= (worker.name, $3)
                 ORDER BY name, run_at_us LIMIT least(worker.cap, $4)
                 FOR UPDATE SKIP LOCKED) AS due
             ORDER BY due.run_at_us LIMIT $4))
         RETURNING {COLUMNS}, set_config('synchronous_commit', 'off', true)",
        *CLAIMED,
        i64::MIN
    )
});

/// The jobs a claim's rows name, in `run_at` order.
fn claimed(rows: Vec<postgres::Row>) -> Result<Vec<JobRow>> {
    let mut jobs = job_rows(rows)?;
    jobs.sort_by_key(|job| job.run_at_us);
    Ok(jobs)
}

/// Puts back jobs `owner` claimed and never started (their worker is missing, or the process
/// stops): waiting again, the attempt not counted, the same execution id for the next.
/// Returns how many it put back.
pub fn release(client: &mut impl GenericClient, owner: &str, ids: &[String]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(client.execute(
        "UPDATE _flux_jobs SET state = 'pending', attempts = greatest(attempts - 1, 0),
             lease_owner = NULL, lease_until_us = NULL
         WHERE id = ANY($2) AND state = 'running' AND lease_owner = $1",
        &[&owner, &ids],
    )?)
}

/// Whether `owner` still holds job `id` for attempt number `attempt`, locking its row until
/// the transaction ends (so that no process puts it back meanwhile).
pub fn holds(client: &mut impl GenericClient, id: &str, attempt: u32, owner: &str) -> Result<bool> {
    let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
    Ok(client
        .query_opt(
            "SELECT 1 FROM _flux_jobs WHERE id = $1 AND state = 'running' AND attempts = $2
             AND lease_owner = $3 FOR UPDATE",
            &[&id, &attempt, &owner],
        )?
        .is_some())
}

/// In an atomic attempt's transaction (execution `exec_id`, on the sandbox role's connection,
/// which passes `key`), just before its COMMIT: whether `owner` still holds the attempt's
/// job, which is then marked as committed by this attempt and locked until the COMMIT
/// (`_flux_commit_attempt`, `schema.rs`). The record's transition clears the mark
/// ([`super::insert_writes`]); a lease found expired with the mark set finishes the job
/// instead of running it again ([`requeue_expired`]).
pub fn mark_committed(
    client: &mut impl GenericClient,
    key: &str,
    exec_id: &str,
    owner: &str,
) -> Result<bool> {
    Ok(client
        .query_one(
            "SELECT _flux_commit_attempt($1, $2, $3)",
            &[&key, &exec_id, &owner],
        )?
        .get(0))
}

/// The channel every process `LISTEN`s on: one payload-less notification per transaction
/// that made a job due.
pub const CHANNEL: &str = "flux_jobs";

/// Tells the processes listening that a job is due, when the transaction commits.
pub fn notify(client: &mut impl GenericClient) -> Result<()> {
    Ok(client.batch_execute("NOTIFY flux_jobs")?)
}

/// The channel on which a process asks the others to stop an attempt: the payload is the
/// attempt's execution id; the process running it stops it.
pub const CANCEL_CHANNEL: &str = "flux_cancel";

/// The channel on which a process tells the others that the queue was paused (`on`) or
/// resumed (`off`).
pub const PAUSE_CHANNEL: &str = "flux_pause";

/// Tells the processes listening to pause or resume their queue.
pub fn announce_pause(client: &mut impl GenericClient, paused: bool) -> Result<()> {
    let payload = if paused { "on" } else { "off" };
    client.execute("SELECT pg_notify('flux_pause', $1)", &[&payload])?;
    Ok(())
}

/// Asks whichever process runs attempt `exec_id` to stop it.
pub fn ask_cancel(client: &mut impl GenericClient, exec_id: &str) -> Result<()> {
    client.execute("SELECT pg_notify('flux_cancel', $1)", &[&exec_id])?;
    Ok(())
}

/// Extends `owner`'s leases on its running jobs to `lease` from now (while attempts run
/// longer than a lease); returns how many it renewed.
///
/// A job whose row another transaction holds is left for the next renewal (a third of a lease
/// later): that is the record writer storing its outcome, or an atomic attempt committing.
/// Waiting for them, in an order of rows that differs from theirs, deadlocked with the record
/// writer (PostgreSQL then stalls both for `deadlock_timeout` and aborts one).
pub fn renew(client: &mut impl GenericClient, owner: &str, lease: Duration) -> Result<u64> {
    Ok(client.execute(
        &format!(
            "UPDATE _flux_jobs SET lease_until_us = {DB_NOW} + $2
             WHERE id IN (SELECT id FROM _flux_jobs WHERE state = 'running' AND lease_owner = $1
                 FOR UPDATE SKIP LOCKED)"
        ),
        &[&owner, &micros(lease)],
    )?)
}

/// An attempt whose lease ran out.
#[derive(Debug, Clone, PartialEq)]
pub struct Expired {
    /// The job as it is now: pending, the lost attempt not counted, under a new execution id;
    /// or, when the attempt had `committed`, done.
    pub job: JobRow,
    /// The lost attempt's execution id (for its record) and number.
    pub exec_id: String,
    pub attempt: u32,
    /// The process that held it.
    pub owner: Option<String>,
    /// The attempt's writes had committed ([`mark_committed`]): only its record was lost.
    pub committed: bool,
}

/// Puts back every running job whose lease expired: pending again, the lost attempt not
/// counted (as after a killed `flux dev`), with a new execution id for its next attempt; and
/// stores the lost attempt's record, `lost(&expired)` (the queue words it), in the same
/// transaction, so no attempt goes unrecorded whoever dies when. A job its attempt had marked
/// as committed ([`mark_committed`]: an atomic attempt whose process died between its writes'
/// commit and its record's) is not run again: it is done, as that attempt's outcome said.
/// Rows another process is putting back at the same time are skipped, so each expired attempt
/// is put back once. With `wake`, the same transaction sends a [`notify`].
pub fn requeue_expired(
    client: &mut impl GenericClient,
    now_us: i64,
    lost: &dyn Fn(&Expired) -> ExecutionRecord,
    wake: bool,
) -> Result<Vec<Expired>> {
    let mut tx = client.transaction()?;
    let found: Vec<(String, String, i32, Option<String>, bool)> = tx
        .query(
            &format!(
                "SELECT id, next_exec_id, attempts, lease_owner,
                     coalesce(committed_attempt = attempts, false) FROM _flux_jobs
                 WHERE state = 'running' AND lease_until_us < {DB_NOW}
                 FOR UPDATE SKIP LOCKED"
            ),
            &[],
        )?
        .into_iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
        .collect();
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = found.iter().map(|(id, ..)| id.as_str()).collect();
    let committed: Vec<bool> = found.iter().map(|(.., committed)| *committed).collect();
    let next: Vec<String> = found.iter().map(|_| ExecId::random().to_string()).collect();
    let columns = COLUMNS
        .split(',')
        .map(|c| format!("_flux_jobs.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    // SET reads the row as it was: last_record becomes the lost attempt's id. A committed
    // attempt keeps its count and its execution id (the job's last).
    let rows = tx.query(
        &format!(
            "UPDATE _flux_jobs SET
                 state = CASE WHEN v.committed THEN 'done' ELSE 'pending' END,
                 attempts = CASE WHEN v.committed THEN attempts
                                 ELSE greatest(attempts - 1, 0) END,
                 last_error = CASE WHEN v.committed THEN NULL ELSE last_error END,
                 last_record = next_exec_id,
                 next_exec_id = CASE WHEN v.committed THEN next_exec_id ELSE v.next END,
                 lease_owner = NULL, lease_until_us = NULL, committed_attempt = NULL,
                 updated_at_us = $4
             FROM unnest($1::text[], $2::text[], $3::bool[]) AS v(id, next, committed)
             WHERE _flux_jobs.id = v.id
             RETURNING {columns}"
        ),
        &[&ids, &next, &committed, &now_us],
    )?;
    let jobs = job_rows(rows)?;
    let mut expired = Vec::with_capacity(jobs.len());
    for job in jobs {
        let Some((_, exec_id, attempt, owner, committed)) =
            found.iter().find(|(id, ..)| *id == job.id.to_string())
        else {
            continue;
        };
        expired.push(Expired {
            exec_id: exec_id.clone(),
            attempt: u32::try_from(*attempt).unwrap_or(0),
            owner: owner.clone(),
            committed: *committed,
            job,
        });
    }
    let writes: Vec<StoreWrite> = expired
        .iter()
        .map(|expired| StoreWrite {
            record: lost(expired),
            job: None,
        })
        .collect();
    let prepared = prepare_writes(&writes)?;
    let texts: Vec<String> = writes.iter().map(|w| search::text(&w.record)).collect();
    insert_writes_once(&mut tx, &prepared, &texts, None, now_us)?;
    if wake && committed.iter().any(|c| !c) {
        notify(&mut tx)?;
    }
    tx.commit()?;
    Ok(expired)
}
