//! The store thread's connection: the one that writes. It keeps a transaction open while
//! executions' calls run in it, and commits it with the records that arrived meanwhile (group
//! commit). An execution's `ctx.db.transaction` is a savepoint inside it; calls of other
//! executions are held until that savepoint is released or rolled back, or fail after
//! [`LOCK_WAIT`].

use std::collections::VecDeque;
use std::time::Instant;

use rusqlite::Connection;

use super::writer::{busy_message, AfterCommit, Session, SqlCall, TxControl, LOCK_WAIT};
use super::{Capture, Result, Store, WriteGuard, WriteLock};
use crate::record::ExecId;

const SAVEPOINT: &str = "flux_user_transaction";

const ABORTED: &str = "the transaction was rolled back by one of its statements \
     (ON CONFLICT ROLLBACK or RAISE(ROLLBACK)); its writes are undone";

pub struct Batch {
    conn: Connection,
    capture: Capture,
    lock: WriteLock,
    /// Held while the transaction is open, so that other writers of this process wait.
    guard: Option<WriteGuard>,
    opened_at: Option<Instant>,
    /// The execution whose `ctx.db.transaction` is open.
    tx_owner: Option<ExecId>,
    held: VecDeque<(SqlCall, Instant)>,
    /// Replies waiting for the commit.
    after_commit: Vec<AfterCommit>,
    /// A statement rolled back everything since the last commit.
    undone: bool,
    /// The execution whose transaction a statement rolled back: its calls fail until it ends
    /// the transaction, so that none of its later writes commit on their own.
    aborted: Option<ExecId>,
}

impl Batch {
    pub fn new(store: &Store) -> Result<Batch> {
        let mut conn = store.connect()?;
        let capture = Capture::install(&mut conn);
        Ok(Batch {
            conn,
            capture,
            lock: store.write_lock().clone(),
            guard: None,
            opened_at: None,
            tx_owner: None,
            held: VecDeque::new(),
            after_commit: Vec::new(),
            undone: false,
            aborted: None,
        })
    }

    /// For reads; they see the uncommitted writes of the open transaction.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// When the open transaction began, if one is open.
    pub fn opened_at(&self) -> Option<Instant> {
        self.opened_at
    }

    /// An execution's transaction is open: nothing may commit until it ends.
    pub fn in_user_transaction(&self) -> bool {
        self.tx_owner.is_some()
    }

    /// Callers are waiting for the next commit.
    pub fn has_waiters(&self) -> bool {
        !self.after_commit.is_empty()
    }

