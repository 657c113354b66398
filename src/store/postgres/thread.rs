//! The store thread on PostgreSQL: the engines' calls ([`SqlCall`]) and their finished records
//! ([`StoreWrite`]), as SQLite's store thread takes them, but with nothing holding a
//! transaction open while JavaScript runs except the user's own (`ctx.db.transaction`).
//!
//! - A call outside a transaction runs in a short transaction of its own (autocommit) on one
//!   of [`PgThreadOptions::statements`] connections, each served by its own thread; its reply
//!   leaves once that commit is done when its [`Writer`](super::super::Writer) answers after
//!   commits (`flux dev` makes it so: the next call may run on another connection).
//! - A `Begin` pins a connection of its own with an open transaction: the owner's later
//!   calls go there until its `Commit`/`Rollback`, or until the execution's deadline (then it
//!   is rolled back). At most [`PgThreadOptions::transactions`] are open at once; a `Begin`
//!   beyond that is refused with a message saying so.
//! - One record writer stores finished records in batches with [`insert_writes`] (commit-order
//!   `seq`s), tries a failed commit again without dropping a record, and hands each committed
//!   batch to every [`OnCommitted`] (which feed `flux tail` and the terminal).
//!
//! - With [`QueueHooks`] (the queue runs in this process): a job attempt's outcome moves its
//!   job only while this process's lease holds ([`super::Fence`]); a transaction that makes a
//!   job due sends one `NOTIFY flux_jobs` (when asked) and, once committed, wakes this
//!   process's dispatcher; an atomic attempt's `CommitWithRecord` waits on its pinned
//!   connection for the attempt's record and inserts it before `COMMIT`, so the attempt's
//!   writes, its record and its job's transition share one commit.
//!
//! Connections per process: `statements + transactions + 1` at most, beside the readers'.
//! The queue's claims are not made here (the queue's dispatcher has a connection of its own).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use postgres::Client;

use super::super::writer::{SqlCall, TxControl, Work};
use super::super::{prepare_writes, search, OnCommitted, StoreWrite};
use super::user_sql::{PgSession, UserSql};
use super::{claims, insert_writes, PgStore};
use crate::clock::now_us;
use crate::record::{ExecId, Transition};

/// How many connections the store thread opens for the engines' SQL.
#[derive(Clone)]
pub struct PgThreadOptions {
    /// Connections running statements outside transactions (one thread each).
    pub statements: usize,
    /// User transactions open at once (a connection each while open).
    pub transactions: usize,
    /// What the queue running in this process needs from the commits (none: no queue).
    pub queue: QueueHooks,
}

impl Default for PgThreadOptions {
    fn default() -> Self {
        PgThreadOptions {
            statements: 4,
            transactions: 8,
            queue: QueueHooks::default(),
        }
    }
}

/// What the queue's dispatcher of this process asks of the store thread's commits.
#[derive(Clone, Default)]
pub struct QueueHooks {
    /// The owner of this process's leases: an attempt's outcome moves its job only while the
    /// lease it was claimed under holds.
    pub lease_owner: Option<String>,
    /// Send `NOTIFY flux_jobs` in each transaction that makes a job due.
    pub notify: bool,
    /// Called after a commit of this process that made a job due.
    pub on_due: Option<Arc<dyn Fn() + Send + Sync>>,
    /// A finished attempt whose writes were undone (`reason`): its record says so, and its
    /// job's next state follows (the queue's rules).
    pub writes_lost: Option<WritesLost>,
}

/// Makes the record of an attempt whose writes were undone say so (see [`QueueHooks`]).
pub type WritesLost = Arc<dyn Fn(&mut StoreWrite, &str) + Send + Sync>;

impl QueueHooks {
    /// Before the commit of a transaction whose writes made a job due (`due`).
    fn before_commit(&self, tx: &mut postgres::Transaction<'_>, due: bool) -> super::Result<()> {
        if due && self.notify {
            claims::notify(tx)?;
        }
        Ok(())
    }

    /// After that commit succeeded.
    fn after_commit(&self, due: bool) {
        if let (true, Some(on_due)) = (due, &self.on_due) {
            on_due();
        }
    }
}

/// Whether a batch of records puts a job back to run now (a retry due at once, a requeue).
fn makes_due(batch: &[StoreWrite], now_us: i64) -> bool {
    batch.iter().any(|write| match &write.job {
        Some((_, Transition::Retry { run_at_us, .. })) => *run_at_us <= now_us,
        Some((_, Transition::Requeue { .. })) => true,
        _ => false,
    })
}

