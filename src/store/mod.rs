//! The store: flux's durable state. Today it is SQLite, one file in WAL mode (`.flux/flux.db`)
//! holding the app's tables and the internal `_flux_*` tables (records, mutations, emails,
//! migrations, and the queue's `_flux_jobs`, see [`jobs`]), so that app writes and queue writes
//! share one commit. This module owns the schema of all of them.
//!
//! # The storage boundary
//!
//! The runtime, the queue, the server and the CLI use the store through a small interface, so
//! that a second backend (PostgreSQL, for `flux deploy`) can be added beside SQLite without
//! touching them:
//!
//! - [`Storage`] (object-safe, `Send + Sync`): the reads: records (find by id prefix, list,
//!   the tail's history, a job's chain of attempts), what an id prefix names (an execution or
//!   a job, decided once in [`resolve`]), row changes (`flux state`; [`blame`] is
//!   computed from them), jobs (stats, list, dead letters, find by id or attempt id), the
//!   scoped tokens (list, by hash), deployed versions (list, the active one, a manifest, which
//!   blobs are missing, a blob), the integrity check, and a [`Pruning`] session for upkeep (pruning by age and by size).
//!   The server answers `/_flux/api` through it; the CLI reads a stopped project's store
//!   through it (the CLI's `local_store`).
//! - [`JobWrites`]: the job writes made on a caller's behalf (enqueue, replay, and finding the
//!   job to replay), run on the writer's connection inside its open transaction.
//! - [`TokenWrites`]: the API's writes of scoped tokens (`_flux_tokens`, [`tokens`]): create,
//!   revoke, note a use.
//! - [`VersionWrites`]: `flux deploy`'s writes (`_flux_blobs`, `_flux_versions`, [`versions`]):
//!   a blob, a version made active, an activation, finding a version by id prefix;
//!   [`CallerWrites`] is all three, what an API call's work is handed.
//! - [`JobClaims`]: the queue's claims (due jobs, the next due time, marking attempts running,
//!   putting back what a killed process left running, notes of attempts whose writes commit
//!   ahead of their record), which the dispatcher makes on the writer's open transaction
//!   through [`WriteTx`] and the [`Scheduler`] hooks.
//! - The writer: [`Writer`] hands the store thread the executions' SQL ([`SqlCall`], run in a
//!   [`Session`]) and their finished records ([`StoreWrite`]); the store thread group-commits
//!   them with their jobs' new states and the queue's claims ([`jobs`]), then publishes what
//!   committed. It is the only writer; see [`Storage`]'s "How the writer fits".
//! - The types that cross the boundary: [`RecordFilter`], [`RecordLookup`], [`TailFilter`],
//!   [`ChangeFilter`], [`RowChange`], [`JobRow`], [`JobLookup`], [`StatsRow`], [`DeadLetter`],
//!   [`EnqueueOptions`], [`Enqueued`], and the errors [`StoreError`], [`EnqueueError`],
//!   [`ReplayError`]. The record itself and the job model are [`crate::record`]'s.
//!
//! The SQLite implementation is [`Store`] (`sqlite.rs` implements the traits; the SQL lives in
//! `records.rs`, `mutations.rs`, `jobs.rs`, `retention.rs`). PostgreSQL's, [`postgres`], has
//! [`Storage`], the record inserts, the queue's leased claims and the user's SQL with row
//! changes so far (its module doc says what is missing); the rules both share are helpers of `records.rs` and `jobs.rs`.
//!
//! ## What a second backend must implement
//!
//! 1. [`Storage`] for its handle, with the same semantics as SQLite's: ids are matched by
//!    prefix (ambiguous prefixes name their candidates), lists are newest first, the tail's
//!    history is in commit order (`seq`), each call sees committed data only.
//! 2. [`JobWrites`], [`TokenWrites`] and [`JobClaims`] on its writer's transaction, and applying a job's
//!    transition with its attempt's record (what `jobs::apply_transition` does), so that a
//!    job's new state commits with that record.
//! 3. Its writer behind [`Writer`]/[`SqlCall`]: the one place that commits, with the same
//!    durability promises (a write is acknowledged only once committed; a lost commit is
//!    reported, never silently dropped).
//! 4. A variant of [`StoreError`] for its driver's errors (`Sql` is rusqlite's, `Postgres`
//!    the postgres crate's).
//!
//! A call's work gets the writer's connection as a [`Session`], a [`Lent`]: the user's
//! statements ([`statement::UserStatements`]), the caller writes and captured emails.
//! [`SqliteSession`] implements it on the writer's `rusqlite::Connection` (checked by
//! [`sandbox`], captured by [`Capture`], SQLite's preupdate hook) and
//! `postgres::user_sql::PgSession` on a PostgreSQL transaction (on a connection logged in as
//! the sandbox role), which [`postgres::PgStoreThread`] lends. Migrations: SQLite's
//! [`apply_migrations`] checks them with [`sandbox`]; PostgreSQL's
//! ([`postgres::PgStore::apply_migrations`]) runs them as the sandbox role. Pruning goes through
//! [`Storage::pruning`] on both; WAL checkpoints are SQLite's alone. The queue's
//! dispatcher is the queue's on both: SQLite's runs on the store thread as its
//! [`Scheduler`]; PostgreSQL's claims under leases on a thread of its own
//! (`queue::LeasedQueue`), with [`postgres::QueueHooks`] on the store thread's commits.

