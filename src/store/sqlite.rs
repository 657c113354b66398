//! SQLite, the first implementation of the storage boundary: a [`Store`] answers [`Storage`]
//! with a fresh connection per call (WAL lets readers run beside the writer), and the
//! writer's connection answers [`JobWrites`] inside its transaction.

use std::time::Duration;

use rusqlite::Connection;
use serde_json::Value;

use super::resolve::IdMatches;
use super::search::Query;
use super::storage::{JobClaims, JobWrites, Pruning, Storage, TokenWrites, VersionWrites};
use super::tokens::{self, NewToken, TokenKey, TokenLookup, TokenRow};
use super::versions::{self, NewVersion, VersionLookup, VersionRow};
use super::{
    emails, jobs, mutations, records, retention, schema, ChangeFilter, Checked, DeadLetter, Email,
    EnqueueError, EnqueueOptions, Enqueued, JobLookup, JobRow, MinuteCount, RecordFilter,
    RecordLookup, RecordPage, ReplayError, Result, RowChange, StatsRow, Store, TailFilter,
    WriteLock,
};
use crate::project::Retention;
use crate::record::{ExecId, ExecutionRecord, JobId, JobState, TableSchema, TailEvent};

impl Storage for Store {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn find_record(&self, prefix: &str) -> Result<RecordLookup> {
        records::find_record(&self.connect()?, prefix)
    }

    fn id_matches(&self, prefix: &str) -> Result<IdMatches> {
        let conn = self.connect()?;
        Ok(IdMatches {
            executions: records::executions_by_prefix(&conn, prefix)?,
            jobs: jobs::jobs_by_prefix(&conn, prefix)?,
        })
    }

    fn record_page(&self, filter: &RecordFilter) -> Result<RecordPage> {
        records::list_records(&self.connect()?, filter)
    }

    fn minute_counts(&self, since_us: i64, function: Option<&str>) -> Result<Vec<MinuteCount>> {
        records::minute_counts(&self.connect()?, since_us, function)
    }

    fn tail_position(&self) -> Result<i64> {
        Ok(self.connect()?.query_row(
            "SELECT coalesce(max(seq), 0) FROM _flux_records",
            [],
            |row| row.get(0),
        )?)
    }

    fn tail_history(
        &self,
        after_seq: Option<i64>,
        since_us: Option<i64>,
        filter: &TailFilter,
        limit: usize,
    ) -> Result<Vec<TailEvent>> {
        records::tail_history(&self.connect()?, after_seq, since_us, filter, limit)
    }

    fn attempt_chain(&self, latest: &str) -> Result<Vec<ExecutionRecord>> {
        records::attempt_chain(&self.connect()?, latest)
    }

    fn row_changes(&self, filter: &ChangeFilter) -> Result<Vec<RowChange>> {
        mutations::row_changes(&self.connect()?, filter)
    }

    fn app_tables(&self) -> Result<Vec<String>> {
        schema::table_names(&self.connect()?)
    }

    fn schema(&self) -> Result<Vec<TableSchema>> {
        schema::tables(&self.connect()?)
    }

    fn row_exists(&self, table: &str, column: &str, value: &Value) -> Result<bool> {
        schema::row_exists(&self.connect()?, table, column, value)
    }

    fn job_stats(&self, now_us: i64) -> Result<Vec<StatsRow>> {
        Ok(jobs::stats(&self.connect()?, now_us)?)
    }

