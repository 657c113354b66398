//! The job queue on PostgreSQL, where many processes share one database: each process's
//! dispatcher claims due jobs under a lease ([`claims`]) on a connection of its own, hands
//! them to its [`Runner`], renews its leases while they run and puts back the jobs whose
//! lease ran out (their process died), which every process does safely at once.
//!
//! The rules are the SQLite dispatcher's (`dispatcher.rs`): the same room (`queue.concurrency`
//! plus a lookahead), each worker's own `concurrency`, pause and resume, jobs of a missing
//! worker left waiting, the attempt each claim starts. An attempt's outcome is applied by the
//! store thread's record writer in the commit of its record, fenced by this process's lease
//! ([`QueueHooks`]); that commit frees the attempt's slot here ([`LeasedQueue::finished_feed`]).
//!
//! Wake-ups: a poll every `queue.pollInterval`; a commit of this process that makes a job due
//! ([`QueueHooks::on_due`]); and, unless `queue.notify` is off (PgBouncer in transaction
//! mode), a connection `LISTEN`ing on `flux_jobs`, notified once by each transaction that made
//! a job due in any process. The same connection hears `flux_cancel` (a process asked to
//! cancel an attempt it may not run tells the others, and the one running it stops it) and
//! `flux_pause` (the API's pause and resume, applied to this process's flag).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use postgres::fallible_iterator::FallibleIterator;

use super::dispatcher::{capacity, interrupted_record, start_attempt};
use super::{Attempt, ConfigSource, DispatcherHandle, JobAttempt, Runner};
use crate::clock::now_us;
use crate::project::Config;
use crate::record::{ExecId, ExecutionRecord, Transition};
use crate::store::postgres::claims::{self, Expired};
use crate::store::postgres::prepared::Prepared;
use crate::store::postgres::{PgStore, QueueHooks};
use crate::store::{Control, Inbox, JobRow, OnCommitted, StoreWrite};

/// What reaches the dispatcher's thread besides its handle's wake-ups.
enum Event {
    /// An attempt's code ended: its slot is free (its record is on its way).
    Ended(ExecId),
    /// An attempt's record committed: its slot is free; its job is due again at the time
    /// given (a retry).
    Finished(ExecId, Option<i64>),
    /// A job became due (this process committed it, or another one notified).
    Due,
    /// A process was asked to cancel this attempt: stopped if it runs here.
    Cancel(ExecId),
}

/// Attempts started and not committed yet, by execution: their jobs (put back at a stop
/// when their attempt never started).
type Started = Arc<Mutex<HashMap<ExecId, JobAttempt>>>;

/// The queue of a process on PostgreSQL; built before the store thread (which takes its
/// [`hooks`](LeasedQueue::hooks) and [`finished_feed`](LeasedQueue::finished_feed)), started
/// after it.
pub struct LeasedQueue {
    owner: String,
    store: PgStore,
    events: Sender<Event>,
    inbox: Receiver<Event>,
    started: Started,
    /// What more the dispatcher would start now.
    room: Arc<Mutex<Room>>,
    running: Option<Running>,
    /// The dispatcher, once drained.
    drained: Option<Dispatch>,
}

struct Running {
    halt: Sender<Halt>,
    thread: JoinHandle<Dispatch>,
    listener: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

/// What the dispatcher's thread is told at a stop.
enum Halt {
    /// Claim nothing more; let the attempts running end (up to the given time).
    Drain(Instant),
}

impl LeasedQueue {
    /// A queue for this process's life: its leases name a fresh owner.
    pub fn new(store: PgStore) -> LeasedQueue {
        let (events, inbox) = crossbeam_channel::unbounded();
        LeasedQueue {
            owner: owner_id(),
            store,
            events,
            inbox,
            started: Arc::new(Mutex::new(HashMap::new())),
            room: Arc::new(Mutex::new(Room::default())),
            running: None,
            drained: None,
        }
    }

