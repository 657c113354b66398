//! The graph of `src/`'s top-level modules has no cycles, and follows the layers that
//! ARCHITECTURE.md lists: a module imports only modules listed before it.
//!
//! An edge `a -> b` is any `crate::b` written in any file of module `a` (`use crate::b::…`,
//! `crate::b::f()`, `use crate::{b, …}`, tests and doc links included): that is how a reader
//! (and a reviewer's grep) sees the dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The top-level modules bottom-up, as ARCHITECTURE.md's layout lists them.
const LAYERS: &[&str] = &[
    "clock", "timefmt", "token", "record", "project", "store", "queue", "runtime", "version",
    "api", "client", "why", "render", "server", "dev", "output", "cli",
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

/// The names `text` reaches through `crate::`: `crate::a::…`, `crate::a` and each first
/// segment of `crate::{a::…, b}`.
fn crate_paths(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("crate::") {
        let preceded_by_word = text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if preceded_by_word {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split on commas outside nested braces.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.push(ident(group[start..i].trim_start()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(ident(group[start..i].trim_start()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.push(ident(rest));
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

/// Top-level module -> the modules it reaches -> where (file:line) it does.
fn module_graph() -> Graph {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        // The crate roots: lib.rs declares the modules, main.rs is the binary's own crate.
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        let edges = graph.entry(module.clone()).or_default();
        for (number, line) in text.lines().enumerate() {
            for target in crate_paths(line) {
                if target != module {
                    edges.entry(target).or_default().push(format!(
                        "src/{}:{}",
                        relative.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    graph
}

/// One cycle through each strongly connected component with more than one module
/// (Tarjan's algorithm; a module never reaches itself, see `module_graph`).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<Vec<&'g str>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, node: &'g str) {
            let index = self.index.len();
            self.index.insert(node, index);
            self.low.insert(node, index);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.graph.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                self.components.push(component);
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !tarjan.index.contains_key(node.as_str()) {
            tarjan.visit(node);
        }
    }
    tarjan
        .components
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| {
            let members: BTreeSet<&str> = component.into_iter().collect();
            shortest_cycle(graph, &members)
        })
        .collect()
}

/// A shortest cycle through the first of `members` (breadth-first, inside the component).
fn shortest_cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    members: &BTreeSet<&str>,
) -> Vec<String> {
    let start = *members.iter().next().expect("a member");
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(node).into_iter().flatten() {
            let next = next.as_str();
            if !members.contains(next) {
                continue;
            }
            if next == start {
                let mut cycle = vec![node.to_string()];
                let mut at = node;
                while at != start {
                    at = came_from[at];
                    cycle.push(at.to_string());
                }
                cycle.reverse();
                return cycle;
            }
            if !came_from.contains_key(next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    members.iter().map(|m| m.to_string()).collect()
}

#[test]
fn top_level_modules_have_no_import_cycles() {
    let graph = module_graph();
    assert!(
        graph.len() > 5 && graph.values().any(|edges| !edges.is_empty()),
        "no modules or no edges found under {}: the scan is broken",
        src_dir().display()
    );
    let checked: BTreeMap<String, BTreeSet<String>> = graph
        .iter()
        .map(|(from, edges)| (from.clone(), edges.keys().cloned().collect()))
        .collect();
    let found = cycles(&checked);
    let mut report = String::new();
    for cycle in &found {
        report.push_str(&format!(
            "\ncycle: {} -> {}\n",
            cycle.join(" -> "),
            cycle[0]
        ));
        for (i, from) in cycle.iter().enumerate() {
            let to = &cycle[(i + 1) % cycle.len()];
            let places = &graph[from][to];
            report.push_str(&format!("  {from} -> {to}: {}\n", places.join(", ")));
        }
    }
    assert!(
        found.is_empty(),
        "top-level modules of src/ import each other in a cycle (a lower module must not \
         import a higher one; see ARCHITECTURE.md):{report}"
    );
}

#[test]
fn crate_paths_are_read_from_plain_and_grouped_imports() {
    assert_eq!(crate_paths("use crate::store::Store;"), ["store"]);
    assert_eq!(
        crate_paths("use crate::{record::{ExecId, JobId}, timefmt};"),
        ["record", "timefmt"]
    );
    assert_eq!(crate_paths("let x = crate::why::explain(&r);"), ["why"]);
    assert_eq!(crate_paths("$crate::output::print!()"), ["output"]);
    assert!(crate_paths("rusqlite_crate::x; my_crate::y").is_empty());
}

#[test]
fn a_cycle_is_found_and_a_chain_is_not() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
            graph.entry(to.to_string()).or_default();
        }
        graph
    };
    assert!(cycles(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
    assert_eq!(
        cycles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        [["a", "b", "c"]]
    );
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let graph = module_graph();
    let unlisted: Vec<&String> = graph
        .keys()
        .filter(|m| !LAYERS.contains(&m.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "modules missing from LAYERS (add them there and to ARCHITECTURE.md's layout): {unlisted:?}"
    );
    let layer = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut upward = String::new();
    for (from, edges) in &graph {
        for (to, places) in edges {
            if layer(to) > layer(from) {
                upward.push_str(&format!("\n  {from} -> {to}: {}", places.join(", ")));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "a module imports one above it (see ARCHITECTURE.md's layers):{upward}"
    );
}

#[test]
fn architecture_md_lists_the_layers_in_order() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md");
    let listed: Vec<String> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("src/"))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|path| {
            path.trim_end_matches('/')
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    assert_eq!(
        listed, LAYERS,
        "ARCHITECTURE.md's layout and LAYERS disagree"
    );
}
