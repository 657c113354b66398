//! Node's built-in modules that pure npm packages commonly import (`node:events`,
//! `node:buffer`, `node:util`, `node:crypto`, `node:process`, `node:path`, `node:url`,
//! `node:timers`, `node:string_decoder`), and
//! what flux offers instead of the others (`node:fs`, `node:http`, …).
//!
//! Each module is built once per context, on its first import, by a JS factory in
//! `js/node/<name>.js` (or a vendored npm package wrapped as CommonJS), and kept in the
//! context's userdata: every importer gets the same exports object, as in Node.

mod crypto;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use rquickjs::{Ctx, Exception, Function, JsLifetime, Object};

use crate::project::Config;

/// The modules flux provides, by their name after `node:`. `path/posix` and `util/types` are
/// parts of others, as in Node.
const PROVIDED: &[&str] = &[
    "buffer",
    "crypto",
    "events",
    "path",
    "path/posix",
    "process",
    "string_decoder",
    "timers",
    "timers/promises",
    "url",
    "util",
    "util/types",
];

/// What a module flux does not provide is for, and what to use instead. Every built-in Node
/// has is listed, so that `import 'fs'` is named as Node's module rather than looked for as
/// a package.
fn instead(name: &str) -> Option<&'static str> {
    Some(match name {
        "fs" | "fs/promises" => "functions cannot read or write files: keep data in ctx.db, import JSON (import data from './data.json'), or fetch it",
        "http" | "https" | "http2" => "flux serves each function over HTTP itself (export a handler); call other services with fetch",
        "net" | "tls" | "dgram" | "dns" => "functions have no sockets; call other services with fetch",
        "child_process" | "cluster" | "worker_threads" => "functions cannot start processes or threads; enqueue a job (ctx.queue.enqueue) for work in the background",
        "os" => "functions cannot see the machine; read configuration from ctx.env",
        "stream" | "stream/promises" | "stream/web" => "flux has no streams; read a body whole (await req.text(), await res.arrayBuffer())",
        "zlib" => "flux has no compression; fetch decompresses responses itself",
        "querystring" => "use URLSearchParams",
        "async_hooks" => "flux has no AsyncLocalStorage; pass ctx (or what you need of it) along",
        "perf_hooks" => "use Date.now()",
        "vm" => "functions cannot evaluate code from strings",
        "sqlite" => "use ctx.db",
        "sys" => "import node:util",
        "assert" | "assert/strict" => "throw an Error where a check fails",
        "console" => "use the global console",
        "module" => "functions are ES modules; import what you need",
        "punycode" => "use the global URL, which encodes international domain names",
        "constants" | "diagnostics_channel" | "domain" | "inspector" | "readline" | "repl"
        | "test" | "trace_events" | "tty" | "v8" | "wasi" => "flux does not offer it",
        _ => return None,
    })
}

/// The built-in an import specifier names: `node:events`, or `events` as Node also allows.
pub enum Builtin {
    /// Provided: its module name (`node:events`).
    Provided(String),
    /// Not provided: the module's name and what to use instead.
    Missing(String, &'static str),
}

/// The built-in `specifier` names, if it names one.
pub fn builtin(specifier: &str) -> Option<Builtin> {
    let name = specifier.strip_prefix("node:").unwrap_or(specifier);
    if PROVIDED.contains(&name) {
        return Some(Builtin::Provided(format!("node:{name}")));
    }
    instead(name).map(|instead| Builtin::Missing(format!("node:{name}"), instead))
}

/// What `process.env` holds: the environment variables the project's config declares, with
/// their values on this host (as ctx.env has them), read at each use: the config can change
/// while a context lives, so `config` gives it as it is now.
pub struct Env {
    config: Box<dyn Fn() -> Arc<Config>>,
}

impl Env {
    pub fn new(config: impl Fn() -> Arc<Config> + 'static) -> Env {
        Env {
            config: Box::new(config),
        }
    }

    /// `name`'s value, if the config declares it and the host has it.
    fn get(&self, name: &str) -> Option<String> {
        let declared = (self.config)().env.iter().any(|n| n == name);
        declared.then(|| std::env::var(name).ok()).flatten()
    }

    /// The declared names the host has a value for, sorted.
    fn keys(&self) -> Vec<String> {
        super::declared_env(&(self.config)().env)
            .into_keys()
            .collect()
    }
}

/// The modules built in this context so far, by name, and what `process.env` reads.
struct Built<'js> {
    modules: RefCell<HashMap<String, Object<'js>>>,
    env: Env,
}

