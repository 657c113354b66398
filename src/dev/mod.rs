//! The dev server: a project's functions over HTTP, its job queue, its store and the upkeep
//! of both, and a watch on its files; started and stopped in-process (`flux dev` is a thin
//! command around it, tests start it directly).
//!
//! [`DevServer::start`] must not be called from inside an async runtime: the server runs its
//! own, and starting and stopping it block.

mod deployed;
mod lock;
pub mod notice;
pub mod watch;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use lock::LockHolder;
pub use notice::{Notice, Notices};

use crate::client::ServerInfo;
use crate::clock::now_us;
use crate::project::{Config, FunctionTable, Layout, Retention};
use crate::queue::{
    recover_attempts, tail_feed, Dispatcher, DispatcherHandle, LeasedQueue, Recovered,
};
use crate::runtime::{
    load_config, Backend, ConfigLoadError, EchoSink, Engine, JobEngines, Outlets, Shared,
};
use crate::server::{router, AppState, ConnectionLimits};
use crate::store::maintenance::{self, Maintenance};
use crate::store::postgres::{PgStore, PgStoreThread, PgThreadOptions};
use crate::store::{
    apply_migrations, writer_channel, Batch, Checked, Inbox, OnCommitted, PrivateFileError,
    SqlCall, SqlCalls, Storage, Store, StoreError, StoreThread, StoreWrite,
};

use self::lock::{acquire_lock, ProjectLock};
use self::watch::ProjectWatch;

/// Finished executions that may wait for the store thread before engines block.
const RECORD_BACKLOG: usize = 16 * 1024;

/// Hears of every batch of records the store thread has committed, on that thread: it must
/// never block.
/// Called on the store thread with each batch of executions once it is committed.
pub type OnWritten = Box<dyn Fn(&[StoreWrite]) + Send>;

/// How to start a dev server; [`DevOptions::new`] has the defaults.
pub struct DevOptions {
    /// The project folder (it holds `functions/`).
    pub dir: PathBuf,
    pub host: String,
    /// 0 for any free port ([`DevServer::local_addr`] says which).
    pub port: u16,
    /// Required on `/_flux/` when set. Beyond loopback one is made up when none is given.
    pub token: Option<String>,
    pub on_written: OnWritten,
    /// Hears what the server has to tell while it starts and runs.
    pub notices: Notices,
    /// `flux serve`: the data folder (store, deployed versions) whose active version runs,
    /// instead of the files of `dir`, unwatched.
    pub data: Option<PathBuf>,
    /// `postgres://…` to run on PostgreSQL instead of `.flux/flux.db` (the app's tables, the
    /// queue under leases, the records). With `data` (`flux serve`), versions and tokens are
    /// there too, shared with every process on the database, and `data` only holds the
    /// versions this process writes out to run.
    pub database: Option<String>,
}

impl DevOptions {
    /// `dir` served on 127.0.0.1, any free port, no token; records and notices go nowhere.
    pub fn new(dir: impl Into<PathBuf>) -> DevOptions {
        DevOptions {
            dir: dir.into(),
            host: "127.0.0.1".into(),
            port: 0,
            token: None,
            on_written: Box::new(|_: &[StoreWrite]| {}),
            notices: Arc::new(|_| {}),
            data: None,
            database: None,
        }
    }
}

/// Why the dev server did not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("cannot open project folder {}: {source}", dir.display())]
    ProjectFolder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has no functions/ folder", root.display())]
    NoFunctions { root: PathBuf },
    /// An empty token would match an empty Authorization header: it is refused, not ignored.
    #[error(
        "the token is empty (--token \"\" or FLUX_TOKEN=): it would let anyone use the /_flux API"
    )]
    EmptyToken,
    #[error("{0}")]
    StateDir(PrivateFileError),
    #[error("{0}")]
    LockFile(PrivateFileError),
    #[error("{} is already running on {}", holder_name(holder.as_ref()), root.display())]
    Locked {
        root: PathBuf,
        holder: Option<LockHolder>,
    },
    #[error("{0}")]
    Config(ConfigLoadError),
    /// The store cannot be opened, checked or migrated.
    #[error("{source}")]
    Store { path: PathBuf, source: StoreError },
    #[error("cannot start the async runtime: {0}")]
    AsyncRuntime(std::io::Error),
    #[error("cannot start the JS engines: {0}")]
    Engines(std::io::Error),
    #[error("cannot start the thread that follows deploys: {0}")]
    Follower(std::io::Error),
    #[error("cannot start the job queue: {0}")]
    Queue(String),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("cannot read the listening address: {0}")]
    LocalAddr(std::io::Error),
    #[error("{0}")]
    ServerFile(PrivateFileError),
    #[error("the deployed version cannot be run: {0}")]
    Deployed(#[from] deployed::DeployedError),
}

