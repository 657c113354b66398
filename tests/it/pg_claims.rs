//! The queue's claims on PostgreSQL, as several `flux serve` processes will make them: no job
//! is claimed twice however claimers race, an attempt whose lease ran out is put back once
//! and its late outcome no longer moves the job, an atomic attempt that committed before its
//! process died is finished rather than run again, and leases can be renewed.

use std::collections::HashSet;
use std::time::Duration;

use flux::record::{ExecutionRecord, JobState, Status, Transition};
use flux::store::postgres::prepared::Prepared;
use flux::store::postgres::{self as pg_store, claims, PgStore};
use flux::store::{prepare_writes, EnqueueOptions, JobLookup, RecordLookup, Storage, StoreWrite};
use serde_json::json;

use crate::pg_store::record;
use crate::support::pg::{fresh_database, owned_database};

const NOW: i64 = 1_700_000_000_000_000;
const LEASE: Duration = Duration::from_secs(60);

/// Enqueues `count` jobs of worker `w`, due at [`NOW`], in one transaction.
fn enqueue(store: &PgStore, count: usize) {
    let mut client = store.connect().expect("connect");
    let mut tx = client.transaction().expect("begin");
    enqueue_of(&mut tx, "w", count, false);
    tx.commit().expect("commit");
}

/// Enqueues `count` jobs of worker `name` on `client`, due at [`NOW`], or a millisecond
/// after it when `later`.
fn enqueue_of(client: &mut impl postgres::GenericClient, name: &str, count: usize, later: bool) {
    let options = EnqueueOptions {
        delay: later.then(|| json!(1)),
        ..EnqueueOptions::default()
    };
    for n in 0..count {
        pg_store::enqueue(client, name, &json!({ "n": n }), &options, 3, None, NOW)
            .expect("enqueue");
    }
}

#[test]
fn two_claimers_racing_on_a_thousand_jobs_never_claim_one_twice() {
    let store = PgStore::open(&fresh_database()).expect("open");
    enqueue(&store, 1_000);
    // Both connected before either claims, and released together.
    let start = std::sync::Barrier::new(2);
    let claimed: Vec<Vec<String>> = std::thread::scope(|scope| {
        let claimers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|owner| {
                let mut client = store.connect().expect("connect");
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    let mut mine = Vec::new();
                    // Each claimer's statement prepared once and reused, as the queue's.
                    let mut statements = Prepared::default();
                    loop {
                        let jobs =
                            claims::claim(&mut client, &mut statements, owner, LEASE, NOW, 7)
                                .expect("claim");
                        if jobs.is_empty() {
                            return mine;
                        }
                        mine.extend(jobs.into_iter().map(|job| {
                            assert_eq!((job.state, job.attempts), (JobState::Running, 1));
                            job.id.to_string()
                        }));
                    }
                })
            })
            .collect();
        claimers
            .into_iter()
            .map(|c| c.join().expect("claimer"))
            .collect()
    });
    let all: Vec<&String> = claimed.iter().flatten().collect();
    let distinct: HashSet<&&String> = all.iter().collect();
    assert_eq!(
        all.len(),
        1_000,
        "claimed {} + {}",
        claimed[0].len(),
        claimed[1].len()
    );
    assert_eq!(distinct.len(), 1_000, "a job was claimed twice");
    let mut client = store.connect().expect("connect");
    let by_owner: Vec<(String, i64)> = client
        .query(
            "SELECT lease_owner, count(*) FROM _flux_jobs WHERE state = 'running' AND attempts = 1
             GROUP BY lease_owner ORDER BY lease_owner",
            &[],
        )
        .expect("owners")
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let expected: Vec<(String, i64)> = ["a", "b"]
        .iter()
        .zip(&claimed)
        .filter(|(_, jobs)| !jobs.is_empty())
        .map(|(owner, jobs)| (owner.to_string(), jobs.len() as i64))
        .collect();
    assert_eq!(
        by_owner, expected,
        "each job is leased to the claimer that got it"
    );
}

