//! The job queue's dispatcher: on the store thread ([`crate::store::StoreThread`]), after each
//! commit and at the next job's due time, it claims the jobs that are due with the writer's
//! connection, marks them running in the open transaction and hands them to a [`Runner`]. It
//! adds to each commit what the queue must store with the records (the marks, and the attempts
//! whose writes commit ahead of their record). [`tail_feed`] tells `flux tail` what committed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{attempt_of, transition_after, Attempt, JobAttempt, Runner};
use crate::clock::now_us;
use crate::project::Config;
use crate::record::{
    flux_error, Ending, ExecutionRecord, JobId, JobState, Start, Traced, Transition,
};
use crate::record::{ExecId, Kind, Links, RecordSummary, Status, TailEvent, WRITES_LOST};
use crate::store::{
    insert_writes, prepare_writes, Batch, JobClaims, JobRow, OnCommitted, Scheduler, StoreWrite,
    Waker, WriteTx,
};

/// Talks to the dispatcher; cheap to clone.
#[derive(Clone)]
pub struct DispatcherHandle {
    waker: Waker,
    paused: Arc<AtomicBool>,
    /// Paused for good: the process is stopping (a resume from elsewhere does not undo it).
    halted: Arc<AtomicBool>,
}

impl DispatcherHandle {
    /// A handle that wakes the store thread `waker` belongs to.
    pub fn new(waker: Waker) -> DispatcherHandle {
        DispatcherHandle {
            waker,
            paused: Arc::new(AtomicBool::new(false)),
            halted: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether new attempts are held back (`flux queue pause`).
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        // Checked after: a halt meanwhile is not undone.
        if self.halted.load(Ordering::SeqCst) {
            self.paused.store(true, Ordering::SeqCst);
        }
        self.waker.wake();
    }

    /// Pauses for good, as the process stops.
    pub fn halt(&self) {
        self.halted.store(true, Ordering::SeqCst);
        self.pause();
    }

    /// Makes the dispatcher look at the queue again (a worker may have come back).
    pub fn wake(&self) {
        self.waker.wake();
    }
}

/// The project's configuration as it is now (it changes with `flux.config.ts`).
pub type ConfigSource = Box<dyn Fn() -> Arc<Config> + Send>;

/// Where committed executions go for `flux tail`.
pub type TailSender = tokio::sync::broadcast::Sender<Arc<TailEvent>>;

/// The longest the store thread sleeps without looking at the queue: a safety net for a lost
/// wake-up, not part of the dispatch path.
const IDLE_CHECK: Duration = Duration::from_secs(5);

pub struct Dispatcher {
    handle: DispatcherHandle,
    config: ConfigSource,
    runner: Box<dyn Runner>,
    /// The most attempts claimed and not finished: see [`capacity`].
    capacity: usize,
    /// Jobs whose started attempt has not sent its record back yet.
    in_flight: HashSet<JobId>,
    per_worker: HashMap<String, usize>,
    /// Workers that jobs wait for and that do not exist (see [`Runner::has_worker`]).
    missing: Vec<String>,
    /// Jobs started since the last commit, marked running in the open transaction.
    marks: Vec<JobId>,
    /// Marks an undone transaction took with it, to be made again with the next commit.
    marks_lost: Vec<JobId>,
    /// Started attempts whose record is not committed yet, by execution, with their start.
    attempts: HashMap<ExecId, (JobAttempt, i64)>,
    /// The jobs of `attempts`, indexed: never started again until their record commits.
    unsettled: HashSet<JobId>,
    /// Attempts with writes committed ahead of their record (a row in the store says so).
    partial: HashSet<ExecId>,
    /// Attempts the commit under way marks as such.
    partial_committing: Vec<ExecId>,
}

/// What [`recover_attempts`] put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovered {
    /// Attempts that had committed some of their writes: each now has an `interrupted` record.
    pub partial: usize,
    /// Attempts left running, back to pending (the attempt not counted).
    pub running: usize,
}

