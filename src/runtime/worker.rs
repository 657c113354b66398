//! One engine thread: QuickJS contexts (reused between executions, replaced when code changes
//! or a script was killed), a store connection, and the event loop that interleaves many
//! executions at their awaits. Each execution has a token; every entry into JS is on behalf of
//! one of them, and is followed by a full drain of the microtask queue, so that the next entry
//! starts with nothing of another execution pending. An engine takes a new execution only at
//! the top of its loop, below its cap: an engine stuck in a busy loop takes nothing.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use crossbeam_channel::{Receiver, Select};
use rquickjs::context::EvalOptions;
use rquickjs::{Context, Ctx, Function, Object, Persistent, Runtime};
use serde_json::{json, Map, Value};

use super::host::{self, Crash, Event, ExecState, HostError, HostState, Json, Purpose, Token};
use super::loader::{self, Sources, HOST_SCRIPT};
use super::messages::complete_error;
use super::node;
use super::priority::{Priority, LONG_SLICE};
use super::recorder::Recorder;
use super::stack;
use super::tag::{self, RuntimeTag};
use super::{
    declared_env, now_us, ExecutionOutcome, ExecutionRequest, HttpOutput, Pool, Reply, Shared, Task,
};
use crate::clock::monotonic_ns;
use crate::queue::transition_after;
use crate::record::{
    flux_error, Ending, ErrorInfo, ExecutionRecord, Kind, RecordSummary, SpanStatus, Status,
    WRITES_LOST,
};
use crate::store::StoreWrite;

/// The web globals, a file per standard, in the order they are evaluated: common.js makes the
/// shared `web` object from the natives, each later file adds to it, install.js (last) puts the
/// globals in place and returns the helpers host.js uses.
const WEB_JS: [(&str, &str); 10] = [
    ("flux:web/common.js", include_str!("js/web/common.js")),
    ("flux:web/dom.js", include_str!("js/web/dom.js")),
    ("flux:web/encoding.js", include_str!("js/web/encoding.js")),
    ("flux:web/base64.js", include_str!("js/web/base64.js")),
    ("flux:web/file.js", include_str!("js/web/file.js")),
    (
        "flux:web/structured_clone.js",
        include_str!("js/web/structured_clone.js"),
    ),
    ("flux:web/url.js", include_str!("js/web/url.js")),
    ("flux:web/form_data.js", include_str!("js/web/form_data.js")),
    ("flux:web/fetch.js", include_str!("js/web/fetch.js")),
    ("flux:web/install.js", include_str!("js/web/install.js")),
];
const HOST_JS: &str = include_str!("js/host.js");
const SUBTLE_JS: &str = include_str!("js/subtle.js");
const INTL_JS: &str = include_str!("js/intl.js");

/// What the record keeps of a body, a request's or a response's (of an upload, of its fields'
/// text in all).
pub(crate) const MAX_RECORDED_BODY: usize = 64 * 1024;
/// What the record keeps of the start of a body longer than that.
pub(crate) const RECORDED_HEAD: usize = 1024;
/// Shared by every execution on a context.
const MEMORY_LIMIT: usize = 256 * 1024 * 1024;
/// The longest timeout honoured (a year).
const LONGEST_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// The longest the engine waits before looking at the clock and the stop flag again.
const POLL: Duration = Duration::from_millis(50);
/// A slice of JS this long holds up every execution on its engine: its function is marked
/// CPU-heavy and its later executions run alone on an engine.
const CPU_HEAVY_SLICE: Duration = Duration::from_millis(100);
/// Microtasks an execution's code may run after its result, before its context is given up
/// (a promise chain that never ends would otherwise hold the engine).
const AFTER_RESULT_JOBS: u32 = 10_000;
/// After a script is interrupted, the rest of the microtask queue (other executions'
/// continuations) gets this long before it is interrupted too; so does code of no live
/// execution (left behind by one already recorded) in each entry.
const ORPHAN_BUDGET: Duration = Duration::from_millis(100);
/// Answers handled per turn of an engine's loop, before it looks for new executions again.
const EVENTS_PER_TURN: usize = 8;
/// A context whose globals an execution changed while others ran on it takes new executions
/// for at most this long before it is replaced.
const DIRTY_FOR: Duration = Duration::from_secs(1);

struct Js {
    // Dropped before the context and runtime that own them.
    internals: Persistent<Object<'static>>,
    context: Context,
    _runtime: Runtime,
    generation: u64,
    id: u64,
    /// Its executions not yet recorded.
    live: usize,
    /// No new execution starts on it (its code is stale, a script was killed in it, or its
    /// globals could not be put back); it is dropped when its last execution ends.
    retired: bool,
    /// Since when an execution's changes to `globalThis` wait to be undone.
    dirty_since: Option<Instant>,
    /// The function modules imported in it: the first import evaluates the module, which may
    /// compute for a while once without making its function CPU-heavy.
    loaded: HashSet<String>,
    /// The code of the modules it loaded, as it ran.
    sources: Sources,
}

impl Js {
    /// Calls the glue's `name` (one of the functions host.js returns) outside any execution.
    fn glue<R: for<'js> rquickjs::FromJs<'js>>(
        &self,
        name: &str,
        args: impl for<'js> rquickjs::function::IntoArgs<'js>,
    ) -> rquickjs::Result<R> {
        self.context.with(|ctx| {
            let internals = self.internals.clone().restore(&ctx)?;
            let function: Function = internals.get(name)?;
            function.call(args)
        })
    }
}

/// How an execution's code ended.
enum Driven {
    /// `run` settled: its JSON `{ ok }` or `{ error }`.
    Finished(String),
    Timeout,
    Interrupted,
    /// Someone asked it to stop (a job attempt, `POST /_flux/api/jobs/<id>/cancel`).
    Cancelled,
    Failed(String),
    /// It ran, but its writes were not committed: why.
    NotCommitted(String),
}

impl Driven {
    /// An execution cut off: by flux dev stopping, or else by its deadline.
    fn cut_off(stopping: bool) -> Driven {
        if stopping {
            Driven::Interrupted
        } else {
            Driven::Timeout
        }
    }

    /// An atomic attempt whose own transaction could not begin.
    fn not_begun(error: &HostError) -> Driven {
        Driven::Failed(format!(
            "the attempt's transaction (atomic: true) could not begin: {error}"
        ))
    }

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

/// Where an ending execution is: its transaction rolled back, its writes committed, recorded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    RollBack,
    Commit,
    Record,
}

