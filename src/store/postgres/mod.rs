//! PostgreSQL, the second implementation of the storage boundary (for `flux serve` and
//! deploy; see issue 16): flux's own tables (`schema.rs`), the readers' [`Storage`] over a
//! small bounded pool of connections (`pool.rs`), and the record writes the store thread will
//! make ([`insert_writes`], commit-ordered `seq`s across processes). The rules shared with
//! SQLite (filters, pages, what a prefix names, the tail's matching) are the parent module's;
//! only SQL is here.
//!
//! Connections per process: at most [`READERS`] for reads (calls wait for one beyond that,
//! up to 30 s), 2 of the sandbox role's for reads of the app's tables, plus the store
//! thread's: `2 × statements + transactions + 1` ([`PgThreadOptions`]), plus the queue's
//! (`queue::LeasedQueue`): one for claims and leases and one listening for `NOTIFY
//! flux_jobs` (unless `queue.notify` is off).
//!
//! The queue's claims across processes are leases ([`claims`]): claimed by one short
//! statement, fenced at completion, put back when they expire.
//!
//! [`JobWrites`](super::JobWrites), [`TokenWrites`](super::TokenWrites) and [`VersionWrites`](super::VersionWrites) are [`PgWrites`] on a transaction. [`JobClaims`](super::JobClaims)
//! is not implemented: its model (claims on the one writer's open transaction, and putting
//! back every running job at start) is one process's; across processes, [`claims`]' leases
//! replace it.
//!
//! The user's SQL ([`UserSql`], `user_sql.rs`) runs one statement at a time on connections
//! that log in as a sandbox role ([`Sandbox`], `sandbox.rs`), with the rows it changed staged
//! by triggers (`capture.rs`).
//!
//! The project's migrations: [`PgStore::apply_migrations`], once per file across processes,
//! as the sandbox role (so a migration cannot touch flux's tables either).
//!
//! The store thread's work on PostgreSQL ([`PgStoreThread`], `thread.rs`): each statement
//! outside a transaction in a short transaction of its own, a `ctx.db.transaction` on a
//! connection of its own until it ends, and one record writer with [`insert_writes`].

mod capture;
pub mod claims;
mod emails;
mod jobs;
mod migrate;
mod pool;
pub mod prepared;
mod records;
mod rows;
mod sandbox;
mod schema;
mod thread;
mod tokens;
mod upkeep;
pub mod user_sql;
mod versions;
mod writes;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::resolve::IdMatches;
use super::search::Query;
use super::storage::{Pruning, Storage};
use super::tokens::{TokenKey, TokenRow};
use super::versions::VersionRow;
use super::{
    ChangeFilter, Checked, DeadLetter, Email, JobLookup, JobRow, MinuteCount, RecordFilter,
    RecordLookup, RecordPage, Result, RowChange, StatsRow, StoreError, TailFilter,
};
use crate::record::{ExecutionRecord, JobState, TableSchema, TailEvent};
pub use jobs::{enqueue, Fence};
use pool::Pool;
pub use records::{insert_writes, insert_writes_once};
pub use sandbox::Sandbox;
pub use schema::VERSION as SCHEMA_VERSION;
pub use thread::{PgStoreThread, PgThreadOptions, QueueHooks};
pub use upkeep::PRUNE_LOCK;
pub use user_sql::UserSql;
pub use writes::PgWrites;

/// Connections a store opens for reads at most.
pub const READERS: usize = 4;

