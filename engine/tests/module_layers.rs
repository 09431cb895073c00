//! The engine's modules form layers: no top-level module reaches back up to one that uses it,
//! and the transport (`http`) knows no domain module at all. Imports are easy to add and
//! cycles hard to remove, so this test reads the sources and keeps the shape.
//!
//! A module is a top-level entry of `engine/src` (`auction` covers `auction/**`); a use is
//! any `crate::<module>` path outside comments and string literals. Decision code speaks the
//! engine's own vocabulary and never imports the OpenRTB edge.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Modules `http` may import: utilities that import no engine module themselves (the clock for
/// its deadlines, the JSON writers for error bodies).
const HTTP_MAY_IMPORT: &[&str] = &["clock", "json"];

/// Modules that decide with the engine's own vocabulary (`adrequest`, `currency`) and so have
/// no business with the OpenRTB wire: only the edges (`openrtb` itself, `bidders` for bid
/// responses, `shard` calling the parser) import `openrtb`.
const SPEAK_THE_ENGINE_VOCABULARY: &[&str] = &[
    "adrequest",
    "auction",
    "budget",
    "campaign",
    "catalog",
    "currency",
    "freqcap",
    "pacing",
    "targeting",
    "tracking",
];

/// Modules that may read a clock (`crate::clock`): the transport, the orchestration, the
/// bidder pools and the event log's writer, which own deadlines, latencies and file ages. Decision code (`delivery`, `budget`,
/// `pacing`, `freqcap`, `auction`, `tracking`, ...) takes the time as an argument, so a test
/// can run a simulated day against it; `engine/clippy.toml` keeps everyone else off
/// `Instant::now`/`SystemTime::now`.
const MAY_READ_THE_CLOCK: &[&str] = &["admin", "bidders", "eventlog", "http", "server", "shard"];

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn engine_modules_have_no_import_cycle() {
    let graph = module_graph();
    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "import cycles between engine modules:\n{}",
        cycles
            .iter()
            .map(|cycle| describe_cycle(&graph, cycle))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn http_imports_no_domain_module() {
    let graph = module_graph();
    let http = graph.get("http").expect("engine/src/http exists");
    let forbidden: Vec<String> = http
        .iter()
        .filter(|(target, _)| !HTTP_MAY_IMPORT.contains(&target.as_str()))
        .map(|(target, files)| format!("http -> {target} ({})", join(files)))
        .collect();
    assert!(
        forbidden.is_empty(),
        "the transport layer imports domain modules:\n{}",
        forbidden.join("\n")
    );
    for utility in HTTP_MAY_IMPORT {
        let uses = graph.get(*utility).map(BTreeMap::len).unwrap_or(0);
        assert_eq!(
            uses,
            0,
            "`{utility}` must stay a leaf: {:?}",
            graph.get(*utility)
        );
    }
}

#[test]
fn decision_modules_do_not_import_the_wire() {
    let graph = module_graph();
    let offenders: Vec<String> = SPEAK_THE_ENGINE_VOCABULARY
        .iter()
        .filter_map(|module| {
            let files = graph.get(*module)?.get("openrtb")?;
            Some(format!("{module} -> openrtb ({})", join(files)))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "decision code imports the OpenRTB edge:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn only_transport_and_orchestration_read_the_clock() {
    let graph = module_graph();
    let readers: Vec<String> = graph
        .iter()
        .filter(|(module, _)| !MAY_READ_THE_CLOCK.contains(&module.as_str()))
        .filter_map(|(module, uses)| {
            let files = uses.get("clock")?;
            Some(format!("{module} -> clock ({})", join(files)))
        })
        .collect();
    assert!(
        readers.is_empty(),
        "decision code reads the clock itself instead of taking the time as an argument:\n{}",
        readers.join("\n")
    );
}

/// One naming rule for limits: `*_MAX` is a bound the code enforces on data or work (and
/// `*_max` a configurable one); `*_CEILING` is the highest value a configurable limit may be
/// set to (a limit on a limit). `*_LIMIT` is not a third word for either.
#[test]
fn limits_on_limits_are_named_ceiling() {
    let root = engine_src();
    let mut offenders = Vec::new();
    for path in rust_files(&root) {
        let code = code_only(&fs::read_to_string(&path).expect("readable source"));
        for line in code.lines() {
            let Some(rest) = line.trim_start().split("const ").nth(1) else {
                continue;
            };
            let name = ident_at(rest.trim_start());
            if name.ends_with("_LIMIT") {
                offenders.push(format!("{}: {name}", path.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "name a limit on a limit `*_CEILING`:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn use_scanner_reads_paths_and_skips_comments_and_strings() {
    let source = r##"
        use crate::a::B;
        use crate::{b, c::{D, E}};
        // use crate::commented;
        /* use crate::blocked; /* nested */ crate::still_blocked */
        const S: &str = "crate::in_string";
        const R: &str = r#"crate::in_raw "string""#;
        const Q: char = '"';
        fn f<'x>(v: &'x str) -> crate::d::F { crate::e::g(v) }
    "##;
    let found: Vec<String> = crate_uses(&code_only(source)).into_iter().collect();
    assert_eq!(found, ["a", "b", "c", "d", "e"]);
}

fn engine_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `module -> (module it uses -> files that use it)`, over every module of `engine/src`.
fn module_graph() -> Graph {
    let root = engine_src();
    let mut modules = BTreeSet::new();
    for entry in fs::read_dir(&root).expect("read engine/src") {
        let path = entry.expect("dir entry").path();
        if let Some(name) = module_name(&root, &path) {
            modules.insert(name);
        }
    }
    assert!(modules.contains("http"), "{modules:?}");
    let mut graph: Graph = modules
        .iter()
        .map(|module| (module.clone(), BTreeMap::new()))
        .collect();
    for file in rust_files(&root) {
        let Some(module) = module_name(&root, &file) else {
            continue;
        };
        let text = fs::read_to_string(&file).expect("read source");
        let relative = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for target in crate_uses(&code_only(&text)) {
            if target != module && modules.contains(&target) {
                graph
                    .entry(module.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(relative.clone());
            }
        }
    }
    graph
}

/// The top-level module `path` belongs to; `None` for the crate roots.
fn module_name(root: &Path, path: &Path) -> Option<String> {
    let first = path.strip_prefix(root).ok()?.components().next()?;
    let name = first.as_os_str().to_str()?;
    let name = name.strip_suffix(".rs").unwrap_or(name);
    if name == "lib" || name == "main" || (path.is_file() && path.extension()? != "rs") {
        return None;
    }
    Some(name.to_owned())
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// `source` with comments and the contents of string and char literals blanked out.
fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    while at < bytes.len() {
        let rest = &source[at..];
        let skip = if rest.starts_with("//") {
            rest.find('\n').unwrap_or(rest.len())
        } else if rest.starts_with("/*") {
            block_comment_len(rest)
        } else if let Some(len) = raw_string_len(rest) {
            len
        } else if rest.starts_with('"') || rest.starts_with("b\"") {
            quoted_len(rest, b'"')
        } else if rest.starts_with('\'') {
            char_literal_len(rest)
        } else {
            0
        };
        if skip > 0 {
            out.push(' ');
            at += skip;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            at += c.len_utf8();
        }
    }
    out
}

fn block_comment_len(text: &str) -> usize {
    let mut depth = 0;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        if rest.starts_with("/*") {
            depth += 1;
            at += 2;
        } else if rest.starts_with("*/") {
            depth -= 1;
            at += 2;
            if depth == 0 {
                return at;
            }
        } else {
            at += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    text.len()
}

/// Length of a raw string literal (`r"…"`, `r#"…"#`, `br"…"`) at the start of `text`.
fn raw_string_len(text: &str) -> Option<usize> {
    let after_b = text.strip_prefix('b').unwrap_or(text);
    let after_r = after_b.strip_prefix('r')?;
    let hashes = after_r.bytes().take_while(|b| *b == b'#').count();
    let body = after_r[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)? + close.len();
    Some(text.len() - body.len() + end)
}

/// Length of a literal opened and closed by `quote`, with backslash escapes.
fn quoted_len(text: &str, quote: u8) -> usize {
    let bytes = text.as_bytes();
    let mut at = bytes.iter().position(|b| *b == quote).unwrap_or(0) + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b if b == quote => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// A char literal's length, or 0 for a lifetime (`'a`), which stays code.
fn char_literal_len(text: &str) -> usize {
    let mut chars = text.char_indices().skip(1);
    match chars.next() {
        Some((_, '\\')) => quoted_len(text, b'\''),
        Some((_, _)) => match chars.next() {
            Some((at, '\'')) => at + 1,
            _ => 0,
        },
        None => 0,
    }
}

/// The first segment of every `crate::` path in `code`, including each entry of a
/// `crate::{a, b::c}` group.
fn crate_uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut start_of_entry = true;
            for (idx, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => start_of_entry = true,
                    c if depth == 1 && start_of_entry && is_ident_start(c) => {
                        found.insert(ident_at(&group[idx..]).to_owned());
                        start_of_entry = false;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        } else {
            let ident = ident_at(rest);
            if !ident.is_empty() {
                found.insert(ident.to_owned());
            }
        }
    }
    found
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn ident_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Each strongly connected component of more than one module (Tarjan): every module in one
/// reaches every other, so each edge inside it is part of some cycle.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<Vec<&'g str>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, module: &'g str) {
            let idx = self.index.len();
            self.index.insert(module, idx);
            self.low.insert(module, idx);
            self.stack.push(module);
            self.on_stack.insert(module);
            for target in self.graph.get(module).into_iter().flat_map(BTreeMap::keys) {
                let target = target.as_str();
                if !self.index.contains_key(target) {
                    self.visit(target);
                    let low = self.low[module].min(self.low[target]);
                    self.low.insert(module, low);
                } else if self.on_stack.contains(target) {
                    let low = self.low[module].min(self.index[target]);
                    self.low.insert(module, low);
                }
            }
            if self.low[module] == self.index[module] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member);
                    if member == module {
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
    for module in graph.keys() {
        if !tarjan.index.contains_key(module.as_str()) {
            tarjan.visit(module);
        }
    }
    tarjan
        .components
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| {
            let mut members: Vec<String> = component.iter().map(|m| (*m).to_owned()).collect();
            members.sort();
            members
        })
        .collect()
}

/// A shortest cycle through the first member of `component` (breadth-first), then every
/// import between members, with the files that make it.
fn describe_cycle(graph: &Graph, component: &[String]) -> String {
    let members: BTreeSet<&str> = component.iter().map(String::as_str).collect();
    let inside = |module: &str| -> Vec<&str> {
        graph
            .get(module)
            .into_iter()
            .flat_map(BTreeMap::keys)
            .map(String::as_str)
            .filter(|target| members.contains(target))
            .collect()
    };
    let start = component[0].as_str();
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut cycle = Vec::new();
    'search: while let Some(module) = queue.pop_front() {
        for target in inside(module) {
            if target == start {
                cycle.push(module);
                while let Some(previous) = came_from.get(cycle[cycle.len() - 1]) {
                    cycle.push(previous);
                }
                cycle.reverse();
                break 'search;
            }
            if !came_from.contains_key(target) {
                came_from.insert(target, module);
                queue.push_back(target);
            }
        }
    }
    let mut lines = vec![format!(
        "  cycle {} -> {start}, among {{{}}}:",
        cycle.join(" -> "),
        component.join(", ")
    )];
    for from in component {
        for to in inside(from) {
            let files = &graph[from][to];
            lines.push(format!("    {from} -> {to}: {}", join(files)));
        }
    }
    lines.join("\n")
}

fn join(files: &BTreeSet<String>) -> String {
    files.iter().cloned().collect::<Vec<_>>().join(", ")
}
