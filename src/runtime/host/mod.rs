//! The host side of `ctx`, `fetch`, timers, `console` and `crypto`: typed functions the JS
//! glue (`js/host.js`) calls, one module per capability. Each call is recorded as a span of
//! the running execution; a failure is thrown to the glue as a [`Failure`], which it rethrows
//! as an `Error` carrying the user's stack and call site.

mod console;
mod crypto;
mod db;
mod email;
mod fetch;
mod queue;
mod timers;

use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use rquickjs::class::Trace;
use rquickjs::{Class, Ctx, FromJs, Function, IntoJs, JsLifetime, Object};
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::recorder::Recorder;
use super::Shared;
use crate::record::{ExecId, Mutation};
use crate::store::sandbox::Stop;
use crate::store::{Session, TxControl};

use db::DbError;
use email::EmailError;
pub use fetch::FetchDone;
use fetch::{FetchError, PendingFetch};
use queue::QueueError;

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

/// A result handed to JS as `JSON.parse` would build it.
pub struct Json(pub Value);

impl<'js> IntoJs<'js> for Json {
    fn into_js(self, ctx: &Ctx<'js>) -> rquickjs::Result<rquickjs::Value<'js>> {
        ctx.json_parse(self.0.to_string())
    }
}

/// The running execution's state.
pub struct ExecState {
    pub id: ExecId,
    /// Distinguishes executions on this engine, so late fetch replies are dropped.
    pub seq: u64,
    pub function: String,
    pub recorder: Recorder,
    pub timers: BTreeMap<u64, Instant>,
    fetches: HashMap<u64, PendingFetch>,
    next_fetch: u64,
    pub env: Map<String, Value>,
    /// It has written through the store thread: its reads go there too, to see its writes.
    pub wrote: bool,
    pub in_transaction: bool,
    /// An atomic job attempt: its writes are in a transaction of their own, committed with
    /// its record if it succeeds and rolled back if it fails.
    pub atomic: bool,
    /// Rows it changed, committed or not.
    pub mutations: Vec<Mutation>,
    /// Rows changed in its open transaction, settled when the transaction ends.
    tx_mutations: Vec<Mutation>,
    /// Clock nanos (`clock::monotonic_ns`) at which its statements are stopped; 0 for none.
    pub deadline_ns: u64,
    /// One of its statements was stopped at the deadline or at shutdown: that ended it.
    pub stopped_sql: Option<Stop>,
}

/// Fetches still running when their execution ends (it returned, failed, timed out or its
/// engine panicked) are cancelled; their spans stay pending in the record.
impl Drop for ExecState {
    fn drop(&mut self) {
        for fetch in self.fetches.values() {
            fetch.abort();
        }
    }
}

impl ExecState {
    pub fn new(id: ExecId, seq: u64, function: String, recorder: Recorder) -> ExecState {
        ExecState {
            id,
            seq,
            function,
            recorder,
            timers: BTreeMap::new(),
            fetches: HashMap::new(),
            next_fetch: 1,
            env: Map::new(),
            wrote: false,
            in_transaction: false,
            atomic: false,
            mutations: Vec::new(),
            tx_mutations: Vec::new(),
            deadline_ns: 0,
            stopped_sql: None,
        }
    }
}

pub struct HostState {
    pub shared: Arc<Shared>,
    /// For reads of executions that have not written; writes go to the store thread.
    pub conn: Connection,
    pub exec: Option<ExecState>,
    pub fetch_done: crossbeam_channel::Sender<FetchDone>,
}

impl HostState {
    pub fn exec(&mut self) -> Option<&mut ExecState> {
        self.exec.as_mut()
    }

    /// The running execution, for the functions of `ctx`, which fail once it has ended.
    fn running(&mut self) -> Result<&mut ExecState, HostError> {
        self.exec.as_mut().ok_or(HostError::Ended)
    }

    /// Runs `work` on the store thread's connection for the running execution.
    fn on_writer<R: Send + 'static>(
        &mut self,
        control: TxControl,
        durable: bool,
        work: impl FnOnce(Session<'_>) -> Result<R, String> + Send + 'static,
    ) -> Result<R, String> {
        let Some(exec) = self.exec.as_mut() else {
            return Err(HostError::Ended.to_string());
        };
        exec.wrote = true;
        let owner = exec.id;
        self.shared.writer.call(owner, control, durable, work)
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
    host.set(
        "isFailure",
        Function::new(ctx.clone(), |value: rquickjs::Value<'js>| {
            value
                .as_object()
                .is_some_and(|object| object.instance_of::<Failure>())
        })?,
    )?;
    Ok(host)
}

/// What every host function shares: the engine's state and where a panic is kept.
#[derive(Clone)]
struct Bridge {
    state: Rc<RefCell<HostState>>,
    crash: Crash,
}

impl Bridge {
    /// Runs one host operation on the engine's state; its error is thrown as a [`Failure`].
    fn run<'js, T>(
        &self,
        ctx: &Ctx<'js>,
        operation: impl FnOnce(&mut HostState) -> Result<T, HostError>,
    ) -> rquickjs::Result<T> {
        let result = contain(&self.crash, || operation(&mut self.state.borrow_mut()))
            .unwrap_or(Err(HostError::Crashed));
        result.map_err(|error| throw(ctx, &error))
    }

    /// Runs an operation that cannot fail (console, timers); a panic is kept all the same.
    fn run_quietly(&self, operation: impl FnOnce(&mut HostState)) {
        contain(&self.crash, || operation(&mut self.state.borrow_mut()));
    }
}

fn throw(ctx: &Ctx<'_>, error: &HostError) -> rquickjs::Error {
    let failure = Failure {
        name: error.js_name().to_string(),
        message: error.to_string(),
    };
    match Class::instance(ctx.clone(), failure) {
        Ok(failure) => ctx.throw(failure.into_value()),
        Err(e) => e,
    }
}

/// The user's call site the glue passes (`file.ts:line`), if it found one.
fn site(at: Option<String>) -> Option<String> {
    at.filter(|at| !at.is_empty())
}

#[cfg(debug_assertions)]
impl HostState {
    /// Tests of panic containment: in debug builds only, `FLUX_TEST_PANIC_ON=<function>`
    /// makes that function's `ctx.db.query` calls panic. Release builds never read it.
    fn panic_if_asked(&self) {
        let function = self.exec.as_ref().map(|exec| exec.function.as_str());
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
            let is_failure = Function::new(ctx.clone(), |value: rquickjs::Value<'_>| {
                value
                    .as_object()
                    .is_some_and(|object| object.instance_of::<Failure>())
            })
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
        // web.js has no polyfill for it: the engine's own runs callbacks as microtasks.
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
