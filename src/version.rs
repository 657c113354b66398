//! A project as a content-addressed version (`flux deploy`): the files that make it run —
//! `functions/**`, the project modules they import, `migrations/*.sql`, `emails/*`,
//! `flux.config.ts`, `package.json`/`tsconfig.json`, and the `node_modules` packages the
//! code imports (found through the loader's resolver, each package's loadable files and its
//! own dependencies) — each a blob keyed by its SHA-256, listed in a manifest whose hash is
//! the version's id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::project::{Layout, CONFIG_FILE};
use crate::runtime::ImportLookup;
use crate::token::hex;

/// The largest file a version may hold: bigger ones are data or build output, not code.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Files of a package that the loader can load (and `package.json`, which says how).
const PACKAGE_EXTENSIONS: [&str; 5] = ["js", "mjs", "cjs", "json", "wasm"];

/// Project modules whose imports are followed.
const MODULE_EXTENSIONS: [&str; 6] = ["ts", "tsx", "js", "jsx", "mjs", "mts"];

/// Why a project cannot be made a version.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("{0} has no functions/ folder: not a flux project")]
    NotAProject(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is a symlink to a place outside the project")]
    SymlinkOutside { path: String },
    #[error("{path} is {}, more than a deployed file may be ({})", bytesize::ByteSize::b(*.size).display().iec(), bytesize::ByteSize::b(MAX_FILE_BYTES).display().iec())]
    TooLarge { path: String, size: u64 },
    #[error("{0}")]
    Import(String),
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// From the project root, `/`-separated.
    pub path: String,
    /// SHA-256, 64 hex characters.
    pub hash: String,
    pub size: u64,
}

/// A version's files, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    pub fn new(mut files: Vec<ManifestFile>) -> Manifest {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        Manifest { files }
    }

    /// The version's id: the SHA-256 of each file's path, hash and size, in path order.
    pub fn id(&self) -> String {
        let mut hasher = Sha256::new();
        for file in &self.files {
            hasher.update(format!("{}\0{}\0{}\n", file.path, file.hash, file.size));
        }
        hex(&hasher.finalize())
    }

    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Whether every path is one a project may hold (relative, no `..`): a manifest comes
    /// over the network and names where files are written.
    pub fn check_paths(&self) -> Result<(), String> {
        for file in &self.files {
            let path = Path::new(&file.path);
            let plain = !file.path.is_empty()
                && path.components().all(|c| matches!(c, Component::Normal(_)));
            if !plain || file.path.contains('\\') {
                return Err(format!("'{}' is not a path inside a project", file.path));
            }
            if !is_hash(&file.hash) {
                return Err(format!("'{}' is not a SHA-256 in hex", file.hash));
            }
        }
        Ok(())
    }
}

/// The id as the CLI shows it, like its other ids: 12 hex characters. Records name the
/// version they ran by it.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Whether `text` is a SHA-256 in lowercase hex.
pub fn is_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// SHA-256 of `bytes`, in hex: a blob's key.
pub fn hash_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A project read as a version: its manifest, and where each blob's bytes are on disk.
#[derive(Debug)]
pub struct Snapshot {
    pub manifest: Manifest,
    pub blobs: BTreeMap<String, PathBuf>,
}

impl Snapshot {
    pub fn id(&self) -> String {
        self.manifest.id()
    }
}

/// Reads the project at `root` as a version.
pub fn collect(root: &Path) -> Result<Snapshot, VersionError> {
    let layout = Layout::new(root);
    if !layout.functions_dir().is_dir() {
        return Err(VersionError::NotAProject(root.to_path_buf()));
    }
    let root = root.canonicalize().map_err(|source| VersionError::Read {
        path: root.display().to_string(),
        source,
    })?;
    let mut collector = Collector {
        lookup: ImportLookup::new(&root),
        root,
        files: BTreeMap::new(),
        packages: BTreeSet::new(),
        modules: Vec::new(),
    };
    collector.project_files()?;
    collector.follow_imports()?;
    let mut blobs = BTreeMap::new();
    let files = collector
        .files
        .into_iter()
        .map(|(path, (hash, size, on_disk))| {
            blobs.insert(hash.clone(), on_disk);
            ManifestFile { path, hash, size }
        })
        .collect();
    Ok(Snapshot {
        manifest: Manifest::new(files),
        blobs,
    })
}