/// An attempt's record with its outcome for the job.
/// Claims up to `limit` due jobs for `owner` under `lease`, at [`NOW`].
fn claim(
    client: &mut postgres::Client,
    owner: &str,
    lease: Duration,
    limit: usize,
) -> Vec<flux::store::JobRow> {
    claims::claim(client, &mut Prepared::default(), owner, lease, NOW, limit).expect("claim")
}

fn outcome(job: &flux::store::JobRow, transition: Transition) -> StoreWrite {
    StoreWrite {
        record: record(json!({
            "id": job.next_exec_id, "kind": "job", "function": job.name, "status": "ok",
            "started_at_us": NOW, "links": { "job_id": job.id, "attempt": job.attempts },
        })),
        job: Some((job.id.clone(), transition)),
    }
}

/// The record the queue would store for an attempt whose lease ran out.
fn interrupted(lost: &claims::Expired) -> ExecutionRecord {
    record(json!({
        "id": lost.exec_id, "kind": "job", "function": lost.job.name, "status": "interrupted",
        "started_at_us": NOW, "links": { "job_id": lost.job.id, "attempt": lost.attempt },
    }))
}

fn finish(store: &PgStore, write: StoreWrite, owner: &str) {
    let writes = [write];
    let prepared = prepare_writes(&writes).expect("prepare");
    let mut client = store.connect().expect("connect");
    let mut tx = client.transaction().expect("begin");
    pg_store::insert_writes_once(&mut tx, &prepared, &[""], Some(owner), NOW).expect("insert");
    tx.commit().expect("commit");
}

fn state(store: &PgStore, job: &flux::store::JobRow) -> flux::store::JobRow {
    match store.find_job(&job.id.to_string()).expect("find") {
        JobLookup::Found(job) => *job,
        other => panic!("the job is gone: {other:?}"),
    }
}

#[test]
fn an_expired_lease_is_put_back_once_and_its_late_outcome_is_fenced_off() {
    let store = PgStore::open(&fresh_database()).expect("open");
    enqueue(&store, 1);
    let mut client = store.connect().expect("connect");
    // A lease of nothing: its process is as good as dead at once.
    let lost = claim(&mut client, "a", Duration::ZERO, 10).remove(0);
    assert!(
        claim(&mut client, "b", LEASE, 10).is_empty(),
        "a running job is not claimed again"
    );

    let expired = claims::requeue_expired(&mut client, NOW, &interrupted, false).expect("requeue");
    assert_eq!(expired.len(), 1);
    let back = &expired[0];
    assert_eq!(
        (back.exec_id.as_str(), back.attempt, back.owner.as_deref()),
        (lost.next_exec_id.as_str(), 1, Some("a"))
    );
    assert_eq!(
        (back.job.state, back.job.attempts),
        (JobState::Pending, 0),
        "the lost attempt is not counted"
    );
    assert_eq!(
        back.job.last_record.as_deref(),
        Some(lost.next_exec_id.as_str())
    );
    assert_ne!(
        back.job.next_exec_id, lost.next_exec_id,
        "its next attempt is a new execution"
    );
    assert!(
        claims::requeue_expired(&mut client, NOW, &interrupted, false)
            .expect("again")
            .is_empty(),
        "put back once"
    );
    let status = |id: &str| match store.find_record(id).expect("record") {
        RecordLookup::Found(record) => record.status,
        other => panic!("one record of {id}: {other:?}"),
    };
    assert_eq!(status(&lost.next_exec_id), Status::Interrupted);

    // The lost attempt ends after all: its record replaces the interrupted one, the job
    // stays with the queue.
    finish(&store, outcome(&lost, Transition::Done), "a");
    assert_eq!(status(&lost.next_exec_id), Status::Ok);
    assert_eq!(state(&store, &lost).state, JobState::Pending);

    // Another process claims it, renews its lease, and its outcome counts.
    let again = claim(&mut client, "b", LEASE, 10).remove(0);
    assert_eq!(
        (again.attempts, again.next_exec_id.as_str()),
        (1, back.job.next_exec_id.as_str())
    );
    assert_eq!(claims::renew(&mut client, "b", LEASE).expect("renew"), 1);
    assert_eq!(
        claims::renew(&mut client, "a", LEASE).expect("renew"),
        0,
        "a holds nothing"
    );
    assert!(
        claims::requeue_expired(&mut client, NOW, &interrupted, false)
            .expect("requeue")
            .is_empty(),
        "b's lease holds"
    );
    finish(&store, outcome(&again, Transition::Done), "b");
    let done = state(&store, &again);
    assert_eq!(
        (done.state, done.last_record.as_deref()),
        (JobState::Done, Some(again.next_exec_id.as_str()))
    );
}

