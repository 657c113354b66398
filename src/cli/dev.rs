//! `flux dev`: the local runtime.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fs4::fs_std::FileExt;
use notify::{RecursiveMode, Watcher};

use super::dev_output::ExecutionPrinter;
use super::{CliError, DevArgs};
use crate::client::ServerInfo;
use crate::project::{FunctionTable, Layout, CONFIG_FILE};
use crate::queue::{recover_attempts, tail_feed, Dispatcher, DispatcherHandle};
use crate::runtime::{load_config, now_us, strip_types, Engine, JobEngines, Shared};
use crate::server::{router, AppState, ConnectionLimits};
use crate::store::{
    apply_migrations, prune, prune_to_size, writer_channel, Batch, Checked, Inbox, SizeWatch,
    SqlCall, Store, StoreError, StoreThread, StoreWrite,
};

/// Finished executions that may wait for the store thread before engines block.
const RECORD_BACKLOG: usize = 16 * 1024;

/// Holds the project's lock for as long as `flux dev` runs; the file says who holds it.
struct ProjectLock {
    file: File,
}

impl ProjectLock {
    fn record(&mut self, info: &ServerInfo) {
        use std::io::{Seek, Write};
        let holder = serde_json::json!({ "pid": info.pid, "url": info.url });
        let _ = self.file.set_len(0);
        let _ = self.file.rewind();
        let _ = self.file.write_all(holder.to_string().as_bytes());
    }
}

/// Who holds the lock, from the lock file itself.
fn lock_holder(path: &Path) -> Option<(u32, Option<String>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pid = value.get("pid")?.as_u64()? as u32;
    Some((
        pid,
        value.get("url").and_then(|u| u.as_str()).map(String::from),
    ))
}

fn acquire_lock(layout: &Layout) -> Result<ProjectLock, CliError> {
    let path = layout.lock_file();
    let file =
        crate::store::create_private(&path, false).map_err(|e| CliError::failure(e.to_string()))?;
    match file.try_lock_exclusive() {
        Ok(true) => {
            let mut lock = ProjectLock { file };
            lock.record(&ServerInfo {
                url: String::new(),
                pid: std::process::id(),
                token: None,
            });
            Ok(lock)
        }
        _ => {
            let holder = lock_holder(&path);
            let who = match &holder {
                Some((pid, Some(url))) if !url.is_empty() => format!("flux dev (pid {pid}, {url})"),
                Some((pid, _)) => format!("flux dev (pid {pid})"),
                None => "another flux dev".to_string(),
            };
            let hint = holder.map_or_else(
                || "stop the other flux dev first".to_string(),
                |(pid, _)| format!("stop it with Ctrl-C in its terminal, or 'kill {pid}'"),
            );
            Err(CliError::failure(format!(
                "{who} is already running on {}",
                layout.root.display()
            ))
            .with_hint(hint))
        }
    }
}

