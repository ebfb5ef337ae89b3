//! The layering ARCHITECTURE.md describes: data flows one way, so no top-level module of the crate
//! imports one that imports it back, and the leaves import nothing of the crate's below them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its files name through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .to_string();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let deps = out.entry(module.clone()).or_default();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
            }
        }
    }
    out
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = imports();
    // Depth-first search for a cycle, reporting the path.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("modules import each other: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_leaves_and_the_engine_stay_below_the_app() {
    let graph = imports();
    let deps = |m: &str| graph.get(m).cloned().unwrap_or_default();
    // Leaves: shared vocabulary that imports nothing of the crate.
    for leaf in ["http", "procfs"] {
        assert!(deps(leaf).is_empty(), "{leaf} imports {:?}", deps(leaf));
    }
    // The engine measures: it knows the plan and the recorder, not files, reports, GitHub or the app.
    for above in ["app", "cli", "report", "github", "verdict", "serve", "web"] {
        assert!(!deps("load").contains(above), "load imports {above}");
        assert!(!deps("metrics").contains(above), "metrics imports {above}");
        assert!(!deps("gate").contains(above), "gate imports {above}");
    }
    // The live view reads what the app publishes; only the app (and the command line's options) use it.
    for (m, d) in &graph {
        assert!(
            m == "app" || m == "cli" || m == "web" || !d.contains("web"),
            "{m} imports web"
        );
    }
    assert!(!deps("web").contains("load"), "web reads snapshots, never the engine");
    // Only the command line calls the app.
    for (m, d) in &graph {
        if m != "cli" {
            assert!(!d.contains("cli"), "{m} imports cli");
        }
        if m != "cli" && m != "app" {
            assert!(!d.contains("app"), "{m} imports app");
        }
    }
}

/// Every print goes through `outln!` / `errln!`: `println!` panics on a closed pipe (`perfgate run
/// ... | head -1`) and would lose the reports (issue 15).
#[test]
fn nothing_prints_with_println() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                if ["println!(", "print!(", "eprint!("].iter().any(|m| code.contains(m)) {
                    found.push(format!("{}:{}: {}", p.display(), n + 1, code));
                }
            }
        }
    }
    assert!(found.is_empty(), "use outln!/errln! instead:\n{}", found.join("\n"));
}