#[test]
fn a_worker_is_claimed_alone_and_unstarted_claims_are_put_back_as_they_were() {
    let store = PgStore::open(&fresh_database()).expect("open");
    enqueue(&store, 2);
    let mut client = store.connect().expect("connect");
    enqueue_of(&mut client, "solo", 1, false);
    let solo = claims::claim_among(
        &mut client,
        &mut Prepared::default(),
        "a",
        LEASE,
        NOW,
        10,
        &[("solo".to_string(), 10)],
    )
    .expect("claim");
    assert_eq!(solo.len(), 1, "only the named worker's");
    assert_eq!(solo[0].name, "solo");
    let job = &solo[0];
    let id = job.id.to_string();
    assert!(claims::holds(&mut client, &id, 1, "a").expect("holds"));
    assert!(
        !claims::holds(&mut client, &id, 1, "b").expect("holds"),
        "not b's"
    );
    assert!(
        !claims::holds(&mut client, &id, 2, "a").expect("holds"),
        "not that attempt"
    );

    assert_eq!(
        claims::release(&mut client, "b", std::slice::from_ref(&id)).expect("release"),
        0,
        "only its owner puts a claim back"
    );
    assert_eq!(
        claims::release(&mut client, "a", std::slice::from_ref(&id)).expect("release"),
        1
    );
    let back = state(&store, job);
    assert_eq!(
        (back.state, back.attempts, back.next_exec_id.as_str()),
        (JobState::Pending, 0, job.next_exec_id.as_str()),
        "waiting, the attempt not counted, the same execution next"
    );
    assert!(!claims::holds(&mut client, &id, 1, "a").expect("holds"));
    let all = claim(&mut client, "a", LEASE, 10);
    assert_eq!(all.len(), 3);
}

/// The record the queue would store for an attempt whose lease ran out, saying whether its
/// writes had committed.
fn lost_record(lost: &claims::Expired) -> ExecutionRecord {
    let why = if lost.committed {
        "its writes committed"
    } else {
        "unknown"
    };
    record(json!({
        "id": lost.exec_id, "kind": "job", "function": lost.job.name, "status": "interrupted",
        "started_at_us": NOW, "links": { "job_id": lost.job.id, "attempt": lost.attempt },
        "error": { "name": "Interrupted", "message": why },
    }))
}