mod batch;
pub mod capture;
pub mod dialect;
mod emails;
mod files;
pub mod jobs;
pub mod maintenance;
mod migrate;
mod mutations;
pub mod postgres;
mod records;
pub mod resolve;
mod retention;
pub mod sandbox;
mod schema;
pub mod search;
mod sqlite;
pub mod statement;
mod storage;
mod thread;
pub mod tokens;
pub mod user_sql;
pub mod versions;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use batch::{Batch, Served, WriteTx};
pub use capture::Capture;
pub use emails::{Email, NewEmail};
pub use files::{create_private, secure_state_dir, write_private, PrivateFileError};
pub use jobs::{
    DeadLetter, EnqueueError, EnqueueOptions, Enqueued, JobLookup, JobRow, ReplayError, StatsRow,
};
pub use migrate::{apply_migrations, MigrationReport};
pub use mutations::{blame, Blame, ChangeFilter, RowChange};
pub use records::{
    insert_writes, prepare_writes, BadCursor, MinuteCount, PreparedWrites, RecordCursor,
    RecordFilter, RecordLookup, RecordPage, StoreWrite, TailFilter, DEFAULT_LIMIT, MAX_LIMIT,
};
pub use resolve::{Candidate, Named, NamedRecord, Scoped};
pub use search::SearchError;
pub use storage::{
    CallerWrites, JobClaims, JobWrites, Pruning, Storage, TokenWrites, VersionWrites,
};
pub use thread::{Control, Inbox, OnCommitted, Scheduler, StoreThread, Waker};
pub use writer::{
    busy_message, writer_channel, AfterCommit, Call, Lent, Session, SqlCall, SqlCalls,
    SqliteSession, TxControl, Writer, LOCK_WAIT,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not a flux store SQLite can read ({message})")]
    Corrupt { path: PathBuf, message: String },
    #[error("{path} is damaged: {problem}")]
    Damaged { path: PathBuf, problem: String },
    #[error("{path} is empty (0 bytes): the store was truncated or never finished being created")]
    Empty { path: PathBuf },
    #[error("cannot open {path}: {message}")]
    Open { path: PathBuf, message: String },
    /// `file` is `migrations/NAME.sql`, with `:LINE:COLUMN` when the engine said where;
    /// `hint` names the portable form of SQL the other engine's dialect wrote.
    #[error("migration {file} failed: {message}")]
    Migration {
        file: String,
        message: String,
        hint: Option<&'static str>,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the store's threads: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("a stored record is unreadable: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("execution {owner}'s transaction is open: the store's own writes wait until it ends")]
    TransactionOpen { owner: crate::record::ExecId },
    #[error(transparent)]
    Record(#[from] crate::record::RecordReadError),
    #[error("PostgreSQL: {}", postgres::described(.0))]
    Postgres(#[from] ::postgres::Error),
    #[error("the database URL is not a PostgreSQL connection string: {message}")]
    BadDatabaseUrl { message: String },
    /// No answer from the server (nothing listening, a firewall, a wrong host).
    #[error("cannot reach PostgreSQL at {location}: {reason}")]
    PgUnreachable { location: String, reason: String },
    /// The server answered and said no: a wrong password or user, a missing database.
    #[error("PostgreSQL at {location} refused the connection: {message} (SQLSTATE {code})")]
    PgRefused {
        location: String,
        message: String,
        code: String,
    },
    /// User SQL runs as the sandbox role (`postgres/sandbox.rs`), which someone gave more
    /// than the app's tables.
    #[error(
        "flux will not run functions on PostgreSQL as {role}, which {power}: functions' SQL \
         runs as this role. Take it back, e.g. ALTER ROLE {role} NOSUPERUSER NOCREATEROLE, or \
         REVOKE pg_read_server_files FROM {role}"
    )]
    PgPrivileged { role: String, power: &'static str },
    /// The server refused the sandbox role's login (user SQL logs in as it).
    #[error(
        "PostgreSQL refused the login of {role}, the role functions' SQL runs as: {message} \
         (SQLSTATE {code})"
    )]
    PgSandboxLogin {
        role: String,
        database: String,
        message: String,
        code: String,
    },
    #[error(
        "the database's flux tables were made by a newer flux (schema version {found}, this \
         flux knows up to {known})"
    )]
    NewerSchema { found: i32, known: i32 },
    #[error("no PostgreSQL connection came free in {waited:?} (this process opens at most {max})")]
    PoolExhausted { max: usize, waited: Duration },
    #[error("a row of {table} is damaged: {message}")]
    BadRow {
        table: &'static str,
        message: String,
    },
}