fn store_error(error: StoreError, layout: &Layout) -> CliError {
    match error {
        StoreError::Corrupt { .. } => CliError::failure(error.to_string()).with_hint(format!(
            "flux will not overwrite it: move it aside (mv {0} {0}.bad) to start with an empty store",
            layout.store_path().display()
        )),
        StoreError::Damaged { .. } => CliError::failure(error.to_string()).with_hint(format!(
            "flux will not write to it: move it aside (mv {0} {0}.bad) to start with an empty store, \
             or put a backup in its place; sqlite3's .recover can still read what is left in it",
            layout.store_path().display()
        )),
        StoreError::Empty { .. } => CliError::failure(error.to_string()).with_hint(format!(
            "flux will not start over on it silently: put a backup in its place, or remove it \
             (rm {}) to start with an empty store",
            layout.store_path().display()
        )),
        StoreError::Migration { .. } => {
            CliError::failure(error.to_string()).with_hint("fix the migration and start flux dev again")
        }
        other => CliError::failure(other.to_string()),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub fn run(args: &DevArgs, global: &super::GlobalArgs) -> Result<(), CliError> {
    let root = args.dir.canonicalize().map_err(|e| {
        CliError::failure(format!(
            "cannot open project folder {}: {e}",
            args.dir.display()
        ))
        .with_hint("create a project with 'flux init my-app'")
    })?;
    let layout = Layout::new(&root);
    if !layout.functions_dir().is_dir() {
        return Err(
            CliError::failure(format!("{} has no functions/ folder", root.display())).with_hint(
                "run flux dev in a project folder, or create one with 'flux init my-app'",
            ),
        );
    }
    // An empty token would match an empty Authorization header: it is refused, not ignored.
    if global.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(CliError::new(
            super::exit::USAGE,
            "the token is empty (--token \"\" or FLUX_TOKEN=): it would let anyone use the /_flux API",
        )
        .with_hint("pass a real token, or unset FLUX_TOKEN (beyond loopback flux dev then makes one up and prints it)"));
    }
    // Beyond loopback the /_flux API needs a token: the user's, or one made up now.
    let token = match (&global.token, is_loopback(&args.host)) {
        (Some(token), _) => Some(token.clone()),
        (None, true) => None,
        (None, false) => {
            let token: String = (0..16)
                .map(|_| format!("{:02x}", rand::random::<u8>()))
                .collect();
            eprintln!("listening beyond loopback: the /_flux API requires this token (Authorization: Bearer …):");
            eprintln!("  {token}");
            Some(token)
        }
    };
    // The store keeps every request body: .flux/ is the owner's alone.
    let tightened = crate::store::secure_state_dir(&layout.state_dir())
        .map_err(|e| CliError::failure(e.to_string()))?;
    if !tightened.is_empty() {
        eprintln!(
            "note: {} was readable by other users; it and its files are now yours alone (0700/0600)",
            layout.state_dir().display()
        );
    }
    let mut lock = acquire_lock(&layout)?;
    // The identity its server reports, so that commands can tell it from another project's.
    if let Err(e) = crate::client::identity::load_or_create(&layout) {
        eprintln!("warning: {e}: commands cannot tell this project's server from another's");
    }
    let config = load_config(&layout.config_path()).map_err(|e| {
        CliError::failure(e.to_string()).with_hint("fix flux.config.ts and start flux dev again")
    })?;
    let (store, checked) =
        Store::open_checked(&layout.store_path()).map_err(|e| store_error(e, &layout))?;
    if checked == Checked::Partly {
        eprintln!(
            "note: {} is too large to check fully at every start; 'flux store check' checks all of it",
            layout.store_path().display()
        );
    }
    let mut conn = store.connect().map_err(|e| store_error(e, &layout))?;
    let migrations = apply_migrations(&mut conn, &layout.migrations_dir())
        .map_err(|e| store_error(e, &layout))?;
    drop(conn);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("flux-io")
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(
        args,
        token,
        layout,
        store,
        config,
        migrations.applied,
        &mut lock,
    ))
}