/// Puts back the attempts a killed `flux dev` left running (and stores a record for each that
/// had committed some of its writes), before any job engine starts.
pub fn recover_attempts(batch: &mut Batch) -> crate::store::Result<Recovered> {
    batch.commit_with(|conn| {
        let now = now_us();
        let writes = interrupted_records(conn.take_partial_attempts()?);
        let seqs = insert_writes(conn, &prepare_writes(&writes)?, now)?;
        // The store's open has indexed every earlier record: these are the newest.
        let texts: Vec<(i64, Arc<str>)> = seqs
            .into_iter()
            .zip(&writes)
            .map(|(seq, write)| (seq, crate::store::search::text(&write.record).into()))
            .collect();
        crate::store::search::index_later(conn, &texts)?;
        Ok(Recovered {
            partial: writes.len(),
            running: conn.recover_running(now)?,
        })
    })
}

/// The record of each attempt that committed some writes before a killed `flux dev` could
/// store its record, with its job put back to run again (the attempt not counted, as for any
/// attempt a stop cut short).
fn interrupted_records(attempts: Vec<(ExecId, Option<JobRow>, i64)>) -> Vec<StoreWrite> {
    attempts
        .into_iter()
        .map(|(id, job, started_at_us)| {
            let record = interrupted_record(
                id,
                job.as_ref(),
                started_at_us,
                "flux dev was killed while this attempt ran, after some of its writes were \
                 committed; what it did after them is unknown, and the job runs again",
            );
            let transition = job
                .filter(|j| j.state == JobState::Running && j.next_exec_id == id.to_string())
                .map(|j| {
                    let next = Transition::Requeue {
                        next_exec_id: ExecId::random(),
                    };
                    (j.id, next)
                });
            StoreWrite {
                record,
                job: transition,
            }
        })
        .collect()
}

/// The `interrupted` record of attempt `id` of `job` (a row that counts the attempt), which
/// a process's end cut short at an unknown point (`why`).
pub(super) fn interrupted_record(
    id: ExecId,
    job: Option<&JobRow>,
    started_at_us: i64,
    why: &str,
) -> ExecutionRecord {
    let (input, links) = match job {
        Some(job) => {
            let (_, input, links) = attempt_of(job);
            (input, links)
        }
        None => (serde_json::Value::Null, Links::default()),
    };
    let start = Start {
        id,
        kind: Kind::Job,
        function: job.map_or_else(String::new, |j| j.name.clone()),
        method: None,
        path: None,
        input,
        links,
    };
    let ending = Ending {
        status: Status::Interrupted,
        http_status: None,
        started_at_us,
        duration_us: 0,
        output: None,
        error: Some(flux_error("Interrupted", why.to_string())),
        code_version: String::new(),
        mutations: Vec::new(),
    };
    ExecutionRecord::assemble(start, ending, Traced::default())
}

/// How many attempts may be claimed and not finished: the `concurrency` in flight, plus a
/// lookahead so that an engine finishing one finds the next waiting. At least one per engine
/// (a few engines running one at a time), else a quarter more: twice `concurrency` would
/// mark hundreds of jobs running that no engine has started.
pub(super) fn capacity(concurrency: usize, engines: usize) -> usize {
    concurrency + engines.max(concurrency / 4)
}

impl Dispatcher {
    /// Claims for `runner`, as many attempts at once as `queue.concurrency` and
    /// `queue.engines` in `config` (read now) allow; paused and resumed through `handle`.
    pub fn new(
        handle: DispatcherHandle,
        config: ConfigSource,
        runner: Box<dyn Runner>,
    ) -> Dispatcher {
        let queue = config().queue.clone();
        Dispatcher {
            handle,
            config,
            runner,
            capacity: capacity(queue.concurrency, queue.engines),
            in_flight: HashSet::new(),
            per_worker: HashMap::new(),
            missing: Vec::new(),
            marks: Vec::new(),
            marks_lost: Vec::new(),
            attempts: HashMap::new(),
            unsettled: HashSet::new(),
            partial: HashSet::new(),
            partial_committing: Vec::new(),
        }
    }

