//! Error messages that name what failed.
//!
//! QuickJS says `not a function` and `cannot read property 'x' of undefined` without naming
//! the value. The code that failed is known (the module's source and the line and column of
//! the failing frame), so the message is completed from it, as Node words it:
//! `ctx.db.qeury is not a function (did you mean query?)`, `cannot read properties of
//! undefined (reading 'toUpperCase'): job.data.userId is undefined; job.data has user_id, not
//! userId`. The source is parsed with swc and the expression found at the column; when the
//! source there does not fit the message (the code changed, or QuickJS's position is not the
//! failing expression's), the message stays as it was.

use std::collections::HashMap;

use serde_json::Value;
use swc_common::{BytePos, Globals, Span, Spanned, GLOBALS};
use swc_ecma_ast::{
    ArrowExpr, AssignExpr, AssignTarget, BindingIdent, CallExpr, Callee, Decl, DefaultDecl, Expr,
    ExprOrSpread, FnDecl, ForOfStmt, Function, Ident, ImportSpecifier, Lit, MemberExpr, MemberProp,
    Module, ModuleDecl, ModuleItem, NewExpr, ObjectPatProp, Pat, PropName, SimpleAssignTarget,
    Stmt, VarDeclarator,
};
use swc_ecma_parser::{EsSyntax, Parser, StringInput, Syntax};
use swc_ecma_visit::{Visit, VisitWith};

use super::loader::Sources;
use super::ExecutionRequest;
use crate::record::{ErrorInfo, Kind};

/// Where an error was thrown, and what the execution was given.
pub struct Site<'a> {
    /// The module's code as it ran (TypeScript stripped in place, so positions are the file's).
    pub source: &'a str,
    /// 1-based, as in the stack.
    pub line: u32,
    /// 1-based, in bytes, as in the stack.
    pub column: u32,
    /// The execution's input (`job` or `req`) when the module is the function's own (its
    /// default export gets the input); `None` for a helper module.
    pub input: Option<&'a Value>,
    /// What the input is called where flux names it: `job` or `req`.
    pub input_name: &'a str,
}

/// Completes `error`'s message from the module at its first project frame in the stack (its
/// location). The original stays as the stack's first line, where V8 writes it
/// (`TypeError: not a function`): QuickJS's stack has only the frames.
pub fn complete_error(error: &mut ErrorInfo, sources: &Sources, request: &ExecutionRequest) {
    let Some((module, line, column)) = error.stack.as_deref().and_then(first_project_frame) else {
        return;
    };
    let Some(source) = sources.get(module) else {
        return;
    };
    let entry = module == request.function.module;
    let site = Site {
        source: &source,
        line,
        column,
        input: entry.then_some(&request.input),
        input_name: match request.kind {
            Kind::Http => "req",
            Kind::Job => "job",
        },
    };
    if let Some(message) = complete(&error.name, &error.message, &site) {
        let original = std::mem::replace(&mut error.message, message);
        error.stack = Some(format!(
            "{}: {original}\n{}",
            error.name,
            error.stack.as_deref().unwrap_or_default()
        ));
    }
}

/// `(module, line, column)` of the first frame of a QuickJS stack in the project's code:
/// `    at handler (send.ts:6:12)` or `    at send.ts:6:12`. `None` when the error was raised
/// in a package or a Node built-in (`flux:node/…`): the project's line called it, and its
/// expression is not what failed.
fn first_project_frame(stack: &str) -> Option<(&str, u32, u32)> {
    let raised_in_library = stack
        .lines()
        .filter_map(|frame| frame.trim().strip_prefix("at "))
        .find(|at| !at.ends_with("(native)"))
        .is_some_and(|at| at.contains("(flux:node/") || at.contains("node_modules/"));
    if raised_in_library {
        return None;
    }
    stack.lines().find_map(|frame| {
        let at = frame.trim().strip_prefix("at ")?;
        let place = match at.rsplit_once(" (") {
            Some((_, place)) => place.strip_suffix(')')?,
            None => at,
        };
        let mut parts = place.rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let line = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        let project = !file.starts_with("flux:") && !file.contains("node_modules/");
        project.then_some((file, line, column))
    })
}

