//! The store thread: the one writer of the store. It runs the executions' writes (see
//! [`crate::store::Batch`]), and commits them in one transaction with the records that
//! engines finished, the new state of their jobs and the marks of the jobs it started. It
//! claims the jobs that are due and hands them to the job engines.
//!
//! It wakes on a call (a write of an execution or of the API, enqueues included), a finished
//! execution and on pause/resume; otherwise it sleeps until the next scheduled job. There is
//! no polling interval in the dispatch path: every commit is followed by a look at due jobs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use super::{
    due_jobs, forget_partial_attempts, job_input, mark_partial_attempts, mark_running, next_due,
    recover_running, take_partial_attempts, transition_after, JobAttempt, JobRow, Transition,
};
use crate::project::FunctionFile;
use crate::record::{
    ErrorInfo, ExecId, Kind, Links, RecordSummary, Status, TailEvent, WRITES_LOST,
};
use crate::record::{ExecutionRecord, JobId};
use crate::runtime::{now_us, Engine, ExecutionRequest, Shared};
use crate::store::{insert_writes, prepare_writes, Batch, SqlCall, StoreWrite};

enum Event {
    Pause,
    Resume,
    Stop,
}

/// Talks to the store thread; cheap to clone.
#[derive(Clone)]
pub struct DispatcherHandle {
    events: Sender<Event>,
    paused: Arc<AtomicBool>,
}

impl DispatcherHandle {
    /// Whether new attempts are held back (`flux queue pause`).
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        let _ = self.events.send(Event::Pause);
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        let _ = self.events.send(Event::Resume);
    }
}

/// The receiving end of a [`DispatcherHandle`], until the thread starts.
pub struct DispatcherInbox(Receiver<Event>);

/// Called on the store thread with each batch once it is committed.
pub type OnWritten = Box<dyn Fn(&[StoreWrite]) + Send>;

pub struct Dispatcher {
    handle: DispatcherHandle,
    thread: Option<JoinHandle<()>>,
}

/// Records committed per transaction at most.
const MAX_BATCH: usize = 1_000;

/// Engine calls served before looking at the other inputs again.
const MAX_CALLS: usize = 256;

/// Commits group what finished within this long, or this many: the fixed cost of a transaction
/// (mostly reloading pages other connections changed) is then shared.
const FLUSH_AFTER: Duration = Duration::from_micros(4_000);
const FLUSH_AT: usize = 256;

/// The longest the thread sleeps without looking at the store: a safety net for a lost
/// wake-up, not part of the dispatch path.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// After a failed commit, the first and the longest wait before the records are tried again.
const RETRY_FIRST: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// Records tried per commit after failed commits: fewer the longer the store has failed.
fn retry_chunk(wait: Duration) -> usize {
    let halvings = (wait.as_millis() / RETRY_FIRST.as_millis().max(1))
        .max(1)
        .ilog2();
    (FLUSH_AT >> halvings.min(8)).max(1)
}

/// Tries to commit the last records at shutdown before giving up (about 15 s of waits).
const SHUTDOWN_TRIES: u32 = 20;

impl Dispatcher {
    /// A handle whose events wait until [`Dispatcher::start`] runs, so that the runtime can be
    /// built with a way to wake the thread before the thread exists.
    pub fn channel() -> (DispatcherHandle, DispatcherInbox) {
        let (events, inbox) = crossbeam_channel::unbounded();
        let handle = DispatcherHandle {
            events,
            paused: Arc::new(AtomicBool::new(false)),
        };
        (handle, DispatcherInbox(inbox))
    }

