//! HTTP: every function at `/<name>`, the read API under `/_flux/api/`, and the dashboard at
//! `/_flux/`.

mod access;
mod api;
mod dashboard;
mod deploy_api;
mod email_api;
pub use email_api::MAX_LIMIT as MAX_EMAILS_LISTED;
mod guard;
mod listen;
mod queue_api;
mod token_api;

/// Headers from `(name, value)` pairs, for the unit tests of the guard and access checks.
#[cfg(test)]
fn test_headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().expect("header value"));
    }
    map
}

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::api::ErrorBody;
use crate::project::{is_private_worker, route_for_path, worker_not_served};
use crate::record::{ExecId, Kind, Links};
use crate::runtime::multipart;
use crate::runtime::{
    is_json_content_type, now_us, recorded_body, redact_headers, Engine, ExecutionRequest, Shared,
};
use crate::store::{self, CallerWrites, Storage, StoreWrite, TxControl};

pub use access::{Route, CACHE_TTL as TOKEN_CACHE_TTL, ROUTES};
pub use deploy_api::Activation;
pub use guard::ConnectedTo;
pub use listen::{serve, ConnectionLimits};

pub const REQUEST_ID_HEADER: &str = "x-flux-request-id";

pub struct AppState {
    pub shared: Arc<Shared>,
    pub engine: Engine,
    /// The admin token, when `/_flux/` needs one (the server listens beyond loopback), and
    /// the scoped tokens it has looked up.
    pub access: access::Access,
    /// One permit per open `/_flux/api/tail` websocket, `max_tail_clients` in all.
    tail_slots: Arc<tokio::sync::Semaphore>,
    max_tail_clients: usize,
    /// A tail client that takes no message for this long is dropped.
    tail_stall_timeout: Duration,
    /// Set by a server that runs deployed versions (`flux serve`); `flux dev` only keeps them.
    activation: Option<Arc<dyn Activation>>,
    /// Held from a deploy's or rollback's preparation to its switch: one at a time, so that
    /// the version running is the one the store says is active.
    deploying: tokio::sync::Mutex<()>,
}

impl AppState {
    /// The server's state; `token` is the admin token (see `access.rs`); the tail limits are
    /// read from the config now, at start.
    pub fn new(shared: Arc<Shared>, engine: Engine, token: Option<String>) -> AppState {
        let server = shared.config().server.clone();
        AppState {
            shared,
            engine,
            access: access::Access::new(token),
            tail_slots: Arc::new(tokio::sync::Semaphore::new(server.max_tail_clients)),
            max_tail_clients: server.max_tail_clients,
            tail_stall_timeout: server.tail_stall_timeout,
            activation: None,
            deploying: tokio::sync::Mutex::new(()),
        }
    }

    /// The state of a server that runs the deployed versions through `activation`.
    pub fn with_activation(mut self, activation: Arc<dyn Activation>) -> AppState {
        self.activation = Some(activation);
        self
    }
}

/// The largest manifest a deploy may post (some 100 000 files).
const MAX_MANIFEST_BYTES: usize = 16 * 1024 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/_flux/api/health", get(api::health))
        .route("/_flux/api/records", get(api::list_records))
        .route("/_flux/api/records/{prefix}", get(api::get_record))
        .route("/_flux/api/stats/minutes", get(api::minutes))
        .route("/_flux/api/state/{table}", get(api::state))
        .route("/_flux/api/schema", get(api::schema))
        .route("/_flux/api/rows/{table}", get(api::row_exists))
        .route("/_flux/api/tail", get(api::tail))
        .route(
            "/_flux/api/jobs",
            get(queue_api::list).post(queue_api::enqueue),
        )
        .route("/_flux/api/jobs/{prefix}", get(queue_api::show))
        .route("/_flux/api/jobs/{prefix}/cancel", post(queue_api::cancel))
        .route("/_flux/api/emails", get(email_api::list))
        .route("/_flux/api/emails/{id}", get(email_api::show))
        .route("/_flux/api/queue/stats", get(queue_api::stats))
        .route("/_flux/api/queue/pause", post(queue_api::pause))
        .route("/_flux/api/queue/resume", post(queue_api::resume))
        .route("/_flux/api/dead-letter", get(queue_api::dead_letters))
        .route(
            "/_flux/api/dead-letter/replay",
            post(queue_api::replay_many),
        )
        .route(
            "/_flux/api/dead-letter/{prefix}/replay",
            post(queue_api::replay),
        )
        .route(
            "/_flux/api/deploy",
            post(deploy_api::deploy).layer(DefaultBodyLimit::max(MAX_MANIFEST_BYTES)),
        )
        .route("/_flux/api/deploy/missing", post(deploy_api::missing))
        .route(
            "/_flux/api/deploy/blobs/{hash}",
            put(deploy_api::put_blob).layer(DefaultBodyLimit::max(
                crate::version::MAX_FILE_BYTES as usize,
            )),
        )
        .route("/_flux/api/deploy/versions", get(deploy_api::versions))
        .route("/_flux/api/deploy/rollback", post(deploy_api::rollback))
        .route(
            "/_flux/api/tokens",
            get(token_api::list).post(token_api::create),
        )
        .route("/_flux/api/tokens/{prefix}/revoke", post(token_api::revoke))
        .route("/_flux/api/tokens/{prefix}/rotate", post(token_api::rotate))
        .merge(dashboard::routes())
        .route("/_flux/{*rest}", axum::routing::any(api::unknown))
        .fallback(invoke)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            guard::guard_api,
        ))
        .with_state(state)
}

