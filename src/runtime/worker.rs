//! One engine thread: a QuickJS runtime and context (reused between executions, rebuilt
//! when code changes or an execution was killed), a store connection, and the event loop
//! that drives an execution's promises, timers and fetches until it settles or times out.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use rquickjs::context::EvalOptions;
use rquickjs::{Context, Ctx, Function, Object, Persistent, Promise, Runtime};
use serde_json::{json, Map, Value};

use super::host::{self, Crash, ExecState, FetchDone, HostState};
use super::loader::{ProjectLoader, ProjectResolver, HOST_SCRIPT};
use super::recorder::Recorder;
use super::{declared_env, now_us, ExecutionOutcome, ExecutionRequest, HttpOutput, Shared, Task};
use crate::clock::monotonic_ns;
use crate::queue::transition_after;
use crate::record::{
    flux_error, Ending, ErrorInfo, ExecutionRecord, Kind, RecordSummary, SpanStatus, Status,
    WRITES_LOST,
};
use crate::store::StoreWrite;

const WEB_JS: &str = include_str!("js/web.js");
const HOST_JS: &str = include_str!("js/host.js");

/// What the record keeps of a response body.
const MAX_RECORDED_BODY: usize = 64 * 1024;
const MEMORY_LIMIT: usize = 256 * 1024 * 1024;
/// The longest timeout honoured (a year).
const LONGEST_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// The longest an idle execution waits before looking at the clock and the stop flag again.
const POLL: Duration = Duration::from_millis(50);

struct Js {
    // Dropped before the context and runtime that own them.
    internals: Persistent<Object<'static>>,
    context: Context,
    _runtime: Runtime,
    generation: u64,
}

enum Driven {
    /// `run` settled: its JSON `{ ok }` or `{ error }`.
    Finished(String),
    Timeout,
    Interrupted,
    Failed(String),
    /// It ran, but its writes were not committed: why.
    NotCommitted(String),
}