#[test]
fn an_atomic_attempt_whose_process_died_after_its_commit_is_finished_not_run_again() {
    let store = PgStore::open(&owned_database()).expect("open");
    enqueue(&store, 3);
    let mut client = store.connect().expect("connect");
    // Leases of nothing: their process is as good as dead at once.
    let mut claimed = claim(&mut client, "a", Duration::ZERO, 2);
    let (committed, lost) = (claimed.remove(0), claimed.remove(0));
    let kept = claim(&mut client, "a", LEASE, 1).remove(0);

    // As the attempt's transaction does it: on the sandbox role's connection, with the key.
    let mut sandbox = store.sandbox().expect("sandbox").connect().expect("login");
    let key: String = client
        .query_one("SELECT key FROM _flux_sandbox", &[])
        .expect("key")
        .get(0);
    let mut mark = |job: &flux::store::JobRow, key: &str, owner: &str| {
        let mut tx = sandbox.transaction().expect("begin");
        let marked = claims::mark_committed(&mut tx, key, &job.next_exec_id, owner);
        if marked.is_ok() {
            tx.commit().expect("commit");
        }
        marked
    };
    assert!(
        mark(&committed, "guessed", "a").is_err(),
        "user SQL cannot mark without flux's key"
    );
    assert!(
        !mark(&committed, &key, "b").expect("mark"),
        "b holds nothing"
    );
    assert!(mark(&committed, &key, "a").expect("mark"), "a holds it");
    assert!(mark(&kept, &key, "a").expect("mark"));

    let expired = claims::requeue_expired(&mut client, NOW, &lost_record, false).expect("requeue");
    assert_eq!(expired.len(), 2, "{expired:?}");
    let of = |job: &flux::store::JobRow| {
        expired
            .iter()
            .find(|e| e.job.id == job.id)
            .expect("expired")
            .clone()
    };
    let (done, back) = (of(&committed), of(&lost));
    assert!(done.committed && !back.committed);
    assert_eq!(
        (
            done.job.state,
            done.job.attempts,
            done.job.next_exec_id.as_str()
        ),
        (JobState::Done, 1, committed.next_exec_id.as_str()),
        "its committed attempt counts and is the job's last: the job is not run again"
    );
    assert_eq!(
        done.job.last_record.as_deref(),
        Some(committed.next_exec_id.as_str())
    );
    assert_eq!((back.job.state, back.job.attempts), (JobState::Pending, 0));
    let record_of = |id: &str| match store.find_record(id).expect("record") {
        RecordLookup::Found(record) => record,
        other => panic!("one record of {id}: {other:?}"),
    };
    let stored = record_of(&committed.next_exec_id);
    assert_eq!(stored.status, Status::Interrupted);
    assert_eq!(
        stored.error.as_ref().map(|e| e.message.as_str()),
        Some("its writes committed")
    );
    let reclaimed = claim(&mut client, "b", LEASE, 10);
    assert_eq!(
        reclaimed.iter().map(|j| &j.id).collect::<Vec<_>>(),
        vec![&lost.id],
        "only the attempt that had not committed runs again"
    );

    // The record arrives after all (its process was only stalled): it replaces the guess,
    // and the job stays done.
    finish(&store, outcome(&committed, Transition::Done), "a");
    assert_eq!(record_of(&committed.next_exec_id).status, Status::Ok);
    assert_eq!(state(&store, &committed).state, JobState::Done);

    // A marked attempt whose record comes in time: its transition clears the mark.
    finish(&store, outcome(&kept, Transition::Done), "a");
    assert_eq!(state(&store, &kept).state, JobState::Done);
    let marks: i64 = client
        .query_one(
            "SELECT count(*) FROM _flux_jobs WHERE committed_attempt IS NOT NULL",
            &[],
        )
        .expect("marks")
        .get(0);
    assert_eq!(marks, 0, "no mark outlives its job's outcome");
}

#[test]
fn a_renewal_never_waits_for_a_row_another_transaction_holds() {
    let store = PgStore::open(&fresh_database()).expect("open");
    enqueue(&store, 3);
    let mut client = store.connect().expect("connect");
    let jobs = claim(&mut client, "a", LEASE, 3);
    assert_eq!(jobs.len(), 3);
    // The record writer storing one job's outcome holds its row until it commits: waiting for
    // it (in another order of rows than the writer's) is how the two deadlocked.
    let mut writer = store.connect().expect("connect");
    let mut held = writer.transaction().expect("begin");
    held.execute(
        "SELECT 1 FROM _flux_jobs WHERE id = $1 FOR UPDATE",
        &[&jobs[0].id.to_string()],
    )
    .expect("lock");
    client
        .batch_execute("SET statement_timeout = 5000")
        .expect("timeout");
    assert_eq!(
        claims::renew(&mut client, "a", LEASE).expect("renewed without waiting"),
        2,
        "the two rows nobody holds are renewed"
    );
    held.rollback().expect("rollback");
    assert_eq!(claims::renew(&mut client, "a", LEASE).expect("renew"), 3);
}

