//! The host side of `ctx`, `fetch`, timers, `console` and `crypto`: typed functions the JS
//! glue (`js/host.js`) calls, one module per capability. Each call is recorded as a span of
//! the running execution; a failure is thrown to the glue as a [`Failure`], which it rethrows
//! as an `Error` carrying the user's stack and call site.

mod console;
mod crypto;
mod db;
mod email;
mod encoding;
mod fetch;
mod form;
pub mod intl;
mod queue;
mod subtle;
mod timers;
mod uncaught;
mod url;

use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use rquickjs::class::Trace;
use rquickjs::{Class, Ctx, FromJs, Function, IntoJs, JsLifetime, Object};
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::recorder::Recorder;
use super::{tag, Shared};
use crate::record::{ExecId, Mutation};
use crate::store::sandbox::Stop;
use crate::store::{Call, Session, TxControl};

use db::DbError;
use email::EmailError;
pub use fetch::FetchDone;
use fetch::{FetchError, PendingFetch};
use queue::QueueError;
pub use uncaught::tracker as rejection_tracker;
use uncaught::Unhandled;
pub use url::web_natives;

/// Why a host function failed; its message is what the user's code sees thrown.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("ctx was used after its execution ended")]
    Ended,
    /// A host function panicked: the execution is stopped and the panic raised again.
    #[error("the engine crashed")]
    Crashed,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The store could not do what ending the execution needs (commit, roll back).
    #[error("{0}")]
    Store(String),
}

impl HostError {
    /// The `name` of the `Error` the glue throws.
    fn js_name(&self) -> &'static str {
        match self {
            HostError::Crashed => "InternalError",
            _ => "Error",
        }
    }
}

/// A [`HostError`] as thrown to the glue. Only host functions make these, so the glue tells
/// them apart from exceptions the user's own code raised while its arguments were converted
/// (a throwing `toJSON`), which pass through unchanged.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "HostFailure")]
pub struct Failure {
    #[qjs(get)]
    name: String,
    #[qjs(get)]
    message: String,
}

/// A panic caught in a host function, kept until the script is stopped and the worker can
/// raise it again (a panic cannot unwind through QuickJS).
pub type Crash = Rc<RefCell<Option<Box<dyn Any + Send>>>>;

/// Runs a host function for JS; a panic in it is kept in `crash` (and `None` returned) for
/// the execution to be stopped and the panic raised again outside QuickJS.
pub fn contain<T>(crash: &Crash, work: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(value) => Some(value),
        Err(panic) => {
            crash.replace(Some(panic));
            None
        }
    }
}

/// A JS argument as JSON: what `JSON.stringify` makes of it (`None` when it makes nothing, as
/// of `undefined` or a function), so that the host sees exactly what the record keeps.
pub struct JsonArg(pub Option<Value>);

impl<'js> FromJs<'js> for JsonArg {
    fn from_js(ctx: &Ctx<'js>, value: rquickjs::Value<'js>) -> rquickjs::Result<JsonArg> {
        let Some(text) = ctx.json_stringify(value)? else {
            return Ok(JsonArg(None));
        };
        let value = serde_json::from_str(&text.to_string()?)
            .map_err(|e| rquickjs::Error::new_from_js_message("value", "JSON", e.to_string()))?;
        Ok(JsonArg(Some(value)))
    }
}

/// The bytes of a `Uint8Array` argument, copied (none when its buffer was detached).
pub(crate) struct CopiedBytes(pub Vec<u8>);

impl<'js> FromJs<'js> for CopiedBytes {
    fn from_js(ctx: &Ctx<'js>, value: rquickjs::Value<'js>) -> rquickjs::Result<CopiedBytes> {
        let array = rquickjs::TypedArray::<u8>::from_js(ctx, value)?;
        // SAFETY: the slice is copied at once, before any JavaScript runs again.
        let copied = unsafe { array.as_bytes() }.map(<[u8]>::to_vec);
        Ok(CopiedBytes(copied.unwrap_or_default()))
    }
}