enum Phase {
    /// An atomic attempt waiting for its transaction to begin.
    Starting,
    Running,
    Ending {
        driven: Driven,
        step: Step,
    },
}

/// An execution on this engine, from its start to its record.
struct Live {
    request: ExecutionRequest,
    reply: Option<Reply>,
    /// The context its code runs in.
    js: u64,
    started_at_us: i64,
    code_version: String,
    deadline: Instant,
    phase: Phase,
    /// Its writes could not be committed: why.
    not_committed: Option<String>,
    /// What else held its engine for long while it waited (for its timeout's message).
    held_by: Option<String>,
    /// It runs alone on this engine (its function is CPU-heavy).
    solo: bool,
    /// A slice of its code held the engine past [`CPU_HEAVY_SLICE`].
    heavy: bool,
    /// Whether `globalThis` had changed when its handler settled (unknown if it did not).
    globals_changed: Option<bool>,
    /// The stack where its code was interrupted (busy at its deadline).
    busy_at: Option<String>,
}

/// What the interrupt handler of every context on this engine reads: each execution's
/// deadline and function by token (the running code's tag says whose it is), when the entry
/// began, and what it interrupted.
#[derive(Default)]
struct EntryLimit {
    /// Clock nanos of the deadline, the function and the id of each live execution.
    executions: RefCell<HashMap<Token, (u64, String, crate::record::ExecId)>>,
    /// Clock nanos when the engine entered JS (0: it is not in JS).
    started: Cell<u64>,
    /// After an interrupt, the rest of the queued jobs must be done by then (0: no limit).
    cutoff: Cell<u64>,
    /// Executions whose code was interrupted in this entry.
    fired: RefCell<Vec<Token>>,
    /// Whether the entry evaluates a function's module for the first time, which may compute
    /// for a while once without making its function CPU-heavy: [`NOT_LOADING`], [`LOADING`],
    /// or the clock nanos when the module finished loading (the glue's `host.imported`), from
    /// which its handler's slice counts. Shared with the host state.
    loading: Rc<Cell<u64>>,
    /// The execution whose code ran past [`CPU_HEAVY_SLICE`] in this entry (0: none): its
    /// function is marked CPU-heavy while it still runs, so that what arrives meanwhile is
    /// not given to a busy engine's neighbours either.
    heavy: Cell<Token>,
    /// This engine thread's priority, lowered while an entry runs long.
    priority: Priority,
}

const NOT_LOADING: u64 = 0;
const LOADING: u64 = u64::MAX;

impl EntryLimit {
    /// How long the code of this entry has run, module evaluation left out (`None` while the
    /// module loads).
    fn slice(&self, now: u64) -> Option<u64> {
        let from = match self.loading.get() {
            NOT_LOADING => self.started.get(),
            LOADING => return None,
            loaded => loaded,
        };
        Some(now.saturating_sub(from))
    }

    /// Whether the code running now, of execution `tag`, is to be interrupted.
    fn interrupts(&self, tag: Token, now: u64, stopping: bool, shared: &Shared) -> bool {
        let executions = self.executions.borrow();
        let known = executions.get(&tag);
        // Code of no live execution (left behind by one already recorded) gets a short slice.
        let orphan = self.started.get() + ORPHAN_BUDGET.as_nanos() as u64;
        let deadline = known.map_or(orphan, |(deadline, _, _)| *deadline);
        let cutoff = self.cutoff.get();
        let cancelled = known.is_some_and(|(_, _, id)| shared.cancels.asked(id));
        if stopping || now > deadline || (cutoff != 0 && now > cutoff) || cancelled {
            self.fired.borrow_mut().push(tag);
            return true;
        }
        let slice = self.slice(now);
        if slice.is_some_and(|slice| slice > LONG_SLICE.as_nanos() as u64) {
            self.priority.slice_ran_long();
        }
        let heavy = CPU_HEAVY_SLICE.as_nanos() as u64;
        let long = slice.is_some_and(|slice| slice > heavy);
        if long && self.heavy.get() == 0 {
            if let Some((_, function, _)) = known {
                self.heavy.set(tag);
                shared.mark_cpu_heavy(function);
            }
        }
        false
    }
}

struct Worker {
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    state: Rc<RefCell<HostState>>,
    inbox: Receiver<Event>,
    /// The context new executions start on is the last one that is not retired.
    contexts: Vec<Js>,
    next_context: u64,
    /// Boxed: a request is large, and the map moves its values as it grows.
    live: BTreeMap<Token, Box<Live>>,
    entry: Rc<EntryLimit>,
    crash: Crash,
    /// Its place in the pool.
    id: usize,
    /// The most executions at once on this engine.
    cap: usize,
    next_token: Token,
}

/// What the engine waits for at the top of its loop.
enum Woken {
    Event(Event),
    Task(Box<Task>, bool),
    Nothing,
    /// No more tasks will come.
    Closed,
}