    /// What the store thread's commits do for this queue: fence outcomes and atomic
    /// attempts' commits by this process's lease, notify (when `notify`), wake this
    /// dispatcher.
    pub fn hooks(&self, notify: bool) -> QueueHooks {
        let events = self.events.clone();
        let room = Arc::clone(&self.room);
        QueueHooks {
            lease_owner: Some(self.owner.clone()),
            notify,
            on_due: Some(Arc::new(move || {
                let _ = events.send(Event::Due);
            })),
            takes: Some(Arc::new(move |names: &[String]| lock(&room).takes(names))),
        }
    }

    /// Frees the slot of each attempt whose record committed.
    pub fn finished_feed(&self) -> OnCommitted {
        let events = self.events.clone();
        Box::new(move |batch: &[StoreWrite], _: &[i64], _: &[Arc<str>]| {
            for write in batch {
                let retry_at = match &write.job {
                    None => continue,
                    Some((_, Transition::Retry { run_at_us, .. })) => Some(*run_at_us),
                    Some(_) => None,
                };
                let _ = events.send(Event::Finished(write.record.id, retry_at));
            }
        })
    }

    /// Starts claiming for `runner`, woken by `handle`'s [`Inbox`] too.
    pub fn start(
        &mut self,
        handle: DispatcherHandle,
        inbox: Inbox,
        config: ConfigSource,
        runner: Box<dyn Runner>,
    ) -> std::io::Result<()> {
        let queue = config().queue.clone();
        let listener = match queue.notify {
            true => {
                let stop = Arc::new(AtomicBool::new(false));
                let thread = std::thread::Builder::new()
                    .name("flux-pg-listen".into())
                    .spawn({
                        let (store, events, stop) =
                            (self.store.clone(), self.events.clone(), Arc::clone(&stop));
                        let handle = handle.clone();
                        move || listen(&store, &events, &handle, &stop)
                    })?;
                Some((stop, thread))
            }
            false => None,
        };
        let (halt, halted) = crossbeam_channel::bounded(1);
        let mut runner = runner;
        let ended = self.events.clone();
        runner.on_ended(Arc::new(move |id| {
            let _ = ended.send(Event::Ended(id));
        }));
        let dispatch = Dispatch {
            owner: self.owner.clone(),
            store: self.store.clone(),
            conn: None,
            handle,
            config,
            runner,
            in_flight: HashMap::new(),
            running: 0,
            per_worker: HashMap::new(),
            missing: Vec::new(),
            among: None,
            started: Arc::clone(&self.started),
            room: Arc::clone(&self.room),
            stopping: false,
            failing: false,
            retry_at: None,
        };
        let (wakes, events) = (inbox.into_wake_ups(), self.inbox.clone());
        let thread = std::thread::Builder::new()
            .name("flux-pg-queue".into())
            .spawn(move || dispatch.run(&wakes, &events, &halted))?;
        self.running = Some(Running {
            halt,
            thread,
            listener,
        });
        Ok(())
    }

    /// Claims nothing more and lets the attempts running end (at most until `until`; their
    /// records commit meanwhile), then stops the runner. The store thread stops next, then
    /// [`LeasedQueue::finish`].
    pub fn drain(&mut self, until: Instant) {
        let Some(running) = self.running.take() else {
            return;
        };
        let _ = running.halt.send(Halt::Drain(until));
        self.drained = running.thread.join().ok();
        if let Some((stop, thread)) = running.listener {
            stop.store(true, Ordering::SeqCst);
            let _ = thread.join();
        }
    }

