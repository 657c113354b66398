//! Module resolution and loading: relative imports between project files, npm packages from
//! the project's `node_modules` (packages.rs), CommonJS through `require` (commonjs.rs), and
//! Node's built-ins by their `node:` names.
//!
//! Module names are paths relative to `functions/` (`create_user.ts`, `../lib/mail.ts`,
//! `../node_modules/zod/lib/index.mjs`), so stack traces read like the seed's
//! `send_welcome_email.ts:6`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Exception, Module, Result};

use super::node;
use super::ts::{self, JsxOptions};

mod bytecode;
mod commonjs;
mod imports;
mod packages;

use packages::{Kind, Mode, Packages, Resolved};

/// The name of the internal script that imports function modules by their module name.
pub const HOST_SCRIPT: &str = "flux:host.js";

const EXTENSIONS: [&str; 6] = [".ts", ".tsx", ".js", ".jsx", ".mjs", ".mts"];
/// A data module: its default export is the file's JSON.
const JSON_EXTENSION: &str = ".json";

pub struct ProjectResolver {
    root: PathBuf,
    packages: Rc<Packages>,
    /// What each (importer, name) resolved to, so that running a function again (an `import`
    /// per execution) does not look at the disk again. A context lives for one version of
    /// the code, so nothing here outlives the files it names.
    resolved: HashMap<(String, String), String>,
}

/// The resolver and loader of one context, sharing what they know of packages; `sources`
/// receives the code of every module loaded, `folders` the folder of every package.
pub fn new(
    root: PathBuf,
    sources: Sources,
    folders: super::PackageFolders,
) -> (ProjectResolver, ProjectLoader) {
    let packages = Rc::new(Packages::new(&root, folders));
    let resolver = ProjectResolver {
        root: root.clone(),
        packages: Rc::clone(&packages),
        resolved: HashMap::new(),
    };
    let loader = ProjectLoader {
        jsx: JsxOptions::of_project(&root),
        root,
        sources,
        packages,
    };
    (resolver, loader)
}

pub struct ProjectLoader {
    root: PathBuf,
    sources: Sources,
    packages: Rc<Packages>,
    /// How JSX compiles, as tsconfig.json says when the context was made (an edit to it is a
    /// change of the code, which makes new contexts).
    jsx: JsxOptions,
}

/// The code of the modules a context loaded, by module name, as it ran: error messages are
/// completed from it (the file on disk may have changed since); and the project's files as
/// written (TypeScript, JSX), for the lines around an error's location in its record.
#[derive(Clone, Default)]
pub struct Sources(Rc<RefCell<SourceMaps>>);

#[derive(Default)]
struct SourceMaps {
    code: HashMap<String, Rc<str>>,
    written: HashMap<String, Rc<str>>,
}

impl Sources {
    pub fn get(&self, module: &str) -> Option<Rc<str>> {
        self.0.borrow().code.get(module).cloned()
    }

    /// A project file's text as it was when it was loaded (not a package's).
    pub fn written(&self, module: &str) -> Option<Rc<str>> {
        self.0.borrow().written.get(module).cloned()
    }

    fn keep(&self, module: &str, code: &str) {
        self.0
            .borrow_mut()
            .code
            .insert(module.to_string(), Rc::from(code));
    }

    fn keep_written(&self, module: &str, source: &str) {
        self.0
            .borrow_mut()
            .written
            .insert(module.to_string(), Rc::from(source));
    }
}

fn functions_dir(root: &Path) -> PathBuf {
    root.join("functions")
}

/// Joins and normalises `base`'s folder with `name`; `None` if it climbs above the project.
fn join_module(base: &str, name: &str) -> Option<String> {
    // Depth below the project root: module names start at `functions/`, one level down.
    let mut parts: Vec<String> = vec!["functions".into()];
    let base_dir = Path::new(base).parent().unwrap_or(Path::new(""));
    for component in base_dir.join(name).components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    // Back to a name relative to `functions/`.
    Some(match parts.first().map(String::as_str) {
        Some("functions") => parts[1..].join("/"),
        _ => format!("../{}", parts.join("/")),
    })
}

impl Resolver for ProjectResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        let key = (base.to_string(), name.to_string());
        if let Some(resolved) = self.resolved.get(&key) {
            return Ok(resolved.clone());
        }
        let resolved = self.resolve_on_disk(ctx, base, name)?;
        self.resolved.insert(key, resolved.clone());
        Ok(resolved)
    }
}