#[cfg(test)]
mod lock_tests {
    use super::WriteLock;
    use std::sync::{Arc, Mutex};

    /// A maintenance writer waiting while another writer releases and re-takes the lock in a
    /// loop gets it at the first release: the re-taking writer queues behind it.
    #[test]
    fn a_waiting_writer_goes_before_one_that_takes_the_lock_again() {
        let lock = WriteLock::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut guard = lock.lock();
        let maintenance = {
            let (lock, order) = (lock.clone(), Arc::clone(&order));
            std::thread::spawn(move || {
                let _guard = lock.lock();
                order.lock().expect("order").push("maintenance");
            })
        };
        // The lock's own count says when the maintenance writer is queued.
        while lock.waiting() == 0 {
            std::thread::yield_now();
        }
        for round in 0..100 {
            drop(guard);
            guard = lock.lock();
            order
                .lock()
                .expect("order")
                .push(if round == 0 { "writer" } else { "again" });
        }
        drop(guard);
        maintenance.join().expect("maintenance thread");
        let order = order.lock().expect("order");
        assert_eq!(order[..2], ["maintenance", "writer"], "{order:?}");
        assert_eq!(lock.waiting(), 0);
    }
}

#[cfg(test)]
mod check_tests {
    use super::{Checked, Store, StoreError};
    use std::time::Duration;

