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
//!   job due (a user's, or flux's own for the caller's writes) sends one `NOTIFY flux_jobs`
//!   (when asked) and, once committed, wakes this process's dispatcher; an atomic attempt's
//!   `CommitWithRecord` marks its job's attempt as committed in the attempt's own transaction
//!   ([`claims::mark_committed`], only while the lease holds, else the writes are rolled
//!   back), so that its writes never commit without the outcome they decide: the record that
//!   follows through the record writer moves the job and clears the mark, and a process that
//!   dies between the two leaves a mark that `claims::requeue_expired` finishes the job by.
//!
//! Connections per process: `2 × statements + transactions + 1` at most (a transaction that
//! begins just as another ends may open one more for a moment: the ended one's is closed when
//! it is given back), beside the readers':
//! each statement thread's, logged in as the sandbox role, and flux's own beside it for the
//! caller's writes outside a transaction (opened when first needed); a pinned transaction's;
//! the record writer's. A connection the server closed is opened again at its next call.
//! The queue's claims are not made here (the queue's dispatcher has connections of its own).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use postgres::Client;

use super::super::writer::{SqlCall, SqlCalls, TxControl, Work};
use super::super::CallerWrites;
use super::super::{prepare_writes, search, OnCommitted, StoreWrite};
use super::prepared::Prepared;
use super::user_sql::{begin, FluxConnection, LazyConn, PgSession, SessionTx, UserSql};
use super::writes::MadeDue;
use super::{claims, insert_writes, PgStore, PgWrites, Sandbox};
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

/// Whether this process's dispatcher would start these jobs now (see [`QueueHooks::takes`]).
pub type TakesHere = Arc<dyn Fn(&[String]) -> bool + Send + Sync>;

/// What the queue's dispatcher of this process asks of the store thread's commits.
#[derive(Clone, Default)]
pub struct QueueHooks {
    /// The owner of this process's leases: an attempt's outcome moves its job only while the
    /// lease it was claimed under holds.
    pub lease_owner: Option<String>,
    /// Send `NOTIFY flux_jobs` in each transaction that makes a job due (unless this
    /// process's dispatcher takes them all at once, `takes`).
    pub notify: bool,
    /// Called after a commit of this process that made a job due.
    pub on_due: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Whether this process's dispatcher would start all these jobs now (their workers'
    /// names): the jobs of a transaction that it takes are left to it, and the other
    /// processes are not woken for them (they find them at their next poll if it does not
    /// take them after all).
    pub takes: Option<TakesHere>,
}

impl QueueHooks {
    /// Before the commit of a transaction whose writes made these jobs due (their workers).
    fn before_commit(
        &self,
        tx: &mut postgres::Transaction<'_>,
        due: &[String],
    ) -> super::Result<()> {
        if self.notifies(due) {
            claims::notify(tx)?;
        }
        Ok(())
    }

    /// Whether a transaction whose writes made these jobs due wakes the other processes.
    fn notifies(&self, due: &[String]) -> bool {
        !due.is_empty() && self.notify && !self.takes.as_ref().is_some_and(|takes| takes(due))
    }

    /// After that commit succeeded.
    fn after_commit(&self, due: &[String]) {
        if let (false, Some(on_due)) = (due.is_empty(), &self.on_due) {
            on_due();
        }
    }
}

/// The jobs a batch of records puts back to run now (a retry due at once, a requeue): their
/// workers.
fn makes_due(batch: &[StoreWrite], now_us: i64) -> Vec<String> {
    batch
        .iter()
        .filter(|write| match &write.job {
            Some((_, Transition::Retry { run_at_us, .. })) => *run_at_us <= now_us,
            Some((_, Transition::Requeue { .. })) => true,
            _ => false,
        })
        .map(|write| write.record.function.clone())
        .collect()
}

/// Records committed per transaction at most.
const MAX_BATCH: usize = 1_000;

