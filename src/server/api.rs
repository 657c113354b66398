//! `/_flux/api/`: the records, for the CLI and for scripts.

use std::collections::HashMap;
use std::sync::Arc;

use super::{error, internal, with_store, AppState};
use crate::api::{
    Changes, Health, Minute, Minutes, RecordWithWhy, Records, RowExists, Schema, TailMessage,
};
use crate::record::{ExecId, ExecutionRecord, Status, TailEvent};
use crate::runtime::Backend;
use crate::store::resolve::not_found_message;
use crate::store::{self, NamedRecord, RecordCursor, RecordFilter, Scoped};
use crate::timefmt::parse_since;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A 400 naming the query parameter and what it should have been.
pub(super) fn bad_param(key: &str, value: &str, what: &str) -> Response {
    error(StatusCode::BAD_REQUEST, format!("{key}={value}: {what}"))
}

/// `limit=`: a whole number above 0, capped.
pub(super) fn parse_limit(value: &str) -> Result<usize, &'static str> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n.min(store::MAX_LIMIT)),
        _ => Err("expected a whole number above 0"),
    }
}

/// What `status=` takes.
const STATUSES: &str = "expected ok, error, timeout, interrupted or cancelled";

/// `GET /_flux/api/stats/minutes?last=1h&fn=`: per function and minute, how many executions
/// started and how many failed, over the last hour (or `last`), minutes with none left out.
pub async fn minutes(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut since_us = crate::clock::now_us() - 3_600_000_000;
    let mut function = None;
    for (key, value) in &params {
        let bad = |what: &str| bad_param(key, value, what);
        match key.as_str() {
            "last" => match crate::timefmt::parse_ago(value) {
                Ok(us) => since_us = us,
                Err(e) => return bad(&e),
            },
            "fn" => function = Some(value.clone()),
            _ => return bad("unknown filter (use last, fn)"),
        }
    }
    match with_store(&state, move |store| {
        store
            .minute_counts(since_us, function.as_deref())
            .map_err(internal)
    })
    .await
    {
        Ok(counts) => Json(Minutes {
            minutes: counts
                .into_iter()
                .map(|c| Minute {
                    minute: crate::timefmt::rfc3339(c.minute_us),
                    function: c.function,
                    runs: c.runs,
                    failures: c.failures,
                })
                .collect(),
        })
        .into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn health(
    State(state): State<Arc<AppState>>,
    granted: Option<axum::Extension<super::access::Granted>>,
) -> Response {
    Json(Health {
        ok: true,
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        project: Some(state.shared.layout.root.display().to_string()),
        // A server of deployed versions runs whichever project is deployed to it: the
        // commands of any project folder may talk to it.
        project_id: state
            .activation
            .is_none()
            .then(|| crate::project::identity::read(&state.shared.layout))
            .flatten(),
        store: state.shared.storage.location(),
        scope: granted.map(|g| g.scope.as_str().to_string()),
    })
    .into_response()
}

pub async fn unknown() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such flux API endpoint: see the README's /_flux/api reference",
    )
}

