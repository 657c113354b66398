//! `flux serve`'s versions: the active one materialised from the store's blobs into
//! `<data>/versions/<id>/`, its migrations applied, and `<data>/current` (the project root the
//! engines load from) switched to it, then the engines reloaded as `flux dev` reloads them
//! when code changes: executions in flight finish on the old code, new ones start on the new.
//! On a store shared by several processes (PostgreSQL), a [`Follower`] polls which version is
//! active and switches this process to one activated through another.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::notice::Notices;
use super::watch;
use crate::runtime::{Backend, Shared};
use crate::server::Activation;
use crate::store::{apply_migrations, Storage};
use crate::version::{self, Manifest};

/// The folder, under the data folder, that the engines load the project from: a symlink to
/// the active version's folder (or to an empty project before the first deploy).
pub const CURRENT: &str = "current";
const VERSIONS: &str = "versions";
/// What `current` names before the first deploy: a project with no functions.
const NONE: &str = "none";

#[derive(Debug, thiserror::Error)]
pub enum DeployedError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the store has no file {hash} of version {version}")]
    MissingBlob { version: String, hash: String },
    #[error("the store's file {hash} does not hash to its name")]
    BadBlob { hash: String },
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the stored manifest of version {version} cannot be read: {message}")]
    Manifest { version: String, message: String },
    #[error("{0}")]
    Migration(String),
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> DeployedError + '_ {
    move |source| DeployedError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Points `<data>/current` at `target` (a folder name under `versions/`) in one rename.
fn point_current(data: &Path, target: &str) -> Result<(), DeployedError> {
    let link = data.join(format!(".{CURRENT}.{:08x}", rand::random::<u32>()));
    let destination = Path::new(VERSIONS).join(target);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&destination, &link).map_err(write_error(&link))?;
    #[cfg(not(unix))]
    return Err(DeployedError::Write {
        path: link,
        source: std::io::Error::other("flux serve needs symlinks (a Unix system)"),
    });
    let current = data.join(CURRENT);
    std::fs::rename(&link, &current).map_err(write_error(&current))
}

/// Gets `<data>` ready for a server: the active version's files in place and `current`
/// pointing at them (or at an empty project); returns the active version's id.
pub fn prepare_data(data: &Path, store: &dyn Storage) -> Result<Option<String>, DeployedError> {
    let none = data.join(VERSIONS).join(NONE).join("functions");
    std::fs::create_dir_all(&none).map_err(write_error(&none))?;
    let active = store.active_version()?;
    let Some((row, manifest)) = active else {
        point_current(data, NONE)?;
        return Ok(None);
    };
    let manifest = parse(&row.id, &manifest)?;
    materialise(data, store, &row.id, &manifest)?;
    point_current(data, &row.id)?;
    Ok(Some(row.id))
}

fn parse(version: &str, manifest: &str) -> Result<Manifest, DeployedError> {
    serde_json::from_str(manifest).map_err(|e| DeployedError::Manifest {
        version: version.to_string(),
        message: e.to_string(),
    })
}

/// Writes version `id`'s files under `<data>/versions/<id>/` from the store's blobs, unless
/// they are there already (a folder appears whole: written aside, then renamed).
fn materialise(
    data: &Path,
    storage: &dyn Storage,
    id: &str,
    manifest: &Manifest,
) -> Result<PathBuf, DeployedError> {
    let folder = data.join(VERSIONS).join(id);
    if folder.is_dir() {
        return Ok(folder);
    }
    let aside = data
        .join(VERSIONS)
        .join(format!(".{id}.{:08x}", rand::random::<u32>()));
    let written = write_files(storage, id, manifest, &aside);
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&aside);
    }
    written?;
    std::fs::create_dir_all(aside.join("functions")).map_err(write_error(&aside))?;
    if let Err(e) = std::fs::rename(&aside, &folder) {
        // Another process sharing the data folder wrote the same version first.
        let _ = std::fs::remove_dir_all(&aside);
        if !folder.is_dir() {
            return Err(write_error(&folder)(e));
        }
    }
    Ok(folder)
}

/// Writes version `id`'s files under `aside`, each checked against its hash.
fn write_files(
    storage: &dyn Storage,
    id: &str,
    manifest: &Manifest,
    aside: &Path,
) -> Result<(), DeployedError> {
    for file in &manifest.files {
        let bytes = storage
            .blob(&file.hash)?
            .ok_or_else(|| DeployedError::MissingBlob {
                version: id.to_string(),
                hash: file.hash.clone(),
            })?;
        if version::hash_bytes(&bytes) != file.hash {
            return Err(DeployedError::BadBlob {
                hash: file.hash.clone(),
            });
        }
        let path = aside.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error(parent))?;
        }
        std::fs::write(&path, bytes).map_err(write_error(&path))?;
    }
    Ok(())
}