    fn list_jobs(
        &self,
        state: Option<JobState>,
        function: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRow>> {
        Ok(jobs::list_jobs(&self.connect()?, state, function, limit)?)
    }

    fn dead_letters(
        &self,
        function: Option<&str>,
        search: Option<&Query>,
    ) -> Result<Vec<DeadLetter>> {
        Ok(jobs::dead_letters(&self.connect()?, function, search)?)
    }

    fn emails(&self, limit: usize) -> Result<Vec<Email>> {
        Ok(emails::list(&self.connect()?, limit)?)
    }

    fn email(&self, id: i64) -> Result<Option<Email>> {
        Ok(emails::find(&self.connect()?, id)?)
    }

    fn find_job(&self, prefix: &str) -> Result<JobLookup> {
        Ok(jobs::find_job(&self.connect()?, prefix)?)
    }

    fn tokens(&self) -> Result<Vec<TokenRow>> {
        Ok(tokens::list(&self.connect()?)?)
    }

    fn token_by_hash(&self, key: TokenKey, hash: &str) -> Result<Option<TokenRow>> {
        Ok(tokens::by_hash(&self.connect()?, key, hash)?)
    }

    fn versions(&self) -> Result<Vec<VersionRow>> {
        Ok(versions::list(&self.connect()?)?)
    }

    fn active_version(&self) -> Result<Option<(VersionRow, String)>> {
        Ok(versions::active(&self.connect()?)?)
    }

    fn version_manifest(&self, id: &str) -> Result<Option<String>> {
        Ok(versions::manifest(&self.connect()?, id)?)
    }

    fn missing_blobs(&self, hashes: &[String]) -> Result<Vec<String>> {
        Ok(versions::missing_blobs(&self.connect()?, hashes)?)
    }

    fn blob(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(versions::blob(&self.connect()?, hash)?)
    }

    fn check_integrity(&self, budget: Option<Duration>) -> Result<Checked> {
        let mut conn = self.connect()?;
        self.check(&mut conn, budget)
    }

    fn pruning(&self) -> Result<Box<dyn Pruning>> {
        Ok(Box::new(SqlitePruning {
            conn: self.connect()?,
            lock: self.write_lock().clone(),
            size_watch: retention::SizeWatch::default(),
        }))
    }
}

/// Upkeep on one connection: its cached statements and size measure last between rounds.
struct SqlitePruning {
    conn: Connection,
    lock: WriteLock,
    size_watch: retention::SizeWatch,
}

impl Pruning for SqlitePruning {
    fn prune(&mut self, retention: &Retention, now_us: i64) -> Result<u64> {
        retention::prune(&self.conn, retention, now_us, &self.lock)
    }

    fn prune_to_size(&mut self, retention: &Retention, now_us: i64) -> Result<u64> {
        retention::prune_to_size(
            &self.conn,
            retention,
            now_us,
            &self.lock,
            &mut self.size_watch,
        )
    }
}

impl JobClaims for Connection {
    fn due_jobs(&self, now_us: i64, limit: usize, full: &[String]) -> Result<Vec<JobRow>> {
        Ok(jobs::due_jobs(self, now_us, limit, full)?)
    }

    fn next_due(&self, skip: &[String]) -> Result<Option<i64>> {
        Ok(jobs::next_due(self, skip)?)
    }

    fn mark_running(&self, job_ids: &mut dyn Iterator<Item = &JobId>, now_us: i64) -> Result<()> {
        Ok(jobs::mark_running(self, job_ids, now_us)?)
    }

    fn recover_running(&self, now_us: i64) -> Result<usize> {
        Ok(jobs::recover_running(self, now_us)?)
    }

    fn mark_partial_attempts(&self, attempts: &[(ExecId, JobId, i64)]) -> Result<()> {
        Ok(jobs::mark_partial_attempts(self, attempts)?)
    }

    fn forget_partial_attempts(&self, execs: &[ExecId]) -> Result<()> {
        Ok(jobs::forget_partial_attempts(self, execs)?)
    }

    fn take_partial_attempts(&self) -> Result<Vec<(ExecId, Option<JobRow>, i64)>> {
        Ok(jobs::take_partial_attempts(self)?)
    }
}

impl JobWrites for Connection {
    fn enqueue(
        &self,
        name: &str,
        data: &Value,
        options: &EnqueueOptions,
        max_attempts: u32,
        enqueued_by: Option<ExecId>,
        now_us: i64,
    ) -> Result<Enqueued, EnqueueError> {
        jobs::enqueue(self, name, data, options, max_attempts, enqueued_by, now_us)
    }

    fn find_job(&self, prefix: &str) -> Result<JobLookup> {
        Ok(jobs::find_job(self, prefix)?)
    }

    fn replay(
        &self,
        job: &JobRow,
        max_attempts: u32,
        now_us: i64,
        data: Option<&Value>,
    ) -> Result<String, ReplayError> {
        jobs::replay(self, job, max_attempts, now_us, data)
    }

