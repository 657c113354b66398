//! The store thread's connection: the one that writes. It keeps a transaction open while
//! executions' calls run in it, and commits it with the records that arrived meanwhile (group
//! commit). An execution's `ctx.db.transaction` is a savepoint inside it; calls of other
//! executions are held until that savepoint is released or rolled back, or fail after
//! [`LOCK_WAIT`].
//!
//! The transaction's state is one value ([`Tx`]): either none is open, or one is, with the
//! executions that wrote in it, the replies waiting for its commit and, at most one at a time,
//! an execution's own transaction inside it. What must hold whatever the calls do (one owner of
//! an execution's transaction, its savepoint depth, a call of an execution whose writes were
//! undone never reported as a success, no commit of the store thread inside an execution's
//! transaction) is checked in every build, and a call that would break it fails instead.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::writer::{busy_message, AfterCommit, SqlCall, SqliteSession, TxControl, LOCK_WAIT};
use super::{user_sql, Capture, JobClaims, Result, Store, StoreError, WriteGuard, WriteLock};
use crate::record::ExecId;

const SAVEPOINT: &str = "flux_user_transaction";

/// How long an execution is remembered as having lost its writes when no record of it
/// arrives to end that (an API call has none): a bound on what is kept, not a timeout.
const LOST_KEPT: Duration = Duration::from_secs(600);

/// How long commits wait for the record of an atomic attempt that has committed its writes.
const RECORD_WAIT: Duration = Duration::from_secs(1);

/// What serving calls did to the open transaction.
#[must_use = "an undone transaction takes the store thread's own writes with it"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The calls ran, or wait for another execution's transaction.
    Kept,
    /// A statement rolled back everything since the last commit (`ON CONFLICT ROLLBACK`,
    /// `RAISE(ROLLBACK)`): the store thread makes its own writes again, then releases the held
    /// calls ([`Batch::release_held`]).
    Undone,
}

pub struct Batch {
    conn: Connection,
    capture: Capture,
    lock: WriteLock,
    tx: Tx,
    /// Calls of other executions waiting for an execution's transaction to end, with when they
    /// give up. With callers waiting for a commit they stay held after it ends, until the store
    /// thread has committed and releases them.
    held: VecDeque<(SqlCall, Instant)>,
    /// Executions whose writes an undone transaction took with it, and why. Every later call
    /// of theirs fails, so none of them reports success and none of their later writes
    /// commits without the earlier ones; their record ends it ([`Batch::forget`]).
    lost: HashMap<ExecId, (String, Instant)>,
    /// Whether the schema declares a deferred foreign key ([`user_sql::run_alone`]).
    deferred_keys: user_sql::DeferredKeys,
}

/// The store thread's transaction.
enum Tx {
    /// None is open: other writers of this process may write.
    Idle,
    Open(OpenTx),
}

struct OpenTx {
    /// Held while the transaction is open, so that other writers of this process wait.
    _guard: WriteGuard,
    opened_at: Instant,
    /// Executions that changed rows in it: should it be undone, each must learn that its
    /// writes are gone.
    writers: HashSet<ExecId>,
    /// Replies waiting for its commit.
    after_commit: Vec<AfterCommit>,
    /// The execution whose `ctx.db.transaction` is open in it: nothing commits until it ends.
    user: Option<UserTx>,
    /// An atomic attempt committed its transaction and its record is on its way: nothing
    /// commits before it arrives (or the deadline passes, should its engine have died).
    awaiting_record: Option<(ExecId, Instant)>,
    /// A call wrote in it what may make a job due (an enqueue, a replay): jobs it made due may
    /// not start before it commits.
    made_due: bool,
}

/// An execution's transaction: savepoints in the open transaction, all of one owner.
struct UserTx {
    owner: ExecId,
    /// Savepoints the owner has open: an atomic job attempt's own, and its
    /// `ctx.db.transaction` inside it.
    depth: NonZeroUsize,
    /// A deferred foreign key was unresolved when it began (none should be): it is not the
    /// transaction's to answer for at its end ([`release`]).
    unresolved_at_begin: bool,
}

/// How one call ended, for what must follow it.
enum Ran {
    Done,
    /// It ended its execution's transaction: the calls held for it may run.
    Unblocked,
    /// A statement of it rolled back the whole transaction.
    Undone,
}

impl Batch {
    pub fn new(store: &Store) -> Result<Batch> {
        let mut conn = store.connect()?;
        let capture = Capture::install(&mut conn);
        Ok(Batch {
            conn,
            capture,
            lock: store.write_lock().clone(),
            tx: Tx::Idle,
            held: VecDeque::new(),
            lost: HashMap::new(),
            deferred_keys: user_sql::DeferredKeys::default(),
        })
    }