impl ProjectResolver {
    fn resolve_on_disk(&self, ctx: &Ctx<'_>, base: &str, name: &str) -> Result<String> {
        find_module(&self.root, &self.packages, base, name)
            .map_err(|e| Exception::throw_type(ctx, &e.to_string()))
    }
}

/// The project's imports resolved outside an engine, as an engine's loader resolves them:
/// what `flux deploy` follows to know which files a project runs.
pub struct ImportLookup {
    root: PathBuf,
    packages: Packages,
    jsx: JsxOptions,
}

impl ImportLookup {
    pub fn new(root: &Path) -> ImportLookup {
        ImportLookup {
            root: root.to_path_buf(),
            packages: Packages::new(root, super::PackageFolders::default()),
            jsx: JsxOptions::of_project(root),
        }
    }

    /// The specifiers of module `name`'s static imports and re-exports; none when it does
    /// not parse (the loader reports that when it runs).
    pub fn imports_of(&self, name: &str, source: &str) -> Vec<String> {
        let Ok(code) = ts::to_javascript(name, source, &self.jsx) else {
            return Vec::new();
        };
        imports::read(&code)
            .map(|syntax| syntax.imports.into_iter().map(|i| i.specifier).collect())
            .unwrap_or_default()
    }

    /// The module `specifier` imported from module `base` names and its file; `None` for a
    /// built-in; the loader's error (as an engine would throw it) when it names nothing.
    pub fn resolve(
        &self,
        base: &str,
        specifier: &str,
    ) -> std::result::Result<Option<(String, PathBuf)>, String> {
        let module =
            find_module(&self.root, &self.packages, base, specifier).map_err(|e| e.to_string())?;
        if module.starts_with("node:") {
            return Ok(None);
        }
        let path = self.packages.path_of(&module);
        Ok(Some((module, path)))
    }
}

/// Why an import cannot be loaded.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    #[error("cannot import '{name}' from {base}: an import names a project file ('./x.ts') or a package ('zod')")]
    Absolute { name: String, base: String },
    #[error("cannot import '{name}' from {base}: no package '{package}' in node_modules ({})", closest.as_ref().map_or_else(|| format!("install it with npm install {package}"), |c| format!("did you mean '{c}'?")))]
    NoPackage {
        name: String,
        base: String,
        package: String,
        /// An installed package whose name is close: a typo's fix.
        closest: Option<String>,
    },
    #[error("cannot import '{name}' from {base}: flux does not provide {module}; {instead}")]
    NodeBuiltin {
        name: String,
        base: String,
        module: String,
        instead: &'static str,
    },
    #[error("cannot import '{name}' from {base}: {reason}")]
    Package {
        name: String,
        base: String,
        reason: String,
    },
    #[error("cannot import '{name}' from {base}: it is outside the project")]
    Outside { name: String, base: String },
    #[error("cannot import '{name}' from {base}: no such file in the project{}", closest.as_ref().map(|c| format!(" (did you mean '{c}'?)")).unwrap_or_default())]
    NoFile {
        name: String,
        base: String,
        /// A file beside the one named whose name is close to it: a typo's fix.
        closest: Option<String>,
    },
    /// Worded as QuickJS words it, with what the module does export, closest name first.
    #[error("Could not find export '{export}' in module '{module}'; {}", exported(.exports))]
    MissingExport {
        module: String,
        export: String,
        exports: Vec<String>,
    },
}

fn exported(names: &[String]) -> String {
    if names.is_empty() {
        "it exports nothing".into()
    } else {
        format!("it exports {}", names.join(", "))
    }
}

