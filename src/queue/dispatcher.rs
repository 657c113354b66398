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

use super::{due_jobs, job_input, mark_running, next_due, recover_running, JobAttempt, JobRow};
use crate::project::FunctionFile;
use crate::record::{ExecId, Kind, Links, RecordSummary, TailEvent};
use crate::render::transition_note;
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
        let recovered = batch
            .commit_with(|conn| Ok(recover_running(conn, now_us())?))
            .map_err(|e| e.to_string())?;
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
            pending_since: None,
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
    in_flight: HashSet<String>,
    per_worker: HashMap<String, usize>,
    paused: bool,
    stopping: bool,
    /// Finished executions waiting for the next commit.
    pending: Vec<StoreWrite>,
    /// Jobs started since the last commit, to be marked running with it.
    marks: Vec<String>,
    /// When the oldest of those started waiting.
    pending_since: Option<Instant>,
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
                self.flush();
                self.batch.release_held();
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
            let record = RecordSummary::from(&write.record);
            let note = write
                .job
                .as_ref()
                .and_then(|(_, next)| transition_note(&record, next));
            let event = TailEvent {
                seq: *seq,
                record,
                enqueued_by: write.record.links.enqueued_by.map(|id| id.to_string()),
                note,
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
                self.batch
                    .write(|tx| Ok(mark_running(tx, marks.iter().map(String::as_str), now)?))
            };
            if let Err(e) = remarked {
                eprintln!("warning: marking started jobs again failed: {e}");
            }
            self.batch.release_held();
        }
    }

    /// Queues a finished execution for the next commit; returns whether it freed a job slot.
    fn take(&mut self, write: StoreWrite) -> bool {
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
        self.pending.push(write);
        freed
    }

    /// When what waits to be committed has waited long enough.
    fn flush_due_at(&self) -> Option<Instant> {
        [self.pending_since, self.batch.opened_at()]
            .into_iter()
            .flatten()
            .min()
            .map(|since| since + FLUSH_AFTER)
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
        if self.pending.is_empty() && self.marks.is_empty() && self.batch.opened_at().is_none() {
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
            if self.in_flight.contains(&job.id) {
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
        let marked = self.batch.write(|tx| {
            Ok(mark_running(
                tx,
                starting.iter().map(|job| job.id.as_str()),
                now,
            )?)
        });
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
    /// the marks of started jobs in one transaction. Should that fail, the records and marks
    /// are tried again on their own, while a long user transaction elsewhere holds the store:
    /// records wait, they are not dropped. Then the finished attempts free their slots.
    fn flush(&mut self) {
        let batch = std::mem::take(&mut self.pending);
        let marks = std::mem::take(&mut self.marks);
        self.pending_since = None;
        let now = now_us();
        let prepared = match prepare_writes(&batch) {
            Ok(prepared) => Some(prepared),
            Err(e) => {
                eprintln!(
                    "error: {} execution records could not be encoded: {e}",
                    batch.len()
                );
                None
            }
        };
        let mut delay = Duration::from_millis(5);
        // The marks are in the open transaction already; after a failed commit, they are not.
        let mut marks_applied = true;
        loop {
            let result = self.batch.commit_with(|tx| {
                if !marks_applied {
                    mark_running(tx, marks.iter().map(String::as_str), now)?;
                }
                match &prepared {
                    Some(prepared) => insert_writes(tx, prepared, now),
                    None => Ok(Vec::new()),
                }
            });
            match result {
                Ok(seqs) => {
                    self.publish(&batch, &seqs);
                    break;
                }
                Err(e) if delay <= Duration::from_secs(5) => {
                    marks_applied = false;
                    eprintln!("warning: storing records failed ({e}); retrying");
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                Err(e) => {
                    eprintln!(
                        "error: {} execution records could not be stored: {e}",
                        batch.len()
                    );
                    break;
                }
            }
        }
        if !batch.is_empty() {
            (self.on_written)(&batch);
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

    fn start(&self, job: JobRow, function: FunctionFile) {
        let Some(engine) = &self.engine else { return };
        let config = self.shared.config();
        let worker = config.worker(&job.name);
        // This attempt's number: the store counts it when the round's transaction commits.
        let attempt = job.attempts + 1;
        let job = JobRow {
            attempts: attempt,
            ..job
        };
        let input = job_input(&job);
        let request = ExecutionRequest {
            id: job
                .next_exec_id
                .parse()
                .unwrap_or_else(|_| ExecId::random()),
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
            job: Some(JobAttempt {
                job_id: job.id,
                name: job.name,
                attempt: job.attempts,
                max_attempts: job.max_attempts,
                backoff: worker.backoff,
            }),
        };
        // The attempt's record, when it comes back through the records channel, frees its slot.
        let _ = engine.submit(request, Box::new(|_| {}));
    }
}
