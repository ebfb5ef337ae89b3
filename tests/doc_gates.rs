//! Every gate the documentation shows is a gate `perfgate validate` accepts: each ```yaml block of
//! README.md and of the markdown files under docs/ that has `version:` and `scenarios:` at its top
//! level is run through `Gate::parse`, named `FILE:LINE` (the block's first line in the markdown).
//! Fragments (a `load:` or `targets:` section alone) are left out: they are not gates.

mod common;

use common::repo_path;
use perfgate::gate::Gate;
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use std::path::Path;

/// The ```yaml blocks of a markdown text that are whole gates, with the line each starts on.
fn gate_blocks(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (event, range) in Parser::new(md).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) if lang.as_ref() == "yaml" => {
                // The fence's line; the YAML starts on the next.
                let line = md[..range.start].lines().count() + 2;
                current = Some((line, String::new()));
            }
            Event::Text(t) => {
                if let Some((_, text)) = current.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((line, text)) = current.take() {
                    let top = |key: &str| text.lines().any(|l| l.starts_with(key));
                    if top("version:") && top("scenarios:") {
                        out.push((line, text));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The markdown files whose gates are checked: README.md and docs/**/*.md.
fn documents() -> Vec<std::path::PathBuf> {
    let mut out = vec![repo_path("README.md")];
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "md") {
                out.push(p);
            }
        }
    }
    walk(&repo_path("docs"), &mut out);
    out
}

#[test]
fn every_gate_in_the_documentation_validates() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for doc in documents() {
        let md = std::fs::read_to_string(&doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        let rel = doc
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(&doc)
            .display()
            .to_string();
        for (line, text) in gate_blocks(&md) {
            checked += 1;
            let name = format!("{}:{line}", rel.trim_start_matches('/'));
            if let Err(e) = Gate::parse(&name, &text) {
                wrong.push(format!("{name}: the gate does not validate:\n{e}"));
            }
        }
    }
    assert!(checked >= 1, "README.md shows at least one whole gate");
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn the_extractor_finds_whole_gates_only() {
    let md = "text\n\n```yaml\nversion: 1\nscenarios: {}\n```\n\n```yaml\nload:\n  users: 1\n```\n\n```sh\nversion:\nscenarios:\n```\n";
    let blocks = gate_blocks(md);
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0].0, 4, "the YAML's first line in the markdown");
    assert!(blocks[0].1.starts_with("version: 1\n"));
}

/// The mistake the README once made: a JSON path or a `{variable}` unquoted inside a flow mapping.
/// The YAML error gets a help line that says to quote the value, with the value quoted.
#[test]
fn flow_mapping_errors_suggest_quoting_the_value() {
    let head = "version: 1\nload: {users: 1, run_time: 1s}\nscenarios:\n  S:\n";
    for (line, quoted) in [
        (
            "    on_start:\n      - path: /m\n        extract: {module_id: $.modules[0].id}\n    tasks: [GET /m]\n",
            "extract: {module_id: \"$.modules[0].id\"}",
        ),
        (
            "    tasks:\n      - {weight: 1, request: GET /runs/{run_id}}\n",
            "request: \"GET /runs/{run_id}\"",
        ),
    ] {
        let text = format!("{head}{line}");
        let e = Gate::parse("g.yaml", &text).unwrap_err().to_string();
        assert!(e.contains("help: quote the value"), "{e}");
        assert!(e.contains(quoted), "the help shows `{quoted}`:\n{e}");
    }
}
