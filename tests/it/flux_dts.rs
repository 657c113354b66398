//! `flux.d.ts` describes exactly what the runtime provides: every global a function sees (beyond
//! what TypeScript's ES library, the tsconfig's `lib`, declares already), with the members of its
//! prototype chain and its statics, the members of global objects (`console`, `crypto`…), and
//! `ctx` (with a transaction's `tx`), `req` and `job` — nothing more, nothing less.
//!
//! The runtime's side is read by a function inside `flux dev`; the declarations' side by
//! parsing `flux.d.ts` and the ES library files of the fixture's TypeScript with swc. A failure
//! lists each name missing from flux.d.ts or declared there without existing at runtime.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;
use swc_common::BytePos;
use swc_ecma_ast::{
    ClassMember, Decl, Expr, Module, ModuleItem, Pat, PropName, Stmt, TsEntityName,
    TsInterfaceDecl, TsType, TsTypeElement, TsUnionOrIntersectionType,
};
use swc_ecma_parser::{Parser, StringInput, Syntax, TsSyntax};

use crate::support::Project;

const FLUX_DTS: &str = include_str!("../../examples/welcome/flux.d.ts");
const TSCONFIG: &str = include_str!("../../examples/welcome/tsconfig.json");

/// QuickJS's own globals that are no standard: left out of flux.d.ts on purpose, so that
/// type-checked code stays portable.
const ENGINE_ONLY: &[&str] = &["InternalError"];

/// Reads what a function sees: for each global its own property names (a function's without
/// `length`, `name`, `prototype`) and, for a constructor, its prototype chain as
/// `[constructor name, member names]` per level; `ctx` and a transaction's `tx` as trees of
/// their object members; the keys of `req`; the id of a job whose worker returns the keys of `job`.
const PROBE: &str = r#"
const names = (o) => Object.getOwnPropertyNames(o)
const FUNCTION_OWN = ['length', 'name', 'prototype']
function chain(f) {
  const levels = []
  for (let p = f.prototype; p; p = Object.getPrototypeOf(p)) {
    const owner = Object.hasOwn(p, 'constructor') ? p.constructor?.name ?? '' : ''
    levels.push([owner, names(p).filter((n) => n !== 'constructor')])
  }
  return levels
}
const tree = (o) => Object.fromEntries(names(o).map((k) => [k, o[k] && typeof o[k] === 'object' && k !== 'env' ? tree(o[k]) : null]))
export default async function handler(req, ctx) {
  const globals = {}
  for (const name of names(globalThis)) {
    if (name === 'globalThis') continue
    const v = globalThis[name]
    if (typeof v === 'function') globals[name] = { own: names(v).filter((n) => !FUNCTION_OWN.includes(n)), chain: v.prototype ? chain(v) : [] }
    else if (v && typeof v === 'object') globals[name] = { own: names(v), chain: [] }
    else globals[name] = { own: [], chain: [] }
  }
  let tx = null
  await ctx.db.transaction(async (t) => { tx = tree(t) })
  const { id: job } = await ctx.queue.enqueue('job_probe', {})
  return { globals, ctx: tree(ctx), tx, req: names(req), job }
}
"#;

