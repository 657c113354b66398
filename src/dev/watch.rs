//! Watches the project: code changes reload functions, a config change reloads the config,
//! a new migration is applied. Errors are told (as [`Notice`]s); the server keeps running.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::notice::{Notice, Notices};
use crate::clock::now_us;
use crate::project::{
    Config, FunctionTable, Layout, CONFIG_FILE, INSTALL_MARKS, SOURCE_EXTENSIONS,
};
use crate::runtime::{load_config, to_javascript, Backend, JsxOptions, Shared};
use crate::store::{apply_migrations, StatsRow};

/// How long the watching thread waits for a change before it looks at its stop flag again.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Changes this close together are one burst (editors write in bursts).
const BURST_GAP: Duration = Duration::from_millis(30);

/// The watcher and its thread; dropping it stops both.
pub struct ProjectWatch {
    _watcher: Arc<Mutex<notify::RecommendedWatcher>>,
    stop: Arc<AtomicBool>,
}

impl Drop for ProjectWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Whether a top-level folder of the project holds code or content worth watching: not the
/// store (every write to it would wake the watcher), not dependencies, not hidden folders.
fn worth_watching(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.is_dir() && !name.starts_with('.') && name != "node_modules" && name != "target"
}

/// Watches the project's node_modules, if it has one: not whole (tens of thousands of files),
/// only its top level, where a package manager rewrites its record at the end of every
/// install (INSTALL_MARKS).
fn watch_node_modules(watcher: &mut impl Watcher, root: &Path) {
    let _ = watcher.watch(&root.join("node_modules"), RecursiveMode::NonRecursive);
}

fn relative(layout: &Layout, path: &Path) -> String {
    path.strip_prefix(&layout.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Starts watching the project of `shared`; `None` when it cannot be watched (then edits need
/// a restart, which `notices` is told when the cause is known).
pub fn start(shared: Arc<Shared>, notices: Notices) -> Option<ProjectWatch> {
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
    if let Err(error) = watcher.watch(&root, RecursiveMode::NonRecursive) {
        notices(Notice::CannotWatch { root, error });
        return None;
    }
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if worth_watching(&entry.path()) {
            let _ = watcher.watch(&entry.path(), RecursiveMode::Recursive);
        }
    }
    watch_node_modules(&mut watcher, &root);
    let watcher = Arc::new(Mutex::new(watcher));
    let adder = Arc::clone(&watcher);
    // The packages the engines load are watched as they load.
    let package_watcher = Arc::clone(&watcher);
    shared.package_folders.watch_with(Box::new(move |folder| {
        if let Ok(mut watcher) = package_watcher.lock() {
            let _ = watcher.watch(folder, RecursiveMode::Recursive);
        }
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("flux-watcher".into())
        .spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let Ok(first) = rx.recv_timeout(STOP_POLL) else {
                    continue;
                };
                let mut changed = BTreeSet::from([first]);
                // Editors write in bursts: take the whole burst as one change.
                while let Ok(path) = rx.recv_timeout(BURST_GAP) {
                    changed.insert(path);
                }
                for path in &changed {
                    // A folder created at the top of the project is watched from now on.
                    if path.parent() == Some(root.as_path()) && worth_watching(path) {
                        if let Ok(mut watcher) = adder.lock() {
                            let _ = watcher.watch(path, RecursiveMode::Recursive);
                        }
                    }
                    if path == &root.join("node_modules") && path.is_dir() {
                        if let Ok(mut watcher) = adder.lock() {
                            watch_node_modules(&mut *watcher, &root);
                        }
                    }
                }
                let state_dir = shared.layout.state_dir();
                let folders = &shared.package_folders;
                if changed.iter().any(|p| folders.contains(p)) {
                    folders.edited();
                }
                changed.retain(|p| {
                    !p.starts_with(&state_dir)
                        && (INSTALL_MARKS.iter().any(|mark| p == &root.join(mark))
                            || folders.contains(p)
                            || !p.components().any(|c| c.as_os_str() == "node_modules"))
                });
                // A bug in reloading must not end the watching: later edits still count.
                if !changed.is_empty()
                    && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        on_change(&shared, &changed, &*notices)
                    }))
                    .is_err()
                {
                    notices(Notice::ReloadFailed);
                }
            }
        })
        .ok()?;
    Some(ProjectWatch {
        _watcher: watcher,
        stop,
    })
}

