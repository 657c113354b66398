//! The dispatcher: one thread that claims due jobs and hands them to the job engines. It is
//! woken by commits that enqueue, by finished attempts and by the writer committing retries;
//! it sleeps until the next scheduled job otherwise. There is no polling interval in the path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;

use super::{claim_due, job_input, next_due, recover_running, unclaim, JobAttempt, JobRow};
use crate::project::FunctionFile;
use crate::record::{ExecId, Kind, Links};
use crate::runtime::{now_us, Engine, ExecutionRequest, Shared};

enum Event {
    Wake,
    Finished(String),
    Pause,
    Resume,
    Stop,
}

/// Talks to the dispatcher thread; cheap to clone.
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

    /// Something may be due: a job was committed, or an attempt's outcome was.
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

pub struct Dispatcher {
    handle: DispatcherHandle,
    thread: Option<JoinHandle<()>>,
}

impl Dispatcher {
    /// A handle whose events wait until [`Dispatcher::start`] runs; lets the runtime be built
    /// with a way to wake the dispatcher before the dispatcher exists.
    pub fn channel() -> (DispatcherHandle, DispatcherInbox) {
        let (events, inbox) = crossbeam_channel::unbounded();
        let handle = DispatcherHandle {
            events,
            paused: Arc::new(AtomicBool::new(false)),
        };
        (handle, DispatcherInbox(inbox))
    }

    /// Resets attempts a killed `flux dev` left running, then starts dispatching.
    pub fn start(
        shared: Arc<Shared>,
        handle: DispatcherHandle,
        inbox: DispatcherInbox,
        concurrency: usize,
    ) -> Result<Dispatcher, String> {
        let conn = shared.store.connect().map_err(|e| e.to_string())?;
        let recovered = {
            let _guard = shared.store.write_lock().lock();
            recover_running(&conn, now_us()).map_err(|e| e.to_string())?
        };
        if recovered > 0 {
            eprintln!("↻ {recovered} job attempt(s) interrupted by the last stop will run again");
        }
        let engine =
            Engine::start(Arc::clone(&shared), concurrency, "job").map_err(|e| e.to_string())?;
        let state = State {
            shared,
            engine,
            conn,
            events: handle.clone(),
            inbox: inbox.0,
            concurrency,
            in_flight: 0,
            per_worker: HashMap::new(),
            paused: false,
        };
        let thread = std::thread::Builder::new()
            .name("flux-dispatcher".into())
            .spawn(move || state.run())
            .map_err(|e| e.to_string())?;
        Ok(Dispatcher {
            handle,
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> DispatcherHandle {
        self.handle.clone()
    }

    /// Stops claiming; running attempts finish (or are interrupted by the shutdown grace).
    pub fn stop(mut self) {
        let _ = self.handle.events.send(Event::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The receiving end of a [`DispatcherHandle`], until the dispatcher starts.
pub struct DispatcherInbox(Receiver<Event>);

struct State {
    shared: Arc<Shared>,
    engine: Engine,
    conn: Connection,
    events: DispatcherHandle,
    inbox: Receiver<Event>,
    concurrency: usize,
    in_flight: usize,
    per_worker: HashMap<String, usize>,
    paused: bool,
}

/// The longest the dispatcher sleeps without looking at the store: a safety net for a wake-up
/// lost to a bug, not part of the dispatch path.
const IDLE_CHECK: Duration = Duration::from_secs(5);

impl State {
    fn run(mut self) {
        loop {
            let wait = if self.paused { None } else { self.dispatch() };
            let event = match wait {
                Some(wait) => match self.inbox.recv_timeout(wait) {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => Event::Stop,
                },
                None => self.inbox.recv().unwrap_or(Event::Stop),
            };
            if !self.handle(event) {
                break;
            }
            // Take every queued event before claiming again, so claims come in batches.
            while let Ok(event) = self.inbox.try_recv() {
                if !self.handle(event) {
                    self.finish();
                    return;
                }
            }
        }
        self.finish();
    }

    fn finish(self) {
        self.engine.stop();
    }

    /// Returns false on stop.
    fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::Wake => {}
            Event::Finished(name) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if let Some(count) = self.per_worker.get_mut(&name) {
                    *count = count.saturating_sub(1);
                }
            }
            Event::Pause => self.paused = true,
            Event::Resume => self.paused = false,
            Event::Stop => return false,
        }
        true
    }

    /// Claims and starts what it can; returns how long to sleep before something is due
    /// (`None`: until an event).
    fn dispatch(&mut self) -> Option<Duration> {
        let config = self.shared.config();
        loop {
            // Claim ahead of the engines by as many again, so that an engine finishing an
            // attempt finds the next one waiting and claims come in batches.
            let free = (self.concurrency * 2).saturating_sub(self.in_flight);
            if free == 0 {
                return None;
            }
            let full: Vec<String> = self
                .per_worker
                .iter()
                .filter(|(name, running)| {
                    config
                        .worker(name)
                        .concurrency
                        .is_some_and(|max| **running >= max as usize)
                })
                .map(|(name, _)| name.clone())
                .collect();
            let now = now_us();
            let claimed = {
                let _guard = self.shared.store.write_lock().lock();
                claim_due(&self.conn, now, free, &full)
            };
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(e) => {
                    eprintln!("warning: claiming jobs failed ({e}); retrying shortly");
                    return Some(Duration::from_millis(100));
                }
            };
            let claimed = jobs.len();
            let started_before = self.in_flight;
            for job in jobs {
                let limit = config.worker(&job.name).concurrency;
                let running = self.per_worker.entry(job.name.clone()).or_insert(0);
                if limit.is_some_and(|max| *running >= max as usize) {
                    // One claim can take several jobs of a worker past its own limit: put
                    // those back until one of its attempts finishes.
                    let _guard = self.shared.store.write_lock().lock();
                    if let Err(e) = unclaim(&self.conn, &job.id) {
                        eprintln!(
                            "warning: returning job {} to the queue failed: {e}",
                            &job.id[..8]
                        );
                    }
                    continue;
                }
                *running += 1;
                self.in_flight += 1;
                self.start(job);
            }
            if claimed == free && self.in_flight > started_before {
                continue;
            }
            if !full.is_empty() && claimed < free {
                // What is due may belong to full workers: wait for one to finish.
                return match next_due(&self.conn) {
                    Ok(Some(at)) if at > now => {
                        Some(Duration::from_micros((at - now) as u64).min(IDLE_CHECK))
                    }
                    _ => None,
                };
            }
            return match next_due(&self.conn) {
                Ok(Some(at)) => {
                    Some(Duration::from_micros((at - now_us()).max(0) as u64).min(IDLE_CHECK))
                }
                Ok(None) => Some(IDLE_CHECK),
                Err(_) => Some(Duration::from_millis(100)),
            };
        }
    }

    fn start(&self, job: JobRow) {
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
                name: job.name.clone(),
                attempt: job.attempts,
                max_attempts: job.max_attempts,
                backoff: worker.backoff,
            }),
        };
        let events = self.events.events.clone();
        let name = job.name;
        let sent = self.engine.submit(
            request,
            Box::new(move |_outcome| {
                let _ = events.send(Event::Finished(name));
            }),
        );
        if sent.is_err() {
            let _ = self.events.events.send(Event::Stop);
        }
    }
}