async fn serve(
    args: &DevArgs,
    token: Option<String>,
    layout: Layout,
    store: Store,
    config: crate::project::Config,
    applied: Vec<String>,
    lock: &mut ProjectLock,
) -> Result<(), CliError> {
    // Bounded: when the store thread falls behind, executions wait instead of memory growing.
    let (records_tx, records_rx) = crossbeam_channel::bounded(RECORD_BACKLOG);
    let (waker, inbox) = StoreThread::channel();
    let queue = DispatcherHandle::new(waker);
    let (writer, sql_calls) = writer_channel();
    let http_engines = config.http.concurrency;
    let grace = config.shutdown_grace();
    let retention = config.retention;
    let shared = Arc::new(Shared::new(
        layout.clone(),
        store.clone(),
        config,
        records_tx,
        writer,
        tokio::runtime::Handle::current(),
        queue.clone(),
    ));
    let engine = Engine::start(Arc::clone(&shared), http_engines, "http")
        .map_err(|e| CliError::failure(format!("cannot start the JS engines: {e}")))?;
    // Printing has its own thread: a stdout nobody reads must not hold the store thread.
    let printer = ExecutionPrinter::start(args.quiet);
    let print = printer.sender();
    let store_thread = start_store_thread(
        &shared,
        inbox,
        records_rx,
        sql_calls,
        Box::new(move |writes, _| print(writes)),
    )
    .map_err(|e| CliError::failure(format!("cannot start the job queue: {e}")))?;

    let address = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&address).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("another program uses port {}: pass --port N", args.port)
        } else {
            "check --host and --port".to_string()
        };
        CliError::failure(format!("cannot listen on {address}: {e}")).with_hint(hint)
    })?;
    let local: SocketAddr = listener
        .local_addr()
        .map_err(|e| CliError::failure(format!("cannot read the listening address: {e}")))?;
    let url = format!("http://{local}");
    let info = ServerInfo {
        url: url.clone(),
        pid: std::process::id(),
        token: token.clone(),
    };
    lock.record(&info);
    let info_json = serde_json::to_string_pretty(&info).unwrap_or_default();
    // It may hold the token: created owner-only.
    crate::store::write_private(&layout.server_file(), info_json.as_bytes())
        .map_err(|e| CliError::failure(e.to_string()))?;

    print_banner(&layout, &url, &shared.functions(), &applied, &retention);

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = start_watcher(Arc::clone(&shared), Arc::clone(&stop));
    let pruner = start_maintenance(store.clone(), retention, Arc::clone(&stop));

    let state = Arc::new(AppState::new(Arc::clone(&shared), engine, token));
    let app = router(Arc::clone(&state));
    let shutdown_shared = Arc::clone(&shared);
    let server_config = shared.config().server.clone();
    let limits = ConnectionLimits {
        max_connections: server_config.max_connections,
        header_timeout: server_config.header_timeout,
    };
    crate::server::serve(listener, app, limits, async move {
        wait_for_signal().await;
        eprintln!(
            "\nstopping: in-flight executions get {} to finish",
            humantime::format_duration(grace)
        );
        shutdown_shared.queue.pause();
        shutdown_shared.begin_stop(grace);
    })
    .await;

    stop.store(true, Ordering::SeqCst);
    // HTTP engines finish what they were given; then the store thread lets job attempts end
    // and stores every record still on its way.
    if let Ok(state) = Arc::try_unwrap(state) {
        let engine = state.engine;
        let _ = tokio::task::spawn_blocking(move || engine.stop()).await;
    }
    let _ = tokio::task::spawn_blocking(move || store_thread.stop()).await;
    let _ = tokio::task::spawn_blocking(move || printer.finish()).await;
    drop(watcher);
    if let Some(pruner) = pruner {
        let _ = tokio::task::spawn_blocking(move || pruner.join()).await;
    }
    // Leave a small WAL behind: fold it into the database file.
    if let Ok(conn) = store.connect() {
        let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    drop(shared);
    let _ = std::fs::remove_file(layout.server_file());
    eprintln!(
        "flux dev stopped; records are kept in {}",
        layout.store_path().display()
    );
    Ok(())
}

