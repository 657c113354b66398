//! The state folder holds every request body and, in `server.json`, the API's token: it is
//! the owner's alone (0700, its files 0600), from the moment each file is created.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file or folder of the state folder that could not be created or restricted.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {source}")]
pub struct PrivateFileError {
    action: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

fn failed(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PrivateFileError {
    let path = path.to_path_buf();
    move |source| PrivateFileError {
        action,
        path,
        source,
    }
}

/// Creates `dir` owner-only, or makes an existing one and the files in it owner-only.
/// Returns the paths whose modes were wider and had to be tightened.
pub fn secure_state_dir(dir: &Path) -> Result<Vec<PathBuf>, PrivateFileError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(failed("create", dir))?;
    let mut tightened = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut entries = vec![dir.to_path_buf()];
        let listing = std::fs::read_dir(dir).map_err(failed("read", dir))?;
        entries.extend(listing.flatten().map(|entry| entry.path()));
        for path in entries {
            // Not following links: a link's target is not ours to change.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                let private = std::fs::Permissions::from_mode(mode & 0o700);
                std::fs::set_permissions(&path, private).map_err(failed("restrict", &path))?;
                tightened.push(path);
            }
        }
    }
    Ok(tightened)
}

/// Opens `path` for writing, created owner-only (0600) if it does not exist.
pub fn create_private(path: &Path, truncate: bool) -> Result<File, PrivateFileError> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(failed("create", path))
}

/// Writes `contents` to `path`, a file only its owner can read at any moment.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), PrivateFileError> {
    let mut file = create_private(path, true)?;
    #[cfg(unix)]
    {
        // An older file may still be readable by others: restrict it before writing.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed("restrict", path))?;
    }
    file.write_all(contents).map_err(failed("write", path))
}
