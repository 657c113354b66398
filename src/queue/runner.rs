//! What runs the attempts the dispatcher claims: given to it by whoever starts both (the job
//! engines of the runtime, in `flux dev`), so that the queue never names the runtime.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::JobAttempt;
use crate::record::{ExecId, Links};

/// One attempt of a claimed job, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The execution's id: the job's `next_exec_id`.
    pub id: ExecId,
    pub job: JobAttempt,
    /// What the worker receives as its argument ([`super::job_input`]), and its record keeps.
    pub input: Value,
    pub links: Links,
    /// How long the attempt may run (the worker's `timeout`).
    pub timeout: Duration,
}

/// Told the id of each attempt whose code ended, once its record is on its way to the store.
pub type Ended = Arc<dyn Fn(ExecId) + Send + Sync>;

/// Runs job attempts. Each attempt's record (with its job's next state) comes back to the
/// store thread through its records channel; that frees the attempt's slot.
pub trait Runner: Send {
    /// From now on, calls `ended` as each attempt's code ends (its record handed to the store,
    /// not yet committed): PostgreSQL's dispatcher frees the slot then, so that records
    /// waiting for their commit do not hold back the next attempts.
    fn on_ended(&mut self, _ended: Ended) {}

    /// Starts `attempts` (queued behind those still running).
    fn run(&mut self, attempts: Vec<Attempt>);

    /// Whether a worker named `name` exists now. Jobs for a missing one (its file removed or
    /// renamed) are not claimed: they wait, pending, until it is back.
    fn has_worker(&self, _name: &str) -> bool {
        true
    }

    /// The workers that exist now, by name, sorted: PostgreSQL's claims of some workers' jobs
    /// read each one's waiting jobs apart.
    fn workers(&self) -> Vec<String>;

    /// Asks the running attempt `id` to stop (another process was asked to cancel it).
    fn cancel(&self, _id: ExecId) {}

    /// Lets the attempts still running end, then stops; nothing runs afterwards.
    fn stop(&mut self);
}
