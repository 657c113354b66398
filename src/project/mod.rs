//! A user's project on disk: where things are, which functions it serves, its config.

mod config;
mod functions;
pub mod identity;
mod type_only;
mod workers;

use std::path::{Path, PathBuf};

pub use config::{
    Backoff, BackoffKind, Config, ConfigError, HttpConfig, QueueConfig, Retention, ServerConfig,
    WorkerConfig,
};
pub use functions::{
    route_for_path, FunctionFile, FunctionTable, RouteError, INSTALL_MARKS, SOURCE_EXTENSIONS,
};
pub use workers::{is_private_worker, worker_not_served, EnqueuedNames};

pub const CONFIG_FILE: &str = "flux.config.ts";

/// The folders of a project, all derived from its root.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    /// Local state: `root/.flux`, or the data folder of `flux serve`.
    state: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            state: root.join(".flux"),
        }
    }

    /// A project whose state is kept apart from its files (`flux serve`: the code is the
    /// deployed version's, the store is the server's).
    pub fn with_state_dir(root: &Path, state: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            state: state.to_path_buf(),
        }
    }

    pub fn functions_dir(&self) -> PathBuf {
        self.root.join("functions")
    }

    pub fn emails_dir(&self) -> PathBuf {
        self.root.join("emails")
    }

    pub fn migrations_dir(&self) -> PathBuf {
        self.root.join("migrations")
    }

    /// Local state: the store and the running server's address. Git-ignored.
    pub fn state_dir(&self) -> PathBuf {
        self.state.clone()
    }

    pub fn store_path(&self) -> PathBuf {
        self.state_dir().join("flux.db")
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// Written by `flux dev` while it runs: its address and pid.
    pub fn server_file(&self) -> PathBuf {
        self.state_dir().join("server.json")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.state_dir().join("dev.lock")
    }
}

/// Walks up from `start` to the nearest folder that looks like a flux project.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let is_project = dir.join(CONFIG_FILE).is_file()
            || dir.join("functions").is_dir()
            || dir.join(".flux").is_dir();
        is_project.then(|| dir.to_path_buf())
    })
}