/// How long an atomic attempt's committing transaction waits for the attempt's record
/// (sent as soon as its `CommitWithRecord` is answered); then it commits without it.
const RECORD_WAIT: Duration = Duration::from_secs(1);

/// Between the transactions' threads and the record writer: records a transaction waits for
/// (an atomic attempt's), and what the transactions committed or could not.
struct Link {
    hooks: QueueHooks,
    awaiting: Arc<Mutex<HashMap<ExecId, Sender<StoreWrite>>>>,
    side: Sender<Side>,
}

/// What a transaction's thread hands the record writer.
enum Side {
    /// A record it committed with its `seq`, for the subscribers.
    Committed(StoreWrite, i64, Arc<str>),
    /// A record it could not commit: stored by the writer as any other.
    Store(StoreWrite),
}

/// Records committed per transaction at most.
const MAX_BATCH: usize = 1_000;

/// A transaction whose execution has no deadline is rolled back after this long.
const LONGEST_TRANSACTION: Duration = Duration::from_secs(60);

/// After a failed commit of records, the first and the longest wait before trying again.
const RETRY_FIRST: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// Tries to store the last records at a stop before giving up.
const STOP_TRIES: u32 = 20;

/// The running store thread on PostgreSQL; [`PgStoreThread::stop`] ends it.
pub struct PgStoreThread {
    stop: Sender<()>,
    threads: Vec<JoinHandle<()>>,
}

impl PgStoreThread {
    /// Opens its connections and starts serving `calls` and storing `records`.
    pub fn start(
        store: &PgStore,
        options: PgThreadOptions,
        calls: Receiver<SqlCall>,
        records: Receiver<StoreWrite>,
        subscribers: Vec<OnCommitted>,
    ) -> super::Result<PgStoreThread> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let (alone, alone_calls) = crossbeam_channel::unbounded::<SqlCall>();
        let (side, side_rx) = crossbeam_channel::unbounded::<Side>();
        let awaiting = Arc::new(Mutex::new(HashMap::new()));
        let link = Arc::new(Link {
            hooks: options.queue.clone(),
            awaiting: Arc::clone(&awaiting),
            side,
        });
        let mut threads = Vec::new();
        for _ in 0..options.statements.max(1) {
            let mut conn = Conn::open(store)?;
            let calls = alone_calls.clone();
            let link = Arc::clone(&link);
            threads.push(spawn("flux-pg-sql", move || {
                for call in calls {
                    conn.serve_alone(call, &link.hooks);
                }
            })?);
        }
        let spares = Arc::new(Spares {
            store: store.clone(),
            idle: Mutex::new(Vec::new()),
            limit: options.transactions.max(1),
        });
        let router_stop = stopped.clone();
        threads.push(spawn("flux-pg-route", move || {
            route(calls, alone, spares, link, router_stop)
        })?);
        let writer = store.connect()?;
        let records_store = store.clone();
        threads.push(spawn("flux-pg-records", move || {
            RecordWriter {
                store: records_store,
                client: writer,
                subscribers,
                hooks: options.queue,
                awaiting,
            }
            .run(records, side_rx, stopped)
        })?);
        Ok(PgStoreThread { stop, threads })
    }

    /// Stores every record already sent, lets the calls already queued run, then returns.
    pub fn stop(self) {
        drop(self.stop);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> super::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map_err(super::StoreError::Thread)
}

/// A connection for user statements, with the sandbox's state for it.
struct Conn {
    client: Client,
    sql: UserSql,
}

impl Conn {
    fn open(store: &PgStore) -> super::Result<Conn> {
        let mut client = store.connect()?;
        let sql = UserSql::install(&mut client)?;
        Ok(Conn { client, sql })
    }

    /// Runs `call`'s work in a transaction of its own; its reply leaves after the commit.
    fn serve_alone(&mut self, call: SqlCall, hooks: &QueueHooks) {
        let mut tx = match self.client.transaction() {
            Ok(tx) => tx,
            Err(e) => return refuse(call.work, e.to_string()),
        };
        let due = Cell::new(false);
        let after = (call.work)(Ok(&mut PgSession {
            tx: &mut tx,
            sql: &mut self.sql,
            made_due: &due,
        }));
        let committed = commit(tx, hooks, due.get());
        if let Some(after) = after {
            after(committed);
        }
    }