/// While records keep coming (the last batch had more than one), a batch waits this long
/// for up to [`GROUP_TARGET`] records before it commits: each commit waits for its flush to
/// disk and for the other processes' record writers (see `insert_writes`), so fewer, bigger
/// batches cost less per record.
const GROUP_WAIT: Duration = Duration::from_millis(2);
const GROUP_TARGET: usize = 32;

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
        calls: SqlCalls,
        records: Receiver<StoreWrite>,
        subscribers: Vec<OnCommitted>,
    ) -> super::Result<PgStoreThread> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let SqlCalls {
            routed,
            alone: alone_calls,
            alone_sender: alone,
        } = calls;
        // Disconnected when the router ends. The engines send to the statement threads too,
        // so their queue stays open: once the router is gone, what is queued runs and they end.
        let (router_running, router_gone) = crossbeam_channel::bounded::<()>(0);
        let mut threads = Vec::new();
        for _ in 0..options.statements.max(1) {
            let mut conn = Conn::open(store, &options.queue)?;
            let calls = alone_calls.clone();
            let router_gone = router_gone.clone();
            threads.push(spawn("flux-pg-sql", move || loop {
                select! {
                    recv(calls) -> call => match call {
                        Ok(call) => conn.serve_alone(call),
                        Err(_) => break,
                    },
                    recv(router_gone) -> _ => {
                        for call in calls.try_iter() {
                            conn.serve_alone(call);
                        }
                        break;
                    }
                }
            })?);
        }
        let spares = Arc::new(Spares {
            store: store.clone(),
            hooks: options.queue.clone(),
            idle: Mutex::new(Vec::new()),
            limit: options.transactions.max(1),
            unended: AtomicUsize::new(0),
        });
        let router_stop = stopped.clone();
        threads.push(spawn("flux-pg-route", move || {
            route(routed, alone, spares, router_stop);
            drop(router_running);
        })?);
        let writer = store.connect_for_prepared()?;
        let records_store = store.clone();
        threads.push(spawn("flux-pg-records", move || {
            RecordWriter {
                store: records_store,
                client: writer,
                statements: Prepared::default(),
                subscribers,
                hooks: options.queue,
            }
            .run(records, stopped)
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

/// A connection for user statements, logged in as the sandbox role, with the sandbox's state
/// for it, and flux's own connection for the caller's writes outside a transaction (opened
/// when first needed).
struct Conn {
    client: Client,
    sql: UserSql,
    sandbox: Arc<Sandbox>,
    flux: FluxConn,
}

impl Conn {
    fn open(store: &PgStore, hooks: &QueueHooks) -> super::Result<Conn> {
        let sandbox = store.sandbox()?;
        Ok(Conn {
            client: sandbox.connect()?,
            sql: UserSql::new(&sandbox),
            sandbox,
            flux: FluxConn {
                store: store.clone(),
                client: None,
                hooks: hooks.clone(),
            },
        })
    }

    /// Runs `call`'s work in a transaction of its own; its reply leaves after the commit.
    fn serve_alone(&mut self, call: SqlCall) {
        let mut fresh = None;
        let (after, committed) = {
            let mut slot = None;
            let due = MadeDue::default();
            let sandbox = &self.sandbox;
            let reconnect = || sandbox.connect();
            let after = (call.work)(Ok(&mut PgSession {
                tx: SessionTx::Lazy {
                    slot: &mut slot,
                    conn: Some(LazyConn {
                        client: &mut self.client,
                        reconnect: &reconnect,
                        fresh: &mut fresh,
                    }),
                },
                sql: &mut self.sql,
                flux: Some(&mut self.flux),
                made_due: &due,
            }));
            // A call that wrote nothing on the sandbox's connection began no transaction there.
            let committed = match slot.take() {
                Some(tx) => commit(tx, &self.flux.hooks, &due.take()),
                None => Ok(()),
            };
            (after, committed)
        };
        if let Some(client) = fresh {
            self.client = client;
            self.sql.reconnected();
        }
        if let Some(after) = after {
            after(committed);
        }
    }

    /// Serves an execution's transaction from its `Begin` to its end (or its deadline), then
    /// the call that ended it; `ended_hook` runs before that call's answer leaves.
    fn serve_transaction(
        &mut self,
        first: SqlCall,
        calls: Receiver<SqlCall>,
        ended_hook: &mut dyn FnMut(),
    ) {
        let deadline = first
            .deadline
            .unwrap_or_else(|| Instant::now() + LONGEST_TRANSACTION);
        let mut fresh = None;
        let sandbox = &self.sandbox;
        let mut tx = match begin(&mut self.client, &|| sandbox.connect(), &mut fresh) {
            Ok(tx) => tx,
            Err(e) => {
                // Gone before the refusal: the router then sends a `Begin` that follows to a
                // new transaction, not here.
                drop(calls);
                ended_hook();
                return refuse(first.work, e);
            }
        };
        self.sql.began();
        let due = MadeDue::default();
        // A call inside it is answered at once: its writes are the transaction's, which the
        // next call sees on this connection, and which its end commits or undoes.
        let run = |tx: &mut postgres::Transaction<'_>, sql: &mut UserSql, work: Work| {
            let session = &mut PgSession {
                tx: SessionTx::Open(tx),
                sql,
                flux: None,
                made_due: &due,
            };
            if let Some(after) = work(Ok(session)) {
                after(Ok(()));
            }
        };
        run(&mut tx, &mut self.sql, first.work);
        // Transactions begun inside this one and not ended (savepoints).
        let mut nested = 0usize;
        let (ended, last) = loop {
            let Ok(call) = calls.recv_deadline(deadline) else {
                drop(tx);
                break (Err(ROLLED_BACK_AT_DEADLINE.to_string()), None);
            };
            match call.control {
                TxControl::None => run(&mut tx, &mut self.sql, call.work),
                // A `ctx.db.transaction` inside an atomic attempt's: a savepoint, as on SQLite.
                TxControl::Begin => match tx.batch_execute("SAVEPOINT flux_nested") {
                    Ok(()) => {
                        nested += 1;
                        run(&mut tx, &mut self.sql, call.work);
                    }
                    Err(e) => refuse(call.work, e.to_string()),
                },
                TxControl::Commit | TxControl::Rollback if nested > 0 => {
                    nested -= 1;
                    let end = match call.control {
                        TxControl::Commit => "RELEASE SAVEPOINT flux_nested",
                        _ => "ROLLBACK TO SAVEPOINT flux_nested; RELEASE SAVEPOINT flux_nested",
                    };
                    match tx.batch_execute(end) {
                        Ok(()) => run(&mut tx, &mut self.sql, call.work),
                        Err(e) => refuse(call.work, e.to_string()),
                    }
                }
                TxControl::CommitWithRecord => {
                    let (key, hooks) = (&self.sql.key, &self.flux.hooks);
                    let ended = commit_attempt(tx, key, hooks, call.owner, &due.take());
                    break (ended, Some(call));
                }
                TxControl::Commit => {
                    break (commit(tx, &self.flux.hooks, &due.take()), Some(call));
                }
                TxControl::Rollback => {
                    let _ = tx.rollback();
                    break (Err("the transaction was rolled back".into()), Some(call));
                }
            }
        };
        if let Some(client) = fresh {
            self.client = client;
            self.sql.reconnected();
        }
        // Before the answer: the execution's next `Begin` may follow at once.
        ended_hook();
        match (last, ended) {
            (Some(call), Err(e)) if call.control != TxControl::Rollback => refuse(call.work, e),
            (Some(call), _) => self.serve_alone(call),
            (None, _) => {}
        }
    }
}

/// flux's own connection, for the caller's writes outside a user's transaction.
struct FluxConn {
    store: PgStore,
    client: Option<Client>,
    hooks: QueueHooks,
}

impl FluxConnection for FluxConn {
    fn caller_writes(
        &mut self,
        atomic: bool,
        work: &mut dyn FnMut(&dyn CallerWrites) -> bool,
    ) -> Result<(), String> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.store.connect().map_err(|e| e.to_string())?);
        }
        let Some(client) = self.client.as_mut() else {
            return Err("no connection to PostgreSQL".into());
        };
        let mut fresh = None;
        let store = &self.store;
        let mut tx = begin(client, &|| store.connect(), &mut fresh)?;
        let due = MadeDue::default();
        let result = if work(&PgWrites::new(&mut tx).noting_due(&due)) || !atomic {
            commit(tx, &self.hooks, &due.take())
        } else {
            // Dropped without a commit, the transaction is rolled back.
            drop(tx);
            Ok(())
        };
        if fresh.is_some() {
            self.client = fresh;
        }
        result
    }
}

