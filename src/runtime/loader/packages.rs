//! npm packages: bare specifiers (`zod`, `@faker-js/faker/locale/de`, `#internal`) resolved
//! from the project's `node_modules` by Node's algorithm (oxc_resolver), confined to the
//! project, and what kind of module each package file is.
//!
//! Conditions (see ARCHITECTURE.md, "npm packages"): `import` asks for `flux`, `worker`,
//! `browser`, `import`, `module`, `default`; `require` for `flux`, `worker`, `browser`,
//! `require`, `default`. Never `node`: flux is a web-style runtime, and a package's
//! browser/worker build uses the web APIs flux has, where its node build reaches for
//! `node:fs`, `node:crypto`'s KeyObjects and the like.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use oxc_resolver::{PackageType, ResolveError, ResolveOptions};

use super::ImportError;
use crate::runtime::node::{self, Builtin};
use crate::runtime::PackageFolders;

/// How a module is asked for: by `import` (ES module) or `require` (CommonJS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Import,
    Require,
}

/// What a module file is, which decides how it loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Esm,
    /// Loaded by `require` and seen from `import` through an ES-module facade.
    CommonJs,
    Json,
}

/// A package file some specifier resolved to.
#[derive(Clone, Debug)]
struct PackageFile {
    path: PathBuf,
    /// Its nearest package.json's `type`.
    package_type: Option<PackageType>,
}

pub struct Packages {
    /// The project root, its symlinks resolved: what every loaded file must be inside.
    root: PathBuf,
    import: oxc_resolver::Resolver,
    require: oxc_resolver::Resolver,
    /// Package files by module name, as resolved so far.
    files: RefCell<HashMap<String, PackageFile>>,
    /// Told the folder of each package in node_modules a file is resolved in.
    folders: PackageFolders,
}

/// The result of resolving a specifier.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A file, by its module name (relative to `functions/`: `../node_modules/zod/…`).
    File(String),
    /// A Node built-in, by its `node:` name.
    Builtin(String),
}

fn options(mode: Mode) -> ResolveOptions {
    let (conditions, main_fields): (&[&str], &[&str]) = match mode {
        Mode::Import => (
            &["flux", "worker", "browser", "import", "module", "default"],
            &["module", "main"],
        ),
        Mode::Require => (
            &["flux", "worker", "browser", "require", "default"],
            &["main"],
        ),
    };
    ResolveOptions {
        condition_names: conditions.iter().map(|c| c.to_string()).collect(),
        main_fields: main_fields.iter().map(|f| f.to_string()).collect(),
        extensions: [".js", ".mjs", ".cjs", ".json"].map(String::from).to_vec(),
        builtin_modules: true,
        // Only the project's own node_modules folders count, never the machine's.
        node_path: false,
        symlinks: true,
        ..ResolveOptions::default()
    }
}

impl Packages {
    pub fn new(root: &Path, folders: PackageFolders) -> Packages {
        Packages {
            root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
            import: oxc_resolver::Resolver::new(options(Mode::Import)),
            require: oxc_resolver::Resolver::new(options(Mode::Require)),
            files: RefCell::default(),
            folders,
        }
    }

    /// The file module `name` stands for on disk.
    pub fn path_of(&self, name: &str) -> PathBuf {
        if let Some(file) = self.files.borrow().get(name) {
            return file.path.clone();
        }
        normalize(&self.root.join("functions").join(name))
    }

    /// Whether module `name` is a package file (resolved from a bare specifier, or imported
    /// by one), whose relative imports and kind follow Node's rules rather than the project's.
    pub fn is_package_file(&self, name: &str) -> bool {
        self.files.borrow().contains_key(name)
    }

