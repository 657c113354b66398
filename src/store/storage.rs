//! The storage boundary: what the runtime, the queue, the server and the CLI may ask of a
//! store, whichever database holds it. See the module doc of [`crate::store`] for how the
//! pieces fit; [`super::sqlite`] is the first implementation.

use std::time::Duration;

use serde_json::Value;

use super::resolve::{self, IdMatches, Named, NamedRecord, Scoped};
use super::search::Query;
use super::tokens::{NewToken, TokenKey, TokenLookup, TokenRow};
use super::versions::{NewVersion, VersionLookup, VersionRow};
use super::{
    ChangeFilter, Checked, DeadLetter, Email, EnqueueError, EnqueueOptions, Enqueued, JobLookup,
    JobRow, MinuteCount, RecordFilter, RecordLookup, RecordPage, ReplayError, Result, RowChange,
    StatsRow, TailFilter,
};
use crate::project::Retention;
use crate::record::{
    ExecId, ExecutionRecord, JobId, JobState, RecordSummary, TableSchema, TailEvent,
};

/// Reads of flux's history and queue, and the store's upkeep: everything but the writer.
///
/// Each call stands alone (it sees what was committed when it began) and may run on any
/// thread, several at once; an implementation keeps its own connections.
///
/// # How the writer fits
///
/// Writes do not go through this trait. A store has exactly one writer, the store thread
/// ([`super::Writer`] hands it the executions' SQL as [`super::SqlCall`]s and their finished
/// records as [`super::StoreWrite`]s), which group-commits the writes of many executions with
/// their records, their jobs' new states and the queue's claims, and publishes what committed.
/// Job writes made on a caller's behalf (an enqueue, a replay) run on the writer's connection
/// inside its transaction, through [`JobWrites`], so that they commit or roll back with the
/// execution or API call that made them; the queue's claims run there too, through
/// [`JobClaims`]; so do the API's token writes, through [`TokenWrites`]. A second backend
/// therefore provides five things: this trait, [`JobWrites`], [`TokenWrites`] and
/// [`JobClaims`] on its writer's transaction, and its own writer behind
/// `Writer`/`SqlCall` (the store thread and its group commit).
pub trait Storage: Send + Sync {
    /// Where the store is, as messages name it (for SQLite, its file).
    fn location(&self) -> String;

    /// The record whose id starts with `prefix` (already validated lowercase hex).
    fn find_record(&self, prefix: &str) -> Result<RecordLookup>;

    /// The executions and jobs whose own ids start with `prefix` (validated lowercase hex),
    /// a few of each ([`super::resolve::MATCH_LIMIT`]).
    fn id_matches(&self, prefix: &str) -> Result<IdMatches>;

    /// What `prefix` names, an execution or a job, decided as everywhere ([`resolve::decide`]).
    fn resolve_id(&self, prefix: &str) -> Result<Named> {
        Ok(resolve::decide(self.id_matches(prefix)?))
    }

    /// The record `prefix` names: an execution's, or the latest attempt's of a job.
    fn find_named_record(&self, prefix: &str) -> Result<NamedRecord> {
        let (id, job) = match self.resolve_id(prefix)? {
            Named::Execution(id) => (id.to_string(), None),
            Named::Job(job) => match job.last_record.clone() {
                Some(latest) => (latest, Some(job)),
                None => return Ok(NamedRecord::NotFound(Some(job))),
            },
            Named::NotFound => return Ok(NamedRecord::NotFound(None)),
            Named::Ambiguous(candidates) => return Ok(NamedRecord::Ambiguous(candidates)),
        };
        Ok(match self.find_record(&id)? {
            RecordLookup::Found(record) => NamedRecord::Found(record),
            // Pruned since, or (for a full id) several: neither is this prefix's record.
            RecordLookup::NotFound | RecordLookup::Ambiguous(_) => NamedRecord::NotFound(job),
        })
    }

