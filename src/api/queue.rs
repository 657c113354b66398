//! The queue's bodies: `/_flux/api/jobs`, `/_flux/api/queue/…`, `/_flux/api/dead-letter/…`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::record::{JobId, RecordSummary};

/// One job to enqueue: `{ name, data?, opts? }`, `opts` as `ctx.queue.enqueue` takes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJob<O> {
    pub name: String,
    #[serde(default)]
    pub data: Value,
    // No `default`: it would ask `O: Default`; a missing `Option` reads as `None` anyway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opts: Option<O>,
}

/// `POST /_flux/api/jobs`: one job or an array of them, enqueued in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NewJobs<O> {
    One(NewJob<O>),
    Many(Vec<NewJob<O>>),
}

impl<O> NewJobs<O> {
    pub fn into_vec(self) -> Vec<NewJob<O>> {
        match self {
            NewJobs::One(job) => vec![job],
            NewJobs::Many(jobs) => jobs,
        }
    }
}

/// A job `POST /_flux/api/jobs` wrote, or found already there by its idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnqueuedJob {
    pub id: JobId,
    pub name: String,
    /// The execution id its first attempt will have.
    pub exec_id: String,
    pub duplicate: bool,
}

/// `POST /_flux/api/jobs`'s answer (201), in the order the jobs were given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnqueuedJobs {
    pub jobs: Vec<EnqueuedJob>,
}

/// `GET /_flux/api/queue/stats`: counts per function and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStats<S> {
    pub paused: bool,
    pub stats: Vec<S>,
}

/// `POST /_flux/api/queue/pause` and `…/resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    pub paused: bool,
}

/// `GET /_flux/api/jobs`: jobs, most recently changed first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jobs<J> {
    pub jobs: Vec<J>,
}

/// `GET /_flux/api/jobs/<prefix>`: the job and its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail<J> {
    pub job: J,
    pub attempts: Vec<RecordSummary>,
}

/// `GET /_flux/api/dead-letter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetters<D> {
    pub dead: Vec<D>,
}

/// `POST /_flux/api/dead-letter/<prefix>/replay`: the job, back in the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replayed {
    pub job_id: JobId,
    pub name: String,
    /// The execution id its next attempt will have.
    pub exec_id: String,
    /// The dead attempt's execution id.
    #[serde(default, rename = "replayOf", skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
}

/// `POST /_flux/api/dead-letter/replay`: which dead jobs to replay, exactly one of the three.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkReplay {
    /// Id prefixes, each naming a dead job (or one of its attempts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    /// Every dead job matching it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<DeadFilter>,
    /// Every dead job.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

/// Dead jobs of a worker (`fn`) and whose last attempt's record contains `q` (as `records?q=`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadFilter {
    #[serde(default, rename = "fn", skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
}

/// `POST /_flux/api/dead-letter/replay`'s answer: each job put back, most recently dead first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkReplayed {
    pub replayed: Vec<ReplayedJob>,
}

/// One replayed job: `id` is the execution id its next attempt will have, `replayOf` the
/// dead attempt's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayedJob {
    pub id: String,
    #[serde(rename = "replayOf")]
    pub replay_of: Option<String>,
    pub job_id: JobId,
    pub name: String,
}

/// `POST /_flux/api/jobs/<prefix>/cancel`'s answer: the job and the state it is in now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    pub id: JobId,
    pub state: String,
}