/// The message completed, or `None` when there is nothing to add.
pub fn complete(name: &str, message: &str, site: &Site) -> Option<String> {
    let terse = Terse::parse(name, message)?;
    let offset = byte_offset(site.source, site.line, site.column)?;
    let module = parse(site.source)?;
    let mut found = Finder::new(offset, site, handler_span(&module));
    module.visit_with(&mut found);
    found.complete(&terse)
}

/// The QuickJS messages this module completes.
#[derive(Debug, PartialEq)]
enum Terse {
    NotFunction,
    NotConstructor,
    /// `cannot read property 'p' of undefined` (`null: false`) or `of null`.
    Read {
        property: String,
        null: bool,
    },
    Set {
        property: String,
        null: bool,
    },
    /// `value is not iterable`, or reading `Symbol.iterator` of a nullish value.
    NotIterable {
        nullish: Option<bool>,
    },
    NotDefined(String),
}

impl Terse {
    fn parse(name: &str, message: &str) -> Option<Terse> {
        if name == "ReferenceError" {
            let ident = message.strip_suffix(" is not defined")?;
            return Some(Terse::NotDefined(ident.to_string()));
        }
        if name != "TypeError" {
            return None;
        }
        match message {
            "not a function" => return Some(Terse::NotFunction),
            "not a constructor" => return Some(Terse::NotConstructor),
            "value is not iterable" => return Some(Terse::NotIterable { nullish: None }),
            _ => {}
        }
        let (set, rest) = if let Some(rest) = message.strip_prefix("cannot read property '") {
            (false, rest)
        } else {
            (true, message.strip_prefix("cannot set property '")?)
        };
        let (property, of) = rest.rsplit_once("' of ")?;
        let null = match of {
            "undefined" => false,
            "null" => true,
            _ => return None,
        };
        let property = property.to_string();
        Some(match (set, property.as_str()) {
            (false, "Symbol.iterator") => Terse::NotIterable {
                nullish: Some(null),
            },
            (false, _) => Terse::Read { property, null },
            (true, _) => Terse::Set { property, null },
        })
    }
}

fn nullish(null: bool) -> &'static str {
    if null {
        "null"
    } else {
        "undefined"
    }
}

/// The byte offset of a 1-based line and byte column.
fn byte_offset(source: &str, line: u32, column: u32) -> Option<u32> {
    let line = usize::try_from(line).ok()?.checked_sub(1)?;
    let column = usize::try_from(column).ok()?.checked_sub(1)?;
    let mut start = 0;
    for (index, text) in source.split_inclusive('\n').enumerate() {
        if index == line {
            let length = text.trim_end_matches(['\n', '\r']).len();
            return (column < length)
                .then(|| u32::try_from(start + column).ok())
                .flatten();
        }
        start += text.len();
    }
    None
}

/// Positions in the parsed module start at 1 (0 is swc's "no position").
const BASE: u32 = 1;

fn parse(source: &str) -> Option<Module> {
    let end = u32::try_from(source.len()).ok()? + BASE;
    GLOBALS.set(&Globals::new(), || {
        let input = StringInput::new(source, BytePos(BASE), BytePos(end));
        let syntax = Syntax::Es(EsSyntax::default());
        Parser::new(syntax, input, None).parse_module().ok()
    })
}

fn lo(span: Span) -> u32 {
    span.lo.0 - BASE
}

fn contains(span: Span, offset: u32) -> bool {
    lo(span) <= offset && offset < span.hi.0 - BASE
}

/// What a name stands for, as far as the source tells.
#[derive(Debug, Clone, PartialEq)]
enum Binding {
    /// A part of the input: `display` names it (`job.data`), `path` is its keys from the input.
    Input {
        display: String,
        path: Vec<String>,
    },
    Api(Api),
}