#[test]
fn flux_d_ts_declares_exactly_the_runtimes_globals_and_ctx() {
    let project = Project::with_files(&[
        ("functions/probe.js", PROBE),
        (
            "functions/job_probe.js",
            "export default (job) => Object.getOwnPropertyNames(job)",
        ),
    ]);
    let server = project.start();
    let reply = server.get("/probe");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let runtime = reply.json();

    let mut es = es_library_values();
    // A keyword to TypeScript, a property of `globalThis` to JavaScript.
    es.insert("undefined".to_string());
    let module = parse_dts(FLUX_DTS);
    let dts = Declarations::of(&module);
    let mut report = Vec::new();

    let globals = runtime["globals"].as_object().expect("globals");
    let at_runtime: BTreeSet<&str> = globals.keys().map(String::as_str).collect();
    let declared: BTreeSet<&str> = dts.values.keys().map(String::as_str).collect();
    for name in &at_runtime {
        if !es.contains(*name) && !declared.contains(name) && !ENGINE_ONLY.contains(name) {
            report.push(format!("missing from flux.d.ts: global {name}"));
        }
    }
    for name in &declared {
        if !at_runtime.contains(name) {
            report.push(format!(
                "declared in flux.d.ts but not in the runtime: global {name}"
            ));
        }
    }
    for (name, value) in &dts.values {
        let Some(found) = globals.get(name) else {
            continue;
        };
        let own: BTreeSet<String> = strings(&found["own"]);
        match value {
            Global::Function => {}
            Global::Typed(ty) => {
                let members = dts.members(ty);
                if let Some(instance) = dts.member_type(ty, "prototype") {
                    let statics: BTreeSet<String> = members
                        .into_iter()
                        .filter(|member| member != "prototype")
                        .collect();
                    compare(&mut report, &format!("{name} (statics)"), &own, &statics);
                    let chain = runtime_chain(&found["chain"], &es);
                    compare(
                        &mut report,
                        &format!("{name}.prototype"),
                        &chain,
                        &dts.members(instance),
                    );
                } else {
                    compare(&mut report, name, &own, &members);
                }
            }
            Global::Class(statics, instance) => {
                compare(&mut report, &format!("{name} (statics)"), &own, statics);
                let mut instance = instance.clone();
                if let Some(merged) = dts.interfaces.get(name.as_str()) {
                    for interface in merged {
                        instance.extend(dts.interface_members(interface));
                    }
                }
                let chain = runtime_chain(&found["chain"], &es);
                compare(&mut report, &format!("{name}.prototype"), &chain, &instance);
            }
        }
    }

    let context = Declarations::interface_type("FluxContext");
    compare_tree(&mut report, "ctx", &runtime["ctx"], &dts, &context);
    let tx = Declarations::interface_type("FluxTx");
    compare_tree(&mut report, "tx", &runtime["tx"], &dts, &tx);
    let request = dts.members(&Declarations::interface_type("FluxRequest"));
    compare(&mut report, "req", &strings(&runtime["req"]), &request);
    let job_id = runtime["job"].as_str().expect("the job's id");
    let job = server.record(job_id);
    let declared_job = dts.members(&Declarations::interface_type("FluxJob"));
    compare(&mut report, "job", &strings(&job["output"]), &declared_job);

    // What TypeScript's ES library declares without the runtime having it is TypeScript's to
    // say, not flux.d.ts's: noted, not failed.
    let absent: Vec<&String> = es
        .iter()
        .filter(|name| !at_runtime.contains(name.as_str()) && name.as_str() != "globalThis")
        .collect();
    if !absent.is_empty() {
        eprintln!("note: TypeScript's ES library declares globals the runtime lacks: {absent:?}");
    }

    assert!(
        report.is_empty(),
        "flux.d.ts and the runtime disagree:\n  {}",
        report.join("\n  ")
    );
}

/// The member names a constructor's instances have at runtime: each level of the prototype
/// chain up to the first that belongs to the ES library (`Object`, `Error`).
fn runtime_chain(chain: &Value, es: &BTreeSet<String>) -> BTreeSet<String> {
    let mut members = BTreeSet::new();
    for level in chain.as_array().into_iter().flatten() {
        let owner = level[0].as_str().unwrap_or_default();
        if es.contains(owner) {
            break;
        }
        members.extend(strings(&level[1]));
    }
    members
}

/// Compares the runtime's members of `what` with flux.d.ts's, adding a line per difference.
fn compare(
    report: &mut Vec<String>,
    what: &str,
    runtime: &BTreeSet<String>,
    declared: &BTreeSet<String>,
) {
    let missing: Vec<&String> = runtime.difference(declared).collect();
    let extra: Vec<&String> = declared.difference(runtime).collect();
    if !missing.is_empty() {
        report.push(format!("missing from flux.d.ts: {what}: {missing:?}"));
    }
    if !extra.is_empty() {
        report.push(format!(
            "declared in flux.d.ts but not in the runtime: {what}: {extra:?}"
        ));
    }
}

