//! What the dev server has to tell its user while it starts and runs, as data: `flux dev`
//! prints it (cli/dev_output.rs), a test can wait for it.

use std::path::PathBuf;

use crate::project::identity::IdentityError;
use crate::queue::Recovered;
use crate::runtime::{ConfigLoadError, Echo, SyntaxError};
use crate::store::maintenance::MaintenanceError;
use crate::store::StoreError;

/// One thing worth telling; see [`super::DevOptions::notices`].
#[derive(Debug)]
pub enum Notice {
    /// Job attempts the last stop cut short were put back to run again.
    AttemptsRecovered(Recovered),
    /// What a running execution shows: a console line, a captured email.
    Echo(Echo),
    /// The server listens beyond loopback and no token was given: this one is required.
    TokenMadeUp {
        token: String,
    },
    /// The state folder was readable by others; it and its files were made the owner's alone.
    StateDirTightened {
        dir: PathBuf,
    },
    /// The project's id could not be written: commands cannot tell its server from another's.
    NoIdentity(IdentityError),
    /// The store is too large to be checked fully at every start.
    StorePartlyChecked {
        store: PathBuf,
    },
    /// A pruning run failed; the next one tries again.
    Maintenance(MaintenanceError),
    /// The project folder cannot be watched: edits need a restart.
    CannotWatch {
        root: PathBuf,
        error: notify::Error,
    },
    /// A changed source file does not parse (`file` relative to the project).
    Syntax {
        file: String,
        error: SyntaxError,
    },
    FunctionAdded {
        name: String,
    },
    FunctionRemoved {
        name: String,
    },
    /// The functions were rescanned after a change.
    Reloaded {
        code_version: String,
    },
    ConfigReloaded,
    /// Reloaded keys that are read only at start: they take effect after a restart.
    ConfigNeedsRestart {
        keys: Vec<&'static str>,
    },
    /// `workers.<name>` in the config names no function; `closest` is the nearest that exists.
    WorkerConfigUnknown {
        name: String,
        closest: Option<String>,
    },
    /// Jobs wait for a worker whose file is gone (removed or renamed): they stay pending
    /// until it is back.
    WorkerMissing {
        name: String,
        waiting: u64,
    },
    /// The changed config was refused; the previous one stays.
    ConfigRejected(ConfigLoadError),
    MigrationApplied {
        name: String,
    },
    /// An applied migration's file changed; it is not run again.
    MigrationChanged {
        name: String,
    },
    MigrationFailed(StoreError),
    /// `flux serve` could not switch to a deployed version; the one before keeps serving.
    DeployFailed(String),
    /// Reloading after a change panicked; what was loaded before stays.
    ReloadFailed,
}

/// Where notices go: called on whichever thread has one.
pub type Notices = std::sync::Arc<dyn Fn(Notice) + Send + Sync>;
