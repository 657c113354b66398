//! `flux serve`'s versions: the active one materialised from the store's blobs into
//! `<data>/versions/<id>/`, its migrations applied, and `<data>/current` (the project root the
//! engines load from) switched to it, then the engines reloaded as `flux dev` reloads them
//! when code changes: executions in flight finish on the old code, new ones start on the new.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::notice::Notices;
use super::watch;
use crate::runtime::Shared;
use crate::server::Activation;
use crate::store::{apply_migrations, Storage, Store};
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
pub fn prepare_data(data: &Path, store: &Store) -> Result<Option<String>, DeployedError> {
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
}

impl Deployed {
    /// Starts running the version `<data>/current` points at (at start, or after a switch).
    pub fn run(&self, id: &str) {
        self.shared.set_deployed(version::short(id));
        let changed = BTreeSet::from([self.shared.layout.config_path()]);
        watch::on_change(&self.shared, &changed, &*self.notices);
    }
}

impl Activation for Deployed {
    fn prepare(&self, id: &str, manifest: &Manifest) -> Result<(), String> {
        let folder = materialise(&self.data, self.shared.storage.as_ref(), id, manifest)
            .map_err(|e| e.to_string())?;
        // flux serve runs on SQLite until it takes --database.
        let store = self
            .shared
            .backend
            .sqlite()
            .ok_or("deploys are served on SQLite only for now")?;
        let mut conn = store.connect().map_err(|e| e.to_string())?;
        let _guard = store.write_lock().lock();
        apply_migrations(&mut conn, &folder.join("migrations")).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn switch(&self, id: &str) {
        match point_current(&self.data, id) {
            Ok(()) => self.run(id),
            Err(e) => (self.notices)(super::Notice::DeployFailed(e.to_string())),
        }
    }

    fn active(&self) -> Option<String> {
        self.shared.deployed()
    }
}
