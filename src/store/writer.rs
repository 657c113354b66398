//! Calls from the JS engines to the store's one writing connection, which the store thread
//! owns. Every write of every execution runs there, inside the store thread's open
//! transaction, so that many executions' writes, their records and their jobs' new states
//! share one commit instead of each paying for its own (and for reloading the pages the
//! others changed). An execution's `ctx.db.transaction` is a savepoint in that transaction;
//! while one is open, other executions' calls wait for it, as they would for SQLite's lock.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;

use super::emails::{self, NewEmail};
use super::search::Query;
use super::statement::{Limits, SqlError, SqlResult, UserStatements};
use super::storage::{JobWrites, TokenWrites, VersionWrites};
use super::tokens::{NewToken, TokenLookup, TokenRow};
use super::versions::{NewVersion, VersionLookup};
use super::{
    user_sql, CallerWrites, Capture, EnqueueError, EnqueueOptions, Enqueued, JobLookup, JobRow,
    ReplayError, Result as StoreResult,
};
use crate::record::{ExecId, Mutation};
use serde_json::Value;

/// How long a call waits for another execution's transaction before failing.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

pub fn busy_message() -> String {
    format!(
        "the database is busy: another execution's transaction has held it for {}s",
        LOCK_WAIT.as_secs()
    )
}

/// The writer's connection as a call's work sees it, whichever the engine: the user's
/// statements ([`UserStatements`]), the caller writes (jobs, tokens) and captured emails, all
/// on the writer's open transaction (or, on PostgreSQL outside a user's transaction, committed
/// on their own).
pub trait Lent: UserStatements {
    /// Runs `work` on [`CallerWrites`]; with `atomic`, all of its writes are kept or none
    /// (`work` returns false to undo them).
    fn caller_writes(
        &mut self,
        atomic: bool,
        work: &mut dyn FnMut(&dyn CallerWrites) -> bool,
    ) -> Result<(), String>;

    /// Stores an email `ctx.email.send` captured; returns its number.
    fn store_email(&mut self, email: &NewEmail) -> Result<i64, String>;

    /// SQLite's connection, for tests that write on it directly.
    #[cfg(test)]
    fn sqlite(&self) -> Option<&Connection> {
        None
    }
}

/// The writing connection, lent to one call at a time.
pub type Session<'a> = &'a mut (dyn Lent + 'a);

impl dyn Lent + '_ {
    /// `work`'s caller writes, all kept or none when it fails.
    pub fn atomically<T, E>(
        &mut self,
        work: impl FnOnce(&dyn CallerWrites) -> Result<T, E>,
    ) -> Result<Result<T, E>, String> {
        self.once(true, work)
    }

    /// `work`'s caller writes, each kept as made (enqueue: one write).
    pub fn writes<T, E>(
        &mut self,
        work: impl FnOnce(&dyn CallerWrites) -> Result<T, E>,
    ) -> Result<Result<T, E>, String> {
        self.once(false, work)
    }

    fn once<T, E>(
        &mut self,
        atomic: bool,
        work: impl FnOnce(&dyn CallerWrites) -> Result<T, E>,
    ) -> Result<Result<T, E>, String> {
        let mut work = Some(work);
        let mut outcome = None;
        self.caller_writes(atomic, &mut |writes| {
            let result = work.take().map(|work| work(writes));
            let kept = matches!(result, Some(Ok(_)));
            outcome = result;
            kept
        })?;
        outcome.ok_or_else(|| "the store did not run the call".to_string())
    }
}

/// SQLite's writing connection with its capture of row changes.
pub struct SqliteSession<'a> {
    pub conn: &'a Connection,
    pub capture: &'a mut Capture,
    /// The call wrote what may make a job due (an enqueue, a replay) in the open transaction:
    /// an atomic call unless its writes were undone.
    pub made_due: bool,
    /// Its statements stand alone (its execution has no transaction open), with the lookup of
    /// the schema's deferred foreign keys that [`user_sql::run_alone`] checks them by; `None`
    /// inside a transaction, whose end checks them.
    pub alone: Option<&'a mut user_sql::DeferredKeys>,
}

