//! Compiled package modules (QuickJS bytecode), so that a new context (after a code change)
//! or a restart does not parse a large package graph such as `@faker-js/faker` again.
//!
//! Kept in memory for the process and in `.flux/cache/modules/<build>/` for restarts, keyed
//! by the file's module name, path, size and modification time. `<build>` names this very
//! binary (its version, size and modification time): bytecode is only ever read by the
//! QuickJS build that wrote it, and each file carries a checksum of its bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Once};
use std::time::UNIX_EPOCH;

use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Ctx, Module, Result};

/// This binary's identity: bytecode written by another build is never loaded.
static BUILD: LazyLock<String> = LazyLock::new(|| {
    let exe = std::env::current_exe().and_then(std::fs::metadata);
    let (len, modified) = match exe {
        Ok(meta) => (meta.len(), nanos(meta.modified().ok())),
        // Not knowing the binary, every process has its own build: nothing is shared.
        Err(_) => (0, u128::from(std::process::id())),
    };
    let id = format!("{}:{len}:{modified}", env!("CARGO_PKG_VERSION"));
    blake3::hash(id.as_bytes()).to_hex()[..16].to_string()
});

/// Bytecode already read or written by this process, by key.
static MEMORY: LazyLock<Mutex<HashMap<String, Arc<Vec<u8>>>>> = LazyLock::new(Mutex::default);

/// Other builds' folders are removed once per process, when this one first writes.
static PRUNE: Once = Once::new();

fn nanos(time: Option<std::time::SystemTime>) -> u128 {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

fn cache_dir(root: &Path) -> PathBuf {
    root.join(".flux").join("cache").join("modules")
}

/// The key of module `name` at `path` as the file is now; `None` if it cannot be read.
fn key(name: &str, path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let id = format!(
        "{}\0{name}\0{}\0{}\0{}",
        *BUILD,
        path.display(),
        meta.len(),
        nanos(meta.modified().ok())
    );
    Some(blake3::hash(id.as_bytes()).to_hex().to_string())
}

/// The bytecode stored under `key`: from memory, or from disk when its checksum holds.
fn lookup(root: &Path, key: &str) -> Option<Arc<Vec<u8>>> {
    if let Some(bytes) = MEMORY.lock().ok()?.get(key) {
        return Some(Arc::clone(bytes));
    }
    let file = std::fs::read(cache_dir(root).join(&*BUILD).join(key)).ok()?;
    let (sum, bytes) = file.split_at_checked(32)?;
    if blake3::hash(bytes).as_bytes() != sum {
        return None;
    }
    let bytes = Arc::new(bytes.to_vec());
    MEMORY
        .lock()
        .ok()?
        .insert(key.to_string(), Arc::clone(&bytes));
    Some(bytes)
}

/// Keeps `bytes` under `key`, in memory and on disk (written whole, then renamed into place,
/// so that a reader never sees part of a file). A failure to write only costs speed.
fn store(root: &Path, key: &str, bytes: Vec<u8>) {
    let dir = cache_dir(root);
    PRUNE.call_once(|| {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_name() != BUILD.as_str() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    let build_dir = dir.join(&*BUILD);
    let mut file = blake3::hash(&bytes).as_bytes().to_vec();
    file.extend_from_slice(&bytes);
    let temporary = build_dir.join(format!("{key}.{}.tmp", std::process::id()));
    let written = std::fs::create_dir_all(&build_dir)
        .and_then(|()| std::fs::write(&temporary, &file))
        .and_then(|()| std::fs::rename(&temporary, build_dir.join(key)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    if let Ok(mut memory) = MEMORY.lock() {
        memory.insert(key.to_string(), Arc::new(bytes));
    }
}

/// Declares ES module `name` (file `path`, JavaScript `code`) from its cached bytecode, or
/// compiles it and caches the bytecode.
pub fn declare<'js>(
    ctx: &Ctx<'js>,
    root: &Path,
    name: &str,
    path: &Path,
    code: String,
) -> Result<Module<'js, Declared>> {
    let Some(key) = key(name, path) else {
        return Module::declare(ctx.clone(), name, code);
    };
    if let Some(bytes) = lookup(root, &key) {
        // SAFETY: the bytes were written by this build of QuickJS (the key names the binary)
        // and are whole (the checksum holds).
        if let Ok(module) = unsafe { Module::load(ctx.clone(), &bytes) } {
            return Ok(module);
        }
        // What QuickJS refused is compiled afresh; its exception is dropped.
        let _ = ctx.catch();
    }
    let module = Module::declare(ctx.clone(), name, code)?;
    if let Ok(bytes) = module.write(WriteOptions::default()) {
        store(root, &key, bytes);
    }
    Ok(module)
}
