//! CommonJS modules: a synchronous `require` per context (commonjs.js keeps Node's module
//! cache, so cycles get the partly filled `module.exports`), with `module`, `exports`,
//! `__filename` and `__dirname` as project-relative paths, and the ES-module facade through
//! which an `import` sees a CommonJS module.

use std::rc::Rc;

use rquickjs::context::EvalOptions;
use rquickjs::{Ctx, Exception, Function, IntoJs, JsLifetime, Module, Object, Result, Value};

use super::packages::{Kind, Mode, Packages, Resolved};
use super::Sources;

const COMMONJS_JS: &str = include_str!("commonjs.js");

/// The parameters a CommonJS file's code sees, as in Node's module wrapper. The wrapper's
/// head is on the file's first line, so line numbers stay the file's.
const WRAPPER_HEAD: &str = "(function (exports, require, module, __filename, __dirname) {";

/// This context's CommonJS loader (its `load(name)`), made on the first `require`.
struct CommonJs<'js> {
    load: Function<'js>,
}

unsafe impl<'js> JsLifetime<'js> for CommonJs<'js> {
    type Changed<'to> = CommonJs<'to>;
}

/// `module.exports` of CommonJS module `name` (resolved before), loading it and what it
/// requires the first time.
pub fn require<'js>(
    ctx: &Ctx<'js>,
    packages: &Rc<Packages>,
    sources: &Sources,
    name: &str,
) -> Result<Value<'js>> {
    let existing = ctx.userdata::<CommonJs>().map(|c| c.load.clone());
    let load = match existing {
        Some(load) => load,
        None => {
            let load = install(ctx, packages, sources)?;
            ctx.store_userdata(CommonJs { load: load.clone() })
                .map_err(|e| Exception::throw_internal(ctx, &e.to_string()))?;
            load
        }
    };
    load.call((name,))
}

/// Where module `name` is, relative to the project root: `node_modules/lodash/lodash.js`
/// (its `__filename`; a function never sees the machine's paths).
fn project_path(name: &str) -> String {
    match name.strip_prefix("../") {
        Some(outside_functions) => outside_functions.to_string(),
        None => format!("functions/{name}"),
    }
}

fn install<'js>(
    ctx: &Ctx<'js>,
    packages: &Rc<Packages>,
    sources: &Sources,
) -> Result<Function<'js>> {
    let natives = Object::new(ctx.clone())?;
    let resolver = Rc::clone(packages);
    natives.set(
        "resolve",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, from: String, specifier: String| -> Result<String> {
                match resolver.resolve(&from, &specifier, Mode::Require) {
                    Ok(Resolved::File(name)) | Ok(Resolved::Builtin(name)) => Ok(name),
                    Err(error) => Err(Exception::throw_message(&ctx, &error.to_string())),
                }
            },
        )?,
    )?;
    let reader = Rc::clone(packages);
    let kept = sources.clone();
    natives.set(
        "load",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String| -> Result<Value<'js>> {
                load_file(&ctx, &reader, &kept, &name)
            },
        )?,
    )?;
    natives.set(
        "filename",
        Function::new(ctx.clone(), |name: String| project_path(&name))?,
    )?;
    natives.set(
        "builtin",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, name: String| -> Result<Object<'js>> {
                crate::runtime::node::builtin_exports(&ctx, &name)?.ok_or_else(|| {
                    Exception::throw_message(&ctx, &format!("flux does not provide {name}"))
                })
            },
        )?,
    )?;
    let mut options = EvalOptions::default();
    options.filename = Some("flux:commonjs.js".into());
    let factory: Function = ctx.eval_with_options(COMMONJS_JS, options)?;
    let loader: Object = factory.call((natives,))?;
    loader.get("load")
}

/// What `require` runs for file module `name`: its JSON text, or its code wrapped in a
/// function of `exports`, `require`, `module`, `__filename`, `__dirname`.
fn load_file<'js>(
    ctx: &Ctx<'js>,
    packages: &Packages,
    sources: &Sources,
    name: &str,
) -> Result<Value<'js>> {
    let shown = project_path(name);
    let source = std::fs::read_to_string(packages.path_of(name))
        .map_err(|e| Exception::throw_message(ctx, &format!("cannot read {shown}: {e}")))?;
    match packages.kind(name, &source, Mode::Require) {
        Kind::Json => {
            sources.keep(name, &source);
            source.into_js(ctx)
        }
        Kind::Esm => Err(Exception::throw_message(
            ctx,
            &format!("cannot require {shown}: it is an ES module; import it instead"),
        )),
        Kind::CommonJs => {
            // A shebang line is not JavaScript (Node drops it too).
            let body = match source.strip_prefix("#!") {
                Some(rest) => format!("//{rest}"),
                None => source,
            };
            let code = format!("{WRAPPER_HEAD}{body}\n}})");
            sources.keep(name, &code);
            let mut options = EvalOptions::default();
            options.filename = Some(name.to_string());
            options.strict = false;
            ctx.eval_with_options(code, options)
        }
    }
}

/// An ES module named `name` whose exports are `exports`' (a CommonJS module's
/// `module.exports`, or a built-in's exports object): `default` is the object itself (or
/// its `default` when a compiled ES module set `__esModule`), and each own enumerable key
/// that is a name is a named export, as known once the module ran.
pub fn facade<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    exports: Value<'js>,
) -> Result<Module<'js, rquickjs::module::Declared>> {
    let mut keys: Vec<String> = Vec::new();
    let mut default = "exports";
    if let Some(object) = exports.as_object() {
        keys = object.keys::<String>().collect::<Result<_>>()?;
        let es_module = object
            .get::<_, Value>("__esModule")?
            .as_bool()
            .unwrap_or(false);
        if es_module && keys.iter().any(|k| k == "default") {
            default = "exports.default";
        }
    }
    let mut code = format!("const exports = import.meta.exports;\nexport default {default};\n");
    let mut names = Vec::new();
    for (i, key) in keys.iter().filter(|k| is_export_name(k)).enumerate() {
        let literal = serde_json::Value::String(key.clone()).to_string();
        code.push_str(&format!("const e{i} = exports[{literal}];\n"));
        names.push(format!("e{i} as {key}"));
    }
    if !names.is_empty() {
        code.push_str(&format!("export {{ {} }};\n", names.join(", ")));
    }
    let module = Module::declare(ctx.clone(), name, code)?;
    module.meta()?.set("exports", exports)?;
    Ok(module)
}

/// Whether `key` can be a named export written as an identifier (reserved words can: they
/// follow `as`); `default` is the module object's own.
fn is_export_name(key: &str) -> bool {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$');
    first_ok && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$') && key != "default"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_names_are_identifiers_but_default() {
        assert!(is_export_name("debounce"));
        assert!(is_export_name("$"));
        assert!(is_export_name("delete"));
        assert!(!is_export_name("default"));
        assert!(!is_export_name("foo-bar"));
        assert!(!is_export_name("0"));
    }

    #[test]
    fn file_names_are_relative_to_the_project() {
        assert_eq!(
            project_path("../node_modules/lodash/lodash.js"),
            "node_modules/lodash/lodash.js"
        );
        assert_eq!(project_path("lib/a.js"), "functions/lib/a.js");
    }
}