    /// How long to sleep before a job is due (`None`: until something happens).
    fn next_wake(&self, claims: &dyn JobClaims, now: i64) -> Option<Duration> {
        match claims.next_due(&self.missing) {
            Ok(Some(at)) if at > now => {
                Some(Duration::from_micros((at - now) as u64).min(IDLE_CHECK))
            }
            // Due but not started: its worker is at its limit.
            Ok(Some(_)) => None,
            Ok(None) => Some(IDLE_CHECK),
            Err(_) => Some(Duration::from_millis(100)),
        }
    }

    /// The attempt `job` starts, counted (the store counts it when the round's transaction
    /// commits), with what its runner needs.
    fn attempt(&mut self, job: JobRow, config: &Config) -> Attempt {
        let job = JobRow {
            attempts: job.attempts + 1,
            ..job
        };
        let attempt = start_attempt(&job, config);
        self.attempts
            .insert(attempt.id, (attempt.job.clone(), now_us()));
        self.unsettled.insert(job.id.clone());
        attempt
    }
}

/// The attempt a claimed `job` starts (its row counts the attempt), with what its runner
/// needs: the worker's settings as `config` says them now.
pub(super) fn start_attempt(job: &JobRow, config: &Config) -> Attempt {
    let worker = config.worker(&job.name);
    let (id, input, links) = attempt_of(job);
    Attempt {
        id,
        input,
        timeout: worker.timeout,
        links,
        job: JobAttempt {
            job_id: job.id.clone(),
            name: job.name.clone(),
            attempt: job.attempts,
            max_attempts: job.max_attempts,
            backoff: worker.backoff,
            atomic: worker.atomic,
        },
    }
}