/// An API error: its status and `{ "error": … }` body (boxed: errors are rare, results common).
pub struct ApiError(pub StatusCode, pub Box<ErrorBody>);

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::with_body(status, ErrorBody::new(message))
    }

    fn with_body(status: StatusCode, body: ErrorBody) -> ApiError {
        ApiError(status, Box::new(body))
    }
}

/// A 500 carrying what went wrong.
fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// A 409 for an id prefix that several ids start with, naming them.
fn ambiguous(prefix: &str, ids: Vec<String>) -> ApiError {
    ApiError::with_body(
        StatusCode::CONFLICT,
        ErrorBody {
            candidates: Some(ids),
            ..ErrorBody::new(format!("{prefix} is ambiguous: give more characters"))
        },
    )
}

/// A 409 for a prefix that starts several unrelated executions or jobs: the message says what
/// each is, `candidates` holds their ids.
fn ambiguous_named(prefix: &str, candidates: &[store::Candidate]) -> ApiError {
    ApiError::with_body(
        StatusCode::CONFLICT,
        ErrorBody {
            candidates: Some(candidates.iter().map(store::Candidate::id).collect()),
            ..ErrorBody::new(store::resolve::ambiguous_message(prefix, candidates))
        },
    )
}

/// Runs `work` on the store's reading side, off the async threads.
async fn with_store<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&dyn Storage) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(&state.shared.storage);
    tokio::task::spawn_blocking(move || work(store.as_ref()))
        .await
        .map_err(internal)?
}

/// Runs `work` on the store thread's connection (the one that writes) as one savepoint, off
/// the async threads; returns once its writes are committed.
async fn with_writer<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&dyn CallerWrites) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let writer = state.shared.writer.clone();
    tokio::task::spawn_blocking(move || {
        writer.call(ExecId::random(), TxControl::None, true, move |session| {
            session.atomically(work)
        })
    })
    .await
    .map_err(internal)?
    .map_err(internal)?
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(*self.1)).into_response()
    }
}

/// An error answer with only its message.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

fn with_request_id(mut response: Response, id: &ExecId) -> Response {
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    response
}

fn headers_object(headers: &HeaderMap) -> Map<String, Value> {
    let mut object = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match object.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                object.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    object
}

fn query_object(query: Option<&str>) -> Map<String, Value> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

/// Why a request was refused before its function ran.
struct Refusal {
    status: StatusCode,
    message: String,
}

fn is_form_content_type(content_type: &str) -> bool {
    content_type
        .parse::<mime::Mime>()
        .is_ok_and(|parsed| parsed.essence_str() == mime::APPLICATION_WWW_FORM_URLENCODED.as_ref())
}