/// Compares an object tree from the probe (`ctx`) with the declared type, level by level.
fn compare_tree(
    report: &mut Vec<String>,
    path: &str,
    runtime: &Value,
    dts: &Declarations<'_>,
    ty: &TsType,
) {
    let Some(object) = runtime.as_object() else {
        return;
    };
    let keys: BTreeSet<String> = object.keys().cloned().collect();
    compare(report, path, &keys, &dts.members(ty));
    for (key, child) in object {
        if let (true, Some(member)) = (child.is_object(), dts.member_type(ty, key)) {
            compare_tree(report, &format!("{path}.{key}"), child, dts, member);
        }
    }
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

fn parse_dts(source: &str) -> Module {
    let end = BytePos(1 + source.len() as u32);
    let input = StringInput::new(source, BytePos(1), end);
    let syntax = Syntax::Typescript(TsSyntax {
        dts: true,
        ..Default::default()
    });
    Parser::new(syntax, input, None)
        .parse_module()
        .unwrap_or_else(|error| panic!("a declaration file does not parse: {error:?}"))
}

/// The global values TypeScript's ES library declares, for the `lib` the example's
/// tsconfig.json names, following each file's `/// <reference lib="…" />`.
fn es_library_values() -> BTreeSet<String> {
    let tsconfig: Value = serde_json::from_str(
        &TSCONFIG
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .expect("tsconfig.json is JSON once its comment lines are left out");
    let lib_dir = crate::npm::node_modules().join("typescript/lib");
    let mut pending: Vec<String> = strings(&tsconfig["compilerOptions"]["lib"])
        .into_iter()
        .map(|lib| lib.to_lowercase())
        .collect();
    let mut seen = BTreeSet::new();
    let mut values = BTreeSet::new();
    while let Some(lib) = pending.pop() {
        if !seen.insert(lib.clone()) {
            continue;
        }
        let source = read(&lib_dir.join(format!("lib.{lib}.d.ts")));
        for line in source.lines() {
            if let Some(rest) = line.strip_prefix("/// <reference lib=\"") {
                pending.extend(rest.split('"').next().map(String::from));
            }
        }
        values.extend(Declarations::of(&parse_dts(&source)).values.into_keys());
    }
    values
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// How a global value is declared.
enum Global<'a> {
    /// `declare function`, or a namespace: compared by name only.
    Function,
    /// `declare var x: T`.
    Typed(&'a TsType),
    /// `declare class`: static and instance member names.
    Class(BTreeSet<String>, BTreeSet<String>),
}

/// The global declarations of one declaration file.
struct Declarations<'a> {
    values: BTreeMap<String, Global<'a>>,
    interfaces: HashMap<&'a str, Vec<&'a TsInterfaceDecl>>,
    aliases: HashMap<&'a str, &'a TsType>,
}

impl<'a> Declarations<'a> {
    fn of(module: &'a Module) -> Declarations<'a> {
        let mut dts = Declarations {
            values: BTreeMap::new(),
            interfaces: HashMap::new(),
            aliases: HashMap::new(),
        };
        for item in &module.body {
            let ModuleItem::Stmt(Stmt::Decl(decl)) = item else {
                continue;
            };
            match decl {
                Decl::Var(var) => {
                    for declarator in &var.decls {
                        if let Pat::Ident(ident) = &declarator.name {
                            let value = match &ident.type_ann {
                                Some(ann) => Global::Typed(&ann.type_ann),
                                None => Global::Function,
                            };
                            dts.values.insert(ident.id.sym.to_string(), value);
                        }
                    }
                }
                Decl::Fn(function) => {
                    dts.values
                        .insert(function.ident.sym.to_string(), Global::Function);
                }
                Decl::Class(class) => {
                    let (mut statics, mut instance) = (BTreeSet::new(), BTreeSet::new());
                    for member in &class.class.body {
                        let (key, is_static) = match member {
                            ClassMember::Method(m) => (&m.key, m.is_static),
                            ClassMember::ClassProp(p) => (&p.key, p.is_static),
                            _ => continue,
                        };
                        if let Some(name) = prop_name(key) {
                            if is_static {
                                &mut statics
                            } else {
                                &mut instance
                            }
                            .insert(name);
                        }
                    }
                    dts.values.insert(
                        class.ident.sym.to_string(),
                        Global::Class(statics, instance),
                    );
                }
                // `declare global { … }` adds to the globals; it is not one.
                Decl::TsModule(namespace) if !namespace.global => {
                    if let Some(ident) = namespace.id.as_ident() {
                        dts.values.insert(ident.sym.to_string(), Global::Function);
                    }
                }
                Decl::TsInterface(interface) => {
                    dts.interfaces
                        .entry(interface.id.sym.as_str())
                        .or_default()
                        .push(interface);
                }
                Decl::TsTypeAlias(alias) => {
                    dts.aliases.insert(alias.id.sym.as_str(), &alias.type_ann);
                }
                _ => {}
            }
        }
        dts
    }

    /// A reference to the interface `name`, as a type.
    fn interface_type(name: &str) -> TsType {
        let source = format!("type T = {name}");
        let module = parse_dts(&source);
        match module.body.into_iter().next() {
            Some(ModuleItem::Stmt(Stmt::Decl(Decl::TsTypeAlias(alias)))) => *alias.type_ann,
            _ => panic!("{name} is not a type"),
        }
    }

    /// The member names of a type: its properties and methods (signatures left out).
    fn members(&self, ty: &TsType) -> BTreeSet<String> {
        self.elements(ty)
            .into_iter()
            .filter_map(|element| element_name(element).map(|(name, _)| name))
            .collect()
    }

    /// The declared type of member `name` of `ty`.
    fn member_type<'s>(&'s self, ty: &'s TsType, name: &str) -> Option<&'s TsType> {
        self.elements(ty).into_iter().find_map(|element| {
            let (found, ty) = element_name(element)?;
            (found == name).then_some(ty).flatten()
        })
    }

    fn interface_members(&self, interface: &TsInterfaceDecl) -> BTreeSet<String> {
        let mut elements = Vec::new();
        self.interface_elements(interface, &mut elements);
        elements
            .into_iter()
            .filter_map(|element| element_name(element).map(|(name, _)| name))
            .collect()
    }

    fn elements<'s>(&'s self, ty: &'s TsType) -> Vec<&'s TsTypeElement> {
        let mut out = Vec::new();
        self.collect(ty, &mut out);
        out
    }

    fn collect<'s>(&'s self, ty: &'s TsType, out: &mut Vec<&'s TsTypeElement>) {
        match ty {
            TsType::TsTypeLit(literal) => out.extend(&literal.members),
            TsType::TsParenthesizedType(inner) => self.collect(&inner.type_ann, out),
            TsType::TsUnionOrIntersectionType(TsUnionOrIntersectionType::TsIntersectionType(
                both,
            )) => {
                for part in &both.types {
                    self.collect(part, out);
                }
            }
            TsType::TsTypeRef(reference) => {
                let TsEntityName::Ident(name) = &reference.type_name else {
                    return;
                };
                if let Some(alias) = self.aliases.get(name.sym.as_str()) {
                    self.collect(alias, out);
                }
                for interface in self.interfaces.get(name.sym.as_str()).into_iter().flatten() {
                    self.interface_elements(interface, out);
                }
            }
            _ => {}
        }
    }

    /// An interface's elements and those of the interfaces it extends that this file declares
    /// (the ES library's, such as `Error`, are the runtime's too and left out on both sides).
    fn interface_elements<'s>(
        &'s self,
        interface: &'s TsInterfaceDecl,
        out: &mut Vec<&'s TsTypeElement>,
    ) {
        out.extend(&interface.body.body);
        for parent in &interface.extends {
            if let Expr::Ident(name) = &*parent.expr {
                for parent in self.interfaces.get(name.sym.as_str()).into_iter().flatten() {
                    self.interface_elements(parent, out);
                }
            }
        }
    }
}

/// A named element's name and declared type (a method's is none); signatures and computed
/// keys (`[Symbol.iterator]`) have no name.
fn element_name(element: &TsTypeElement) -> Option<(String, Option<&TsType>)> {
    let (key, computed, ty) = match element {
        TsTypeElement::TsPropertySignature(p) => (
            &p.key,
            p.computed,
            p.type_ann.as_ref().map(|a| &*a.type_ann),
        ),
        TsTypeElement::TsMethodSignature(m) => (&m.key, m.computed, None),
        TsTypeElement::TsGetterSignature(g) => (
            &g.key,
            g.computed,
            g.type_ann.as_ref().map(|a| &*a.type_ann),
        ),
        TsTypeElement::TsSetterSignature(s) => (&s.key, s.computed, None),
        _ => return None,
    };
    if computed {
        return None;
    }
    match &**key {
        Expr::Ident(ident) => Some((ident.sym.to_string(), ty)),
        Expr::Lit(swc_ecma_ast::Lit::Str(text)) => {
            Some((text.value.to_atom_lossy().to_string(), ty))
        }
        _ => None,
    }
}

fn prop_name(key: &PropName) -> Option<String> {
    match key {
        PropName::Ident(ident) => Some(ident.sym.to_string()),
        PropName::Str(text) => Some(text.value.to_atom_lossy().to_string()),
        _ => None,
    }
}