/// The workers whose own `concurrency` is reached by their attempts `running`.
pub(super) fn full_workers(running: &HashMap<String, usize>, config: &Config) -> Vec<String> {
    running
        .iter()
        .filter(|(name, running)| {
            config
                .worker(name)
                .concurrency
                .is_some_and(|max| **running >= max as usize)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// A finished attempt whose writes were undone did not do its work: it fails (its job is
/// retried by the rules of `attempt`) instead of being stored as done.
pub(super) fn fail_lost_writes(write: &mut StoreWrite, reason: &str, attempt: Option<&JobAttempt>) {
    let Some((_, transition)) = &mut write.job else {
        return;
    };
    for mutation in &mut write.record.mutations {
        mutation.committed = false;
    }
    if write.record.status != Status::Ok {
        return;
    }
    write.record.status = Status::Error;
    write.record.error = Some(flux_error(WRITES_LOST, reason.to_string()));
    if let Some(attempt) = attempt {
        *transition = transition_after(&write.record, attempt, now_us());
    }
}

/// Tells `flux tail` subscribers about committed executions (none listening is fine), with a
/// note on what happens to each attempt's job next.
pub fn tail_feed(tail: TailSender) -> OnCommitted {
    Box::new(
        move |batch: &[StoreWrite], seqs: &[i64], texts: &[Arc<str>]| {
            if tail.receiver_count() == 0 {
                return;
            }
            for ((write, seq), text) in batch.iter().zip(seqs).zip(texts) {
                let event = TailEvent {
                    seq: *seq,
                    record: RecordSummary::from(&write.record),
                    enqueued_by: write.record.links.enqueued_by.map(|id| id.to_string()),
                    next: write.job.as_ref().map(|(_, next)| next.clone()),
                    search: Some(Arc::clone(text)),
                };
                let _ = tail.send(Arc::new(event));
            }
        },
    )
}

impl Scheduler for Dispatcher {
    /// Starts what is due, without committing: the jobs are marked running with the next
    /// commit. Should `flux dev` die before it, they are still `pending` and run again.
    fn claim(&mut self, tx: &mut WriteTx<'_>) -> Option<Duration> {
        let free = if self.handle.is_paused() {
            0
        } else {
            self.capacity.saturating_sub(self.in_flight.len())
        };
        if free == 0 {
            return None;
        }
        let config = (self.config)();
        let limit = |name: &str| config.worker(name).concurrency.map(|max| max as usize);
        let full = full_workers(&self.per_worker, &config);
        let now = now_us();
        let runner = &self.runner;
        self.missing.retain(|name| !runner.has_worker(name));
        let mut skip: Vec<String> = full.iter().chain(&self.missing).cloned().collect();
        // Jobs whose worker is missing stay pending: found, skipped, and looked past.
        let due = loop {
            let due = tx.claims().due_jobs(now, free, &skip).unwrap_or_else(|e| {
                eprintln!("warning: reading due jobs failed: {e}");
                Vec::new()
            });
            let mut names: Vec<&String> = due.iter().map(|job| &job.name).collect();
            names.sort_unstable();
            names.dedup();
            let absent: Vec<String> = names
                .into_iter()
                .filter(|name| !self.runner.has_worker(name))
                .cloned()
                .collect();
            if absent.is_empty() {
                break due;
            }
            skip.extend(absent.iter().cloned());
            self.missing.extend(absent);
        };
        let mut starting = Vec::new();
        for job in due {
            // Running, or finished with its record not committed yet (`in_flight` is a subset).
            if self.unsettled.contains(&job.id) {
                continue;
            }
            let running = self.per_worker.entry(job.name.clone()).or_insert(0);
            if limit(&job.name).is_some_and(|max| *running >= max) {
                continue;
            }
            *running += 1;
            starting.push(job);
        }
        // Marked in the open transaction, so the next look at due jobs skips them; committed
        // with the next batch. Should `flux dev` die before that, they are still `pending`.
        if starting.is_empty() {
            return self.next_wake(tx.claims(), now);
        }
        let marked =
            tx.write(|claims| claims.mark_running(&mut starting.iter().map(|job| &job.id), now));
        if let Err(e) = marked {
            eprintln!("warning: starting due jobs failed: {e}");
            for job in &starting {
                if let Some(count) = self.per_worker.get_mut(&job.name) {
                    *count = count.saturating_sub(1);
                }
            }
            return Some(Duration::from_millis(100));
        }
        let started = starting.len();
        let mut attempts = Vec::with_capacity(started);
        for job in starting {
            self.in_flight.insert(job.id.clone());
            self.marks.push(job.id.clone());
            attempts.push(self.attempt(job, &config));
        }
        // The attempt's record, when it comes back through the records channel, frees its slot.
        self.runner.run(attempts);
        if started == free {
            return Some(Duration::ZERO);
        }
        self.next_wake(tx.claims(), now)
    }

    fn unsaved(&self) -> bool {
        !self.marks.is_empty() || !self.marks_lost.is_empty()
    }

    /// Every running attempt was started since the last commit: nothing else will come to
    /// share the commit of their marks soon.
    fn commit_now(&self) -> bool {
        !self.marks.is_empty() && self.in_flight.len() == self.marks.len()
    }

    fn busy(&self) -> bool {
        !self.in_flight.is_empty()
    }

    fn arrived(&mut self, write: &StoreWrite) -> bool {
        let Some((job_id, _)) = &write.job else {
            return false;
        };
        if !self.in_flight.remove(job_id) {
            return false;
        }
        if let Some(count) = self.per_worker.get_mut(&write.record.function) {
            *count = count.saturating_sub(1);
        }
        true
    }

    /// A finished attempt whose writes were undone did not do its work: it fails (its job is
    /// retried) instead of being stored as done.
    fn writes_lost(&mut self, write: &mut StoreWrite, reason: &str) {
        let attempt = self.attempts.get(&write.record.id).map(|(a, _)| a);
        fail_lost_writes(write, reason, attempt);
    }

    /// The marks lost with an earlier transaction, and the attempts whose writes commit ahead of
    /// their record (so that a killed `flux dev` still leaves a record of each).
    fn before_commit(
        &mut self,
        tx: &dyn JobClaims,
        records: &[StoreWrite],
        writers: &HashSet<ExecId>,
    ) -> crate::store::Result<()> {
        let finished: HashSet<ExecId> = records.iter().map(|w| w.record.id).collect();
        let newly_partial: Vec<(ExecId, JobId, i64)> = writers
            .iter()
            .filter(|exec| !finished.contains(exec) && !self.partial.contains(exec))
            .filter_map(|exec| {
                let (attempt, started) = self.attempts.get(exec)?;
                Some((*exec, attempt.job_id.clone(), *started))
            })
            .collect();
        let done_partial: Vec<ExecId> = finished
            .iter()
            .filter(|exec| self.partial.contains(exec))
            .copied()
            .collect();
        tx.mark_running(&mut self.marks_lost.iter(), now_us())?;
        tx.mark_partial_attempts(&newly_partial)?;
        tx.forget_partial_attempts(&done_partial)?;
        self.partial_committing = newly_partial.into_iter().map(|(exec, _, _)| exec).collect();
        Ok(())
    }

    fn committed(&mut self, records: &[StoreWrite]) {
        self.marks.clear();
        self.marks_lost.clear();
        self.partial.extend(self.partial_committing.drain(..));
        for write in records {
            if let Some((job_id, _)) = &write.job {
                self.attempts.remove(&write.record.id);
                self.partial.remove(&write.record.id);
                self.unsettled.remove(job_id);
            }
        }
    }

    /// Marks the started jobs running again at once, so that the next look at due jobs does
    /// not start them again; failing that, the next commit does.
    fn undone(&mut self, tx: &mut WriteTx<'_>) {
        self.partial_committing.clear();
        self.marks_lost.append(&mut self.marks);
        if self.marks_lost.is_empty() {
            return;
        }
        let now = now_us();
        let lost = &self.marks_lost;
        match tx.write(|claims| claims.mark_running(&mut lost.iter(), now)) {
            Ok(()) => self.marks.append(&mut self.marks_lost),
            Err(e) => eprintln!("warning: marking started jobs again failed: {e}"),
        }
    }

    fn stop(&mut self) {
        self.runner.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rusqlite::Connection;
    use serde_json::json;

    use super::*;
    use crate::project::QueueConfig;
    use crate::store::jobs::enqueue;
    use crate::store::EnqueueOptions;
    use crate::store::{Store, StoreThread};

    /// A runner that keeps what it was given.
    struct Collect(Arc<Mutex<Vec<Attempt>>>);

    impl Runner for Collect {
        fn run(&mut self, attempts: Vec<Attempt>) {
            self.0.lock().expect("attempts").extend(attempts);
        }
        fn workers(&self) -> Vec<String> {
            Vec::new()
        }
        fn stop(&mut self) {}
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        batch: Batch,
        handle: DispatcherHandle,
        dispatcher: Dispatcher,
        started: Arc<Mutex<Vec<Attempt>>>,
    }

    /// A dispatcher for one attempt in flight on one job engine (two claimed at once: one and
    /// the engine's lookahead) and the ids of the jobs of `names`, enqueued and due.
    fn fixture(names: &[&str]) -> (Fixture, Vec<JobId>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("flux.db")).expect("store");
        let conn = store.connect().expect("connect");
        let jobs = names
            .iter()
            .map(|name| {
                let options = EnqueueOptions::default();
                enqueue(&conn, name, &json!({ "n": 1 }), &options, 3, None, 0)
                    .expect("enqueue")
                    .id
            })
            .collect();
        let batch = Batch::new(&store).expect("batch");
        let (waker, _inbox) = StoreThread::channel();
        let handle = DispatcherHandle::new(waker);
        let config = Arc::new(Config {
            queue: QueueConfig {
                concurrency: 1,
                engines: 1,
                ..QueueConfig::default()
            },
            ..Config::default()
        });
        let started = Arc::new(Mutex::new(Vec::new()));
        let dispatcher = Dispatcher::new(
            handle.clone(),
            Box::new(move || Arc::clone(&config)),
            Box::new(Collect(Arc::clone(&started))),
        );
        let fixture = Fixture {
            _dir: dir,
            store,
            batch,
            handle,
            dispatcher,
            started,
        };
        (fixture, jobs)
    }

    fn state(conn: &Connection, job: &JobId) -> String {
        conn.query_row(
            "SELECT state FROM _flux_jobs WHERE id = ?1",
            [job.to_string()],
            |row| row.get(0),
        )
        .expect("job")
    }

    fn started(fixture: &Fixture) -> Vec<Attempt> {
        std::mem::take(&mut *fixture.started.lock().expect("attempts"))
    }

    /// The record of `attempt`, finished with `status`.
    fn finished(attempt: &Attempt, status: Status) -> StoreWrite {
        StoreWrite {
            record: ExecutionRecord {
                id: attempt.id,
                input: attempt.input.clone(),
                links: attempt.links.clone(),
                ..crate::record::sample(Kind::Job, &attempt.job.name, status)
            },
            job: Some((attempt.job.job_id.clone(), Transition::Done)),
        }
    }

    #[test]
    fn the_claims_run_ahead_of_the_engines_by_a_quarter_or_one_each() {
        assert_eq!(capacity(1, 1), 2);
        assert_eq!(capacity(8, 4), 12, "one ahead for each engine");
        assert_eq!(capacity(100, 2), 125, "a quarter ahead, not twice");
        assert_eq!(capacity(10_000, 64), 12_500);
    }

    #[test]
    fn due_jobs_are_claimed_once_marked_running_and_handed_to_the_runner() {
        let (mut f, jobs) = fixture(&["a", "a", "b"]);
        assert_eq!(
            f.dispatcher.claim(&mut f.batch.write_tx()),
            Some(Duration::ZERO)
        );
        let attempts = started(&f);
        assert_eq!(attempts.len(), 2, "the one in flight and one ahead");
        let conn = f.store.connect().expect("connect");
        for (attempt, job) in attempts.iter().zip(&jobs) {
            assert_eq!(&attempt.job.job_id, job);
            assert_eq!(attempt.job.attempt, 1);
            assert_eq!(attempt.input["attempt"], 1);
            assert_eq!(attempt.links.job_id.as_ref(), Some(job));
            let next_exec_id: String = conn
                .query_row(
                    "SELECT next_exec_id FROM _flux_jobs WHERE id = ?1",
                    [job.to_string()],
                    |row| row.get(0),
                )
                .expect("job");
            assert_eq!(attempt.id.to_string(), next_exec_id);
            assert_eq!(state(f.batch.conn(), job), "running");
            assert_eq!(state(&conn, job), "pending", "until the next commit");
        }
        assert!(f.dispatcher.unsaved() && f.dispatcher.commit_now());
        assert_eq!(
            f.dispatcher.claim(&mut f.batch.write_tx()),
            None,
            "no slot is free"
        );
        assert!(started(&f).is_empty());
        assert!(f.dispatcher.busy());
        f.batch.close();
    }

    /// A runner for which the workers in `missing` do not exist.
    struct Without {
        started: Arc<Mutex<Vec<Attempt>>>,
        missing: Arc<Mutex<Vec<String>>>,
    }

    impl Runner for Without {
        fn run(&mut self, attempts: Vec<Attempt>) {
            self.started.lock().expect("attempts").extend(attempts);
        }
        fn has_worker(&self, name: &str) -> bool {
            !self
                .missing
                .lock()
                .expect("missing")
                .iter()
                .any(|m| m == name)
        }
        fn workers(&self) -> Vec<String> {
            Vec::new()
        }
        fn stop(&mut self) {}
    }

    #[test]
    fn jobs_of_a_missing_worker_stay_pending_and_others_run_past_them() {
        let (mut f, jobs) = fixture(&["gone", "gone", "b"]);
        let missing = Arc::new(Mutex::new(vec!["gone".to_string()]));
        let config = Arc::new(Config::default());
        f.dispatcher = Dispatcher::new(
            f.handle.clone(),
            Box::new(move || Arc::clone(&config)),
            Box::new(Without {
                started: Arc::clone(&f.started),
                missing: Arc::clone(&missing),
            }),
        );
        let wake = f.dispatcher.claim(&mut f.batch.write_tx());
        let attempts = started(&f);
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].job.name, "b");
        assert_eq!(state(f.batch.conn(), &jobs[0]), "pending");
        assert_eq!(state(f.batch.conn(), &jobs[1]), "pending");
        assert_eq!(
            wake,
            Some(IDLE_CHECK),
            "nothing else due: no wake-up for the missing"
        );

        missing.lock().expect("missing").clear();
        f.dispatcher.claim(&mut f.batch.write_tx());
        let names: Vec<String> = started(&f).into_iter().map(|a| a.job.name).collect();
        assert_eq!(names, ["gone", "gone"], "the worker is back: its jobs run");
        f.batch.close();
    }

    #[test]
    fn a_paused_queue_claims_nothing_until_resumed() {
        let (mut f, jobs) = fixture(&["a"]);
        f.handle.pause();
        assert_eq!(f.dispatcher.claim(&mut f.batch.write_tx()), None);
        assert!(started(&f).is_empty());
        assert!(!f.dispatcher.unsaved());
        f.handle.resume();
        f.dispatcher.claim(&mut f.batch.write_tx());
        assert_eq!(started(&f).len(), 1);
        assert_eq!(state(f.batch.conn(), &jobs[0]), "running");
        f.batch.close();
    }

    #[test]
    fn marks_an_undone_transaction_took_are_made_again() {
        let (mut f, jobs) = fixture(&["a"]);
        f.dispatcher.claim(&mut f.batch.write_tx());
        assert_eq!(started(&f).len(), 1);
        let failed = f
            .batch
            .commit_with(|tx| Ok(tx.execute_batch("INSERT INTO no_such_table VALUES (1)")?));
        assert!(failed.is_err());
        assert_eq!(
            state(f.batch.conn(), &jobs[0]),
            "pending",
            "the mark is gone"
        );
        f.dispatcher.undone(&mut f.batch.write_tx());
        assert_eq!(state(f.batch.conn(), &jobs[0]), "running");
        assert!(f.dispatcher.unsaved());
        f.dispatcher.claim(&mut f.batch.write_tx());
        assert!(started(&f).is_empty(), "not started again");
        f.batch.commit_with(|_| Ok(())).expect("commit");
        f.dispatcher.committed(&[]);
        assert!(!f.dispatcher.unsaved());
        let conn = f.store.connect().expect("connect");
        assert_eq!(state(&conn, &jobs[0]), "running");
        f.batch.close();
    }

    #[test]
    fn a_finished_attempt_whose_writes_were_lost_fails_and_frees_its_slot() {
        let (mut f, _) = fixture(&["a"]);
        f.dispatcher.claim(&mut f.batch.write_tx());
        let attempt = started(&f).pop().expect("attempt");
        let mut write = finished(&attempt, Status::Ok);
        f.dispatcher.writes_lost(&mut write, "undone");
        assert_eq!(write.record.status, Status::Error);
        assert_eq!(
            write.record.error.as_ref().map(|e| e.name.as_str()),
            Some(WRITES_LOST)
        );
        assert!(
            matches!(write.job, Some((_, Transition::Retry { .. }))),
            "attempt 1 of 3 is retried: {:?}",
            write.job
        );
        assert!(f.dispatcher.arrived(&write), "its slot is free");
        assert!(!f.dispatcher.busy());
        assert!(!f.dispatcher.arrived(&write), "once");
        f.batch.close();
    }

    #[test]
    fn writes_committed_ahead_of_their_record_leave_a_row_until_the_record_commits() {
        let (mut f, _) = fixture(&["a"]);
        f.dispatcher.claim(&mut f.batch.write_tx());
        let attempt = started(&f).pop().expect("attempt");
        let partial_rows = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM _flux_partial_attempts", [], |row| {
                row.get(0)
            })
            .expect("count")
        };
        let writers = HashSet::from([attempt.id]);
        let dispatcher = &mut f.dispatcher;
        f.batch
            .commit_with(|tx| dispatcher.before_commit(tx, &[], &writers))
            .expect("commit");
        f.dispatcher.committed(&[]);
        let conn = f.store.connect().expect("connect");
        assert_eq!(partial_rows(&conn), 1);
        let record = [finished(&attempt, Status::Ok)];
        let dispatcher = &mut f.dispatcher;
        f.batch
            .commit_with(|tx| dispatcher.before_commit(tx, &record, &writers))
            .expect("commit");
        f.dispatcher.committed(&record);
        assert_eq!(partial_rows(&conn), 0);
        f.batch.close();
    }
}
