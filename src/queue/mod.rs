//! The durable job queue's storage: jobs live in `_flux_jobs`, in the same SQLite file as the
//! app's tables, so an enqueue inside a transaction commits or rolls back with it.

use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::Value;

use crate::record::ExecId;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _flux_jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    state TEXT NOT NULL,
    run_at_us INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    enqueued_at_us INTEGER NOT NULL,
    enqueued_by TEXT,
    idempotency_key TEXT,
    last_error TEXT,
    last_record TEXT,
    updated_at_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS _flux_jobs_due ON _flux_jobs (state, run_at_us);
CREATE INDEX IF NOT EXISTS _flux_jobs_key ON _flux_jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
";

/// How long an idempotency key keeps returning the first job.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `opts` of `ctx.queue.enqueue(name, data, opts)`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnqueueOptions {
    /// Milliseconds, or a duration string such as `'5s'`.
    pub delay: Option<Value>,
    /// An ISO 8601 date.
    pub run_at: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("invalid enqueue options: {0}")]
    Options(String),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

/// A job written by [`enqueue`].
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    pub id: String,
    pub run_at_us: i64,
    /// An idempotency key matched an earlier job; nothing was added.
    pub duplicate: bool,
}

fn parse_delay(delay: &Value) -> Result<Duration, EnqueueError> {
    match delay {
        Value::Number(n) => n
            .as_f64()
            .filter(|ms| *ms >= 0.0 && ms.is_finite())
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .ok_or_else(|| {
                EnqueueError::Options(format!("delay must be 0 or more milliseconds, got {n}"))
            }),
        Value::String(text) => humantime::parse_duration(text.trim()).map_err(|e| {
            EnqueueError::Options(format!(
                "delay '{text}' is not a duration such as '5s' ({e})"
            ))
        }),
        other => Err(EnqueueError::Options(format!(
            "delay must be milliseconds or a duration string, got {other}"
        ))),
    }
}

/// Writes a job on `conn`, inside whatever transaction `conn` has open.
pub fn enqueue(
    conn: &Connection,
    name: &str,
    data: &Value,
    options: &EnqueueOptions,
    max_attempts: u32,
    enqueued_by: Option<ExecId>,
    now_us: i64,
) -> Result<Enqueued, EnqueueError> {
    let run_at_us = match (&options.delay, &options.run_at) {
        (Some(_), Some(_)) => {
            return Err(EnqueueError::Options(
                "give either delay or runAt, not both".into(),
            ))
        }
        (Some(delay), None) => now_us + parse_delay(delay)?.as_micros() as i64,
        (None, Some(at)) => {
            let at =
                time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| {
                        EnqueueError::Options(format!("runAt '{at}' is not an ISO 8601 date ({e})"))
                    })?;
            (at.unix_timestamp_nanos() / 1000) as i64
        }
        (None, None) => now_us,
    };
    if let Some(key) = &options.idempotency_key {
        let window_start = now_us - IDEMPOTENCY_WINDOW.as_micros() as i64;
        let existing: Option<(String, i64)> = conn
            .query_row(
                "SELECT id, run_at_us FROM _flux_jobs WHERE idempotency_key = ?1 AND name = ?2
                 AND (state IN ('pending', 'scheduled', 'running') OR enqueued_at_us >= ?3)
                 ORDER BY enqueued_at_us DESC LIMIT 1",
                params![key, name, window_start],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((id, run_at_us)) = existing {
            return Ok(Enqueued {
                id,
                run_at_us,
                duplicate: true,
            });
        }
    }
    let id = ExecId::random().to_string();
    let state = if run_at_us > now_us {
        "scheduled"
    } else {
        "pending"
    };
    conn.prepare_cached(
        "INSERT INTO _flux_jobs (id, name, data, state, run_at_us, max_attempts, enqueued_at_us,
         enqueued_by, idempotency_key, updated_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?7)",
    )?
    .execute(params![
        id,
        name,
        data.to_string(),
        state,
        run_at_us,
        max_attempts,
        now_us,
        enqueued_by.map(|e| e.to_string()),
        options.idempotency_key,
    ])?;
    Ok(Enqueued {
        id,
        run_at_us,
        duplicate: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(SCHEMA).expect("schema");
        conn
    }

    #[test]
    fn idempotency_keys_return_the_first_job() {
        let conn = conn();
        let options = EnqueueOptions {
            idempotency_key: Some("k".into()),
            ..Default::default()
        };
        let first = enqueue(&conn, "w", &json!({}), &options, 3, None, 1_000).expect("first");
        let second = enqueue(&conn, "w", &json!({}), &options, 3, None, 2_000).expect("second");
        assert_eq!(first.id, second.id);
        assert!(second.duplicate);
    }

    #[test]
    fn delays_schedule_later() {
        let conn = conn();
        let options = EnqueueOptions {
            delay: Some(json!("5s")),
            ..Default::default()
        };
        let job = enqueue(&conn, "w", &json!(null), &options, 3, None, 0).expect("enqueue");
        assert_eq!(job.run_at_us, 5_000_000);
        let bad = EnqueueOptions {
            delay: Some(json!(-1)),
            ..Default::default()
        };
        assert!(enqueue(&conn, "w", &json!(null), &bad, 3, None, 0).is_err());
    }
}