/// The objects whose members flux knows: `ctx`'s and the common globals'.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Api {
    Ctx,
    Db,
    Tx,
    Queue,
    Email,
    Global(&'static str),
}

impl Api {
    fn members(self) -> &'static [&'static str] {
        match self {
            Api::Ctx => &["db", "queue", "email", "requestId", "env"],
            Api::Db => &["insert", "query", "transaction"],
            Api::Tx => &["insert", "query", "queue"],
            Api::Queue => &["enqueue"],
            Api::Email => &["send"],
            Api::Global(name) => GLOBAL_MEMBERS
                .iter()
                .find(|(global, _)| *global == name)
                .map_or(&[], |(_, members)| members),
        }
    }

    fn member(self, name: &str) -> Option<Binding> {
        let api = match (self, name) {
            (Api::Ctx, "db") => Api::Db,
            (Api::Ctx | Api::Tx, "queue") => Api::Queue,
            (Api::Ctx, "email") => Api::Email,
            _ => return None,
        };
        Some(Binding::Api(api))
    }
}

const GLOBAL_MEMBERS: &[(&str, &[&str])] = &[
    ("JSON", &["parse", "stringify"]),
    (
        "console",
        &["log", "info", "warn", "error", "debug", "trace"],
    ),
    (
        "Object",
        &[
            "keys",
            "values",
            "entries",
            "assign",
            "freeze",
            "fromEntries",
            "create",
            "defineProperty",
            "getPrototypeOf",
            "is",
        ],
    ),
    ("Array", &["isArray", "from", "of"]),
    (
        "Number",
        &[
            "isInteger",
            "isFinite",
            "isNaN",
            "isSafeInteger",
            "parseFloat",
            "parseInt",
        ],
    ),
    ("String", &["fromCharCode", "fromCodePoint", "raw"]),
    (
        "Promise",
        &["all", "allSettled", "any", "race", "resolve", "reject"],
    ),
    ("Date", &["now", "parse", "UTC"]),
    (
        "Math",
        &[
            "abs", "ceil", "floor", "round", "trunc", "sign", "max", "min", "random", "pow",
            "sqrt", "log", "exp",
        ],
    ),
    ("crypto", &["randomUUID", "getRandomValues"]),
];

/// What to use in flux instead of a Node.js global that flux does not have.
fn node_global(name: &str) -> Option<&'static str> {
    Some(match name {
        "process" => "flux has no process global; read the variables the config's `env` names from ctx.env (ctx.env.API_KEY), or import process from 'node:process', whose env holds the same",
        "Buffer" => "flux has no Buffer global; import { Buffer } from 'node:buffer', or use Uint8Array, TextEncoder/TextDecoder, and btoa/atob for base64",
        "require" => "functions are ES modules; import instead (import { x } from './lib/x.ts', import _ from 'lodash')",
        "module" | "exports" => "functions are ES modules; export instead (export default async (req, ctx) => …)",
        "__dirname" | "__filename" => "functions cannot read the project's files; import data instead (import data from './data.json')",
        "global" => "use globalThis",
        "setImmediate" => "use setTimeout(fn, 0)",
        _ => return None,
    })
}

/// The globals a function can use, for `x is not defined`.
const GLOBALS_NAMED: &[&str] = &[
    "fetch",
    "console",
    "JSON",
    "Math",
    "Object",
    "Array",
    "Number",
    "String",
    "Boolean",
    "Promise",
    "Date",
    "Error",
    "TypeError",
    "RangeError",
    "Map",
    "Set",
    "WeakMap",
    "Symbol",
    "BigInt",
    "RegExp",
    "URL",
    "URLSearchParams",
    "Response",
    "Request",
    "Headers",
    "crypto",
    "setTimeout",
    "setInterval",
    "clearTimeout",
    "clearInterval",
    "TextEncoder",
    "TextDecoder",
    "AbortController",
    "Uint8Array",
    "atob",
    "btoa",
    "parseInt",
    "parseFloat",
    "encodeURIComponent",
    "decodeURIComponent",
];