/// The module name `name` imported from module `base` stands for: a project file, with its
/// extension or an `index` file found as Node finds them; a package's file, resolved by
/// Node's rules, for a bare name or an import inside a package; a built-in's `node:` name.
fn find_module(
    root: &Path,
    packages: &Packages,
    base: &str,
    name: &str,
) -> std::result::Result<String, ImportError> {
    let relative = name.starts_with("./") || name.starts_with("../");
    if base != HOST_SCRIPT && (!relative || packages.is_package_file(base)) {
        if name.starts_with('/') {
            return Err(ImportError::Absolute {
                name: name.into(),
                base: base.into(),
            });
        }
        return match packages.resolve(base, name, Mode::Import)? {
            Resolved::File(module) | Resolved::Builtin(module) => Ok(module),
        };
    }
    let candidate = if base == HOST_SCRIPT {
        Some(name.to_string())
    } else {
        join_module(base, name)
    };
    let Some(candidate) = candidate else {
        return Err(ImportError::Outside {
            name: name.into(),
            base: base.into(),
        });
    };
    let dir = functions_dir(root);
    // JSON is imported by its full name, as in Node: `import data from './data.json'`.
    let has_extension = EXTENSIONS.iter().any(|ext| candidate.ends_with(ext))
        || candidate.ends_with(JSON_EXTENSION);
    if has_extension && dir.join(&candidate).is_file() {
        return Ok(candidate);
    }
    // TypeScript's NodeNext style: `./mail.js` names the `./mail.ts` it compiles to.
    for (js, ts) in [
        (".js", ".ts"),
        (".js", ".tsx"),
        (".jsx", ".tsx"),
        (".mjs", ".mts"),
    ] {
        if let Some(stem) = candidate.strip_suffix(js) {
            let source = format!("{stem}{ts}");
            if dir.join(&source).is_file() {
                return Ok(source);
            }
        }
    }
    for ext in EXTENSIONS {
        let with_ext = format!("{candidate}{ext}");
        if dir.join(&with_ext).is_file() {
            return Ok(with_ext);
        }
    }
    for ext in EXTENSIONS {
        let index = format!("{}/index{ext}", candidate.trim_end_matches('/'));
        if dir.join(&index).is_file() {
            return Ok(index);
        }
    }
    Err(ImportError::NoFile {
        name: name.into(),
        base: base.into(),
        closest: closest_file(&dir, &candidate, name),
    })
}

/// The module beside `candidate` (a module name with no file) whose name is closest to it, as
/// `name` would have to be written to import it.
fn closest_file(dir: &Path, candidate: &str, name: &str) -> Option<String> {
    let stem = |file: &str| -> Option<String> {
        EXTENSIONS
            .iter()
            .find_map(|ext| file.strip_suffix(ext))
            .map(String::from)
    };
    let (folder, wanted) = candidate.rsplit_once('/').unwrap_or(("", candidate));
    let with_extension = stem(wanted).is_some();
    let wanted = stem(wanted).unwrap_or_else(|| wanted.to_string());
    let entries = std::fs::read_dir(dir.join(folder)).ok()?;
    let (score, file) = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|file| Some((strsim::jaro_winkler(&wanted, &stem(&file)?), file)))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    if score < 0.85 {
        return None;
    }
    let shown = if with_extension {
        file.clone()
    } else {
        stem(&file)?
    };
    // Written as the import was: its folder part, then the file.
    let prefix = name.rsplit_once('/').map_or(".", |(folder, _)| folder);
    Some(format!("{prefix}/{shown}"))
}

/// Module `name`'s source as JavaScript (types stripped from TypeScript, JSX compiled as `jsx`
/// says, JSON as a module whose default export is its value).
fn javascript(
    jsx: &JsxOptions,
    name: &str,
    source: String,
) -> std::result::Result<String, ts::SyntaxError> {
    if name.ends_with(JSON_EXTENSION) {
        json_module(name, &source)
    } else {
        ts::compile(name, &source, jsx).unwrap_or(Ok(source))
    }
}

/// A JSON file as a module. It is checked here so that a broken file is named with its line
/// and column, then parsed by `JSON.parse` (not evaluated as an object literal, where a
/// `__proto__` key would set the prototype).
fn json_module(name: &str, source: &str) -> std::result::Result<String, ts::SyntaxError> {
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(ts::SyntaxError {
            file: name.to_string(),
            line: error.line(),
            column: error.column(),
            // serde_json ends its message with the position, given above already.
            message: format!(
                "not valid JSON: {}",
                error
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
            ),
        });
    }
    let literal = serde_json::Value::String(text.to_string()).to_string();
    Ok(format!("export default JSON.parse({literal});\n"))
}

