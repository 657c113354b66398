//! `/_flux/api/jobs`, `/_flux/api/queue/…`, `/_flux/api/dead-letter/…`: the queue over HTTP.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ambiguous, error, internal, with_store, with_writer, ApiError, AppState};
use crate::api::{
    BulkReplay, BulkReplayed, Cancelled, DeadLetters, EnqueuedJob, EnqueuedJobs, ErrorBody,
    JobDetail, Jobs, NewJobs, Paused, QueueStats, Replayed, ReplayedJob,
};
use crate::clock::now_us;
use crate::record::{ExecId, JobState};
use crate::store::search::Query as SearchQuery;
use crate::store::{EnqueueOptions, JobLookup, JobRow, JobWrites, ReplayError, StatsRow};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

/// `POST /_flux/api/jobs`: one job or an array, enqueued in one transaction.
pub async fn enqueue(
    State(state): State<Arc<AppState>>,
    body: Result<Json<NewJobs<EnqueueOptions>>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let jobs = match body {
        Ok(Json(jobs)) => jobs.into_vec(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected {{ name, data, opts }} or an array of them: {e}"),
            )
        }
    };
    let worker_state = Arc::clone(&state);
    let result = with_writer(&state, move |tx| {
        for job in &jobs {
            if worker_state.shared.lookup(&job.name).is_none() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no worker named '{}': create functions/{}.ts",
                        job.name, job.name
                    ),
                ));
            }
        }
        for job in &jobs {
            worker_state.shared.enqueued.note(&job.name);
        }
        let config = worker_state.shared.config();
        let now = now_us();
        let mut written = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let options = job.opts.as_ref();
            let default = EnqueueOptions::default();
            let enqueued = tx
                .enqueue(
                    &job.name,
                    &job.data,
                    options.unwrap_or(&default),
                    config.worker(&job.name).max_attempts,
                    None,
                    now,
                )
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            written.push(EnqueuedJob {
                id: enqueued.id,
                name: job.name.clone(),
                exec_id: enqueued.exec_id,
                duplicate: enqueued.duplicate,
            });
        }
        Ok(written)
    })
    .await;
    match result {
        Ok(jobs) => (StatusCode::CREATED, Json(EnqueuedJobs { jobs })).into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn stats(State(state): State<Arc<AppState>>) -> Response {
    let result = with_store(&state, |store| store.job_stats(now_us()).map_err(internal)).await;
    match result {
        Ok(mut stats) => Json(QueueStats {
            paused: state.shared.queue.is_paused(),
            stats: {
                let functions = state.shared.functions();
                StatsRow::mark_missing_workers(&mut stats, |name| functions.get(name).is_some());
                stats
            },
        })
        .into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn pause(State(state): State<Arc<AppState>>) -> Response {
    state.shared.queue.pause();
    announce_pause(&state, true).await;
    Json(Paused { paused: true }).into_response()
}

pub async fn resume(State(state): State<Arc<AppState>>) -> Response {
    state.shared.queue.resume();
    announce_pause(&state, false).await;
    Json(Paused { paused: false }).into_response()
}

/// On PostgreSQL, the processes sharing the database pause or resume with this one (those
/// listening: not with `queue.notify: false`, nor one started later).
async fn announce_pause(state: &AppState, paused: bool) {
    if let crate::runtime::Backend::Postgres(store) = &state.shared.backend {
        let store = crate::store::postgres::PgStore::clone(store);
        let told = tokio::task::spawn_blocking(move || store.announce_pause(paused)).await;
        if let Ok(Err(e)) = told {
            eprintln!("warning: the other processes were not told to pause or resume: {e}");
        }
    }
}

/// `GET /_flux/api/jobs?state=&fn=&limit=`
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut job_state = None;
    let mut function = None;
    let mut limit = 100;
    for (key, value) in &params {
        let bad = |what: &str| super::api::bad_param(key, value, what);
        match key.as_str() {
            "state" => match JobState::parse(value) {
                Some(s) => job_state = Some(s),
                None => return bad("expected pending, scheduled, running, done or dead"),
            },
            "fn" => function = Some(value.clone()),
            "limit" => match super::api::parse_limit(value) {
                Ok(n) => limit = n,
                Err(what) => return bad(what),
            },
            _ => return bad("unknown filter (use state, fn, limit)"),
        }
    }
    let result = with_store(&state, move |store| {
        store
            .list_jobs(job_state, function.as_deref(), limit)
            .map_err(internal)
    })
    .await;
    match result {
        Ok(jobs) => Json(Jobs { jobs }).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The job `raw` names, found by `find` (the readers' side or the writer's).
fn lookup(
    raw: &str,
    find: impl FnOnce(&str) -> crate::store::Result<JobLookup>,
) -> Result<JobRow, ApiError> {
    let prefix = ExecId::parse_prefix(raw)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    match find(&prefix).map_err(internal)? {
        JobLookup::Found(job) => Ok(*job),
        JobLookup::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no job or job attempt has an id starting with {prefix}"),
        )),
        JobLookup::Ambiguous(ids) => Err(ambiguous(&prefix, ids)),
    }
}

/// What a cancel found the job doing.
enum Cancelling {
    /// It waited, and is cancelled now.
    Withdrawn(JobRow),
    /// An attempt runs: its engine is asked to stop it.
    Running(JobRow),
}

/// The longest a cancel waits for a running attempt to stop: an awaiting one stops at the
/// engine's next turn and a spinning one at its next interrupt check, so this is only reached
/// by one blocked in a native call or a long SQL statement (its own deadline stops it).
const CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// While it waits, how often a cancel reads the job again.
const CANCEL_LOOK: std::time::Duration = std::time::Duration::from_millis(250);

/// `POST /_flux/api/jobs/<prefix>/cancel`: a waiting job is cancelled at once (with a record
/// saying so); a running one is stopped at its next await, or interrupted if it spins, and its
/// attempt recorded `cancelled`. Answers once the job is cancelled; 404 for an unknown job,
/// 409 for one that finished (before it could be cancelled, too).
pub async fn cancel(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Response {
    // An attempt that fails into a retry just as it is asked to stop leaves its job waiting:
    // a second round cancels it as such.
    for _ in 0..2 {
        if let Some(response) = cancel_once(&state, raw.clone()).await {
            return response;
        }
    }
    error(
        StatusCode::CONFLICT,
        "the job kept starting new attempts while it was being cancelled: try again",
    )
}

/// One try at cancelling the job `raw` names; `None` when a running attempt ended meanwhile
/// and left the job waiting.
async fn cancel_once(state: &Arc<AppState>, raw: String) -> Option<Response> {
    // Read first: a running attempt is stopped without the writer, which an atomic attempt
    // holds until it ends (the very attempt to stop, perhaps).
    let committed = {
        let raw = raw.clone();
        with_store(state, move |store| {
            lookup(&raw, |prefix| store.find_job(prefix))
        })
        .await
    };
    let found = match committed {
        Ok(job) if job.state == JobState::Running => Ok(Cancelling::Running(job)),
        Ok(job) if matches!(job.state, JobState::Pending | JobState::Scheduled) => {
            // Waiting when last committed; the writer's open transaction may have started it.
            with_writer(state, move |tx| {
                let job = lookup(&raw, |prefix| tx.find_job(prefix))?;
                match job.state {
                    JobState::Pending | JobState::Scheduled => {
                        tx.cancel_waiting(&job, crate::queue::CANCELLED_WAITING, now_us())
                            .map_err(internal)?;
                        Ok(Cancelling::Withdrawn(job))
                    }
                    JobState::Running => Ok(Cancelling::Running(job)),
                    JobState::Done | JobState::Dead | JobState::Cancelled => {
                        Err(not_cancellable(&job))
                    }
                }
            })
            .await
        }
        Ok(job) => Err(not_cancellable(&job)),
        Err(error) => Err(error),
    };
    let job = match found {
        Ok(Cancelling::Withdrawn(job)) => {
            let record = crate::queue::cancelled_waiting_record(&job, now_us());
            // Stored with the next commit, and streamed to the tail like any record.
            let _ = state
                .shared
                .records
                .send(crate::store::StoreWrite { record, job: None });
            return Some(cancelled(job));
        }
        Ok(Cancelling::Running(job)) => job,
        Err(error) => return Some(error.into_response()),
    };
    let Ok(attempt) = job.next_exec_id.parse::<ExecId>() else {
        return Some(internal(format!("job {} has no attempt id", job.id)).into_response());
    };
    // Subscribed before the ask: the attempt's record (committed with its job's new state)
    // cannot then pass unseen.
    let mut committed = state.shared.tail.subscribe();
    state.shared.cancels.ask(attempt);
    // On PostgreSQL another process may run it: whichever does hears the ask.
    if let crate::runtime::Backend::Postgres(store) = &state.shared.backend {
        let store = crate::store::postgres::PgStore::clone(store);
        let id = attempt.to_string();
        let _ = tokio::task::spawn_blocking(move || store.ask_cancel(&id)).await;
    }
    let until = tokio::time::Instant::now() + CANCEL_WAIT;
    let read = || {
        let id = job.id.to_string();
        with_store(state, move |store| {
            lookup(&id, |prefix| store.find_job(prefix))
        })
    };
    let same_attempt = |now: &JobRow| now.next_exec_id == job.next_exec_id;
    // Read once first: the attempt may have ended before the subscription.
    let mut outcome = read().await;
    while matches!(&outcome, Ok(now) if now.state == JobState::Running && same_attempt(now)) {
        // Read again now and then too: another process's record passes no feed of this one.
        let look = (tokio::time::Instant::now() + CANCEL_LOOK).min(until);
        let ended = tokio::time::timeout_at(look, record_of(&mut committed, &attempt)).await;
        outcome = read().await;
        if ended.is_err() && tokio::time::Instant::now() >= until {
            break;
        }
    }
    // Still running (held in a native call or a statement): the ask stays, and its engine
    // forgets it when the attempt ends. Otherwise it has nothing left to stop.
    let still_running =
        matches!(&outcome, Ok(now) if now.state == JobState::Running && same_attempt(now));
    if !still_running {
        state.shared.cancels.forget(&attempt);
    }
    Some(match outcome {
        Ok(now) if now.state == JobState::Cancelled => cancelled(now),
        // Its attempt ended and the next one started: the second round stops that one.
        Ok(now) if now.state == JobState::Running && !same_attempt(&now) => return None,
        Ok(job) if job.state == JobState::Running => (
            StatusCode::ACCEPTED,
            Json(Cancelled {
                id: job.id,
                state: job.state.as_str().into(),
            }),
        )
            .into_response(),
        Ok(job) if matches!(job.state, JobState::Pending | JobState::Scheduled) => return None,
        Ok(job) => not_cancellable(&job).into_response(),
        Err(error) => error.into_response(),
    })
}

/// Waits until the tail feed carries a record of `attempt`, or may have without this
/// receiver seeing it (it fell behind): then the store is worth reading again. A closed feed
/// (the server stopping) says nothing more: only the caller's deadline ends that wait.
async fn record_of(
    committed: &mut tokio::sync::broadcast::Receiver<Arc<crate::record::TailEvent>>,
    attempt: &ExecId,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match committed.recv().await {
            Ok(event) if event.record.id == *attempt => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

fn cancelled(job: JobRow) -> Response {
    Json(Cancelled {
        id: job.id,
        state: JobState::Cancelled.as_str().into(),
    })
    .into_response()
}

/// A 409 for a job that is over: done, dead or cancelled already.
fn not_cancellable(job: &JobRow) -> ApiError {
    ApiError::with_body(
        StatusCode::CONFLICT,
        ErrorBody {
            state: Some(job.state.as_str().to_string()),
            ..ErrorBody::new(format!(
                "job {} ({}) is {}: only a waiting or running job can be cancelled",
                job.id.short(),
                job.name,
                job.state.as_str()
            ))
        },
    )
}

/// `GET /_flux/api/jobs/<prefix>`: the job (by its id or any attempt's) and its attempts.
pub async fn show(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Response {
    let result = with_store(&state, move |store| {
        let job = lookup(&raw, |prefix| store.find_job(prefix))?;
        let attempts = store.job_attempts(&job).map_err(internal)?;
        Ok(JobDetail { job, attempts })
    })
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /_flux/api/dead-letter?fn=&q=`
pub async fn dead_letters(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut function = None;
    let mut search = None;
    for (key, value) in &params {
        match key.as_str() {
            "fn" => function = Some(value.clone()),
            // An empty search box searches for nothing: no filter.
            "q" if value.trim().is_empty() => {}
            "q" => match SearchQuery::parse(value) {
                Ok(q) => search = Some(q),
                Err(e) => return super::api::bad_param(key, value, &e.to_string()),
            },
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown filter {key} (use fn, q)"),
                )
            }
        }
    }
    let result = with_store(&state, move |store| {
        store
            .dead_letters(function.as_deref(), search.as_ref())
            .map_err(internal)
    })
    .await;
    match result {
        Ok(dead) => Json(DeadLetters { dead }).into_response(),
        Err(error) => error.into_response(),
    }
}

/// A replay's optional body: `{ "data": … }` replaces the job's payload (`null` included).
fn replacement_data(body: &[u8]) -> Result<Option<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let refuse = |what: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("expected no body or {{ \"data\": <the new payload> }}: {what}"),
        )
    };
    let mut object: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| refuse(e.to_string()))?;
    if let Some(key) = object.keys().find(|k| *k != "data") {
        return Err(refuse(format!("unknown field {key}")));
    }
    Ok(object.remove("data"))
}

/// Replays `job` on the writer's transaction, with `data` as its payload when given.
fn replay_job(
    state: &AppState,
    tx: &dyn JobWrites,
    job: JobRow,
    data: Option<&Value>,
) -> Result<Replayed, ApiError> {
    let max_attempts = state.shared.config().worker(&job.name).max_attempts;
    match tx.replay(&job, max_attempts, now_us(), data) {
        Ok(exec_id) => Ok(Replayed {
            job_id: job.id,
            name: job.name,
            exec_id,
            replay_of: job.last_record,
        }),
        Err(e @ ReplayError::NotDead { .. }) => Err(ApiError::with_body(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody {
                state: Some(job.state.as_str().to_string()),
                ..ErrorBody::new(e.to_string())
            },
        )),
        Err(ReplayError::Store(e)) => Err(internal(e)),
    }
}

/// `POST /_flux/api/dead-letter/<prefix>/replay`, with an optional `{ "data": … }` body that
/// replaces the job's payload.
pub async fn replay(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let data = match replacement_data(&body) {
        Ok(data) => data,
        Err(error) => return error.into_response(),
    };
    let worker_state = Arc::clone(&state);
    let result = with_writer(&state, move |tx| {
        let job = lookup(&raw, |prefix| tx.find_job(prefix))?;
        replay_job(&worker_state, tx, job, data.as_ref())
    })
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `POST /_flux/api/dead-letter/replay`: `{ "ids": [...] }`, `{ "filter": { "fn", "q" } }` or
/// `{ "all": true }`, replayed in one transaction (all or none).
pub async fn replay_many(
    State(state): State<Arc<AppState>>,
    body: Result<Json<BulkReplay>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let usage = "expected { \"ids\": [...] }, { \"filter\": { \"fn\": ..., \"q\": ... } } or { \"all\": true }";
    let request = match body {
        Ok(Json(request)) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("{usage}: {e}")),
    };
    let given = usize::from(request.ids.is_some())
        + usize::from(request.filter.is_some())
        + usize::from(request.all);
    if given != 1 {
        return error(StatusCode::BAD_REQUEST, format!("{usage}, exactly one"));
    }
    // Empty fields of a filter form filter nothing.
    let mut request = request;
    if let Some(filter) = &mut request.filter {
        filter.q = filter.q.take().filter(|q| !q.trim().is_empty());
        filter.function = filter.function.take().filter(|f| !f.is_empty());
    }
    let search = match request.filter.as_ref().and_then(|f| f.q.as_deref()) {
        Some(q) => match SearchQuery::parse(q) {
            Ok(q) => Some(q),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("filter.q: {e}")),
        },
        None => None,
    };
    let worker_state = Arc::clone(&state);
    let result = with_writer(&state, move |tx| {
        let jobs = match (&request.ids, &request.filter) {
            (Some(ids), _) => {
                let mut jobs: Vec<JobRow> = Vec::with_capacity(ids.len());
                for raw in ids {
                    let job = lookup(raw, |prefix| tx.find_job(prefix))?;
                    // Two prefixes of one job replay it once.
                    if !jobs.iter().any(|j| j.id == job.id) {
                        jobs.push(job);
                    }
                }
                jobs
            }
            (None, filter) => {
                let filter = filter.clone().unwrap_or_default();
                tx.dead_jobs(filter.function.as_deref(), search.as_ref())
                    .map_err(internal)?
            }
        };
        let mut replayed = Vec::with_capacity(jobs.len());
        for job in jobs {
            let done = replay_job(&worker_state, tx, job, None)?;
            replayed.push(ReplayedJob {
                id: done.exec_id,
                replay_of: done.replay_of,
                job_id: done.job_id,
                name: done.name,
            });
        }
        Ok(BulkReplayed { replayed })
    })
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}