    /// For reads; they see the uncommitted writes of the open transaction.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn open_tx(&self) -> Option<&OpenTx> {
        match &self.tx {
            Tx::Open(open) => Some(open),
            Tx::Idle => None,
        }
    }

    fn user(&self) -> Option<&UserTx> {
        self.open_tx()?.user.as_ref()
    }

    /// When the open transaction began, if one is open.
    pub fn opened_at(&self) -> Option<Instant> {
        self.open_tx().map(|open| open.opened_at)
    }

    /// An execution's transaction is open: nothing may commit until it ends.
    pub fn in_user_transaction(&self) -> bool {
        self.user().is_some()
    }

    /// Callers are waiting for the next commit.
    pub fn has_waiters(&self) -> bool {
        self.open_tx()
            .is_some_and(|open| !open.after_commit.is_empty())
    }

    /// When the first held call gives up waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.held.iter().map(|(_, deadline)| *deadline).min()
    }

    /// Whether the open transaction holds an enqueue or a replay, which may have made jobs
    /// due that are not committed yet.
    pub fn holds_due_writes(&self) -> bool {
        self.open_tx().is_some_and(|open| open.made_due)
    }

    /// Executions whose writes are in the open transaction.
    pub fn writers(&self) -> impl Iterator<Item = ExecId> + '_ {
        self.open_tx()
            .into_iter()
            .flat_map(|open| open.writers.iter().copied())
    }

    /// Whether `owner`'s calls must wait: another execution's transaction is open.
    fn blocks(&self, owner: ExecId) -> bool {
        self.user().is_some_and(|user| user.owner != owner)
    }

    fn open(&mut self) -> Result<()> {
        if let Tx::Open(_) = self.tx {
            return Ok(());
        }
        let guard = self.lock.lock();
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        self.tx = Tx::Open(OpenTx {
            _guard: guard,
            opened_at: Instant::now(),
            writers: HashSet::new(),
            after_commit: Vec::new(),
            user: None,
            awaiting_record: None,
            made_due: false,
        });
        Ok(())
    }

    /// Runs `call` now, or holds it while another execution's transaction is open.
    pub fn serve(&mut self, call: SqlCall) -> Served {
        if self.blocks(call.owner) {
            let waited = Instant::now() + LOCK_WAIT;
            let gives_up = call
                .deadline
                .map_or(waited, |deadline| deadline.min(waited));
            self.held.push_back((call, gives_up));
            return Served::Kept;
        }
        match self.run(call) {
            Ran::Undone => Served::Undone,
            // With callers waiting for the commit, the store thread commits first, then
            // releases: otherwise a held transaction could open and hold their replies back.
            Ran::Unblocked if !self.has_waiters() => self.release_held(),
            Ran::Unblocked | Ran::Done => Served::Kept,
        }
    }

    /// Runs a call that may run now (see [`Batch::blocks`]).
    fn run(&mut self, call: SqlCall) -> Ran {
        let SqlCall {
            owner,
            control,
            work,
            ..
        } = call;
        let ready = match self.lost.get(&owner) {
            Some((reason, _)) => Err(reason.clone()),
            None => self
                .open()
                .map_err(|e| e.to_string())
                .and_then(|()| self.control(owner, control)),
        };
        match ready {
            Ok(()) => {
                let changes_before = self.conn.total_changes();
                let in_transaction = self.user().is_some_and(|user| user.owner == owner);
                self.capture.begin_statement();
                let mut session = SqliteSession {
                    conn: &self.conn,
                    capture: &mut self.capture,
                    made_due: false,
                    alone: (!in_transaction).then_some(&mut self.deferred_keys),
                };
                let after = work(Ok(&mut session));
                if let (true, Tx::Open(open)) = (session.made_due, &mut self.tx) {
                    open.made_due = true;
                }
                let wrote = self.conn.total_changes() != changes_before;
                self.settle_reply(owner, wrote, after);
            }
            Err(reason) => {
                // Refused: a reply waiting for the commit would report a success.
                if let Some(after) = work(Err(reason.clone())) {
                    after(Err(reason));
                }
            }
        }
        if matches!(self.tx, Tx::Open(_)) && self.conn.is_autocommit() {
            self.statement_rolled_back(owner);
            return Ran::Undone;
        }
        let ends = matches!(
            control,
            TxControl::Commit | TxControl::CommitWithRecord | TxControl::Rollback
        );
        if ends && !self.in_user_transaction() {
            Ran::Unblocked
        } else {
            Ran::Done
        }
    }

    /// Notes a writer, and answers its caller now or with the commit that stores its writes.
    fn settle_reply(&mut self, owner: ExecId, wrote: bool, after: Option<AfterCommit>) {
        let Tx::Open(open) = &mut self.tx else {
            // No transaction to wait for: what it wrote is committed already.
            if let Some(after) = after {
                after(Ok(()));
            }
            return;
        };
        if wrote {
            open.writers.insert(owner);
        }
        if let Some(after) = after {
            if open.writers.contains(&owner) {
                open.after_commit.push(after);
            } else {
                // Nothing of the caller's waits for a commit: its writes are committed already.
                after(Ok(()));
            }
        }
    }

    /// ON CONFLICT ROLLBACK or RAISE(ROLLBACK) in a statement of `owner` ended the whole
    /// transaction.
    fn statement_rolled_back(&mut self, owner: ExecId) {
        eprintln!(
            "warning: a statement of execution {owner} rolled back the store's open \
             transaction: the executions that wrote in it since the last commit fail"
        );
        if let Tx::Open(open) = &mut self.tx {
            // Its own transaction is gone too: none of its later writes may commit alone.
            if open.user.as_ref().is_some_and(|user| user.owner == owner) {
                open.writers.insert(owner);
            }
        }
        self.undo(format!(
            "its writes since the last commit were undone: a statement of execution \
             {owner} rolled back the store's shared transaction (ON CONFLICT ROLLBACK or \
             RAISE(ROLLBACK))"
        ));
    }

    /// Why `exec`'s writes were undone, if they were.
    pub fn lost(&self, exec: ExecId) -> Option<&str> {
        self.lost.get(&exec).map(|(reason, _)| reason.as_str())
    }

    /// `exec`'s record is stored: it makes no more calls.
    pub fn forget(&mut self, exec: ExecId) {
        if !self.lost.is_empty() {
            self.lost.remove(&exec);
        }
    }

    /// `exec`'s record has reached the store thread.
    pub fn record_arrived(&mut self, exec: ExecId) {
        if let Tx::Open(open) = &mut self.tx {
            if open.awaiting_record.is_some_and(|(owner, _)| owner == exec) {
                open.awaiting_record = None;
            }
        }
    }

    /// Until when nothing may commit: an atomic attempt's record is on its way.
    pub fn record_awaited_until(&self) -> Option<Instant> {
        self.open_tx()?
            .awaiting_record
            .map(|(_, until)| until)
            .filter(|until| *until > Instant::now())
    }

    /// The open transaction is over: lets other writers in, and hands back who wrote in it
    /// and who waits for its commit.
    fn close_tx(&mut self) -> Option<(HashSet<ExecId>, Vec<AfterCommit>)> {
        let Tx::Open(open) = std::mem::replace(&mut self.tx, Tx::Idle) else {
            return None;
        };
        let OpenTx {
            _guard: guard,
            writers,
            after_commit,
            ..
        } = open;
        drop(guard);
        Some((writers, after_commit))
    }

    /// The open transaction is gone: every execution that wrote in it learns why, now (if it
    /// waits for the commit) or at its next call.
    fn undo(&mut self, reason: String) {
        // The schema's version went back with it (see `DeferredKeys`).
        self.deferred_keys.forget();
        let now = Instant::now();
        self.lost
            .retain(|_, (_, since)| now.duration_since(*since) < LOST_KEPT);
        let Some((writers, after_commit)) = self.close_tx() else {
            return;
        };
        for exec in writers {
            self.lost.insert(exec, (reason.clone(), now));
        }
        for after in after_commit {
            after(Err(reason.clone()));
        }
    }

    /// Runs what `control` does to `owner`'s transaction, in the open transaction.
    fn control(&mut self, owner: ExecId, control: TxControl) -> Result<(), String> {
        let Tx::Open(open) = &mut self.tx else {
            return Err("the store has no transaction open".into());
        };
        let conn = &self.conn;
        let sql = |sql: &str| conn.execute_batch(sql).map_err(|e| e.to_string());
        match control {
            TxControl::None => Ok(()),
            TxControl::Begin => {
                let (depth, unresolved_at_begin) = match &open.user {
                    None => (NonZeroUsize::MIN, user_sql::foreign_keys_unresolved(conn)),
                    Some(user) if user.owner == owner => {
                        (user.depth.saturating_add(1), user.unresolved_at_begin)
                    }
                    // Its calls are held while another's is open: never two owners at once.
                    Some(user) => {
                        return Err(format!(
                            "execution {}'s transaction is open; another cannot begin",
                            user.owner
                        ))
                    }
                };
                sql(&format!("SAVEPOINT {SAVEPOINT}"))?;
                open.user = Some(UserTx {
                    owner,
                    depth,
                    unresolved_at_begin,
                });
                Ok(())
            }
            TxControl::Commit | TxControl::CommitWithRecord | TxControl::Rollback
                if open.user.as_ref().map(|user| user.owner) != Some(owner) =>
            {
                Err("no transaction is open".into())
            }
            TxControl::CommitWithRecord => {
                let released = release(conn, open.user.as_ref());
                if released.is_ok() {
                    open.awaiting_record = Some((owner, Instant::now() + RECORD_WAIT));
                }
                close_savepoint(&mut open.user);
                released
            }
            TxControl::Commit => {
                let released = release(conn, open.user.as_ref());
                close_savepoint(&mut open.user);
                released
            }
            TxControl::Rollback => {
                roll_back_savepoint(conn);
                close_savepoint(&mut open.user);
                Ok(())
            }
        }
    }

    /// Rolls back every savepoint of the open execution transaction.
    fn roll_back_owner(&mut self) {
        if let Tx::Open(open) = &mut self.tx {
            while open.user.is_some() {
                roll_back_savepoint(&self.conn);
                close_savepoint(&mut open.user);
            }
        }
    }

    /// Serves the calls held for a transaction that has ended, in order (one may open the
    /// next transaction and hold those after it again).
    pub fn release_held(&mut self) -> Served {
        let mut served = Served::Kept;
        let mut next = 0;
        while next < self.held.len() {
            if self.blocks(self.held[next].0.owner) {
                next += 1;
                continue;
            }
            let Some((call, _)) = self.held.remove(next) else {
                break;
            };
            match self.run(call) {
                // It ended a transaction that held calls before it: they go first.
                Ran::Unblocked if !self.has_waiters() => next = 0,
                Ran::Undone => served = Served::Undone,
                Ran::Unblocked | Ran::Done => {}
            }
        }
        served
    }

    /// Fails the held calls that waited too long.
    pub fn expire_held(&mut self, now: Instant) {
        let (expired, waiting): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(_, deadline)| *deadline <= now);
        self.held = waiting;
        for (call, _) in expired {
            if let Some(after) = (call.work)(Err(busy_message())) {
                after(Err(busy_message()));
            }
        }
    }

    /// The store thread writes only outside executions' transactions: rolling one back would
    /// undo its writes, committing would commit half of it.
    fn refuse_in_user_transaction(&self) -> Result<()> {
        match self.user() {
            Some(user) => Err(StoreError::TransactionOpen { owner: user.owner }),
            None => Ok(()),
        }
    }

    /// Runs `write` in the open transaction, opening one if needed; it commits with the next
    /// [`Batch::commit_with`]. Refused while an execution's transaction is open.
    pub fn write<T>(&mut self, write: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.refuse_in_user_transaction()?;
        self.open()?;
        write(&self.conn)
    }

    /// Runs `write` in the open transaction (opening one if needed) and commits, then answers
    /// the callers waiting for it. On failure everything since the last commit is undone, and
    /// those callers are told. Refused (nothing undone) while an execution's transaction is
    /// open.
    pub fn commit_with<T>(&mut self, write: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.refuse_in_user_transaction()?;
        let result = self.open().and_then(|()| {
            let value = write(&self.conn)?;
            self.conn.execute_batch("COMMIT")?;
            Ok(value)
        });
        match result {
            Ok(value) => {
                for after in self.close_tx().map(|(_, after)| after).unwrap_or_default() {
                    after(Ok(()));
                }
                Ok(value)
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                self.undo(format!(
                    "its writes since the last commit were undone: the store could not \
                     commit ({e})"
                ));
                Err(e)
            }
        }
    }

    /// After a failed commit, with no transaction open: moves the WAL into the database file
    /// and truncates it, so that on a full disk the room the WAL took is free again.
    pub fn checkpoint_after_failure(&mut self) {
        if let Tx::Open(_) = self.tx {
            return;
        }
        let _guard = self.lock.lock();
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// Rolls back an execution's transaction that nobody can end any more (its engine is
    /// gone), and serves the calls it held.
    pub fn end_orphaned_transaction(&mut self) -> Served {
        if !self.in_user_transaction() {
            return Served::Kept;
        }
        self.roll_back_owner();
        self.release_held()
    }

    /// At shutdown, once no execution runs: undoes a transaction left open, commits the rest.
    pub fn close(mut self) {
        for (call, _) in std::mem::take(&mut self.held) {
            let _ = (call.work)(Err("flux dev is stopping".into()));
        }
        self.roll_back_owner();
        if let Tx::Open(_) = self.tx {
            let _ = self.commit_with(|_| Ok(()));
        }
        self.capture.uninstall(&mut self.conn);
    }
}