impl UserStatements for SqliteSession<'_> {
    fn statement(
        &mut self,
        sql: &str,
        params: &[serde_json::Value],
        limits: &Limits,
        span: Option<u32>,
        at_us: u64,
    ) -> (Result<SqlResult, SqlError>, Vec<Mutation>) {
        self.capture.begin_statement();
        let result = match self.alone.as_deref_mut() {
            Some(deferred) => user_sql::run_alone(self.conn, deferred, sql, params, limits),
            None => user_sql::run(self.conn, sql, params, limits),
        };
        let changes = self
            .capture
            .finish_statement(self.conn, span, at_us, result.is_ok());
        (result, changes)
    }

    fn single_key(&mut self, table: &str) -> Option<String> {
        user_sql::single_key(self.conn, table)
    }
}

impl Lent for SqliteSession<'_> {
    /// Inside the store thread's open transaction: a savepoint makes it atomic.
    fn caller_writes(
        &mut self,
        atomic: bool,
        work: &mut dyn FnMut(&dyn CallerWrites) -> bool,
    ) -> Result<(), String> {
        let writes = NotingDue {
            conn: self.conn,
            made_due: Cell::new(false),
        };
        if !atomic {
            work(&writes);
            self.made_due |= writes.made_due.get();
            return Ok(());
        }
        let failed = |e: rusqlite::Error| e.to_string();
        self.conn
            .execute_batch("SAVEPOINT flux_api")
            .map_err(failed)?;
        let kept = work(&writes);
        let end = match kept {
            true => "RELEASE flux_api",
            false => "ROLLBACK TO flux_api; RELEASE flux_api",
        };
        let ended = self.conn.execute_batch(end);
        // Writes not surely undone may still commit.
        if kept || ended.is_err() {
            self.made_due |= writes.made_due.get();
        }
        ended.map_err(failed)
    }

    fn store_email(&mut self, email: &NewEmail) -> Result<i64, String> {
        emails::insert(self.conn, email).map_err(|e| format!("cannot store the email: {e}"))
    }

    #[cfg(test)]
    fn sqlite(&self) -> Option<&Connection> {
        Some(self.conn)
    }
}

/// SQLite's connection as one call's caller writes, noting those that may make a job due (an
/// enqueue, a replay): the dispatcher claims through the open transaction, so it waits for
/// their commit. Token notes, deploys and cancels make nothing due and hold no claim back.
struct NotingDue<'c> {
    conn: &'c Connection,
    made_due: Cell<bool>,
}

impl JobWrites for NotingDue<'_> {
    fn enqueue(
        &self,
        name: &str,
        data: &Value,
        options: &EnqueueOptions,
        max_attempts: u32,
        enqueued_by: Option<ExecId>,
        now_us: i64,
    ) -> Result<Enqueued, EnqueueError> {
        self.made_due.set(true);
        self.conn
            .enqueue(name, data, options, max_attempts, enqueued_by, now_us)
    }

    fn find_job(&self, prefix: &str) -> StoreResult<JobLookup> {
        self.conn.find_job(prefix)
    }

    fn replay(
        &self,
        job: &JobRow,
        max_attempts: u32,
        now_us: i64,
        data: Option<&Value>,
    ) -> Result<String, ReplayError> {
        self.made_due.set(true);
        self.conn.replay(job, max_attempts, now_us, data)
    }

    fn cancel_waiting(&self, job: &JobRow, reason: &str, now_us: i64) -> StoreResult<bool> {
        self.conn.cancel_waiting(job, reason, now_us)
    }

    fn dead_jobs(
        &self,
        function: Option<&str>,
        search: Option<&Query>,
    ) -> StoreResult<Vec<JobRow>> {
        self.conn.dead_jobs(function, search)
    }
}

