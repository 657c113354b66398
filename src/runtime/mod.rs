//! The embedded JavaScript runtime: a pool of threads, each with its own QuickJS engine and
//! store connection, interleaving many executions at their awaits and recording each.

pub mod cancel;
mod config_eval;
mod content_type;
mod echo;
mod email;
mod host;
mod jobs;
mod loader;
mod messages;
pub mod multipart;
mod node;
mod package_folders;
mod priority;
mod record;
mod recorder;
mod stack;
mod tag;
pub mod ts;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::project::{Config, EnqueuedNames, FunctionFile, FunctionTable, Layout};
use crate::queue::{DispatcherHandle, JobAttempt};
use crate::record::{ExecId, Kind, Links, RecordSummary, TailEvent};
use priority::Priority;

/// Events a `flux tail` subscriber may fall behind by before it misses some.
const TAIL_BACKLOG: usize = 4_096;
/// How long `fetch` waits for a connection, and for each read of the response. A fetch also
/// ends with its execution (it is cancelled), so the execution's timeout bounds both.
const FETCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const FETCH_READ_TIMEOUT: Duration = Duration::from_secs(30);
use crate::store::postgres::PgStore;
use crate::store::{Storage, Store, StoreWrite, Writer};

pub use crate::clock::now_us;
pub use config_eval::{load_config, ConfigLoadError};
pub use content_type::is_json_content_type;
pub use echo::{Echo, EchoSink};
pub use jobs::JobEngines;
pub use loader::ImportLookup;
pub use package_folders::PackageFolders;
pub use ts::{to_javascript, JsxOptions, SyntaxError};
pub use worker::{recorded_body, redact_headers};

/// Everything the engine's threads share.
pub struct Shared {
    pub layout: Layout,
    pub backend: Backend,
    /// The same store behind the storage boundary: what the server reads through.
    pub storage: Arc<dyn Storage>,
    functions: RwLock<Arc<FunctionTable>>,
    config: RwLock<Arc<Config>>,
    /// Bumped when code changes, so that every engine rebuilds its JS context.
    generation: AtomicU64,
    /// Finished records (with their job's new state) on their way to the store writer.
    pub records: crossbeam_channel::Sender<StoreWrite>,
    /// Every write of every execution runs on the store thread's connection.
    pub writer: Writer,
    pub tokio: tokio::runtime::Handle,
    pub http_client: reqwest::Client,
    /// When shutting down: the instant (clock nanos) after which executions are interrupted.
    stop_at: AtomicU64,
    /// Pauses and resumes the queue's dispatcher (`flux queue pause`, shutdown).
    pub queue: DispatcherHandle,
    /// Committed executions, for `flux tail`. A slow subscriber misses events (and is told
    /// how many); the store thread never waits for one.
    pub tail: tokio::sync::broadcast::Sender<Arc<TailEvent>>,
    /// Where what executions show on the terminal goes (console lines, captured emails).
    pub echo: EchoSink,
    /// Functions a slice of whose code held its engine for long, with the code generation
    /// that did: their executions run alone on an engine until the code changes, or one of
    /// them runs without holding it long.
    cpu_heavy: Mutex<HashMap<String, u64>>,
    /// Job attempts someone asked to stop (`POST /_flux/api/jobs/<id>/cancel`).
    pub cancels: cancel::Cancels,
    /// Names jobs were enqueued for: workers, not served over HTTP (see `project::workers`).
    pub enqueued: EnqueuedNames,
    /// The npm packages the engines loaded, which `flux dev` watches.
    pub package_folders: PackageFolders,
    /// The deployed version `flux serve` runs: the code version its records name.
    deployed: RwLock<Option<String>>,
}

/// The database a project runs on.
#[derive(Clone)]
pub enum Backend {
    /// `.flux/flux.db`, flux dev's default.
    Sqlite(Store),
    /// `--database postgres://…` (boxed: its config is large, and the enum is kept by value).
    Postgres(Box<PgStore>),
}

impl Backend {
    /// SQLite's store, when it is the one.
    pub fn sqlite(&self) -> Option<&Store> {
        match self {
            Backend::Sqlite(store) => Some(store),
            Backend::Postgres(_) => None,
        }
    }

    fn storage(&self) -> Arc<dyn Storage> {
        match self {
            Backend::Sqlite(store) => Arc::new(store.clone()),
            Backend::Postgres(store) => Arc::new(PgStore::clone(store)),
        }
    }
}

/// Where what the engines produce goes: finished records, writes, and what they show.
pub struct Outlets {
    pub records: crossbeam_channel::Sender<StoreWrite>,
    pub writer: Writer,
    pub queue: DispatcherHandle,
    pub echo: EchoSink,
}

