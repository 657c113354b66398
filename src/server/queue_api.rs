//! `/_flux/api/jobs`, `/_flux/api/queue/…`, `/_flux/api/dead-letter/…`: the queue over HTTP.

use std::collections::HashMap;
use std::sync::Arc;

use super::{ambiguous, error, internal, with_store, with_writer, ApiError, AppState};
use crate::api::{
    DeadLetters, EnqueuedJob, EnqueuedJobs, ErrorBody, JobDetail, Jobs, NewJobs, Paused,
    QueueStats, Replayed,
};
use crate::clock::now_us;
use crate::record::{ExecId, JobState};
use crate::store::{EnqueueOptions, JobLookup, JobRow, ReplayError, StatsRow};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

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
    Json(Paused { paused: true }).into_response()
}

pub async fn resume(State(state): State<Arc<AppState>>) -> Response {
    state.shared.queue.resume();
    Json(Paused { paused: false }).into_response()
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

/// `GET /_flux/api/dead-letter?fn=`
pub async fn dead_letters(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(key) = params.keys().find(|k| *k != "fn") {
        return error(
            StatusCode::BAD_REQUEST,
            format!("unknown filter {key} (use fn)"),
        );
    }
    let function = params.get("fn").cloned();
    let result = with_store(&state, move |store| {
        store.dead_letters(function.as_deref()).map_err(internal)
    })
    .await;
    match result {
        Ok(dead) => Json(DeadLetters { dead }).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `POST /_flux/api/dead-letter/<prefix>/replay`
pub async fn replay(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Response {
    let worker_state = Arc::clone(&state);
    let result = with_writer(&state, move |tx| {
        let job = lookup(&raw, |prefix| tx.find_job(prefix))?;
        let max_attempts = worker_state.shared.config().worker(&job.name).max_attempts;
        match tx.replay(&job, max_attempts, now_us()) {
            Ok(exec_id) => Ok(Replayed {
                job_id: job.id,
                name: job.name,
                exec_id,
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
    })
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}
