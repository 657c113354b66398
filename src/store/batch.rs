//! The store thread's connection: the one that writes. It keeps a transaction open while
//! executions' calls run in it, and commits it with the records that arrived meanwhile (group
//! commit). An execution's `ctx.db.transaction` is a savepoint inside it; calls of other
//! executions are held until that savepoint is released or rolled back, or fail after
//! [`LOCK_WAIT`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::writer::{busy_message, AfterCommit, Session, SqlCall, TxControl, LOCK_WAIT};
use super::{Capture, Result, Store, WriteGuard, WriteLock};
use crate::record::ExecId;

const SAVEPOINT: &str = "flux_user_transaction";

/// How long an execution is remembered as having lost its writes when no record of it
/// arrives to end that (an API call has none): a bound on what is kept, not a timeout.
const LOST_KEPT: Duration = Duration::from_secs(600);

/// How long commits wait for the record of an atomic attempt that has committed its writes.
const RECORD_WAIT: Duration = Duration::from_secs(1);

pub struct Batch {
    conn: Connection,
    capture: Capture,
    lock: WriteLock,
    /// Held while the transaction is open, so that other writers of this process wait.
    guard: Option<WriteGuard>,
    opened_at: Option<Instant>,
    /// The execution whose `ctx.db.transaction` is open.
    tx_owner: Option<ExecId>,
    /// Savepoints the owner has open: an atomic job attempt's own, and its
    /// `ctx.db.transaction` inside it.
    tx_depth: usize,
    held: VecDeque<(SqlCall, Instant)>,
    /// Replies waiting for the commit.
    after_commit: Vec<AfterCommit>,
    /// A statement rolled back everything since the last commit.
    undone: bool,
    /// Executions that changed rows in the open transaction: should it be undone, each must
    /// learn that its writes are gone.
    writers: HashSet<ExecId>,
    /// Executions whose writes an undone transaction took with it, and why. Every later call
    /// of theirs fails, so none of them reports success and none of their later writes
    /// commits without the earlier ones; their record ends it ([`Batch::forget`]).
    lost: HashMap<ExecId, (String, Instant)>,
    /// An atomic attempt committed its transaction and its record is on its way: nothing
    /// commits before it arrives (or the deadline passes, should its engine have died).
    awaiting_record: Option<(ExecId, Instant)>,
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
            tx_depth: 0,
            held: VecDeque::new(),
            after_commit: Vec::new(),
            undone: false,
            writers: HashSet::new(),
            lost: HashMap::new(),
            awaiting_record: None,
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
        let ready = match self.lost.get(&owner) {
            Some((reason, _)) => Err(reason.clone()),
            None => self
                .open()
                .map_err(|e| e.to_string())
                .and_then(|()| self.control(owner, control)),
        };
        let changes_before = self.conn.total_changes();
        let ran = ready.is_ok();
        let session = ready.map(|()| {
            self.capture.begin_statement();
            Session {
                conn: &self.conn,
                capture: &mut self.capture,
            }
        });
        let after = work(session);
        if ran && self.conn.total_changes() != changes_before {
            self.writers.insert(owner);
        }
        if let Some(after) = after {
            if self.writers.contains(&owner) {
                self.after_commit.push(after);
            } else {
                // Nothing of the caller's waits for a commit: its writes are committed already.
                after(Ok(()));
            }
        }
        if self.guard.is_some() && self.conn.is_autocommit() {
            // ON CONFLICT ROLLBACK or RAISE(ROLLBACK) ended the whole transaction.
            eprintln!(
                "warning: a statement of execution {owner} rolled back the store's open \
                 transaction: the executions that wrote in it since the last commit fail"
            );
            // Its own transaction is gone too: none of its later writes may commit alone.
            if self.tx_owner == Some(owner) {
                self.writers.insert(owner);
            }
            self.tx_owner = None;
            self.tx_depth = 0;
            self.undo(format!(
                "its writes since the last commit were undone: a statement of execution \
                 {owner} rolled back the store's shared transaction (ON CONFLICT ROLLBACK or \
                 RAISE(ROLLBACK))"
            ));
            self.undone = true;
            // Held calls are released by the store thread once it has redone its own writes.
            return;
        }
        // With callers waiting for the commit, the store thread commits first, then releases:
        // otherwise a held transaction could open and hold their replies back.
        if matches!(
            control,
            TxControl::Commit | TxControl::CommitWithRecord | TxControl::Rollback
        ) && self.tx_owner.is_none()
            && !self.has_waiters()
        {
            self.release_held();
        }
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
        if self.awaiting_record.is_some_and(|(owner, _)| owner == exec) {
            self.awaiting_record = None;
        }
    }

    /// Until when nothing may commit: an atomic attempt's record is on its way.
    pub fn record_awaited_until(&self) -> Option<Instant> {
        self.awaiting_record
            .map(|(_, until)| until)
            .filter(|until| *until > Instant::now())
    }

    /// The open transaction is gone: every execution that wrote in it learns why, now (if it
    /// waits for the commit) or at its next call.
    fn undo(&mut self, reason: String) {
        let now = Instant::now();
        self.lost
            .retain(|_, (_, since)| now.duration_since(*since) < LOST_KEPT);
        for exec in self.writers.drain() {
            self.lost.insert(exec, (reason.clone(), now));
        }
        self.end(Err(reason));
    }

    /// Executions whose writes are in the open transaction.
    pub fn writers(&self) -> &HashSet<ExecId> {
        &self.writers
    }

    fn control(&mut self, owner: ExecId, control: TxControl) -> Result<(), String> {
        let sql = |conn: &Connection, sql: &str| conn.execute_batch(sql).map_err(|e| e.to_string());
        match control {
            TxControl::None => Ok(()),
            TxControl::Begin => {
                sql(&self.conn, &format!("SAVEPOINT {SAVEPOINT}"))?;
                self.tx_owner = Some(owner);
                self.tx_depth += 1;
                Ok(())
            }
            TxControl::Commit | TxControl::CommitWithRecord | TxControl::Rollback
                if self.tx_owner != Some(owner) =>
            {
                Err("no transaction is open".into())
            }
            TxControl::CommitWithRecord => {
                let released = sql(&self.conn, &format!("RELEASE {SAVEPOINT}"));
                if released.is_err() {
                    self.roll_back_savepoint();
                } else {
                    self.awaiting_record = Some((owner, Instant::now() + RECORD_WAIT));
                }
                self.close_savepoint();
                released
            }
            TxControl::Commit => {
                // The innermost savepoint of that name: nested ones share it.
                let released = sql(&self.conn, &format!("RELEASE {SAVEPOINT}"));
                if released.is_err() {
                    self.roll_back_savepoint();
                }
                self.close_savepoint();
                released
            }
            TxControl::Rollback => {
                self.roll_back_savepoint();
                self.close_savepoint();
                Ok(())
            }
        }
    }

    fn close_savepoint(&mut self) {
        self.tx_depth = self.tx_depth.saturating_sub(1);
        if self.tx_depth == 0 {
            self.tx_owner = None;
        }
    }

    fn roll_back_savepoint(&mut self) {
        let _ = self
            .conn
            .execute_batch(&format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"));
    }

    /// Rolls back every savepoint of the open execution transaction.
    fn roll_back_owner(&mut self) {
        while self.tx_owner.is_some() {
            self.roll_back_savepoint();
            self.close_savepoint();
        }
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
        if self.guard.is_some() {
            return;
        }
        let _guard = self.lock.lock();
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// The transaction is over: let other writers in and answer the waiting callers.
    fn end(&mut self, outcome: Result<(), String>) {
        self.writers.clear();
        self.guard = None;
        self.opened_at = None;
        for after in std::mem::take(&mut self.after_commit) {
            after(outcome.clone());
        }
    }

    /// Rolls back an execution's transaction that nobody can end any more (its engine is
    /// gone), and serves the calls it held.
    pub fn end_orphaned_transaction(&mut self) {
        if self.tx_owner.is_some() {
            self.roll_back_owner();
            self.release_held();
        }
    }

    /// At shutdown, once no execution runs: undoes a transaction left open, commits the rest.
    pub fn close(mut self) {
        for (call, _) in std::mem::take(&mut self.held) {
            let _ = (call.work)(Err("flux dev is stopping".into()));
        }
        self.roll_back_owner();
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
        assert!(
            matches!(refused.try_recv(), Ok(Err(reason)) if reason.contains("rolled back the store's shared transaction")),
            "a's later writes fail"
        );
        let (rollback, rolled_back) = call(a, TxControl::Rollback, None);
        batch.serve(rollback);
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
        batch.serve(insert_x);
        assert_eq!(x_done.try_recv(), Ok(Ok(())));
        batch.serve(call(reader, TxControl::None, Some("SELECT * FROM t")).0);
        // y's conflict undoes x's insert while x is not waiting for anything.
        batch.serve(call(y, TxControl::None, Some("INSERT INTO t VALUES ('x')")).0);
        assert!(batch.take_undone());
        assert!(batch.lost(x).is_some());
        assert!(batch.lost(reader).is_none(), "a reader lost nothing");
        // x's sync before its response: it must not succeed at the next commit.
        let (sync, synced) = call(x, TxControl::None, None);
        batch.serve(sync);
        assert!(
            matches!(synced.try_recv(), Ok(Err(reason)) if reason.contains("undone")),
            "x learns its write is gone"
        );
        batch.commit_with(|_| Ok(())).expect("commit");
        assert!(ids(&store).is_empty());
        batch.forget(x);
        let (again, again_done) = call(x, TxControl::None, Some("INSERT INTO t VALUES ('x2')"));
        batch.serve(again);
        assert_eq!(again_done.try_recv(), Ok(Ok(())));
        batch.close();
    }

    #[test]
    fn a_failed_commit_fails_every_writer_in_it() {
        let (_dir, store) = store();
        store
            .connect()
            .expect("connect")
            .execute_batch(
                "CREATE TABLE parent (id TEXT PRIMARY KEY);
                 CREATE TABLE child (id TEXT PRIMARY KEY,
                   parent TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .expect("schema");
        let mut batch = Batch::new(&store).expect("batch");
        let (good, bad) = (ExecId::random(), ExecId::random());
        batch.serve(call(good, TxControl::None, Some("INSERT INTO t VALUES ('good')")).0);
        // A deferred foreign key is only checked at the outer COMMIT.
        let (orphan, orphan_done) = call(
            bad,
            TxControl::None,
            Some("INSERT INTO child VALUES ('c', 'missing')"),
        );
        batch.serve(orphan);
        assert_eq!(orphan_done.try_recv(), Ok(Ok(())));
        assert!(batch.commit_with(|_| Ok(())).is_err());
        assert!(batch.lost(good).is_some() && batch.lost(bad).is_some());
        let (sync, synced) = call(good, TxControl::None, None);
        batch.serve(sync);
        assert!(
            matches!(synced.try_recv(), Ok(Err(reason)) if reason.contains("could not commit"))
        );
        batch.close();
        assert!(ids(&store).is_empty());
    }

    #[test]
    fn nested_savepoints_of_one_owner_end_in_order() {
        let (_dir, store) = store();
        let mut batch = Batch::new(&store).expect("batch");
        let (a, b) = (ExecId::random(), ExecId::random());
        batch.serve(call(a, TxControl::Begin, None).0);
        batch.serve(call(a, TxControl::None, Some("INSERT INTO t VALUES ('outer')")).0);
        batch.serve(call(a, TxControl::Begin, None).0);
        batch.serve(call(a, TxControl::None, Some("INSERT INTO t VALUES ('inner')")).0);
        batch.serve(call(a, TxControl::Rollback, None).0);
        let (insert_b, b_done) = call(b, TxControl::None, Some("INSERT INTO t VALUES ('b')"));
        batch.serve(insert_b);
        assert_eq!(
            b_done.try_recv(),
            Err(TryRecvError::Empty),
            "the outer one still holds b"
        );
        batch.serve(call(a, TxControl::Commit, None).0);
        assert_eq!(b_done.try_recv(), Ok(Ok(())));
        batch.commit_with(|_| Ok(())).expect("commit");
        assert_eq!(ids(&store), ["b", "outer"]);
        batch.close();
    }
}