/// The closest of `candidates` to `name`: a different spelling or case of it, or one or two
/// edits away (fewer than a third of its letters).
fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let plain = |s: &str| s.replace(['_', '-'], "").to_lowercase();
    let wanted = plain(name);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            let distance = if plain(c) == wanted {
                0
            } else {
                strsim::damerau_levenshtein(c, name)
            };
            (distance, c)
        })
        .filter(|(distance, _)| *distance <= 2 && *distance * 3 <= name.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// One expression near the failing column, by the part of the code it is.
enum Candidate {
    /// A call whose callee QuickJS points at: a member's property or a name.
    Callee(Expr),
    /// `new X()`, QuickJS pointing at the start of `X`.
    New(Expr),
    /// A property read, its span containing the column.
    Read {
        member: MemberExpr,
        span: Span,
    },
    Set {
        member: MemberExpr,
        span: Span,
    },
    /// `for (… of x)` or `...x`, QuickJS pointing at the start of `x`.
    Iterated(Expr),
    Name(String),
}

/// Walks the module once: the expressions at the column, and what names stand for.
struct Finder<'s> {
    offset: u32,
    /// The function that gets the input and `ctx`.
    handler: Option<Span>,
    /// The names the module declares, for `x is not defined`.
    declared: Vec<String>,
    /// Functions whose parameters are bound already (a transaction's callback).
    known_functions: Vec<Span>,
    input: Option<&'s Value>,
    input_name: &'s str,
    /// `None`: bound to different things in different places.
    bindings: HashMap<String, Option<Binding>>,
    candidates: Vec<Candidate>,
}