/// The first static import of module `name` (its JavaScript `code`) that cannot be loaded, and
/// its line: a file that does not exist, a built-in flux does not provide, or a name its module
/// does not export. QuickJS would refuse it too, but naming neither the importer's line nor
/// what the module has. `builtin` gives the names a Node built-in (`node:events`) exports.
fn check_imports(
    root: &Path,
    packages: &Packages,
    jsx: &JsxOptions,
    name: &str,
    code: &str,
    builtin: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Option<(ImportError, usize)> {
    let syntax = imports::read(code)?;
    for import in &syntax.imports {
        let module = match find_module(root, packages, name, &import.specifier) {
            Ok(module) => module,
            Err(error) => return Some((error, import.line)),
        };
        // A package's names are QuickJS's to check: reading a package's whole graph here would
        // cost more than the check is worth.
        if import.names.is_empty() || packages.is_package_file(&module) {
            continue;
        }
        let mut seen = Vec::new();
        let exports = match module.starts_with("node:") {
            true => builtin(&module),
            false => exports_of(root, packages, jsx, &module, &mut seen),
        };
        let Some(exports) = exports else {
            continue;
        };
        let Some(missing) = import.names.iter().find(|n| !exports.contains(n)) else {
            continue;
        };
        let mut exports: Vec<String> = exports.into_iter().filter(|e| e != "default").collect();
        exports.dedup();
        // Closest first: a typo's fix leads the list.
        exports.sort_by(|a, b| {
            strsim::jaro_winkler(missing, b).total_cmp(&strsim::jaro_winkler(missing, a))
        });
        let error = ImportError::MissingExport {
            module,
            export: missing.clone(),
            exports,
        };
        return Some((error, import.line));
    }
    None
}

/// The names module `name` exports, its `export * from` ones included; `None` when they cannot
/// all be known (a file that does not read or parse): then nothing is reported as missing.
fn exports_of(
    root: &Path,
    packages: &Packages,
    jsx: &JsxOptions,
    name: &str,
    seen: &mut Vec<String>,
) -> Option<Vec<String>> {
    if packages.is_package_file(name) || name.starts_with("node:") {
        return None;
    }
    if seen.iter().any(|s| s == name) {
        return Some(Vec::new());
    }
    seen.push(name.to_string());
    let source = std::fs::read_to_string(functions_dir(root).join(name)).ok()?;
    let syntax = imports::read(&javascript(jsx, name, source).ok()?)?;
    let mut names = syntax.exports;
    for star in &syntax.star_exports {
        let module = find_module(root, packages, name, star).ok()?;
        // `export *` passes on every name but `default`.
        let passed = exports_of(root, packages, jsx, &module, seen)?;
        names.extend(passed.into_iter().filter(|n| n != "default"));
    }
    Some(names)
}

/// Throws `error` as the `TypeError` (a file) or `SyntaxError` (a name, as QuickJS has it) of
/// the import at `site`, which the glue reports as the error's location.
fn throw_import_error(ctx: &Ctx<'_>, error: &ImportError, site: String) -> rquickjs::Error {
    let message = error.to_string();
    let class = match error {
        ImportError::MissingExport { .. } => "SyntaxError",
        _ => "TypeError",
    };
    let exception = ctx
        .globals()
        .get::<_, rquickjs::Function>(class)
        .and_then(|class| class.call::<_, rquickjs::Object>((message.as_str(),)))
        .and_then(|exception| {
            exception.set("__fluxSite", site)?;
            Ok(exception)
        });
    match exception {
        Ok(exception) => ctx.throw(exception.into_value()),
        Err(_) => Exception::throw_type(ctx, &message),
    }
}

impl Loader for ProjectLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        if name.starts_with("node:") {
            let exports = node::builtin_exports(ctx, name)?.ok_or_else(|| {
                Exception::throw_type(ctx, &format!("no built-in module '{name}'"))
            })?;
            return commonjs::facade(ctx, name, exports.into_value());
        }
        if self.packages.is_package_file(name) {
            return self.load_package(ctx, name);
        }
        let path = functions_dir(&self.root).join(name);
        // A symlink must not lead code out of the project.
        let inside = match (path.canonicalize(), self.root.canonicalize()) {
            (Ok(file), Ok(root)) => file.starts_with(root),
            _ => false,
        };
        if !inside {
            return Err(Exception::throw_type(
                ctx,
                &format!("cannot load {name}: it is outside the project"),
            ));
        }
        let source = std::fs::read_to_string(&path)
            .map_err(|e| Exception::throw_type(ctx, &format!("cannot read {name}: {e}")))?;
        self.sources.keep_written(name, &source);
        let code = javascript(&self.jsx, name, source)
            .map_err(|e| Exception::throw_syntax(ctx, &e.to_string()))?;
        self.sources.keep(name, &code);
        let builtin = |module: &str| node::export_names(ctx, module);
        if let Some((error, line)) =
            check_imports(&self.root, &self.packages, &self.jsx, name, &code, &builtin)
        {
            return Err(throw_import_error(ctx, &error, format!("{name}:{line}")));
        }
        Module::declare(ctx.clone(), name, code)
    }
}

