//! [`JobWrites`], [`TokenWrites`] and [`VersionWrites`] on a PostgreSQL connection or
//! transaction: the writes a caller makes (enqueue, replay, cancel, the dead jobs to replay;
//! creating, revoking and noting the use of tokens; a deploy's blobs and versions), committed
//! or rolled back with it.

use std::cell::RefCell;

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

/// The workers of the jobs a transaction made due now, one name per job.
pub type MadeDue = RefCell<Vec<String>>;

/// A transaction (or connection) taking a caller's writes. `JobWrites` reads through `&self`, and
/// the driver writes through `&mut`: the cell bridges them (a transaction is used by one
/// thread at a time).
pub struct PgWrites<'a, C: GenericClient> {
    client: RefCell<&'a mut C>,
    /// The key `_flux_enqueue` checks, on the sandbox role's connection.
    key: Option<&'a str>,
    /// Notes the jobs the writes make due now.
    due: Option<&'a MadeDue>,
}

impl<'a, C: GenericClient> PgWrites<'a, C> {
    /// On a connection of flux's own role.
    pub fn new(client: &'a mut C) -> Self {
        PgWrites {
            client: RefCell::new(client),
            key: None,
            due: None,
        }
    }

    /// On the sandbox role's connection (a user's transaction): only enqueueing works there,
    /// through `_flux_enqueue` with `key`; the other writes are refused by PostgreSQL (the
    /// role has no right on flux's tables), and nothing asks for them inside a transaction.
    pub(super) fn sandboxed(client: &'a mut C, key: &'a str) -> Self {
        PgWrites {
            key: Some(key),
            ..PgWrites::new(client)
        }
    }

    /// These writes note in `due` the jobs they make due now (an enqueue to run at once, a
    /// replay), so that whoever commits them can wake the queue's dispatchers.
    pub fn noting_due(self, due: &'a MadeDue) -> Self {
        PgWrites {
            due: Some(due),
            ..self
        }
    }

    fn made_due(&self, name: &str) {
        if let Some(due) = self.due {
            due.borrow_mut().push(name.to_string());
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
        let mut client = self.client.borrow_mut();
        let enqueued = jobs::enqueue_as(
            *client,
            self.key,
            name,
            data,
            options,
            max_attempts,
            enqueued_by,
            now_us,
        )?;
        if !enqueued.duplicate && enqueued.run_at_us <= now_us {
            self.made_due(name);
        }
        Ok(enqueued)
    }

    fn find_job(&self, prefix: &str) -> Result<JobLookup> {
        jobs::find_job(*self.client.borrow_mut(), prefix)
    }

    fn replay(
        &self,
        job: &JobRow,
        max_attempts: u32,
        now_us: i64,
        data: Option<&Value>,
    ) -> Result<String, ReplayError> {
        let exec_id = jobs::replay(*self.client.borrow_mut(), job, max_attempts, now_us, data)?;
        self.made_due(&job.name);
        Ok(exec_id)
    }

    fn cancel_waiting(&self, job: &JobRow, reason: &str, now_us: i64) -> Result<bool> {
        jobs::cancel_waiting(*self.client.borrow_mut(), job, reason, now_us)
    }

    fn dead_jobs(&self, function: Option<&str>, search: Option<&Query>) -> Result<Vec<JobRow>> {
        jobs::dead_jobs(*self.client.borrow_mut(), function, search)
    }
}

impl<C: GenericClient> TokenWrites for PgWrites<'_, C> {
    fn create_token(&self, new: &NewToken, now_us: i64) -> Result<TokenRow> {
        tokens::insert(*self.client.borrow_mut(), new, now_us)
    }

    fn find_token(&self, prefix: &str) -> Result<TokenLookup> {
        tokens::find(*self.client.borrow_mut(), prefix)
    }

    fn revoke_token(&self, id: &str, at_us: i64) -> Result<()> {
        tokens::revoke(*self.client.borrow_mut(), id, at_us)
    }

    fn note_token_used(&self, id: &str, at_us: i64) -> Result<()> {
        tokens::touch(*self.client.borrow_mut(), id, at_us)
    }
}

impl<C: GenericClient> VersionWrites for PgWrites<'_, C> {
    fn put_blob(&self, hash: &str, data: &[u8]) -> Result<()> {
        versions::put_blob(*self.client.borrow_mut(), hash, data)
    }

    fn create_version(&self, new: &NewVersion, now_us: i64) -> Result<()> {
        versions::insert(*self.client.borrow_mut(), new, now_us)
    }

    fn activate_version(&self, id: &str, now_us: i64) -> Result<()> {
        versions::activate(*self.client.borrow_mut(), id, now_us)
    }

    fn find_version(&self, prefix: &str) -> Result<VersionLookup> {
        versions::find(*self.client.borrow_mut(), prefix)
    }
}