/// A result handed to JS as `JSON.parse` would build it.
pub struct Json(pub Value);

impl<'js> IntoJs<'js> for Json {
    fn into_js(self, ctx: &Ctx<'js>) -> rquickjs::Result<rquickjs::Value<'js>> {
        ctx.json_parse(self.0.to_string())
    }
}

/// An execution's handler settled (the glue's `host.done`): its JSON `{ ok }` or `{ error }`,
/// and whether `globalThis` had changed by then.
pub struct Finished {
    pub token: Token,
    pub json: String,
    pub globals_changed: bool,
}

/// Which execution on an engine: the key of its state, and what the glue passes to say whose
/// call it is (a JS number, so below 2^53).
pub type Token = u64;

/// One execution's state on its engine.
pub struct ExecState {
    pub id: ExecId,
    pub function: String,
    pub recorder: Recorder,
    pub timers: BTreeMap<u64, Instant>,
    /// Where each of its timers was set, and its delay, by id.
    pub timer_sites: BTreeMap<u64, TimerSite>,
    /// What it left pending when its code ended (cancelled then, never run): for its record.
    pub left_pending: LeftPending,
    fetches: HashMap<u64, PendingFetch>,
    pub env: Map<String, Value>,
    /// It has written through the store thread: its reads go there too, to see its writes.
    pub wrote: bool,
    /// Its `ctx.db.transaction` is open or opening (as its code sees it: a second one fails).
    pub in_transaction: bool,
    /// Its transaction is open on the store thread, as of the last reply: where the changes
    /// in the next reply belong. The store thread answers one execution's calls in order.
    tx_open: bool,
    /// An atomic job attempt: its writes are in a transaction of their own, committed with
    /// its record if it succeeds and rolled back if it fails.
    pub atomic: bool,
    /// A job attempt (see [`crate::store::statement::Limits::flushed_by_record`]).
    pub job_attempt: bool,
    /// Rows it changed, committed or not.
    pub mutations: Vec<Mutation>,
    /// Rows changed in its open transaction, settled when the transaction ends.
    tx_mutations: Vec<Mutation>,
    /// Clock nanos (`clock::monotonic_ns`) at which its statements are stopped; 0 for none.
    pub deadline_ns: u64,
    /// When it times out: its calls held for another execution's transaction give up then.
    pub deadline: Instant,
    /// One of its statements was stopped at the deadline or at shutdown: that ended it.
    pub stopped_sql: Option<Stop>,
    /// Store-thread calls not answered yet: its record waits for them, so that none of its
    /// writes lands after it.
    pub outstanding: u32,
    /// Its code is done (it settled, failed, timed out or was stopped): `ctx` refuses calls,
    /// late replies are no longer delivered, and it only waits for its ending.
    pub ended: bool,
}

/// Fetches still running when their execution ends (it returned, failed, timed out or its
/// engine panicked) are cancelled; their spans stay pending in the record.
impl Drop for ExecState {
    fn drop(&mut self) {
        self.abort_fetches();
    }
}

impl ExecState {
    pub fn new(id: ExecId, function: String, recorder: Recorder, deadline: Instant) -> ExecState {
        ExecState {
            id,
            function,
            recorder,
            timers: BTreeMap::new(),
            timer_sites: BTreeMap::new(),
            left_pending: LeftPending::default(),
            fetches: HashMap::new(),
            env: Map::new(),
            wrote: false,
            in_transaction: false,
            tx_open: false,
            atomic: false,
            job_attempt: false,
            mutations: Vec::new(),
            tx_mutations: Vec::new(),
            deadline_ns: 0,
            deadline,
            stopped_sql: None,
            outstanding: 0,
            ended: false,
        }
    }

    pub fn has_fetches(&self) -> bool {
        !self.fetches.is_empty()
    }