    fn store_with_pages() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("flux.db")).expect("open");
        store
            .connect()
            .expect("connect")
            .execute_batch(
                "CREATE TABLE t (v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO t SELECT printf('%.1000c', 'a') FROM n;",
            )
            .expect("fill");
        (dir, store)
    }

    #[test]
    fn a_check_out_of_time_says_it_checked_only_part() {
        let (_dir, store) = store_with_pages();
        let mut conn = store.connect().expect("connect");
        assert_eq!(
            store.check(&mut conn, Some(Duration::ZERO)).expect("check"),
            Checked::Partly
        );
        assert_eq!(store.check(&mut conn, None).expect("check"), Checked::Fully);
    }

    #[test]
    fn an_empty_file_is_refused_not_initialised() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("flux.db");
        std::fs::write(&path, "").expect("empty file");
        assert!(matches!(Store::open(&path), Err(StoreError::Empty { .. })));
        assert_eq!(std::fs::metadata(&path).expect("file").len(), 0);
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _flux_migrations (
    name TEXT PRIMARY KEY,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS _flux_records (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    id_hi INTEGER NOT NULL,
    kind TEXT NOT NULL,
    function TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at_us INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    job_id TEXT,
    enqueued_by TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS _flux_records_id ON _flux_records (id_hi);
CREATE INDEX IF NOT EXISTS _flux_records_started ON _flux_records (started_at_us);
CREATE INDEX IF NOT EXISTS _flux_records_cause ON _flux_records (enqueued_by) WHERE enqueued_by IS NOT NULL;
CREATE TABLE IF NOT EXISTS _flux_mutations (
    seq INTEGER PRIMARY KEY,
    record_seq INTEGER NOT NULL,
    record_id TEXT NOT NULL,
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    op TEXT NOT NULL,
    before TEXT,
    after TEXT,
    committed INTEGER NOT NULL,
    at_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS _flux_mutations_row ON _flux_mutations (tbl, pk);
CREATE INDEX IF NOT EXISTS _flux_mutations_record ON _flux_mutations (record_seq);
CREATE TABLE IF NOT EXISTS _flux_emails (
    seq INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    template TEXT NOT NULL,
    html TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);
";

/// Serialises this process's writers: the store thread while its transaction is open, the
/// maintenance thread's pruning and checkpoints, live migrations. Waiting on it rather than in
/// SQLite's busy handler (which sleeps for milliseconds) hands the database over as soon as it
/// is free. It is a ticket lock: writers get it in the order they asked, so a store thread that
/// re-takes it after every commit cannot starve a maintenance writer waiting for it. Its guard
/// is owned, so the store thread can hold it across loop rounds.
#[derive(Debug, Clone, Default)]
pub struct WriteLock(Arc<LockState>);

#[derive(Debug, Default)]
pub struct LockState {
    tickets: Mutex<Tickets>,
    turn: Condvar,
}

/// `next` is the ticket the next writer to ask gets; `serving` the one that holds the lock
/// (or may take it now).
#[derive(Debug, Default)]
struct Tickets {
    next: u64,
    serving: u64,
}

/// Held while writing; dropping it lets the next writer in.
#[derive(Debug)]
pub struct WriteGuard(Arc<LockState>);

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let mut tickets = self.0.tickets.lock().unwrap_or_else(|p| p.into_inner());
        tickets.serving += 1;
        drop(tickets);
        // Every waiter checks whether its ticket is served; only that one goes on.
        self.0.turn.notify_all();
    }
}

impl WriteLock {
    /// Waits for every writer that asked before, then holds the lock.
    pub fn lock(&self) -> WriteGuard {
        let state = &self.0;
        let mut tickets = state.tickets.lock().unwrap_or_else(|p| p.into_inner());
        let mine = tickets.next;
        tickets.next += 1;
        while tickets.serving != mine {
            tickets = state.turn.wait(tickets).unwrap_or_else(|p| p.into_inner());
        }
        WriteGuard(Arc::clone(state))
    }

    /// Writers waiting for the lock (not counting its holder). A holder that keeps it across
    /// rounds, like the store thread, can end its work early when someone waits.
    pub fn waiting(&self) -> u64 {
        let tickets = self.0.tickets.lock().unwrap_or_else(|p| p.into_inner());
        (tickets.next - tickets.serving).saturating_sub(1)
    }
}

/// How a store's integrity check ended, when it found nothing wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Fully,
    /// It ran out of time: the store is larger than can be checked at every start.
    Partly,
}

/// How long `flux dev` spends checking an existing store at start.
pub const START_CHECK_BUDGET: Duration = Duration::from_secs(2);

/// Pages (roughly) the integrity check goes through between looks at the clock.
const CHECK_PROGRESS_STEPS: i32 = 100;

/// Problems the integrity check names at most (it stops looking after that many).
const CHECK_PROBLEMS_SHOWN: usize = 3;

/// How long a connection waits for another process's (or a checkpoint's) lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The size a WAL file is cut back to whenever it is restarted: it grows past this only while
/// a checkpoint cannot catch up.
const WAL_SIZE_LIMIT: u64 = 4 * 1024 * 1024;

/// Prepared statements each connection keeps (flux's own, and the functions' most recent).
const STATEMENT_CACHE: usize = 128;