pub(super) fn run(shared: Arc<Shared>, pool: Arc<Pool>, id: usize, cap: usize, priority: Priority) {
    let mut worker = match Worker::new(Arc::clone(&shared), pool, id, cap, priority) {
        Ok(worker) => worker,
        Err(message) => {
            eprintln!("error: a JS engine could not start: {message}");
            return;
        }
    };
    let mut open = true;
    loop {
        // A panic ends the executions it hit, not the engine's thread.
        let turned = std::panic::catch_unwind(AssertUnwindSafe(|| worker.turn()));
        if let Err(panic) = turned {
            worker.contain(&panic_message(&*panic));
        }
        if !open && worker.live.is_empty() && worker.pool.solo.is_empty() {
            break;
        }
        let woken = worker.wait(open);
        let handled = std::panic::catch_unwind(AssertUnwindSafe(|| match woken {
            Woken::Event(event) => worker.handle(event),
            Woken::Task(task, solo) => worker.start(*task, solo),
            Woken::Nothing => {}
            Woken::Closed => open = false,
        }));
        if let Err(panic) = handled {
            worker.contain(&panic_message(&*panic));
        }
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
    js_error_noting(ctx, error, &mut Vec::new())
}

/// [`js_error`], keeping the stack of an interrupt (where busy code was stopped) in
/// `interrupts`.
fn js_error_noting(ctx: &Ctx<'_>, error: rquickjs::Error, interrupts: &mut Vec<String>) -> String {
    if matches!(error, rquickjs::Error::Exception) {
        let caught = ctx.catch();
        note_interrupt(&caught, interrupts);
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

/// Keeps the stack of `caught` when it is the error QuickJS raises at an interrupt.
fn note_interrupt(caught: &rquickjs::Value<'_>, interrupts: &mut Vec<String>) {
    // SAFETY: `caught` is a live value; the call only reads its class and a flag.
    if !unsafe { rquickjs::qjs::JS_IsUncatchableError(caught.as_raw()) } {
        return;
    }
    if let Some(stack) = caught.as_exception().and_then(|e| e.stack()) {
        interrupts.push(stack);
    }
}

/// Runs one queued job; false when there was none. rquickjs's `execute_pending_job` drops
/// what a job threw, and an interrupt's stack says where busy code was: it goes to
/// `interrupts`.
fn run_pending_job(ctx: &Ctx<'_>, interrupts: &mut Vec<String>) -> bool {
    let mut job_ctx = std::mem::MaybeUninit::<*mut rquickjs::qjs::JSContext>::uninit();
    // SAFETY: the runtime of a live context; QuickJS writes the job's context on failure.
    let ran = unsafe {
        let runtime = rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
        rquickjs::qjs::JS_ExecutePendingJob(runtime, job_ctx.as_mut_ptr())
    };
    if ran < 0 {
        // Each runtime here has one context: the job's exception is pending on `ctx`.
        let caught = ctx.catch();
        note_interrupt(&caught, interrupts);
    }
    ran != 0
}

fn crashed(panic: &str) -> String {
    format!("the engine crashed ({panic}); flux replaced it")
}

impl Worker {
    fn new(
        shared: Arc<Shared>,
        pool: Arc<Pool>,
        id: usize,
        cap: usize,
        priority: Priority,
    ) -> Result<Worker, String> {
        let conn = match shared.backend.sqlite() {
            Some(store) => Some(store.connect().map_err(|e| e.to_string())?),
            None => None,
        };
        let (events, inbox) = crossbeam_channel::unbounded();
        let entry = EntryLimit {
            priority,
            ..EntryLimit::default()
        };
        let state = HostState::new(Arc::clone(&shared), conn, events, Rc::clone(&entry.loading));
        Ok(Worker {
            shared,
            pool,
            state: Rc::new(RefCell::new(state)),
            inbox,
            contexts: Vec::new(),
            next_context: 1,
            live: BTreeMap::new(),
            entry: Rc::new(entry),
            crash: Rc::new(RefCell::new(None)),
            id,
            cap: cap.max(1),
            next_token: 0,
        })
    }

    fn close(self) {
        // The JS contexts hold references to the host state: drop them first.
        let Worker {
            state, contexts, ..
        } = self;
        drop(contexts);
        drop(state);
    }

    /// Whether this engine takes another execution now: below its cap, and none running
    /// alone. While a CPU-heavy execution waits for an engine to empty, one engine (the first
    /// to see it) takes nothing new, so that it empties; the others go on.
    fn has_room(&self) -> bool {
        if self.live.len() >= self.cap || self.live.values().any(|live| live.solo) {
            return false;
        }
        let solo_waiting = self.pool.solo_has_room() && !self.pool.solo.is_empty();
        !(solo_waiting && self.pool.drain_for_solo(self.id))
    }

    /// Waits for an event, a task it has room for, or the next due time.
    fn wait(&mut self, open: bool) -> Woken {
        // What is ready already is taken without registering with every channel.
        if let Ok(event) = self.inbox.try_recv() {
            return Woken::Event(event);
        }
        let take = open && self.has_room();
        if take {
            if let Ok(task) = self.pool.tasks.try_recv() {
                return Woken::Task(Box::new(task), false);
            }
        }
        // Idle, with nothing running alone to wait for: only a new execution can come (an
        // answer to an ended one is looked at on the next turn). One channel is the cheapest
        // wait.
        if take && self.live.is_empty() && self.pool.solo.is_empty() {
            return match self.pool.tasks.recv_timeout(POLL) {
                Ok(task) => Woken::Task(Box::new(task), false),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => Woken::Nothing,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Woken::Closed,
            };
        }
        // CPU-heavy executions still queued run even after the pool is closed.
        let take_solo = self.live.is_empty() && self.pool.solo_has_room();
        let mut select = Select::new();
        let inbox = select.recv(&self.inbox);
        let tasks = take.then(|| select.recv(&self.pool.tasks));
        let solo = take_solo.then(|| select.recv(&self.pool.solo));
        let timeout = self.next_due().saturating_duration_since(Instant::now());
        let Ok(operation) = select.select_timeout(timeout) else {
            return Woken::Nothing;
        };
        let index = operation.index();
        if index == inbox {
            match operation.recv(&self.inbox) {
                Ok(event) => Woken::Event(event),
                Err(_) => Woken::Nothing,
            }
        } else if Some(index) == tasks {
            match operation.recv(&self.pool.tasks) {
                Ok(task) => Woken::Task(Box::new(task), false),
                Err(_) => Woken::Closed,
            }
        } else if Some(index) == solo {
            match operation.recv(&self.pool.solo) {
                // Another engine may have taken the last place for one meanwhile.
                Ok(task) if self.pool.reserve_solo() => Woken::Task(Box::new(task), true),
                Ok(task) => {
                    let _ = self.pool.requeue.send(task);
                    Woken::Nothing
                }
                Err(_) => Woken::Closed,
            }
        } else {
            Woken::Nothing
        }
    }

    /// When the loop must look again: the next timer or deadline, or a poll of the stop flag.
    fn next_due(&self) -> Instant {
        let mut due = Instant::now() + POLL;
        let state = self.state.borrow();
        for (token, live) in &self.live {
            if let Phase::Running | Phase::Starting = live.phase {
                due = due.min(live.deadline);
                if let Some((_, at)) = state.execs.get(token).and_then(ExecState::next_timer_due) {
                    due = due.min(at);
                }
            }
        }
        due
    }

    /// One turn: the events that arrived, due timers, deadlines and shutdown, and the
    /// executions that can end now.
    fn turn(&mut self) {
        // A new execution first (it only runs to its first await), then a few answers at a
        // time: a burst of answers to the ones it runs does not hold a new request back.
        if self.has_room() {
            if let Ok(task) = self.pool.tasks.try_recv() {
                self.start(task, false);
            }
        }
        for event in self
            .inbox
            .try_iter()
            .take(EVENTS_PER_TURN)
            .collect::<Vec<_>>()
        {
            self.handle(event);
        }
        self.fire_timers();
        let now = Instant::now();
        let stopping = self.shared.stopping();
        let cancels = &self.shared.cancels;
        let overdue: Vec<Token> = self
            .live
            .iter()
            .filter(|(_, live)| matches!(live.phase, Phase::Running | Phase::Starting))
            .filter(|(_, live)| stopping || live.deadline <= now || cancels.asked(&live.request.id))
            .map(|(token, _)| *token)
            .collect();
        for token in overdue {
            let driven = self.stopped(token, stopping);
            self.end(token, driven);
        }
        self.replace_dirty_context();
    }

    /// Why an execution stopped from outside its code is ending: it was cancelled, flux dev
    /// is stopping, or else its deadline passed.
    fn stopped(&self, token: Token, stopping: bool) -> Driven {
        let cancelled = self
            .live
            .get(&token)
            .is_some_and(|live| self.shared.cancels.asked(&live.request.id));
        if cancelled {
            Driven::Cancelled
        } else {
            Driven::cut_off(stopping)
        }
    }

    /// The contexts with a dirty `globalThis` for too long stop taking executions.
    fn replace_dirty_context(&mut self) {
        for js in &mut self.contexts {
            if js
                .dirty_since
                .is_some_and(|since| since.elapsed() > DIRTY_FOR)
            {
                js.retired = true;
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Fetch(done) => {
                let token = done.token;
                if !self.is_running(token) || !self.state.borrow_mut().finish_fetch(&done) {
                    return;
                }
                let (response, error) = match done.outcome {
                    Ok(response) => (Some(response), None),
                    Err(error) => (None, Some(error)),
                };
                let id = done.id as f64;
                self.enter(token, move |_, internals| {
                    let settle: Function = internals.get("settleFetch")?;
                    settle.call::<_, ()>((id, response, error))
                });
            }
            Event::Writer {
                token,
                purpose,
                finish,
            } => {
                let result = {
                    let mut state = self.state.borrow_mut();
                    if let Some(exec) = state.execs.get_mut(&token) {
                        exec.outstanding = exec.outstanding.saturating_sub(1);
                    }
                    finish(&mut state, token)
                };
                match purpose {
                    Purpose::Js(op) => {
                        // An ended execution's call is still answered: another may await it.
                        if matches!(
                            self.phase(token),
                            Some(Phase::Running | Phase::Ending { .. })
                        ) {
                            let op = op as f64;
                            self.enter(token, move |ctx, internals| {
                                let settle: Function = internals.get("settle")?;
                                match result {
                                    Ok(value) => settle.call::<_, ()>((op, Json(value))),
                                    Err(error) => {
                                        let failure = host::failure(ctx, &error)?;
                                        settle.call::<_, ()>((op, rquickjs::Undefined, failure))
                                    }
                                }
                            });
                        }
                    }
                    Purpose::Begun => {
                        if matches!(self.phase(token), Some(Phase::Starting)) {
                            match result {
                                Ok(_) => self.run_js(token),
                                Err(error) => self.end(token, Driven::not_begun(&error)),
                            }
                        }
                    }
                    Purpose::Ending => {
                        if let (Err(error), Some(live)) = (result, self.live.get_mut(&token)) {
                            live.not_committed = Some(error.to_string());
                        }
                    }
                }
                self.advance(token);
            }
        }
    }

    fn phase(&self, token: Token) -> Option<&Phase> {
        self.live.get(&token).map(|live| &live.phase)
    }

    fn is_running(&self, token: Token) -> bool {
        matches!(self.phase(token), Some(Phase::Running))
    }

    /// Fires the timers that are due, each in its execution's name.
    fn fire_timers(&mut self) {
        let now = Instant::now();
        let due: Vec<(Token, u64)> = {
            let mut state = self.state.borrow_mut();
            let mut due = Vec::new();
            for (token, live) in &self.live {
                if !matches!(live.phase, Phase::Running) {
                    continue;
                }
                let Some(exec) = state.execs.get_mut(token) else {
                    continue;
                };
                let ids: Vec<u64> = exec
                    .timers
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    exec.timers.remove(&id);
                    exec.timer_sites.remove(&id);
                    due.push((*token, id));
                }
            }
            due
        };
        for (token, id) in due {
            // An earlier timer may have ended it.
            if self.is_running(token) {
                let id = id as f64;
                self.enter(token, move |_, internals| {
                    let fire: Function = internals.get("fireTimer")?;
                    fire.call::<_, ()>((id,))
                });
            }
        }
    }

    /// The context a new execution starts on: the current one, or a new one when it is
    /// retired or its code is stale.
    fn context_for_new(&mut self) -> Result<u64, String> {
        let generation = self.shared.generation();
        for js in &mut self.contexts {
            if js.generation != generation {
                js.retired = true;
            }
        }
        self.drop_finished_contexts();
        if let Some(js) = self.contexts.iter().rev().find(|js| !js.retired) {
            return Ok(js.id);
        }
        let js = self.build_js()?;
        let id = js.id;
        self.contexts.push(js);
        Ok(id)
    }

    fn context(&self, id: u64) -> Option<&Js> {
        self.contexts.iter().find(|js| js.id == id)
    }

    fn context_mut(&mut self, id: u64) -> Option<&mut Js> {
        self.contexts.iter_mut().find(|js| js.id == id)
    }

    fn drop_finished_contexts(&mut self) {
        self.contexts.retain(|js| !(js.retired && js.live == 0));
    }

    fn build_js(&mut self) -> Result<Js, String> {
        let generation = self.shared.generation();
        let runtime = Runtime::new().map_err(|e| e.to_string())?;
        runtime.set_memory_limit(MEMORY_LIMIT);
        runtime.set_max_stack_size(4 * 1024 * 1024);
        let root = self.shared.layout.root.clone();
        let sources = Sources::default();
        let folders = self.shared.package_folders.clone();
        let (resolver, loader) = loader::new(root, sources.clone(), folders);
        runtime.set_loader(resolver, loader);
        let context = Context::full(&runtime).map_err(|e| e.to_string())?;
        let entry = Rc::clone(&self.entry);
        let shared = Arc::clone(&self.shared);
        let crash = Rc::clone(&self.crash);
        let running = RuntimeTag::of(&context);
        runtime.set_host_promise_rejection_tracker(Some(host::rejection_tracker(Rc::clone(
            &self.state,
        ))));
        runtime.set_interrupt_handler(Some(Box::new(move || {
            if entry.started.get() == 0 {
                return false;
            }
            if crash.borrow().is_some() {
                return true;
            }
            entry.interrupts(
                running.current(),
                monotonic_ns(),
                shared.stopping(),
                &shared,
            )
        })));
        let state = &self.state;
        let crash = &self.crash;
        // node:process's `env`, as ctx.env has it (read at each use: the config may change).
        let config = Arc::clone(&self.shared);
        let env = node::Env::new(move || config.config());
        let internals = context.with(|ctx| -> Result<Persistent<Object<'static>>, String> {
            let setup = || -> rquickjs::Result<Persistent<Object<'static>>> {
                let mut web: rquickjs::Value = host::web_natives(&ctx)?.into_value();
                for (filename, source) in WEB_JS {
                    let mut options = EvalOptions::default();
                    options.filename = Some(filename.into());
                    let file: Function = ctx.eval_with_options(source, options)?;
                    let made: rquickjs::Value = file.call((web.clone(),))?;
                    // common.js makes `web`; the others add to it and return nothing, but
                    // install.js, which returns host.js's helpers.
                    if !made.is_undefined() {
                        web = made;
                    }
                }
                let web: Object = web.into_object().ok_or_else(|| {
                    rquickjs::Exception::throw_type(&ctx, "web/install.js returned no object")
                })?;
                let mut options = EvalOptions::default();
                options.filename = Some("flux:intl.js".into());
                let intl: Function = ctx.eval_with_options(INTL_JS, options)?;
                intl.call::<_, ()>((host::intl::natives(&ctx)?,))?;
                let host = host::install(&ctx, state, crash)?;
                node::install(&ctx, env)?;
                // `crypto.subtle`, on the host's natives; host.js puts it on `crypto`.
                let mut options = EvalOptions::default();
                options.filename = Some("flux:subtle.js".into());
                let subtle: Function = ctx.eval_with_options(SUBTLE_JS, options)?;
                let subtle: Object = subtle.call((host.get::<_, Object>("subtle")?,))?;
                host.get::<_, Object>("crypto")?.set("subtle", subtle)?;
                let mut options = EvalOptions::default();
                options.filename = Some(HOST_SCRIPT.into());
                let factory: Function = ctx.eval_with_options(HOST_JS, options)?;
                let internals: Object = factory.call((host, web))?;
                Ok(Persistent::save(&ctx, internals))
            };
            setup().map_err(|e| js_error(&ctx, e))
        })?;
        let id = self.next_context;
        self.next_context += 1;
        Ok(Js {
            internals,
            context,
            _runtime: runtime,
            generation,
            id,
            live: 0,
            retired: false,
            dirty_since: None,
            loaded: HashSet::new(),
            sources,
        })
    }

    /// Starts an execution: its state, its context, then its code (an atomic attempt's once
    /// its transaction has begun).
    fn start(&mut self, task: Task, solo: bool) {
        // Marked CPU-heavy after it was queued: it waits to run alone like the others.
        if !solo && self.shared.is_cpu_heavy(&task.request.function.name) {
            // The pool is still open while an engine runs: the channel takes it back.
            let _ = self.pool.requeue.send(task);
            return;
        }
        let Task { request, reply } = task;
        // The record covers the time the execution was on the engine, building its context
        // included (freezing the built-ins makes that take a few milliseconds).
        let started = Instant::now();
        let started_at_us = now_us();
        self.next_token += 1;
        let token = self.next_token;
        let code_version = self.shared.functions().code_version.clone();
        // A longer timeout is as good as none, and would overflow the clock arithmetic.
        let timeout = request.timeout.min(LONGEST_TIMEOUT);
        let deadline = started + timeout;
        let deadline_ns = monotonic_ns() + timeout.as_nanos() as u64;
        let mut recorder = Recorder::new(
            &request.function.name,
            Some(request.function.module.clone()),
        );
        recorder.started = started;
        let mut exec = ExecState::new(
            request.id,
            request.function.name.clone(),
            recorder,
            deadline,
        );
        exec.env = declared_env(&self.shared.config().env)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        // Its statements stop at the deadline too, and so does its code.
        exec.deadline_ns = deadline_ns;
        exec.job_attempt = request.job.is_some();
        let function = request.function.name.clone();
        self.entry
            .executions
            .borrow_mut()
            .insert(token, (deadline_ns, function, request.id));
        self.state.borrow_mut().execs.insert(token, exec);
        let atomic = request.job.as_ref().is_some_and(|job| job.atomic);
        let context = self.context_for_new();
        let js = *context.as_ref().unwrap_or(&0);
        if let Some(js) = self.context_mut(js) {
            js.live += 1;
        }
        if solo {
            // Its place among those running alone was reserved when it was taken.
            self.pool.drained_for_solo(self.id);
        }
        self.live.insert(
            token,
            Box::new(Live {
                request,
                reply: Some(reply),
                js,
                started_at_us,
                code_version,
                deadline,
                phase: Phase::Starting,
                not_committed: None,
                held_by: None,
                solo,
                heavy: false,
                globals_changed: None,
                busy_at: None,
            }),
        );
        if let Err(message) = context {
            let driven = Driven::Failed(format!("the JS engine could not start: {message}"));
            return self.end(token, driven);
        }
        if atomic {
            let begun = self.state.borrow_mut().begin_atomic(token);
            if let Err(error) = begun {
                self.end(token, Driven::not_begun(&error));
            }
            return;
        }
        self.run_js(token);
    }

    /// Enters the execution's code: the glue's `run`.
    fn run_js(&mut self, token: Token) {
        let Some(live) = self.live.get_mut(&token) else {
            return;
        };
        live.phase = Phase::Running;
        let request = &live.request;
        let env = self
            .state
            .borrow()
            .execs
            .get(&token)
            .map(|exec| Value::Object(exec.env.clone()))
            .unwrap_or(Value::Null);
        let meta =
            json!({ "id": request.id.to_string(), "kind": request.kind.as_str(), "env": env })
                .to_string();
        let input = request.input.to_string();
        let module = request.function.module.clone();
        let js_id = live.js;
        let first = self
            .context_mut(js_id)
            .is_some_and(|js| js.loaded.insert(module.clone()));
        if first {
            self.entry.loading.set(LOADING);
        }
        self.enter(token, move |ctx, internals| {
            let run: Function = internals.get("run")?;
            let input = ctx.json_parse(input)?;
            let meta = ctx.json_parse(meta)?;
            run.call::<_, ()>((token as f64, module, input, meta))
        });
    }

    /// Runs `call` in the context of execution `token`, then every microtask it queued, with
    /// the interrupt armed at its deadline. What happens in there is attributed to `token`:
    /// a host panic or an interrupt ends it, and a thrown error fails it.
    fn enter(
        &mut self,
        token: Token,
        call: impl for<'js> FnOnce(&Ctx<'js>, &Object<'js>) -> rquickjs::Result<()>,
    ) {
        // Set by `run_js` for this entry only.
        let loading = self.entry.loading.replace(NOT_LOADING);
        let Some(live) = self.live.get(&token) else {
            return;
        };
        let running = matches!(live.phase, Phase::Running);
        // What it waited for came too late (the engine was busy, or the store answered at
        // the deadline): it timed out, whatever the answer.
        if running && live.deadline <= Instant::now() {
            return self.end(token, Driven::Timeout);
        }
        // An answer to an ended execution runs as nobody: what it resumes runs as whoever
        // awaited it.
        let as_tag = if running { token } else { 0 };
        let js_id = live.js;
        let Some(js) = self.context(js_id) else {
            return;
        };
        let entry = &self.entry;
        let state = &self.state;
        state.borrow_mut().entering = token;
        entry.cutoff.set(0);
        entry.heavy.set(0);
        entry.loading.set(loading);
        entry.started.set(monotonic_ns());
        entry.priority.slice_began();
        let mut gave_up = false;
        // The stacks of the interrupts in this entry, in order (one per fired execution).
        let mut interrupts = Vec::new();
        let result = js.context.with(|ctx| {
            tag::set(&ctx, as_tag);
            let enter = || -> rquickjs::Result<()> {
                let internals = js.internals.clone().restore(&ctx)?;
                call(&ctx, &internals)
            };
            let result = enter().map_err(|e| js_error_noting(&ctx, e, &mut interrupts));
            let mut after_result = 0u32;
            while run_pending_job(&ctx, &mut interrupts) {
                if entry.cutoff.get() == 0 && !entry.fired.borrow().is_empty() {
                    // What is left belongs to the others: it gets a budget of its own.
                    let budget = ORPHAN_BUDGET.as_nanos() as u64;
                    entry.cutoff.set(monotonic_ns() + budget);
                }
                if after_result > 0 || !state.borrow().finished.is_empty() {
                    after_result += 1;
                    if after_result > AFTER_RESULT_JOBS {
                        gave_up = true;
                        break;
                    }
                }
            }
            tag::set(&ctx, 0);
            result
        });
        let slice = entry
            .slice(monotonic_ns())
            .map_or(Duration::ZERO, Duration::from_nanos);
        entry.started.set(0);
        entry.loading.set(NOT_LOADING);
        entry.priority.slice_ended();
        let fired = std::mem::take(&mut *entry.fired.borrow_mut());
        let heavy = entry.heavy.replace(0);
        if slice > CPU_HEAVY_SLICE {
            self.held_up_by(if heavy == 0 { token } else { heavy }, slice);
        }
        // Rejections still unhandled now are recorded before anything ends (and is recorded).
        self.state.borrow_mut().settle_unhandled();
        let finished = std::mem::take(&mut self.state.borrow_mut().finished);
        for done in finished {
            if let Some(live) = self.live.get_mut(&done.token) {
                live.globals_changed = Some(done.globals_changed);
            }
            self.end(done.token, Driven::Finished(done.json));
        }
        // A killed script may leave modules half-evaluated: its context takes no new work.
        if let Some(panic) = self.crash.take() {
            self.retire(js_id);
            // The execution whose host call panicked.
            let culprit = std::mem::take(&mut self.state.borrow_mut().current);
            let culprit = if self.live.contains_key(&culprit) {
                culprit
            } else {
                token
            };
            self.end(culprit, Driven::Failed(crashed(&panic_message(&*panic))));
        } else if !fired.is_empty() {
            self.retire(js_id);
            let stopping = self.shared.stopping();
            // Where each one's code was when it was stopped.
            for (interrupted, stack) in fired.iter().zip(interrupts) {
                if let Some(live) = self.live.get_mut(interrupted) {
                    live.busy_at.get_or_insert(stack);
                }
            }
            // Code left behind by an execution already recorded costs nobody else (`end`
            // ignores a token no longer live).
            for interrupted in fired {
                let driven = self.stopped(interrupted, stopping);
                self.end(interrupted, driven);
            }
        } else if let Err(message) = result {
            self.end(token, Driven::Failed(message));
        }
        if gave_up {
            self.retire(js_id);
        }
    }

    /// A slice of `token`'s code held the engine for `slice`: its function is marked
    /// CPU-heavy, and the others on the engine learn what held them.
    fn held_up_by(&mut self, token: Token, slice: Duration) {
        let Some(live) = self.live.get_mut(&token) else {
            return;
        };
        live.heavy = true;
        let function = live.request.function.name.clone();
        let note = format!(
            "its engine was busy running {} ({function}) for {}",
            live.request.id.short(),
            humantime::format_duration(Duration::from_millis(slice.as_millis() as u64))
        );
        self.shared.mark_cpu_heavy(&function);
        for (other, live) in &mut self.live {
            if *other != token {
                live.held_by = Some(note.clone());
            }
        }
    }

    fn retire(&mut self, js_id: u64) {
        if let Some(js) = self.context_mut(js_id) {
            js.retired = true;
        }
    }

    /// The execution's code is done: nothing more is delivered to it, and its ending begins.
    fn end(&mut self, token: Token, driven: Driven) {
        let Some(live) = self.live.get_mut(&token) else {
            return;
        };
        if let Phase::Ending { .. } = live.phase {
            return;
        }
        let js_id = live.js;
        // A statement stopped at the deadline or at shutdown ended the execution, whatever its
        // code did with the error afterwards.
        let mut left_behind = true;
        let driven = {
            let mut state = self.state.borrow_mut();
            let exec = state.execs.get_mut(&token);
            let stopped = exec.as_ref().and_then(|exec| exec.stopped_sql);
            if let Some(exec) = exec {
                exec.ended = true;
                left_behind = !exec.timers.is_empty() || exec.has_fetches();
                exec.forget_pending();
            }
            match (driven, stopped) {
                (
                    Driven::Finished(_) | Driven::Failed(_),
                    Some(crate::store::sandbox::Stop::Deadline),
                ) => Driven::Timeout,
                (
                    Driven::Finished(_) | Driven::Failed(_),
                    Some(crate::store::sandbox::Stop::Shutdown),
                ) => Driven::Interrupted,
                (driven, _) => driven,
            }
        };
        let finished = matches!(driven, Driven::Finished(_));
        live.phase = Phase::Ending {
            driven,
            step: Step::RollBack,
        };
        // Its timers and fetches are forgotten by the glue too. An execution that returned
        // with none left (the common case) has nothing there to forget: its module loaded.
        // Its fetches reject there: a rejection nobody handles is its own, after its end.
        self.state.borrow_mut().entering = token;
        let loading = (left_behind || !finished)
            && self
                .context(js_id)
                .is_some_and(|js| js.glue("end", (token as f64,)).unwrap_or(false));
        self.state.borrow_mut().settle_unhandled();
        // Its module may never finish loading there (see the glue's `end`).
        if loading {
            self.retire(js_id);
        }
        self.advance(token);
    }

    /// Moves an ending execution on, once the store has answered all its calls: roll back
    /// its open transaction, commit its writes (an atomic attempt's, or a request's before
    /// its response), then record it.
    fn advance(&mut self, token: Token) {
        loop {
            let Some(live) = self.live.get_mut(&token) else {
                return;
            };
            let Phase::Ending { driven, step } = &mut live.phase else {
                return;
            };
            let waiting = self
                .state
                .borrow()
                .execs
                .get(&token)
                .is_some_and(|exec| exec.outstanding > 0);
            if waiting {
                return;
            }
            match *step {
                Step::RollBack => {
                    *step = Step::Commit;
                    let reason = match driven {
                        Driven::Timeout => "the execution timed out",
                        Driven::Interrupted => "flux dev stopped",
                        Driven::Cancelled => "the job was cancelled",
                        Driven::Failed(message) if message.starts_with("the engine crashed") => {
                            "the engine crashed"
                        }
                        _ => "the execution ended with its transaction still open",
                    };
                    if self.state.borrow_mut().abandon_transaction(token, reason) {
                        return;
                    }
                }
                Step::Commit => {
                    *step = Step::Record;
                    let succeeded = driven.succeeded();
                    // A timed-out or stopped request answers at once: its writes commit with
                    // its record, and waiting could hold its 504 behind another's transaction.
                    let is_request = live.request.job.is_none()
                        && !matches!(driven, Driven::Timeout | Driven::Interrupted);
                    let mut state = self.state.borrow_mut();
                    // An atomic attempt's writes commit with its record, other attempts' no
                    // later than it; a request's before its response, or it fails.
                    let waits =
                        state.end_atomic(token, succeeded) || (is_request && state.sync(token));
                    if waits {
                        return;
                    }
                }
                Step::Record => return self.record(token),
            }
        }
    }

    /// Builds the execution's record, sends it to the store and its outcome to its caller.
    fn record(&mut self, token: Token) {
        let Some(mut live) = self.live.remove(&token) else {
            return;
        };
        self.entry.executions.borrow_mut().remove(&token);
        // Asked or not, a cancellation of an ended execution has nothing left to stop.
        self.shared.cancels.forget(&live.request.id);
        let exec = self.state.borrow_mut().execs.remove(&token);
        let Phase::Ending { driven, .. } = std::mem::replace(&mut live.phase, Phase::Running)
        else {
            return;
        };
        if live.solo {
            self.pool.solo_running.fetch_sub(1, Ordering::SeqCst);
            // It ran alone and never held the engine long (a one-time slow start): the mark
            // goes, and its function interleaves again.
            if !live.heavy {
                self.shared.clear_cpu_heavy(&live.request.function.name);
            }
        }
        let request = &live.request;
        let mut exec = exec.unwrap_or_else(|| {
            let recorder = Recorder::new(&request.function.name, None);
            ExecState::new(
                request.id,
                request.function.name.clone(),
                recorder,
                live.deadline,
            )
        });
        let driven = match live.not_committed.take() {
            Some(message) => {
                for change in &mut exec.mutations {
                    change.committed = false;
                }
                Driven::NotCommitted(message)
            }
            None => driven,
        };
        let sources = self.context(live.js).map(|js| js.sources.clone());
        let (record, http) = build_record(
            request,
            live.started_at_us,
            exec,
            driven,
            live.code_version.clone(),
            Stopped {
                held_by: live.held_by.as_deref(),
                busy_at: live.busy_at.as_deref(),
            },
            sources.unwrap_or_default(),
        );
        let summary = RecordSummary::from(&record);
        let job = request.job.as_ref().map(|attempt| {
            let transition = transition_after(&record, attempt, now_us());
            (attempt.job_id.clone(), transition)
        });
        // The writer is gone only when the server is going down; the reply still goes out.
        let _ = self.shared.records.send(StoreWrite { record, job });
        if let Some(reply) = live.reply.take() {
            reply(ExecutionOutcome { summary, http });
        }
        self.release_context(live.js, live.globals_changed);
    }

    /// One execution fewer on context `js_id`: the last one out undoes what executions did
    /// to `globalThis`, or the context is dropped when it cannot (or is retired).
    fn release_context(&mut self, js_id: u64, globals_changed: Option<bool>) {
        let others_live = self.live.values().any(|live| live.js == js_id);
        let Some(js) = self.context_mut(js_id) else {
            return;
        };
        js.live = js.live.saturating_sub(1);
        if js.retired {
            self.drop_finished_contexts();
            return;
        }
        // Its handler said when it settled; a look otherwise (it threw, timed out, or others
        // left the context dirty).
        let changed = match globals_changed {
            Some(false) if js.dirty_since.is_none() => false,
            Some(true) => true,
            _ => js.glue("globalsChanged", ()).unwrap_or(true),
        };
        if !changed {
            return;
        }
        if others_live {
            js.dirty_since.get_or_insert_with(Instant::now);
            return;
        }
        let restored = js.glue::<()>("restoreGlobals", ()).is_ok();
        js.dirty_since = None;
        if !restored {
            js.retired = true;
            self.drop_finished_contexts();
        }
    }

    /// After a panic outside any one execution's code: every execution on the engine ends
    /// as crashed (their transactions rolled back) and every context is replaced.
    fn contain(&mut self, panic: &str) {
        self.crash.take();
        self.entry.started.set(0);
        self.entry.priority.slice_ended();
        for js in &mut self.contexts {
            js.retired = true;
        }
        let tokens: Vec<Token> = self.live.keys().copied().collect();
        for token in tokens {
            let ended = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.end(token, Driven::Failed(crashed(panic)));
            }));
            if ended.is_err() {
                // Its ending panicked too: it is recorded without waiting for the store.
                if let Some(live) = self.live.get_mut(&token) {
                    live.phase = Phase::Ending {
                        driven: Driven::Failed(crashed(panic)),
                        step: Step::Record,
                    };
                }
                self.state.borrow_mut().execs.remove(&token);
                self.record(token);
            }
        }
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

