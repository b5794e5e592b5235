//! The server's layers (docs/architecture.md): every `crate::` path in
//! `src/` is read, the imports between top-level modules make a graph, and
//! the graph must have no circle and must point only downward through the
//! layers declared in [`LAYERS`].
//!
//! The reader is a small Rust lexer: comments, strings and character
//! literals are skipped, so a `crate::x` in a doc comment or an error message
//! is no import; `use crate::{a, b::c}` groups count each member; `crate::x`
//! in code (a call, a type path) counts like a `use`. A name that is not a
//! module is an item of `lib.rs`, traced to the module its `pub use` names.
//! `super::` never leaves a top-level module here (no top-level file uses it
//! outside a test module), so only `crate::` paths are followed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may import modules of its own layer
/// or of a layer below; the first layer (`foundation`) imports nothing of
/// the crate at all. A new top-level module must be placed here.
const LAYERS: &[(&str, &[&str])] = &[
    // Leaves: options, the error value, time, counters, filter parsing.
    ("foundation", &["config", "error", "clock", "metrics"]),
    // Engines over the store: tiles and proofs, sensitive data.
    ("engines", &["tiles", "proofs", "sensitive"]),
    // The write path's core: one sequencer and one checkpointer per log.
    ("sequencing", &["sequencer", "checkpointer"]),
    // Keys, roles, tokens, rate limits, records: no HTTP, no ingest.
    ("access", &["access"]),
    // One project's log: the handle every layer above works on.
    ("log", &["log"]),
    // decode → enrich → seal: the one entry for every write.
    ("pipeline", &["pipeline"]),
    // Self-audit events, written through the pipeline.
    ("audit", &["audit"]),
    // The registry of project logs and each log's lifecycle.
    ("logs", &["logs"]),
    // The edge: routes, extractors, one file per API area, OTLP adapters,
    // and the TLS listeners both servers accept from.
    ("edge", &["http", "tls"]),
    // Start, serve, drain, stop.
    ("app", &["app"]),
];

/// Where an import was read: file and line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct At {
    file: String,
    line: usize,
}

/// `from → to → first place seen`.
type Graph = BTreeMap<String, BTreeMap<String, At>>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`None` for `lib.rs`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    if first == "lib.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// A token of Rust source, as far as paths need: identifiers, `::`, and
/// single punctuation characters. Comments, strings and char literals are
/// dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