    /// Its code ended: what it still waited for is noted (`left_pending`), then forgotten or
    /// cancelled.
    pub fn forget_pending(&mut self) {
        let sites = &self.timer_sites;
        self.left_pending = LeftPending {
            timers: self
                .timers
                .keys()
                .map(|id| sites.get(id).cloned().unwrap_or_default())
                .collect(),
            fetches: self.fetches.len(),
        };
        self.timers.clear();
        self.timer_sites.clear();
        self.abort_fetches();
    }

    /// Cancels its running fetches (their spans stay pending).
    pub fn abort_fetches(&mut self) {
        for (_, fetch) in self.fetches.drain() {
            fetch.abort();
        }
    }
}

/// Where a timer was set (`file.ts:line`) and its delay in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct TimerSite {
    pub at: Option<String>,
    pub delay_ms: f64,
}

/// Timers and fetches an execution still waited for when its code ended.
#[derive(Debug, Clone, Default)]
pub struct LeftPending {
    pub timers: Vec<TimerSite>,
    pub fetches: usize,
}

/// What reaches an engine's thread while its executions wait: finished fetches and the
/// store thread's answers.
pub enum Event {
    Fetch(FetchDone),
    Writer {
        token: Token,
        purpose: Purpose,
        finish: Finish,
    },
}

/// Who waits for a store-thread call's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The glue's promise with this op id.
    Js(u64),
    /// The worker, to run an atomic attempt once its transaction has begun.
    Begun,
    /// The worker, ending the execution (roll back, commit, sync).
    Ending,
}

/// The engine-side half of a store-thread call: it records the answer on the execution's
/// state and makes what its caller gets.
pub type Finish = Box<dyn FnOnce(&mut HostState, Token) -> Result<Value, HostError> + Send>;

/// What a host function that may need the store thread returns to the glue: its result now,
/// or the op id its promise is settled with later.
pub enum Answer {
    Now(Value),
    Later(u64),
}

impl<'js> IntoJs<'js> for Answer {
    fn into_js(self, ctx: &Ctx<'js>) -> rquickjs::Result<rquickjs::Value<'js>> {
        let answer = Object::new(ctx.clone())?;
        match self {
            Answer::Now(value) => answer.set("value", Json(value))?,
            Answer::Later(op) => answer.set("op", op as f64)?,
        }
        Ok(answer.into_value())
    }
}

pub struct HostState {
    pub shared: Arc<Shared>,
    /// For reads of executions that have not written; writes go to the store thread. None on
    /// PostgreSQL, where every statement runs on the store thread's connections.
    pub conn: Option<Connection>,
    /// The engine's executions, running or ending.
    pub execs: HashMap<Token, ExecState>,
    /// The execution whose code made the host call being served: what `console`, timers and
    /// `fetch` (globals, not reached through a `ctx`) are attributed to. Read from the JS
    /// runtime's tag (see `runtime::tag`) at each call.
    pub current: Token,
    /// Executions whose handler settled in this entry, with the glue's JSON result.
    /// With whether `globalThis` was as the setup left it at that moment.
    pub finished: Vec<Finished>,
    /// The execution the engine entered JS for (its code, or an answer to it once ended).
    pub entering: Token,
    /// Promises rejected in this entry with no handler yet.
    unhandled: Vec<Unhandled>,
    pub inbox: Sender<Event>,
    next_op: u64,
    /// The worker's note of a module loading in the current entry (see `host.imported`).
    module_loading: Rc<std::cell::Cell<u64>>,
}

impl HostState {
    pub fn new(
        shared: Arc<Shared>,
        conn: Option<Connection>,
        inbox: Sender<Event>,
        module_loading: Rc<std::cell::Cell<u64>>,
    ) -> HostState {
        HostState {
            shared,
            conn,
            execs: HashMap::new(),
            current: 0,
            finished: Vec::new(),
            entering: 0,
            unhandled: Vec::new(),
            inbox,
            next_op: 1,
            module_loading,
        }
    }

    /// The execution `token`, for the functions of `ctx`, which fail once it has ended.
    fn running(&mut self, token: Token) -> Result<&mut ExecState, HostError> {
        self.execs
            .get_mut(&token)
            .filter(|exec| !exec.ended)
            .ok_or(HostError::Ended)
    }