    fn cancel_waiting(&self, job: &JobRow, reason: &str, now_us: i64) -> Result<bool> {
        Ok(jobs::cancel_waiting(self, job, reason, now_us)?)
    }

    fn dead_jobs(&self, function: Option<&str>, search: Option<&Query>) -> Result<Vec<JobRow>> {
        Ok(jobs::dead_jobs(self, function, search)?)
    }
}

impl VersionWrites for Connection {
    fn put_blob(&self, hash: &str, data: &[u8]) -> Result<()> {
        Ok(versions::put_blob(self, hash, data)?)
    }

    fn create_version(&self, new: &NewVersion, now_us: i64) -> Result<()> {
        Ok(versions::insert(self, new, now_us)?)
    }

    fn activate_version(&self, id: &str, now_us: i64) -> Result<()> {
        Ok(versions::activate(self, id, now_us)?)
    }

    fn find_version(&self, prefix: &str) -> Result<VersionLookup> {
        Ok(versions::find(self, prefix)?)
    }
}

impl TokenWrites for Connection {
    fn create_token(&self, new: &NewToken, now_us: i64) -> Result<TokenRow> {
        Ok(tokens::insert(self, new, now_us)?)
    }

    fn find_token(&self, prefix: &str) -> Result<TokenLookup> {
        Ok(tokens::find(self, prefix)?)
    }

    fn revoke_token(&self, id: &str, at_us: i64) -> Result<()> {
        Ok(tokens::revoke(self, id, at_us)?)
    }

    fn note_token_used(&self, id: &str, at_us: i64) -> Result<()> {
        Ok(tokens::touch(self, id, at_us)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("flux.db")).expect("open");
        (dir, store)
    }

    /// A job written through the writer's side is read back through the readers' side.
    #[test]
    fn jobs_written_on_the_writer_are_read_through_the_boundary() {
        let (_dir, store) = store();
        let conn = store.connect().expect("connect");
        let writer: &dyn JobWrites = &conn;
        let job = writer
            .enqueue("w", &json!(1), &EnqueueOptions::default(), 3, None, 10)
            .expect("enqueue");
        let storage: &dyn Storage = &store;
        let JobLookup::Found(found) = storage.find_job(&job.id.short()).expect("find") else {
            panic!("the job is not found by its prefix")
        };
        assert_eq!((found.name.as_str(), found.state), ("w", JobState::Pending));
        let (row, attempts) = storage
            .job_with_attempts(&job.exec_id)
            .expect("job")
            .expect("found by its next attempt's id");
        assert_eq!((row.id, attempts.len()), (job.id.clone(), 0));
        assert_eq!(
            storage.list_jobs(None, Some("w"), 10).expect("list").len(),
            1
        );
        let stats = storage.job_stats(20).expect("stats");
        assert_eq!(
            (stats[0].pending, stats[0].oldest_pending_age_us),
            (1, Some(10))
        );
        assert!(storage.dead_letters(None, None).expect("dead").is_empty());
        assert!(matches!(
            writer.replay(&found, 3, 30, None),
            Err(ReplayError::NotDead { .. })
        ));
    }

    #[test]
    fn pruning_goes_through_the_boundary() {
        let (_dir, store) = store();
        store
            .connect()
            .expect("connect")
            .execute(
                "INSERT INTO _flux_records (id, id_hi, kind, function, status, started_at_us, duration_us, body)
                 VALUES ('00', 0, 'http', 'f', 'ok', 10, 1, '{}')",
                [],
            )
            .expect("insert");
        let storage: &dyn Storage = &store;
        let mut pruning = storage.pruning().expect("pruning");
        let retention = Retention {
            max_age: Duration::from_micros(1_000),
            max_bytes: u64::MAX,
            min_age: Duration::ZERO,
        };
        assert_eq!(pruning.prune_to_size(&retention, 5_000).expect("size"), 0);
        assert_eq!(pruning.prune(&retention, 5_000).expect("age"), 1);
        assert_eq!(
            storage.check_integrity(None).expect("check"),
            Checked::Fully
        );
    }
}
