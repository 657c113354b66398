//! The SQLite store: one file in WAL mode (`.flux/flux.db`) holding the app's tables and the
//! internal `_flux_*` tables, so that app writes and queue writes can share one commit.

mod batch;
mod capture;
mod files;
mod migrate;
mod mutations;
mod records;
mod retention;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use batch::Batch;
pub use capture::Capture;
pub use files::{create_private, secure_state_dir, write_private, PrivateFileError};
pub use migrate::apply_migrations;
pub use mutations::{blame, row_changes, Blame, ChangeFilter, RowChange};
pub use records::{
    attempt_chain, find_record, insert_writes, list_records, prepare_writes, tail_history,
    PreparedWrites, RecordFilter, RecordLookup, StoreWrite, TailFilter, DEFAULT_LIMIT, MAX_LIMIT,
};
pub use retention::{prune, Retention};
pub use writer::{
    busy_message, writer_channel, AfterCommit, Session, SqlCall, TxControl, Writer, LOCK_WAIT,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not a flux store SQLite can read ({message})")]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot open {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("migration {file} failed: {message}")]
    Migration { file: String, message: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("a stored record is unreadable: {0}")]
    Decode(#[from] serde_json::Error),
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
/// maintenance thread's pruning and live migrations. Waiting on it rather than in SQLite's busy
/// handler (which sleeps for milliseconds) hands the database over as soon as it is free. Its
/// guard is owned, so the store thread can hold it across loop rounds.
#[derive(Debug, Clone, Default)]
pub struct WriteLock(Arc<LockState>);

#[derive(Debug, Default)]
pub struct LockState {
    held: Mutex<bool>,
    released: Condvar,
}

/// Held while writing; dropping it lets the next writer in.
#[derive(Debug)]
pub struct WriteGuard(Arc<LockState>);

impl Drop for WriteGuard {
    fn drop(&mut self) {
        *self.0.held.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.released.notify_one();
    }
}

impl WriteLock {
    pub fn lock(&self) -> WriteGuard {
        let state = &self.0;
        let mut held = state.held.lock().unwrap_or_else(|p| p.into_inner());
        while *held {
            held = state.released.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        *held = true;
        WriteGuard(Arc::clone(state))
    }
}

/// Where a project's store lives and how to open connections to it.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    write_lock: WriteLock,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    /// A file that is not a SQLite database is reported, never overwritten.
    pub fn open(path: &Path) -> Result<Store> {
        let store = Store {
            path: path.to_path_buf(),
            write_lock: WriteLock::default(),
        };
        // SQLite creates a new database with the umask's mode and its -wal and -shm with the
        // database's mode: an empty owner-only file first keeps all three private.
        if !path.exists() {
            create_private(path, false).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        let conn = store.connect()?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(crate::queue::SCHEMA)?;
        Ok(store)
    }

    /// Opens an existing store for reading only; used by commands when no server runs.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                message: "no such file".into(),
            });
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
        let conn =
            Connection::open_with_flags(&self.path, flags).map_err(|e| StoreError::Open {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        conn.busy_timeout(Duration::from_secs(10))?;
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
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(|e| self.classify(e))?;
        Ok(conn)
    }

    fn classify(&self, error: rusqlite::Error) -> StoreError {
        use rusqlite::ffi::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt {
                    path: self.path.clone(),
                    message: error.to_string(),
                }
            }
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