fn lex(text: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if ch == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && matches!(at(i + 2), '"' | '#')))
        {
            // Raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|k| at(j + 1 + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                line += usize::from(c[j] == '\n');
                j += 1;
            }
            i = j;
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if ch == '\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                // Past the quote, the backslash and the escaped character.
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // b"…" is a string: the next round skips it from the quote.
            if word == "b" && at(i) == '"' {
                continue;
            }
            // br"…" and br#"…"# are raw strings: back up to the `r`.
            if word == "br" && matches!(at(i), '"' | '#') {
                i -= 1;
                continue;
            }
            out.push((Tok::Ident(word), line));
        } else if ch == ':' && at(i + 1) == ':' {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// The first segment of every `crate::` path in `text`, with its line:
/// `crate::a::b` gives `a`; `crate::{a, b::c}` gives `a` and `b`.
fn crate_paths(text: &str) -> Vec<(String, usize)> {
    let toks = lex(text);
    let mut out = Vec::new();
    for (i, (t, line)) in toks.iter().enumerate() {
        if *t != Tok::Ident("crate".into()) || toks.get(i + 1).map(|t| &t.0) != Some(&Tok::PathSep)
        {
            continue;
        }
        // `$crate::` in a macro is the crate of the macro's caller.
        if i > 0 && toks[i - 1].0 == Tok::Punct('$') {
            continue;
        }
        match toks.get(i + 2).map(|t| &t.0) {
            Some(Tok::Ident(name)) => out.push((name.clone(), *line)),
            Some(Tok::Punct('{')) => {
                // Each member at depth 1 starts with its module.
                let mut depth = 0;
                let mut expect = true;
                for (t, l) in &toks[i + 2..] {
                    match t {
                        Tok::Punct('{') => {
                            depth += 1;
                            if depth > 1 {
                                expect = false;
                            }
                        }
                        Tok::Punct('}') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Tok::Punct(',') if depth == 1 => expect = true,
                        Tok::Ident(name) if depth == 1 && expect => {
                            out.push((name.clone(), *l));
                            expect = false;
                        }
                        _ => {
                            if depth == 1 {
                                expect = false;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Names `lib.rs` re-exports, by the module they come from
/// (`pub use app::{start, ServeOptions}` gives start → app, …).
fn root_items(lib: &str) -> BTreeMap<String, String> {
    let toks = lex(lib);
    let mut out = BTreeMap::new();
    for (i, (t, _)) in toks.iter().enumerate() {
        if *t != Tok::Ident("use".into()) {
            continue;
        }
        // `use a::…` or `use crate::a::…`.
        let at = match toks.get(i + 1) {
            Some((Tok::Ident(c), _)) if c == "crate" => i + 3,
            _ => i + 1,
        };
        let Some((Tok::Ident(module), _)) = toks.get(at) else {
            continue;
        };
        let module = module.clone();
        for (t, _) in toks[at + 1..].iter() {
            match t {
                Tok::Punct(';') => break,
                Tok::Ident(name) if name != "self" => {
                    out.insert(name.clone(), module.clone());
                }
                _ => {}
            }
        }
    }
    out
}

/// `text` up to its inline unit-test module (`#[cfg(test)] mod …`, by
/// convention last in a file): tests are leaves and may reach anything.
fn without_test_module(text: &str) -> &str {
    let mut from = 0;
    while let Some(i) = text[from..].find("#[cfg(test)]") {
        let at = from + i;
        let rest = text[at + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod ") {
            return &text[..at];
        }
        from = at + 1;
    }
    text
}

/// The import graph between the top-level modules of `src`.
fn graph(src: &Path) -> (Graph, BTreeSet<String>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(src, f)).collect();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let items = root_items(&lib);
    let mut g = Graph::new();
    for f in &files {
        let Some(from) = top_module(src, f) else {
            continue;
        };
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue; // unit tests are leaves: they may reach anything
        }
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let text = without_test_module(&text);
        let file = f
            .strip_prefix(src)
            .expect("under src")
            .display()
            .to_string();
        g.entry(from.clone()).or_default();
        for (name, line) in crate_paths(text) {
            let to = if modules.contains(&name) {
                name
            } else if let Some(m) = items.get(&name) {
                m.clone()
            } else {
                continue;
            };
            if to == from {
                continue;
            }
            let at = At {
                file: file.clone(),
                line,
            };
            g.entry(from.clone())
                .or_default()
                .entry(to)
                .and_modify(|a| {
                    if at < *a {
                        *a = at.clone();
                    }
                })
                .or_insert(at);
        }
    }
    (g, modules)
}

/// A circle in `g`, as the modules along it (first = last), if any.
fn find_circle(g: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        g: &Graph,
        n: &str,
        mark: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        mark.insert(n.to_string(), Mark::Open);
        stack.push(n.to_string());
        for next in g.get(n).into_iter().flat_map(|m| m.keys()) {
            match mark.get(next.as_str()).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let start = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut circle = stack[start..].to_vec();
                    circle.push(next.clone());
                    return Some(circle);
                }
                Mark::New => {
                    if let Some(c) = visit(g, next, mark, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        mark.insert(n.to_string(), Mark::Done);
        None
    }
    let mut mark = BTreeMap::new();
    for n in g.keys() {
        if mark.get(n.as_str()).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(g, n, &mut mark, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// `a → b (file:line) → …`, the way a reader would follow it.
fn describe(g: &Graph, circle: &[String]) -> String {
    let mut s = circle[0].clone();
    for w in circle.windows(2) {
        let at = &g[&w[0]][&w[1]];
        s.push_str(&format!(" → {} ({}:{})", w[1], at.file, at.line));
    }
    s
}

/// Problems with the layer table: unplaced modules, upward imports, and
/// leaves that import anything.
fn layer_violations(g: &Graph, modules: &BTreeSet<String>) -> Vec<String> {
    let rank: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, ms))| ms.iter().map(move |m| (*m, i)))
        .collect();
    let mut out = Vec::new();
    for m in modules {
        if !rank.contains_key(m.as_str()) {
            out.push(format!(
                "module `{m}` is in no layer: place it in LAYERS (tests/layers.rs) and docs/architecture.md"
            ));
        }
    }
    for (from, tos) in g {
        let Some(&rf) = rank.get(from.as_str()) else {
            continue;
        };
        for (to, at) in tos {
            let Some(&rt) = rank.get(to.as_str()) else {
                continue;
            };
            if rt > rf {
                out.push(format!(
                    "`{from}` (layer {}) imports `{to}` (layer {}, above it) at {}:{}",
                    LAYERS[rf].0, LAYERS[rt].0, at.file, at.line
                ));
            } else if rf == 0 {
                out.push(format!(
                    "`{from}` is a leaf (layer {}) but imports `{to}` at {}:{}",
                    LAYERS[rf].0, at.file, at.line
                ));
            }
        }
    }
    out
}

/// The HTTP and gRPC frameworks: only the edge layer (and `app`, which
/// starts it) may name them.
const FRAMEWORKS: [&str; 3] = ["axum", "tonic", "hyper"];

/// Files of modules below the edge that name an HTTP framework.
fn framework_uses(src: &Path) -> Vec<String> {
    let edge = LAYERS
        .iter()
        .position(|(name, _)| *name == "edge")
        .expect("an edge layer");
    let below: BTreeSet<&str> = LAYERS[..edge]
        .iter()
        .flat_map(|(_, ms)| ms.iter().copied())
        .collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = Vec::new();
    for f in &files {
        let Some(m) = top_module(src, f) else {
            continue;
        };
        if !below.contains(m.as_str()) {
            continue;
        }
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue; // unit tests are leaves: they may reach anything
        }
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let text = without_test_module(&text);
        for (t, line) in lex(text) {
            if let Tok::Ident(w) = t {
                if FRAMEWORKS.contains(&w.as_str()) {
                    let file = f.strip_prefix(src).expect("under src").display();
                    out.push(format!("{file}:{line} names `{w}`"));
                }
            }
        }
    }
    out
}

#[test]
fn nothing_below_the_edge_names_an_http_framework() {
    let found = framework_uses(&src_dir());
    assert!(
        found.is_empty(),
        "below the edge layer, code must not know HTTP servers (return an ApiError, let http/ answer):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let (g, _) = graph(&src_dir());
    if let Some(circle) = find_circle(&g) {
        panic!(
            "import circle between top-level modules: {}",
            describe(&g, &circle)
        );
    }
}

/// Every crate of the workspace, not only this one: no two top-level
/// modules of a crate import each other, directly or around a circle.
#[test]
fn no_import_circle_in_any_workspace_crate() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .expect("crates/")
        .map(|e| e.expect("crates/ entry").path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() > 5, "found only {} crates", dirs.len());
    let circles: Vec<String> = dirs
        .iter()
        .filter_map(|src| {
            let (g, _) = graph(src);
            find_circle(&g).map(|c| format!("{}: {}", src.display(), describe(&g, &c)))
        })
        .collect();
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn each_module_imports_only_its_layer_or_below() {
    let (g, modules) = graph(&src_dir());
    let v = layer_violations(&g, &modules);
    assert!(v.is_empty(), "layer violations:\n  {}", v.join("\n  "));
}

// The reader itself, on made-up source.

#[test]
fn paths_in_uses_groups_and_code_are_read_and_comments_and_strings_are_not() {
    let text = r##"
        use crate::a::X;
        pub(crate) use crate::{b, c::d::{E, F}, self};
        // use crate::commented;
        /* crate::blocked /* nested */ crate::still_blocked */
        fn f<'a>(x: &'a str) -> char {
            let _ = "crate::in_a_string";
            let _ = r#"crate::in_a_raw_string"#;
            let _ = b"crate::in_bytes";
            let _ = br#"crate::in_raw_bytes"#;
            let _ = ('\'', '\u{2192}', b'x');
            crate::g::call(x);
            let _ = $crate::macro_caller;
            '"'
        }
        /// A doc comment naming crate::doc.
        type T = crate::h::T;
    "##;
    let names: Vec<String> = crate_paths(text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "b", "c", "self", "g", "h"]);
}

#[test]
fn a_circle_is_found_and_named_with_where_each_import_is() {
    let at = |line| At {
        file: "x.rs".into(),
        line,
    };
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into(), at(1));
    g.entry("b".into()).or_default().insert("c".into(), at(2));
    g.entry("c".into()).or_default().insert("a".into(), at(3));
    g.entry("d".into()).or_default().insert("a".into(), at(4));
    let circle = find_circle(&g).expect("a circle");
    assert_eq!(
        describe(&g, &circle),
        "a → b (x.rs:1) → c (x.rs:2) → a (x.rs:3)"
    );
    g.get_mut("c").unwrap().clear();
    assert_eq!(find_circle(&g), None);
}

#[test]
fn an_upward_import_and_an_unplaced_module_are_refused() {
    let at = At {
        file: "config.rs".into(),
        line: 3,
    };
    let mut g = Graph::new();
    g.entry("config".into())
        .or_default()
        .insert("http".into(), at.clone());
    g.entry("log".into())
        .or_default()
        .insert("error".into(), at);
    let modules: BTreeSet<String> = ["config", "http", "log", "error", "newcomer"]
        .into_iter()
        .map(String::from)
        .collect();
    let v = layer_violations(&g, &modules);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].contains("`newcomer` is in no layer"), "{v:?}");
    assert!(
        v[1].contains("`config` (layer foundation) imports `http`"),
        "{v:?}"
    );
}