pub async fn list_records(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut filter = RecordFilter::default();
    for (key, value) in &params {
        let bad = |what: &str| bad_param(key, value, what);
        match key.as_str() {
            "type" => match value.as_str() {
                "http" | "job" => filter.kind = Some(value.clone()),
                _ => return bad("expected http or job"),
            },
            "fn" => filter.function = Some(value.clone()),
            "status" => match crate::record::Status::parse(value) {
                Some(_) => filter.status = Some(value.clone()),
                None => return bad(STATUSES),
            },
            "since" => match parse_since(value) {
                Ok(us) => filter.since_us = Some(us),
                Err(e) => return bad(&e),
            },
            "until" => match parse_since(value) {
                Ok(us) => filter.until_us = Some(us),
                Err(e) => return bad(&e),
            },
            "limit" => match parse_limit(value) {
                Ok(n) => filter.limit = Some(n),
                Err(what) => return bad(what),
            },
            // An empty search box searches for nothing: no filter.
            "q" if value.trim().is_empty() => {}
            "q" => match store::search::Query::parse(value) {
                Ok(q) => filter.search = Some(q),
                Err(e) => return bad(&e.to_string()),
            },
            "before" => match RecordCursor::parse(value) {
                Ok(cursor) => filter.before = Some(cursor),
                Err(e) => return bad(&e.to_string()),
            },
            _ => {
                return bad("unknown filter (use type, fn, status, since, until, limit, q, before)")
            }
        }
    }
    match with_store(&state, move |store| {
        store.record_page(&filter).map_err(internal)
    })
    .await
    {
        Ok(page) => Json(Records {
            records: page.records,
            next: page.next.map(|cursor| cursor.token()),
        })
        .into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /_flux/api/records/<prefix>[?why=1]`: the record; with `why=1`, and when it failed (or
/// has an uncaught error), `flux why`'s answer in words too, worked out in the same blocking
/// call as the lookup.
pub async fn get_record(
    State(state): State<Arc<AppState>>,
    Path(prefix): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let prefix = match ExecId::parse_prefix(&prefix) {
        Ok(prefix) => prefix,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let with_why = match params.get("why").map(String::as_str) {
        None | Some("0") => false,
        Some("1") => true,
        Some(value) => return bad_param("why", value, "expected 1 or 0"),
    };
    let lookup_prefix = prefix.clone();
    match with_store(&state, move |store| {
        let named = store.find_named_record(&lookup_prefix).map_err(internal)?;
        let why = match &named {
            NamedRecord::Found(record) if with_why => explained(store, record),
            _ => None,
        };
        Ok((named, why))
    })
    .await
    {
        Ok((NamedRecord::Found(record), why)) => Json(RecordWithWhy {
            record: *record,
            why,
        })
        .into_response(),
        Ok((NamedRecord::NotFound(job), _)) => error(
            StatusCode::NOT_FOUND,
            not_found_message(&prefix, job.as_deref()),
        ),
        Ok((NamedRecord::Ambiguous(candidates), _)) => {
            super::ambiguous_named(&prefix, &candidates).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// `flux why`'s answer for `record`, in words without colour: for a failed execution or one
/// with an uncaught error; `None` when there is nothing to explain.
fn explained(store: &dyn store::Storage, record: &ExecutionRecord) -> Option<String> {
    if record.status == Status::Ok && record.uncaught.is_empty() {
        return None;
    }
    let related = crate::why::gather(record, &StoreLookup(store));
    let finding = crate::why::explain(record, &related);
    let attempts = crate::render::WhyAttempts {
        listed: Vec::new(),
        succeeded: None,
    };
    Some(crate::render::render_why(
        record,
        finding.as_ref(),
        &attempts,
        crate::render::Style::plain(),
    ))
}

/// `why`'s reads, from this server's store.
struct StoreLookup<'a>(&'a dyn store::Storage);

impl crate::why::Lookup for StoreLookup<'_> {
    fn record(&self, id: &str) -> Option<ExecutionRecord> {
        match self.0.find_record(id).ok()? {
            store::RecordLookup::Found(record) => Some(*record),
            _ => None,
        }
    }

    fn changes(&self, filter: &store::ChangeFilter) -> Vec<crate::record::RowChange> {
        self.0.row_changes(filter).unwrap_or_default()
    }

    fn schema(&self) -> Vec<crate::record::TableSchema> {
        self.0.schema().unwrap_or_default()
    }

    fn row_exists(&self, table: &str, column: &str, value: &serde_json::Value) -> Option<bool> {
        self.0.row_exists(table, column, value).ok()
    }
}

/// `GET /_flux/api/state/<table>?id=&req=&since=&limit=&order=asc`: row changes, newest first;
/// `req=` names an execution or a job (its attempts' changes).
pub async fn state(
    State(state): State<Arc<AppState>>,
    Path(table): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut filter = crate::store::ChangeFilter {
        table,
        limit: 100,
        ..Default::default()
    };
    for (key, value) in &params {
        let bad = |what: &str| bad_param(key, value, what);
        match key.as_str() {
            "id" => filter.row = Some(value.clone()),
            "req" => match ExecId::parse_prefix(value) {
                Ok(prefix) => filter.record_prefix = Some(prefix),
                Err(e) => return bad(&e.to_string()),
            },
            "since" => match parse_since(value) {
                Ok(us) => filter.since_us = Some(us),
                Err(e) => return bad(&e),
            },
            "limit" => match parse_limit(value) {
                Ok(n) => filter.limit = n,
                Err(what) => return bad(what),
            },
            "order" => filter.oldest_first = value == "asc",
            // column=email&value="a@b.c" (value as JSON): who left that value there.
            "column" => {
                let json = params
                    .get("value")
                    .cloned()
                    .unwrap_or_else(|| "null".into());
                filter.column_value = Some((value.clone(), json));
            }
            "value" => {}
            _ => return bad("unknown filter (use id, req, since, limit, order, column, value)"),
        }
    }
    let prefix = filter.record_prefix.clone().unwrap_or_default();
    match with_store(&state, move |store| {
        store.named_row_changes(&filter).map_err(internal)
    })
    .await
    {
        Ok(Scoped::Found(changes)) => Json(Changes { changes }).into_response(),
        Ok(Scoped::Ambiguous(candidates)) => {
            super::ambiguous_named(&prefix, &candidates).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// `GET /_flux/api/schema`: the app's tables, their columns, keys and foreign keys.
pub async fn schema(State(state): State<Arc<AppState>>) -> Response {
    match with_store(&state, |store| store.schema().map_err(internal)).await {
        Ok(tables) => Json(Schema { tables }).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /_flux/api/rows/<table>?column=&value=` (value as JSON): whether the app's table has
/// such a row.
pub async fn row_exists(
    State(state): State<Arc<AppState>>,
    Path(table): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (Some(column), Some(value)) = (params.get("column"), params.get("value")) else {
        return error(StatusCode::BAD_REQUEST, "expected column=NAME&value=JSON");
    };
    let value: serde_json::Value = match serde_json::from_str(value) {
        Ok(value) => value,
        Err(e) => return bad_param("value", value, &format!("expected JSON ({e})")),
    };
    let column = column.clone();
    match with_store(&state, move |store| {
        store.row_exists(&table, &column, &value).map_err(internal)
    })
    .await
    {
        Ok(exists) => Json(RowExists { exists }).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Parsed `GET /_flux/api/tail` parameters.
struct TailParams {
    filter: crate::store::TailFilter,
    after: Option<i64>,
    since: Option<i64>,
    follow: bool,
}

fn tail_params(query: Option<&str>) -> Result<TailParams, String> {
    let mut params = TailParams {
        filter: crate::store::TailFilter::default(),
        after: None,
        since: None,
        follow: true,
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let values = || value.split('|').map(str::to_string).collect::<Vec<_>>();
        match key.as_ref() {
            "type" => params.filter.kinds.extend(values()),
            "fn" => params.filter.functions.extend(values()),
            "status" => params.filter.statuses.extend(values()),
            "req" => params.filter.caused_by.extend(values()),
            "job" => params.filter.jobs.extend(values()),
            "q" if value.trim().is_empty() => {}
            "q" => params.filter.search = Some(value.to_string()),
            "since" => params.since = Some(parse_since(&value)?),
            "after" => {
                params.after = Some(
                    value
                        .parse()
                        .map_err(|_| format!("after={value}: expected a number"))?,
                )
            }
            "follow" => params.follow = value != "0" && value != "false",
            other => {
                return Err(format!(
                "unknown parameter {other} (use type, fn, status, req, job, q, since, after, follow)"
            ))
            }
        }
    }
    Ok(params)
}

/// History events read from the store at a time: a client's memory is one page, however long
/// the history it asked for.
const HISTORY_PAGE: usize = 100;

/// `GET /_flux/api/tail` (websocket): the matching history after `after` or since `since`,
/// then, unless `follow=0`, every matching execution as it is committed. Messages are JSON:
/// an event `{ seq, record, enqueued_by?, next? }`, `{ "missed": n }` when this client fell
/// behind, `{ "end": true }` after the history when not following. At most
/// `server.maxTailClients` at once; more are refused with 503.
pub async fn tail(
    State(state): State<Arc<AppState>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let params = match tail_params(query.as_deref()) {
        Ok(params) => params,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let Ok(slot) = Arc::clone(&state.tail_slots).try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many tail clients: {} are connected, the most this server takes \
                 (close one, or raise server.maxTailClients in flux.config.ts)",
                state.max_tail_clients
            ),
        );
    };
    upgrade.on_upgrade(move |socket| async move {
        stream_tail(socket, state, params).await;
        drop(slot);
    })
}

/// The tail client is gone: it closed, its connection failed, or it stalled and was dropped.
struct ClientGone;

/// Sends one message, waiting while the client's socket is full, but not past the stall
/// timeout: a client that stops reading is dropped instead of holding the server's memory.
async fn send_within(
    socket: &mut axum::extract::ws::WebSocket,
    message: axum::extract::ws::Message,
    stall: std::time::Duration,
) -> Result<(), ClientGone> {
    use axum::extract::ws::{CloseFrame, Message};
    match tokio::time::timeout(stall, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(ClientGone),
        Err(_) => {
            let reason = format!(
                "dropped: read nothing for {} (server.tailStallTimeout)",
                humantime::format_duration(stall)
            );
            let close = Message::Close(Some(CloseFrame {
                code: axum::extract::ws::close_code::POLICY,
                reason: reason.into(),
            }));
            // The client is not reading: the close frame gets a moment, not a wait.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(100), socket.send(close))
                .await;
            Err(ClientGone)
        }
    }
}

/// A tail message as the websocket's text message.
fn text(message: &TailMessage<&TailEvent>) -> axum::extract::ws::Message {
    // A message of plain data types serializes, whatever it holds.
    let json = serde_json::to_string(message).unwrap_or_default();
    axum::extract::ws::Message::Text(json.into())
}

async fn stream_tail(
    mut socket: axum::extract::ws::WebSocket,
    state: Arc<AppState>,
    params: TailParams,
) {
    use axum::extract::ws::Message;
    use tokio::sync::broadcast::error::RecvError;
    let stall = state.tail_stall_timeout;
    let text_match = params.filter.text_match();
    // Subscribe before reading the history, so that nothing falls between the two.
    let mut live = state.shared.tail.subscribe();
    // On a store other processes write too, their records reach this tail only through the
    // store: it follows the store from where it stood before the history (or now), so the
    // history's `since` is not undone by following from the start of the table.
    let shared_store = matches!(state.shared.backend, Backend::Postgres(_));
    let start = match params.after {
        None if shared_store => {
            match with_store(&state, |store| store.tail_position().map_err(internal)).await {
                Ok(position) => position,
                Err(_) => {
                    let error = TailMessage::Error {
                        error: "cannot read the history".into(),
                    };
                    let _ = send_within(&mut socket, text(&error), stall).await;
                    return;
                }
            }
        }
        _ => 0,
    };
    let mut last = params.after.unwrap_or(0);
    if params.after.is_some() || params.since.is_some() {
        // Page by page, each sent before the next is read: a client that reads slowly slows
        // its own history down instead of making the server hold all of it.
        let mut cursor = params.after;
        loop {
            let filter = params.filter.clone();
            let since = params.since;
            let page = with_store(&state, move |store| {
                store
                    .tail_history(cursor, since, &filter, HISTORY_PAGE)
                    .map_err(internal)
            })
            .await;
            let Ok(page) = page else {
                let error = TailMessage::Error {
                    error: "cannot read the history".into(),
                };
                let _ = send_within(&mut socket, text(&error), stall).await;
                return;
            };
            let complete = page.len() < HISTORY_PAGE;
            for event in page {
                last = last.max(event.seq);
                cursor = Some(event.seq);
                if send_within(&mut socket, text(&TailMessage::Event(&event)), stall)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if complete {
                break;
            }
        }
    }
    if !params.follow {
        if send_within(&mut socket, text(&TailMessage::End { end: true }), stall)
            .await
            .is_ok()
        {
            let _ = send_within(&mut socket, Message::Close(None), stall).await;
        }
        return;
    }
    if shared_store {
        follow_store(socket, &state, &params, live, last.max(start)).await;
        return;
    }
    loop {
        tokio::select! {
            event = live.recv() => match event {
                Ok(event) => {
                    if event.seq <= last
                        || !params.filter.matches(&event.record, event.enqueued_by.as_deref())
                        || !text_match.matches(event.search.as_deref())
                    {
                        continue;
                    }
                    last = event.seq;
                    if send_within(&mut socket, text(&TailMessage::Event(&*event)), stall).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let notice = TailMessage::Missed { missed };
                    if send_within(&mut socket, text(&notice), stall).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// How often a tail on a shared store (PostgreSQL) reads what other processes committed;
/// this process's own commits wake it at once.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(150);

/// A tail on a store several processes write: every record after `last` in `seq` order, read
/// from the store when this process commits and every [`FOLLOW_EVERY`], so records from
/// every process arrive in commit order and a reconnect with `after=` misses none. This
/// process's own events (heard on `live`) lend theirs their job transition, which the store
/// does not keep.
async fn follow_store(
    mut socket: axum::extract::ws::WebSocket,
    state: &Arc<AppState>,
    params: &TailParams,
    mut live: tokio::sync::broadcast::Receiver<Arc<TailEvent>>,
    mut last: i64,
) {
    use axum::extract::ws::Message;
    use tokio::sync::broadcast::error::RecvError;
    let stall = state.tail_stall_timeout;
    let mut own: std::collections::HashMap<i64, Arc<TailEvent>> = std::collections::HashMap::new();
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = live.recv() => match event {
                Ok(event) => {
                    if event.seq > last {
                        own.insert(event.seq, event);
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {}
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        }
        // Everything up to the position read first is visible to the reads after it, so the
        // cursor passes it even when the filter kept none of those records.
        let position = with_store(state, |store| store.tail_position().map_err(internal)).await;
        let Ok(position) = position else { continue };
        if position <= last {
            // Nothing committed since: one small read per idle round.
            continue;
        }
        loop {
            let filter = params.filter.clone();
            let after = last;
            let page = with_store(state, move |store| {
                store
                    .tail_history(Some(after), None, &filter, HISTORY_PAGE)
                    .map_err(internal)
            })
            .await;
            let Ok(page) = page else { break };
            let complete = page.len() < HISTORY_PAGE;
            for event in page {
                last = last.max(event.seq);
                let message = match own.remove(&event.seq) {
                    Some(own) => text(&TailMessage::Event(&*own)),
                    None => text(&TailMessage::Event(&event)),
                };
                if send_within(&mut socket, message, stall).await.is_err() {
                    return;
                }
            }
            if complete {
                last = last.max(position);
                break;
            }
        }
        own.retain(|seq, _| *seq > last);
    }
}