    /// Records matching `filter`, newest first, as summaries: a page of `filter.limit`
    /// starting after `filter.before`, and the cursor of the next page if there is one.
    fn record_page(&self, filter: &RecordFilter) -> Result<RecordPage>;

    /// Records matching `filter`, newest first, as summaries (one page).
    fn list_records(&self, filter: &RecordFilter) -> Result<Vec<RecordSummary>> {
        self.record_page(filter).map(|page| page.records)
    }

    /// Executions per function and minute started since `since_us` (minutes with none left
    /// out), oldest first; only `function`'s when given.
    fn minute_counts(&self, since_us: i64, function: Option<&str>) -> Result<Vec<MinuteCount>>;

    /// The `seq` of the last record committed: every record up to it is visible now, so a
    /// tail that starts after it misses nothing committed later.
    fn tail_position(&self) -> Result<i64>;

    /// Recorded executions in commit order after `after_seq` (or started since `since_us`)
    /// that match `filter`, at most `limit`.
    fn tail_history(
        &self,
        after_seq: Option<i64>,
        since_us: Option<i64>,
        filter: &TailFilter,
        limit: usize,
    ) -> Result<Vec<TailEvent>>;

    /// A job's attempts, oldest first, walking back from its latest attempt `latest`.
    fn attempt_chain(&self, latest: &str) -> Result<Vec<ExecutionRecord>>;

    /// Row changes (`flux state history`; `blame` reads them).
    fn row_changes(&self, filter: &ChangeFilter) -> Result<Vec<RowChange>>;

    /// The app's tables (flux's own left out), by name: what `flux state` can be asked about.
    fn app_tables(&self) -> Result<Vec<String>>;

    /// The app's tables, their columns, keys and foreign keys (`flux why`).
    fn schema(&self) -> Result<Vec<TableSchema>>;

    /// Whether the app's `table` has a row whose `column` is `value` (`flux why`: is a
    /// foreign key's parent there, does a child still reference it).
    fn row_exists(&self, table: &str, column: &str, value: &Value) -> Result<bool>;

    /// Row changes, `filter.record_prefix` taken as a prefix names anything: one execution's
    /// changes, or those of every attempt of a job. A prefix naming nothing keeps nothing.
    fn named_row_changes(&self, filter: &ChangeFilter) -> Result<Scoped<Vec<RowChange>>> {
        let mut filter = filter.clone();
        if let Some(prefix) = &filter.record_prefix {
            match self.resolve_id(prefix)? {
                Named::Execution(id) => filter.record_prefix = Some(id.to_string()),
                Named::Job(job) => {
                    filter.record_prefix = None;
                    filter.job = Some(job.id.to_string());
                }
                Named::NotFound => {}
                Named::Ambiguous(candidates) => return Ok(Scoped::Ambiguous(candidates)),
            }
        }
        self.row_changes(&filter).map(Scoped::Found)
    }

    /// Counts per function and job state, for `flux queue stats`.
    fn job_stats(&self, now_us: i64) -> Result<Vec<StatsRow>>;