    /// The execution `token`, running or ending: for answers that arrive after it ended.
    fn exec_mut(&mut self, token: Token) -> Result<&mut ExecState, HostError> {
        self.execs.get_mut(&token).ok_or(HostError::Ended)
    }

    /// Queues `work` for the store thread's connection on behalf of `token`; `finish` runs on
    /// this engine's thread with the answer, delivered as an [`Event`] to `purpose`. A call of
    /// its code gives up waiting for another execution's transaction at its deadline; one
    /// of its ending (`deadline_bound` false) waits as long as the store lets it.
    #[allow(clippy::too_many_arguments)]
    pub fn submit<R: Send + 'static>(
        &mut self,
        token: Token,
        control: TxControl,
        durable: bool,
        purpose: Purpose,
        work: impl FnOnce(Session<'_>) -> Result<R, String> + Send + 'static,
        finish: impl FnOnce(&mut HostState, Token, Result<R, String>) -> Result<Value, HostError>
            + Send
            + 'static,
    ) -> Result<(), HostError> {
        let exec = self.exec_mut(token)?;
        exec.wrote = true;
        exec.outstanding += 1;
        let call = Call {
            owner: exec.id,
            control,
            durable,
            deadline: (purpose != Purpose::Ending).then_some(exec.deadline),
            // An atomic attempt's transaction is begun before its code runs.
            alone: !exec.in_transaction && !exec.atomic,
        };
        let inbox = self.inbox.clone();
        self.shared.writer.submit(call, work, move |result| {
            let finish: Finish = Box::new(move |state, token| finish(state, token, result));
            // The engine is gone only when flux dev is stopping.
            let _ = inbox.send(Event::Writer {
                token,
                purpose,
                finish,
            });
        });
        Ok(())
    }

    /// [`HostState::submit`] for a call of the execution's code: its promise waits for `finish`.
    fn later<R: Send + 'static>(
        &mut self,
        token: Token,
        control: TxControl,
        durable: bool,
        work: impl FnOnce(Session<'_>) -> Result<R, String> + Send + 'static,
        finish: impl FnOnce(&mut HostState, Token, Result<R, String>) -> Result<Value, HostError>
            + Send
            + 'static,
    ) -> Result<Answer, HostError> {
        let op = self.next_op();
        self.submit(token, control, durable, Purpose::Js(op), work, finish)?;
        Ok(Answer::Later(op))
    }

    fn next_op(&mut self) -> u64 {
        self.next_op += 1;
        self.next_op
    }

    /// The function's module finished loading (the glue's `host.imported`): the handler's
    /// time counts from now when the worker judges whether it is CPU-heavy.
    fn imported(&mut self) {
        if self.module_loading.get() == u64::MAX {
            self.module_loading.set(crate::clock::monotonic_ns().max(1));
        }
    }
}

/// Builds the `host` object the glue receives: its functions grouped by capability
/// (`host.db.query`, `host.fetch.start`, …), each bound to this engine's state.
pub fn install<'js>(
    ctx: &Ctx<'js>,
    state: &Rc<RefCell<HostState>>,
    crash: &Crash,
) -> rquickjs::Result<Object<'js>> {
    let bridge = Bridge {
        state: Rc::clone(state),
        crash: Rc::clone(crash),
    };
    let host = Object::new(ctx.clone())?;
    host.set("db", db::install(ctx, &bridge)?)?;
    host.set("queue", queue::install(ctx, &bridge)?)?;
    host.set("email", email::install(ctx, &bridge)?)?;
    host.set("fetch", fetch::install(ctx, &bridge)?)?;
    host.set("console", console::install(ctx, &bridge)?)?;
    host.set("timers", timers::install(ctx, &bridge)?)?;
    host.set("crypto", crypto::install(ctx)?)?;
    // What js/subtle.js builds `crypto.subtle` on (worker.rs evaluates it before host.js).
    host.set("subtle", subtle::install(ctx, crash)?)?;
    host.set(
        "current",
        Function::new(ctx.clone(), |ctx: Ctx<'js>| tag::current(&ctx) as f64)?,
    )?;
    let b = bridge.clone();
    host.set(
        "imported",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            b.run_quietly(&ctx, HostState::imported);
        })?,
    )?;
    let b = bridge.clone();
    host.set(
        "done",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, token: f64, json: String, globals_changed: bool| {
                b.run_quietly(&ctx, |state| {
                    state.finished.push(Finished {
                        token: token as Token,
                        json,
                        globals_changed,
                    });
                });
            },
        )?,
    )?;
    // Where a value that is not an Error was thrown (it carries no stack of its own).
    host.set("uncaught", uncaught::install(ctx, &bridge)?)?;
    host.set(
        "throwSite",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, value: rquickjs::Value<'js>| {
            super::stack::throw_site(&ctx, value)
        })?,
    )?;
    host.set(
        "isFailure",
        Function::new(ctx.clone(), |value: rquickjs::Value<'js>| {
            is_failure(&value)
        })?,
    )?;
    Ok(host)
}