impl Shared {
    pub fn new(
        layout: Layout,
        backend: Backend,
        config: Config,
        tokio: tokio::runtime::Handle,
        outlets: Outlets,
    ) -> Shared {
        let Outlets {
            records,
            writer,
            queue,
            echo,
        } = outlets;
        let functions = FunctionTable::scan(&layout.root);
        Shared {
            layout,
            storage: backend.storage(),
            backend,
            functions: RwLock::new(Arc::new(functions)),
            config: RwLock::new(Arc::new(config)),
            generation: AtomicU64::new(1),
            records,
            writer,
            tokio,
            http_client: reqwest::Client::builder()
                .user_agent(concat!("flux/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(FETCH_CONNECT_TIMEOUT)
                .read_timeout(FETCH_READ_TIMEOUT)
                .build()
                .unwrap_or_default(),
            stop_at: AtomicU64::new(0),
            queue,
            tail: tokio::sync::broadcast::channel(TAIL_BACKLOG).0,
            echo,
            cpu_heavy: Mutex::new(HashMap::new()),
            cancels: cancel::Cancels::default(),
            enqueued: EnqueuedNames::default(),
            package_folders: PackageFolders::default(),
            deployed: RwLock::new(None),
        }
    }

    /// From the next rescan on, the code is deployed version `version` (its short id), which
    /// records name as their code version.
    pub fn set_deployed(&self, version: &str) {
        *self.deployed.write().unwrap_or_else(|p| p.into_inner()) = Some(version.to_string());
    }

    /// The deployed version running, if any (`flux serve`).
    pub fn deployed(&self) -> Option<String> {
        self.deployed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn mark_cpu_heavy(&self, function: &str) {
        let generation = self.generation();
        let mut marks = self.cpu_heavy.lock().unwrap_or_else(|p| p.into_inner());
        marks.insert(function.to_string(), generation);
    }

    fn clear_cpu_heavy(&self, function: &str) {
        let mut marks = self.cpu_heavy.lock().unwrap_or_else(|p| p.into_inner());
        marks.remove(function);
    }

    fn is_cpu_heavy(&self, function: &str) -> bool {
        let marks = self.cpu_heavy.lock().unwrap_or_else(|p| p.into_inner());
        marks.get(function) == Some(&self.generation())
    }

    pub fn functions(&self) -> Arc<FunctionTable> {
        Arc::clone(&self.functions.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set_config(&self, config: Config) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    }

    /// Rescans the project's code; returns the new table when anything changed.
    pub fn rescan(&self) -> Option<Arc<FunctionTable>> {
        let mut table = FunctionTable::scan(&self.layout.root);
        // A loaded package's files are code too, but hashing them on every scan would cost
        // more than counting their edits does.
        let edits = self.package_folders.edits();
        if edits > 0 {
            let salted = format!("{}:{edits}", table.code_version);
            table.code_version = blake3::hash(salted.as_bytes()).to_hex()[..12].to_string();
        }
        if let Some(version) = self.deployed() {
            table.code_version = version;
        }
        let mut current = self.functions.write().unwrap_or_else(|p| p.into_inner());
        if current.code_version == table.code_version && current.functions == table.functions {
            return None;
        }
        *current = Arc::new(table);
        self.generation.fetch_add(1, Ordering::SeqCst);
        // Jobs waiting for a worker that is back can run.
        self.queue.wake();
        Some(Arc::clone(&current))
    }

    /// The function serving `name` if its file is unchanged since the last scan.
    pub fn current(&self, name: &str) -> Option<FunctionFile> {
        self.functions()
            .get(name)
            .filter(|file| file.is_current())
            .cloned()
    }

    /// The function serving `name`, rescanning when the file changed since the last scan.
    pub fn lookup(&self, name: &str) -> Option<FunctionFile> {
        if let Some(file) = self.current(name) {
            return Some(file);
        }
        // Changed, removed or added since the last scan: the watcher may not have told us yet.
        let table = self.rescan().unwrap_or_else(|| self.functions());
        table.get(name).cloned()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// From now on, executions still running after `grace` are interrupted.
    pub fn begin_stop(&self, grace: Duration) {
        let at = crate::clock::monotonic_ns() + grace.as_nanos() as u64;
        self.stop_at.store(at.max(1), Ordering::SeqCst);
    }

    /// Whether shutdown's grace has ended: executions still running are interrupted.
    fn stopping(&self) -> bool {
        match self.stop_at.load(Ordering::SeqCst) {
            0 => false,
            at => crate::clock::monotonic_ns() >= at,
        }
    }
}

/// One execution to run.
#[derive(Debug, Clone)]
pub struct ExecutionRequest {
    pub id: ExecId,
    pub kind: Kind,
    pub function: FunctionFile,
    /// What the handler receives as its first argument (`req` or `job`).
    pub input: Value,
    /// What the record keeps of the input (secrets redacted).
    pub recorded_input: Value,
    pub method: Option<String>,
    pub path: Option<String>,
    pub timeout: Duration,
    pub links: Links,
    /// Set for a job attempt: its outcome moves the job on.
    pub job: Option<JobAttempt>,
}

/// The HTTP response an execution produced.
#[derive(Debug, Clone)]
pub struct HttpOutput {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// How an execution ended; its full record has gone to the store writer.
#[derive(Debug)]
pub struct ExecutionOutcome {
    pub summary: RecordSummary,
    pub http: Option<HttpOutput>,
}

/// Called on the engine's thread when an execution has ended.
pub type Reply = Box<dyn FnOnce(ExecutionOutcome) + Send>;

struct Task {
    request: ExecutionRequest,
    reply: Reply,
}

/// A pool of JS engines fed from one queue, which each engine pulls from when it has room.
pub struct Engine {
    shared: Arc<Shared>,
    tasks: Option<crossbeam_channel::Sender<Task>>,
    /// Executions of CPU-heavy functions, each run alone on an engine.
    solo: Option<crossbeam_channel::Sender<Task>>,
    threads: Vec<JoinHandle<()>>,
}

/// What a pool's engines share: where they take executions from.
struct Pool {
    tasks: crossbeam_channel::Receiver<Task>,
    solo: crossbeam_channel::Receiver<Task>,
    /// Where an engine puts back an execution found CPU-heavy only when it took it.
    requeue: crossbeam_channel::Sender<Task>,
    solo_running: AtomicUsize,
    /// At most this many engines run a CPU-heavy execution at once, so that one is always
    /// left for the others.
    max_solo: usize,
    /// The engine (its id + 1; 0 for none) that takes nothing new until it is empty, for a
    /// CPU-heavy execution waiting to run alone.
    draining: AtomicUsize,
}

impl Pool {
    fn solo_has_room(&self) -> bool {
        self.solo_running.load(Ordering::SeqCst) < self.max_solo
    }

    /// Takes a place for one more execution running alone, if there is one.
    fn reserve_solo(&self) -> bool {
        self.solo_running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |running| {
                (running < self.max_solo).then_some(running + 1)
            })
            .is_ok()
    }

    /// Whether engine `id` is the one that empties for a waiting CPU-heavy execution (the
    /// first to ask becomes it).
    fn drain_for_solo(&self, id: usize) -> bool {
        let me = id + 1;
        match self
            .draining
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(current) => current == me,
        }
    }

    /// Engine `id` took a CPU-heavy execution: another may be picked for the next.
    fn drained_for_solo(&self, id: usize) {
        let _ = self
            .draining
            .compare_exchange(id + 1, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the runtime is shutting down")]
pub struct EngineStopped;

impl Engine {
    /// Starts `engines` threads running at most `in_flight` executions at once between
    /// them; `label` names them (`http`, `job`). Job engines give way to requests during long
    /// slices of JS (see [`priority`]), so that jobs spinning in a loop do not starve them.
    pub fn start(
        shared: Arc<Shared>,
        engines: usize,
        in_flight: usize,
        label: &str,
    ) -> std::io::Result<Engine> {
        let background = label == "job";
        let engines = engines.max(1);
        let in_flight = in_flight.max(1);
        let per_engine = in_flight.div_ceil(engines);
        let (tasks, receiver) = crossbeam_channel::unbounded::<Task>();
        let (solo, solo_receiver) = crossbeam_channel::unbounded::<Task>();
        let pool = Arc::new(Pool {
            tasks: receiver,
            solo: solo_receiver,
            requeue: solo.clone(),
            solo_running: AtomicUsize::new(0),
            max_solo: (engines - 1).max(1),
            draining: AtomicUsize::new(0),
        });
        let mut threads = Vec::new();
        for i in 0..engines {
            let shared = Arc::clone(&shared);
            let pool = Arc::clone(&pool);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("flux-{label}-{i}"))
                    .stack_size(8 * 1024 * 1024)
                    .spawn(move || {
                        let priority = match background {
                            true => Priority::background(),
                            false => Priority::default(),
                        };
                        worker::run(shared, pool, i, per_engine, priority)
                    })?,
            );
        }
        Ok(Engine {
            shared,
            tasks: Some(tasks),
            solo: Some(solo),
            threads,
        })
    }

    pub async fn execute(
        &self,
        request: ExecutionRequest,
    ) -> Result<ExecutionOutcome, EngineStopped> {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        self.submit(
            request,
            Box::new(move |outcome| {
                let _ = reply.send(outcome);
            }),
        )?;
        outcome.await.map_err(|_| EngineStopped)
    }

    /// Queues `request`; `reply` runs when it has ended.
    pub fn submit(&self, request: ExecutionRequest, reply: Reply) -> Result<(), EngineStopped> {
        let queue = if self.shared.is_cpu_heavy(&request.function.name) {
            &self.solo
        } else {
            &self.tasks
        };
        queue
            .as_ref()
            .ok_or(EngineStopped)?
            .send(Task { request, reply })
            .map_err(|_| EngineStopped)
    }

    /// Lets queued and running executions finish, then joins the threads.
    pub fn stop(mut self) {
        self.tasks = None;
        self.solo = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Names of the environment variables a project declared, with their values on this host.
pub fn declared_env(names: &[String]) -> BTreeMap<String, String> {
    names
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| (name.clone(), value)))
        .collect()
}