/// The [`Activation`] of a `flux serve`.
pub struct Deployed {
    pub data: PathBuf,
    pub shared: Arc<Shared>,
    pub notices: Notices,
    /// The full id of the version running (`None` before the first deploy); held while a
    /// switch is made, so a deploy received here and the follower never switch at once.
    running: Mutex<Option<String>>,
}

impl Deployed {
    /// `running` is the version [`prepare_data`] put in place.
    pub fn new(
        data: PathBuf,
        shared: Arc<Shared>,
        notices: Notices,
        running: Option<String>,
    ) -> Deployed {
        Deployed {
            data,
            shared,
            notices,
            running: Mutex::new(running),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts running the version `<data>/current` points at (at start, or after a switch).
    pub fn run(&self, id: &str) {
        self.shared.set_deployed(version::short(id));
        let changed = BTreeSet::from([self.shared.layout.config_path()]);
        watch::on_change(&self.shared, &changed, &*self.notices);
    }

    /// Switches to version `id` unless it runs already: `current` repointed, then the engines
    /// reloaded (executions in flight finish on the code they started with).
    fn switch_to(&self, id: &str) -> Result<(), DeployedError> {
        let mut running = self.running();
        if running.as_deref() == Some(id) {
            return Ok(());
        }
        point_current(&self.data, id)?;
        *running = Some(id.to_string());
        self.run(id);
        Ok(())
    }

    /// Runs the store's active version if it is not the one running: a deploy or rollback
    /// made through another process sharing the store. Its migrations ran there before it
    /// became active, so applying them here finds each file done (one short transaction
    /// each); they are applied all the same for a version activated by a process that does
    /// not run versions (a `flux dev` on the same database).
    fn catch_up(&self) -> Result<(), DeployedError> {
        let storage = self.shared.storage.as_ref();
        let Some(active) = storage.active_version_id()? else {
            return Ok(());
        };
        if self.running().as_deref() == Some(active.as_str()) {
            return Ok(());
        }
        let manifest =
            storage
                .version_manifest(&active)?
                .ok_or_else(|| DeployedError::Manifest {
                    version: active.clone(),
                    message: "it is not in the store".into(),
                })?;
        let folder = materialise(&self.data, storage, &active, &parse(&active, &manifest)?)?;
        self.migrate(&folder).map_err(DeployedError::Migration)?;
        self.switch_to(&active)
    }

    /// Applies the migrations of the version written out in `folder`.
    fn migrate(&self, folder: &Path) -> Result<(), String> {
        let migrations = folder.join("migrations");
        match &self.shared.backend {
            Backend::Sqlite(store) => {
                let mut conn = store.connect().map_err(|e| e.to_string())?;
                let _guard = store.write_lock().lock();
                apply_migrations(&mut conn, &migrations).map_err(|e| e.to_string())?;
            }
            // Each file once across the processes sharing the database, under its advisory
            // lock, as the sandbox role (the tables it makes are the functions' and captured);
            // a failing one is rolled back and refuses the version everywhere, since it never
            // becomes active.
            Backend::Postgres(store) => {
                store
                    .apply_migrations(&migrations)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

impl Activation for Deployed {
    fn prepare(&self, id: &str, manifest: &Manifest) -> Result<(), String> {
        let folder = materialise(&self.data, self.shared.storage.as_ref(), id, manifest)
            .map_err(|e| e.to_string())?;
        self.migrate(&folder)
    }

    fn switch(&self, id: &str) {
        if let Err(e) = self.switch_to(id) {
            (self.notices)(super::Notice::DeployFailed(e.to_string()));
        }
    }

    fn active(&self) -> Option<String> {
        self.shared.deployed()
    }
}

/// How often a `flux serve` on a shared store asks which version is active.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// The thread that keeps a `flux serve` on the version the shared store has active;
/// [`Follower::stop`] ends it (dropping it does too, without waiting).
pub struct Follower {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    /// Polls the store every [`FOLLOW_EVERY`] and switches to a version another process made
    /// active. A failure is told once per version and tried again at the next poll.
    pub fn start(deployed: Arc<Deployed>) -> std::io::Result<Follower> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("flux-deploys".into())
            .spawn(move || {
                let mut told: Option<String> = None;
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(FOLLOW_EVERY)
                {
                    match deployed.catch_up() {
                        Ok(()) => told = None,
                        Err(e) => {
                            let message = e.to_string();
                            if told.as_ref() != Some(&message) {
                                (deployed.notices)(super::Notice::DeployFailed(message.clone()));
                                told = Some(message);
                            }
                        }
                    }
                }
            })?;
        Ok(Follower {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Ends the thread, after the switch in progress if any.
    pub fn stop(mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