/// A body (or an upload's field) longer than the record keeps, as it keeps it: its size and its
/// first `head` bytes.
pub(crate) fn truncated_body(bytes: &[u8], head: usize) -> Value {
    json!({ "truncated": true, "bytes": bytes.len(),
        "head": String::from_utf8_lossy(&bytes[..head.min(bytes.len())]) })
}

/// A body as the record keeps it: JSON when it parses, text otherwise, cut at a limit.
pub fn recorded_body(bytes: &[u8], content_type: Option<&str>) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    if bytes.len() > MAX_RECORDED_BODY {
        return truncated_body(bytes, MAX_RECORDED_BODY.min(RECORDED_HEAD));
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
    let stack = text("stack").filter(|s| !s.is_empty());
    let frames = stack.as_deref().map(stack::frames).unwrap_or_default();
    ErrorInfo {
        name: text("name").unwrap_or_else(|| "Error".into()),
        message: text("message").unwrap_or_default(),
        location: text("location").or_else(|| stack::location(&frames)),
        stack,
        frames,
        source: Vec::new(),
    }
}

/// A function that returned (or threw) with timers or fetches still pending: they were
/// cancelled then and never ran, which its console says (a timeout's error says it instead).
fn note_left_pending(exec: &mut ExecState, driven: &Driven) {
    let Driven::Finished(_) = driven else {
        return;
    };
    let ended = if driven.succeeded() {
        "returned"
    } else {
        "failed"
    };
    let timers = std::mem::take(&mut exec.left_pending.timers);
    if !timers.is_empty() {
        let sites: Vec<String> = timers
            .iter()
            .map(|timer| match &timer.at {
                Some(at) => format!("{}ms at {at}", timer.delay_ms),
                None => format!("{}ms", timer.delay_ms),
            })
            .collect();
        let (count, was) = match timers.len() {
            1 => ("1 timer".to_string(), "was"),
            n => (format!("{n} timers"), "were"),
        };
        let message = format!(
            "{count} {was} still pending when the function {ended} and never ran ({})",
            sites.join(", ")
        );
        exec.recorder.log("warn", message);
    }
    let fetches = exec.left_pending.fetches;
    if fetches > 0 {
        let (count, was) = match fetches {
            1 => ("1 fetch".to_string(), "was"),
            n => (format!("{n} fetches"), "were"),
        };
        exec.recorder.log(
            "warn",
            format!("{count} {was} still pending when the function {ended} and cancelled"),
        );
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

/// The lines around `location` (`file.ts:line`) of the project's file, as it was loaded.
fn source_at(sources: &Sources, location: Option<&str>) -> Vec<crate::record::SourceLine> {
    let Some((module, line)) = location.and_then(|at| at.rsplit_once(':')) else {
        return Vec::new();
    };
    match (sources.written(module), line.parse::<u32>()) {
        (Some(code), Ok(line)) => crate::record::source_around(&code, line),
        _ => Vec::new(),
    }
}

/// What a timeout's message says besides what was pending: what else held the engine, and
/// the stack where the execution's own code was interrupted.
struct Stopped<'a> {
    held_by: Option<&'a str>,
    busy_at: Option<&'a str>,
}

fn build_record(
    request: &ExecutionRequest,
    started_at_us: i64,
    mut exec: ExecState,
    driven: Driven,
    code_version: String,
    stopped: Stopped<'_>,
    sources: Sources,
) -> (ExecutionRecord, Option<HttpOutput>) {
    let Stopped { held_by, busy_at } = stopped;
    note_left_pending(&mut exec, &driven);
    let duration_us = exec.recorder.elapsed_us();
    let mutations = std::mem::take(&mut exec.mutations);
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
                let mut info = error_info(error);
                complete_error(&mut info, &sources, request);
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
                    let mut output =
                        json!({ "status": status, "body": recorded_body(&body, content_type) });
                    // Where a 5xx Response was made: the failure's location.
                    if let Some(at) = ok.get("at").filter(|at| at.is_string()) {
                        output["location"] = at.clone();
                    }
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
        Driven::Timeout | Driven::Cancelled => {
            let cancelled = matches!(driven, Driven::Cancelled);
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
            let mut message = if cancelled {
                "cancelled by request".to_string()
            } else {
                timeout_text()
            };
            let frames = busy_at.map(stack::frames).unwrap_or_default();
            // A timer that had not fired is waited on too, where no call was.
            let timer = exec
                .left_pending
                .timers
                .first()
                .filter(|_| pending.is_empty());
            let mut location = None;
            if let Some(at) = stack::location(&frames) {
                message.push_str(&format!(
                    " while its code was busy at {at} (running, not awaiting)"
                ));
                location = Some(at);
            } else if !pending.is_empty() {
                message.push_str(&format!(" while waiting on {}", pending.join(", ")));
            } else if let Some(timer) = timer {
                let at = timer
                    .at
                    .as_ref()
                    .map_or_else(String::new, |at| format!(" at {at}"));
                message.push_str(&format!(
                    " while waiting on a timer ({}ms){at} that had not fired",
                    timer.delay_ms
                ));
                location = timer.at.clone();
            }
            if let Some(held_by) = held_by.filter(|_| !cancelled) {
                message.push_str(&format!("; {held_by}"));
            }
            let (name, status, http_status) = if cancelled {
                ("CancelledError", Status::Cancelled, 503)
            } else {
                ("TimeoutError", Status::Timeout, 504)
            };
            let mut info = flux_error(name, message);
            info.location = location;
            info.stack = busy_at.filter(|_| !frames.is_empty()).map(String::from);
            info.frames = frames;
            let http = (request.kind == Kind::Http)
                .then(|| error_response(http_status, &request.id.to_string(), &info));
            (status, Some(info), None, http)
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
    let mut error = error;
    if let Some(info) = error.as_mut() {
        info.source = source_at(&sources, info.location.as_deref());
    }
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