    /// Serves an execution's transaction from its `Begin` to its end (or its deadline), then
    /// the call that ended it.
    fn serve_transaction(&mut self, begin: SqlCall, calls: Receiver<SqlCall>, link: &Link) {
        let deadline = begin
            .deadline
            .unwrap_or_else(|| Instant::now() + LONGEST_TRANSACTION);
        let mut tx = match self.client.transaction() {
            Ok(tx) => tx,
            Err(e) => return refuse(begin.work, e.to_string()),
        };
        let due = Cell::new(false);
        // A call inside it is answered at once: its writes are the transaction's, which the
        // next call sees on this connection, and which its end commits or undoes.
        let run = |tx: &mut postgres::Transaction<'_>, sql: &mut UserSql, work: Work| {
            let session = &mut PgSession {
                tx,
                sql,
                made_due: &due,
            };
            if let Some(after) = work(Ok(session)) {
                after(Ok(()));
            }
        };
        run(&mut tx, &mut self.sql, begin.work);
        let (ended, last) = loop {
            let Ok(call) = calls.recv_deadline(deadline) else {
                drop(tx);
                break (Err(ROLLED_BACK_AT_DEADLINE.to_string()), None);
            };
            match call.control {
                TxControl::None | TxControl::Begin => run(&mut tx, &mut self.sql, call.work),
                TxControl::CommitWithRecord if link.hooks.lease_owner.is_some() => {
                    // Answered now: the record it lets the attempt make joins this commit.
                    let owner = call.owner;
                    let (to_me, record) = crossbeam_channel::bounded(1);
                    lock(&link.awaiting).insert(owner, to_me);
                    run(&mut tx, &mut self.sql, call.work);
                    return commit_with_record(tx, owner, &record, due.get(), link);
                }
                TxControl::Commit | TxControl::CommitWithRecord => {
                    break (commit(tx, &link.hooks, due.get()), Some(call));
                }
                TxControl::Rollback => {
                    let _ = tx.rollback();
                    break (Err("the transaction was rolled back".into()), Some(call));
                }
            }
        };
        match (last, ended) {
            (Some(call), Err(e)) if call.control != TxControl::Rollback => refuse(call.work, e),
            (Some(call), _) => self.serve_alone(call, &link.hooks),
            (None, _) => {}
        }
    }
}

/// Commits `tx`, first telling the other processes when its writes made a job due (`due`),
/// then this one's dispatcher.
fn commit(mut tx: postgres::Transaction<'_>, hooks: &QueueHooks, due: bool) -> Result<(), String> {
    hooks
        .before_commit(&mut tx, due)
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    hooks.after_commit(due);
    Ok(())
}