    /// When the first held call gives up waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.held.iter().map(|(_, deadline)| *deadline).min()
    }

    fn open(&mut self) -> Result<()> {
        if self.guard.is_some() {
            return Ok(());
        }
        let guard = self.lock.lock();
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        self.guard = Some(guard);
        self.opened_at = Some(Instant::now());
        Ok(())
    }

    /// Runs `call` now, or holds it while another execution's transaction is open.
    pub fn serve(&mut self, call: SqlCall) {
        if self.tx_owner.is_some_and(|owner| owner != call.owner) {
            self.held.push_back((call, Instant::now() + LOCK_WAIT));
            return;
        }
        let SqlCall {
            owner,
            control,
            work,
        } = call;
        let ready = match self.aborted {
            Some(aborted) if aborted == owner => {
                if matches!(control, TxControl::Commit | TxControl::Rollback) {
                    self.aborted = None;
                }
                match control {
                    TxControl::Rollback => Ok(()),
                    _ => Err(ABORTED.to_string()),
                }
            }
            _ => self
                .open()
                .map_err(|e| e.to_string())
                .and_then(|()| self.control(owner, control)),
        };
        let session = ready.map(|()| {
            self.capture.begin_statement();
            Session {
                conn: &self.conn,
                capture: &mut self.capture,
            }
        });
        if let Some(after) = work(session) {
            self.after_commit.push(after);
        }
        if self.guard.is_some() && self.conn.is_autocommit() {
            // ON CONFLICT ROLLBACK or RAISE(ROLLBACK) ended the whole transaction.
            eprintln!(
                "warning: a statement rolled back the store's open transaction: \
                 writes of other executions since the last commit were undone"
            );
            self.end(Err("a statement rolled the transaction back".into()));
            self.aborted = self.tx_owner.take();
            self.undone = true;
            // Held calls are released by the store thread once it has redone its own writes.
            return;
        }
        // With callers waiting for the commit, the store thread commits first, then releases:
        // otherwise a held transaction could open and hold their replies back.
        if matches!(control, TxControl::Commit | TxControl::Rollback)
            && self.tx_owner.is_none()
            && !self.has_waiters()
        {
            self.release_held();
        }
    }

    fn control(&mut self, owner: ExecId, control: TxControl) -> Result<(), String> {
        let sql = |conn: &Connection, sql: &str| conn.execute_batch(sql).map_err(|e| e.to_string());
        match control {
            TxControl::None => Ok(()),
            TxControl::Begin if self.tx_owner.is_some() => {
                Err("a transaction is already open: ctx.db.transaction cannot be nested".into())
            }
            TxControl::Begin => {
                sql(&self.conn, &format!("SAVEPOINT {SAVEPOINT}"))?;
                self.tx_owner = Some(owner);
                Ok(())
            }
            TxControl::Commit | TxControl::Rollback if self.tx_owner != Some(owner) => {
                Err("no transaction is open".into())
            }
            TxControl::Commit => {
                self.tx_owner = None;
                let released = sql(&self.conn, &format!("RELEASE {SAVEPOINT}"));
                if released.is_err() {
                    self.roll_back_savepoint();
                }
                released
            }
            TxControl::Rollback => {
                self.tx_owner = None;
                self.roll_back_savepoint();
                Ok(())
            }
        }
    }

    fn roll_back_savepoint(&mut self) {
        let _ = self
            .conn
            .execute_batch(&format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"));
    }

    /// Serves the calls held for a transaction that has ended, in order (one may open the
    /// next transaction and hold the rest again).
    pub fn release_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        for (call, deadline) in held {
            if self.tx_owner.is_some_and(|owner| owner != call.owner) {
                self.held.push_back((call, deadline));
            } else {
                self.serve(call);
            }
        }
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

    /// Whether a statement rolled back the open transaction since the last call: the store
    /// thread's own writes in it must be made again.
    pub fn take_undone(&mut self) -> bool {
        std::mem::take(&mut self.undone)
    }

    /// Runs `write` in the open transaction, opening one if needed; it commits with the next
    /// [`Batch::commit_with`]. Not while an execution's transaction is open: rolling that back
    /// would undo it.
    pub fn write<T>(&mut self, write: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        debug_assert!(self.tx_owner.is_none());
        self.open()?;
        write(&self.conn)
    }

    /// Runs `write` in the open transaction (opening one if needed) and commits, then answers
    /// the callers waiting for it. On failure everything since the last commit is undone, and
    /// those callers are told.
    pub fn commit_with<T>(&mut self, write: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        debug_assert!(self.tx_owner.is_none());
        let result = self.open().and_then(|()| {
            let value = write(&self.conn)?;
            self.conn.execute_batch("COMMIT")?;
            Ok(value)
        });
        match result {
            Ok(value) => {
                self.end(Ok(()));
                Ok(value)
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                self.end(Err(format!("the store could not commit: {e}")));
                Err(e)
            }
        }
    }

    /// The transaction is over: let other writers in and answer the waiting callers.
    fn end(&mut self, outcome: Result<(), String>) {
        self.guard = None;
        self.opened_at = None;
        for after in std::mem::take(&mut self.after_commit) {
            after(outcome.clone());
        }
    }

    /// Rolls back an execution's transaction that nobody can end any more (its engine is
    /// gone), and serves the calls it held.
    pub fn end_orphaned_transaction(&mut self) {
        if self.tx_owner.take().is_some() {
            self.roll_back_savepoint();
            self.release_held();
        }
    }

    /// At shutdown, once no execution runs: undoes a transaction left open, commits the rest.
    pub fn close(mut self) {
        for (call, _) in std::mem::take(&mut self.held) {
            let _ = (call.work)(Err("flux dev is stopping".into()));
        }
        if self.tx_owner.take().is_some() {
            self.roll_back_savepoint();
        }
        if self.guard.is_some() {
            let _ = self.commit_with(|_| Ok(()));
        }
        self.capture.uninstall(&mut self.conn);
    }
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

    /// A call running `sql` (if any) after `control`, and where its reply arrives.
    fn call(
        owner: ExecId,
        control: TxControl,
        sql: Option<&'static str>,
    ) -> (SqlCall, Receiver<Result<(), String>>) {
        let (reply, replies) = crossbeam_channel::bounded(1);
        let work: super::super::writer::Work = Box::new(move |session| {
            let outcome = session.and_then(|session| match sql {
                Some(sql) => session.conn.execute_batch(sql).map_err(|e| e.to_string()),
                None => Ok(()),
            });
            let _ = reply.send(outcome);
            None
        });
        (
            SqlCall {
                owner,
                control,
                work,
            },
            replies,
        )
    }

    fn ids(store: &Store) -> Vec<String> {
        let conn = store.connect().expect("connect");
        let mut stmt = conn.prepare("SELECT id FROM t ORDER BY id").expect("query");
        let rows = stmt.query_map([], |row| row.get(0)).expect("rows");
        rows.collect::<rusqlite::Result<_>>().expect("ids")
    }

    #[test]
    fn others_wait_for_an_open_transaction_and_survive_its_rollback() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        let (begin, _) = call(a, TxControl::Begin, None);
        batch.serve(begin);
        let (insert_a, a_done) = call(a, TxControl::None, Some("INSERT INTO t VALUES ('a')"));
        batch.serve(insert_a);
        assert_eq!(a_done.try_recv(), Ok(Ok(())));
        let (insert_b, b_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b')"));
        batch.serve(insert_b);
        assert_eq!(
            b_done.try_recv(),
            Err(TryRecvError::Empty),
            "b runs after a's transaction"
        );
        let (rollback, _) = call(a, TxControl::Rollback, None);
        batch.serve(rollback);
        assert_eq!(b_done.try_recv(), Ok(Ok(())));
        batch.commit_with(|_| Ok(())).expect("commit");
        assert_eq!(ids(&store), ["b"]);
        batch.close();
    }

    #[test]
    fn a_held_call_gives_up_after_the_lock_wait() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        batch.serve(call(a, TxControl::Begin, None).0);
        let (insert_b, b_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b')"));
        batch.serve(insert_b);
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
        batch.serve(call(x, TxControl::None, Some("INSERT INTO t VALUES ('x')")).0);
        let (reply, waiter) = crossbeam_channel::bounded(1);
        batch.after_commit.push(Box::new(move |outcome| {
            let _ = reply.send(outcome);
        }));
        let (conflict, failed) = call(y, TxControl::None, Some("INSERT INTO t VALUES ('x')"));
        batch.serve(conflict);
        assert!(matches!(failed.try_recv(), Ok(Err(_))));
        assert!(
            matches!(waiter.try_recv(), Ok(Err(_))),
            "the waiter learns its write is gone"
        );
        assert!(batch.take_undone());
        assert!(!batch.take_undone());
        batch.close();
        assert!(ids(&store).is_empty());
    }

    #[test]
    fn a_transaction_rolled_back_by_its_statement_refuses_later_writes_and_frees_others() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        batch.serve(call(a, TxControl::Begin, None).0);
        batch.serve(call(a, TxControl::None, Some("INSERT INTO t VALUES ('a')")).0);
        let (insert_b, b_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b')"));
        batch.serve(insert_b);
        let (conflict, failed) = call(a, TxControl::None, Some("INSERT INTO t VALUES ('a')"));
        batch.serve(conflict);
        assert!(matches!(failed.try_recv(), Ok(Err(_))));
        assert!(batch.take_undone());
        batch.release_held();
        assert_eq!(b_done.try_recv(), Ok(Ok(())), "b no longer waits");
        let (after, refused) = call(a, TxControl::None, Some("INSERT INTO t VALUES ('late')"));
        batch.serve(after);
        assert_eq!(refused.try_recv(), Ok(Err(ABORTED.to_string())));
        let (rollback, rolled_back) = call(a, TxControl::Rollback, None);
        batch.serve(rollback);
        assert_eq!(rolled_back.try_recv(), Ok(Ok(())));
        batch.commit_with(|_| Ok(())).expect("commit");
        assert_eq!(ids(&store), ["b"]);
        batch.close();
    }
}