    /// Resets attempts a killed `flux dev` left running, starts the job engines, then the thread.
    pub fn start(
        shared: Arc<Shared>,
        inbox: DispatcherInbox,
        records: Receiver<StoreWrite>,
        calls: Receiver<SqlCall>,
        on_written: OnWritten,
    ) -> Result<Dispatcher, String> {
        let mut batch = Batch::new(&shared.store).map_err(|e| e.to_string())?;
        let (partial, recovered) = batch
            .commit_with(|conn| {
                let now = now_us();
                let partial = recover_partial_attempts(conn, now)?;
                Ok((partial, recover_running(conn, now)?))
            })
            .map_err(|e| e.to_string())?;
        if partial > 0 {
            eprintln!(
                "↻ {partial} job attempt(s) had committed some of their writes when the last \
                 stop cut them short: each has a record saying so, and runs again"
            );
        }
        if recovered > 0 {
            eprintln!("↻ {recovered} job attempt(s) cut short by the last stop will run again");
        }
        let concurrency = shared.config().queue.concurrency;
        let engine =
            Engine::start(Arc::clone(&shared), concurrency, "job").map_err(|e| e.to_string())?;
        let handle = shared.queue.clone();
        let state = State {
            shared,
            engine: Some(engine),
            batch,
            inbox: inbox.0,
            records,
            calls,
            on_written,
            concurrency,
            in_flight: HashSet::new(),
            per_worker: HashMap::new(),
            paused: false,
            stopping: false,
            pending: Vec::new(),
            marks: Vec::new(),
            marks_lost: Vec::new(),
            pending_since: None,
            attempts: HashMap::new(),
            unsettled: HashSet::new(),
            partial: HashSet::new(),
            retry: None,
        };
        let thread = std::thread::Builder::new()
            .name("flux-store".into())
            .spawn(move || state.run())
            .map_err(|e| e.to_string())?;
        Ok(Dispatcher {
            handle,
            thread: Some(thread),
        })
    }

