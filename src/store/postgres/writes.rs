//! [`JobWrites`], [`TokenWrites`] and [`VersionWrites`] on a PostgreSQL connection or
//! transaction: the writes a caller makes (enqueue, replay, cancel, the dead jobs to replay;
//! creating, revoking and noting the use of tokens; a deploy's blobs and versions), committed
//! or rolled back with it.

use std::cell::{Cell, RefCell};

use postgres::GenericClient;
use serde_json::Value;

use super::super::search::Query;
use super::super::storage::{JobWrites, TokenWrites, VersionWrites};
use super::super::tokens::{NewToken, TokenLookup, TokenRow};
use super::super::versions::{NewVersion, VersionLookup};
use super::super::{
    EnqueueError, EnqueueOptions, Enqueued, JobLookup, JobRow, ReplayError, Result,
};
use super::{jobs, tokens, versions};
use crate::record::ExecId;

/// A transaction (or connection) taking a caller's writes. `JobWrites` reads through `&self`, and
/// the driver writes through `&mut`: the cell bridges them (a transaction is used by one
/// thread at a time).
pub struct PgWrites<'a, C: GenericClient>(RefCell<&'a mut C>, Option<&'a Cell<bool>>);

impl<'a, C: GenericClient> PgWrites<'a, C> {
    pub fn new(client: &'a mut C) -> Self {
        PgWrites(RefCell::new(client), None)
    }

    /// Writes that set `due` when they make a job due now (an enqueue to run at once, a
    /// replay), so that whoever commits them can wake the queue's dispatchers.
    pub fn noting_due(client: &'a mut C, due: &'a Cell<bool>) -> Self {
        PgWrites(RefCell::new(client), Some(due))
    }

    fn made_due(&self) {
        if let Some(due) = self.1 {
            due.set(true);
        }
    }
}

impl<C: GenericClient> JobWrites for PgWrites<'_, C> {
    fn enqueue(
        &self,
        name: &str,
        data: &Value,
        options: &EnqueueOptions,
        max_attempts: u32,
        enqueued_by: Option<ExecId>,
        now_us: i64,
    ) -> Result<Enqueued, EnqueueError> {
        let mut client = self.0.borrow_mut();
        let enqueued = jobs::enqueue(
            *client,
            name,
            data,
            options,
            max_attempts,
            enqueued_by,
            now_us,
        )?;
        if !enqueued.duplicate && enqueued.run_at_us <= now_us {
            self.made_due();
        }
        Ok(enqueued)
    }

    fn find_job(&self, prefix: &str) -> Result<JobLookup> {
        jobs::find_job(*self.0.borrow_mut(), prefix)
    }

    fn replay(
        &self,
        job: &JobRow,
        max_attempts: u32,
        now_us: i64,
        data: Option<&Value>,
    ) -> Result<String, ReplayError> {
        let exec_id = jobs::replay(*self.0.borrow_mut(), job, max_attempts, now_us, data)?;
        self.made_due();
        Ok(exec_id)
    }

    fn cancel_waiting(&self, job: &JobRow, reason: &str, now_us: i64) -> Result<bool> {
        jobs::cancel_waiting(*self.0.borrow_mut(), job, reason, now_us)
    }

    fn dead_jobs(&self, function: Option<&str>, search: Option<&Query>) -> Result<Vec<JobRow>> {
        jobs::dead_jobs(*self.0.borrow_mut(), function, search)
    }
}

impl<C: GenericClient> TokenWrites for PgWrites<'_, C> {
    fn create_token(&self, new: &NewToken, now_us: i64) -> Result<TokenRow> {
        tokens::insert(*self.0.borrow_mut(), new, now_us)
    }

    fn find_token(&self, prefix: &str) -> Result<TokenLookup> {
        tokens::find(*self.0.borrow_mut(), prefix)
    }

    fn revoke_token(&self, id: &str, at_us: i64) -> Result<()> {
        tokens::revoke(*self.0.borrow_mut(), id, at_us)
    }

    fn note_token_used(&self, id: &str, at_us: i64) -> Result<()> {
        tokens::touch(*self.0.borrow_mut(), id, at_us)
    }
}

impl<C: GenericClient> VersionWrites for PgWrites<'_, C> {
    fn put_blob(&self, hash: &str, data: &[u8]) -> Result<()> {
        versions::put_blob(*self.0.borrow_mut(), hash, data)
    }

    fn create_version(&self, new: &NewVersion, now_us: i64) -> Result<()> {
        versions::insert(*self.0.borrow_mut(), new, now_us)
    }

    fn activate_version(&self, id: &str, now_us: i64) -> Result<()> {
        versions::activate(*self.0.borrow_mut(), id, now_us)
    }

    fn find_version(&self, prefix: &str) -> Result<VersionLookup> {
        versions::find(*self.0.borrow_mut(), prefix)
    }
}