pub(super) fn on_change(
    shared: &Shared,
    changed: &BTreeSet<PathBuf>,
    notices: &(dyn Fn(Notice) + Send + Sync),
) {
    let layout = &shared.layout;
    let before: BTreeSet<String> = shared.functions().functions.keys().cloned().collect();
    // The project's JSX options, read once for the burst if a changed file needs them.
    let jsx = std::cell::OnceCell::new();
    for path in changed {
        let name = relative(layout, path);
        let is_code =
            SOURCE_EXTENSIONS.iter().any(|ext| name.ends_with(ext)) && !name.ends_with(".d.ts");
        // A package's code is its own: its syntax is not the project's to report.
        let package = shared.package_folders.contains(path);
        if is_code && path.is_file() && name != CONFIG_FILE && !package {
            if let Ok(source) = std::fs::read_to_string(path) {
                let module = path
                    .strip_prefix(layout.functions_dir())
                    .map_or_else(|_| name.clone(), |p| p.display().to_string());
                let jsx = jsx.get_or_init(|| JsxOptions::of_project(&layout.root));
                if let Err(error) = to_javascript(&module, &source, jsx) {
                    notices(Notice::Syntax { file: name, error });
                }
            }
        }
    }
    if let Some(table) = shared.rescan() {
        let after: BTreeSet<String> = table.functions.keys().cloned().collect();
        for added in after.difference(&before) {
            notices(Notice::FunctionAdded {
                name: added.clone(),
            });
        }
        let removed: Vec<String> = before.difference(&after).cloned().collect();
        for name in &removed {
            notices(Notice::FunctionRemoved { name: name.clone() });
        }
        if !removed.is_empty() {
            if let Ok(stats) = shared.storage.job_stats(now_us()) {
                warn_missing_workers(&stats, &table, Some(&removed), notices);
            }
        }
        notices(Notice::Reloaded {
            code_version: table.code_version.clone(),
        });
    }
    if changed.iter().any(|p| p == &layout.config_path()) {
        match load_config(&layout.config_path()) {
            Ok(config) => {
                let keys = shared.config().changed_at_start_only(&config);
                let table = shared.functions();
                shared.set_config(config);
                notices(Notice::ConfigReloaded);
                if !keys.is_empty() {
                    notices(Notice::ConfigNeedsRestart { keys });
                }
                warn_unknown_workers(&shared.config(), &table, notices);
            }
            Err(e) => notices(Notice::ConfigRejected(e)),
        }
    }
    if changed
        .iter()
        .any(|p| p.starts_with(layout.migrations_dir()))
    {
        let result = match &shared.backend {
            Backend::Sqlite(store) => store.connect().and_then(|mut conn| {
                let _guard = store.write_lock().lock();
                apply_migrations(&mut conn, &layout.migrations_dir())
            }),
            Backend::Postgres(store) => store.apply_migrations(&layout.migrations_dir()),
        };
        match result {
            Ok(report) => {
                for name in report.applied {
                    notices(Notice::MigrationApplied { name });
                }
                for name in report.changed {
                    notices(Notice::MigrationChanged { name });
                }
            }
            Err(e) => notices(Notice::MigrationFailed(e)),
        }
    }
}

/// Tells of each `workers.<name>` in `config` that names no function, with the closest name.
pub fn warn_unknown_workers(
    config: &Config,
    table: &FunctionTable,
    notices: &(dyn Fn(Notice) + Send + Sync),
) {
    for name in config.workers.keys() {
        if table.get(name).is_none() {
            notices(Notice::WorkerConfigUnknown {
                name: name.clone(),
                closest: table.close_matches(name).into_iter().next(),
            });
        }
    }
}

/// Tells of jobs waiting for a worker with no function (of those in `only`, when given).
pub fn warn_missing_workers(
    stats: &[StatsRow],
    table: &FunctionTable,
    only: Option<&[String]>,
    notices: &(dyn Fn(Notice) + Send + Sync),
) {
    for row in stats {
        let waiting = row.pending + row.scheduled;
        let asked = only.is_none_or(|names| names.contains(&row.function));
        if waiting > 0 && asked && table.get(&row.function).is_none() {
            notices(Notice::WorkerMissing {
                name: row.function.clone(),
                waiting,
            });
        }
    }
}
