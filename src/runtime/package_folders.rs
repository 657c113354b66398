//! The folders of the npm packages the engines loaded, for `flux dev`'s watcher: node_modules
//! is not watched whole, but a package a function uses is, so that editing one of its files
//! (a patch, a local build) reloads the engines as a project file does.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

type Watch = Box<dyn Fn(&Path) + Send>;

#[derive(Default)]
struct Folders {
    loaded: HashSet<PathBuf>,
    /// Starts watching a folder, once the watcher is there.
    watch: Option<Watch>,
    /// How many changes to loaded packages were seen: part of the code version.
    edits: u64,
}

#[derive(Clone, Default)]
pub struct PackageFolders(Arc<Mutex<Folders>>);

impl PackageFolders {
    fn lock(&self) -> MutexGuard<'_, Folders> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A package in `folder` (its real path) was loaded: watched from now on, before the
    /// import returns, so that no edit after it goes unseen.
    pub fn loaded(&self, folder: &Path) {
        let mut folders = self.lock();
        if folders.loaded.insert(folder.to_path_buf()) {
            if let Some(watch) = &folders.watch {
                watch(folder);
            }
        }
    }

    /// Hands the watching to `watch`, for the folders loaded so far and those to come.
    pub fn watch_with(&self, watch: Watch) {
        let mut folders = self.lock();
        for folder in &folders.loaded {
            watch(folder);
        }
        folders.watch = Some(watch);
    }

    /// Whether `path` is inside a loaded package.
    pub fn contains(&self, path: &Path) -> bool {
        self.lock()
            .loaded
            .iter()
            .any(|folder| path.starts_with(folder))
    }

    /// A loaded package's file changed.
    pub fn edited(&self) {
        self.lock().edits += 1;
    }

    pub fn edits(&self) -> u64 {
        self.lock().edits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_loaded_before_and_after_the_watcher_are_watched_once() {
        let folders = PackageFolders::default();
        folders.loaded(Path::new("/p/node_modules/a"));
        let watched = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&watched);
        folders.watch_with(Box::new(move |f| {
            seen.lock().expect("lock").push(f.to_path_buf())
        }));
        folders.loaded(Path::new("/p/node_modules/b"));
        folders.loaded(Path::new("/p/node_modules/a"));
        assert_eq!(
            *watched.lock().expect("lock"),
            [
                PathBuf::from("/p/node_modules/a"),
                PathBuf::from("/p/node_modules/b")
            ]
        );
        assert!(folders.contains(Path::new("/p/node_modules/b/index.js")));
        assert!(!folders.contains(Path::new("/p/node_modules/c/index.js")));
    }
}