/// Commits `tx`, first telling the other processes when its writes made a job due (`due`),
/// then this one's dispatcher.
fn commit(
    mut tx: postgres::Transaction<'_>,
    hooks: &QueueHooks,
    due: &[String],
) -> Result<(), String> {
    hooks
        .before_commit(&mut tx, due)
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    hooks.after_commit(due);
    Ok(())
}

/// Commits an atomic job attempt's transaction (execution `exec_id`). With the queue in
/// this process, only while the attempt still holds its job's lease, and with its job
/// marked as committed by this attempt in the same commit: its writes then never stand
/// without the outcome they decide, even if this process dies before the record follows
/// (see `claims::requeue_expired`). A lease that ran out rolls the writes back (the job
/// was put back to run again), and the attempt hears so.
fn commit_attempt(
    mut tx: postgres::Transaction<'_>,
    key: &str,
    hooks: &QueueHooks,
    exec_id: ExecId,
    due: &[String],
) -> Result<(), String> {
    if let Some(owner) = hooks.lease_owner.as_deref() {
        let held = claims::mark_committed(&mut tx, key, &exec_id.to_string(), owner)
            .map_err(|e| e.to_string())?;
        if !held {
            // Dropped without a commit, the transaction is rolled back.
            drop(tx);
            return Err(LEASE_LOST.into());
        }
    }
    commit(tx, hooks, due)
}

