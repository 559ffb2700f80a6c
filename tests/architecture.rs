//! The shape of `src/`: dependencies between modules go one way (no import circles), and the
//! library reaches `crate::config` only from inside it.
//!
//! Pure std: reads the sources, follows the `mod` declarations from `lib.rs` and `main.rs`
//! (so `#[path]` modules get their real names), and collects every path that names a module:
//! `crate::a::b`, `iotchat::a`, `super::x`, and the items of `use crate::{a, b::c}` groups,
//! each matched to the longest module path that exists. Doc links count too: a lower module
//! that names a higher one in its docs knows it. Test code (a `*_tests.rs` file, or anything
//! after a file's first `#[cfg(test)]`) is left out.
//!
//! A reference from `a::x` to `b::y` counts between `a` and `b`, the siblings under their
//! common parent, so a circle shows at the level where it is made, between two files or
//! between two directories. A module and its own ancestors or descendants never count: a
//! parent declares its children and re-exports from them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Wrong-way dependencies (`from`, `to`) between sibling modules that close the import
/// circles other engineers are removing right now. Without them the graph has no circle.
/// This list must only shrink: fix a new circle instead of adding to it (a test below fails
/// once an entry closes no circle any more, so that it is taken out).
const ALLOWED_BACK_EDGES: &[(&str, &str)] = &[];

/// Library modules outside `src/config` that still name `crate::config` (each module should
/// export its own options type, which config builds). This list must only shrink: a test
/// below fails once an entry no longer names config, so that it is taken out.
const CONFIG_USERS: &[&str] = &[];

/// One source file's module and the modules it names.
struct Module {
    /// `["server", "registry"]`; empty for `lib.rs` and `main.rs`.
    path: Vec<String>,
    /// Declared under `lib.rs` (else under `main.rs`: the binary).
    library: bool,
    /// The modules its code and docs name, each a module path that exists.
    targets: Vec<Vec<String>>,
}

/// Dependencies between siblings, each with one reference that makes it (for messages).
type Graph = BTreeMap<(String, String), String>;

/// Every module of the library and the binary.
fn modules() -> Vec<Module> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src.join("lib.rs"), Vec::new(), true, &mut files);
    collect(&src.join("main.rs"), Vec::new(), false, &mut files);
    let known: BTreeSet<Vec<String>> = files.iter().map(|(path, _, _)| path.clone()).collect();
    let tops = |library: bool| -> BTreeSet<&String> {
        files.iter().filter(|f| f.1 == library).filter_map(|f| f.0.first()).collect()
    };
    assert!(tops(true).is_disjoint(&tops(false)), "lib.rs and main.rs declare a module of the same name");
    let resolve =
        |path: Vec<String>| (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| known.contains(p));
    files
        .iter()
        .map(|(path, library, text)| Module {
            path: path.clone(),
            library: *library,
            targets: references(path, text).into_iter().filter_map(resolve).collect(),
        })
        .collect()
}

/// Adds `file` as module `path`, with its text up to the first `#[cfg(test)]`, then the
/// modules it declares.
fn collect(file: &Path, path: Vec<String>, library: bool, out: &mut Vec<(Vec<String>, bool, String)>) {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let text = text.split("#[cfg(test)]").next().unwrap_or_default().to_owned();
    let dir = file.parent().expect("a file in src/");
    let stem = file.file_stem().and_then(|s| s.to_str()).expect("a UTF-8 file name");
    let children = if ["lib", "main", "mod"].contains(&stem) { dir.to_owned() } else { dir.join(stem) };
    let mut path_attribute = None;
    for line in text.lines().map(str::trim) {
        if let Some(given) = line.strip_prefix("#[path = \"").and_then(|l| l.strip_suffix("\"]")) {
            path_attribute = Some(dir.join(given));
        } else if let Some(name) = mod_declaration(line) {
            let flat = children.join(format!("{name}.rs"));
            let child = path_attribute
                .take()
                .unwrap_or_else(|| if flat.exists() { flat } else { children.join(&name).join("mod.rs") });
            if !child.to_string_lossy().ends_with("_tests.rs") {
                collect(&child, [path.clone(), vec![name]].concat(), library, out);
            }
        }
    }
    out.push((path, library, text));
}

/// The name in `mod name;` or `pub(crate) mod name;`.
fn mod_declaration(line: &str) -> Option<String> {
    let line = match line.strip_prefix("pub") {
        Some(rest) if rest.starts_with('(') => rest.split_once(')')?.1,
        Some(rest) => rest,
        None => line,
    };
    let name = line.trim_start().strip_prefix("mod ")?.strip_suffix(';')?.trim();
    name.chars().all(|c| c.is_alphanumeric() || c == '_').then(|| name.to_owned())
}

/// The paths `text` names from `module`, from the crate's root (`super` resolved).
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for head in ["crate::", "iotchat::", "super::"] {
        for (at, _) in text.match_indices(head) {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | ':')) {
                continue; // part of a longer word or path
            }
            let mut base = if head == "super::" {
                module[..module.len().saturating_sub(1)].to_vec()
            } else {
                Vec::new()
            };
            let mut rest = &text[at + head.len()..];
            while let Some(after) = rest.strip_prefix("super::") {
                base.pop();
                rest = after;
            }
            paths(base, rest, &mut found);
        }
    }
    found
}

/// Reads `a::b` or `a::{b, c::d}` at the start of `rest`, adding `prefix` + each path named.
fn paths(mut prefix: Vec<String>, mut rest: &str, found: &mut Vec<Vec<String>>) {
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            for item in group_items(group) {
                paths(prefix.clone(), item.trim_start(), found);
            }
            return;
        }
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        prefix.push(rest[..len].to_owned());
        rest = &rest[len..];
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => break,
        }
    }
    found.push(prefix);
}