#[test]
fn a_database_of_schema_2_gets_the_jobs_indexes_by_state_and_keeps_its_jobs() {
    // As schema 2 left it: one index on (state, run_at_us), none of the partial ones.
    upgraded_keeps_its_jobs(
        "DROP INDEX _flux_jobs_leased, _flux_jobs_given_up, _flux_jobs_waiting_by_worker;
         CREATE INDEX _flux_jobs_due ON _flux_jobs (state, run_at_us);
         UPDATE _flux_schema SET version = 2",
    );
}

#[test]
fn a_database_of_schema_3_gets_the_waiting_jobs_index_by_worker_and_keeps_its_jobs() {
    upgraded_keeps_its_jobs(
        "DROP INDEX _flux_jobs_waiting_by_worker; UPDATE _flux_schema SET version = 3",
    );
}

/// A database with 3 jobs, taken back to an earlier schema by `downgrade`, then opened again:
/// it has every index of the current schema, its version, and its jobs.
fn upgraded_keeps_its_jobs(downgrade: &str) {
    let url = fresh_database();
    let store = PgStore::open(&url).expect("open");
    enqueue(&store, 3);
    store
        .connect()
        .expect("connect")
        .batch_execute(downgrade)
        .expect("earlier schema");
    drop(store);
    let store = PgStore::open(&url).expect("opened again");
    let mut client = store.connect().expect("connect");
    let indexes: Vec<String> = client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = '_flux_jobs'
             AND indexname LIKE '\\_flux\\_jobs\\_%' ORDER BY 1",
            &[],
        )
        .expect("indexes")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        indexes,
        [
            "_flux_jobs_given_up",
            "_flux_jobs_idempotency",
            "_flux_jobs_leased",
            "_flux_jobs_next",
            "_flux_jobs_pkey",
            "_flux_jobs_updated",
            "_flux_jobs_waiting",
            "_flux_jobs_waiting_by_worker"
        ]
    );
    let version: i32 = client
        .query_one("SELECT version FROM _flux_schema", &[])
        .expect("version")
        .get(0);
    assert_eq!(version, 4);
    assert_eq!(
        claim(&mut client, "a", LEASE, 10).len(),
        3,
        "its jobs still there"
    );
}

/// What `client`'s transaction has read so far of the jobs table: entries of all its indexes,
/// and rows by sequential scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JobsRead {
    by_index: i64,
    scanned: i64,
}

impl std::ops::Sub for JobsRead {
    type Output = JobsRead;
    fn sub(self, before: JobsRead) -> JobsRead {
        JobsRead {
            by_index: self.by_index - before.by_index,
            scanned: self.scanned - before.scanned,
        }
    }
}

fn jobs_read(client: &mut postgres::Client) -> JobsRead {
    let row = client
        .query_one(
            "SELECT (SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid))::bigint
                     FROM pg_index WHERE indrelid = '_flux_jobs'::regclass),
                    pg_stat_get_xact_tuples_returned('_flux_jobs'::regclass)",
            &[],
        )
        .expect("statistics");
    JobsRead {
        by_index: row.get(0),
        scanned: row.get(1),
    }
}

/// `work` in a transaction of its own on `client`: what it read of the jobs table.
fn reads_of<T>(
    client: &mut postgres::Client,
    work: impl FnOnce(&mut postgres::Client) -> T,
) -> (T, JobsRead) {
    client.batch_execute("BEGIN").expect("begin");
    let before = jobs_read(client);
    let out = work(client);
    let read = jobs_read(client) - before;
    client.batch_execute("COMMIT").expect("commit");
    (out, read)
}

