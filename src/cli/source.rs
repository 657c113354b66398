//! Where a read-only command's data comes from: the server, or — when none of this project's
//! answers — the project's store, read directly (a post-mortem with `flux dev` stopped).

use serde::de::DeserializeOwned;

use super::CliError;
use crate::client::{get, Answer, Target};
use crate::store::{Storage, Store, StoreError};

/// The project's store, when the command may read it instead of a server (see
/// [`Target::local_store_path`]); says so once when another project's server is at the
/// address.
pub fn local_store(target: &Target) -> Result<Option<Box<dyn Storage>>, CliError> {
    let Some(path) = target.local_store_path() else {
        return Ok(None);
    };
    let store = Store::open_existing(&path)?;
    if let Some(notice) = target.store_notice(&path) {
        eprintln!("note: {notice}");
    }
    Ok(Some(Box::new(store)))
}

/// Reads from the server, or from the project's store when none answers: how every read-only
/// command keeps working for a post-mortem with `flux dev` stopped.
pub fn read_or_store<B: DeserializeOwned, T>(
    target: &Target,
    path: &str,
    from_server: impl FnOnce(B) -> T,
    from_store: impl FnOnce(&dyn Storage) -> Result<T, StoreError>,
) -> Result<T, CliError> {
    match get(target, path)? {
        Answer::Ok(body) => Ok(from_server(body)),
        Answer::Status(status, message, _) => Err(CliError::refused(status, message)),
        Answer::Unreachable => {
            let Some(store) = local_store(target)? else {
                return Err(target.unreachable().into());
            };
            from_store(store.as_ref())
                .map_err(|e| CliError::failure(format!("reading {}: {e}", store.location())))
        }
    }
}

/// The error a command that changes `what` (the queue, the tokens) gives when no server of
/// this project runs: only a running server writes its store.
pub fn needs_server(target: &Target, what: &str) -> CliError {
    let start = if target.is_foreign() {
        target.start_hint()
    } else {
        "start 'flux dev' in your project".to_string()
    };
    CliError::unreachable(target.no_server_message()).with_hint(format!(
        "this command changes {what}, which only a running server does: {start}"
    ))
}