    /// After the store thread stopped: puts back the jobs claimed whose record never came
    /// (their attempts never started).
    pub fn finish(mut self) {
        if self.running.is_some() {
            self.drain(Instant::now());
        }
        let Some(mut dispatch) = self.drained.take() else {
            return;
        };
        for event in self.inbox.try_iter() {
            if let Event::Finished(id, _) = event {
                dispatch.finished(id);
            }
        }
        dispatch.release_unfinished();
    }
}

/// A name for this process's life, unique across hosts and restarts.
fn owner_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let nonce = ExecId::random().to_string();
    format!("{host}:{}:{}", std::process::id(), &nonce[..12])
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a dispatcher would start now, published for its process's commits.
#[derive(Default)]
struct Room {
    /// Attempts (0 while paused, failing or stopping).
    free: usize,
    /// What is left to the workers with a `concurrency` of their own.
    limited: HashMap<String, usize>,
    /// Workers this process does not have.
    missing: Vec<String>,
    /// The only workers its claims read, sorted, when they name them ([`claims::claim_among`]):
    /// a job of another name is not found there, so the other processes are told of it.
    among: Option<Arc<[String]>>,
}

impl Room {
    /// Whether it would start all these jobs (their workers' names) now.
    fn takes(&self, names: &[String]) -> bool {
        if names.len() > self.free || names.iter().any(|name| self.missing.contains(name)) {
            return false;
        }
        if let Some(among) = &self.among {
            if names.iter().any(|name| among.binary_search(name).is_err()) {
                return false;
            }
        }
        self.limited
            .iter()
            .all(|(worker, left)| names.iter().filter(|name| *name == worker).count() <= *left)
    }
}

/// An attempt handed to the runner, until its record commits.
struct InFlight {
    worker: String,
    /// Its code ended (its slot is free); its record has not committed yet.
    ended: bool,
}

/// Attempts ended whose records wait for their commit, at most: past this many, nothing more
/// is claimed until the store catches up.
const UNCOMMITTED_MAX: usize = 1_000;

/// The dispatcher's connection and the claims' statements prepared on it.
struct ClaimConn {
    client: postgres::Client,
    statements: Prepared,
}

/// The dispatcher's state, on its own thread.
struct Dispatch {
    owner: String,
    store: PgStore,
    /// Its connection for claims and leases (opened again after a failure).
    conn: Option<ClaimConn>,
    handle: DispatcherHandle,
    config: ConfigSource,
    runner: Box<dyn Runner>,
    /// Attempts handed to the runner whose record has not committed.
    in_flight: HashMap<ExecId, InFlight>,
    /// Those of them whose code has not ended: the slots taken.
    running: usize,
    /// The slots taken, by worker.
    per_worker: HashMap<String, usize>,
    /// Workers that jobs wait for and that do not exist (see [`Runner::has_worker`]).
    missing: Vec<String>,
    /// The workers the last claim read, when it named them (see [`Room::among`]).
    among: Option<Arc<[String]>>,
    started: Started,
    /// Published for the commits of this process ([`LeasedQueue::hooks`]).
    room: Arc<Mutex<Room>>,
    /// Draining at a stop: claims nothing more.
    stopping: bool,
    /// The database failed the last time: said once until it works again.
    failing: bool,
    /// The earliest retry of an attempt of this process's, when sooner than the next poll.
    retry_at: Option<Instant>,
}

impl Dispatch {
    fn run(
        mut self,
        wakes: &Receiver<Control>,
        events: &Receiver<Event>,
        halt: &Receiver<Halt>,
    ) -> Dispatch {
        let mut next_poll = Instant::now();
        let mut next_upkeep = Instant::now();
        loop {
            let queue = (self.config)().queue.clone();
            let now = Instant::now();
            if now >= next_upkeep {
                let all_renewed = self.upkeep(queue.lease, queue.notify);
                next_upkeep = now + next_renewal(queue.lease, all_renewed);
            }
            if now >= next_poll || self.retry_at.is_some_and(|at| now >= at) {
                self.retry_at = None;
                self.claim();
                next_poll = now + queue.poll_interval;
            }
            // Once per round, after what changed it: the commits read it.
            self.publish_room();
            let wait = next_poll
                .min(next_upkeep)
                .min(self.retry_at.unwrap_or(next_poll));
            let mut claim = false;
            select! {
                recv(wakes) -> wake => match wake {
                    Ok(Control::Wake) => claim = true,
                    // The waker's thread is not this one: its stop means nothing here.
                    Ok(Control::Stop) | Err(_) => {}
                },
                recv(events) -> event => match event {
                    Ok(Event::Ended(id)) => claim = self.ended(id),
                    Ok(Event::Finished(id, retry_at)) => {
                        self.retry_later(retry_at);
                        claim = self.finished(id);
                    }
                    Ok(Event::Due) => claim = true,
                    Ok(Event::Cancel(id)) => self.cancel(id),
                    Err(_) => {}
                },
                recv(halt) -> halted => {
                    let until = match halted {
                        Ok(Halt::Drain(until)) => until,
                        Err(_) => Instant::now(),
                    };
                    self.drain(events, until);
                    return self;
                },
                default(wait.saturating_duration_since(Instant::now())) => {}
            }
            if claim {
                // Coalesced: what else arrived meanwhile is answered by this one claim.
                for event in events.try_iter() {
                    match event {
                        Event::Ended(id) => {
                            self.ended(id);
                        }
                        Event::Finished(id, retry_at) => {
                            self.retry_later(retry_at);
                            self.finished(id);
                        }
                        Event::Cancel(id) => self.cancel(id),
                        Event::Due => {}
                    }
                }
                while wakes.try_recv().is_ok() {}
                self.claim();
                next_poll = Instant::now() + queue.poll_interval;
            }
        }
    }