/// Puts back the job attempts a killed `flux dev` left running, starts the job engines, then
/// the store thread with the queue's dispatcher handing them due jobs; what commits goes to
/// `flux tail` and to `print`.
fn start_store_thread(
    shared: &Arc<Shared>,
    inbox: Inbox,
    records: crossbeam_channel::Receiver<StoreWrite>,
    calls: crossbeam_channel::Receiver<SqlCall>,
    print: crate::store::OnCommitted,
) -> Result<StoreThread, String> {
    let mut batch = Batch::new(&shared.store).map_err(|e| e.to_string())?;
    recover_attempts(&mut batch).map_err(|e| e.to_string())?;
    let engines = JobEngines::start(Arc::clone(shared), shared.config().queue.concurrency)
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
        vec![tail_feed(shared.tail.clone()), print],
    )
    .map_err(|e| e.to_string())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn relative(layout: &Layout, path: &Path) -> String {
    path.strip_prefix(&layout.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn print_banner(
    layout: &Layout,
    url: &str,
    functions: &FunctionTable,
    applied: &[String],
    retention: &crate::store::Retention,
) {
    eprintln!("flux dev {}", env!("CARGO_PKG_VERSION"));
    eprintln!("  project    {}", layout.root.display());
    eprintln!("  listening  {url}");
    if functions.functions.is_empty() {
        eprintln!("  functions  none yet: add functions/<name>.ts");
    }
    for (i, (name, file)) in functions.functions.iter().enumerate() {
        let label = if i == 0 { "functions" } else { "" };
        eprintln!("  {label:<9}  /{name:<24} functions/{}", file.module);
    }
    for name in applied {
        eprintln!("  migrated   migrations/{name}");
    }
    eprintln!(
        "  state      {} (records kept {} / {}, the last {} always)",
        relative(layout, &layout.store_path()),
        humantime::format_duration(retention.max_age),
        bytesize::ByteSize::b(retention.max_bytes),
        humantime::format_duration(retention.min_age)
    );
    eprintln!();
}

/// Frames past which a fully copied WAL is restarted from its beginning (4 MB of 4 KiB pages).
const WAL_RESTART_FRAMES: i64 = 1_000;

/// How long a checkpoint that must wait for readers (RESTART, TRUNCATE) waits before it gives
/// up until next time, holding writers meanwhile.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(100);

/// How often flux's size is compared with `retention.maxSize` (a page count; a full measure
/// only when it may be over), and records are pruned by age.
const SIZE_CHECK_EVERY: Duration = Duration::from_secs(1);
const AGE_PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Copies the WAL into the database without blocking anyone, and once it is all copied and
/// large, restarts it: writers then reuse the file's blocks instead of growing it, which the
/// filesystem would zero-fill page by page. `truncate` also cuts the file back to nothing
/// (after pruning, which writes a lot).
fn checkpoint(conn: &rusqlite::Connection, store: &Store, truncate: bool) {
    let frames = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        })
    };
    if let Ok((log, copied)) = frames("PASSIVE") {
        if truncate || (log > WAL_RESTART_FRAMES && copied == log) {
            let _guard = store.write_lock().lock();
            // Readers may hold it up: wait for them only briefly, writers are waiting too.
            let _ = conn.busy_timeout(CHECKPOINT_WAIT);
            let _ = frames(if truncate { "TRUNCATE" } else { "RESTART" });
            let _ = conn.busy_timeout(crate::store::BUSY_TIMEOUT);
        }
    }
}

/// Store upkeep off the request path: WAL checkpoints every 100 ms (writers never checkpoint
/// themselves, see `Store::connect`), pruning for size every second and by age every minute,
/// each in small transactions.
fn start_maintenance(
    store: Store,
    retention: crate::store::Retention,
    stop: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("flux-maintenance".into())
        .spawn(move || {
            let Ok(conn) = store.connect() else { return };
            let mut size_watch = SizeWatch::default();
            let mut next_size_check = std::time::Instant::now();
            let mut next_age_prune = std::time::Instant::now() + Duration::from_secs(5);
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let now = std::time::Instant::now();
                let mut pruned = 0;
                if now >= next_age_prune {
                    next_age_prune = now + AGE_PRUNE_EVERY;
                    match prune(&conn, &retention, now_us(), store.write_lock()) {
                        Ok(n) => pruned += n,
                        Err(e) => eprintln!("warning: pruning old records failed: {e}"),
                    }
                }
                if now >= next_size_check {
                    next_size_check = now + SIZE_CHECK_EVERY;
                    let lock = store.write_lock();
                    match prune_to_size(&conn, &retention, now_us(), lock, &mut size_watch) {
                        Ok(n) => pruned += n,
                        Err(e) => {
                            eprintln!("warning: pruning records over retention.maxSize failed: {e}")
                        }
                    }
                }
                checkpoint(&conn, &store, pruned > 0);
            }
        })
        .ok()
}

/// Watches the project: code changes reload functions, a config change reloads the config,
/// a new migration is applied. Errors are shown; the server keeps running.
/// Whether a top-level folder of the project holds code or content worth watching: not the
/// store (every write to it would wake the watcher), not dependencies, not hidden folders.
fn worth_watching(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.is_dir() && !name.starts_with('.') && name != "node_modules" && name != "target"
}

type SharedWatcher = Arc<std::sync::Mutex<notify::RecommendedWatcher>>;