    /// Resolves `specifier` imported or required by module `base`.
    pub fn resolve(
        &self,
        base: &str,
        specifier: &str,
        mode: Mode,
    ) -> Result<Resolved, ImportError> {
        // A built-in comes before a package of its name, as in Node.
        let builtin = |module: &str| match node::builtin(module) {
            Some(Builtin::Provided(module)) => Some(Ok(Resolved::Builtin(module))),
            Some(Builtin::Missing(module, instead)) => Some(Err(ImportError::NodeBuiltin {
                name: specifier.into(),
                base: base.into(),
                module,
                instead,
            })),
            None => None,
        };
        if let Some(resolved) = builtin(specifier) {
            return resolved;
        }
        if let Some(name) = specifier.strip_prefix("node:") {
            return Err(ImportError::NodeBuiltin {
                name: specifier.into(),
                base: base.into(),
                module: format!("node:{name}"),
                instead: "Node has no built-in module of that name either",
            });
        }
        let base_path = self.path_of(base);
        let dir = base_path.parent().unwrap_or(&self.root);
        let resolver = match mode {
            Mode::Import => &self.import,
            Mode::Require => &self.require,
        };
        let resolution = match resolver.resolve(dir, specifier) {
            Ok(resolution) => resolution,
            Err(ResolveError::Builtin { resolved, .. }) => {
                return builtin(&resolved).unwrap_or_else(|| {
                    Err(ImportError::NodeBuiltin {
                        name: specifier.into(),
                        base: base.into(),
                        module: resolved.clone(),
                        instead: "flux does not offer it",
                    })
                });
            }
            Err(ResolveError::NotFound(_)) => {
                let package = package_name(specifier);
                return Err(ImportError::NoPackage {
                    name: specifier.into(),
                    base: base.into(),
                    closest: closest_package(&self.root.join("node_modules"), &package),
                    package,
                });
            }
            Err(error) => {
                return Err(ImportError::Package {
                    name: specifier.into(),
                    base: base.into(),
                    // Paths as the project names them, not the machine.
                    reason: error
                        .to_string()
                        .replace(&format!("{}/", self.root.display()), ""),
                });
            }
        };
        // A symlink (or an `exports` target) must not lead out of the project.
        let path = resolution
            .path()
            .canonicalize()
            .unwrap_or_else(|_| resolution.path().to_path_buf());
        let Ok(inside) = path.strip_prefix(&self.root) else {
            return Err(ImportError::Outside {
                name: specifier.into(),
                base: base.into(),
            });
        };
        let inside = inside.to_string_lossy().replace('\\', "/");
        let name = match inside.strip_prefix("functions/") {
            Some(function) => function.to_string(),
            None => format!("../{inside}"),
        };
        let package_json = resolution.package_json();
        // Workspace packages outside node_modules are project folders, watched already.
        if let Some(folder) = package_json.and_then(|p| p.directory().canonicalize().ok()) {
            if folder.components().any(|c| c.as_os_str() == "node_modules") {
                self.folders.loaded(&folder);
            }
        }
        let package_type = package_json.and_then(|p| p.r#type());
        self.files
            .borrow_mut()
            .insert(name.clone(), PackageFile { path, package_type });
        Ok(Resolved::File(name))
    }

    /// What package file `name` (resolved before) is when loaded in `mode`, its `source`
    /// given: by its extension and its package's `type`; a `.js` file of a package without a
    /// `type` is an ES module when imported if it has `import`/`export` statements (a
    /// package's `module` build), as bundlers decide.
    pub fn kind(&self, name: &str, source: &str, mode: Mode) -> Kind {
        let package_type = self
            .files
            .borrow()
            .get(name)
            .and_then(|file| file.package_type);
        let extension = name.rsplit_once('.').map_or("", |(_, ext)| ext);
        match extension {
            "json" => Kind::Json,
            "mjs" | "mts" | "ts" => Kind::Esm,
            "cjs" | "cts" => Kind::CommonJs,
            _ => match (package_type, mode) {
                (Some(PackageType::Module), _) => Kind::Esm,
                (Some(PackageType::CommonJs), _) | (None, Mode::Require) => Kind::CommonJs,
                (None, Mode::Import) if has_module_syntax(source) => Kind::Esm,
                (None, Mode::Import) => Kind::CommonJs,
            },
        }
    }
}

/// Whether `source` has static `import`/`export` statements: a cheap look at line starts
/// first, then swc's parse, so that a CommonJS file that merely says "import" in a string or
/// comment is not taken for an ES module.
fn has_module_syntax(source: &str) -> bool {
    let looks = source.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("import") || line.starts_with("export")
    });
    looks
        && super::imports::read(source)
            .is_some_and(|syntax| !syntax.imports.is_empty() || !syntax.exports.is_empty())
}

/// The package a bare specifier names: `zod` for `zod/v4`, `@faker-js/faker` for
/// `@faker-js/faker/locale/de`.
fn package_name(specifier: &str) -> String {
    let mut parts = specifier.split('/');
    match (parts.next(), parts.next()) {
        (Some(scope), Some(name)) if scope.starts_with('@') => format!("{scope}/{name}"),
        (Some(name), _) => name.to_string(),
        _ => specifier.to_string(),
    }
}

/// The installed package whose name is closest to `package` (a typo's fix), if one is close.
fn closest_package(node_modules: &Path, package: &str) -> Option<String> {
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.'))
            .collect()
    };
    let mut installed = Vec::new();
    for name in names(node_modules) {
        if name.starts_with('@') {
            let scoped = names(&node_modules.join(&name));
            installed.extend(scoped.into_iter().map(|inner| format!("{name}/{inner}")));
        } else {
            installed.push(name);
        }
    }
    let (score, closest) = installed
        .into_iter()
        .map(|name| (strsim::jaro_winkler(package, &name), name))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    (score >= 0.85).then_some(closest)
}

/// `path` with `.` and `..` taken out lexically (module names of project files climb out of
/// `functions/` with `..`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_is_named_by_its_first_part_or_two_when_scoped() {
        assert_eq!(package_name("zod"), "zod");
        assert_eq!(package_name("zod/v4"), "zod");
        assert_eq!(package_name("@faker-js/faker/locale/de"), "@faker-js/faker");
    }

    #[test]
    fn a_misspelt_package_is_matched_to_an_installed_one() {
        let root = tempfile::tempdir().expect("tempdir");
        for package in ["zod", "date-fns", "@faker-js/faker"] {
            std::fs::create_dir_all(root.path().join(package)).expect("mkdir");
        }
        let closest = |name| closest_package(root.path(), name);
        assert_eq!(closest("zood").as_deref(), Some("zod"));
        assert_eq!(closest("date-fn").as_deref(), Some("date-fns"));
        assert_eq!(
            closest("@faker-js/fakre").as_deref(),
            Some("@faker-js/faker")
        );
        assert_eq!(closest("express"), None);
    }

    #[test]
    fn module_syntax_is_told_from_commonjs() {
        assert!(has_module_syntax(
            "import a from './a.js'\nexport default a\n"
        ));
        assert!(!has_module_syntax("// import this\nmodule.exports = 1\n"));
        assert!(!has_module_syntax("exports.a = 1\nimportant()\n"));
    }
}