/// The request body as `req.body`: parsed JSON (for a JSON content type) or form data (a
/// repeated field as an array; an uploaded file as `{ name, type, base64 }`, which the glue
/// makes a `File`), else the text as a string, or nothing. With it, for an upload, the body
/// as its record keeps it: its fields with its files' names, types and sizes (for any other
/// body, None: the record keeps [`recorded_body`]'s).
fn parse_body(headers: &HeaderMap, bytes: &Bytes) -> Result<(Value, Option<Value>), Refusal> {
    if bytes.is_empty() {
        return Ok((Value::Null, None));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if is_json_content_type(content_type) {
        return serde_json::from_slice(bytes)
            .or_else(|e| match replace_lone_surrogates(bytes) {
                Some(text) => serde_json::from_slice(&text),
                None => Err(e),
            })
            .map(|body| (body, None))
            .map_err(|e| Refusal {
                status: StatusCode::BAD_REQUEST,
                message: format!("malformed JSON body: {e}"),
            });
    }
    if is_form_content_type(content_type) {
        let body = multipart::collect(
            form_urlencoded::parse(bytes).map(|(k, v)| (k, Value::String(v.into_owned()))),
        );
        return Ok((body, None));
    }
    if is_multipart_content_type(content_type) {
        return multipart::parse(content_type, bytes.clone())
            .map(|parts| {
                (
                    multipart::body_value(&parts),
                    Some(multipart::recorded_value(&parts)),
                )
            })
            .map_err(|e| Refusal {
                status: StatusCode::BAD_REQUEST,
                message: e.to_string(),
            });
    }
    Ok((
        Value::String(String::from_utf8_lossy(bytes).into_owned()),
        None,
    ))
}

/// JSON text with each escaped lone surrogate (`"\ud83d"`, which JavaScript's JSON.stringify
/// writes for a string cut inside a surrogate pair, and JSON.parse accepts) made `\ufffd`, as
/// WebIDL's USVString conversion does: serde_json refuses them, and `req.body` is held as Rust
/// strings. `None` when there was none.
fn replace_lone_surrogates(text: &[u8]) -> Option<Vec<u8>> {
    // The UTF-16 unit of the `\uXXXX` escape at `at`, if there is one.
    let escape = |at: usize| -> Option<u16> {
        if text.get(at..at + 2) != Some(b"\\u".as_slice()) {
            return None;
        }
        let digits = std::str::from_utf8(text.get(at + 2..at + 6)?).ok()?;
        u16::from_str_radix(digits, 16).ok()
    };
    let mut out = Vec::with_capacity(text.len());
    let mut replaced = false;
    let mut at = 0;
    while at < text.len() {
        if text[at] != b'\\' {
            out.push(text[at]);
            at += 1;
            continue;
        }
        let length = match escape(at) {
            Some(0xD800..=0xDBFF) if matches!(escape(at + 6), Some(0xDC00..=0xDFFF)) => 12,
            Some(0xD800..=0xDFFF) => {
                out.extend_from_slice(b"\\ufffd");
                replaced = true;
                at += 6;
                continue;
            }
            Some(_) => 6,
            // Any other escape: the backslash and the byte it escapes (`\\u` is no escape).
            None => 2,
        };
        let end = (at + length).min(text.len());
        out.extend_from_slice(&text[at..end]);
        at = end;
    }
    replaced.then_some(out)
}

fn is_multipart_content_type(content_type: &str) -> bool {
    content_type
        .parse::<mime::Mime>()
        .is_ok_and(|parsed| parsed.essence_str() == mime::MULTIPART_FORM_DATA.as_ref())
}

async fn invoke(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if state
        .activation
        .as_ref()
        .is_some_and(|a| a.active().is_none())
    {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no version deployed yet: run flux deploy",
        );
    }
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let name = match route_for_path(&path) {
        Ok(name) => name,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // The common case, an unchanged file, is one stat: done here. A rescan reads the project's
    // sources, so it runs on a blocking thread.
    let function = match state.shared.current(&name) {
        Some(function) => Some(function),
        None => {
            let shared = Arc::clone(&state.shared);
            let lookup_name = name.clone();
            tokio::task::spawn_blocking(move || shared.lookup(&lookup_name))
                .await
                .ok()
                .flatten()
        }
    };
    let Some(function) = function else {
        return not_found(&state, &name, &path);
    };
    let config = state.shared.config();
    if is_private_worker(&config, &state.shared.enqueued, &name) {
        return error(StatusCode::NOT_FOUND, worker_not_served(&name));
    }
    let id = ExecId::random();
    let limit = config.http.max_body_bytes as usize;
    let headers = headers_object(&parts.headers);
    let query = query_object(parts.uri.query());
    // Its input is known once the body is read; its record's input (`recorded_input`) keeps
    // what a refusal of the body needs too.
    let mut execution = ExecutionRequest {
        id,
        kind: Kind::Http,
        function,
        input: Value::Null,
        recorded_input: json!({
            "headers": redact_headers(&headers),
            "query": query,
            "body": Value::Null,
        }),
        method: Some(parts.method.to_string()),
        path: Some(path.clone()),
        timeout: config.http.timeout,
        links: Links::default(),
        job: None,
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        Refusal {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "the request body is larger than the limit of {} (set http.maxBodySize in flux.config.ts)",
            bytesize::ByteSize::b(limit as u64)
        ),
    }
    };
    let bytes = if declared.is_some_and(|n| n > limit as u64) {
        Err(too_large())
    } else {
        axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| too_large())
    };
    let parsed = bytes.and_then(|bytes| {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let (body, recorded) = match parse_body(&parts.headers, &bytes) {
            Ok((body, recorded)) => (Ok(body), recorded),
            Err(refusal) => (Err(refusal), None),
        };
        execution.recorded_input["body"] =
            recorded.unwrap_or_else(|| recorded_body(&bytes, content_type));
        body
    });
    let body = match parsed {
        Ok(body) => body,
        Err(refusal) => return refuse(&state, &execution, refusal),
    };
    execution.input = json!({
        "method": parts.method.as_str(),
        "path": path,
        "query": query,
        "headers": headers,
        "body": body,
    });
    let outcome = match state.engine.execute(execution).await {
        Ok(outcome) => outcome,
        Err(e) => {
            return with_request_id(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()), &id)
        }
    };
    let Some(http) = outcome.http else {
        return with_request_id(StatusCode::INTERNAL_SERVER_ERROR.into_response(), &id);
    };
    let mut response = Response::new(Body::from(http.body));
    *response.status_mut() =
        StatusCode::from_u16(http.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in http.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(name, value);
        }
    }
    with_request_id(response, &id)
}