/// Why an atomic attempt's writes were rolled back at its end.
const LEASE_LOST: &str = "its writes were rolled back: the attempt's lease ran out before it \
                          ended (its job was put back to run again)";

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
    hooks: QueueHooks,
    idle: Mutex<Vec<Conn>>,
    limit: usize,
    /// Transactions begun and not ended yet: counted down as each ends, before its answer
    /// (its thread gives its connection back a little later).
    unended: AtomicUsize,
}

impl Spares {
    /// An idle connection (opened again by the transaction if the server closed it), or a
    /// new one.
    fn take(&self) -> super::Result<Conn> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => Conn::open(&self.store, &self.hooks),
        }
    }

    /// Keeps `conn` for the next transaction, unless the open transactions and the idle
    /// connections already make [`Spares::limit`] (a `Begin` that came before it was given
    /// back opened its own).
    fn put_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() + self.unended.load(Ordering::SeqCst) < self.limit {
            idle.push(conn);
        }
    }

    /// Counts a transaction begun; the guard counts it down once, when told or dropped.
    fn begun(self: &Arc<Self>) -> Unended {
        self.unended.fetch_add(1, Ordering::SeqCst);
        Unended(Some(Arc::clone(self)))
    }
}

/// A transaction counted in [`Spares::unended`]: [`Unended::end`] (or, on any other way out
/// of its thread, a panic included, the drop) counts it down, once.
struct Unended(Option<Arc<Spares>>);

