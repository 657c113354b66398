//! Which files are functions and the URL path each one serves.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use super::type_only::is_type_only;

/// The files package managers rewrite at the end of every install (relative to the project
/// root; npm's, pnpm's, yarn's and yarn 1's): a change to one is a change to the packages.
pub const INSTALL_MARKS: [&str; 4] = [
    "node_modules/.package-lock.json",
    "node_modules/.modules.yaml",
    "node_modules/.yarn-state.yml",
    "node_modules/.yarn-integrity",
];

/// One servable function file.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionFile {
    /// The route name: `create_user`, `billing` (from `billing/index.ts`), `` for the root.
    pub name: String,
    /// The module name, relative to `functions/`: `create_user.ts`, `billing/index.ts`.
    pub module: String,
    pub path: PathBuf,
    pub modified: Option<SystemTime>,
    pub len: u64,
}

impl FunctionFile {
    /// Whether the file on disk still is what was scanned.
    pub fn is_current(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(meta) => meta.len() == self.len && meta.modified().ok() == self.modified,
            Err(_) => false,
        }
    }
}

/// The project's functions and a hash of all of its code.
#[derive(Debug, Clone, Default)]
pub struct FunctionTable {
    pub functions: BTreeMap<String, FunctionFile>,
    /// Changes whenever any source file of the project changes.
    pub code_version: String,
}

impl FunctionTable {
    pub fn scan(root: &Path) -> FunctionTable {
        let functions_dir = root.join("functions");
        let mut files = Vec::new();
        collect_files(&functions_dir, &mut files);
        let mut functions = BTreeMap::new();
        for path in &files {
            let Ok(relative) = path.strip_prefix(&functions_dir) else {
                continue;
            };
            let module = relative.to_string_lossy().replace('\\', "/");
            let Some(name) = route_name(&module) else {
                continue;
            };
            if std::fs::read_to_string(path).is_ok_and(|source| is_type_only(&source)) {
                continue;
            }
            let meta = std::fs::metadata(path).ok();
            let file = FunctionFile {
                name: name.clone(),
                module,
                path: path.clone(),
                modified: meta.as_ref().and_then(|m| m.modified().ok()),
                len: meta.map_or(0, |m| m.len()),
            };
            // `x.ts` (or `x.tsx`) wins over `x.js` when both exist.
            let keep_existing = functions.get(&name).is_some_and(|existing: &FunctionFile| {
                existing.module.ends_with(".ts") || existing.module.ends_with(".tsx")
            });
            if !keep_existing {
                functions.insert(name, file);
            }
        }
        let mut sources = Vec::new();
        collect_sources(root, &mut sources);
        sources.sort();
        let mut hasher = blake3::Hasher::new();
        for path in &sources {
            hasher.update(path.to_string_lossy().as_bytes());
            if let Ok(bytes) = std::fs::read(path) {
                hasher.update(&bytes);
            }
        }
        // Packages are code too, but node_modules is too large to hash: an install rewrites
        // its package manager's record of it.
        for mark in INSTALL_MARKS {
            if let Ok(bytes) = std::fs::read(root.join(mark)) {
                hasher.update(&bytes);
            }
        }
        FunctionTable {
            functions,
            code_version: hasher.finalize().to_hex()[..12].to_string(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&FunctionFile> {
        self.functions.get(name)
    }

    /// Names that look like `name`, best first, for "did you mean" hints.
    pub fn close_matches(&self, name: &str) -> Vec<String> {
        let mut scored: Vec<(f64, &String)> = self
            .functions
            .keys()
            .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
            .filter(|(score, _)| *score > 0.75)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
    }
}

fn is_source(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    SOURCE_EXTENSIONS.iter().any(|ext| name.ends_with(ext)) && !name.ends_with(".d.ts")
}

/// The extensions of the modules that can be functions.
pub const SOURCE_EXTENSIONS: [&str; 5] = [".ts", ".tsx", ".js", ".jsx", ".mjs"];

/// Source files under `dir` into `out`.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        match entry.file_type() {
            Ok(t) if t.is_dir() && !hidden => collect_files(&path, out),
            Ok(t) if t.is_file() && is_source(&path) => out.push(path),
            _ => {}
        }
    }
}

fn collect_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_sources(&path, out),
            // A JSON file a function imports is code too: a change reloads the engines.
            Ok(t) if t.is_file() && (is_source(&path) || name.ends_with(".json")) => out.push(path),
            _ => {}
        }
    }
}

/// Whether a module's path, whatever its extension, names a route: not a helper (a `_`
/// prefix on a file or folder), not a test (`x.test.ts`, `x.spec.ts`).
fn is_route(module: &str) -> bool {
    let file = module.rsplit('/').next().unwrap_or(module);
    let is_test = file
        .split('.')
        .skip(1)
        .any(|part| part == "test" || part == "spec");
    !module.split('/').any(|part| part.starts_with('_')) && !is_test
}

/// The route a module serves, or `None` for helper and test files (see [`is_route`]).
fn route_name(module: &str) -> Option<String> {
    let stem = SOURCE_EXTENSIONS
        .iter()
        .find_map(|ext| module.strip_suffix(ext))?;
    if !is_route(module) {
        return None;
    }
    let name = match stem.strip_suffix("index") {
        Some(folder) if folder.is_empty() || folder.ends_with('/') => {
            folder.trim_end_matches('/').to_string()
        }
        _ => stem.to_string(),
    };
    Some(name)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("the path '{0}' leaves the functions folder")]
    Traversal(String),
    #[error("the path '{0}' is not valid UTF-8 once decoded")]
    Encoding(String),
}

/// Turns a request path into a route name. Percent-escapes are decoded first, so that
/// `/%2e%2e/x` is refused like `/../x`.
pub fn route_for_path(path: &str) -> Result<String, RouteError> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| RouteError::Encoding(path.to_string()))?;
    if decoded.contains('\\') || decoded.contains('\0') {
        return Err(RouteError::Traversal(path.to_string()));
    }
    let mut parts = Vec::new();
    for component in Path::new(decoded.as_ref()).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(RouteError::Traversal(path.to_string()))
            }
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_folder_layout() {
        assert_eq!(route_name("create_user.ts").as_deref(), Some("create_user"));
        assert_eq!(route_name("billing/index.ts").as_deref(), Some("billing"));
        assert_eq!(route_name("index.ts").as_deref(), Some(""));
        assert_eq!(
            route_name("billing/charge.js").as_deref(),
            Some("billing/charge")
        );
        assert_eq!(route_name("_lib/db.ts"), None);
        assert_eq!(route_name("reindex.ts").as_deref(), Some("reindex"));
        assert_eq!(route_name("create_user.test.ts"), None);
        assert_eq!(route_name("billing/charge.spec.js"), None);
        assert_eq!(route_name("latest.ts").as_deref(), Some("latest"));
    }

    #[test]
    fn traversal_is_refused_even_when_encoded() {
        assert!(route_for_path("/../x").is_err());
        assert!(route_for_path("/%2e%2e/x").is_err());
        assert!(route_for_path("/a/%2E%2E/%2e%2e/etc/passwd").is_err());
        assert!(route_for_path("/a%5c..%5cx").is_err());
        assert_eq!(route_for_path("/billing/").as_deref(), Ok("billing"));
    }
}
