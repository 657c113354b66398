//! The store thread: the one writer of execution records and of the queue's state. Each round
//! it commits, in one transaction, the records that engines finished (with the new state of
//! their jobs) and claims the jobs that are due, then hands those to the job engines.
//!
//! It wakes on a finished execution, on a committed enqueue and on pause/resume; otherwise it
//! sleeps until the next scheduled job. There is no polling interval in the dispatch path.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use rusqlite::Connection;

use super::{
    due_jobs, job_input, mark_running, next_due, recover_running, JobAttempt, JobRow, Transition,
};
use crate::project::FunctionFile;
use crate::record::{ExecId, Kind, Links, RecordSummary, TailEvent};
use crate::render::transition_note;
use crate::runtime::{now_us, Engine, ExecutionRequest, Shared};
use crate::store::{insert_writes, prepare_writes, StoreWrite};

enum Event {
    Wake,
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

    /// Something may be due: a job was committed.
    pub fn wake(&self) {
        let _ = self.events.send(Event::Wake);
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

/// Commits group what finished within this long, or this many: the fixed cost of a transaction
/// (mostly reloading pages other connections changed) is then shared.
const FLUSH_AFTER: Duration = Duration::from_micros(1_000);
const FLUSH_AT: usize = 128;

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
        on_written: OnWritten,
    ) -> Result<Dispatcher, String> {
        let conn = shared.store.connect().map_err(|e| e.to_string())?;
        let recovered = {
            let _guard = shared.store.write_lock().lock();
            recover_running(&conn, now_us()).map_err(|e| e.to_string())?
        };
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
            conn,
            inbox: inbox.0,
            records,
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
    conn: Connection,
    inbox: Receiver<Event>,
    records: Receiver<StoreWrite>,
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
        let mut wait = Some(Duration::ZERO);
        loop {
            // Sleep until something happens, until the next job is due, or until the
            // writes waiting to be committed are old enough.
            let flush_in = self
                .pending_since
                .map(|since| FLUSH_AFTER.saturating_sub(since.elapsed()));
            let timeout = match (wait, flush_in) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut received = None;
            match timeout {
                Some(timeout) => select! {
                    recv(self.inbox) -> event => self.handle(event.unwrap_or(Event::Stop)),
                    recv(self.records) -> write => received = write.ok(),
                    default(timeout) => {}
                },
                None => select! {
                    recv(self.inbox) -> event => self.handle(event.unwrap_or(Event::Stop)),
                    recv(self.records) -> write => received = write.ok(),
                },
            }
            if let Some(write) = received {
                self.take(write);
            }
            // Take everything already queued, so that one transaction covers it.
            while let Ok(event) = self.inbox.try_recv() {
                self.handle(event);
            }
            while self.pending.len() < MAX_BATCH {
                match self.records.try_recv() {
                    Ok(write) => self.take(write),
                    Err(_) => break,
                }
            }
            wait = self.dispatch();
            if self.should_flush() {
                let (freed, rescheduled) = self.flush();
                // Slots freed while jobs waited for one, or a retry changed when the next job
                // is due: plan again.
                if self.claiming() && ((freed && wait.is_none()) || rescheduled) {
                    wait = Some(Duration::ZERO);
                }
            }
            if self.stopping && self.in_flight.is_empty() && self.pending.is_empty() {
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
            let more: Vec<StoreWrite> = self.records.try_iter().take(MAX_BATCH).collect();
            if more.is_empty() && self.pending.is_empty() {
                break;
            }
            for write in more {
                self.take(write);
            }
            let _ = self.flush();
        }
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

    fn take(&mut self, write: StoreWrite) {
        self.pending_since.get_or_insert_with(Instant::now);
        self.pending.push(write);
    }

    fn claiming(&self) -> bool {
        !self.paused && !self.stopping
    }

    /// Commit now when enough waits, when it has waited long enough, when every slot is
    /// taken by attempts whose records wait here, or when stopping.
    fn should_flush(&self) -> bool {
        if self.pending.is_empty() && self.marks.is_empty() {
            return false;
        }
        let slots_full = self.in_flight.len() >= self.concurrency * 2;
        self.pending.len() >= FLUSH_AT
            || self
                .pending_since
                .is_some_and(|since| since.elapsed() >= FLUSH_AFTER)
            || (slots_full && self.pending.iter().any(|w| w.job.is_some()))
            || self.stopping
            || self.pending.is_empty()
                && !self.marks.is_empty()
                && self.in_flight.len() == self.marks.len()
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Wake => {}
            Event::Pause => self.paused = true,
            Event::Resume => self.paused = false,
            Event::Stop => self.stopping = true,
        }
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
        // Started attempts stay `pending` or `running` in the store until their records are
        // committed: ask for enough rows to skip them.
        let due =
            due_jobs(&self.conn, now, free + self.in_flight.len(), &full).unwrap_or_else(|e| {
                eprintln!("warning: reading due jobs failed: {e}");
                Vec::new()
            });
        let mut started = 0;
        for job in due {
            if started == free || self.in_flight.contains(&job.id) {
                continue;
            }
            let running = self.per_worker.entry(job.name.clone()).or_insert(0);
            if limit(&job.name).is_some_and(|max| *running >= max) {
                continue;
            }
            *running += 1;
            started += 1;
            self.in_flight.insert(job.id.clone());
            self.marks.push(job.id.clone());
            self.pending_since.get_or_insert_with(Instant::now);
            self.start(job);
        }
        if started > 0 && started == free {
            return Some(Duration::ZERO);
        }
        match next_due(&self.conn) {
            Ok(Some(at)) if at > now => {
                Some(Duration::from_micros((at - now) as u64).min(IDLE_CHECK))
            }
            // Due but not started: skipped as running, or its worker is at its limit.
            Ok(Some(_)) => None,
            Ok(None) => Some(IDLE_CHECK),
            Err(_) => Some(Duration::from_millis(100)),
        }
    }

    /// Commits the waiting records (with their jobs' new states) and the marks of started
    /// jobs in one transaction, retrying while a long user transaction holds the store:
    /// records wait, they are not dropped. Then the finished attempts free their slots.
    /// Returns whether attempts finished (freeing slots) and whether a job was rescheduled.
    fn flush(&mut self) -> (bool, bool) {
        let batch = std::mem::take(&mut self.pending);
        let marks = std::mem::take(&mut self.marks);
        self.pending_since = None;
        let now = now_us();
        match prepare_writes(&batch) {
            Ok(prepared) => {
                let mut delay = Duration::from_millis(5);
                loop {
                    let result = (|| -> Result<Vec<i64>, crate::store::StoreError> {
                        let _guard = self.shared.store.write_lock().lock();
                        let tx = self.conn.transaction()?;
                        for job_id in &marks {
                            mark_running(&tx, job_id, now)?;
                        }
                        let seqs = insert_writes(&tx, &prepared, now)?;
                        tx.commit()?;
                        Ok(seqs)
                    })();
                    match result {
                        Ok(seqs) => {
                            self.publish(&batch, &seqs);
                            break;
                        }
                        Err(e) if delay <= Duration::from_secs(5) => {
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
            }
            Err(e) => eprintln!(
                "error: {} execution records could not be encoded: {e}",
                batch.len()
            ),
        }
        for write in &batch {
            let Some((job_id, _)) = &write.job else {
                continue;
            };
            if self.in_flight.remove(job_id) {
                if let Some(count) = self.per_worker.get_mut(&write.record.function) {
                    *count = count.saturating_sub(1);
                }
            }
        }
        if !batch.is_empty() {
            (self.on_written)(&batch);
        }
        let freed = batch.iter().any(|w| w.job.is_some());
        let rescheduled = batch.iter().any(|w| {
            matches!(
                w.job,
                Some((_, Transition::Retry { .. } | Transition::Requeue { .. }))
            )
        });
        (freed, rescheduled)
    }

    fn start(&self, job: JobRow) {
        let Some(engine) = &self.engine else { return };
        let config = self.shared.config();
        let worker = config.worker(&job.name);
        let function = self
            .shared
            .lookup(&job.name)
            .unwrap_or_else(|| FunctionFile {
                name: job.name.clone(),
                module: format!("{}.ts", job.name),
                path: self
                    .shared
                    .layout
                    .functions_dir()
                    .join(format!("{}.ts", job.name)),
                modified: None,
                len: 0,
            });
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