/// The items of a `{...}` group, given the text after its `{`, split at its own commas.
fn group_items(text: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&text[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// For each reference from `a` to `b` (neither inside the other), the dependency between
/// their ancestors just under the common parent.
fn graph(modules: &[Module]) -> Graph {
    let mut graph = Graph::new();
    for module in modules {
        let from = &module.path;
        for to in &module.targets {
            let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue;
            }
            let edge = (from[..=common].join("::"), to[..=common].join("::"));
            graph.entry(edge).or_insert_with(|| format!("{} names {}", from.join("::"), to.join("::")));
        }
    }
    graph
}

/// Tarjan's strongly connected components over a graph's edges.
#[derive(Default)]
struct Tarjan<'a> {
    next: BTreeMap<&'a str, Vec<&'a str>>,
    index: BTreeMap<&'a str, usize>,
    low: BTreeMap<&'a str, usize>,
    stack: Vec<&'a str>,
    circles: Vec<Vec<String>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, v: &'a str) {
        let i = self.index.len();
        self.index.insert(v, i);
        self.low.insert(v, i);
        self.stack.push(v);
        for w in self.next[v].clone() {
            let reached = if !self.index.contains_key(w) {
                self.visit(w);
                Some(self.low[w])
            } else {
                self.stack.contains(&w).then(|| self.index[w])
            };
            if let Some(low) = reached {
                self.low.insert(v, self.low[v].min(low));
            }
        }
        if self.low[v] == i {
            let at = self.stack.iter().rposition(|&x| x == v).expect("v is on the stack");
            let mut component: Vec<String> = self.stack.drain(at..).map(str::to_owned).collect();
            if component.len() > 1 {
                component.sort();
                self.circles.push(component);
            }
        }
    }
}

/// The circles among `edges`: each set of modules that all reach one another.
fn circles<'a>(edges: impl Iterator<Item = &'a (String, String)>) -> Vec<Vec<String>> {
    let mut tarjan = Tarjan::default();
    for (a, b) in edges {
        tarjan.next.entry(a).or_default().push(b);
        tarjan.next.entry(b).or_default();
    }
    let nodes: Vec<&str> = tarjan.next.keys().copied().collect();
    for v in nodes {
        if !tarjan.index.contains_key(v) {
            tarjan.visit(v);
        }
    }
    tarjan.circles
}

/// Whether `to` can be reached from `from`.
fn reaches(graph: &Graph, from: &str, to: &str) -> bool {
    let (mut seen, mut todo) = (BTreeSet::new(), vec![from]);
    while let Some(v) = todo.pop() {
        if v == to {
            return true;
        }
        if seen.insert(v) {
            todo.extend(graph.keys().filter(|(a, _)| a == v).map(|(_, b)| b.as_str()));
        }
    }
    false
}

/// Library modules outside `src/config` that name `crate::config`.
fn config_users(modules: &[Module]) -> BTreeSet<String> {
    let is_config = |path: &Vec<String>| path.first().is_some_and(|top| top == "config");
    modules
        .iter()
        .filter(|m| m.library && !m.path.is_empty() && !is_config(&m.path))
        .filter(|m| m.targets.iter().any(is_config))
        .map(|m| m.path.join("::"))
        .collect()
}

#[test]
fn no_import_circles_between_modules() {
    let graph = graph(&modules());
    let allowed = |(a, b): &&(String, String)| ALLOWED_BACK_EDGES.contains(&(a.as_str(), b.as_str()));
    let kept: Vec<_> = graph.keys().filter(|e| !allowed(e)).cloned().collect();
    let found: Vec<String> = circles(kept.iter())
        .into_iter()
        .map(|circle| {
            let inside = |(a, b): &(String, String)| circle.contains(a) && circle.contains(b);
            let edges =
                kept.iter().filter(|e| inside(e)).map(|e| format!("\n  {} -> {} ({})", e.0, e.1, graph[e]));
            format!("circle {}:{}", circle.join(" / "), edges.collect::<String>())
        })
        .collect();
    assert!(
        found.is_empty(),
        "import circles; make the lower module not know the higher one (a leaf both use, a trait, \
         or a value passed in):\n{}",
        found.join("\n")
    );
}

#[test]
fn every_allowed_back_edge_still_closes_a_circle() {
    let graph = graph(&modules());
    let stale: Vec<String> = ALLOWED_BACK_EDGES
        .iter()
        .filter(|(from, to)| {
            !graph.contains_key(&(from.to_string(), to.to_string())) || !reaches(&graph, to, from)
        })
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        stale.is_empty(),
        "no longer part of a circle; take out of ALLOWED_BACK_EDGES: {}",
        stale.join(", ")
    );
}

#[test]
fn nothing_outside_config_depends_on_config() {
    let new: Vec<String> =
        config_users(&modules()).into_iter().filter(|m| !CONFIG_USERS.contains(&m.as_str())).collect();
    assert!(
        new.is_empty(),
        "these library modules name crate::config; take your own options type instead, which \
         config builds: {}",
        new.join(", ")
    );
}

#[test]
fn every_listed_config_user_still_uses_config() {
    let users = config_users(&modules());
    let stale: Vec<&str> = CONFIG_USERS.iter().copied().filter(|m| !users.contains(*m)).collect();
    assert!(
        stale.is_empty(),
        "these no longer name crate::config; take them out of CONFIG_USERS: {}",
        stale.join(", ")
    );
}
