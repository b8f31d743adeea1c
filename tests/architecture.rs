//! The library's import graph has no cycles, and every dependency points down the
//! layers `docs/design.md` describes: a module may use modules of its own layer's
//! folder and of lower layers, never a higher one.
//!
//! The graph is read from the source: every `crate::<module>` path outside comments, per
//! top-level module (a folder under `src/` or a file beside `lib.rs`). A new top-level
//! module must be given a layer here, so this test also keeps the list in
//! `docs/design.md` honest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers from the bottom up; a module may depend on its own layer and the ones before.
const LAYERS: &[&[&str]] = &[
    &["error", "crashpoint", "sync"],
    &["spec"],
    &["io"],
    &["expr"],
    &["data"],
    &["table"],
    &["scan"],
    &["txn"],
    &["ops"],
    // Warehouses and multi-table transactions: a catalog log over tables, committing
    // through txn's prepare/publish seam.
    &["warehouse"],
    // Test support (cargo feature `testing`): re-exports codecs and readers from every
    // layer for floe's own tests; nothing in the library uses it.
    &["testing"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/txn/rowops.rs` -> `txn`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib").then_some(name)
}

/// Every `crate::<name>` in the code of `text`, comments (`//`, `//!`, `///`) removed.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // `crate::Error` and other root re-exports name no module.
            if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for dep in crate_refs(&text) {
            if dep != module {
                deps.insert(dep);
            }
        }
    }
    graph
}

#[test]
fn every_dependency_points_down_the_layers() {
    let graph = graph();
    let mut violations = Vec::new();
    for (module, deps) in &graph {
        let Some(own) = layer_of(module) else {
            violations.push(format!("{module}: not in any layer (add it to LAYERS and docs/design.md)"));
            continue;
        };
        for dep in deps {
            match layer_of(dep) {
                Some(l) if l <= own => {}
                Some(_) => violations.push(format!("{module} (layer {own}) uses {dep}, a higher layer")),
                None => violations.push(format!("{module} uses {dep}, which is in no layer")),
            }
        }
    }
    assert!(violations.is_empty(), "import graph violations:\n{}", violations.join("\n"));
}

#[test]
fn the_import_graph_has_no_cycles() {
    let graph = graph();
    // Depth-first search with colours; a grey node reached again closes a cycle.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let start = path.iter().position(|p| p == n).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for dep in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(dep, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut state, &mut Vec::new()) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

/// The checker itself: a reference in code counts, one in a comment does not.
#[test]
fn references_are_read_from_code_only() {
    let refs = crate_refs("use crate::txn::Transaction; // crate::ops\n/// [`crate::scan`]\nlet e = crate::Error::X;");
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), vec!["txn".to_string()]);
}