impl Unended {
    fn end(&mut self) {
        if let Some(spares) = self.0.take() {
            spares.unended.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Unended {
    fn drop(&mut self) {
        self.end();
    }
}

/// Sends each call where it runs: to the connection of its execution's open transaction, to
/// a new one for a `Begin`, else to the statements' connections.
fn route(
    calls: Receiver<SqlCall>,
    alone: Sender<SqlCall>,
    spares: Arc<Spares>,
    stop: Receiver<()>,
) {
    let mut pinned: HashMap<ExecId, Pinned> = HashMap::new();
    let mut open: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let call = select! {
            recv(calls) -> call => match call { Ok(call) => call, Err(_) => break },
            recv(stop) -> _ => match calls.try_recv() { Ok(call) => call, Err(_) => break },
        };
        open.retain(|thread| !thread.is_finished());
        let control = call.control;
        let owner = call.owner;
        let call = match pinned.get_mut(&owner) {
            None => call,
            Some(pin) => match pin.to.send(call) {
                Ok(()) => {
                    // A `Begin` inside an atomic attempt's transaction is a savepoint there,
                    // whose end does not end the attempt's.
                    match control {
                        TxControl::Begin => pin.nested += 1,
                        TxControl::Commit | TxControl::Rollback if pin.nested > 0 => {
                            pin.nested -= 1
                        }
                        TxControl::Commit | TxControl::Rollback | TxControl::CommitWithRecord => {
                            pinned.remove(&owner);
                        }
                        TxControl::None => {}
                    }
                    continue;
                }
                Err(crossbeam_channel::SendError(call)) => {
                    pinned.remove(&owner);
                    match call.control {
                        // Its transaction never began: this one starts anew.
                        TxControl::Begin => call,
                        // Or it ended at the deadline.
                        TxControl::Rollback => {
                            send(&alone, call);
                            continue;
                        }
                        _ => {
                            refuse(call.work, ROLLED_BACK_AT_DEADLINE.into());
                            continue;
                        }
                    }
                }
            },
        };
        if call.control != TxControl::Begin {
            send(&alone, call);
            continue;
        }
        if spares.unended.load(Ordering::SeqCst) >= spares.limit {
            let limit = spares.limit;
            refuse(
                call.work,
                format!("the database is busy: {limit} transactions are open already"),
            );
            continue;
        }
        let (to_tx, tx_calls) = crossbeam_channel::unbounded();
        pinned.insert(
            call.owner,
            Pinned {
                to: to_tx,
                nested: 0,
            },
        );
        let spares = Arc::clone(&spares);
        let mut unended = spares.begun();
        let thread = std::thread::Builder::new()
            .name("flux-pg-tx".into())
            .spawn(move || match spares.take() {
                Ok(mut conn) => {
                    conn.serve_transaction(call, tx_calls, &mut || unended.end());
                    spares.put_back(conn);
                }
                Err(e) => {
                    unended.end();
                    refuse(call.work, e.to_string());
                }
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

/// An execution's open transaction, as the router knows it.
struct Pinned {
    to: Sender<SqlCall>,
    /// Transactions begun inside it and not ended (see `Conn::serve_transaction`).
    nested: usize,
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
    statements: Prepared,
    subscribers: Vec<OnCommitted>,
    hooks: QueueHooks,
}

impl RecordWriter {
    fn run(mut self, records: Receiver<StoreWrite>, stop: Receiver<()>) {
        let mut pending: Vec<StoreWrite> = Vec::new();
        let mut wait = RETRY_FIRST;
        let mut stopping = false;
        let mut failures = 0;
        let mut busy = false;
        loop {
            if pending.is_empty() && !stopping {
                select! {
                    recv(records) -> write => match write {
                        Ok(write) => pending.push(write),
                        Err(_) => stopping = true,
                    },
                    recv(stop) -> _ => stopping = true,
                }
            }
            pending.extend(
                records
                    .try_iter()
                    .take(MAX_BATCH.saturating_sub(pending.len())),
            );
            if busy && !stopping {
                let until = Instant::now() + GROUP_WAIT;
                while pending.len() < GROUP_TARGET {
                    match records.recv_deadline(until) {
                        Ok(write) => pending.push(write),
                        Err(_) => break,
                    }
                }
            }
            busy = pending.len() > 1;
            if pending.is_empty() {
                if stopping {
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

    fn commit(&mut self, batch: &[StoreWrite]) -> super::Result<()> {
        // A connection the server closed (a restart, a killed backend) is opened again.
        if self.client.is_closed() {
            self.client = self.store.connect_for_prepared()?;
            self.statements.clear();
        }
        let prepared = prepare_writes(batch)?;
        let texts: Vec<Arc<str>> = batch
            .iter()
            .map(|w| search::text(&w.record).into())
            .collect();
        let now = now_us();
        let due = makes_due(batch, now);
        let owner = self.hooks.lease_owner.as_deref();
        // Outside a transaction: the batch commits in the same round trip.
        let notify = self.hooks.notifies(&due);
        let seqs = insert_writes(
            &mut self.client,
            &mut self.statements,
            &prepared,
            &texts,
            owner,
            notify,
            now,
        )
        .inspect_err(|_| self.statements.clear())?;
        self.hooks.after_commit(&due);
        for subscriber in &self.subscribers {
            subscriber(batch, &seqs, &texts);
        }
        Ok(())
    }
}
