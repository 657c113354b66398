//! The store thread: the one writer of the store. It serves the executions' calls on the
//! writing connection ([`Batch`]), commits their writes in one transaction with the records of
//! the executions that finished meanwhile (group commit), tries a failed commit again without
//! dropping a record, and hands what committed to whoever listens. Between commits, a
//! [`Scheduler`] (the job queue's dispatcher) claims work with the same connection and adds its
//! own writes to the commits.
//!
//! It wakes on a call (a write of an execution or of the API, enqueues included), a finished
//! execution and a [`Waker`]; otherwise it sleeps until the scheduler's next wake time. There is
//! no polling interval: every commit is followed by a look at due work.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use super::{
    insert_writes, prepare_writes, search, Batch, JobClaims, Result, Served, SqlCall, StoreWrite,
    WriteTx,
};
use crate::clock::now_us;
use crate::record::ExecId;

/// What runs on the store thread besides the executions' calls: it claims work with the
/// writing connection, and adds its own writes to the commits. Every method runs on the store
/// thread, between calls.
pub trait Scheduler: Send {
    /// Claims what is due and starts it, writing in the open transaction; never called inside
    /// an execution's transaction, nor once the thread is stopping. Returns how long until it
    /// looks again (`None`: when something happens).
    fn claim(&mut self, tx: &mut WriteTx<'_>) -> Option<Duration>;

    /// It has writes waiting for a commit (in the open transaction, or taken by a failed one).
    fn unsaved(&self) -> bool;

    /// Its writes should commit now, without waiting for more to share the commit.
    fn commit_now(&self) -> bool;

    /// Work it started has not come back yet (as a record): a stop waits for it.
    fn busy(&self) -> bool;

    /// A finished execution reached the store thread. Returns whether that frees room to
    /// claim more.
    fn arrived(&mut self, write: &StoreWrite) -> bool;

    /// `write` waits for a commit, and its execution's writes were undone (`reason`): its
    /// record may have to say so.
    fn writes_lost(&mut self, write: &mut StoreWrite, reason: &str);

    /// Adds its writes to the transaction committing `records`; `writers` are the executions
    /// whose writes are in it.
    fn before_commit(
        &mut self,
        tx: &dyn JobClaims,
        records: &[StoreWrite],
        writers: &HashSet<ExecId>,
    ) -> Result<()>;

    /// The commit that stored `records` and its own writes succeeded.
    fn committed(&mut self, records: &[StoreWrite]);

    /// The open transaction was undone (a failed commit, or a statement that rolled it back)
    /// with its writes in it: it makes them again in `tx` now if it can, else with the next
    /// commit.
    fn undone(&mut self, tx: &mut WriteTx<'_>);

    /// The thread stops, nothing is busy: stop what runs the work.
    fn stop(&mut self);
}

/// Called on the store thread with each batch of records once it is committed, their
/// sequence numbers (their commit order) and their search texts ([`search::text`], made once
/// per record for the index and every subscriber).
pub type OnCommitted = Box<dyn Fn(&[StoreWrite], &[i64], &[Arc<str>]) + Send>;

/// What a [`Waker`] sends.
pub enum Control {
    /// Look at due work now (the queue was resumed, or paused).
    Wake,
    Stop,
}

/// Wakes the store thread to look at due work; cheap to clone.
#[derive(Clone)]
pub struct Waker(Sender<Control>);

impl Waker {
    pub fn wake(&self) {
        let _ = self.0.send(Control::Wake);
    }
}

/// The receiving end of a [`Waker`], until the thread starts.
pub struct Inbox {
    events: Receiver<Control>,
    stop: Sender<Control>,
}

impl Inbox {
    /// The wake-ups, for a scheduler that runs on a thread of its own (PostgreSQL's queue).
    pub fn into_wake_ups(self) -> Receiver<Control> {
        self.events
    }
}

pub struct StoreThread {
    stop: Sender<Control>,
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

impl StoreThread {
    /// A waker whose events wait until [`StoreThread::start`] runs, so that what wakes the
    /// thread can be built before the thread exists.
    pub fn channel() -> (Waker, Inbox) {
        let (events, inbox) = crossbeam_channel::unbounded();
        let waker = Waker(events.clone());
        (
            waker,
            Inbox {
                events: inbox,
                stop: events,
            },
        )
    }

    /// Starts the thread: it serves `calls`, commits `records` and runs `scheduler`, and gives
    /// each committed batch to every one of `subscribers`.
    pub fn start(
        batch: Batch,
        inbox: Inbox,
        records: Receiver<StoreWrite>,
        calls: Receiver<SqlCall>,
        scheduler: Box<dyn Scheduler>,
        subscribers: Vec<OnCommitted>,
    ) -> std::io::Result<StoreThread> {
        let Inbox { events, stop } = inbox;
        let state = State {
            batch,
            inbox: events,
            records,
            calls,
            scheduler,
            subscribers,
            stopping: false,
            pending: Vec::new(),
            pending_since: None,
            retry: None,
            unindexed: Vec::new(),
            unindexed_since: None,
        };
        let thread = std::thread::Builder::new()
            .name("flux-store".into())
            .spawn(move || state.run())?;
        Ok(StoreThread {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops claiming, lets running work end (the shutdown grace interrupts it), stores every
    /// record still on its way, then returns.
    pub fn stop(mut self) {
        let _ = self.stop.send(Control::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct State {
    batch: Batch,
    inbox: Receiver<Control>,
    records: Receiver<StoreWrite>,
    calls: Receiver<SqlCall>,
    scheduler: Box<dyn Scheduler>,
    subscribers: Vec<OnCommitted>,
    stopping: bool,
    /// Finished executions waiting for the next commit.
    pending: Vec<StoreWrite>,
    /// When the oldest of those (or of the scheduler's writes) started waiting.
    pending_since: Option<Instant>,
    /// After a failed commit: when to try again, and the wait after that.
    retry: Option<(Instant, Duration)>,
    /// Committed records' search texts, `(seq, text)`, indexed with a later commit (see
    /// [`search`]), and since when the oldest has waited.
    unindexed: Vec<(i64, Arc<str>)>,
    unindexed_since: Option<Instant>,
}

impl State {
    fn run(mut self) {
        // When to look for due work next (`None`: when something happens).
        let mut claim_at = Some(Instant::now());
        loop {
            // Sleep until something happens, work is due, the open transaction is old enough
            // to commit, or a held call gives up.
            // An open user transaction defers both: its end arrives as a call.
            let (claim_wake, flush_at) = if self.batch.in_user_transaction() {
                (None, None)
            } else {
                (claim_at.filter(|_| self.may_claim()), self.flush_due_at())
            };
            let wake_at = [claim_wake, flush_at, self.batch.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            let timeout = wake_at.map(|at| at.saturating_duration_since(Instant::now()));
            let mut received = None;
            let mut call = None;
            match timeout {
                Some(timeout) => select! {
                    recv(self.calls) -> c => call = c.ok(),
                    recv(self.inbox) -> event => claim_at = self.handle(event.unwrap_or(Control::Stop)).or(claim_at),
                    recv(self.records) -> write => received = write.ok(),
                    default(timeout) => {}
                },
                None => select! {
                    recv(self.calls) -> c => call = c.ok(),
                    recv(self.inbox) -> event => claim_at = self.handle(event.unwrap_or(Control::Stop)).or(claim_at),
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
                claim_at = self.handle(event).or(claim_at);
            }
            while self.pending.len() < MAX_BATCH {
                match self.records.try_recv() {
                    Ok(write) => freed |= self.take(write),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if freed {
                claim_at = Some(now);
            }
            self.batch.expire_held(now);
            if claim_at.is_some_and(|at| at <= now) && self.may_claim() {
                claim_at = self.claim().map(|wait| now + wait);
            }
            if self.should_flush() {
                self.flush();
                // Slots freed, a retry rescheduled, or a commit carried new work: plan again,
                // now, before new writes join the next transaction (and defer claims again).
                if self.may_claim() {
                    let now = Instant::now();
                    claim_at = self.claim().map(|wait| now + wait);
                }
                self.release_held();
            }
            if self.stopping
                && !self.scheduler.busy()
                && self.pending.is_empty()
                && self.batch.opened_at().is_none()
            {
                break;
            }
        }
        self.finish();
    }

    /// After a stop: the scheduler's work has ended; store what is still coming (HTTP records).
    fn finish(mut self) {
        self.scheduler.stop();
        let mut failed_commits = 0;
        loop {
            let calls: Vec<SqlCall> = self.calls.try_iter().collect();
            let more: Vec<StoreWrite> = self.records.try_iter().take(MAX_BATCH).collect();
            if calls.is_empty()
                && more.is_empty()
                && self.pending.is_empty()
                && self.unindexed.is_empty()
            {
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
                let served = self.batch.end_orphaned_transaction();
                self.settle(served);
            }
            if !self.batch.in_user_transaction() {
                if let Some((at, _)) = self.retry {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                }
                self.flush();
                self.release_held();
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

    /// Runs an engine's call in the open transaction.
    fn serve(&mut self, call: SqlCall) {
        let served = self.batch.serve(call);
        self.settle(served);
    }

    /// Serves the calls held for a transaction that has ended.
    fn release_held(&mut self) {
        let served = self.batch.release_held();
        self.settle(served);
    }

    /// After calls undid the open transaction: the scheduler makes its writes again, the
    /// records waiting for a commit learn their executions' writes are gone, then the held
    /// calls run (which may undo it again).
    fn settle(&mut self, mut served: Served) {
        while served == Served::Undone {
            self.scheduler.undone(&mut self.batch.write_tx());
            self.fail_lost();
            served = self.batch.release_held();
        }
    }

    /// Tells the scheduler about each waiting record whose execution's writes were undone.
    fn fail_lost(&mut self) {
        for write in &mut self.pending {
            if let Some(reason) = self.batch.lost(write.record.id) {
                self.scheduler.writes_lost(write, reason);
            }
        }
    }

    /// Queues a finished execution for the next commit; returns whether it freed room for
    /// more work.
    fn take(&mut self, mut write: StoreWrite) -> bool {
        self.batch.record_arrived(write.record.id);
        self.pending_since.get_or_insert_with(Instant::now);
        let freed = self.scheduler.arrived(&write);
        if let Some(reason) = self.batch.lost(write.record.id) {
            self.scheduler.writes_lost(&mut write, reason);
        }
        self.pending.push(write);
        freed
    }

    /// Whether due work may be claimed now: never a job whose enqueue or replay is not
    /// committed. The claim reads through the open transaction, so a job enqueued in it would
    /// start before its enqueue committed, and run though that commit then failed (a full
    /// disk, an I/O error): after an enqueue or a replay, claims wait for the commit.
    fn may_claim(&self) -> bool {
        !self.batch.in_user_transaction() && !self.batch.holds_due_writes()
    }

    /// Lets the scheduler claim due work; its writes then wait for a commit like records.
    fn claim(&mut self) -> Option<Duration> {
        if self.stopping {
            return None;
        }
        let next = self.scheduler.claim(&mut self.batch.write_tx());
        if self.scheduler.unsaved() {
            self.pending_since.get_or_insert_with(Instant::now);
        }
        next
    }

    /// When what waits to be committed has waited long enough.
    fn flush_due_at(&self) -> Option<Instant> {
        let due = [self.pending_since, self.batch.opened_at()]
            .into_iter()
            .flatten()
            .min()
            .map(|since| since + FLUSH_AFTER);
        let index_due = self
            .unindexed_since
            .map(|since| since + search::INDEX_AFTER);
        let due = [due, index_due].into_iter().flatten().min();
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

    /// Commit now when a caller waits for it, when enough waits, when it has waited long
    /// enough, when the scheduler asks, or when stopping; never inside an execution's open
    /// transaction.
    fn should_flush(&self) -> bool {
        if self.batch.in_user_transaction() {
            return false;
        }
        if self.pending.is_empty()
            && !self.scheduler.unsaved()
            && self.batch.opened_at().is_none()
            && self.unindexed.is_empty()
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
            || self.pending.is_empty() && self.scheduler.commit_now()
    }

    /// Returns when to look for due work because of it.
    fn handle(&mut self, event: Control) -> Option<Instant> {
        if let Control::Stop = event {
            self.stopping = true;
        }
        Some(Instant::now())
    }

    /// Commits the executions' writes, the waiting records and the scheduler's writes in one
    /// transaction. Should that fail, the executions that wrote in it are told, and the
    /// records wait for the next try: a record is never dropped.
    fn flush(&mut self) {
        if self.pending.is_empty() && !self.scheduler.unsaved() && self.batch.opened_at().is_none()
        {
            return self.index_texts();
        }
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
        let writers: HashSet<ExecId> = self.batch.writers().collect();
        let scheduler = &mut self.scheduler;
        let records = &self.pending[..take];
        // Earlier records' search texts go with this commit once they have waited long
        // enough or are many (one segment of the index for all of them), or at a stop.
        let index_now = self.stopping
            || self.unindexed.len() >= search::INDEX_AT
            || self
                .unindexed_since
                .is_some_and(|since| since.elapsed() >= search::INDEX_AFTER);
        let unindexed = if index_now {
            std::mem::take(&mut self.unindexed)
        } else {
            Vec::new()
        };
        let result = self.batch.commit_with(|tx| {
            scheduler.before_commit(tx, records, &writers)?;
            let seqs = insert_writes(tx, &prepared, now)?;
            search::index_later(tx, &unindexed)?;
            Ok(seqs)
        });
        drop(prepared);
        if index_now {
            match &result {
                Ok(_) => self.unindexed_since = None,
                // Tried again with the next commit, before the texts that come after.
                Err(_) => {
                    let later = std::mem::replace(&mut self.unindexed, unindexed);
                    self.unindexed.extend(later);
                }
            }
        }
        match result {
            Ok(seqs) => {
                self.retry = None;
                let batch: Vec<StoreWrite> = self.pending.drain(..take).collect();
                let texts: Vec<Arc<str>> = batch
                    .iter()
                    .map(|w| search::text(&w.record).into())
                    .collect();
                // Texts with nothing to index too: they move the progress note on, so that
                // a restart does not read their records again.
                for (seq, text) in seqs.iter().zip(&texts) {
                    self.unindexed.push((*seq, Arc::clone(text)));
                }
                if !self.unindexed.is_empty() {
                    self.unindexed_since.get_or_insert_with(Instant::now);
                }
                self.pending_since = (!self.pending.is_empty()).then(Instant::now);
                for write in &batch {
                    self.batch.forget(write.record.id);
                }
                self.scheduler.committed(&batch);
                if !batch.is_empty() {
                    for subscriber in &self.subscribers {
                        subscriber(&batch, &seqs, &texts);
                    }
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
                self.scheduler.undone(&mut self.batch.write_tx());
                self.fail_lost();
            }
        }
    }
}

impl State {
    /// Commits only the search texts of records committed earlier (nothing else waits).
    fn index_texts(&mut self) {
        if self.unindexed.is_empty() {
            return;
        }
        let unindexed = std::mem::take(&mut self.unindexed);
        match self
            .batch
            .commit_with(|tx| search::index_later(tx, &unindexed))
        {
            Ok(()) => {
                self.retry = None;
                self.unindexed_since = None;
            }
            Err(e) => {
                let wait = self
                    .retry
                    .map_or(RETRY_FIRST, |(_, wait)| (wait * 2).min(RETRY_MAX));
                if wait < RETRY_MAX {
                    eprintln!("warning: the store could not index records for search ({e})");
                }
                self.retry = Some((Instant::now() + wait, wait));
                self.unindexed = unindexed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crossbeam_channel::RecvTimeoutError;

    use super::*;
    use crate::record::{ExecutionRecord, Kind, Status};
    use crate::store::records::find_record;
    use crate::store::{writer_channel, RecordLookup, Store};

    /// Bounds a wait for the store thread, so that a broken thread fails the test instead of
    /// hanging it; the events themselves come much sooner.
    const PATIENCE: Duration = Duration::from_secs(30);

    /// What the thread did to the scheduler, in order.
    #[derive(Debug, Clone, PartialEq)]
    enum Seen {
        Arrived(ExecId),
        Claimed,
        /// A caller's enqueue ran in the open transaction.
        Enqueued,
        CommitTried,
        Committed(Vec<ExecId>),
        Undone,
        Stopped,
    }

    struct Fake {
        seen: Arc<Mutex<Vec<Seen>>>,
        /// Commits to fail, by failing its own write in them.
        failing_commits: usize,
        /// Busy until this execution's record arrives.
        busy_until: Option<ExecId>,
        /// Told the first time a stopping thread asks whether it is busy.
        asked_busy: Option<Sender<()>>,
        /// Claims are noted among what it saw.
        claims_seen: bool,
    }

    impl Fake {
        fn saw(&self, seen: Seen) {
            self.seen.lock().expect("seen").push(seen);
        }
    }

    impl Scheduler for Fake {
        fn claim(&mut self, _: &mut WriteTx<'_>) -> Option<Duration> {
            if self.claims_seen {
                self.saw(Seen::Claimed);
            }
            None
        }
        fn unsaved(&self) -> bool {
            false
        }
        fn commit_now(&self) -> bool {
            false
        }
        fn busy(&self) -> bool {
            // Asked only once the thread is stopping.
            if let Some(asked) = &self.asked_busy {
                let _ = asked.try_send(());
            }
            self.busy_until.is_some()
        }
        fn arrived(&mut self, write: &StoreWrite) -> bool {
            self.saw(Seen::Arrived(write.record.id));
            if self.busy_until == Some(write.record.id) {
                self.busy_until = None;
            }
            false
        }
        fn writes_lost(&mut self, _: &mut StoreWrite, _: &str) {}
        fn before_commit(
            &mut self,
            _: &dyn JobClaims,
            _: &[StoreWrite],
            _: &HashSet<ExecId>,
        ) -> Result<()> {
            self.saw(Seen::CommitTried);
            if self.failing_commits > 0 {
                self.failing_commits -= 1;
                // As a full disk fails a commit.
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                    Some("database or disk is full".into()),
                )
                .into());
            }
            Ok(())
        }
        fn committed(&mut self, records: &[StoreWrite]) {
            self.saw(Seen::Committed(
                records.iter().map(|w| w.record.id).collect(),
            ));
        }
        fn undone(&mut self, _: &mut WriteTx<'_>) {
            self.saw(Seen::Undone);
        }
        fn stop(&mut self) {
            self.saw(Seen::Stopped);
        }
    }

    fn record() -> StoreWrite {
        StoreWrite {
            record: ExecutionRecord {
                method: Some("GET".into()),
                path: Some("/hello".into()),
                http_status: Some(200),
                ..crate::record::sample(Kind::Http, "hello", Status::Ok)
            },
            job: None,
        }
    }

    struct Running {
        _dir: tempfile::TempDir,
        store: Store,
        thread: StoreThread,
        records: Sender<StoreWrite>,
        written: Receiver<Vec<ExecId>>,
        seen: Arc<Mutex<Vec<Seen>>>,
        writer: crate::store::Writer,
        waker: Waker,
    }

    fn start(fake: impl FnOnce(Arc<Mutex<Vec<Seen>>>) -> Fake) -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("flux.db")).expect("store");
        let batch = Batch::new(&store).expect("batch");
        let (waker, inbox) = StoreThread::channel();
        let (records, records_rx) = crossbeam_channel::unbounded();
        let (writer, calls) = writer_channel();
        let calls = calls.routed;
        let (written_tx, written) = crossbeam_channel::unbounded();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let on_written: OnCommitted = Box::new(
            move |writes: &[StoreWrite], seqs: &[i64], texts: &[Arc<str>]| {
                assert_eq!(writes.len(), seqs.len());
                assert_eq!(writes.len(), texts.len());
                let _ = written_tx.send(writes.iter().map(|w| w.record.id).collect());
            },
        );
        let thread = StoreThread::start(
            batch,
            inbox,
            records_rx,
            calls,
            Box::new(fake(Arc::clone(&seen))),
            vec![on_written],
        )
        .expect("store thread");
        Running {
            _dir: dir,
            store,
            thread,
            records,
            written,
            seen,
            writer,
            waker,
        }
    }

    fn stored(store: &Store, id: ExecId) -> bool {
        let conn = store.connect().expect("connect");
        matches!(
            find_record(&conn, &id.to_string()).expect("find"),
            RecordLookup::Found(_)
        )
    }

    #[test]
    fn no_claim_reads_an_enqueue_before_its_commit_and_one_follows_it() {
        // The claim reads through the open transaction: one made between an enqueue and its
        // commit could start a job that a failed commit then never stored.
        let running = start(|seen| Fake {
            seen,
            failing_commits: 1,
            busy_until: None,
            asked_busy: None,
            claims_seen: true,
        });
        let seen = Arc::clone(&running.seen);
        let waker = running.waker.clone();
        let enqueued = running.writer.call(
            ExecId::random(),
            crate::store::TxControl::None,
            false,
            move |session| {
                let options = crate::store::EnqueueOptions::default();
                let kept = session.atomically(|writes| {
                    writes.enqueue("job", &serde_json::json!({}), &options, 3, None, 1)
                })?;
                seen.lock().expect("seen").push(Seen::Enqueued);
                // Asked to look for due work as soon as this call is served, long before the
                // transaction is due to commit (as a resumed queue or a freed slot asks).
                waker.wake();
                kept.map(|_| ()).map_err(|e| e.to_string())
            },
        );
        assert_eq!(enqueued, Ok(()));
        let deadline = Instant::now() + PATIENCE;
        let seen = loop {
            let seen = running.seen.lock().expect("seen").clone();
            let failed_then_claimed = seen
                .windows(3)
                .any(|w| w == [Seen::CommitTried, Seen::Undone, Seen::Claimed]);
            if failed_then_claimed {
                break seen;
            }
            assert!(
                Instant::now() < deadline,
                "no failed commit and claim after it: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        running.thread.stop();
        let mut after_enqueue = seen
            .iter()
            .skip_while(|s| **s != Seen::Enqueued)
            .skip(1)
            .take_while(|s| **s != Seen::CommitTried);
        assert!(
            after_enqueue.all(|s| *s != Seen::Claimed),
            "a claim read the uncommitted enqueue: {seen:?}"
        );
        // The failed commit undid it; the claim after it reads what is committed.
        let from_commit: Vec<_> = seen
            .iter()
            .skip_while(|s| **s != Seen::CommitTried)
            .take(3)
            .collect();
        assert_eq!(
            from_commit,
            [&Seen::CommitTried, &Seen::Undone, &Seen::Claimed],
            "{seen:?}"
        );
    }

    #[test]
    fn a_record_whose_commit_fails_is_kept_and_stored_by_a_later_try() {
        let running = start(|seen| Fake {
            seen,
            failing_commits: 2,
            busy_until: None,
            asked_busy: None,
            claims_seen: false,
        });
        let write = record();
        let id = write.record.id;
        running.records.send(write).expect("send");
        assert_eq!(running.written.recv_timeout(PATIENCE), Ok(vec![id]));
        assert!(stored(&running.store, id));
        running.thread.stop();
        let seen = running.seen.lock().expect("seen").clone();
        assert_eq!(
            seen,
            [
                Seen::Arrived(id),
                Seen::CommitTried,
                Seen::Undone,
                Seen::CommitTried,
                Seen::Undone,
                Seen::CommitTried,
                Seen::Committed(vec![id]),
                Seen::Stopped,
            ]
        );
    }

    #[test]
    fn a_stop_waits_for_the_schedulers_work_and_stores_what_it_sends_back() {
        let write = record();
        let id = write.record.id;
        let (asked_tx, asked) = crossbeam_channel::bounded(1);
        let running = start(|seen| Fake {
            seen,
            failing_commits: 0,
            busy_until: Some(id),
            asked_busy: Some(asked_tx),
            claims_seen: false,
        });
        let Running {
            _dir,
            store,
            thread,
            records,
            written,
            seen,
            ..
        } = running;
        let stopping = std::thread::spawn(move || thread.stop());
        assert_eq!(
            asked.recv_timeout(PATIENCE),
            Ok(()),
            "the thread is stopping"
        );
        assert_eq!(
            written.recv_timeout(Duration::ZERO),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(!stopping.is_finished(), "it waits for the busy work");
        records.send(write).expect("send");
        stopping.join().expect("stopped");
        assert!(stored(&store, id));
        assert_eq!(written.try_recv(), Ok(vec![id]));
        let seen = seen.lock().expect("seen").clone();
        assert_eq!(
            seen,
            [
                Seen::Arrived(id),
                Seen::CommitTried,
                Seen::Committed(vec![id]),
                Seen::Stopped,
            ]
        );
    }

    #[test]
    fn retries_take_fewer_records_the_longer_the_store_fails() {
        assert_eq!(retry_chunk(RETRY_FIRST), FLUSH_AT);
        assert_eq!(retry_chunk(RETRY_FIRST * 2), FLUSH_AT / 2);
        assert_eq!(retry_chunk(RETRY_FIRST * 4), FLUSH_AT / 4);
        assert_eq!(retry_chunk(RETRY_MAX), 2);
        assert_eq!(retry_chunk(RETRY_MAX * 60), 1, "never none");
    }
}