/// Ends an atomic attempt's transaction: its record (awaited on `record`) is inserted with
/// its job's transition before `COMMIT`, so the attempt's writes, record and outcome commit
/// together or not at all. A record that does not come in time lets the writes commit alone
/// (the record follows through the record writer, as before this existed); a failed commit
/// hands the record, saying its writes were lost, to the record writer.
fn commit_with_record(
    mut tx: postgres::Transaction<'_>,
    owner: ExecId,
    record: &Receiver<StoreWrite>,
    due: bool,
    link: &Link,
) {
    let write = match record.recv_timeout(RECORD_WAIT) {
        Ok(write) => Some(write),
        // Gone from the map: the record writer is sending it (under the map's lock).
        Err(_) => match lock(&link.awaiting).remove(&owner) {
            Some(_) => None,
            None => record.try_recv().ok(),
        },
    };
    let Some(mut write) = write else {
        if let Err(e) = commit(tx, &link.hooks, due) {
            eprintln!("warning: an atomic job attempt's writes did not commit: {e}");
        }
        return;
    };
    let text: Arc<str> = search::text(&write.record).into();
    let now = now_us();
    let due = due || makes_due(std::slice::from_ref(&write), now);
    let owner = link.hooks.lease_owner.as_deref();
    let stored = (|| -> super::Result<Option<i64>> {
        // An attempt whose lease ran out (its job put back for another process) must not
        // commit its writes: the job runs again. Locked, so no one puts it back meanwhile.
        if let (Some((job_id, _)), Some(owner)) = (&write.job, owner) {
            let attempt = write.record.links.attempt.unwrap_or(0);
            if !claims::holds(&mut tx, &job_id.to_string(), attempt, owner)? {
                return Ok(None);
            }
        }
        let batch = std::slice::from_ref(&write);
        let prepared = prepare_writes(batch)?;
        let seqs = insert_writes(&mut tx, &prepared, &[&*text], owner, now)?;
        link.hooks.before_commit(&mut tx, due)?;
        tx.commit()?;
        Ok(Some(seqs.first().copied().unwrap_or_default()))
    })();
    let reason = match stored {
        Ok(Some(seq)) => {
            link.hooks.after_commit(due);
            let _ = link.side.send(Side::Committed(write, seq, text));
            return;
        }
        Ok(None) => "the attempt's lease ran out before it ended (its job was put back to run \
                     again), so its writes were rolled back"
            .to_string(),
        Err(e) => format!("the attempt's transaction did not commit: {e}"),
    };
    if let Some(lost) = &link.hooks.writes_lost {
        lost(&mut write, &reason);
    }
    let _ = link.side.send(Side::Store(write));
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

const ROLLED_BACK_AT_DEADLINE: &str =
    "the transaction was rolled back: it was still open at the execution's deadline";

/// A call that cannot run: its work hears why, and so does a reply waiting for a commit.
fn refuse(work: Work, reason: String) {
    if let Some(after) = work(Err(reason.clone())) {
        after(Err(reason));
    }
}

/// Connections for transactions, reused once a transaction ends.
struct Spares {
    store: PgStore,
    idle: Mutex<Vec<Conn>>,
    limit: usize,
}

impl Spares {
    fn take(&self) -> super::Result<Conn> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => Conn::open(&self.store),
        }
    }

    fn put_back(&self, conn: Conn) {
        if !conn.client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

/// Sends each call where it runs: to the connection of its execution's open transaction, to
/// a new one for a `Begin`, else to the statements' connections.
fn route(
    calls: Receiver<SqlCall>,
    alone: Sender<SqlCall>,
    spares: Arc<Spares>,
    link: Arc<Link>,
    stop: Receiver<()>,
) {
    let mut pinned: HashMap<ExecId, Sender<SqlCall>> = HashMap::new();
    let mut open: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let call = select! {
            recv(calls) -> call => match call { Ok(call) => call, Err(_) => break },
            recv(stop) -> _ => match calls.try_recv() { Ok(call) => call, Err(_) => break },
        };
        open.retain(|thread| !thread.is_finished());
        let ends = matches!(
            call.control,
            TxControl::Commit | TxControl::CommitWithRecord | TxControl::Rollback
        );
        let owner = call.owner;
        if let Some(tx) = pinned.get(&owner) {
            match tx.send(call) {
                Ok(()) => {
                    if ends {
                        pinned.remove(&owner);
                    }
                }
                Err(crossbeam_channel::SendError(call)) => {
                    pinned.remove(&owner);
                    // Its transaction already ended at the deadline.
                    match call.control {
                        TxControl::Rollback => send(&alone, call),
                        _ => refuse(call.work, ROLLED_BACK_AT_DEADLINE.into()),
                    }
                }
            }
            continue;
        }
        if call.control != TxControl::Begin {
            send(&alone, call);
            continue;
        }
        if open.len() >= spares.limit {
            let limit = spares.limit;
            refuse(
                call.work,
                format!("the database is busy: {limit} transactions are open already"),
            );
            continue;
        }
        let (to_tx, tx_calls) = crossbeam_channel::unbounded();
        pinned.insert(call.owner, to_tx);
        let spares = Arc::clone(&spares);
        let link = Arc::clone(&link);
        let thread = std::thread::Builder::new()
            .name("flux-pg-tx".into())
            .spawn(move || match spares.take() {
                Ok(mut conn) => {
                    conn.serve_transaction(call, tx_calls, &link);
                    spares.put_back(conn);
                }
                Err(e) => refuse(call.work, e.to_string()),
            });
        match thread {
            Ok(thread) => open.push(thread),
            Err(e) => eprintln!("error: cannot start a thread for a transaction: {e}"),
        }
    }
    // A transaction still open has lost its execution (the engines have stopped): with its
    // sender gone, it is rolled back now rather than at its deadline.
    drop(pinned);
    for thread in open {
        let _ = thread.join();
    }
}

