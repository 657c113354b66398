//! [`JobWrites`] on a PostgreSQL connection or transaction: the job writes a caller makes
//! (enqueue, replay, cancel, the dead jobs to replay), committed or rolled back with it.

use std::cell::RefCell;

use postgres::GenericClient;
use serde_json::Value;

use super::super::search::Query;
use super::super::storage::JobWrites;
use super::super::{
    EnqueueError, EnqueueOptions, Enqueued, JobLookup, JobRow, ReplayError, Result,
};
use super::jobs;
use crate::record::ExecId;

/// A transaction (or connection) taking job writes. `JobWrites` reads through `&self`, and
/// the driver writes through `&mut`: the cell bridges them (a transaction is used by one
/// thread at a time).
pub struct PgJobWrites<'a, C: GenericClient>(RefCell<&'a mut C>);

impl<'a, C: GenericClient> PgJobWrites<'a, C> {
    pub fn new(client: &'a mut C) -> Self {
        PgJobWrites(RefCell::new(client))
    }
}

impl<C: GenericClient> JobWrites for PgJobWrites<'_, C> {
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
        jobs::enqueue(
            *client,
            name,
            data,
            options,
            max_attempts,
            enqueued_by,
            now_us,
        )
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
        jobs::replay(*self.0.borrow_mut(), job, max_attempts, now_us, data)
    }

    fn cancel_waiting(&self, job: &JobRow, reason: &str, now_us: i64) -> Result<bool> {
        jobs::cancel_waiting(*self.0.borrow_mut(), job, reason, now_us)
    }

    fn dead_jobs(&self, function: Option<&str>, search: Option<&Query>) -> Result<Vec<JobRow>> {
        jobs::dead_jobs(*self.0.borrow_mut(), function, search)
    }
}