impl ProjectLoader {
    /// Loads package file `name`: an ES module as it is, JSON as a module, CommonJS run by
    /// `require` and seen through a facade. Its path was confined when it was resolved.
    fn load_package<'js>(&mut self, ctx: &Ctx<'js>, name: &str) -> Result<Module<'js, Declared>> {
        let path = self.packages.path_of(name);
        let source = std::fs::read_to_string(&path)
            .map_err(|e| Exception::throw_type(ctx, &format!("cannot read {name}: {e}")))?;
        let kind = self.packages.kind(name, &source, Mode::Import);
        if kind == Kind::CommonJs {
            let exports = commonjs::require(ctx, &self.packages, &self.sources, name)?;
            return commonjs::facade(ctx, name, exports);
        }
        let code = javascript(&self.jsx, name, source)
            .map_err(|e| Exception::throw_syntax(ctx, &e.to_string()))?;
        self.sources.keep(name, &code);
        bytecode::declare(ctx, &self.root, name, &path, code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_of_a_missing_file_or_name_is_found_at_its_line() {
        let root = tempfile::tempdir().expect("tempdir");
        let functions = root.path().join("functions");
        std::fs::create_dir_all(&functions).expect("functions");
        let write = |name: &str, code: &str| std::fs::write(functions.join(name), code);
        write("_a.ts", "export const sendMail = 1\nexport * from './_b'\n").expect("a");
        write("_b.ts", "export function sendSms() {}\nexport default 2\n").expect("b");
        let packages = Packages::new(root.path(), Default::default());
        let jsx = JsxOptions::default();
        let check = |code: &str| {
            check_imports(root.path(), &packages, &jsx, "f.ts", code, &|_| None)
                .map(|(error, line)| (error.to_string(), line))
        };
        assert_eq!(check("import { sendMail, sendSms } from './_a'\n"), None);
        assert_eq!(
            check("\nimport { sendMali } from './_a'\n"),
            Some((
                "Could not find export 'sendMali' in module '_a.ts'; it exports sendMail, sendSms"
                    .into(),
                2
            ))
        );
        // `export *` passes on every name but the default.
        assert_eq!(
            check("import a from './_a.ts'\n").map(|(e, _)| e),
            Some(
                "Could not find export 'default' in module '_a.ts'; it exports sendMail, sendSms"
                    .into()
            )
        );
        assert_eq!(
            check("import x from './_c'\n"),
            Some((
                "cannot import './_c' from f.ts: no such file in the project".into(),
                1
            ))
        );
        assert_eq!(
            check("import { sendSms } from './_bb.ts'\n").map(|(e, _)| e),
            Some("cannot import './_bb.ts' from f.ts: no such file in the project (did you mean './_b.ts'?)".into())
        );
        // Node's built-ins by either name, the ones flux lacks at the import's line.
        assert_eq!(
            check("\nimport { readFile } from 'fs'\n"),
            Some((
                "cannot import 'fs' from f.ts: flux does not provide node:fs; functions cannot read or write files: keep data in ctx.db, import JSON (import data from './data.json'), or fetch it".into(),
                2
            ))
        );
        assert_eq!(
            check("import fs from 'node:fs/promises'\n").map(|(e, _)| e),
            Some("cannot import 'node:fs/promises' from f.ts: flux does not provide node:fs/promises; functions cannot read or write files: keep data in ctx.db, import JSON (import data from './data.json'), or fetch it".into())
        );
        // What swc cannot parse is left to QuickJS.
        assert_eq!(check("import { from './_c'\n"), None);
    }

    #[test]
    fn relative_names_stay_inside_the_project() {
        assert_eq!(
            join_module("create_user.ts", "./lib/a.ts").as_deref(),
            Some("lib/a.ts")
        );
        assert_eq!(
            join_module("billing/index.ts", "../shared.ts").as_deref(),
            Some("shared.ts")
        );
        assert_eq!(
            join_module("create_user.ts", "../lib/mail.ts").as_deref(),
            Some("../lib/mail.ts")
        );
        assert_eq!(
            join_module("../lib/mail.ts", "./util.ts").as_deref(),
            Some("../lib/util.ts")
        );
        assert_eq!(
            join_module("../lib/mail.ts", "../functions/x.ts").as_deref(),
            Some("x.ts")
        );
        assert_eq!(join_module("create_user.ts", "../../etc/passwd"), None);
    }
}