/// `what` read at most `entries` index entries of the jobs table (then `backlog` jobs long)
/// and scanned none of its rows.
fn assert_read_little(read: JobsRead, entries: i64, what: &str, backlog: usize) {
    assert!(
        read.by_index <= entries,
        "{what} read {} index entries of a queue of {backlog}",
        read.by_index
    );
    assert_eq!(read.scanned, 0, "{what} scanned the jobs table");
}

/// A database whose jobs table autovacuum leaves alone: its statistics stay those the test
/// made, and no analysis replaces the plans a test means to keep.
fn database_without_autovacuum() -> PgStore {
    let store = PgStore::open(&fresh_database()).expect("open");
    store
        .connect()
        .expect("connect")
        .batch_execute("ALTER TABLE _flux_jobs SET (autovacuum_enabled = off)")
        .expect("autovacuum off");
    store
}

/// A queue of `jobs` waiting jobs, analysed (as autovacuum leaves a small queue), in a
/// database autovacuum then leaves alone; with a connection of flux's role.
fn analysed_queue(jobs: usize) -> (PgStore, postgres::Client) {
    let store = database_without_autovacuum();
    enqueue(&store, jobs);
    let mut client = store.connect().expect("connect");
    client.batch_execute("ANALYZE _flux_jobs").expect("analyze");
    (store, client)
}

/// Three claims of 5 due at `now_us` on `claimer`, each in a transaction of its own: each
/// takes the earliest waiting jobs (the first 15 of `expected_run_at`, in order) and reads
/// no more of the table than a claim of 5 needs, whatever plan its statistics gave it.
fn claims_read_only_what_they_take(
    claimer: &mut postgres::Client,
    statements: &mut Prepared,
    now_us: i64,
    expected_run_at: &[i64],
    backlog: usize,
) {
    for round in 0..3 {
        let (jobs, read) = reads_of(claimer, |claimer| {
            claims::claim(claimer, statements, "a", LEASE, now_us, 5).expect("claim")
        });
        let run_at: Vec<i64> = jobs.iter().map(|job| job.run_at_us).collect();
        assert_eq!(
            run_at,
            expected_run_at[round * 5..round * 5 + 5],
            "the claim takes the earliest waiting jobs"
        );
        assert_read_little(read, 40, "a claim of 5", backlog);
    }
}

#[test]
fn a_claim_reads_only_the_waiting_jobs_it_takes_whatever_the_statistics_say() {
    let store = database_without_autovacuum();
    // A backlog whose run_at order is not the table's (delayed jobs, retries), analysed: from
    // these statistics, a claim planned without its values read and sorted all of it.
    const BACKLOG: i64 = 4000;
    let mut client = store.connect().expect("connect");
    let mut tx = client.transaction().expect("begin");
    for n in 0..BACKLOG {
        // 7919 is prime: the delays are 0..BACKLOG ms, shuffled.
        let options = EnqueueOptions {
            delay: Some(json!((n * 7919) % BACKLOG)),
            ..EnqueueOptions::default()
        };
        pg_store::enqueue(&mut tx, "w", &json!({ "n": n }), &options, 3, None, NOW)
            .expect("enqueue");
    }
    tx.commit().expect("commit");
    client.batch_execute("ANALYZE _flux_jobs").expect("analyze");

    // The claims' own kind of connection, as the queue opens it.
    let mut claimer = store.connect_for_claims().expect("connect");
    let first: Vec<i64> = (0..15).map(|k| NOW + k * 1000).collect();
    claims_read_only_what_they_take(
        &mut claimer,
        &mut Prepared::default(),
        NOW + BACKLOG * 1000,
        &first,
        BACKLOG as usize,
    );
}