    /// Jobs, newest first, optionally of one state and one function.
    fn list_jobs(
        &self,
        state: Option<JobState>,
        function: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRow>>;

    /// Dead jobs, as `flux queue dead-letter list` shows them: of `function`, and whose last
    /// attempt's record contains `search`, when given.
    fn dead_letters(
        &self,
        function: Option<&str>,
        search: Option<&Query>,
    ) -> Result<Vec<DeadLetter>>;

    /// The newest captured emails, newest first, without their bodies.
    fn emails(&self, limit: usize) -> Result<Vec<Email>>;

    /// One captured email with its body.
    fn email(&self, id: i64) -> Result<Option<Email>>;

    /// The job a prefix names: a job id, or the id of any of its attempts' executions.
    fn find_job(&self, prefix: &str) -> Result<JobLookup>;

    /// The summaries of a job's attempts, oldest first.
    fn job_attempts(&self, job: &JobRow) -> Result<Vec<RecordSummary>> {
        let Some(latest) = &job.last_record else {
            return Ok(Vec::new());
        };
        let chain = self.attempt_chain(latest)?;
        Ok(chain.iter().map(RecordSummary::from).collect())
    }

    /// A job (by its id or any attempt's id prefix) and the summaries of its attempts.
    fn job_with_attempts(&self, prefix: &str) -> Result<Option<(JobRow, Vec<RecordSummary>)>> {
        let JobLookup::Found(job) = self.find_job(prefix)? else {
            return Ok(None);
        };
        let attempts = self.job_attempts(&job)?;
        Ok(Some((*job, attempts)))
    }

    /// Every scoped token, oldest first (none in a store made before tokens).
    fn tokens(&self) -> Result<Vec<TokenRow>>;

    /// The token whose hash (or whose dashboard session's hash) is `hash`, revoked or not.
    fn token_by_hash(&self, key: TokenKey, hash: &str) -> Result<Option<TokenRow>>;

    /// Checks the store's integrity; with a `budget`, stops there ([`Checked::Partly`]).
    /// Deployed versions, the active one first (see [`super::versions`]).
    fn versions(&self) -> Result<Vec<VersionRow>>;

    /// The active version and its manifest (JSON); `None` before the first deploy.
    fn active_version(&self) -> Result<Option<(VersionRow, String)>>;

    /// The active version's id, without its manifest: what a `flux serve` polls to follow
    /// deploys made through other processes.
    fn active_version_id(&self) -> Result<Option<String>> {
        Ok(self.active_version()?.map(|(row, _)| row.id))
    }

    /// A stored version's manifest (JSON).
    fn version_manifest(&self, id: &str) -> Result<Option<String>>;

    /// The hashes among `hashes` whose blob the store lacks.
    fn missing_blobs(&self, hashes: &[String]) -> Result<Vec<String>>;

    /// A deployed file's bytes, by SHA-256.
    fn blob(&self, hash: &str) -> Result<Option<Vec<u8>>>;

    fn check_integrity(&self, budget: Option<Duration>) -> Result<Checked>;

    /// A pruning session for the store's upkeep, kept by the one thread that does it.
    fn pruning(&self) -> Result<Box<dyn Pruning>>;
}

/// Store upkeep off the request path, on one long-lived session: pruning flux's history by
/// age and by size. Each call works in small transactions, so writers interleave with it.
/// (Reclaiming the log, SQLite's WAL checkpoints, is the SQLite implementation's own affair.)
pub trait Pruning: Send {
    /// Deletes records older than `retention.max_age`; returns how many went.
    fn prune(&mut self, retention: &Retention, now_us: i64) -> Result<u64>;

    /// Deletes the oldest records while flux's history is over `retention.max_bytes`;
    /// returns how many went.
    fn prune_to_size(&mut self, retention: &Retention, now_us: i64) -> Result<u64>;
}

/// The queue's claims, made by the dispatcher on the writer's open transaction (see
/// [`Storage`]'s "How the writer fits"): what is due, marking attempts running, putting back
/// what a killed process left running, and noting attempts whose writes commit ahead of their
/// record. They commit with the records of the same round.
pub trait JobClaims {
    /// Up to `limit` due jobs in `run_at` order, skipping the functions in `full`.
    fn due_jobs(&self, now_us: i64, limit: usize, full: &[String]) -> Result<Vec<JobRow>>;

    /// When the next waiting job not named in `skip` is due, if any waits.
    fn next_due(&self, skip: &[String]) -> Result<Option<i64>>;

    /// Marks jobs running and counts their attempt.
    fn mark_running(&self, job_ids: &mut dyn Iterator<Item = &JobId>, now_us: i64) -> Result<()>;