    /// Waits for the attempts running to commit their records (until `until`), renewing
    /// their leases meanwhile, then stops the runner.
    fn drain(&mut self, events: &Receiver<Event>, until: Instant) {
        // Claims nothing more: the jobs made due meanwhile are the other processes'.
        self.stopping = true;
        self.publish_room();
        let lease = (self.config)().queue.lease;
        let mut next_renew = Instant::now() + lease / 3;
        while !self.in_flight.is_empty() {
            let wake = next_renew.min(until);
            match events.recv_deadline(wake) {
                Ok(Event::Ended(id)) => {
                    self.ended(id);
                }
                Ok(Event::Finished(id, _)) => {
                    self.finished(id);
                }
                Ok(Event::Cancel(id)) => self.cancel(id),
                Ok(Event::Due) => {}
                Err(_) if Instant::now() >= until => break,
                Err(_) => {
                    let all_renewed = self.renew(lease);
                    next_renew = Instant::now() + next_renewal(lease, all_renewed);
                }
            }
        }
        self.runner.stop();
    }

    /// Stops attempt `id` if it runs here (else another process runs it, or none).
    fn cancel(&mut self, id: ExecId) {
        if self.in_flight.contains_key(&id) {
            self.runner.cancel(id);
        }
    }

    /// Looks again when a retry of this process's attempt is due (sooner than a poll would).
    fn retry_later(&mut self, at_us: Option<i64>) {
        let Some(at_us) = at_us else {
            return;
        };
        let wait = Duration::from_micros(u64::try_from(at_us - now_us()).unwrap_or(0));
        let at = Instant::now() + wait;
        self.retry_at = Some(self.retry_at.map_or(at, |earlier| earlier.min(at)));
    }

    /// An attempt's code ended; returns whether that freed a slot.
    fn ended(&mut self, id: ExecId) -> bool {
        let Some(attempt) = self.in_flight.get_mut(&id) else {
            return false;
        };
        if attempt.ended {
            return false;
        }
        attempt.ended = true;
        self.running = self.running.saturating_sub(1);
        if let Some(count) = self.per_worker.get_mut(&attempt.worker) {
            *count = count.saturating_sub(1);
        }
        true
    }

    /// Attempts that may start now: slots are taken by attempts running; ended ones whose
    /// records wait for the store take none, up to a bound.
    fn free_slots(&self, config: &Config) -> usize {
        let slots = capacity(config.queue.concurrency, config.queue.engines);
        slots
            .saturating_sub(self.running)
            .min((slots + UNCOMMITTED_MAX).saturating_sub(self.in_flight.len()))
    }