impl Driven {
    /// The handler returned (rather than threw, timed out or was stopped).
    fn succeeded(&self) -> bool {
        match self {
            Driven::Finished(json) => {
                serde_json::from_str::<Value>(json).is_ok_and(|reply| reply.get("error").is_none())
            }
            _ => false,
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    state: Rc<RefCell<HostState>>,
    js: Option<Js>,
    /// Clock nanos after which the running script is interrupted; 0 when idle.
    deadline: Rc<Cell<u64>>,
    interrupted: Rc<Cell<bool>>,
    crash: Crash,
    fetch_done: Receiver<FetchDone>,
    seq: u64,
}

pub(super) fn run(shared: Arc<Shared>, tasks: Receiver<Task>, _per_engine: usize) {
    let mut worker = match Worker::new(Arc::clone(&shared)) {
        Ok(worker) => worker,
        Err(message) => {
            eprintln!("error: a JS engine could not start: {message}");
            return;
        }
    };
    while let Ok(task) = tasks.recv() {
        let request = task.request;
        let job = request.job.clone();
        // A panic while running an execution ends that execution, not the engine's thread.
        let executed = std::panic::catch_unwind(AssertUnwindSafe(|| worker.execute(&request)));
        let (record, http) = match executed {
            Ok(done) => done,
            Err(panic) => worker.recover(&request, &panic_message(&*panic)),
        };
        let summary = RecordSummary::from(&record);
        let job = job.map(|attempt| {
            let transition = transition_after(&record, &attempt, now_us());
            (attempt.job_id, transition)
        });
        // The writer is gone only when the server is going down; the reply still goes out.
        let _ = shared.records.send(StoreWrite { record, job });
        (task.reply)(ExecutionOutcome { summary, http });
    }
    worker.close();
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn js_error(ctx: &Ctx<'_>, error: rquickjs::Error) -> String {
    if matches!(error, rquickjs::Error::Exception) {
        let caught = ctx.catch();
        if let Some(exception) = caught.as_exception() {
            let message = exception.message().unwrap_or_default();
            let stack = exception.stack().unwrap_or_default();
            return format!("{message}\n{stack}").trim().to_string();
        }
        if let Some(text) = caught.as_string().and_then(|s| s.to_string().ok()) {
            return text;
        }
    }
    error.to_string()
}

impl Worker {
    fn new(shared: Arc<Shared>) -> Result<Worker, String> {
        let conn = shared.store.connect().map_err(|e| e.to_string())?;
        let (fetch_tx, fetch_done) = crossbeam_channel::unbounded();
        let state = HostState {
            shared: Arc::clone(&shared),
            conn,
            exec: None,
            fetch_done: fetch_tx,
        };
        Ok(Worker {
            shared,
            state: Rc::new(RefCell::new(state)),
            js: None,
            deadline: Rc::new(Cell::new(0)),
            interrupted: Rc::new(Cell::new(false)),
            crash: Rc::new(RefCell::new(None)),
            fetch_done,
            seq: 0,
        })
    }

    fn close(self) {
        // The JS context holds references to the host state: drop it first.
        let Worker { state, js, .. } = self;
        drop(js);
        drop(state);
    }

    fn build_js(&self) -> Result<Js, String> {
        let generation = self.shared.generation();
        let runtime = Runtime::new().map_err(|e| e.to_string())?;
        runtime.set_memory_limit(MEMORY_LIMIT);
        runtime.set_max_stack_size(4 * 1024 * 1024);
        let root = self.shared.layout.root.clone();
        runtime.set_loader(
            ProjectResolver { root: root.clone() },
            ProjectLoader { root },
        );
        let deadline = Rc::clone(&self.deadline);
        let fired = Rc::clone(&self.interrupted);
        let shared = Arc::clone(&self.shared);
        let crash = Rc::clone(&self.crash);
        runtime.set_interrupt_handler(Some(Box::new(move || {
            let limit = deadline.get();
            if limit == 0 {
                return false;
            }
            if crash.borrow().is_some() {
                return true;
            }
            let now = monotonic_ns();
            let stopping = shared.stop_at().is_some_and(|stop| now > stop);
            if now > limit || stopping {
                fired.set(true);
                return true;
            }
            false
        })));
        let context = Context::full(&runtime).map_err(|e| e.to_string())?;
        let state = &self.state;
        let crash = &self.crash;
        let internals = context.with(|ctx| -> Result<Persistent<Object<'static>>, String> {
            let setup = || -> rquickjs::Result<Persistent<Object<'static>>> {
                let mut options = EvalOptions::default();
                options.filename = Some("flux:web.js".into());
                ctx.eval_with_options::<(), _>(WEB_JS, options)?;
                let host = host::install(&ctx, state, crash)?;
                let mut options = EvalOptions::default();
                options.filename = Some(HOST_SCRIPT.into());
                let factory: Function = ctx.eval_with_options(HOST_JS, options)?;
                let internals: Object = factory.call((host,))?;
                Ok(Persistent::save(&ctx, internals))
            };
            setup().map_err(|e| js_error(&ctx, e))
        })?;
        Ok(Js {
            internals,
            context,
            _runtime: runtime,
            generation,
        })
    }

    fn execute(&mut self, request: &ExecutionRequest) -> (ExecutionRecord, Option<HttpOutput>) {
        // The record covers the time the execution held the engine, building it included
        // (freezing the built-ins makes that take a few milliseconds).
        let started = Instant::now();
        let started_at_us = now_us();
        let code_version = self.shared.functions().code_version.clone();
        let generation = self.shared.generation();
        if self
            .js
            .as_ref()
            .is_none_or(|js| js.generation != generation)
        {
            self.js = None;
            match self.build_js() {
                Ok(js) => self.js = Some(js),
                Err(message) => {
                    let recorder = Recorder::new(
                        &request.function.name,
                        Some(request.function.module.clone()),
                    );
                    let exec = ExecState::new(
                        request.id,
                        self.seq,
                        request.function.name.clone(),
                        recorder,
                    );
                    let driven =
                        Driven::Failed(format!("the JS engine could not start: {message}"));
                    return build_record(
                        request,
                        started_at_us,
                        exec,
                        driven,
                        Vec::new(),
                        code_version,
                    );
                }
            }
        }
        self.seq += 1;
        let mut recorder = Recorder::new(
            &request.function.name,
            Some(request.function.module.clone()),
        );
        recorder.started = started;
        let mut exec = ExecState::new(
            request.id,
            self.seq,
            request.function.name.clone(),
            recorder,
        );
        let config = self.shared.config();
        exec.env = declared_env(&config.env)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let env = Value::Object(exec.env.clone());
        // Its statements stop at the deadline too (the engine's own is set just before it runs).
        exec.deadline_ns = monotonic_ns() + request.timeout.as_nanos() as u64;
        self.state.borrow_mut().exec = Some(exec);

        // A longer timeout is as good as none, and would overflow the clock arithmetic.
        let timeout = request.timeout.min(LONGEST_TIMEOUT);
        let timeout_at = Instant::now() + timeout;
        self.interrupted.set(false);
        self.deadline
            .set(monotonic_ns() + timeout.as_nanos() as u64);
        let atomic = request.job.as_ref().is_some_and(|job| job.atomic);
        let begun = if atomic {
            self.state.borrow_mut().begin_atomic()
        } else {
            Ok(())
        };
        let driven = match begun {
            Ok(()) => self.drive(request, timeout_at, env),
            Err(message) => Driven::Failed(format!(
                "the attempt's transaction (atomic: true) could not begin: {message}"
            )),
        };
        self.deadline.set(0);
        if let Some(panic) = self.crash.take() {
            std::panic::resume_unwind(panic);
        }

        let mut state = self.state.borrow_mut();
        // A statement stopped at the deadline or at shutdown ended the execution, whatever its
        // code did with the error afterwards.
        let driven = match (driven, state.exec.as_ref().and_then(|e| e.stopped_sql)) {
            (
                Driven::Finished(_) | Driven::Failed(_),
                Some(crate::store::sandbox::Stop::Deadline),
            ) => Driven::Timeout,
            (
                Driven::Finished(_) | Driven::Failed(_),
                Some(crate::store::sandbox::Stop::Shutdown),
            ) => Driven::Interrupted,
            (driven, _) => driven,
        };
        let reason = match driven {
            Driven::Timeout => "the execution timed out",
            Driven::Interrupted => "flux dev stopped",
            _ => "the execution ended with its transaction still open",
        };
        state.abandon_transaction(reason);
        // An atomic attempt's writes commit with its record, other attempts' ones no later
        // than it; a request's before its response, or it fails.
        let not_committed = if atomic {
            state.end_atomic(driven.succeeded()).err()
        } else if request.job.is_none() {
            state.sync().err()
        } else {
            None
        };
        let driven = match not_committed {
            Some(message) => {
                if let Some(exec) = state.exec.as_mut() {
                    for change in &mut exec.mutations {
                        change.committed = false;
                    }
                }
                Driven::NotCommitted(message)
            }
            None => driven,
        };
        let exec = state.exec.take();
        drop(state);
        let Some(mut exec) = exec else {
            let recorder = Recorder::new(&request.function.name, None);
            let exec = ExecState::new(
                request.id,
                self.seq,
                request.function.name.clone(),
                recorder,
            );
            return build_record(
                request,
                started_at_us,
                exec,
                Driven::Failed("lost execution state".into()),
                Vec::new(),
                code_version,
            );
        };
        let mutations = std::mem::take(&mut exec.mutations);
        match driven {
            Driven::Finished(_) | Driven::NotCommitted(_) => self.reset_js(),
            // A killed script may leave modules half-evaluated: start the next one afresh.
            _ => self.js = None,
        }
        build_record(
            request,
            started_at_us,
            exec,
            driven,
            mutations,
            code_version,
        )
    }

    /// After a panic in `execute`: the execution's transaction is rolled back, its record says
    /// the engine crashed, and the JS engine is dropped (the next execution builds another).
    fn recover(
        &mut self,
        request: &ExecutionRequest,
        panic: &str,
    ) -> (ExecutionRecord, Option<HttpOutput>) {
        self.deadline.set(0);
        self.crash.take();
        self.js = None;
        let exec = {
            let mut state = self.state.borrow_mut();
            state.abandon_transaction("the engine crashed");
            // An atomic attempt's writes go with it.
            let _ = state.end_atomic(false);
            state.exec.take()
        };
        let mut exec = exec.unwrap_or_else(|| {
            let recorder = Recorder::new(
                &request.function.name,
                Some(request.function.module.clone()),
            );
            ExecState::new(
                request.id,
                self.seq,
                request.function.name.clone(),
                recorder,
            )
        });
        let started_at_us = now_us() - exec.recorder.elapsed_us() as i64;
        let mutations = std::mem::take(&mut exec.mutations);
        let code_version = self.shared.functions().code_version.clone();
        let message = format!("the engine crashed ({panic}); flux replaced it");
        build_record(
            request,
            started_at_us,
            exec,
            Driven::Failed(message),
            mutations,
            code_version,
        )
    }

    /// Readies the context for the next execution; drops it when the last one's traces
    /// cannot be removed (then the next execution builds a new one).
    fn reset_js(&mut self) {
        let Some(js) = &self.js else { return };
        let ok = js.context.with(|ctx| {
            // Work the execution left behind (e.g. a promise chain after its response) runs
            // first, so that the reset also undoes what it changes. A chain that never ends
            // would run into the next execution: the context is rebuilt instead.
            let mut budget = 10_000;
            while ctx.execute_pending_job() {
                budget -= 1;
                if budget == 0 {
                    return false;
                }
            }
            let reset = || -> rquickjs::Result<()> {
                let internals = js.internals.clone().restore(&ctx)?;
                let reset: Function = internals.get("reset")?;
                reset.call::<_, ()>(())
            };
            reset().is_ok()
        });
        if !ok {
            self.js = None;
        }
    }

    fn drive(&mut self, request: &ExecutionRequest, timeout_at: Instant, env: Value) -> Driven {
        let Some(js) = &self.js else {
            return Driven::Failed("no JS engine".into());
        };
        let state = &self.state;
        let interrupted = &self.interrupted;
        let fetch_done = &self.fetch_done;
        let shared = &self.shared;
        let crash = &self.crash;
        js.context.with(|ctx| {
            let start = || -> rquickjs::Result<(Object, Promise)> {
                let internals = js.internals.clone().restore(&ctx)?;
                let run: Function = internals.get("run")?;
                let input = ctx.json_parse(request.input.to_string())?;
                let meta = ctx.json_parse(
                    json!({ "id": request.id.to_string(), "kind": request.kind.as_str(), "env": env }).to_string(),
                )?;
                let promise: Promise = run.call((request.function.module.clone(), input, meta))?;
                Ok((internals, promise))
            };
            let (internals, promise) = match start() {
                Ok(started) => started,
                Err(e) => return Driven::Failed(js_error(&ctx, e)),
            };
            let stop_instant = || {
                shared.stop_at().map(|at| {
                    let now = monotonic_ns();
                    Instant::now() + Duration::from_nanos(at.saturating_sub(now))
                })
            };
            loop {
                while ctx.execute_pending_job() {}
                if crash.borrow().is_some() {
                    return Driven::Failed("the engine crashed".into());
                }
                if let Some(result) = promise.result::<String>() {
                    return match result {
                        Ok(json) => Driven::Finished(json),
                        Err(e) => Driven::Failed(js_error(&ctx, e)),
                    };
                }
                if shared.stop_at().is_some_and(|at| monotonic_ns() >= at) {
                    return Driven::Interrupted;
                }
                let now = Instant::now();
                let stop = stop_instant();
                if interrupted.get() || now >= timeout_at {
                    return Driven::Timeout;
                }
                let next_timer = state.borrow().exec.as_ref().and_then(ExecState::next_timer_due);
                // Wake up now and then, so that a shutdown that starts meanwhile is noticed.
                let mut wait_until = stop.map_or(timeout_at, |s| s.min(timeout_at)).min(now + POLL);
                if let Some((id, due)) = next_timer {
                    if due <= now {
                        if let Some(exec) = state.borrow_mut().exec() {
                            exec.timers.remove(&id);
                        }
                        let fire = internals
                            .get::<_, Function>("fireTimer")
                            .and_then(|f| f.call::<_, ()>((id as f64,)));
                        if let Err(e) = fire {
                            let message = js_error(&ctx, e);
                            state.borrow_mut().log("error", format!("timer failed: {message}"));
                        }
                        continue;
                    }
                    wait_until = wait_until.min(due);
                }
                match fetch_done.recv_deadline(wait_until) {
                    Ok(done) => {
                        if state.borrow_mut().finish_fetch(&done) {
                            let (response, error) = match done.outcome {
                                Ok(response) => (Some(response), None),
                                Err(error) => (None, Some(error)),
                            };
                            let settle = internals
                                .get::<_, Function>("settleFetch")
                                .and_then(|f| f.call::<_, ()>((done.id as f64, response, error)));
                            if let Err(e) = settle {
                                return Driven::Failed(js_error(&ctx, e));
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return Driven::Failed("fetch channel closed".into()),
                }
            }
        })
    }
}

const REDACTED_HEADERS: [&str; 7] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-flux-token",
];

/// Replaces the values of credential-bearing headers.
pub fn redact_headers(headers: &Map<String, Value>) -> Map<String, Value> {
    headers
        .iter()
        .map(|(name, value)| {
            let secret = REDACTED_HEADERS.contains(&name.as_str())
                || name.contains("secret")
                || name.contains("token");
            let value = if secret {
                Value::String("[redacted]".into())
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect()
}

/// A body as the record keeps it: JSON when it parses, text otherwise, cut at a limit.
pub fn recorded_body(bytes: &[u8], content_type: Option<&str>) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    if bytes.len() > MAX_RECORDED_BODY {
        return json!({ "truncated": true, "bytes": bytes.len(),
            "head": String::from_utf8_lossy(&bytes[..MAX_RECORDED_BODY.min(1024)]) });
    }
    let looks_json = content_type.is_none_or(super::content_type::is_json_content_type);
    if looks_json {
        if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
            return value;
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => json!({ "binary": true, "bytes": bytes.len() }),
    }
}

fn error_info(error: &Value) -> ErrorInfo {
    let text = |key: &str| error.get(key).and_then(Value::as_str).map(String::from);
    ErrorInfo {
        name: text("name").unwrap_or_else(|| "Error".into()),
        message: text("message").unwrap_or_default(),
        stack: text("stack").filter(|s| !s.is_empty()),
        location: text("location"),
    }
}

fn decode_body(body: &Value) -> Vec<u8> {
    if let Some(text) = body.get("text").and_then(Value::as_str) {
        return text.as_bytes().to_vec();
    }
    if let Some(b64) = body.get("base64").and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default();
    }
    Vec::new()
}

fn error_response(status: u16, id: &str, error: &ErrorInfo) -> HttpOutput {
    let body = json!({
        "error": format!("{}: {}", error.name, error.message),
        "location": error.location,
        "requestId": id,
    });
    HttpOutput {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn build_record(
    request: &ExecutionRequest,
    started_at_us: i64,
    mut exec: ExecState,
    driven: Driven,
    mutations: Vec<crate::record::Mutation>,
    code_version: String,
) -> (ExecutionRecord, Option<HttpOutput>) {
    let duration_us = exec.recorder.elapsed_us();
    let timeout_text = || {
        format!(
            "timed out after {}",
            humantime::format_duration(request.timeout)
        )
    };
    // A failed execution: its record's error and, for a request, the response that says it.
    let failure = |status: Status, http_status: u16, name: &str, message: String| {
        let info = flux_error(name, message);
        let http = (request.kind == Kind::Http)
            .then(|| error_response(http_status, &request.id.to_string(), &info));
        (status, Some(info), None, http)
    };
    let (status, error, output, http) = match driven {
        Driven::Finished(json) => {
            let reply: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
            if let Some(error) = reply.get("error") {
                let info = error_info(error);
                let http = (request.kind == Kind::Http)
                    .then(|| error_response(500, &request.id.to_string(), &info));
                (Status::Error, Some(info), None, http)
            } else {
                let ok = reply.get("ok").cloned().unwrap_or(Value::Null);
                if request.kind == Kind::Http {
                    let status = ok.get("status").and_then(Value::as_u64).unwrap_or(200) as u16;
                    let headers: Vec<(String, String)> = ok
                        .get("headers")
                        .and_then(|h| serde_json::from_value(h.clone()).ok())
                        .unwrap_or_default();
                    let body = ok.get("body").map(decode_body).unwrap_or_default();
                    let content_type = headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                        .map(|(_, v)| v.as_str());
                    let output =
                        json!({ "status": status, "body": recorded_body(&body, content_type) });
                    let record_status = if status >= 500 {
                        Status::Error
                    } else {
                        Status::Ok
                    };
                    (
                        record_status,
                        None,
                        Some(output),
                        Some(HttpOutput {
                            status,
                            headers,
                            body,
                        }),
                    )
                } else {
                    (Status::Ok, None, Some(ok), None)
                }
            }
        }
        Driven::Timeout => {
            let pending: Vec<String> = exec
                .recorder
                .spans
                .iter()
                .skip(1)
                .filter(|s| matches!(s.status, SpanStatus::Pending | SpanStatus::Timeout))
                .map(|s| {
                    let at = s
                        .location
                        .as_ref()
                        .map_or_else(String::new, |at| format!(" at {at}"));
                    // A span that timed out is a statement stopped at the deadline.
                    let stopped = if s.status == SpanStatus::Timeout {
                        " (its SQL statement was interrupted at the deadline)"
                    } else {
                        ""
                    };
                    format!("{}{at}{stopped}", s.name)
                })
                .collect();
            let mut message = timeout_text();
            if !pending.is_empty() {
                message.push_str(&format!(" while waiting on {}", pending.join(", ")));
            }
            failure(Status::Timeout, 504, "TimeoutError", message)
        }
        Driven::Interrupted => failure(
            Status::Interrupted,
            503,
            "Interrupted",
            "flux dev stopped before the execution finished".into(),
        ),
        Driven::NotCommitted(message) => {
            let message = if message.starts_with("its writes") {
                message
            } else {
                format!("its writes were not committed: {message}")
            };
            failure(Status::Error, 500, WRITES_LOST, message)
        }
        Driven::Failed(message) => failure(Status::Error, 500, "InternalError", message),
    };
    let ending = Ending {
        status,
        http_status: http.as_ref().map(|h| h.status),
        started_at_us,
        duration_us,
        output,
        error,
        code_version,
        mutations,
    };
    let record = request.record(ending, &mut exec.recorder);
    (record, http)
}