impl TokenWrites for NotingDue<'_> {
    fn create_token(&self, new: &NewToken, now_us: i64) -> StoreResult<TokenRow> {
        self.conn.create_token(new, now_us)
    }

    fn find_token(&self, prefix: &str) -> StoreResult<TokenLookup> {
        self.conn.find_token(prefix)
    }

    fn revoke_token(&self, id: &str, at_us: i64) -> StoreResult<()> {
        self.conn.revoke_token(id, at_us)
    }

    fn note_token_used(&self, id: &str, at_us: i64) -> StoreResult<()> {
        self.conn.note_token_used(id, at_us)
    }
}

impl VersionWrites for NotingDue<'_> {
    fn put_blob(&self, hash: &str, data: &[u8]) -> StoreResult<()> {
        self.conn.put_blob(hash, data)
    }

    fn create_version(&self, new: &NewVersion, now_us: i64) -> StoreResult<()> {
        self.conn.create_version(new, now_us)
    }

    fn activate_version(&self, id: &str, now_us: i64) -> StoreResult<()> {
        self.conn.activate_version(id, now_us)
    }

    fn find_version(&self, prefix: &str) -> StoreResult<VersionLookup> {
        self.conn.find_version(prefix)
    }
}

/// What a call does to its execution's `ctx.db.transaction`, before its work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxControl {
    None,
    Begin,
    Commit,
    /// Commit, and commit nothing more until the caller's record arrives: an atomic job
    /// attempt's writes and its record share one commit. On PostgreSQL the commit marks the
    /// attempt's job as committed by it instead, while its lease holds (the record follows;
    /// `postgres/thread.rs`).
    CommitWithRecord,
    Rollback,
}

/// Run once the transaction holding a call's writes has committed (or failed to).
pub type AfterCommit = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A call's work: given the session (or why there is none), it replies to its caller now, or
/// returns what replies once its writes are committed.
pub type Work = Box<dyn FnOnce(Result<Session<'_>, String>) -> Option<AfterCommit> + Send>;

pub struct SqlCall {
    /// The execution making the call: calls of the one with an open transaction go first.
    pub owner: ExecId,
    pub control: TxControl,
    /// When its execution times out: a call held for another's transaction gives up then (or
    /// after [`LOCK_WAIT`], whichever comes first), so that no write lands after its record.
    pub deadline: Option<Instant>,
    pub work: Work,
}

/// The engines' end of the store thread's call queue; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    calls: Sender<SqlCall>,
    alone: Sender<SqlCall>,
    /// PostgreSQL's: every call's result waits for its commit (a call outside a transaction
    /// commits on its own, and the next may run on another connection), and a call that no
    /// transaction can hold ([`Call::alone`]) goes straight to [`SqlCalls::alone`].
    postgres: bool,
}

/// The store thread's end of the call queue.
pub struct SqlCalls {
    /// The calls in the order they were made (a call of an execution with an open
    /// transaction runs in it).
    pub routed: Receiver<SqlCall>,
    /// On PostgreSQL, statements of executions with no transaction open or beginning, for
    /// any of the statements' connections; the router sends its own there too.
    pub alone: Receiver<SqlCall>,
    pub alone_sender: Sender<SqlCall>,
}

pub fn writer_channel() -> (Writer, SqlCalls) {
    let (calls, routed) = crossbeam_channel::unbounded();
    let (alone_sender, alone) = crossbeam_channel::unbounded();
    let writer = Writer {
        calls,
        alone: alone_sender.clone(),
        postgres: false,
    };
    let inbox = SqlCalls {
        routed,
        alone,
        alone_sender,
    };
    (writer, inbox)
}

impl Writer {
    /// This writer for PostgreSQL's store thread: see [`Writer::postgres`]'s field.
    pub fn for_postgres(self) -> Writer {
        Writer {
            postgres: true,
            ..self
        }
    }

    /// Runs `work` on the writing connection and waits for its result. With `durable`, the
    /// result comes back only once the writes are committed, so a crash right after cannot
    /// lose them; otherwise they commit with the store thread's next batch.
    pub fn call<R: Send + 'static>(
        &self,
        owner: ExecId,
        control: TxControl,
        durable: bool,
        work: impl FnOnce(Session<'_>) -> Result<R, String> + Send + 'static,
    ) -> Result<R, String> {
        let (reply, result) = crossbeam_channel::bounded::<Result<R, String>>(1);
        let call = Call {
            owner,
            control,
            durable,
            deadline: None,
            alone: false,
        };
        self.submit(call, work, move |outcome| {
            let _ = reply.send(outcome);
        });
        // Dropped unanswered: the store thread has stopped.
        result.recv().map_err(|_| stopping())?
    }