    /// What is left to each worker with a `concurrency` of its own.
    fn workers_room(&self, config: &Config) -> Vec<(String, usize)> {
        config
            .workers
            .iter()
            .filter_map(|(name, worker)| {
                let max = worker.concurrency? as usize;
                let running = self.per_worker.get(name).copied().unwrap_or(0);
                Some((name.clone(), max.saturating_sub(running)))
            })
            .collect()
    }

    /// Tells this process's commits what it would start now: the jobs they make due that it
    /// takes need not wake the other processes. Published once per round of the dispatcher's
    /// loop (and at a stop), not at each event.
    fn publish_room(&self) {
        let mut room = Room::default();
        if !(self.stopping || self.handle.is_paused() || self.failing) {
            let config = (self.config)();
            room.free = self.free_slots(&config);
            room.limited = self.workers_room(&config).into_iter().collect();
            room.missing.clone_from(&self.missing);
            room.among.clone_from(&self.among);
        }
        *lock(&self.room) = room;
    }

    /// An attempt's record committed; returns whether that freed a slot (or room for more
    /// records waiting).
    fn finished(&mut self, id: ExecId) -> bool {
        lock(&self.started).remove(&id);
        self.ended(id);
        self.in_flight.remove(&id).is_some()
    }

    /// The connection for claims with its prepared statements, opened when needed.
    fn conn(&mut self) -> Option<&mut ClaimConn> {
        if self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            match self.store.connect_for_claims() {
                Ok(client) => {
                    self.conn = Some(ClaimConn {
                        client,
                        statements: Prepared::default(),
                    })
                }
                Err(e) => {
                    self.failed(&e);
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }

    /// That connection's client, for leases and releases.
    fn client(&mut self) -> Option<&mut postgres::Client> {
        self.conn().map(|conn| &mut conn.client)
    }

    fn failed(&mut self, error: &dyn std::fmt::Display) {
        // A statement refused after a schema change is prepared again.
        if let Some(conn) = &mut self.conn {
            conn.statements.clear();
        }
        if !self.failing {
            eprintln!("warning: the queue cannot reach the database ({error}); trying again");
        }
        self.failing = true;
    }

    /// Claims what is due, as much as there is room for, and starts it.
    fn claim(&mut self) {
        if self.handle.is_paused() {
            return;
        }
        let config = (self.config)();
        let free = self.free_slots(&config);
        if free == 0 {
            return;
        }
        let runner = &self.runner;
        self.missing.retain(|name| !runner.has_worker(name));
        let lease = config.queue.lease;
        // Workers with a `concurrency` of their own take their turn in `run_at` order with the
        // others, each up to its room; full ones and missing ones are looked past.
        let limited = self.workers_room(&config);
        let mut skip: Vec<String> = limited
            .iter()
            .filter(|(_, room)| *room == 0)
            .map(|(name, _)| name.clone())
            .chain(self.missing.iter().cloned())
            .collect();
        skip.sort_unstable();
        skip.dedup();
        let any_worker = limited.is_empty() && skip.is_empty();
        let among: Vec<(String, usize)> = match any_worker {
            true => Vec::new(),
            false => self
                .runner
                .workers()
                .into_iter()
                .filter(|name| skip.binary_search(name).is_err())
                .map(|name| {
                    let room = limited.iter().find(|(worker, _)| *worker == name);
                    let cap = room.map_or(free, |(_, room)| (*room).min(free));
                    (name, cap)
                })
                .collect(),
        };
        // Sorted, as the workers are.
        self.among = (!any_worker).then(|| among.iter().map(|(name, _)| name.clone()).collect());
        let owner = self.owner.clone();
        let Some(ClaimConn { client, statements }) = self.conn() else {
            return;
        };
        let now = now_us();
        let mut failure = None;
        let claimed = match any_worker {
            true => claims::claim(client, statements, &owner, lease, now, free),
            false => claims::claim_among(client, statements, &owner, lease, now, free, &among),
        }
        .unwrap_or_else(|e| {
            failure = Some(e);
            Vec::new()
        });
        // Jobs of a worker that is gone now: put back unstarted, and looked past from now on.
        let (runnable, absent): (Vec<JobRow>, Vec<JobRow>) = claimed
            .into_iter()
            .partition(|job| self.runner.has_worker(&job.name));
        if !absent.is_empty() {
            let ids: Vec<String> = absent.iter().map(|job| job.id.to_string()).collect();
            let notify = config.queue.notify;
            if let Some(client) = self.client() {
                // Their commit may have woken only this process: the others are told now.
                let released = claims::release(client, &owner, &ids).and_then(|_| {
                    if notify {
                        claims::notify(client)
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = released {
                    eprintln!("warning: putting back jobs of a missing worker failed: {e}");
                }
            }
            self.missing.extend(absent.into_iter().map(|job| job.name));
            self.missing.sort_unstable();
            self.missing.dedup();
        }
        match failure {
            Some(e) => self.failed(&e),
            None => self.failing = false,
        }
        if runnable.is_empty() {
            return;
        }
        let attempts: Vec<Attempt> = runnable
            .iter()
            .map(|job| start_attempt(job, &config))
            .collect();
        let mut started = lock(&self.started);
        for attempt in &attempts {
            started.insert(attempt.id, attempt.job.clone());
            self.in_flight.insert(
                attempt.id,
                InFlight {
                    worker: attempt.job.name.clone(),
                    ended: false,
                },
            );
            self.running += 1;
            *self.per_worker.entry(attempt.job.name.clone()).or_insert(0) += 1;
        }
        drop(started);
        // Each attempt's record, once committed, frees its slot (`finished_feed`).
        self.runner.run(attempts);
    }

    /// Renews this process's leases and puts back the jobs whose lease expired (any
    /// process's, this one's after a stall included), each with its lost attempt's record.
    /// Returns whether every lease held was renewed (see [`Dispatch::renew`]).
    fn upkeep(&mut self, lease: Duration, notify: bool) -> bool {
        let all_renewed = self.renew(lease);
        let Some(client) = self.client() else {
            return all_renewed;
        };
        let now = now_us();
        match claims::requeue_expired(client, now, &|lost| lost_attempt(lost, now), notify) {
            Ok(expired) if !expired.is_empty() => {
                // Its own, after a stall: those slots are free (the attempts' records will
                // not move their jobs).
                let mine: Vec<ExecId> = expired
                    .iter()
                    .filter(|lost| lost.owner.as_deref() == Some(self.owner.as_str()))
                    .filter_map(|lost| lost.exec_id.parse().ok())
                    .collect();
                for id in mine {
                    self.finished(id);
                }
                self.claim();
            }
            Ok(_) => {}
            Err(e) => self.failed(&e),
        }
        all_renewed
    }

    /// Renews the leases of the attempts in flight; false when some were not (a row another
    /// transaction held is skipped, `claims::renew`, or the database could not be reached).
    fn renew(&mut self, lease: Duration) -> bool {
        if self.in_flight.is_empty() {
            return true;
        }
        let (owner, held) = (self.owner.clone(), self.in_flight.len());
        let Some(client) = self.client() else {
            return false;
        };
        match claims::renew(client, &owner, lease) {
            Ok(renewed) => renewed >= held as u64,
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    /// Jobs claimed whose record never came (their attempt never started): waiting again.
    fn release_unfinished(&mut self) {
        if self.in_flight.is_empty() {
            return;
        }
        let started = lock(&self.started);
        let ids: Vec<String> = self
            .in_flight
            .keys()
            .filter_map(|id| started.get(id))
            .map(|attempt| attempt.job_id.to_string())
            .collect();
        drop(started);
        let owner = self.owner.clone();
        if let Some(client) = self.client() {
            if let Err(e) = claims::release(client, &owner, &ids) {
                eprintln!("warning: putting back unstarted jobs failed: {e}");
            }
        }
    }
}

/// The record of an attempt whose lease ran out: its process died or stalled (after its
/// writes committed, when `lost.committed`).
fn lost_attempt(lost: &Expired, now_us: i64) -> ExecutionRecord {
    let id = lost.exec_id.parse().unwrap_or_else(|_| ExecId::random());
    let job = JobRow {
        attempts: lost.attempt,
        next_exec_id: lost.exec_id.clone(),
        last_record: None,
        ..lost.job.clone()
    };
    let owner = lost.owner.as_deref().unwrap_or("a process");
    let why = if lost.committed {
        format!(
            "the process running this attempt ({owner}) stopped renewing its lease after the \
             attempt's writes committed and before its record was stored: its writes stand, \
             the job is done, and what it logged and changed went with the process"
        )
    } else {
        format!(
            "the process running this attempt ({owner}) stopped renewing its lease: it was \
             killed or stalled; what the attempt did is unknown, and the job runs again"
        )
    };
    interrupted_record(id, Some(&job), now_us, &why)
}

/// Wakes the dispatcher at each notification on [`claims::CHANNEL`], on a connection of its
/// own (opened again after a failure) until `stop`.
fn listen(store: &PgStore, events: &Sender<Event>, handle: &DispatcherHandle, stop: &AtomicBool) {
    const CHECK_STOP: Duration = Duration::from_millis(250);
    while !stop.load(Ordering::SeqCst) {
        let mut client = match store.connect() {
            Ok(client) => client,
            Err(_) => {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let listen = format!(
            "LISTEN {}; LISTEN {}; LISTEN {}",
            claims::CHANNEL,
            claims::CANCEL_CHANNEL,
            claims::PAUSE_CHANNEL
        );
        if client.batch_execute(&listen).is_err() {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        // Missed while not listening: look once.
        let _ = events.send(Event::Due);
        while !stop.load(Ordering::SeqCst) {
            let first = match client.notifications().timeout_iter(CHECK_STOP).next() {
                Ok(Some(first)) => first,
                Ok(None) => continue,
                Err(_) => break,
            };
            // Several due at once wake it once.
            let mut due = false;
            let mut next = Some(first);
            while let Some(notification) = next {
                match notification.channel() {
                    claims::CANCEL_CHANNEL => {
                        if let Ok(id) = notification.payload().parse() {
                            let _ = events.send(Event::Cancel(id));
                        }
                    }
                    claims::PAUSE_CHANNEL => match notification.payload() {
                        "on" => handle.pause(),
                        _ => handle.resume(),
                    },
                    _ => due = true,
                }
                next = client.notifications().iter().next().ok().flatten();
            }
            if due {
                let _ = events.send(Event::Due);
            }
        }
    }
}

/// When to renew again: a third of a lease from now, or within a second when some lease was
/// not renewed this time (its row was held), so that it does not run out meanwhile.
fn next_renewal(lease: Duration, all_renewed: bool) -> Duration {
    match all_renewed {
        true => lease / 3,
        false => (lease / 3).min(RENEW_AGAIN),
    }
}

/// See [`next_renewal`].
const RENEW_AGAIN: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_claiming_among_named_workers_does_not_take_jobs_of_other_names() {
        let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let among = Room {
            free: 5,
            among: Some(names(&["a", "b"]).into()),
            ..Room::default()
        };
        assert!(among.takes(&names(&["a", "b"])));
        // Its claims never read a job named `c`: another process must be told of it.
        assert!(!among.takes(&names(&["a", "c"])));
        let any = Room {
            free: 5,
            ..Room::default()
        };
        assert!(
            any.takes(&names(&["c"])),
            "a claim of any worker's reads it"
        );
    }
}