    /// Puts the jobs a killed process left running back to pending, the attempt not counted;
    /// returns how many.
    fn recover_running(&self, now_us: i64) -> Result<usize>;

    /// Notes attempts `(execution, job, started at)` whose writes commit ahead of their record.
    fn mark_partial_attempts(&self, attempts: &[(ExecId, JobId, i64)]) -> Result<()>;

    /// Forgets those notes once the attempts' records commit.
    fn forget_partial_attempts(&self, execs: &[ExecId]) -> Result<()>;

    /// Takes every note a killed process left, with its job if it still exists.
    fn take_partial_attempts(&self) -> Result<Vec<(ExecId, Option<JobRow>, i64)>>;
}

/// The job writes a caller makes, run on the writer's connection inside its open transaction
/// (see [`Storage`]'s "How the writer fits"): they commit or roll back with it.
pub trait JobWrites {
    /// Writes a job; an idempotency key that matches an earlier job returns that one instead.
    fn enqueue(
        &self,
        name: &str,
        data: &Value,
        options: &EnqueueOptions,
        max_attempts: u32,
        enqueued_by: Option<ExecId>,
        now_us: i64,
    ) -> Result<Enqueued, EnqueueError>;

    /// The job a prefix names, as this transaction sees it.
    fn find_job(&self, prefix: &str) -> Result<JobLookup>;

    /// Puts a dead job back in the queue with a fresh attempt count, and `data` as its payload
    /// when given; returns the execution id its next attempt will have.
    fn replay(
        &self,
        job: &JobRow,
        max_attempts: u32,
        now_us: i64,
        data: Option<&Value>,
    ) -> Result<String, ReplayError>;

    /// Cancels `job` if it waits (pending or scheduled): its last record becomes the id its
    /// next attempt would have had, for the record of the cancellation. Returns whether it
    /// was waiting.
    fn cancel_waiting(&self, job: &JobRow, reason: &str, now_us: i64) -> Result<bool>;

    /// Dead jobs of `function` whose last attempt's record contains `search` (each when
    /// given), as this transaction sees them.
    fn dead_jobs(&self, function: Option<&str>, search: Option<&Query>) -> Result<Vec<JobRow>>;
}

/// The token writes the API makes (create, revoke, note a use), on the writer's connection
/// inside its open transaction, like [`JobWrites`].
pub trait TokenWrites {
    /// Stores a new token; returns its row (with its new id).
    fn create_token(&self, new: &NewToken, now_us: i64) -> Result<TokenRow>;

    /// The token an id prefix (lowercase hex) names, as this transaction sees it.
    fn find_token(&self, prefix: &str) -> Result<TokenLookup>;

    /// Makes token `id` stop working at `at_us` (now, or later for a rotation's grace),
    /// unless it already stops sooner.
    fn revoke_token(&self, id: &str, at_us: i64) -> Result<()>;

    /// Notes that token `id` was used at `at_us`.
    fn note_token_used(&self, id: &str, at_us: i64) -> Result<()>;
}

/// Deploys' writes, on the writer's transaction: blobs (checked by the caller against their
/// hash), versions, and which one is active.
pub trait VersionWrites {
    /// Stores a blob under its hash (kept as it is when already there).
    fn put_blob(&self, hash: &str, data: &[u8]) -> Result<()>;

    /// Stores a version (a known one keeps its first row) and makes it active.
    fn create_version(&self, new: &NewVersion, now_us: i64) -> Result<()>;

    /// Makes a stored version the active one.
    fn activate_version(&self, id: &str, now_us: i64) -> Result<()>;

    /// The version an id prefix names.
    fn find_version(&self, prefix: &str) -> Result<VersionLookup>;
}

/// Everything an API call may write on the writer's transaction: what the server's
/// `with_writer` hands its work.
pub trait CallerWrites: JobWrites + TokenWrites + VersionWrites {}

impl<T: JobWrites + TokenWrites + VersionWrites> CallerWrites for T {}