/// Whether `value` is a [`Failure`] a host function threw (the glue's `isFailure`).
fn is_failure(value: &rquickjs::Value<'_>) -> bool {
    value
        .as_object()
        .is_some_and(|object| object.instance_of::<Failure>())
}

/// What every host function shares: the engine's state and where a panic is kept.
#[derive(Clone)]
struct Bridge {
    state: Rc<RefCell<HostState>>,
    crash: Crash,
}

impl Bridge {
    /// Runs one host operation on the engine's state, as the execution whose code called it;
    /// its error is thrown as a [`Failure`].
    fn run<'js, T>(
        &self,
        ctx: &Ctx<'js>,
        operation: impl FnOnce(&mut HostState) -> Result<T, HostError>,
    ) -> rquickjs::Result<T> {
        let result = contain(&self.crash, || {
            let mut state = self.state.borrow_mut();
            state.current = tag::current(ctx);
            operation(&mut state)
        })
        .unwrap_or(Err(HostError::Crashed));
        result.map_err(|error| throw(ctx, &error))
    }

    /// Runs an operation that cannot fail (console, timers); a panic is kept all the same.
    fn run_quietly(&self, ctx: &Ctx<'_>, operation: impl FnOnce(&mut HostState)) {
        contain(&self.crash, || {
            let mut state = self.state.borrow_mut();
            state.current = tag::current(ctx);
            operation(&mut state)
        });
    }
}

fn throw(ctx: &Ctx<'_>, error: &HostError) -> rquickjs::Error {
    throw_failure(ctx, error.js_name(), error.to_string())
}

/// Throws a [`Failure`] named `name`, which the glue (host.js, subtle.js) tells from other
/// exceptions by its class and makes the error that name says.
fn throw_failure(ctx: &Ctx<'_>, name: &str, message: String) -> rquickjs::Error {
    match new_failure(ctx, name, message) {
        Ok(failure) => ctx.throw(failure),
        Err(e) => e,
    }
}

/// `error` as the glue receives it: thrown by a host function, or rejecting an op's promise.
pub fn failure<'js>(ctx: &Ctx<'js>, error: &HostError) -> rquickjs::Result<rquickjs::Value<'js>> {
    new_failure(ctx, error.js_name(), error.to_string())
}

fn new_failure<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    message: String,
) -> rquickjs::Result<rquickjs::Value<'js>> {
    let failure = Failure {
        name: name.to_string(),
        message,
    };
    Class::instance(ctx.clone(), failure).map(Class::into_value)
}

/// The user's call site the glue passes (`file.ts:line`), if it found one.
fn site(at: Option<String>) -> Option<String> {
    at.filter(|at| !at.is_empty())
}

