//! The project's lock: one dev server per project folder. The lock file says who holds it.

use std::fs::File;
use std::path::Path;

use fs4::fs_std::FileExt;

use super::DevError;
use crate::client::ServerInfo;
use crate::project::Layout;

/// Who holds a project's lock, as its lock file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    /// Empty or missing while that server is still starting.
    pub url: Option<String>,
}

/// Holds the project's lock for as long as the dev server runs.
pub(super) struct ProjectLock {
    file: File,
}

impl ProjectLock {
    pub(super) fn record(&mut self, info: &ServerInfo) {
        use std::io::{Seek, Write};
        let holder = serde_json::json!({ "pid": info.pid, "url": info.url });
        let _ = self.file.set_len(0);
        let _ = self.file.rewind();
        let _ = self.file.write_all(holder.to_string().as_bytes());
    }
}

/// Who holds the lock, from the lock file itself.
fn lock_holder(path: &Path) -> Option<LockHolder> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pid = value.get("pid")?.as_u64()? as u32;
    Some(LockHolder {
        pid,
        url: value.get("url").and_then(|u| u.as_str()).map(String::from),
    })
}

pub(super) fn acquire_lock(layout: &Layout) -> Result<ProjectLock, DevError> {
    let path = layout.lock_file();
    let file = crate::store::create_private(&path, false).map_err(DevError::LockFile)?;
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
        _ => Err(DevError::Locked {
            root: layout.root.clone(),
            holder: lock_holder(&path),
        }),
    }
}
