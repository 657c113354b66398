//! Store upkeep off the request path, on its own thread: WAL checkpoints every 100 ms (writers
//! never checkpoint themselves, see `Store::connect`), pruning for size as often and by age
//! every minute, each in small transactions; and the WAL folded into the database file at
//! the end. On PostgreSQL the same pruning through the [`Storage`] boundary, with no
//! checkpoints ([`Maintenance::start_pruning`]).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;

use super::{Pruning, Storage, Store, StoreError, BUSY_TIMEOUT};
use crate::project::Retention;

/// Frames past which a fully copied WAL is restarted from its beginning (4 MB of 4 KiB pages).
const WAL_RESTART_FRAMES: i64 = 1_000;

/// How long a checkpoint that must wait for readers (RESTART, TRUNCATE) waits before it gives
/// up until next time, holding writers meanwhile.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(100);

/// How often the WAL is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// How often flux's size is compared with `retention.maxSize` (a page count; a full measure
/// only when it may be over), and records are pruned by age. The size check is as frequent as
/// the checkpoint: at a second, a fast machine wrote 5 MB past a 1 MB limit between checks.
const SIZE_CHECK_EVERY: Duration = CHECKPOINT_EVERY;
const AGE_PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How often a store shared by many processes (PostgreSQL) is measured against
/// `retention.maxSize`: each process asks, so less often than one process's own file.
const SHARED_SIZE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The first pruning by age waits this long after the start: the start is busy enough.
const FIRST_AGE_PRUNE: Duration = Duration::from_secs(5);

/// A pruning run that failed; the next run tries again.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("pruning old records failed: {0}")]
    PruneByAge(StoreError),
    #[error("pruning records over retention.maxSize failed: {0}")]
    PruneBySize(StoreError),
}

/// The maintenance thread; [`Maintenance::stop`] ends it (dropping it does too, without
/// waiting).
pub struct Maintenance {
    /// Dropped to stop the thread: it wakes at once instead of at its next tick.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    /// Starts the thread; `now_us` is the wall clock records are aged by, `on_error` hears of
    /// each failed pruning run. `None` when the thread could not be started.
    pub fn start(
        store: Store,
        retention: Retention,
        now_us: fn() -> i64,
        on_error: impl Fn(MaintenanceError) + Send + 'static,
    ) -> Option<Maintenance> {
        Maintenance::spawn(move |stopped| {
            let Ok(conn) = store.connect() else { return };
            let Ok(pruning) = store.pruning() else {
                return;
            };
            let rounds = Rounds {
                pruning,
                retention,
                now_us,
                size_check_every: SIZE_CHECK_EVERY,
            };
            rounds.run(&stopped, CHECKPOINT_EVERY, &on_error, |pruned| {
                checkpoint(&conn, &store, pruned > 0)
            });
        })
    }

    /// Pruning only, for a store with no log of flux's to reclaim (PostgreSQL vacuums its
    /// own): by size every [`SHARED_SIZE_CHECK_EVERY`], by age every minute. Every process
    /// sharing the store runs it; the store lets one prune at a time.
    pub fn start_pruning(
        storage: Arc<dyn Storage>,
        retention: Retention,
        now_us: fn() -> i64,
        on_error: impl Fn(MaintenanceError) + Send + 'static,
    ) -> Option<Maintenance> {
        Maintenance::spawn(move |stopped| {
            let Ok(pruning) = storage.pruning() else {
                return;
            };
            let rounds = Rounds {
                pruning,
                retention,
                now_us,
                size_check_every: SHARED_SIZE_CHECK_EVERY,
            };
            rounds.run(&stopped, SHARED_SIZE_CHECK_EVERY, &on_error, |_| {});
        })
    }

    fn spawn(work: impl FnOnce(Receiver<()>) + Send + 'static) -> Option<Maintenance> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("flux-maintenance".into())
            .spawn(move || work(stopped))
            .ok()?;
        Some(Maintenance {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Ends the thread, after the run in progress if any.
    pub fn stop(mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The pruning runs of one maintenance thread.
struct Rounds {
    pruning: Box<dyn Pruning>,
    retention: Retention,
    now_us: fn() -> i64,
    size_check_every: Duration,
}

impl Rounds {
    /// Every `tick` until `stopped` says so: pruning by age and by size when each is due, then
    /// `after` with how many records went.
    fn run(
        mut self,
        stopped: &Receiver<()>,
        tick: Duration,
        on_error: &dyn Fn(MaintenanceError),
        mut after: impl FnMut(u64),
    ) {
        let mut next_size_check = Instant::now();
        let mut next_age_prune = Instant::now() + FIRST_AGE_PRUNE;
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
            let now = Instant::now();
            let mut pruned = 0;
            if now >= next_age_prune {
                next_age_prune = now + AGE_PRUNE_EVERY;
                match self.pruning.prune(&self.retention, (self.now_us)()) {
                    Ok(n) => pruned += n,
                    Err(e) => on_error(MaintenanceError::PruneByAge(e)),
                }
            }
            if now >= next_size_check {
                next_size_check = now + self.size_check_every;
                match self.pruning.prune_to_size(&self.retention, (self.now_us)()) {
                    Ok(n) => pruned += n,
                    Err(e) => on_error(MaintenanceError::PruneBySize(e)),
                }
            }
            after(pruned);
        }
    }
}

/// Copies the WAL into the database without blocking anyone, and once it is all copied and
/// large, restarts it: writers then reuse the file's blocks instead of growing it, which the
/// filesystem would zero-fill page by page. `truncate` also cuts the file back to nothing
/// (after pruning, which writes a lot).
fn checkpoint(conn: &Connection, store: &Store, truncate: bool) {
    let frames = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        })
    };
    if let Ok((log, copied)) = frames("PASSIVE") {
        if truncate || (log > WAL_RESTART_FRAMES && copied == log) {
            let _guard = store.write_lock().lock();
            // Readers may hold it up: wait for them only briefly, writers are waiting too.
            let _ = conn.busy_timeout(CHECKPOINT_WAIT);
            let _ = frames(if truncate { "TRUNCATE" } else { "RESTART" });
            let _ = conn.busy_timeout(BUSY_TIMEOUT);
        }
    }
}

/// Leaves a small WAL behind when flux stops: folds it into the database file.
pub fn fold_wal(store: &Store) {
    if let Ok(conn) = store.connect() {
        let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    }
}