unsafe impl<'js> JsLifetime<'js> for Built<'js> {
    type Changed<'to> = Built<'to>;
}

/// Makes the built-ins available in a context: `env` gives what `process.env` holds (the
/// project's declared variables, as ctx.env has them).
pub fn install(ctx: &Ctx<'_>, env: Env) -> rquickjs::Result<()> {
    ctx.store_userdata(Built {
        modules: RefCell::default(),
        env,
    })
    .map_err(|e| Exception::throw_internal(ctx, &e.to_string()))?;
    Ok(())
}

const BUFFER: &str = include_str!("../../../vendor/npm/buffer/index.js");
const BASE64_JS: &str = include_str!("../../../vendor/npm/base64-js/index.js");
const IEEE754: &str = include_str!("../../../vendor/npm/ieee754/index.js");
const EVENTS: &str = include_str!("../../../vendor/npm/events/events.js");
const STRING_DECODER: &str =
    include_str!("../../../vendor/npm/string_decoder/lib/string_decoder.js");
const PATH: &str = include_str!("../../../vendor/npm/path-browserify/index.js");
const BUFFER_JS: &str = include_str!("../js/node/buffer.js");
const CRYPTO_JS: &str = include_str!("../js/node/crypto.js");
const PROCESS_JS: &str = include_str!("../js/node/process.js");
const STRING_DECODER_JS: &str = include_str!("../js/node/string_decoder.js");
const TIMERS_JS: &str = include_str!("../js/node/timers.js");
const URL_JS: &str = include_str!("../js/node/url.js");
const UTIL_JS: &str = include_str!("../js/node/util.js");

/// The exports object of built-in `name` (`events`, or `node:events`), built on first use in
/// this context; `None` if flux does not provide it.
pub fn builtin_exports<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Option<Object<'js>>> {
    let name = name.strip_prefix("node:").unwrap_or(name);
    if !PROVIDED.contains(&name) {
        return Ok(None);
    }
    let cached = |ctx: &Ctx<'js>| -> rquickjs::Result<Option<Object<'js>>> {
        let built = ctx
            .userdata::<Built>()
            .ok_or_else(|| Exception::throw_internal(ctx, "node built-ins were not installed"))?;
        let modules = built.modules.borrow();
        Ok(modules.get(name).cloned())
    };
    if let Some(exports) = cached(ctx)? {
        return Ok(Some(exports));
    }
    let exports = build(ctx, name)?;
    if let Some(built) = ctx.userdata::<Built>() {
        built
            .modules
            .borrow_mut()
            .insert(name.to_string(), exports.clone());
    }
    Ok(Some(exports))
}

/// The names built-in module `name` (`node:events`) exports, `default` included; `None` when
/// it cannot be built (its import then fails with the reason).
pub fn export_names(ctx: &Ctx<'_>, name: &str) -> Option<Vec<String>> {
    let exports = builtin_exports(ctx, name).ok()??;
    let mut names: Vec<String> = exports.keys::<String>().filter_map(|k| k.ok()).collect();
    names.push("default".into());
    Some(names)
}