#[test]
fn a_claim_planned_on_an_empty_queue_still_reads_only_what_it_takes_from_a_burst() {
    // A process starts on an empty queue that autovacuum has analysed (a drained queue) and
    // claims nothing: its claim is planned then, from an empty table, and the plan is kept.
    // Then a burst arrives. With that plan, each claim walked every job by id and searched
    // the waiting jobs again for each one: three processes' drains fell to a seventh of their
    // speed until the statistics were next refreshed.
    let (store, _) = analysed_queue(0);
    let mut claimer = store.connect_for_claims().expect("connect");
    let mut statements = Prepared::default();
    let none = claims::claim(&mut claimer, &mut statements, "a", LEASE, NOW, 5);
    assert!(none.expect("claim").is_empty());

    const BACKLOG: usize = 4000;
    enqueue(&store, BACKLOG);
    claims_read_only_what_they_take(&mut claimer, &mut statements, NOW, &[NOW; 15], BACKLOG);
}

#[test]
fn a_claim_among_workers_planned_on_an_empty_queue_reads_only_theirs() {
    // Planned on an empty queue, as a process that starts on a drained one keeps its plan.
    let (store, client) = analysed_queue(0);
    claims_among_read_only_theirs(&store, client, true);
}

#[test]
fn a_claim_among_workers_planned_on_another_workers_backlog_reads_only_theirs() {
    // Planned once autovacuum has analysed a backlog of one worker: the waiting jobs' index
    // by run_at, filtered by name, then looked cheap (run_at follows the table's order).
    let (store, client) = analysed_queue(4000);
    claims_among_read_only_theirs(&store, client, false);
}

/// A queue looks past worker `w` (its own `concurrency` is full) while 4,000 of its jobs come
/// first: each claim of 5 among the others takes theirs and reads only them. Filtered by name
/// in `run_at` order, each such claim read all 4,000 (36 ms a claim behind 100,000).
/// `enqueue_backlog`: the backlog is enqueued after the claim is first planned.
fn claims_among_read_only_theirs(
    store: &PgStore,
    mut client: postgres::Client,
    enqueue_backlog: bool,
) {
    let mut claimer = store.connect_for_claims().expect("connect");
    let mut statements = Prepared::default();
    let others = [("other".to_string(), 5)];
    let none = claims::claim_among(&mut claimer, &mut statements, "a", LEASE, NOW, 5, &others);
    assert!(none.expect("claim").is_empty());

    const BACKLOG: usize = 4000;
    if enqueue_backlog {
        enqueue(store, BACKLOG);
    }
    enqueue_of(&mut client, "other", 15, true);
    let now = NOW + 1000;
    for _ in 0..3 {
        let (jobs, read) = reads_of(&mut claimer, |claimer| {
            claims::claim_among(claimer, &mut statements, "a", LEASE, now, 5, &others)
                .expect("claim")
        });
        let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
        assert_eq!(names, ["other"; 5], "five of the other worker's jobs");
        assert_read_little(read, 40, "a claim of 5 among workers", BACKLOG);
    }
    // Among several workers, the earliest of all: the backlog's, due first; none not due.
    let both = [("other".to_string(), 5), ("w".to_string(), 5)];
    let jobs = claims::claim_among(&mut claimer, &mut statements, "a", LEASE, NOW, 3, &both)
        .expect("claim");
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names, ["w"; 3]);
}

#[test]
fn a_worker_with_room_for_fewer_takes_its_turn_in_run_at_order_up_to_its_room() {
    // Worker `solo` (room for 1) has the two earliest jobs, `w` a backlog after them. A claim
    // that took the others' first and gave `solo` only what they left never ran it while `w`
    // had a backlog.
    let store = PgStore::open(&fresh_database()).expect("open");
    let mut client = store.connect().expect("connect");
    enqueue_of(&mut client, "solo", 2, false);
    enqueue_of(&mut client, "w", 10, true);
    let mut claimer = store.connect_for_claims().expect("connect");
    let workers = [("solo".to_string(), 1), ("w".to_string(), 3)];
    let jobs = claims::claim_among(
        &mut claimer,
        &mut Prepared::default(),
        "a",
        LEASE,
        NOW + 1000,
        3,
        &workers,
    )
    .expect("claim");
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names, ["solo", "w", "w"], "solo's earliest first, then w's");
}