/// The store thread's transaction as a [`super::Scheduler`] uses it: it reads, and writes in
/// the open transaction (committed with the next commit), but neither commits nor serves calls.
pub struct WriteTx<'a>(&'a mut Batch);

impl Batch {
    /// Lends the open transaction (opened at the first write) for reads and writes only.
    pub fn write_tx(&mut self) -> WriteTx<'_> {
        WriteTx(self)
    }
}

impl WriteTx<'_> {
    /// For reads; they see the uncommitted writes of the open transaction.
    pub fn claims(&self) -> &dyn JobClaims {
        self.0.conn()
    }

    /// Claims that write, in the open transaction (see [`Batch::write`]).
    pub fn write<T>(&mut self, write: impl FnOnce(&dyn JobClaims) -> Result<T>) -> Result<T> {
        self.0.write(|conn| write(conn))
    }
}

/// Ends the innermost savepoint of an execution's transaction (nested ones share its name),
/// or rolls it back if that fails. Its outermost is its COMMIT: one that leaves a deferred
/// foreign key unresolved is rolled back and fails there, as a COMMIT would, rather than
/// failing the store's shared commit, and with it every other caller's writes in it.
fn release(conn: &Connection, user: Option<&UserTx>) -> Result<(), String> {
    let answers_for_keys =
        user.is_some_and(|user| user.depth.get() == 1 && !user.unresolved_at_begin);
    if answers_for_keys && user_sql::foreign_keys_unresolved(conn) {
        roll_back_savepoint(conn);
        return Err(UNRESOLVED_FOREIGN_KEY.into());
    }
    let released = conn
        .execute_batch(&format!("RELEASE {SAVEPOINT}"))
        .map_err(|e| e.to_string());
    if released.is_err() {
        roll_back_savepoint(conn);
    }
    released
}