/// Builds built-in `name`'s exports; [`builtin_exports`] keeps them.
fn build<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Object<'js>> {
    match name {
        "buffer" => {
            let base64 = commonjs(ctx, "base64-js", BASE64_JS, None)?;
            let ieee754 = commonjs(ctx, "ieee754", IEEE754, None)?;
            let deps = Object::new(ctx.clone())?;
            deps.set("base64-js", base64)?;
            deps.set("ieee754", ieee754)?;
            let natives = Object::new(ctx.clone())?;
            natives.set("vendored", commonjs(ctx, "buffer", BUFFER, Some(deps))?)?;
            factory(ctx, "buffer", BUFFER_JS, natives)
        }
        "events" => commonjs(ctx, "events", EVENTS, None),
        "string_decoder" => {
            // It asks safe-buffer for Buffer, which node:buffer's is (safe-buffer re-exports it).
            let buffer = builtin_exports(ctx, "buffer")?
                .ok_or_else(|| Exception::throw_internal(ctx, "node:buffer is missing"))?;
            let deps = Object::new(ctx.clone())?;
            deps.set("safe-buffer", buffer)?;
            let natives = Object::new(ctx.clone())?;
            natives.set(
                "vendored",
                commonjs(ctx, "string_decoder", STRING_DECODER, Some(deps))?,
            )?;
            factory(ctx, "string_decoder", STRING_DECODER_JS, natives)
        }
        "path" | "path/posix" => {
            // path.resolve starts from the working directory; a function has none, so it
            // resolves against the root.
            let deps = Object::new(ctx.clone())?;
            let process = Object::new(ctx.clone())?;
            process.set("cwd", Function::new(ctx.clone(), || "/")?)?;
            deps.set("process", process)?;
            // path-browserify's `path.posix` is `path` itself, as Node's is on POSIX.
            commonjs(ctx, "path", PATH, Some(deps))
        }
        "process" => {
            let natives = Object::new(ctx.clone())?;
            let get = Function::new(ctx.clone(), |ctx: Ctx<'js>, name: String| {
                ctx.userdata::<Built>()
                    .and_then(|built| built.env.get(&name))
            })?;
            natives.set("get", get)?;
            let keys = Function::new(ctx.clone(), |ctx: Ctx<'js>| {
                ctx.userdata::<Built>()
                    .map(|built| built.env.keys())
                    .unwrap_or_default()
            })?;
            natives.set("keys", keys)?;
            natives.set("platform", platform())?;
            natives.set("arch", std::env::consts::ARCH)?;
            natives.set("fluxVersion", env!("CARGO_PKG_VERSION"))?;
            factory(ctx, "process", PROCESS_JS, natives)
        }
        "crypto" => factory(ctx, "crypto", CRYPTO_JS, crypto::natives(ctx)?),
        "timers" | "timers/promises" => {
            let natives = Object::new(ctx.clone())?;
            natives.set("part", name.strip_prefix("timers/").unwrap_or_default())?;
            factory(ctx, name, TIMERS_JS, natives)
        }
        "url" => factory(ctx, "url", URL_JS, Object::new(ctx.clone())?),
        "util" => factory(ctx, "util", UTIL_JS, Object::new(ctx.clone())?),
        "util/types" => {
            let util = builtin_exports(ctx, "util")?
                .ok_or_else(|| Exception::throw_internal(ctx, "node:util is missing"))?;
            util.get("types")
        }
        _ => Err(Exception::throw_internal(
            ctx,
            &format!("node:{name} has no implementation"),
        )),
    }
}

/// Node's name for the platform flux runs on.
fn platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

/// Evaluates `source`, a factory `(function (natives, require) { … return exports; })`, and
/// calls it.
fn factory<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    source: &str,
    natives: Object<'js>,
) -> rquickjs::Result<Object<'js>> {
    let mut options = rquickjs::context::EvalOptions::default();
    options.filename = Some(format!("flux:node/{name}.js"));
    options.strict = true;
    let factory: Function = ctx.eval_with_options(source, options)?;
    factory.call((natives, require(ctx)?))
}

/// A `require` for the factories: the other built-ins.
fn require<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Function<'js>> {
    Function::new(ctx.clone(), |ctx: Ctx<'js>, name: String| {
        builtin_exports(&ctx, &name)?
            .ok_or_else(|| Exception::throw_type(&ctx, &format!("no built-in '{name}'")))
    })
}

/// Runs a vendored CommonJS file (an npm package's, as published) and returns its
/// `module.exports`. Its `require` finds only `deps`, by name; `deps.process`, when given, is
/// the `process` it sees.
fn commonjs<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    source: &str,
    deps: Option<Object<'js>>,
) -> rquickjs::Result<Object<'js>> {
    // On the first line, so that the package's own line numbers stay true in stacks.
    let wrapped = format!("(function (exports, require, module, process) {{{source}\n}})");
    let mut options = rquickjs::context::EvalOptions::default();
    options.filename = Some(format!("flux:node/vendor/{name}.js"));
    options.strict = false;
    let function: Function = ctx.eval_with_options(wrapped, options)?;
    let module = Object::new(ctx.clone())?;
    let exports = Object::new(ctx.clone())?;
    module.set("exports", exports.clone())?;
    let deps = match deps {
        Some(deps) => deps,
        None => Object::new(ctx.clone())?,
    };
    let process: rquickjs::Value = deps.get("process")?;
    let lookup = deps.clone();
    let require = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, wanted: String| match lookup
            .get::<_, Option<Object<'js>>>(wanted.as_str())?
        {
            Some(dep) => Ok(dep),
            None => Err(Exception::throw_type(
                &ctx,
                &format!("vendored package requires '{wanted}', which flux does not bundle"),
            )),
        },
    )?;
    function.call::<_, ()>((exports, require, module.clone(), process))?;
    module.get("exports")
}