/// Where a project's store lives and how to open connections to it.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    write_lock: WriteLock,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    /// A file that is not a SQLite database is reported, never overwritten.
    /// Opens (creating if needed) the store at `path` and brings its schema up to date; see
    /// [`Store::open_checked`].
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_checked(path).map(|(store, _)| store)
    }

    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    /// A file that is not a SQLite database is reported, never overwritten; so is an empty one.
    /// An existing file is checked first for at most [`START_CHECK_BUDGET`] (see
    /// [`Store::check`]): a damaged store is named and not written to.
    pub fn open_checked(path: &Path) -> Result<(Store, Checked)> {
        let store = Store {
            path: path.to_path_buf(),
            write_lock: WriteLock::default(),
        };
        let existed = match std::fs::metadata(path) {
            Ok(meta) if meta.len() == 0 => {
                return Err(StoreError::Empty {
                    path: path.to_path_buf(),
                })
            }
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        // SQLite creates a new database with the umask's mode and its -wal and -shm with the
        // database's mode: an empty owner-only file first keeps all three private.
        if !existed {
            create_private(path, false).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        let mut conn = store.connect()?;
        let checked = if existed {
            store.check(&mut conn, Some(START_CHECK_BUDGET))?
        } else {
            Checked::Fully
        };
        conn.execute_batch(SCHEMA).map_err(|e| store.classify(e))?;
        conn.execute_batch(jobs::SCHEMA)
            .map_err(|e| store.classify(e))?;
        conn.execute_batch(tokens::SCHEMA)
            .map_err(|e| store.classify(e))?;
        conn.execute_batch(versions::SCHEMA)
            .map_err(|e| store.classify(e))?;
        jobs::upgrade(&conn).map_err(|e| store.classify(e))?;
        conn.execute_batch(search::SCHEMA)
            .map_err(|e| store.classify(e))?;
        // Records stored before search, or whose texts the last run had not indexed yet.
        search::catch_up(&conn)?;
        Ok((store, checked))
    }

    /// SQLite's `quick_check`: every page of every table and index is read and its structure
    /// checked (not index contents against their tables), so its time grows with the file's
    /// size (about 1.5 s for 125 MB on a busy machine). With a `budget`, a check that runs
    /// longer stops there, reported as [`Checked::Partly`].
    pub fn check(&self, conn: &mut Connection, budget: Option<Duration>) -> Result<Checked> {
        if let Some(budget) = budget {
            let until = std::time::Instant::now() + budget;
            conn.progress_handler(
                CHECK_PROGRESS_STEPS,
                Some(move || std::time::Instant::now() > until),
            )?;
        }
        let problems = conn
            .prepare(&format!("PRAGMA quick_check({CHECK_PROBLEMS_SHOWN})"))
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            });
        conn.progress_handler(0, None::<fn() -> bool>)?;
        let problems = match problems {
            Ok(problems) => problems,
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) => {
                return Ok(Checked::Partly)
            }
            Err(e) => return Err(self.classify(e)),
        };
        match problems.as_slice() {
            [ok] if ok == "ok" => Ok(Checked::Fully),
            _ => Err(StoreError::Damaged {
                path: self.path.clone(),
                problem: format!("SQLite's integrity check found {}", problems.join("; ")),
            }),
        }
    }

    /// Opens an existing store for reading only; used by commands when no server runs.
    pub fn open_existing(path: &Path) -> Result<Store> {
        match std::fs::metadata(path) {
            Err(_) => {
                return Err(StoreError::Open {
                    path: path.to_path_buf(),
                    message: "no such file".into(),
                })
            }
            Ok(meta) if meta.len() == 0 => {
                return Err(StoreError::Empty {
                    path: path.to_path_buf(),
                })
            }
            Ok(_) => {}
        }
        let store = Store {
            path: path.to_path_buf(),
            write_lock: WriteLock::default(),
        };
        store.connect()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock every writer of this process takes before writing.
    pub fn write_lock(&self) -> &WriteLock {
        &self.write_lock
    }

    /// A new read-write connection with the store's settings.
    pub fn connect(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(&self.path, flags).map_err(|e| StoreError::Open {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        // Idle until a thread runs user SQL on it (see `sandbox`).
        sandbox::install(&mut conn)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // The first read of the header tells a corrupt or foreign file apart.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| self.classify(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open {
                path: self.path.clone(),
                message: format!("could not switch to WAL mode (journal mode is {mode})"),
            });
        }
        // NORMAL in WAL mode: a killed process loses nothing committed; only a power cut
        // can lose the last transactions.
        // Checkpoints run on `flux dev`'s maintenance thread, not inside someone's commit.
        conn.execute_batch(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
        ))
        .map_err(|e| self.classify(e))?;
        // The store thread alone runs some thirty statements of flux's besides the functions'
        // own: rusqlite's default of 16 would prepare some of them again and again.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    fn classify(&self, error: rusqlite::Error) -> StoreError {
        use rusqlite::ffi::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StoreError::Corrupt {
                path: self.path.clone(),
                message: error.to_string(),
            },
            // A flux store whose damaged page was met while opening it, before any check.
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Damaged {
                path: self.path.clone(),
                problem: format!("SQLite read a damaged page ({error})"),
            },
            Some(ErrorCode::CannotOpen)
            | Some(ErrorCode::PermissionDenied)
            | Some(ErrorCode::ReadOnly) => StoreError::Open {
                path: self.path.clone(),
                message: error.to_string(),
            },
            _ => StoreError::Sql(error),
        }
    }
}
