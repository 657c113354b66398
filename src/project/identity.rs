//! A project's identity: a random id made once in `.flux/project-id`. Its server reports it
//! (`GET /_flux/api/health`), so a command run in the project can tell that server from
//! another project's answering on the same address.

use std::io::Write;
use std::path::PathBuf;

use crate::project::Layout;

/// Why the project's id could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct IdentityError {
    path: PathBuf,
    source: std::io::Error,
}

fn id_file(layout: &Layout) -> PathBuf {
    layout.state_dir().join("project-id")
}

fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The project's id, or `None` while it has none (no `flux dev` has run it yet).
pub fn read(layout: &Layout) -> Option<String> {
    let text = std::fs::read_to_string(id_file(layout)).ok()?;
    let id = text.trim();
    is_id(id).then(|| id.to_string())
}

/// The project's id, made now when it has none (or an unreadable one). Only `flux dev`
/// calls this, holding the project's lock, so no two processes make one at once; the file
/// appears whole (written aside, then renamed), so a reader never sees half an id.
pub fn load_or_create(layout: &Layout) -> Result<String, IdentityError> {
    if let Some(id) = read(layout) {
        return Ok(id);
    }
    let path = id_file(layout);
    let fail = |source| IdentityError {
        path: path.clone(),
        source,
    };
    let id = format!("{:032x}", rand::random::<u128>());
    let aside = path.with_extension("new");
    let mut options = std::fs::File::options();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&aside).map_err(fail)?;
    writeln!(file, "{id}").map_err(fail)?;
    drop(file);
    std::fs::rename(&aside, &path).map_err(fail)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.state_dir()).expect("state dir");
        assert_eq!(read(&layout), None);
        let id = load_or_create(&layout).expect("created");
        assert!(is_id(&id), "{id}");
        assert_eq!(load_or_create(&layout).expect("kept"), id);
        assert_eq!(read(&layout), Some(id));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(id_file(&layout))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_id_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.state_dir()).expect("state dir");
        std::fs::write(id_file(&layout), "not an id").expect("write");
        assert_eq!(read(&layout), None);
        let id = load_or_create(&layout).expect("replaced");
        assert_eq!(read(&layout), Some(id));
    }
}