const UNRESOLVED_FOREIGN_KEY: &str = "FOREIGN KEY constraint failed: the transaction left a \
    deferred foreign key unresolved at its end, and was rolled back";

fn roll_back_savepoint(conn: &Connection) {
    let _ = conn.execute_batch(&format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"));
}

/// One savepoint of the execution's transaction is gone; with the last, the transaction.
fn close_savepoint(user: &mut Option<UserTx>) {
    *user = user.take().and_then(|user| {
        NonZeroUsize::new(user.depth.get() - 1).map(|depth| UserTx { depth, ..user })
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crossbeam_channel::{Receiver, TryRecvError};

    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("flux.db")).expect("store");
        store
            .connect()
            .expect("connect")
            .execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY ON CONFLICT ROLLBACK)")
            .expect("schema");
        (dir, store)
    }

    /// A call running `run` on its session after `control`, and where its reply arrives.
    fn reply_call(
        owner: ExecId,
        control: TxControl,
        run: impl FnOnce(&mut (dyn super::super::Lent + '_)) -> Result<(), String> + Send + 'static,
    ) -> (SqlCall, Receiver<Result<(), String>>) {
        let (reply, replies) = crossbeam_channel::bounded(1);
        let work: super::super::writer::Work = Box::new(move |session| {
            let _ = reply.send(session.and_then(run));
            None
        });
        (
            SqlCall {
                owner,
                control,
                deadline: None,
                work,
            },
            replies,
        )
    }

    /// A call running `sql` (if any) after `control`, and where its reply arrives.
    fn call(
        owner: ExecId,
        control: TxControl,
        sql: Option<&'static str>,
    ) -> (SqlCall, Receiver<Result<(), String>>) {
        reply_call(owner, control, move |session| match sql {
            Some(sql) => sqlite(session)
                .execute_batch(sql)
                .map_err(|e| e.to_string()),
            None => Ok(()),
        })
    }

    /// A call running `sql` whose reply waits for the commit of its writes.
    /// The SQLite connection under a session.
    fn sqlite(session: &mut dyn super::super::Lent) -> &rusqlite::Connection {
        session.sqlite().expect("a SQLite session")
    }

    fn durable_call(owner: ExecId, sql: &'static str) -> (SqlCall, Receiver<Result<(), String>>) {
        let (reply, replies) = crossbeam_channel::bounded(1);
        let work: super::super::writer::Work = Box::new(move |session| {
            let outcome = session.and_then(|session| {
                sqlite(session)
                    .execute_batch(sql)
                    .map_err(|e| e.to_string())
            });
            let after: AfterCommit = Box::new(move |committed: Result<(), String>| {
                let _ = reply.send(committed.and(outcome));
            });
            Some(after)
        });
        (
            SqlCall {
                owner,
                control: TxControl::None,
                deadline: None,
                work,
            },
            replies,
        )
    }

    /// Serves a call that must leave the open transaction in place.
    fn serve(batch: &mut Batch, call: SqlCall) {
        assert_eq!(batch.serve(call), Served::Kept);
    }

    fn ids(store: &Store) -> Vec<String> {
        let conn = store.connect().expect("connect");
        let mut stmt = conn.prepare("SELECT id FROM t ORDER BY id").expect("query");
        let rows = stmt.query_map([], |row| row.get(0)).expect("rows");
        rows.collect::<rusqlite::Result<_>>().expect("ids")
    }

    /// A call that runs `work` on its session's caller writes.
    fn caller_call(
        owner: ExecId,
        work: impl FnOnce(&mut (dyn super::super::Lent + '_)) + Send + 'static,
    ) -> SqlCall {
        SqlCall {
            owner,
            control: TxControl::None,
            deadline: None,
            work: Box::new(move |session| {
                work(session.expect("a session"));
                None
            }),
        }
    }

    fn enqueue(writes: &dyn super::super::CallerWrites) -> Result<(), String> {
        let options = super::super::EnqueueOptions::default();
        writes
            .enqueue("job", &serde_json::json!({}), &options, 3, None, 1)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn only_a_kept_enqueue_or_replay_holds_claims_until_its_commit() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let note = caller_call(ExecId::random(), |session| {
            let noted = session.writes(|writes| writes.note_token_used("t", 1));
            assert!(matches!(noted, Ok(Ok(()))), "{noted:?}");
        });
        serve(&mut batch, note);
        assert!(!batch.holds_due_writes(), "a token's use makes no job due");
        let undone = caller_call(ExecId::random(), |session| {
            let undone = session
                .atomically(|writes| enqueue(writes).and(Err::<(), _>("undone".to_string())));
            assert!(matches!(undone, Ok(Err(_))), "{undone:?}");
        });
        serve(&mut batch, undone);
        assert!(
            !batch.holds_due_writes(),
            "an enqueue rolled back made nothing due"
        );
        // The API's enqueues are atomic, the JS host's are not; a replay makes a dead job due.
        let made_due: [fn(&mut (dyn super::super::Lent + '_)); 3] = [
            |session| assert!(matches!(session.atomically(enqueue), Ok(Ok(())))),
            |session| assert!(matches!(session.writes(enqueue), Ok(Ok(())))),
            |session| {
                let replayed = session.atomically(|writes| {
                    let found = writes.find_job("").map_err(|e| e.to_string())?;
                    let super::super::JobLookup::Found(job) = found else {
                        return Err(format!("no one dead job: {found:?}"));
                    };
                    writes.replay(&job, 3, 1, None).map_err(|e| e.to_string())
                });
                assert!(matches!(replayed, Ok(Ok(_))), "{replayed:?}");
            },
        ];
        for (n, write) in made_due.into_iter().enumerate() {
            if n == 2 {
                // One job left, dead.
                let sql = "DELETE FROM _flux_jobs WHERE rowid > 1;
                           UPDATE _flux_jobs SET state = 'dead'";
                batch
                    .commit_with(|conn| Ok(conn.execute_batch(sql)?))
                    .expect("a dead job");
            }
            serve(&mut batch, caller_call(ExecId::random(), write));
            assert!(batch.holds_due_writes(), "write {n} is not committed yet");
            batch.commit_with(|_| Ok(())).expect("commit");
            assert!(!batch.holds_due_writes(), "committed: its job may start");
        }
        batch.close();
    }

    #[test]
    fn others_wait_for_an_open_transaction_and_survive_its_rollback() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        let (begin, _) = call(a, TxControl::Begin, None);
        serve(&mut batch, begin);
        let (insert_a, a_done) = call(a, TxControl::None, Some("INSERT INTO t VALUES ('a')"));
        serve(&mut batch, insert_a);
        assert_eq!(a_done.try_recv(), Ok(Ok(())));
        let (insert_b, b_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b')"));
        serve(&mut batch, insert_b);
        assert_eq!(
            b_done.try_recv(),
            Err(TryRecvError::Empty),
            "b runs after a's transaction"
        );
        let (rollback, _) = call(a, TxControl::Rollback, None);
        serve(&mut batch, rollback);
        assert_eq!(b_done.try_recv(), Ok(Ok(())));
        batch.commit_with(|_| Ok(())).expect("commit");
        assert_eq!(ids(&store), ["b"]);
        batch.close();
    }

    #[test]
    fn a_held_call_gives_up_at_its_execution_s_deadline_when_that_comes_first() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        let (mut insert_b, b_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b')"));
        let deadline = Instant::now() + Duration::from_secs(2);
        insert_b.deadline = Some(deadline);
        serve(&mut batch, insert_b);
        assert_eq!(batch.next_deadline(), Some(deadline));
        batch.expire_held(deadline + Duration::from_millis(1));
        assert!(
            matches!(b_done.try_recv(), Ok(Err(_))),
            "it gave up at its deadline"
        );
        batch.close();
        assert!(ids(&store).is_empty(), "its write never landed");
    }

    #[test]
    fn a_held_call_gives_up_after_the_lock_wait() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        let (insert_b, b_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b')"));
        serve(&mut batch, insert_b);
        batch.expire_held(Instant::now() + LOCK_WAIT - Duration::from_secs(1));
        assert_eq!(b_done.try_recv(), Err(TryRecvError::Empty));
        batch.expire_held(Instant::now() + LOCK_WAIT + Duration::from_secs(1));
        assert_eq!(b_done.try_recv(), Ok(Err(busy_message())));
        batch.close();
        assert!(ids(&store).is_empty());
    }

    #[test]
    fn a_statement_that_rolls_back_everything_is_noticed_and_waiters_told() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (x, y) = (ExecId::random(), ExecId::random());
        let (insert_x, waiter) = durable_call(x, "INSERT INTO t VALUES ('x')");
        serve(&mut batch, insert_x);
        assert_eq!(
            waiter.try_recv(),
            Err(TryRecvError::Empty),
            "x waits for the commit"
        );
        assert!(batch.has_waiters());
        let (conflict, failed) = call(y, TxControl::None, Some("INSERT INTO t VALUES ('x')"));
        assert_eq!(batch.serve(conflict), Served::Undone);
        assert!(matches!(failed.try_recv(), Ok(Err(_))));
        assert!(
            matches!(waiter.try_recv(), Ok(Err(_))),
            "the waiter learns its write is gone"
        );
        assert!(!batch.has_waiters());
        assert_eq!(batch.opened_at(), None, "no transaction is open any more");
        serve(
            &mut batch,
            call(y, TxControl::None, Some("SELECT * FROM t")).0,
        );
        batch.close();
        assert!(ids(&store).is_empty());
    }

    #[test]
    fn a_transaction_rolled_back_by_its_statement_refuses_later_writes_and_frees_others() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        serve(
            &mut batch,
            call(a, TxControl::None, Some("INSERT INTO t VALUES ('a')")).0,
        );
        let (insert_b, b_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b')"));
        serve(&mut batch, insert_b);
        let (conflict, failed) = call(a, TxControl::None, Some("INSERT INTO t VALUES ('a')"));
        assert_eq!(batch.serve(conflict), Served::Undone);
        assert!(matches!(failed.try_recv(), Ok(Err(_))));
        assert!(!batch.in_user_transaction());
        assert_eq!(
            b_done.try_recv(),
            Err(TryRecvError::Empty),
            "held until the store thread has made its own writes again"
        );
        assert_eq!(batch.release_held(), Served::Kept);
        assert_eq!(b_done.try_recv(), Ok(Ok(())), "b no longer waits");
        let (after, refused) = call(a, TxControl::None, Some("INSERT INTO t VALUES ('late')"));
        serve(&mut batch, after);
        assert!(
            matches!(refused.try_recv(), Ok(Err(reason)) if reason.contains("rolled back the store's shared transaction")),
            "a's later writes fail"
        );
        let (rollback, rolled_back) = call(a, TxControl::Rollback, None);
        serve(&mut batch, rollback);
        assert!(
            matches!(rolled_back.try_recv(), Ok(Err(_))),
            "nothing left to roll back"
        );
        batch.commit_with(|_| Ok(())).expect("commit");
        assert_eq!(ids(&store), ["b"]);
        batch.close();
    }

    #[test]
    fn a_writer_whose_writes_another_statement_undid_fails_its_later_calls_until_forgotten() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (x, y, reader) = (ExecId::random(), ExecId::random(), ExecId::random());
        let (insert_x, x_done) = call(x, TxControl::None, Some("INSERT INTO t VALUES ('x')"));
        serve(&mut batch, insert_x);
        assert_eq!(x_done.try_recv(), Ok(Ok(())));
        serve(
            &mut batch,
            call(reader, TxControl::None, Some("SELECT * FROM t")).0,
        );
        // y's conflict undoes x's insert while x is not waiting for anything.
        let conflict = call(y, TxControl::None, Some("INSERT INTO t VALUES ('x')")).0;
        assert_eq!(batch.serve(conflict), Served::Undone);
        assert!(batch.lost(x).is_some());
        assert!(batch.lost(reader).is_none(), "a reader lost nothing");
        // x's sync before its response: it must not succeed at the next commit.
        let (sync, synced) = call(x, TxControl::None, None);
        serve(&mut batch, sync);
        assert!(
            matches!(synced.try_recv(), Ok(Err(reason)) if reason.contains("undone")),
            "x learns its write is gone"
        );
        batch.commit_with(|_| Ok(())).expect("commit");
        assert!(ids(&store).is_empty());
        batch.forget(x);
        let (again, again_done) = call(x, TxControl::None, Some("INSERT INTO t VALUES ('x2')"));
        serve(&mut batch, again);
        assert_eq!(again_done.try_recv(), Ok(Ok(())));
        batch.close();
    }

    #[test]
    fn a_failed_commit_fails_every_writer_in_it() {
        let (_dir, store) = store();
        with_deferred_foreign_key(&store);
        let mut batch = Batch::new(&store).expect("batch");
        let (good, bad) = (ExecId::random(), ExecId::random());
        serve(
            &mut batch,
            call(good, TxControl::None, Some("INSERT INTO t VALUES ('good')")).0,
        );
        // A deferred foreign key is only checked at the outer COMMIT.
        let (orphan, orphan_done) = call(
            bad,
            TxControl::None,
            Some("INSERT INTO child VALUES ('c', 'missing')"),
        );
        serve(&mut batch, orphan);
        assert_eq!(orphan_done.try_recv(), Ok(Ok(())));
        assert!(batch.commit_with(|_| Ok(())).is_err());
        assert!(batch.lost(good).is_some() && batch.lost(bad).is_some());
        let (sync, synced) = call(good, TxControl::None, None);
        serve(&mut batch, sync);
        assert!(
            matches!(synced.try_recv(), Ok(Err(reason)) if reason.contains("could not commit"))
        );
        batch.close();
        assert!(ids(&store).is_empty());
    }

    /// A call running `sql` (if any) after `control` as a function's statement (`ctx.db`), and
    /// where its reply arrives.
    fn statement_call(
        owner: ExecId,
        control: TxControl,
        sql: Option<&'static str>,
    ) -> (SqlCall, Receiver<Result<(), String>>) {
        reply_call(owner, control, move |session| {
            let limits = super::super::statement::Limits {
                stop: std::sync::Arc::new(|| None),
                deadline_ns: 0,
                max_result_bytes: 1 << 20,
                flushed_by_record: false,
            };
            match sql {
                Some(sql) => session
                    .statement(sql, &[], &limits, None, 0)
                    .0
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            }
        })
    }

    fn with_deferred_foreign_key(store: &Store) {
        store
            .connect()
            .expect("connect")
            .execute_batch(
                "CREATE TABLE parent (id TEXT PRIMARY KEY);
                 CREATE TABLE child (id TEXT PRIMARY KEY,
                   parent TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .expect("schema");
    }

    fn children(store: &Store) -> Vec<String> {
        let conn = store.connect().expect("connect");
        let mut stmt = conn
            .prepare("SELECT id FROM child ORDER BY id")
            .expect("query");
        let rows = stmt.query_map([], |row| row.get(0)).expect("rows");
        rows.collect::<rusqlite::Result<_>>().expect("ids")
    }

    #[test]
    fn a_lone_statement_leaving_a_deferred_foreign_key_fails_alone() {
        let (_dir, store) = store();
        with_deferred_foreign_key(&store);
        let mut batch = Batch::new(&store).expect("batch");
        let (good, bad) = (ExecId::random(), ExecId::random());
        let (first, first_done) = statement_call(
            good,
            TxControl::None,
            Some("INSERT INTO t VALUES ('before')"),
        );
        serve(&mut batch, first);
        let (orphan, orphan_done) = statement_call(
            bad,
            TxControl::None,
            Some("INSERT INTO child VALUES ('c', 'missing')"),
        );
        serve(&mut batch, orphan);
        assert!(
            matches!(orphan_done.try_recv(), Ok(Err(e)) if e.contains("FOREIGN KEY")),
            "the statement fails as its own commit would"
        );
        let (after, after_done) = statement_call(
            good,
            TxControl::None,
            Some("INSERT INTO t VALUES ('after')"),
        );
        serve(&mut batch, after);
        assert_eq!(first_done.try_recv(), Ok(Ok(())));
        assert_eq!(after_done.try_recv(), Ok(Ok(())));
        batch.commit_with(|_| Ok(())).expect("the shared commit");
        assert_eq!(ids(&store), ["after", "before"]);
        assert!(children(&store).is_empty());
        batch.close();
    }

    #[test]
    fn a_failed_statement_that_kept_an_orphan_takes_it_back() {
        // OR FAIL keeps the rows before the failing one: here an orphan.
        let (_dir, store) = store();
        with_deferred_foreign_key(&store);
        let mut batch = Batch::new(&store).expect("batch");
        let (bad, good) = (ExecId::random(), ExecId::random());
        let (insert, failed) = statement_call(
            bad,
            TxControl::None,
            Some("INSERT OR FAIL INTO child VALUES ('c', 'missing'), ('c', 'missing')"),
        );
        serve(&mut batch, insert);
        assert!(matches!(failed.try_recv(), Ok(Err(e)) if e.contains("UNIQUE")));
        serve(
            &mut batch,
            statement_call(good, TxControl::None, Some("INSERT INTO t VALUES ('good')")).0,
        );
        batch.commit_with(|_| Ok(())).expect("the shared commit");
        assert_eq!(ids(&store), ["good"]);
        assert!(children(&store).is_empty());
        batch.close();
    }

    #[test]
    fn a_transaction_leaving_a_deferred_foreign_key_fails_at_its_end_alone() {
        let (_dir, store) = store();
        with_deferred_foreign_key(&store);
        let mut batch = Batch::new(&store).expect("batch");
        let (good, bad, mended) = (ExecId::random(), ExecId::random(), ExecId::random());
        serve(
            &mut batch,
            statement_call(good, TxControl::None, Some("INSERT INTO t VALUES ('good')")).0,
        );
        // Within a transaction the check waits for its end: a later statement may resolve it,
        // and a nested transaction's end is not the end.
        serve(&mut batch, statement_call(mended, TxControl::Begin, None).0);
        serve(
            &mut batch,
            statement_call(
                mended,
                TxControl::None,
                Some("INSERT INTO child VALUES ('c1', 'p1')"),
            )
            .0,
        );
        serve(&mut batch, statement_call(mended, TxControl::Begin, None).0);
        let (inner, inner_done) = statement_call(mended, TxControl::Commit, None);
        serve(&mut batch, inner);
        assert_eq!(inner_done.try_recv(), Ok(Ok(())));
        serve(
            &mut batch,
            statement_call(
                mended,
                TxControl::None,
                Some("INSERT INTO parent VALUES ('p1')"),
            )
            .0,
        );
        let (commit, committed) = statement_call(mended, TxControl::Commit, None);
        serve(&mut batch, commit);
        assert_eq!(committed.try_recv(), Ok(Ok(())));
        // Left unresolved at its end, it is rolled back, and fails there.
        serve(&mut batch, statement_call(bad, TxControl::Begin, None).0);
        serve(
            &mut batch,
            statement_call(
                bad,
                TxControl::None,
                Some("INSERT INTO child VALUES ('c2', 'missing')"),
            )
            .0,
        );
        let (commit, refused) = statement_call(bad, TxControl::Commit, None);
        serve(&mut batch, commit);
        assert!(matches!(refused.try_recv(), Ok(Err(e)) if e.contains("FOREIGN KEY")));
        assert!(!batch.in_user_transaction());
        batch.commit_with(|_| Ok(())).expect("the shared commit");
        assert_eq!(ids(&store), ["good"]);
        assert_eq!(children(&store), ["c1"]);
        batch.close();
    }

    #[test]
    fn a_deferred_key_added_after_an_undone_schema_change_is_still_checked() {
        // The schema's version goes back with an undone transaction: a different schema may
        // come to the version the lookup was kept at.
        let (_dir, store) = store();
        store
            .connect()
            .expect("connect")
            .execute_batch(
                "CREATE TABLE parent (id TEXT PRIMARY KEY); INSERT INTO t VALUES ('taken');",
            )
            .expect("schema");
        let mut batch = Batch::new(&store).expect("batch");
        let (maker, conflict, orphan, bystander) = (
            ExecId::random(),
            ExecId::random(),
            ExecId::random(),
            ExecId::random(),
        );
        // A lone table made, then a lone statement looks the schema up: no deferred key.
        for sql in ["CREATE TABLE scratch (x)", "INSERT INTO scratch VALUES (1)"] {
            serve(
                &mut batch,
                statement_call(maker, TxControl::None, Some(sql)).0,
            );
        }
        let (undo, _) = statement_call(
            conflict,
            TxControl::None,
            Some("INSERT INTO t VALUES ('taken')"),
        );
        assert_eq!(batch.serve(undo), Served::Undone);
        // A migration on another connection adds a deferred key: the version is the kept one.
        store
            .connect()
            .expect("connect")
            .execute_batch(
                "CREATE TABLE child (id TEXT PRIMARY KEY,
                   parent TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .expect("migration");
        let (insert, refused) = statement_call(
            orphan,
            TxControl::None,
            Some("INSERT INTO child VALUES ('c', 'missing')"),
        );
        serve(&mut batch, insert);
        assert!(matches!(refused.try_recv(), Ok(Err(e)) if e.contains("FOREIGN KEY")));
        let (write, written) = statement_call(
            bystander,
            TxControl::None,
            Some("INSERT INTO t VALUES ('kept')"),
        );
        serve(&mut batch, write);
        assert_eq!(written.try_recv(), Ok(Ok(())));
        batch.commit_with(|_| Ok(())).expect("the shared commit");
        assert_eq!(ids(&store), ["kept", "taken"]);
        batch.close();
    }

    #[test]
    fn nested_savepoints_of_one_owner_end_in_order() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        serve(
            &mut batch,
            call(a, TxControl::None, Some("INSERT INTO t VALUES ('outer')")).0,
        );
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        serve(
            &mut batch,
            call(a, TxControl::None, Some("INSERT INTO t VALUES ('inner')")).0,
        );
        serve(&mut batch, call(a, TxControl::Rollback, None).0);
        let (insert_b, b_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b')"));
        serve(&mut batch, insert_b);
        assert_eq!(
            b_done.try_recv(),
            Err(TryRecvError::Empty),
            "the outer one still holds b"
        );
        serve(&mut batch, call(a, TxControl::Commit, None).0);
        assert_eq!(b_done.try_recv(), Ok(Ok(())));
        batch.commit_with(|_| Ok(())).expect("commit");
        assert_eq!(ids(&store), ["b", "outer"]);
        batch.close();
    }

    #[test]
    fn the_transaction_opens_with_a_call_and_closes_with_its_commit() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (reader, writer) = (ExecId::random(), ExecId::random());
        assert_eq!(batch.opened_at(), None);
        serve(
            &mut batch,
            call(reader, TxControl::None, Some("SELECT * FROM t")).0,
        );
        assert!(batch.opened_at().is_some());
        assert_eq!(batch.writers().count(), 0, "a reader wrote nothing");
        let (insert, committed) = durable_call(writer, "INSERT INTO t VALUES ('w')");
        serve(&mut batch, insert);
        assert_eq!(batch.writers().collect::<Vec<_>>(), [writer]);
        assert!(batch.has_waiters());
        assert_eq!(committed.try_recv(), Err(TryRecvError::Empty));
        batch.commit_with(|_| Ok(())).expect("commit");
        assert_eq!(committed.try_recv(), Ok(Ok(())));
        assert_eq!(batch.opened_at(), None);
        assert!(!batch.has_waiters());
        assert_eq!(batch.writers().count(), 0);
        assert_eq!(ids(&store), ["w"]);
        batch.close();
    }

    #[test]
    fn the_store_threads_own_writes_are_refused_inside_an_executions_transaction() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let a = ExecId::random();
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        serve(
            &mut batch,
            call(a, TxControl::None, Some("INSERT INTO t VALUES ('a')")).0,
        );
        let wrote = batch.write(|conn| Ok(conn.execute("INSERT INTO t VALUES ('own')", [])?));
        assert!(
            matches!(wrote, Err(StoreError::TransactionOpen { owner }) if owner == a),
            "{wrote:?}"
        );
        let committed = batch.commit_with(|_| Ok(()));
        assert!(matches!(committed, Err(StoreError::TransactionOpen { .. })));
        assert!(batch.in_user_transaction(), "a's transaction is untouched");
        assert!(batch.lost(a).is_none(), "nothing of a's was undone");
        serve(&mut batch, call(a, TxControl::Commit, None).0);
        batch.commit_with(|_| Ok(())).expect("commit");
        assert_eq!(ids(&store), ["a"]);
        batch.close();
    }

    #[test]
    fn only_the_owner_ends_its_transaction_and_each_begin_needs_its_end() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        let (commit, refused) = call(a, TxControl::Commit, None);
        serve(&mut batch, commit);
        assert_eq!(refused.try_recv(), Ok(Err("no transaction is open".into())));
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        let (b_commit, b_refused) = call(b, TxControl::Commit, None);
        serve(&mut batch, b_commit);
        assert_eq!(
            b_refused.try_recv(),
            Err(TryRecvError::Empty),
            "b waits for a"
        );
        serve(&mut batch, call(a, TxControl::Commit, None).0);
        assert!(batch.in_user_transaction(), "one savepoint is still open");
        serve(&mut batch, call(a, TxControl::Commit, None).0);
        assert!(!batch.in_user_transaction());
        assert_eq!(
            b_refused.try_recv(),
            Ok(Err("no transaction is open".into())),
            "b had none to commit"
        );
        let (again, refused_again) = call(a, TxControl::Rollback, None);
        serve(&mut batch, again);
        assert_eq!(
            refused_again.try_recv(),
            Ok(Err("no transaction is open".into()))
        );
        batch.close();
    }

    #[test]
    fn an_atomic_commit_holds_commits_until_its_record_arrives() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, other) = (ExecId::random(), ExecId::random());
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        serve(
            &mut batch,
            call(a, TxControl::None, Some("INSERT INTO t VALUES ('a')")).0,
        );
        let (commit, committed) = call(a, TxControl::CommitWithRecord, None);
        serve(&mut batch, commit);
        assert_eq!(committed.try_recv(), Ok(Ok(())));
        assert!(!batch.in_user_transaction());
        assert!(batch.record_awaited_until().is_some());
        batch.record_arrived(other);
        assert!(
            batch.record_awaited_until().is_some(),
            "another record changes nothing"
        );
        batch.record_arrived(a);
        assert_eq!(batch.record_awaited_until(), None);
        batch.commit_with(|_| Ok(())).expect("commit");
        assert_eq!(ids(&store), ["a"]);
        batch.close();
    }

    #[test]
    fn a_call_refused_for_lost_writes_never_reports_a_durable_success() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (x, y) = (ExecId::random(), ExecId::random());
        serve(
            &mut batch,
            call(x, TxControl::None, Some("INSERT INTO t VALUES ('x')")).0,
        );
        let conflict = call(y, TxControl::None, Some("INSERT INTO t VALUES ('x')")).0;
        assert_eq!(batch.serve(conflict), Served::Undone);
        let (durable, reply) = durable_call(x, "INSERT INTO t VALUES ('x2')");
        serve(&mut batch, durable);
        assert!(
            matches!(reply.try_recv(), Ok(Err(reason)) if reason.contains("undone")),
            "answered at once, with why"
        );
        assert!(!batch.has_waiters());
        batch.commit_with(|_| Ok(())).expect("commit");
        assert!(ids(&store).is_empty());
        batch.close();
    }

    #[test]
    fn held_calls_run_in_order_and_a_held_transaction_holds_those_after_it() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b, c) = (ExecId::random(), ExecId::random(), ExecId::random());
        serve(&mut batch, call(a, TxControl::Begin, None).0);
        serve(
            &mut batch,
            call(b, TxControl::None, Some("INSERT INTO t VALUES ('b1')")).0,
        );
        serve(&mut batch, call(c, TxControl::Begin, None).0);
        let (b2, b2_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b2')"));
        serve(&mut batch, b2);
        serve(
            &mut batch,
            call(c, TxControl::None, Some("INSERT INTO t VALUES ('c1')")).0,
        );
        assert!(
            batch.next_deadline().is_some(),
            "the calls of b and c are held"
        );
        serve(&mut batch, call(a, TxControl::Commit, None).0);
        assert!(
            batch.in_user_transaction(),
            "c's transaction began in its turn"
        );
        assert_eq!(b2_done.try_recv(), Err(TryRecvError::Empty), "c's holds b2");
        serve(&mut batch, call(c, TxControl::Commit, None).0);
        assert_eq!(b2_done.try_recv(), Ok(Ok(())));
        assert_eq!(batch.next_deadline(), None, "nothing is held");
        batch.commit_with(|_| Ok(())).expect("commit");
        let conn = store.connect().expect("connect");
        let mut stmt = conn
            .prepare("SELECT id FROM t ORDER BY rowid")
            .expect("query");
        let order: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("ids");
        assert_eq!(order, ["b1", "c1", "b2"]);
        batch.close();
    }
}
