//! Module resolution and loading: relative imports between project files only.
//!
//! Module names are paths relative to `functions/` (`create_user.ts`, `../lib/mail.ts`), so
//! stack traces read like the seed's `send_welcome_email.ts:6`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Exception, Module, Result};

use super::ts::strip_types;

/// The name of the internal script that imports function modules by their module name.
pub const HOST_SCRIPT: &str = "flux:host.js";

const EXTENSIONS: [&str; 4] = [".ts", ".js", ".mjs", ".mts"];

pub struct ProjectResolver {
    root: PathBuf,
    /// What each (importer, name) resolved to, so that running a function again (an `import`
    /// per execution) does not look at the disk again. A context lives for one version of
    /// the code, so nothing here outlives the files it names.
    resolved: HashMap<(String, String), String>,
}

impl ProjectResolver {
    pub fn new(root: PathBuf) -> ProjectResolver {
        ProjectResolver {
            root,
            resolved: HashMap::new(),
        }
    }
}

pub struct ProjectLoader {
    pub root: PathBuf,
    pub sources: Sources,
}

/// The code of the modules a context loaded, by module name, as it ran: error messages are
/// completed from it (the file on disk may have changed since).
#[derive(Clone, Default)]
pub struct Sources(Rc<RefCell<HashMap<String, Rc<str>>>>);

impl Sources {
    pub fn get(&self, module: &str) -> Option<Rc<str>> {
        self.0.borrow().get(module).cloned()
    }

    fn keep(&self, module: &str, code: &str) {
        self.0
            .borrow_mut()
            .insert(module.to_string(), Rc::from(code));
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
        let relative = name.starts_with("./") || name.starts_with("../");
        let candidate = if base == HOST_SCRIPT {
            Some(name.to_string())
        } else if relative {
            join_module(base, name)
        } else {
            return Err(Exception::throw_type(
                ctx,
                &format!("cannot import '{name}' from {base}: only relative imports of project files ('./x.ts') are supported"),
            ));
        };
        let Some(candidate) = candidate else {
            return Err(Exception::throw_type(
                ctx,
                &format!("cannot import '{name}' from {base}: it is outside the project"),
            ));
        };
        let dir = functions_dir(&self.root);
        let has_extension = EXTENSIONS.iter().any(|ext| candidate.ends_with(ext));
        if has_extension && dir.join(&candidate).is_file() {
            return Ok(candidate);
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
        Err(Exception::throw_type(
            ctx,
            &format!("cannot import '{name}' from {base}: no such file in the project"),
        ))
    }
}

impl Loader for ProjectLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
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
        let code = if name.ends_with(".ts") || name.ends_with(".mts") {
            strip_types(name, &source).map_err(|e| Exception::throw_syntax(ctx, &e.to_string()))?
        } else {
            source
        };
        self.sources.keep(name, &code);
        Module::declare(ctx.clone(), name, code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