struct Collector {
    root: PathBuf,
    lookup: ImportLookup,
    /// Path from the root -> (hash, size, the file read).
    files: BTreeMap<String, (String, u64, PathBuf)>,
    /// Package folders taken whole.
    packages: BTreeSet<PathBuf>,
    /// Project modules whose imports are still to follow: (module name, path from the root).
    modules: Vec<(String, String)>,
}

fn has_extension(path: &str, extensions: &[&str]) -> bool {
    path.rsplit_once('.')
        .is_some_and(|(_, ext)| extensions.contains(&ext))
}

/// A path from the root as the manifest writes it.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// A project file's module name: its path from `functions/`, as the loader names modules.
fn module_name(path: &str) -> String {
    match path.strip_prefix("functions/") {
        Some(inside) => inside.to_string(),
        None => format!("../{path}"),
    }
}

impl Collector {
    fn project_files(&mut self) -> Result<(), VersionError> {
        self.walk("functions", &|_| true)?;
        self.walk("emails", &|_| true)?;
        self.walk("migrations", &|path| path.ends_with(".sql"))?;
        for file in [CONFIG_FILE, "package.json", "tsconfig.json"] {
            if self.root.join(file).is_file() {
                self.add(file)?;
            }
        }
        Ok(())
    }

    /// Adds every file under folder `dir` (from the root) that `keep` accepts.
    fn walk(&mut self, dir: &str, keep: &dyn Fn(&str) -> bool) -> Result<(), VersionError> {
        let path = self.root.join(dir);
        if !path.exists() {
            return Ok(());
        }
        self.inside(dir)?;
        if !path.is_dir() {
            return Ok(());
        }
        let mut names: Vec<String> = std::fs::read_dir(&path)
            .map_err(|source| self.read_error(dir, source))?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let child = format!("{dir}/{name}");
            if self.root.join(&child).is_dir() {
                self.walk(&child, keep)?;
            } else if keep(&child) {
                self.add(&child)?;
            }
        }
        Ok(())
    }

    fn read_error(&self, path: &str, source: std::io::Error) -> VersionError {
        VersionError::Read {
            path: path.to_string(),
            source,
        }
    }

    /// Refuses `path` (from the root) when it is a symlink that leads out of the project.
    fn inside(&self, path: &str) -> Result<PathBuf, VersionError> {
        let full = self.root.join(path);
        let real = full
            .canonicalize()
            .map_err(|source| self.read_error(path, source))?;
        if !real.starts_with(&self.root) {
            return Err(VersionError::SymlinkOutside {
                path: path.to_string(),
            });
        }
        Ok(real)
    }

    fn add(&mut self, path: &str) -> Result<(), VersionError> {
        if self.files.contains_key(path) {
            return Ok(());
        }
        let real = self.inside(path)?;
        let size = std::fs::metadata(&real)
            .map_err(|source| self.read_error(path, source))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(VersionError::TooLarge {
                path: path.to_string(),
                size,
            });
        }
        let bytes = std::fs::read(&real).map_err(|source| self.read_error(path, source))?;
        let hash = hash_bytes(&bytes);
        let is_project_module = !path.split('/').any(|part| part == "node_modules")
            && has_extension(path, &MODULE_EXTENSIONS);
        if is_project_module || path == CONFIG_FILE {
            self.modules.push((module_name(path), path.to_string()));
        }
        self.files
            .insert(path.to_string(), (hash, bytes.len() as u64, real));
        Ok(())
    }

    /// Follows the static imports of every project module, adding the project files and the
    /// packages they name.
    fn follow_imports(&mut self) -> Result<(), VersionError> {
        while let Some((module, path)) = self.modules.pop() {
            let source = std::fs::read_to_string(self.root.join(&path))
                .map_err(|source| self.read_error(&path, source))?;
            for specifier in self.lookup.imports_of(&module, &source) {
                let resolved = self
                    .lookup
                    .resolve(&module, &specifier)
                    .map_err(VersionError::Import)?;
                let Some((_, file)) = resolved else { continue };
                match package_folder(&file) {
                    Some(folder) => self.add_package(&folder)?,
                    None => {
                        let path = relative(&self.root, &file);
                        self.add(&path)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds a package's loadable files (not its own node_modules) and, in turn, the packages
    /// its package.json depends on, found as Node finds them from its folder.
    fn add_package(&mut self, folder: &Path) -> Result<(), VersionError> {
        let folder = folder
            .canonicalize()
            .unwrap_or_else(|_| folder.to_path_buf());
        if !folder.starts_with(&self.root) || !self.packages.insert(folder.clone()) {
            return Ok(());
        }
        self.add_package_files(&folder)?;
        let manifest = std::fs::read_to_string(folder.join("package.json")).unwrap_or_default();
        let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap_or_default();
        let mut dependencies = BTreeSet::new();
        for field in ["dependencies", "optionalDependencies", "peerDependencies"] {
            if let Some(names) = manifest.get(field).and_then(|v| v.as_object()) {
                dependencies.extend(names.keys().cloned());
            }
        }
        for dependency in dependencies {
            let found = folder
                .ancestors()
                .take_while(|dir| dir.starts_with(&self.root))
                .map(|dir| dir.join("node_modules").join(&dependency))
                .find(|candidate| candidate.is_dir());
            if let Some(found) = found {
                self.add_package(&found)?;
            }
        }
        Ok(())
    }

    fn add_package_files(&mut self, dir: &Path) -> Result<(), VersionError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|source| self.read_error(&relative(&self.root, dir), source))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if path.is_dir() {
                if name.as_deref() != Some("node_modules") {
                    self.add_package_files(&path)?;
                }
            } else if has_extension(&relative(&self.root, &path), &PACKAGE_EXTENSIONS) {
                let path = relative(&self.root, &path);
                self.add(&path)?;
            }
        }
        Ok(())
    }
}

/// The folder of the package `file` belongs to: the one just below a `node_modules` (or
/// below its `@scope`), if any.
fn package_folder(file: &Path) -> Option<PathBuf> {
    let mut found = None;
    for dir in file.ancestors().skip(1) {
        let parent = dir.parent()?;
        let parent_name = parent.file_name()?.to_string_lossy();
        let scoped =
            parent_name.starts_with('@') && parent.parent()?.file_name()? == "node_modules";
        if parent_name == "node_modules" || scoped {
            found = Some(dir.to_path_buf());
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, hash: char) -> ManifestFile {
        ManifestFile {
            path: path.into(),
            hash: hash.to_string().repeat(64),
            size: 1,
        }
    }

    #[test]
    fn the_id_depends_on_the_files_not_their_order() {
        let a = Manifest::new(vec![file("b.ts", 'b'), file("a.ts", 'a')]);
        let b = Manifest::new(vec![file("a.ts", 'a'), file("b.ts", 'b')]);
        assert_eq!(a.id(), b.id());
        let c = Manifest::new(vec![file("a.ts", 'a'), file("b.ts", 'c')]);
        assert_ne!(a.id(), c.id());
    }

    #[test]
    fn a_manifest_names_only_paths_inside_a_project() {
        assert!(Manifest::new(vec![file("functions/a.ts", 'a')])
            .check_paths()
            .is_ok());
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", ""] {
            assert!(
                Manifest::new(vec![file(bad, 'a')]).check_paths().is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_package_folder_is_the_one_below_node_modules() {
        assert_eq!(
            package_folder(Path::new("/p/node_modules/zod/lib/index.js")),
            Some(PathBuf::from("/p/node_modules/zod"))
        );
        assert_eq!(
            package_folder(Path::new("/p/node_modules/@s/x/a.js")),
            Some(PathBuf::from("/p/node_modules/@s/x"))
        );
        assert_eq!(package_folder(Path::new("/p/lib/a.ts")), None);
    }
}