    /// Stops claiming, lets running attempts end (the shutdown grace interrupts them), stores
    /// every record still on its way, then returns.
    pub fn stop(mut self) {
        let _ = self.handle.events.send(Event::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes the record of each attempt that committed some writes before a killed `flux dev`
/// could store its record, and puts its job back to run again (the attempt not counted, as for
/// any attempt a stop cut short). Returns how many there were.
fn recover_partial_attempts(conn: &rusqlite::Connection, now: i64) -> crate::store::Result<usize> {
    let attempts = take_partial_attempts(conn)?;
    let writes: Vec<StoreWrite> = attempts
        .into_iter()
        .map(|(id, job, started_at_us)| {
            let record = ExecutionRecord {
                format: crate::record::RECORD_FORMAT,
                id,
                kind: Kind::Job,
                function: job.as_ref().map_or_else(String::new, |j| j.name.clone()),
                method: None,
                path: None,
                status: Status::Interrupted,
                http_status: None,
                started_at_us,
                duration_us: 0,
                input: job.as_ref().map_or(serde_json::Value::Null, job_input),
                output: None,
                error: Some(ErrorInfo {
                    name: "Interrupted".into(),
                    message: "flux dev was killed while this attempt ran, after some of its \
                              writes were committed; what it did after them is unknown, and the \
                              job runs again"
                        .into(),
                    stack: None,
                    location: None,
                }),
                console: Vec::new(),
                code_version: String::new(),
                spans: Vec::new(),
                mutations: Vec::new(),
                dropped: None,
                links: Links {
                    job_id: job.as_ref().map(|j| j.id.clone()),
                    attempt: job.as_ref().map(|j| j.attempts),
                    max_attempts: job.as_ref().map(|j| j.max_attempts),
                    enqueued_by: job
                        .as_ref()
                        .and_then(|j| j.enqueued_by.as_deref())
                        .and_then(|e| e.parse().ok()),
                    previous_attempt: job
                        .as_ref()
                        .and_then(|j| j.last_record.as_deref())
                        .and_then(|e| e.parse().ok()),
                },
            };
            let transition = job
                .filter(|j| j.state == super::JobState::Running && j.next_exec_id == id.to_string())
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
        .collect();
    insert_writes(conn, &prepare_writes(&writes)?, now)?;
    Ok(writes.len())
}

struct State {
    shared: Arc<Shared>,
    engine: Option<Engine>,
    batch: Batch,
    inbox: Receiver<Event>,
    records: Receiver<StoreWrite>,
    calls: Receiver<SqlCall>,
    on_written: OnWritten,
    concurrency: usize,
    /// Jobs whose started attempt has not sent its record back yet.
    in_flight: HashSet<JobId>,
    per_worker: HashMap<String, usize>,
    paused: bool,
    stopping: bool,
    /// Finished executions waiting for the next commit.
    pending: Vec<StoreWrite>,
    /// Jobs started since the last commit, marked running in the open transaction.
    marks: Vec<JobId>,
    /// Marks a failed commit took with it, to be made again with the next try.
    marks_lost: Vec<JobId>,
    /// When the oldest of those started waiting.
    pending_since: Option<Instant>,
    /// Started attempts whose record is not committed yet, by execution, with their start.
    attempts: HashMap<ExecId, (JobAttempt, i64)>,
    /// Jobs whose started attempt's record is not committed yet: never started again meanwhile.
    unsettled: HashSet<JobId>,
    /// Attempts with writes committed ahead of their record (a row in the store says so).
    partial: HashSet<ExecId>,
    /// After a failed commit: when to try again, and the wait after that.
    retry: Option<(Instant, Duration)>,
}

impl State {
    fn run(mut self) {
        // When to look for due jobs next (`None`: when something happens).
        let mut dispatch_at = Some(Instant::now());
        loop {
            // Sleep until something happens, a job is due, the open transaction is old
            // enough to commit, or a held call gives up.
            // An open user transaction defers both: its end arrives as a call.
            let (dispatch_wake, flush_at) = if self.batch.in_user_transaction() {
                (None, None)
            } else {
                (dispatch_at, self.flush_due_at())
            };
            let wake_at = [dispatch_wake, flush_at, self.batch.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            let timeout = wake_at.map(|at| at.saturating_duration_since(Instant::now()));
            let mut received = None;
            let mut call = None;
            match timeout {
                Some(timeout) => select! {
                    recv(self.calls) -> c => call = c.ok(),
                    recv(self.inbox) -> event => dispatch_at = self.handle(event.unwrap_or(Event::Stop)).or(dispatch_at),
                    recv(self.records) -> write => received = write.ok(),
                    default(timeout) => {}
                },
                None => select! {
                    recv(self.calls) -> c => call = c.ok(),
                    recv(self.inbox) -> event => dispatch_at = self.handle(event.unwrap_or(Event::Stop)).or(dispatch_at),
                    recv(self.records) -> write => received = write.ok(),
                },
            }
            if let Some(call) = call {
                self.serve(call);
            }
            let mut freed = received.is_some_and(|write| self.take(write));
            // Take everything already queued, so that one transaction covers it.
            for _ in 0..MAX_CALLS {
                match self.calls.try_recv() {
                    Ok(call) => self.serve(call),
                    Err(_) => break,
                }
            }
            while let Ok(event) = self.inbox.try_recv() {
                dispatch_at = self.handle(event).or(dispatch_at);
            }
            while self.pending.len() < MAX_BATCH {
                match self.records.try_recv() {
                    Ok(write) => freed |= self.take(write),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if freed {
                dispatch_at = Some(now);
            }
            self.batch.expire_held(now);
            // Jobs enqueued inside a transaction that is still open must not start yet.
            if dispatch_at.is_some_and(|at| at <= now) && !self.batch.in_user_transaction() {
                dispatch_at = self.dispatch().map(|wait| now + wait);
            }
            if self.should_flush() {
                self.flush();
                self.batch.release_held();
                // Slots freed, a retry rescheduled, or a commit carried new jobs: plan again.
                if self.claiming() {
                    dispatch_at = Some(Instant::now());
                }
            }
            if self.stopping
                && self.in_flight.is_empty()
                && self.pending.is_empty()
                && self.batch.opened_at().is_none()
            {
                break;
            }
        }
        self.finish();
    }

    /// After a stop: the job engines are idle; store what is still coming (HTTP records).
    fn finish(mut self) {
        if let Some(engine) = self.engine.take() {
            engine.stop();
        }
        let mut failed_commits = 0;
        loop {
            let calls: Vec<SqlCall> = self.calls.try_iter().collect();
            let more: Vec<StoreWrite> = self.records.try_iter().take(MAX_BATCH).collect();
            if calls.is_empty() && more.is_empty() && self.pending.is_empty() {
                break;
            }
            let no_calls = calls.is_empty();
            for call in calls {
                self.serve(call);
            }
            for write in more {
                self.take(write);
            }
            if no_calls {
                // Every engine has stopped: a transaction still open has lost its execution.
                self.batch.end_orphaned_transaction();
            }
            if !self.batch.in_user_transaction() {
                if let Some((at, _)) = self.retry {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                }
                self.flush();
                self.batch.release_held();
                if self.retry.is_some() {
                    failed_commits += 1;
                    if failed_commits >= SHUTDOWN_TRIES {
                        eprintln!(
                            "error: flux dev is stopping and the store still does not commit: \
                             {} execution records are not stored",
                            self.pending.len()
                        );
                        break;
                    }
                }
            }
        }
        self.batch.close();
    }

    /// Tells `flux tail` subscribers about committed executions (none listening is fine).
    fn publish(&self, batch: &[StoreWrite], seqs: &[i64]) {
        if self.shared.tail.receiver_count() == 0 {
            return;
        }
        for (write, seq) in batch.iter().zip(seqs) {
            let event = TailEvent {
                seq: *seq,
                record: RecordSummary::from(&write.record),
                enqueued_by: write.record.links.enqueued_by.map(|id| id.to_string()),
                next: write.job.as_ref().map(|(_, next)| next.clone()),
            };
            let _ = self.shared.tail.send(Arc::new(event));
        }
    }

    /// Runs an engine's call in the open transaction. Should a statement of it roll that
    /// transaction back, the marks of the jobs started since the last commit are made again.
    fn serve(&mut self, call: SqlCall) {
        self.batch.serve(call);
        if self.batch.take_undone() {
            let now = now_us();
            let marks = &self.marks;
            let remarked = if marks.is_empty() {
                Ok(())
            } else {
                self.batch.write(|tx| Ok(mark_running(tx, marks, now)?))
            };
            if let Err(e) = remarked {
                eprintln!("warning: marking started jobs again failed: {e}");
            }
            self.fail_lost_attempts();
            self.batch.release_held();
        }
    }

    /// Finished attempts waiting for the commit whose writes were undone: they did not do
    /// their work, so they fail (their job is retried) instead of being stored as done.
    fn fail_lost_attempts(&mut self) {
        let now = now_us();
        for write in &mut self.pending {
            let Some((_, transition)) = &mut write.job else {
                continue;
            };
            let Some(reason) = self.batch.lost(write.record.id) else {
                continue;
            };
            for mutation in &mut write.record.mutations {
                mutation.committed = false;
            }
            if write.record.status != Status::Ok {
                continue;
            }
            write.record.status = Status::Error;
            write.record.error = Some(ErrorInfo {
                name: WRITES_LOST.into(),
                message: reason.to_string(),
                stack: None,
                location: None,
            });
            if let Some((attempt, _)) = self.attempts.get(&write.record.id) {
                *transition = transition_after(&write.record, attempt, now);
            }
        }
    }

    /// Queues a finished execution for the next commit; returns whether it freed a job slot.
    fn take(&mut self, write: StoreWrite) -> bool {
        self.batch.record_arrived(write.record.id);
        self.pending_since.get_or_insert_with(Instant::now);
        let mut freed = false;
        if let Some((job_id, _)) = &write.job {
            if self.in_flight.remove(job_id) {
                freed = true;
                if let Some(count) = self.per_worker.get_mut(&write.record.function) {
                    *count = count.saturating_sub(1);
                }
            }
        }
        let lost = write.job.is_some() && self.batch.lost(write.record.id).is_some();
        self.pending.push(write);
        if lost {
            self.fail_lost_attempts();
        }
        freed
    }

    /// When what waits to be committed has waited long enough.
    fn flush_due_at(&self) -> Option<Instant> {
        let due = [self.pending_since, self.batch.opened_at()]
            .into_iter()
            .flatten()
            .min()
            .map(|since| since + FLUSH_AFTER);
        let not_before = [
            self.retry.map(|(at, _)| at),
            self.batch.record_awaited_until(),
        ]
        .into_iter()
        .flatten()
        .max();
        match not_before {
            Some(at) => due.map(|due| due.max(at)),
            None => due,
        }
    }

    fn claiming(&self) -> bool {
        !self.paused && !self.stopping
    }

    /// Commit now when a caller waits for it, when enough waits, when it has waited long
    /// enough, when every slot is taken by attempts whose records wait here, or when
    /// stopping; never inside an execution's open transaction.
    fn should_flush(&self) -> bool {
        if self.batch.in_user_transaction() {
            return false;
        }
        if self.pending.is_empty()
            && self.marks.is_empty()
            && self.marks_lost.is_empty()
            && self.batch.opened_at().is_none()
        {
            return false;
        }
        if self.retry.is_some_and(|(at, _)| Instant::now() < at)
            || self.batch.record_awaited_until().is_some()
        {
            return false;
        }
        self.batch.has_waiters()
            || self.pending.len() >= FLUSH_AT
            || self.flush_due_at().is_some_and(|at| Instant::now() >= at)
            || self.stopping
            || self.pending.is_empty()
                && !self.marks.is_empty()
                && self.in_flight.len() == self.marks.len()
    }

    /// Returns when to look for due jobs because of it.
    fn handle(&mut self, event: Event) -> Option<Instant> {
        match event {
            Event::Pause => self.paused = true,
            Event::Resume => self.paused = false,
            Event::Stop => self.stopping = true,
        }
        Some(Instant::now())
    }

    /// Starts what is due, without writing: the jobs are marked running with the next commit.
    /// Should `flux dev` die before it, they are still `pending` and run again. Returns how
    /// long to sleep before a job is due (`None`: until something happens).
    fn dispatch(&mut self) -> Option<Duration> {
        let capacity = self.concurrency * 2;
        // Claim ahead of the engines by as many again, so that an engine finishing an attempt
        // finds the next one waiting.
        let free = if self.claiming() {
            capacity.saturating_sub(self.in_flight.len())
        } else {
            0
        };
        if free == 0 {
            return None;
        }
        let config = self.shared.config();
        let limit = |name: &str| config.worker(name).concurrency.map(|max| max as usize);
        let full: Vec<String> = self
            .per_worker
            .iter()
            .filter(|(name, running)| limit(name).is_some_and(|max| **running >= max))
            .map(|(name, _)| name.clone())
            .collect();
        let now = now_us();
        let due = due_jobs(self.batch.conn(), now, free, &full).unwrap_or_else(|e| {
            eprintln!("warning: reading due jobs failed: {e}");
            Vec::new()
        });
        let mut starting = Vec::new();
        for job in due {
            // Running, or finished with its record not committed yet.
            if self.in_flight.contains(&job.id) || self.unsettled.contains(&job.id) {
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
            return self.next_wake(now);
        }
        let marked = self
            .batch
            .write(|tx| Ok(mark_running(tx, starting.iter().map(|job| &job.id), now)?));
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
        let mut functions: HashMap<String, FunctionFile> = HashMap::new();
        for job in starting {
            self.in_flight.insert(job.id.clone());
            self.marks.push(job.id.clone());
            self.pending_since.get_or_insert_with(Instant::now);
            let function = functions
                .entry(job.name.clone())
                .or_insert_with(|| self.function(&job.name))
                .clone();
            self.start(job, function);
        }
        if started == free {
            return Some(Duration::ZERO);
        }
        self.next_wake(now)
    }

    /// How long to sleep before a job is due (`None`: until something happens).
    fn next_wake(&self, now: i64) -> Option<Duration> {
        match next_due(self.batch.conn()) {
            Ok(Some(at)) if at > now => {
                Some(Duration::from_micros((at - now) as u64).min(IDLE_CHECK))
            }
            // Due but not started: its worker is at its limit.
            Ok(Some(_)) => None,
            Ok(None) => Some(IDLE_CHECK),
            Err(_) => Some(Duration::from_millis(100)),
        }
    }

    /// Commits the executions' writes, the waiting records (with their jobs' new states) and
    /// the marks of started jobs in one transaction, and marks the attempts whose writes commit
    /// ahead of their record. Should that fail, the executions that wrote in it are told, the
    /// attempts among them fail, and the records and marks wait for the next try: a record is
    /// never dropped. Then the finished attempts free their slots.
    fn flush(&mut self) {
        let now = now_us();
        // After failed commits, fewer records per try: a store with little room left can still
        // take some, where the whole backlog would fail again and again.
        let take = self
            .retry
            .map_or(self.pending.len(), |(_, wait)| retry_chunk(wait))
            .min(self.pending.len());
        let prepared = match prepare_writes(&self.pending[..take]) {
            Ok(prepared) => prepared,
            Err(e) => {
                // Only a record that cannot be encoded gets here: trying again cannot help.
                eprintln!(
                    "error: {} execution records could not be encoded: {e}",
                    self.pending.len()
                );
                self.pending.clear();
                return;
            }
        };
        let finished: HashSet<ExecId> = self.pending[..take].iter().map(|w| w.record.id).collect();
        let newly_partial: Vec<(ExecId, JobId, i64)> = self
            .batch
            .writers()
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
        let marks_lost = &self.marks_lost;
        let result = self.batch.commit_with(|tx| {
            mark_running(tx, marks_lost, now)?;
            mark_partial_attempts(tx, &newly_partial)?;
            forget_partial_attempts(tx, &done_partial)?;
            insert_writes(tx, &prepared, now)
        });
        drop(prepared);
        match result {
            Ok(seqs) => {
                self.retry = None;
                self.marks.clear();
                self.marks_lost.clear();
                let batch: Vec<StoreWrite> = self.pending.drain(..take).collect();
                self.pending_since = (!self.pending.is_empty()).then(Instant::now);
                self.publish(&batch, &seqs);
                for (exec, _, _) in newly_partial {
                    self.partial.insert(exec);
                }
                for write in &batch {
                    self.batch.forget(write.record.id);
                    if let Some((job_id, _)) = &write.job {
                        self.attempts.remove(&write.record.id);
                        self.partial.remove(&write.record.id);
                        self.unsettled.remove(job_id);
                    }
                }
                if !batch.is_empty() {
                    (self.on_written)(&batch);
                }
            }
            Err(e) => {
                let wait = self
                    .retry
                    .map_or(RETRY_FIRST, |(_, wait)| (wait * 2).min(RETRY_MAX));
                if wait < RETRY_MAX {
                    eprintln!(
                        "warning: the store could not commit ({e}); the executions that wrote \
                         in that transaction fail, and {} records wait to be stored",
                        self.pending.len()
                    );
                }
                self.retry = Some((Instant::now() + wait, wait));
                self.batch.checkpoint_after_failure();
                self.marks_lost.append(&mut self.marks);
                // At once, so that the next look at due jobs does not start them again.
                let now = now_us();
                let lost = &self.marks_lost;
                if !lost.is_empty()
                    && self
                        .batch
                        .write(|tx| Ok(mark_running(tx, lost, now)?))
                        .is_ok()
                {
                    self.marks.append(&mut self.marks_lost);
                }
                self.fail_lost_attempts();
            }
        }
    }

    /// The file serving jobs named `name` (a missing one makes the attempt fail, recorded).
    fn function(&self, name: &str) -> FunctionFile {
        self.shared.lookup(name).unwrap_or_else(|| FunctionFile {
            name: name.to_string(),
            module: format!("{name}.ts"),
            path: self
                .shared
                .layout
                .functions_dir()
                .join(format!("{name}.ts")),
            modified: None,
            len: 0,
        })
    }

    fn start(&mut self, job: JobRow, function: FunctionFile) {
        if self.engine.is_none() {
            return;
        }
        let config = self.shared.config();
        let worker = config.worker(&job.name);
        // This attempt's number: the store counts it when the round's transaction commits.
        let attempt = job.attempts + 1;
        let job = JobRow {
            attempts: attempt,
            ..job
        };
        let input = job_input(&job);
        let id = job
            .next_exec_id
            .parse()
            .unwrap_or_else(|_| ExecId::random());
        let attempt_info = JobAttempt {
            job_id: job.id.clone(),
            name: job.name.clone(),
            attempt: job.attempts,
            max_attempts: job.max_attempts,
            backoff: worker.backoff,
            atomic: worker.atomic,
        };
        self.attempts.insert(id, (attempt_info.clone(), now_us()));
        self.unsettled.insert(job.id.clone());
        let request = ExecutionRequest {
            id,
            kind: Kind::Job,
            function,
            recorded_input: input.clone(),
            input,
            method: None,
            path: None,
            timeout: worker.timeout,
            links: Links {
                job_id: Some(job.id.clone()),
                attempt: Some(job.attempts),
                max_attempts: Some(job.max_attempts),
                enqueued_by: job.enqueued_by.as_deref().and_then(|id| id.parse().ok()),
                previous_attempt: job.last_record.as_deref().and_then(|id| id.parse().ok()),
            },
            job: Some(attempt_info),
        };
        // The attempt's record, when it comes back through the records channel, frees its slot.
        if let Some(engine) = &self.engine {
            let _ = engine.submit(request, Box::new(|_| {}));
        }
    }
}