/// A PostgreSQL database holding a project's store.
#[derive(Clone)]
pub struct PgStore {
    config: postgres::Config,
    location: String,
    pool: Arc<Pool>,
    trigram: bool,
    /// Installed on first use ([`PgStore::sandbox`]), shared by the store's clones.
    sandbox: Arc<Mutex<Option<Arc<Sandbox>>>>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`), creates flux's
    /// tables where missing, and refuses a database whose tables a newer flux made.
    /// Which of its failures is the URL's, the network's or the server's refusal is told
    /// apart ([`StoreError::BadDatabaseUrl`], [`StoreError::PgUnreachable`],
    /// [`StoreError::PgRefused`]); an unanswered connect gives up after [`CONNECT_TIMEOUT`].
    pub fn open(url: &str) -> Result<PgStore> {
        let mut config: postgres::Config =
            url.parse()
                .map_err(|e: postgres::Error| StoreError::BadDatabaseUrl {
                    message: with_cause(&e),
                })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let location = location(&config);
        let pool = Arc::new(Pool::new(config.clone(), READERS));
        let mut first = pool.get().map_err(|e| connect_error(e, &location))?;
        let trigram = schema::create(&mut first)?;
        drop(first);
        Ok(PgStore {
            config,
            location,
            pool,
            trigram,
            sandbox: Arc::default(),
        })
    }

    /// A connection of its own, outside the readers' pool: the writer's.
    pub fn connect(&self) -> Result<postgres::Client> {
        Ok(self.config.connect(postgres::NoTls)?)
    }

    /// A connection for the statements flux prepares and runs at every job (claims, records):
    /// each planned once, not again for each run's values (PostgreSQL's default replans a
    /// prepared statement whose generic plan it estimates dearer, which these are not).
    pub fn connect_for_prepared(&self) -> Result<postgres::Client> {
        let mut client = self.connect()?;
        client.batch_execute("SET plan_cache_mode = force_generic_plan")?;
        Ok(client)
    }

    /// A connection for the queue's claims, leases and requeues, prepared as
    /// [`PgStore::connect_for_prepared`]'s.
    ///
    /// A plan made without the values trusts the statistics of the moment, which lag behind a
    /// busy jobs table: with waiting jobs whose `run_at` order is not the table's (delays,
    /// retries, rows moved by updates), a claim of five could be planned as a bitmap scan that
    /// read and sorted the whole backlog. Sorts, bitmap and sequential scans are priced out
    /// here: each of these statements has an index that gives its rows (in `run_at` order,
    /// for a claim), and walks it. The one sort left (a claim among workers merges a few rows
    /// from each) then costs past `jit_above_cost`: JIT is off, else that claim compiled its
    /// plan at each run (130–200 ms, its jobs locked meanwhile).
    pub fn connect_for_claims(&self) -> Result<postgres::Client> {
        let mut client = self.connect_for_prepared()?;
        client.batch_execute(
            "SET enable_sort = off; SET enable_bitmapscan = off; SET enable_seqscan = off; \
             SET jit = off",
        )?;
        Ok(client)
    }

    /// Applies the project's `dir/*.sql` (see `migrate.rs`) as the sandbox role: each file
    /// once across every process sharing the database, in its own transaction, under an
    /// advisory lock.
    pub fn apply_migrations(&self, dir: &std::path::Path) -> Result<super::MigrationReport> {
        let sandbox = self.sandbox()?;
        migrate::apply(&mut sandbox.connect()?, &sandbox, dir)
    }

    /// The role user SQL logs in as (`sandbox.rs`), installed the first time it is asked
    /// for in this process: created where missing (flux's role needs CREATEROLE for that),
    /// checked, given LOGIN and its password. Fails with [`StoreError::PgSandboxLogin`] when
    /// the server refuses its login, and [`StoreError::PgPrivileged`] when it has powers
    /// beyond the app's tables.
    pub fn sandbox(&self) -> Result<Arc<Sandbox>> {
        let mut installed = self.sandbox.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sandbox) = &*installed {
            return Ok(Arc::clone(sandbox));
        }
        let sandbox = Arc::new(Sandbox::install(
            &mut *self.pool.get()?,
            &self.config,
            &self.location,
        )?);
        *installed = Some(Arc::clone(&sandbox));
        Ok(sandbox)
    }

    /// Asks whichever process runs job attempt `exec_id` to stop it (it listens unless its
    /// `queue.notify` is off).
    pub fn ask_cancel(&self, exec_id: &str) -> Result<()> {
        claims::ask_cancel(&mut *self.pool.get()?, exec_id)
    }

    /// Tells the processes listening to pause (or resume) their queue, as this one did.
    pub fn announce_pause(&self, paused: bool) -> Result<()> {
        claims::announce_pause(&mut *self.pool.get()?, paused)
    }

    /// Whether searches read pg_trgm's index (else they scan the records).
    pub fn search_indexed(&self) -> bool {
        self.trigram
    }
}

/// How long connecting waits for a server that does not answer, unless the URL says
/// (`connect_timeout=`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A first connection's failure, told apart: the server's refusal (it answered, with a
/// SQLSTATE) or no server to talk to.
fn connect_error(error: StoreError, location: &str) -> StoreError {
    let StoreError::Postgres(error) = error else {
        return error;
    };
    match error.as_db_error() {
        Some(db) => StoreError::PgRefused {
            location: location.to_string(),
            message: db.message().to_string(),
            code: db.code().code().to_string(),
        },
        None => StoreError::PgUnreachable {
            location: location.to_string(),
            reason: with_cause(&error),
        },
    }
}

/// The driver's error as a message says it: the server's own message, detail and SQLSTATE
/// (the driver's text alone is "db error"), else the driver's text with its cause.
pub(crate) fn described(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(": {detail}"));
            }
            text
        }
        None => with_cause(error),
    }
}

/// The driver's error with its cause ("error connecting to server: Connection refused"):
/// its own text names only the step that failed.
fn with_cause(error: &postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// The database as messages name it: host, port and name, never the password.
fn location(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("postgres://{host}:{port}/{database}")
}

impl Storage for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn find_record(&self, prefix: &str) -> Result<RecordLookup> {
        self.pool.read(|c| records::find_record(c, prefix))
    }

    fn id_matches(&self, prefix: &str) -> Result<IdMatches> {
        self.pool.read(|c| {
            Ok(IdMatches {
                executions: records::executions_by_prefix(c, prefix)?,
                jobs: jobs::jobs_by_prefix(c, prefix)?,
            })
        })
    }

    fn record_page(&self, filter: &RecordFilter) -> Result<RecordPage> {
        self.pool.read(|c| records::record_page(c, filter))
    }

    fn minute_counts(&self, since_us: i64, function: Option<&str>) -> Result<Vec<MinuteCount>> {
        self.pool
            .read(|c| records::minute_counts(c, since_us, function))
    }

    /// The counter's committed value: its row lock is held from a batch's numbering to its
    /// commit, so every `seq` up to it has committed (see `insert_writes`).
    fn tail_position(&self) -> Result<i64> {
        self.pool
            .read(|c| Ok(c.query_one("SELECT n FROM _flux_seq", &[])?.try_get(0)?))
    }

    fn tail_history(
        &self,
        after_seq: Option<i64>,
        since_us: Option<i64>,
        filter: &TailFilter,
        limit: usize,
    ) -> Result<Vec<TailEvent>> {
        self.pool
            .read(|c| records::tail_history(c, after_seq, since_us, filter, limit))
    }

    fn attempt_chain(&self, latest: &str) -> Result<Vec<ExecutionRecord>> {
        self.pool.read(|c| records::attempt_chain(c, latest))
    }

    fn row_changes(&self, filter: &ChangeFilter) -> Result<Vec<RowChange>> {
        self.pool.read(|c| rows::row_changes(c, filter))
    }

    fn app_tables(&self) -> Result<Vec<String>> {
        self.pool.read(rows::table_names)
    }

    fn schema(&self) -> Result<Vec<TableSchema>> {
        self.pool.read(rows::tables)
    }

    fn row_exists(&self, table: &str, column: &str, value: &Value) -> Result<bool> {
        // As the sandbox role: the table may be a view, or have a policy, calling the user's
        // functions, which must not run as flux's role.
        self.sandbox()?
            .read(|c| rows::row_exists(c, table, column, value))
    }

    fn job_stats(&self, now_us: i64) -> Result<Vec<StatsRow>> {
        self.pool.read(|c| jobs::stats(c, now_us))
    }

    fn list_jobs(
        &self,
        state: Option<JobState>,
        function: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRow>> {
        self.pool
            .read(|c| jobs::list_jobs(c, state, function, limit))
    }

    fn dead_letters(
        &self,
        function: Option<&str>,
        search: Option<&Query>,
    ) -> Result<Vec<DeadLetter>> {
        self.pool.read(|c| jobs::dead_letters(c, function, search))
    }

    fn emails(&self, limit: usize) -> Result<Vec<Email>> {
        self.pool.read(|c| emails::list(c, limit))
    }

    fn email(&self, id: i64) -> Result<Option<Email>> {
        self.pool.read(|c| emails::find(c, id))
    }

    fn find_job(&self, prefix: &str) -> Result<JobLookup> {
        self.pool.read(|c| jobs::find_job(c, prefix))
    }

    fn tokens(&self) -> Result<Vec<TokenRow>> {
        self.pool.read(tokens::list)
    }

    fn token_by_hash(&self, key: TokenKey, hash: &str) -> Result<Option<TokenRow>> {
        self.pool.read(|c| tokens::by_hash(c, key, hash))
    }

    fn versions(&self) -> Result<Vec<VersionRow>> {
        self.pool.read(versions::list)
    }

    fn active_version(&self) -> Result<Option<(VersionRow, String)>> {
        self.pool.read(versions::active)
    }

    fn active_version_id(&self) -> Result<Option<String>> {
        self.pool.read(versions::active_id)
    }

    fn version_manifest(&self, id: &str) -> Result<Option<String>> {
        self.pool.read(|c| versions::manifest(c, id))
    }

    fn missing_blobs(&self, hashes: &[String]) -> Result<Vec<String>> {
        self.pool.read(|c| versions::missing_blobs(c, hashes))
    }

    fn blob(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        self.pool.read(|c| versions::blob(c, hash))
    }

    /// PostgreSQL checks its own pages (with data checksums, when the cluster has them);
    /// flux checks that the database answers.
    fn check_integrity(&self, _budget: Option<Duration>) -> Result<Checked> {
        self.pool.read(|c| Ok(c.simple_query("SELECT 1")?))?;
        Ok(Checked::Fully)
    }

    fn pruning(&self) -> Result<Box<dyn Pruning>> {
        Ok(Box::new(upkeep::PgPruning {
            pool: Arc::clone(&self.pool),
        }))
    }
}