fn not_found(state: &AppState, name: &str, path: &str) -> Response {
    let table = state.shared.functions();
    let config = state.shared.config();
    // Workers are no answer to a request: never suggested.
    let suggestions: Vec<String> = table
        .close_matches(name)
        .into_iter()
        .filter(|s| !is_private_worker(&config, &state.shared.enqueued, s))
        .collect();
    let functions = state.shared.layout.functions_dir();
    let mut message = format!("no function serves {path}");
    if name.is_empty() {
        message.push_str(" — create functions/index.ts to serve /");
    } else if let Some(served) = index_route(name) {
        let folder = served.trim_start_matches('/');
        let verb = if table.get(folder).is_some() {
            "serves"
        } else {
            "would serve"
        };
        message.push_str(&format!(
            " — an index file serves its folder: functions/{name}.ts {verb} {served}"
        ));
    } else if let Some(private) = private_file(&functions, name) {
        message.push_str(&format!(
            " — functions/{private} is a helper, not a route (a name starting with _ is \
             private): rename it to serve {path}"
        ));
    } else if let Some(first) = suggestions.first() {
        message.push_str(&format!(" — did you mean /{first}?"));
    } else {
        message.push_str(&format!(" — create functions/{name}.ts to serve it"));
    }
    ApiError::with_body(
        StatusCode::NOT_FOUND,
        ErrorBody {
            suggestions: Some(suggestions.iter().map(|s| format!("/{s}")).collect()),
            ..ErrorBody::new(message)
        },
    )
    .into_response()
}

/// The path an `index` route name is served at: `index` → `/`, `billing/index` → `/billing`.
fn index_route(name: &str) -> Option<String> {
    let folder = name.strip_suffix("index")?;
    (folder.is_empty() || folder.ends_with('/'))
        .then(|| format!("/{}", folder.trim_end_matches('/')))
}

/// The helper file (a `_`-prefixed name) a request path names, if it exists.
fn private_file(functions: &std::path::Path, name: &str) -> Option<String> {
    if !name.split('/').any(|part| part.starts_with('_')) {
        return None;
    }
    ["ts", "js", "mjs"]
        .iter()
        .map(|ext| format!("{name}.{ext}"))
        .find(|module| functions.join(module).is_file())
}

/// Records and answers a request refused before its function ran (bad body, too large).
fn refuse(state: &AppState, execution: &ExecutionRequest, refusal: Refusal) -> Response {
    let record = execution.refused_record(
        refusal.status.as_u16(),
        &refusal.message,
        now_us(),
        state.shared.functions().code_version.clone(),
    );
    let _ = state.shared.records.send(StoreWrite { record, job: None });
    with_request_id(
        ApiError::with_body(
            refusal.status,
            ErrorBody {
                request_id: Some(execution.id.to_string()),
                ..ErrorBody::new(refusal.message)
            },
        )
        .into_response(),
        &execution.id,
    )
}