impl<'s> Finder<'s> {
    fn new(offset: u32, site: &'s Site, handler: Option<Span>) -> Finder<'s> {
        Finder {
            offset,
            handler,
            declared: Vec::new(),
            known_functions: Vec::new(),
            input: site.input,
            input_name: site.input_name,
            bindings: HashMap::new(),
            candidates: Vec::new(),
        }
    }

    fn bind(&mut self, name: &str, binding: Binding) {
        self.bindings
            .entry(name.to_string())
            .and_modify(|known| {
                if known.as_ref() != Some(&binding) {
                    *known = None;
                }
            })
            .or_insert(Some(binding));
    }

    /// Binds the names in `pat` to parts of `value`.
    fn bind_pattern(&mut self, pat: &Pat, value: Binding) {
        match pat {
            Pat::Ident(ident) => self.bind(&ident.id.sym, value),
            Pat::Assign(assign) => self.bind_pattern(&assign.left, value),
            Pat::Object(object) => {
                for prop in &object.props {
                    match prop {
                        ObjectPatProp::KeyValue(kv) => {
                            if let Some(key) = prop_name(&kv.key) {
                                if let Some(part) = member_of(&value, &key) {
                                    self.bind_pattern(&kv.value, part);
                                }
                            }
                        }
                        ObjectPatProp::Assign(assign) => {
                            if let Some(part) = member_of(&value, &assign.key.id.sym) {
                                self.bind(&assign.key.id.sym, part);
                            }
                        }
                        ObjectPatProp::Rest(_) => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// Binds the parameters of the handler; another function's parameters may be anything
    /// (names are not scoped here: one bound to different things is known as none of them).
    fn enter_function(&mut self, span: Span, params: &[&Pat]) {
        if self.handler == Some(span) {
            self.bind_handler(params);
        } else if !self.known_functions.contains(&span) {
            let mut names = Vec::new();
            for param in params {
                pattern_names(param, &mut names);
            }
            for name in names {
                self.bindings.insert(name, None);
            }
        }
    }

    /// The handler's parameters: the input, then `ctx`.
    fn bind_handler(&mut self, params: &[&Pat]) {
        if self.input.is_some() {
            if let Some(first) = params.first() {
                let display = match first {
                    Pat::Ident(ident) => ident.id.sym.to_string(),
                    _ => self.input_name.to_string(),
                };
                let input = Binding::Input {
                    display,
                    path: Vec::new(),
                };
                self.bind_pattern(first, input);
            }
        }
        if let Some(second) = params.get(1) {
            self.bind_pattern(second, Binding::Api(Api::Ctx));
        }
    }

    fn resolve(&self, expr: &Expr) -> Option<Binding> {
        match expr {
            Expr::Ident(ident) => match self.bindings.get(&*ident.sym) {
                Some(Some(binding)) => Some(binding.clone()),
                // A helper's `ctx` parameter is flux's ctx.
                _ if &*ident.sym == "ctx" => Some(Binding::Api(Api::Ctx)),
                Some(None) => None,
                None => GLOBAL_MEMBERS
                    .iter()
                    .find(|(name, _)| *name == &*ident.sym)
                    .map(|(name, _)| Binding::Api(Api::Global(name))),
            },
            Expr::Paren(paren) => self.resolve(&paren.expr),
            Expr::Member(member) => {
                let key = static_property(&member.prop)?;
                member_of(&self.resolve(&member.obj)?, &key)
            }
            _ => None,
        }
    }

    fn complete(&self, terse: &Terse) -> Option<String> {
        match terse {
            Terse::NotFunction | Terse::NotConstructor => {
                let (callee, new) = self.candidates.iter().find_map(|c| match c {
                    Candidate::Callee(callee) if *terse == Terse::NotFunction => {
                        Some((callee, false))
                    }
                    Candidate::New(callee) => Some((callee, true)),
                    _ => None,
                })?;
                let shown = show(callee)?;
                if new {
                    return Some(format!("{shown} is not a constructor"));
                }
                let hint = match callee {
                    Expr::Member(member) => {
                        let name = static_property(&member.prop)?;
                        match self.resolve(&member.obj) {
                            Some(Binding::Api(api)) => {
                                closest(&name, api.members().iter().copied())
                                    .map(|c| format!(" (did you mean {c}?)"))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                Some(format!(
                    "{shown} is not a function{}",
                    hint.unwrap_or_default()
                ))
            }
            Terse::Read { property, null } | Terse::Set { property, null } => {
                let set = matches!(terse, Terse::Set { .. });
                // The innermost access of that property around the column.
                let member = self
                    .candidates
                    .iter()
                    .filter_map(|c| match c {
                        Candidate::Read { member, span } if !set => Some((member, span)),
                        Candidate::Set { member, span } if set => Some((member, span)),
                        _ => None,
                    })
                    .filter(|(member, _)| {
                        static_property(&member.prop).is_none_or(|p| p == *property)
                    })
                    .min_by_key(|(member, span)| {
                        (
                            static_property(&member.prop).is_none(),
                            span.hi.0 - span.lo.0,
                        )
                    })
                    .map(|(member, _)| member)?;
                let object = show(&member.obj)?;
                let what = nullish(*null);
                let verb = if set { "set" } else { "read" };
                let doing = if set { "setting" } else { "reading" };
                let mut text = format!(
                    "cannot {verb} properties of {what} ({doing} '{property}'): {object} is {what}"
                );
                if let Some(hint) = self.input_hint(&member.obj, *null) {
                    text.push_str(&format!("; {hint}"));
                }
                Some(text)
            }
            Terse::NotIterable { nullish: value } => {
                let iterated = self.candidates.iter().find_map(|c| match c {
                    Candidate::Iterated(expr) => Some(expr),
                    _ => None,
                })?;
                let shown = show(iterated)?;
                let mut text = format!("{shown} is not iterable");
                if let Some(null) = value {
                    text.push_str(&format!(" (it is {})", nullish(*null)));
                    if let Some(hint) = self.input_hint(iterated, *null) {
                        text.push_str(&format!("; {hint}"));
                    }
                }
                Some(text)
            }
            Terse::NotDefined(name) => {
                let there = self
                    .candidates
                    .iter()
                    .any(|c| matches!(c, Candidate::Name(n) if n == name));
                if let Some(instead) = node_global(name) {
                    return there.then(|| format!("{name} is not defined: {instead}"));
                }
                let names = GLOBALS_NAMED
                    .iter()
                    .copied()
                    .chain(self.declared.iter().map(String::as_str));
                let suggestion = closest(name, names)?;
                there.then(|| format!("{name} is not defined (did you mean {suggestion}?)"))
            }
        }
    }

    /// When `expr` is a part of the input that the input lacks: which keys it had.
    fn input_hint(&self, expr: &Expr, null: bool) -> Option<String> {
        let Some(Binding::Input { display, path }) = self.resolve(expr) else {
            return None;
        };
        let (key, parents) = path.split_last()?;
        let mut parent = self.input?;
        for step in parents {
            parent = match parent {
                Value::Object(map) => map.get(step)?,
                Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        let parent_display = display.strip_suffix(&format!(".{key}"))?;
        let Value::Object(map) = parent else {
            return None;
        };
        match map.get(key) {
            // Present in the input: it was null there, or the code changed it.
            Some(Value::Null) if null => return Some(format!("{display} is null in the input")),
            Some(_) => return None,
            // Absent from the input would read as undefined, not null.
            None if null => return None,
            None => {}
        }
        if map.is_empty() {
            return Some(format!("{parent_display} has no keys"));
        }
        if let Some(near) = closest(key, map.keys().map(String::as_str)) {
            return Some(format!("{parent_display} has {near}, not {key}"));
        }
        const SHOWN: usize = 8;
        let mut keys: Vec<&str> = map.keys().map(String::as_str).take(SHOWN).collect();
        if map.len() > SHOWN {
            keys.push("…");
        }
        Some(format!(
            "{parent_display} has no {key} (its keys: {})",
            keys.join(", ")
        ))
    }
}

/// The names a pattern binds.
fn pattern_names(pat: &Pat, names: &mut Vec<String>) {
    match pat {
        Pat::Ident(ident) => names.push(ident.id.sym.to_string()),
        Pat::Assign(assign) => pattern_names(&assign.left, names),
        Pat::Rest(rest) => pattern_names(&rest.arg, names),
        Pat::Array(array) => {
            for element in array.elems.iter().flatten() {
                pattern_names(element, names);
            }
        }
        Pat::Object(object) => {
            for prop in &object.props {
                match prop {
                    ObjectPatProp::KeyValue(kv) => pattern_names(&kv.value, names),
                    ObjectPatProp::Assign(assign) => names.push(assign.key.id.sym.to_string()),
                    ObjectPatProp::Rest(rest) => pattern_names(&rest.arg, names),
                }
            }
        }
        Pat::Expr(_) | Pat::Invalid(_) => {}
    }
}

/// The part of `value` at its member `key`.
fn member_of(value: &Binding, key: &str) -> Option<Binding> {
    match value {
        Binding::Input { display, path } => {
            let mut path = path.clone();
            path.push(key.to_string());
            Some(Binding::Input {
                display: format!("{display}.{key}"),
                path,
            })
        }
        Binding::Api(api) => api.member(key),
    }
}

fn prop_name(key: &PropName) -> Option<String> {
    match key {
        PropName::Ident(ident) => Some(ident.sym.to_string()),
        PropName::Str(s) => s.value.as_str().map(String::from),
        _ => None,
    }
}

/// A property's name when the source says it: `.x`, `['x']`, `[0]`.
fn static_property(prop: &MemberProp) -> Option<String> {
    match prop {
        MemberProp::Ident(ident) => Some(ident.sym.to_string()),
        MemberProp::Computed(computed) => match &*computed.expr {
            Expr::Lit(Lit::Str(s)) => s.value.as_str().map(String::from),
            Expr::Lit(Lit::Num(n)) => Some(n.value.to_string()),
            _ => None,
        },
        MemberProp::PrivateName(_) => None,
    }
}

/// An expression as Node names it in a message: `ctx.db.query`, `items[0]`, `load().user`;
/// `None` for one that cannot be named shortly.
fn show(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Ident(ident) => Some(ident.sym.to_string()),
        Expr::This(_) => Some("this".into()),
        Expr::Paren(paren) => show(&paren.expr),
        Expr::Member(member) => {
            let object = show(&member.obj)?;
            Some(match &member.prop {
                MemberProp::Ident(ident) => format!("{object}.{}", ident.sym),
                MemberProp::PrivateName(name) => format!("{object}.#{}", name.name),
                MemberProp::Computed(computed) => match &*computed.expr {
                    Expr::Lit(Lit::Str(s)) => format!("{object}['{}']", s.value.as_str()?),
                    Expr::Lit(Lit::Num(n)) => format!("{object}[{}]", n.value),
                    Expr::Ident(ident) => format!("{object}[{}]", ident.sym),
                    _ => format!("{object}[…]"),
                },
            })
        }
        Expr::Call(call) => match &call.callee {
            Callee::Expr(callee) => Some(format!("{}(…)", show(callee)?)),
            _ => None,
        },
        Expr::OptChain(chain) => match &*chain.base {
            swc_ecma_ast::OptChainBase::Member(member) => show(&Expr::Member(member.clone())),
            swc_ecma_ast::OptChainBase::Call(_) => None,
        },
        _ => None,
    }
}

/// The span of the function the module exports as its default (the handler, when the module
/// is the function's): `export default function …`, `export default async (job) => …`, or
/// `export default handler` naming a function declared at the top of the module.
fn handler_span(module: &Module) -> Option<Span> {
    let mut named = None;
    for item in &module.body {
        match item {
            ModuleItem::ModuleDecl(ModuleDecl::ExportDefaultDecl(export)) => {
                return match &export.decl {
                    DefaultDecl::Fn(function) => Some(function.function.span),
                    _ => None,
                };
            }
            ModuleItem::ModuleDecl(ModuleDecl::ExportDefaultExpr(export)) => match &*export.expr {
                Expr::Ident(ident) => named = Some(ident.sym.clone()),
                expr => return function_span(expr),
            },
            _ => {}
        }
    }
    let named = named?;
    module.body.iter().find_map(|item| match item {
        ModuleItem::Stmt(Stmt::Decl(Decl::Fn(decl))) if decl.ident.sym == named => {
            Some(decl.function.span)
        }
        ModuleItem::Stmt(Stmt::Decl(Decl::Var(var))) => {
            var.decls
                .iter()
                .find_map(|decl| match (&decl.name, decl.init.as_deref()) {
                    (Pat::Ident(ident), Some(init)) if ident.id.sym == named => function_span(init),
                    _ => None,
                })
        }
        _ => None,
    })
}

fn function_span(expr: &Expr) -> Option<Span> {
    match expr {
        Expr::Arrow(arrow) => Some(arrow.span),
        Expr::Fn(function) => Some(function.function.span),
        Expr::Paren(paren) => function_span(&paren.expr),
        _ => None,
    }
}

/// The parameters of `expr` when it is a function.
fn function_params(expr: &Expr) -> Option<Vec<&Pat>> {
    match expr {
        Expr::Arrow(ArrowExpr { params, .. }) => Some(params.iter().collect()),
        Expr::Fn(function) => Some(function.function.params.iter().map(|p| &p.pat).collect()),
        Expr::Paren(paren) => function_params(&paren.expr),
        _ => None,
    }
}

impl Visit for Finder<'_> {
    fn visit_function(&mut self, function: &Function) {
        let params: Vec<&Pat> = function.params.iter().map(|p| &p.pat).collect();
        self.enter_function(function.span, &params);
        function.visit_children_with(self);
    }

    fn visit_arrow_expr(&mut self, arrow: &ArrowExpr) {
        let params: Vec<&Pat> = arrow.params.iter().collect();
        self.enter_function(arrow.span, &params);
        arrow.visit_children_with(self);
    }

    fn visit_binding_ident(&mut self, ident: &BindingIdent) {
        self.declared.push(ident.id.sym.to_string());
        ident.visit_children_with(self);
    }

    fn visit_fn_decl(&mut self, decl: &FnDecl) {
        self.declared.push(decl.ident.sym.to_string());
        decl.visit_children_with(self);
    }

    fn visit_import_specifier(&mut self, specifier: &ImportSpecifier) {
        let local = match specifier {
            ImportSpecifier::Named(named) => &named.local,
            ImportSpecifier::Default(default) => &default.local,
            ImportSpecifier::Namespace(namespace) => &namespace.local,
        };
        self.declared.push(local.sym.to_string());
        specifier.visit_children_with(self);
    }

    fn visit_var_declarator(&mut self, declarator: &VarDeclarator) {
        // Visited first: a name's value is known before the code after it uses it.
        declarator.visit_children_with(self);
        if let Some(init) = &declarator.init {
            if let Some(value) = self.resolve(init) {
                self.bind_pattern(&declarator.name, value);
            }
        }
    }

    fn visit_call_expr(&mut self, call: &CallExpr) {
        if let Callee::Expr(callee) = &call.callee {
            let anchor = match &**callee {
                Expr::Member(member) => match &member.prop {
                    MemberProp::Ident(ident) => Some(lo(ident.span)),
                    _ => None,
                },
                Expr::Ident(ident) => Some(lo(ident.span)),
                _ => None,
            };
            if anchor == Some(self.offset) {
                self.candidates.push(Candidate::Callee((**callee).clone()));
            }
            // `ctx.db.transaction(async (tx) => …)`: `tx` is a transaction.
            if let Expr::Member(member) = &**callee {
                let is_transaction = static_property(&member.prop).as_deref()
                    == Some("transaction")
                    && self.resolve(&member.obj) == Some(Binding::Api(Api::Db));
                let callback = call.args.first().map(|arg| &*arg.expr);
                let params = callback.and_then(function_params);
                if let (true, Some(params)) = (is_transaction, params) {
                    if let Some(first) = params.first() {
                        self.bind_pattern(first, Binding::Api(Api::Tx));
                    }
                    self.known_functions
                        .extend(callback.and_then(function_span));
                }
            }
        }
        call.visit_children_with(self);
    }

    fn visit_new_expr(&mut self, new: &NewExpr) {
        if lo(new.callee.span()) == self.offset {
            self.candidates.push(Candidate::New((*new.callee).clone()));
        }
        new.visit_children_with(self);
    }

    fn visit_member_expr(&mut self, member: &MemberExpr) {
        if contains(member.span, self.offset) {
            self.candidates.push(Candidate::Read {
                member: member.clone(),
                span: member.span,
            });
        }
        member.visit_children_with(self);
    }

    fn visit_assign_expr(&mut self, assign: &AssignExpr) {
        if let AssignTarget::Simple(SimpleAssignTarget::Member(member)) = &assign.left {
            if contains(member.span, self.offset) {
                self.candidates.push(Candidate::Set {
                    member: member.clone(),
                    span: member.span,
                });
            }
        }
        assign.visit_children_with(self);
    }

    fn visit_for_of_stmt(&mut self, stmt: &ForOfStmt) {
        if lo(stmt.right.span()) == self.offset {
            self.candidates
                .push(Candidate::Iterated((*stmt.right).clone()));
        }
        stmt.visit_children_with(self);
    }

    fn visit_expr_or_spread(&mut self, item: &ExprOrSpread) {
        if item.spread.is_some() && lo(item.expr.span()) == self.offset {
            self.candidates
                .push(Candidate::Iterated((*item.expr).clone()));
        }
        item.visit_children_with(self);
    }

    fn visit_ident(&mut self, ident: &Ident) {
        if lo(ident.span) == self.offset {
            self.candidates.push(Candidate::Name(ident.sym.to_string()));
        }
    }
}

#[cfg(test)]
mod tests;