/// Queues a call for the statements' connections; refused there only once they stopped.
fn send(alone: &Sender<SqlCall>, call: SqlCall) {
    if let Err(crossbeam_channel::SendError(call)) = alone.send(call) {
        refuse(call.work, super::super::writer::stopping());
    }
}

/// Stores finished records in batches, in commit order, and tells the subscribers.
struct RecordWriter {
    store: PgStore,
    client: Client,
    subscribers: Vec<OnCommitted>,
    hooks: QueueHooks,
    /// Records a transaction's thread waits for, to commit with it (atomic attempts').
    awaiting: Arc<Mutex<HashMap<ExecId, Sender<StoreWrite>>>>,
}

impl RecordWriter {
    fn run(mut self, records: Receiver<StoreWrite>, side: Receiver<Side>, stop: Receiver<()>) {
        let mut pending: Vec<StoreWrite> = Vec::new();
        let mut wait = RETRY_FIRST;
        let mut stopping = false;
        let mut failures = 0;
        let mut side_open = true;
        loop {
            if pending.is_empty() && !stopping {
                select! {
                    recv(records) -> write => match write {
                        Ok(write) => self.take(write, &mut pending),
                        Err(_) => stopping = true,
                    },
                    recv(side) -> got => match got {
                        Ok(got) => self.side(got, &mut pending),
                        Err(_) => side_open = false,
                    },
                    recv(stop) -> _ => stopping = true,
                }
            }
            for write in records
                .try_iter()
                .take(MAX_BATCH.saturating_sub(pending.len()))
            {
                self.take(write, &mut pending);
            }
            for got in side.try_iter() {
                self.side(got, &mut pending);
            }
            if pending.is_empty() {
                if stopping {
                    // The transactions' threads end with the router: what they still hand
                    // over (a record they could not commit) is stored before the end.
                    if side_open {
                        match side.recv() {
                            Ok(got) => self.side(got, &mut pending),
                            Err(_) => side_open = false,
                        }
                        continue;
                    }
                    return;
                }
                continue;
            }
            match self.commit(&pending) {
                Ok(()) => {
                    pending.clear();
                    wait = RETRY_FIRST;
                }
                Err(e) => {
                    failures += 1;
                    if stopping && failures >= STOP_TRIES {
                        eprintln!(
                            "error: the store still does not commit: {} execution records are \
                             not stored ({e})",
                            pending.len()
                        );
                        return;
                    }
                    if wait == RETRY_FIRST {
                        eprintln!(
                            "warning: the store could not commit ({e}); {} records wait to be \
                             stored",
                            pending.len()
                        );
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// A finished execution's record: batched, unless a transaction waits for it.
    fn take(&self, write: StoreWrite, pending: &mut Vec<StoreWrite>) {
        let mut awaiting = lock(&self.awaiting);
        let write = match awaiting.remove(&write.record.id) {
            // Sent under the lock: a waiter that timed out finds it in its channel.
            Some(waiter) => match waiter.send(write) {
                Ok(()) => return,
                Err(crossbeam_channel::SendError(write)) => write,
            },
            None => write,
        };
        drop(awaiting);
        pending.push(write);
    }

    fn side(&self, got: Side, pending: &mut Vec<StoreWrite>) {
        match got {
            Side::Committed(write, seq, text) => {
                let batch = std::slice::from_ref(&write);
                for subscriber in &self.subscribers {
                    subscriber(batch, &[seq], std::slice::from_ref(&text));
                }
            }
            Side::Store(write) => pending.push(write),
        }
    }

    fn commit(&mut self, batch: &[StoreWrite]) -> super::Result<()> {
        // A connection the server closed (a restart, a killed backend) is opened again.
        if self.client.is_closed() {
            self.client = self.store.connect()?;
        }
        let prepared = prepare_writes(batch)?;
        let texts: Vec<Arc<str>> = batch
            .iter()
            .map(|w| search::text(&w.record).into())
            .collect();
        let now = now_us();
        let due = makes_due(batch, now);
        let owner = self.hooks.lease_owner.as_deref();
        let mut tx = self.client.transaction()?;
        let seqs = insert_writes(&mut tx, &prepared, &texts, owner, now)?;
        self.hooks.before_commit(&mut tx, due)?;
        tx.commit()?;
        self.hooks.after_commit(due);
        for subscriber in &self.subscribers {
            subscriber(batch, &seqs, &texts);
        }
        Ok(())
    }
}