/// The PostgreSQL store at `url`, with its sandbox role checked and logged into before
/// anything runs as it.
fn open_postgres(url: &str) -> Result<PgStore, StoreError> {
    let store = PgStore::open(url)?;
    store.sandbox()?;
    Ok(store)
}

fn holder_name(holder: Option<&LockHolder>) -> String {
    match holder {
        Some(LockHolder {
            pid,
            url: Some(url),
        }) if !url.is_empty() => format!("flux dev (pid {pid}, {url})"),
        Some(LockHolder { pid, .. }) => format!("flux dev (pid {pid})"),
        None => "another flux dev".to_string(),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A running dev server. [`DevServer::stop`] or [`DevServer::shutdown`] stops it; dropping it
/// stops it too, with the configured grace.
pub struct DevServer {
    layout: Layout,
    local_addr: SocketAddr,
    url: String,
    applied: Vec<String>,
    shared: Arc<Shared>,
    retention: Retention,
    /// `None` once stopped.
    running: Option<Running>,
    /// Held until the server has stopped.
    _lock: ProjectLock,
}

/// What stopping has to end, in order.
struct Running {
    runtime: tokio::runtime::Runtime,
    serving: Serving,
}

/// What runs inside the server's async runtime.
struct Serving {
    /// Sends the grace that in-flight executions get, and so stops accepting requests.
    stop: tokio::sync::oneshot::Sender<Duration>,
    served: tokio::task::JoinHandle<()>,
    state: Arc<AppState>,
    store_thread: StoreThreads,
    watcher: Option<ProjectWatch>,
    /// `flux serve` on PostgreSQL: follows deploys made through other processes.
    follower: Option<deployed::Follower>,
    maintenance: Option<Maintenance>,
    backend: Backend,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl DevServer {
    /// Opens the project (its lock, config, store and migrations), starts the engines, the
    /// store thread, the watcher and the store's upkeep, and listens; requests are served from
    /// when this returns.
    pub fn start(options: DevOptions) -> Result<DevServer, DevError> {
        let DevOptions {
            dir,
            host,
            port,
            token,
            on_written,
            notices,
            data,
            database,
        } = options;
        let layout = match &data {
            // The code is the deployed version's, under the data folder with the store.
            Some(data) => {
                std::fs::create_dir_all(data).map_err(|source| DevError::ProjectFolder {
                    dir: data.clone(),
                    source,
                })?;
                let data = data
                    .canonicalize()
                    .map_err(|source| DevError::ProjectFolder {
                        dir: data.clone(),
                        source,
                    })?;
                Layout::with_state_dir(&data.join(deployed::CURRENT), &data)
            }
            None => {
                let root = dir
                    .canonicalize()
                    .map_err(|source| DevError::ProjectFolder { dir, source })?;
                Layout::new(&root)
            }
        };
        if data.is_none() && !layout.functions_dir().is_dir() {
            return Err(DevError::NoFunctions { root: layout.root });
        }
        if token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(DevError::EmptyToken);
        }
        // Beyond loopback the /_flux API needs a token: the user's, or one made up now.
        let token = match (token, is_loopback(&host)) {
            (Some(token), _) => Some(token),
            (None, true) => None,
            (None, false) => {
                let token: String = (0..16)
                    .map(|_| format!("{:02x}", rand::random::<u8>()))
                    .collect();
                notices(Notice::TokenMadeUp {
                    token: token.clone(),
                });
                Some(token)
            }
        };
        // The store keeps every request body: .flux/ is the owner's alone.
        let tightened =
            crate::store::secure_state_dir(&layout.state_dir()).map_err(DevError::StateDir)?;
        if !tightened.is_empty() {
            notices(Notice::StateDirTightened {
                dir: layout.state_dir(),
            });
        }
        let mut lock = acquire_lock(&layout)?;
        // The identity its server reports, so that commands can tell it from another project's.
        if let Err(e) = crate::project::identity::load_or_create(&layout) {
            notices(Notice::NoIdentity(e));
        }
        let store_error = |source| DevError::Store {
            path: layout.store_path(),
            source,
        };
        // flux serve reads which version runs from the store before anything reads its code.
        let mut opened_pg = None;
        let (opened, served) = match (&data, &database) {
            (Some(_), Some(url)) => {
                let store = open_postgres(url).map_err(store_error)?;
                let version = deployed::prepare_data(&layout.state_dir(), &store)?;
                opened_pg = Some(store);
                (None, Some(version))
            }
            (Some(_), None) => {
                let opened = Store::open_checked(&layout.store_path()).map_err(store_error)?;
                let version = deployed::prepare_data(&layout.state_dir(), &opened.0)?;
                (Some(opened), Some(version))
            }
            (None, _) => (None, None),
        };
        let config = load_config(&layout.config_path()).map_err(DevError::Config)?;
        let retention = config.retention;
        // Before the store is opened or migrated (by flux dev): a busy port leaves nothing
        // written.
        let listener = Bound::bind(&host, port)?;
        let (backend, migrations) = match database {
            None => {
                let (store, checked) = match opened {
                    Some(opened) => opened,
                    None => Store::open_checked(&layout.store_path()).map_err(store_error)?,
                };
                if checked == Checked::Partly {
                    notices(Notice::StorePartlyChecked {
                        store: layout.store_path(),
                    });
                }
                let mut conn = store.connect().map_err(store_error)?;
                let migrations =
                    apply_migrations(&mut conn, &layout.migrations_dir()).map_err(store_error)?;
                (Backend::Sqlite(store), migrations)
            }
            Some(url) => {
                let store = match opened_pg {
                    Some(store) => store,
                    None => open_postgres(&url).map_err(store_error)?,
                };
                let migrations = store
                    .apply_migrations(&layout.migrations_dir())
                    .map_err(store_error)?;
                (Backend::Postgres(Box::new(store)), migrations)
            }
        };

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("flux-io")
            .build()
            .map_err(DevError::AsyncRuntime)?;
        let serving = runtime.block_on(serve(
            listener,
            token,
            layout.clone(),
            backend,
            config,
            on_written,
            notices,
            &mut lock,
            served,
        ))?;
        let local_addr = serving.local_addr;
        Ok(DevServer {
            layout,
            local_addr,
            url: format!("http://{local_addr}"),
            applied: migrations.applied,
            shared: Arc::clone(&serving.shared),
            retention,
            running: Some(Running { runtime, serving }),
            _lock: lock,
        })
    }

    /// The PostgreSQL database it runs on (its location, without the password), if not SQLite.
    pub fn database(&self) -> Option<String> {
        match &self.shared.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(store) => Some(store.location()),
        }
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://` and [`DevServer::local_addr`].
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The functions it serves now.
    pub fn functions(&self) -> Arc<FunctionTable> {
        self.shared.functions()
    }

    /// Whether `name` is a worker not served over HTTP (see `project::is_private_worker`).
    pub fn is_private_worker(&self, name: &str) -> bool {
        crate::project::is_private_worker(&self.shared.config(), &self.shared.enqueued, name)
    }

    /// The migrations applied when it started.
    pub fn applied_migrations(&self) -> &[String] {
        &self.applied
    }

    /// The config it runs with now (the watcher reloads it).
    pub fn config(&self) -> Arc<Config> {
        self.shared.config()
    }

    /// How much history the store keeps (as configured at start: the upkeep keeps to it).
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// How long in-flight executions get to finish when it stops, as configured now (a
    /// reloaded `shutdown.graceSeconds` applies at once).
    pub fn shutdown_grace(&self) -> Duration {
        self.shared.config().shutdown_grace()
    }

    /// [`DevServer::shutdown`] with the configured grace.
    pub fn stop(self) {
        let grace = self.shutdown_grace();
        self.shutdown(grace);
    }

    /// Stops accepting requests and pauses the queue; executions still running after `grace`
    /// are interrupted; every record on its way is stored before this returns.
    pub fn shutdown(mut self, grace: Duration) {
        self.finish(grace);
    }

    fn finish(&mut self, grace: Duration) {
        let Some(running) = self.running.take() else {
            return;
        };
        let Running { runtime, serving } = running;
        let Serving {
            stop,
            served,
            state,
            store_thread,
            watcher,
            follower,
            maintenance,
            backend,
            shared,
            local_addr: _,
        } = serving;
        let _ = stop.send(grace);
        runtime.block_on(async move {
            let _ = served.await;
            if let Some(follower) = follower {
                let _ = tokio::task::spawn_blocking(move || follower.stop()).await;
            }
            // HTTP engines finish what they were given; then the store thread lets job attempts
            // end and stores every record still on its way.
            if let Ok(state) = Arc::try_unwrap(state) {
                let engine = state.engine;
                let _ = tokio::task::spawn_blocking(move || engine.stop()).await;
            }
            let _ = tokio::task::spawn_blocking(move || store_thread.stop()).await;
            drop(watcher);
            if let Some(maintenance) = maintenance {
                let _ = tokio::task::spawn_blocking(move || maintenance.stop()).await;
            }
        });
        drop(runtime);
        if let Some(store) = backend.sqlite() {
            maintenance::fold_wal(store);
        }
        drop(shared);
        let _ = std::fs::remove_file(self.layout.server_file());
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.finish(self.shutdown_grace());
    }
}

/// The server's address, bound but not listening: a busy port is found before anything is
/// written, while clients are refused (not left waiting) until the server serves.
struct Bound {
    socket: tokio::net::TcpSocket,
    address: String,
    port: u16,
}

/// Connections waiting to be accepted, as tokio's own `TcpListener::bind` allows.
const LISTEN_BACKLOG: u32 = 1024;

impl Bound {
    fn bind(host: &str, port: u16) -> Result<Bound, DevError> {
        let address = format!("{host}:{port}");
        let failed = |source| DevError::Listen {
            address: address.clone(),
            port,
            source,
        };
        let mut last = None;
        for addr in (host, port).to_socket_addrs().map_err(failed)? {
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()
            } else {
                tokio::net::TcpSocket::new_v6()
            };
            let bound = socket.and_then(|socket| {
                socket.set_reuseaddr(true)?;
                socket.bind(addr)?;
                Ok(socket)
            });
            match bound {
                Ok(socket) => {
                    return Ok(Bound {
                        socket,
                        address,
                        port,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(failed(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address to bind")
        })))
    }

    /// Starts accepting; must run inside the server's async runtime.
    fn listen(self) -> Result<tokio::net::TcpListener, DevError> {
        let Bound {
            socket,
            address,
            port,
        } = self;
        socket
            .listen(LISTEN_BACKLOG)
            .map_err(|source| DevError::Listen {
                address,
                port,
                source,
            })
    }
}

/// What the project holds that will not work as it stands: worker settings for no function,
/// jobs waiting for a missing worker. Also learns which names jobs were enqueued for.
fn warn_at_start(shared: &Shared, notices: &(dyn Fn(Notice) + Send + Sync)) {
    let table = shared.functions();
    watch::warn_unknown_workers(&shared.config(), &table, notices);
    if let Ok(stats) = shared.storage.job_stats(now_us()) {
        watch::warn_missing_workers(&stats, &table, None, notices);
        shared
            .enqueued
            .extend(stats.into_iter().map(|row| row.function));
    }
}

/// Starts everything that runs, inside the server's async runtime: the engines, the store
/// thread, the listener, the watcher, the store's upkeep, then the accept loop.
#[allow(clippy::too_many_arguments)]
async fn serve(
    listener: Bound,
    token: Option<String>,
    layout: Layout,
    backend: Backend,
    config: Config,
    on_written: OnWritten,
    notices: Notices,
    lock: &mut ProjectLock,
    served: Option<Option<String>>,
) -> Result<Serving, DevError> {
    // Bounded: when the store thread falls behind, executions wait instead of memory growing.
    let (records_tx, records_rx) = crossbeam_channel::bounded(RECORD_BACKLOG);
    let (waker, inbox) = StoreThread::channel();
    let queue = DispatcherHandle::new(waker);
    let (writer, sql_calls) = writer_channel();
    let writer = match &backend {
        Backend::Sqlite(_) => writer,
        Backend::Postgres(_) => writer.for_postgres(),
    };
    let (http_engines, http_in_flight) = (config.http.engines, config.http.concurrency);
    let retention = config.retention;
    let echo: EchoSink = {
        let notices = Arc::clone(&notices);
        Arc::new(move |echo| notices(Notice::Echo(echo)))
    };
    let outlets = Outlets {
        records: records_tx,
        writer,
        queue: queue.clone(),
        echo,
    };
    let shared = Arc::new(Shared::new(
        layout.clone(),
        backend.clone(),
        config,
        tokio::runtime::Handle::current(),
        outlets,
    ));
    if let Some(Some(version)) = &served {
        shared.set_deployed(crate::version::short(version));
        shared.rescan();
    }
    // PostgreSQL's client blocks on a runtime of its own: not on this one's thread.
    tokio::task::block_in_place(|| warn_at_start(&shared, &*notices));
    let engine = Engine::start(Arc::clone(&shared), http_engines, http_in_flight, "http")
        .map_err(DevError::Engines)?;
    let store_thread = tokio::task::block_in_place(|| {
        start_store_thread(&shared, inbox, records_rx, sql_calls, on_written, &notices)
    })
    .map_err(DevError::Queue)?;

    let listener = listener.listen()?;
    let local: SocketAddr = listener.local_addr().map_err(DevError::LocalAddr)?;
    let info = ServerInfo {
        url: format!("http://{local}"),
        pid: std::process::id(),
        token: token.clone(),
    };
    lock.record(&info);
    let info_json = serde_json::to_string_pretty(&info).unwrap_or_default();
    // It may hold the token: created owner-only.
    crate::store::write_private(&layout.server_file(), info_json.as_bytes())
        .map_err(DevError::ServerFile)?;

    // A deployed version changes only by a deploy, never on disk.
    let watcher = match served {
        Some(_) => None,
        None => watch::start(Arc::clone(&shared), Arc::clone(&notices)),
    };
    let activation = served.clone().map(|running| {
        Arc::new(deployed::Deployed::new(
            layout.state_dir(),
            Arc::clone(&shared),
            Arc::clone(&notices),
            running,
        ))
    });
    // Processes sharing a PostgreSQL store run whichever version one of them activated last.
    let follower = match (&activation, &backend) {
        (Some(activation), Backend::Postgres(_)) => {
            Some(deployed::Follower::start(Arc::clone(activation)).map_err(DevError::Follower)?)
        }
        _ => None,
    };
    let on_error = move |e| notices(Notice::Maintenance(e));
    let maintenance = match &backend {
        Backend::Sqlite(store) => Maintenance::start(store.clone(), retention, now_us, on_error),
        Backend::Postgres(_) => {
            Maintenance::start_pruning(Arc::clone(&shared.storage), retention, now_us, on_error)
        }
    };

    let mut state = AppState::new(Arc::clone(&shared), engine, token);
    if let Some(activation) = activation {
        state = state.with_activation(activation);
    }
    let state = Arc::new(state);
    let app = router(Arc::clone(&state));
    let shutdown_shared = Arc::clone(&shared);
    let server_config = shared.config().server.clone();
    let limits = ConnectionLimits {
        max_connections: server_config.max_connections,
        header_timeout: server_config.header_timeout,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<Duration>();
    let served = tokio::spawn(crate::server::serve(listener, app, limits, async move {
        // Dropped without a word: stopped all the same, with the configured grace.
        let grace = stopped
            .await
            .unwrap_or_else(|_| shutdown_shared.config().shutdown_grace());
        shutdown_shared.queue.halt();
        shutdown_shared.begin_stop(grace);
    }));
    Ok(Serving {
        stop,
        served,
        state,
        store_thread,
        watcher,
        follower,
        maintenance,
        backend,
        shared,
        local_addr: local,
    })
}

/// The store thread of either backend (on PostgreSQL, with the queue's dispatcher beside it).
enum StoreThreads {
    Sqlite(StoreThread),
    Postgres(PgStoreThread, Box<LeasedQueue>, Arc<Shared>),
}

/// How long a stop waits, past the shutdown's grace, for interrupted attempts' records.
const RECORDS_AFTER_GRACE: Duration = Duration::from_secs(5);

impl StoreThreads {
    fn stop(self) {
        match self {
            StoreThreads::Sqlite(thread) => thread.stop(),
            StoreThreads::Postgres(thread, mut queue, shared) => {
                let grace = shared.config().shutdown_grace();
                queue.drain(std::time::Instant::now() + grace + RECORDS_AFTER_GRACE);
                thread.stop();
                queue.finish();
            }
        }
    }
}

/// Starts the store thread of the project's backend; each committed batch of records goes
/// to `flux tail`'s feed and to `on_written`.
fn start_store_thread(
    shared: &Arc<Shared>,
    inbox: Inbox,
    records: crossbeam_channel::Receiver<StoreWrite>,
    calls: SqlCalls,
    on_written: OnWritten,
    notices: &Notices,
) -> Result<StoreThreads, String> {
    let subscribers: Vec<OnCommitted> = vec![
        tail_feed(shared.tail.clone()),
        Box::new(move |writes, _, _| on_written(writes)),
    ];
    match &shared.backend {
        Backend::Sqlite(store) => start_sqlite_thread(
            shared,
            store,
            inbox,
            records,
            calls.routed,
            subscribers,
            notices,
        )
        .map(StoreThreads::Sqlite),
        Backend::Postgres(store) => {
            start_postgres_thread(shared, store, inbox, records, calls, subscribers)
        }
    }
}

/// Starts the store thread on PostgreSQL with the queue's dispatcher beside it: claims under
/// this process's leases, their outcomes fenced in the record writer's commits.
fn start_postgres_thread(
    shared: &Arc<Shared>,
    store: &PgStore,
    inbox: Inbox,
    records: crossbeam_channel::Receiver<StoreWrite>,
    calls: SqlCalls,
    mut subscribers: Vec<OnCommitted>,
) -> Result<StoreThreads, String> {
    let config = shared.config();
    let mut queue = LeasedQueue::new(store.clone());
    subscribers.push(queue.finished_feed());
    // Statements run on as many connections as there are HTTP engines (at least 2): each
    // engine waits on one statement at a time per execution.
    let options = PgThreadOptions {
        statements: config.http.engines.clamp(2, 8),
        queue: queue.hooks(config.queue.notify),
        ..PgThreadOptions::default()
    };
    let thread = PgStoreThread::start(store, options, calls, records, subscribers)
        .map_err(|e| e.to_string())?;
    let engines = match JobEngines::start(
        Arc::clone(shared),
        config.queue.engines,
        config.queue.concurrency,
    ) {
        Ok(engines) => engines,
        Err(e) => {
            thread.stop();
            return Err(e.to_string());
        }
    };
    let source = {
        let shared = Arc::clone(shared);
        Box::new(move || shared.config())
    };
    if let Err(e) = queue.start(shared.queue.clone(), inbox, source, Box::new(engines)) {
        thread.stop();
        return Err(e.to_string());
    }
    Ok(StoreThreads::Postgres(
        thread,
        Box::new(queue),
        Arc::clone(shared),
    ))
}

/// Puts back the job attempts a killed `flux dev` left running, starts the job engines, then
/// the store thread with the queue's dispatcher handing them due jobs.
fn start_sqlite_thread(
    shared: &Arc<Shared>,
    store: &Store,
    inbox: Inbox,
    records: crossbeam_channel::Receiver<StoreWrite>,
    calls: crossbeam_channel::Receiver<SqlCall>,
    subscribers: Vec<OnCommitted>,
    notices: &Notices,
) -> Result<StoreThread, String> {
    let mut batch = Batch::new(store).map_err(|e| e.to_string())?;
    let recovered = recover_attempts(&mut batch).map_err(|e| e.to_string())?;
    if recovered != Recovered::default() {
        notices(Notice::AttemptsRecovered(recovered));
    }
    let queue = shared.config().queue.clone();
    let engines = JobEngines::start(Arc::clone(shared), queue.engines, queue.concurrency)
        .map_err(|e| e.to_string())?;
    let config = {
        let shared = Arc::clone(shared);
        Box::new(move || shared.config())
    };
    let dispatcher = Dispatcher::new(shared.queue.clone(), config, Box::new(engines));
    StoreThread::start(
        batch,
        inbox,
        records,
        calls,
        Box::new(dispatcher),
        subscribers,
    )
    .map_err(|e| e.to_string())
}