fn start_watcher(shared: Arc<Shared>, stop: Arc<AtomicBool>) -> Option<SharedWatcher> {
    let (tx, rx) = crossbeam_channel::unbounded::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading a file (as the config reload does) must not look like a change.
        let is_change = |kind: &notify::EventKind| {
            matches!(kind, notify::EventKind::Create(_) | notify::EventKind::Remove(_))
                || matches!(kind, notify::EventKind::Modify(m) if !matches!(m, notify::event::ModifyKind::Metadata(_)))
        };
        match event {
            Ok(event) if is_change(&event.kind) => {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
            _ => {}
        }
    })
    .ok()?;
    let root = shared.layout.root.clone();
    if let Err(e) = watcher.watch(&root, RecursiveMode::NonRecursive) {
        eprintln!(
            "warning: cannot watch {} for changes ({e}); restart flux dev after edits",
            root.display()
        );
        return None;
    }
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if worth_watching(&entry.path()) {
            let _ = watcher.watch(&entry.path(), RecursiveMode::Recursive);
        }
    }
    let watcher = Arc::new(std::sync::Mutex::new(watcher));
    let adder = Arc::clone(&watcher);
    std::thread::Builder::new()
        .name("flux-watcher".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok(first) = rx.recv_timeout(Duration::from_millis(200)) else {
                    continue;
                };
                let mut changed = BTreeSet::from([first]);
                // Editors write in bursts: take the whole burst as one change.
                while let Ok(path) = rx.recv_timeout(Duration::from_millis(30)) {
                    changed.insert(path);
                }
                for path in &changed {
                    // A folder created at the top of the project is watched from now on.
                    if path.parent() == Some(root.as_path()) && worth_watching(path) {
                        if let Ok(mut watcher) = adder.lock() {
                            let _ = watcher.watch(path, RecursiveMode::Recursive);
                        }
                    }
                }
                let state_dir = shared.layout.state_dir();
                changed.retain(|p| {
                    !p.starts_with(&state_dir)
                        && !p.components().any(|c| c.as_os_str() == "node_modules")
                });
                // A bug in reloading must not end the watching: later edits still count.
                if !changed.is_empty()
                    && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        on_change(&shared, &changed)
                    }))
                    .is_err()
                {
                    eprintln!("✗ reloading after a change failed; keeping what was loaded before");
                }
            }
        })
        .ok()?;
    Some(watcher)
}

fn on_change(shared: &Shared, changed: &BTreeSet<PathBuf>) {
    let layout = &shared.layout;
    let before: BTreeSet<String> = shared.functions().functions.keys().cloned().collect();
    for path in changed {
        let name = relative(layout, path);
        let is_code = [".ts", ".js", ".mjs"].iter().any(|ext| name.ends_with(ext))
            && !name.ends_with(".d.ts");
        if is_code && path.is_file() && name != CONFIG_FILE {
            if let Ok(source) = std::fs::read_to_string(path) {
                let module = path
                    .strip_prefix(layout.functions_dir())
                    .map_or_else(|_| name.clone(), |p| p.display().to_string());
                if let Err(e) = strip_types(&module, &source) {
                    eprintln!(
                        "✗ {name}:{}:{}: {} — requests to it fail until it is fixed",
                        e.line, e.column, e.message
                    );
                }
            }
        }
    }
    if let Some(table) = shared.rescan() {
        let after: BTreeSet<String> = table.functions.keys().cloned().collect();
        for added in after.difference(&before) {
            eprintln!("+ /{added} added");
        }
        for removed in before.difference(&after) {
            eprintln!("- /{removed} removed");
        }
        eprintln!("↻ reloaded (code version {})", table.code_version);
    }
    if changed.iter().any(|p| p == &layout.config_path()) {
        match load_config(&layout.config_path()) {
            Ok(config) => {
                shared.set_config(config);
                eprintln!("↻ {CONFIG_FILE} reloaded");
            }
            Err(e) => eprintln!("✗ {e} — keeping the previous config"),
        }
    }
    if changed
        .iter()
        .any(|p| p.starts_with(layout.migrations_dir()))
    {
        let result = shared.store.connect().and_then(|mut conn| {
            let _guard = shared.store.write_lock().lock();
            apply_migrations(&mut conn, &layout.migrations_dir())
        });
        match result {
            Ok(report) => {
                for name in report.applied {
                    eprintln!("✓ applied migrations/{name}");
                }
                for name in report.changed {
                    eprintln!("! migrations/{name} changed after it was applied; it is not run again (add a new migration instead)");
                }
            }
            Err(e) => eprintln!("✗ {e}"),
        }
    }
}