#[cfg(debug_assertions)]
impl HostState {
    /// Tests of panic containment: in debug builds only, `FLUX_TEST_PANIC_ON=<function>`
    /// makes that function's `ctx.db.query` calls panic. Release builds never read it.
    fn panic_if_asked(&self, token: Token) {
        let function = self.execs.get(&token).map(|exec| exec.function.as_str());
        let asked = std::env::var("FLUX_TEST_PANIC_ON").ok();
        if asked.is_some() && asked.as_deref() == function {
            panic!(
                "FLUX_TEST_PANIC_ON asked {} to panic",
                function.unwrap_or_default()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rquickjs::{Context, Runtime};
    use serde_json::json;

    use super::*;

    fn with_js(test: impl FnOnce(Ctx<'_>)) {
        let runtime = Runtime::new().expect("a QuickJS runtime");
        let context = Context::full(&runtime).expect("a QuickJS context");
        context.with(test);
    }

    #[test]
    fn arguments_cross_as_json_stringify_makes_them() {
        with_js(|ctx| {
            let arg = |source: &str| -> Option<Value> {
                let value: rquickjs::Value = ctx.eval(source).expect("the expression runs");
                JsonArg::from_js(&ctx, value).expect("it converts").0
            };
            assert_eq!(arg("undefined"), None);
            assert_eq!(arg("(() => 1)"), None);
            assert_eq!(
                arg("[1, undefined, NaN, 'a', { b: undefined, c: new Date(0) }]"),
                Some(json!([1, null, null, "a", { "c": "1970-01-01T00:00:00.000Z" }]))
            );
            // What the value's own code throws is the caller's exception, unchanged.
            let throwing: rquickjs::Value = ctx
                .eval("({ toJSON() { throw new RangeError('mine') } })")
                .expect("the expression runs");
            assert!(matches!(
                JsonArg::from_js(&ctx, throwing),
                Err(rquickjs::Error::Exception)
            ));
            let caught = ctx.catch();
            let message: String = caught
                .as_object()
                .and_then(|error| error.get("message").ok())
                .unwrap_or_default();
            assert_eq!(message, "mine");
        });
    }

    #[test]
    fn results_cross_as_json_parse_builds_them() {
        with_js(|ctx| {
            let value = Json(json!({ "__proto__": 1 }))
                .into_js(&ctx)
                .expect("it converts");
            ctx.globals().set("v", value).expect("a global");
            let own: bool = ctx
                .eval("Object.prototype.hasOwnProperty.call(v, '__proto__') && Object.getPrototypeOf(v) === Object.prototype")
                .expect("the expression runs");
            assert!(
                own,
                "a `__proto__` key is an own property, as JSON.parse makes it"
            );
        });
    }

    #[test]
    fn only_host_failures_are_failures() {
        with_js(|ctx| {
            let is_failure =
                Function::new(ctx.clone(), |value: rquickjs::Value<'_>| is_failure(&value))
                    .expect("a function");
            ctx.globals()
                .set("isFailure", is_failure)
                .expect("a global");
            let thrown = throw(&ctx, &HostError::Crashed);
            assert!(matches!(thrown, rquickjs::Error::Exception));
            let failure = ctx.catch();
            ctx.globals().set("failure", failure).expect("a global");
            let seen: Vec<String> = ctx
                .eval("[String(isFailure(failure)), failure.name, failure.message, String(isFailure(new Error('x'))), String(isFailure({ name: 'Error', message: 'x' }))]")
                .expect("the expression runs");
            assert_eq!(
                seen,
                [
                    "true",
                    "InternalError",
                    "the engine crashed",
                    "false",
                    "false"
                ]
            );
        });
    }

    #[test]
    fn quickjs_provides_queue_microtask() {
        // js/web/ has no polyfill for it: the engine's own runs callbacks as microtasks.
        with_js(|ctx| {
            let order: Vec<String> = ctx
                .eval(
                    "const order = []; queueMicrotask(() => order.push('microtask')); order.push('sync'); order",
                )
                .expect("queueMicrotask exists");
            assert_eq!(order, ["sync"]);
            while ctx.execute_pending_job() {}
            let order: Vec<String> = ctx.eval("order").expect("the expression runs");
            assert_eq!(order, ["sync", "microtask"]);
        });
    }
}