#[test]
fn an_outcome_batch_planned_on_a_small_queue_still_reads_only_its_jobs() {
    // The record writer stores its first outcomes while the queue is small (a fresh deploy,
    // analysed while nearly empty); its connection keeps that plan. With it, each batch
    // scanned the whole jobs table once the queue had grown.
    let (store, _) = analysed_queue(10);
    let mut claimer = store.connect_for_claims().expect("connect");
    let mut writer = store.connect_for_prepared().expect("connect");
    let mut statements = Prepared::default();
    let mut finish_on_writer = |claimer: &mut postgres::Client| {
        let jobs = claim(claimer, "a", LEASE, 5);
        assert_eq!(jobs.len(), 5);
        let writes: Vec<StoreWrite> = jobs
            .iter()
            .map(|job| outcome(job, Transition::Done))
            .collect();
        let prepared = prepare_writes(&writes).expect("prepare");
        let texts = vec![""; writes.len()];
        reads_of(&mut writer, |writer| {
            pg_store::insert_writes(
                writer,
                &mut statements,
                &prepared,
                &texts,
                Some("a"),
                false,
                NOW,
            )
            .expect("insert")
        })
        .1
    };
    finish_on_writer(&mut claimer);

    const BACKLOG: usize = 4000;
    enqueue(&store, BACKLOG);
    let read = finish_on_writer(&mut claimer);
    assert_read_little(read, 20, "5 outcomes", BACKLOG);
}

#[test]
fn a_keyed_enqueue_planned_on_a_small_queue_still_reads_only_its_key() {
    // A connection that enqueued with idempotency keys while the queue was nearly empty
    // kept, after a few calls, a plan that scanned the whole jobs table for the key.
    let (store, mut client) = analysed_queue(0);
    let keyed = |n: usize| EnqueueOptions {
        idempotency_key: Some(format!("key-{n}")),
        ..EnqueueOptions::default()
    };
    for n in 0..10 {
        pg_store::enqueue(&mut client, "w", &json!({}), &keyed(n), 3, None, NOW).expect("enqueue");
    }

    const BACKLOG: usize = 4000;
    enqueue(&store, BACKLOG);
    let (_, read) = reads_of(&mut client, |client| {
        pg_store::enqueue(client, "w", &json!({}), &keyed(10), 3, None, NOW).expect("enqueue")
    });
    assert_read_little(read, 20, "a keyed enqueue", BACKLOG);
}

#[test]
fn an_atomic_commit_planned_on_a_small_queue_still_reads_only_its_job() {
    // A connection whose atomic attempts committed while the queue was nearly empty kept,
    // after a few, a plan that scanned the whole jobs table to mark the attempt's job.
    let (store, mut client) = analysed_queue(10);
    let mut claimer = store.connect_for_claims().expect("connect");
    for job in claim(&mut claimer, "a", LEASE, 10) {
        let marked = claims::mark_committed(&mut client, "", &job.next_exec_id, "a");
        assert!(marked.expect("mark"), "the attempt holds its job");
    }

    const BACKLOG: usize = 4000;
    enqueue(&store, BACKLOG);
    let job = claim(&mut claimer, "a", LEASE, 1).remove(0);
    let (marked, read) = reads_of(&mut client, |client| {
        claims::mark_committed(client, "", &job.next_exec_id, "a").expect("mark")
    });
    assert!(marked, "the attempt holds its job");
    assert_read_little(read, 20, "marking an attempt committed", BACKLOG);
}