    /// Queues `work` for the writing connection without waiting: `done` gets its result on
    /// the store thread (after the commit, for a durable call), or the reason there is none
    /// when the store has stopped. Exactly once, whatever happens to the call.
    pub fn submit<R: Send + 'static>(
        &self,
        call: Call,
        work: impl FnOnce(Session<'_>) -> Result<R, String> + Send + 'static,
        done: impl FnOnce(Result<R, String>) + Send + 'static,
    ) {
        let Call {
            owner,
            control,
            durable,
            deadline,
            alone,
        } = call;
        let durable = durable || self.postgres;
        let done = Answer(Some(Box::new(done)));
        let work: Work = Box::new(move |session| {
            let outcome = session.and_then(work);
            if durable && outcome.is_ok() {
                return Some(Box::new(move |committed: Result<(), String>| {
                    done.send(committed.and(outcome));
                }));
            }
            done.send(outcome);
            None
        });
        // Skips the router, a thread's wake-up.
        let to = match self.postgres && alone && control == TxControl::None {
            true => &self.alone,
            false => &self.calls,
        };
        // Refused, the call is dropped with its work: its answer says the store stopped.
        let _ = to.send(SqlCall {
            owner,
            control,
            deadline,
            work,
        });
    }
}

/// How a call is made: for whom, what it does to their transaction, whether its result waits
/// for the commit, and until when it may wait for another execution's transaction.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub owner: ExecId,
    pub control: TxControl,
    pub durable: bool,
    pub deadline: Option<Instant>,
    /// Its execution has no transaction open or beginning (none can hold the call).
    pub alone: bool,
}

/// Where a call's result goes; a call dropped unanswered (the store thread stopped) answers
/// that the store stopped, so that no caller waits forever.
struct Answer<R>(Option<Done<R>>);

type Done<R> = Box<dyn FnOnce(Result<R, String>) + Send>;

impl<R> Answer<R> {
    fn send(mut self, outcome: Result<R, String>) {
        if let Some(done) = self.0.take() {
            done(outcome);
        }
    }
}

impl<R> Drop for Answer<R> {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            done(Err(stopping()));
        }
    }
}

pub fn stopping() -> String {
    "flux dev is stopping: the store no longer takes writes".into()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_call_dropped_unanswered_tells_the_caller_the_store_stopped() {
        let (writer, inbox) = writer_channel();
        let store_thread = std::thread::spawn(move || drop(inbox.routed.recv()));
        let result = writer.call(ExecId::random(), TxControl::None, false, |_| Ok(1));
        assert_eq!(result, Err(stopping()));
        store_thread.join().expect("join");
    }

    #[test]
    fn a_durable_result_comes_back_only_after_the_commit() {
        let (writer, inbox) = writer_channel();
        let committed = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&committed);
        let store_thread = std::thread::spawn(move || {
            let mut conn = Connection::open_in_memory().expect("open");
            let mut capture = Capture::install(&mut conn);
            let call = inbox.routed.recv().expect("call");
            let after = (call.work)(Ok(&mut SqliteSession {
                conn: &conn,
                capture: &mut capture,
                made_due: false,
                alone: Some(&mut Default::default()),
            }));
            seen.store(true, Ordering::SeqCst);
            after.expect("waits for the commit")(Ok(()));
            capture.uninstall(&mut conn);
        });
        let result = writer.call(ExecId::random(), TxControl::None, true, |session| {
            session
                .sqlite()
                .expect("SQLite")
                .query_row("SELECT 41 + 1", [], |row| row.get::<_, i64>(0))
                .map_err(|e| e.to_string())
        });
        assert_eq!(result, Ok(42));
        assert!(committed.load(Ordering::SeqCst));
        store_thread.join().expect("join");
    }
}
