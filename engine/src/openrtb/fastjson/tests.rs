//! The fast path against serde_json: whenever the fast path accepts a body, serde_json
//! accepts it with the same values (compared through `Debug`, which tells `-0.0` from
//! `0.0` and prints floats exactly); and the realistic bodies do take the fast path.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::{Deserializer, DEPTH_MAX};
use crate::openrtb::native::NativeRequest;
use crate::openrtb::wire::{BidRequest, Fill};

fn fast<'a, T: Fill<'a> + Default + std::fmt::Debug>(body: &'a str) -> Option<String> {
    let mut value = T::default();
    let mut deserializer = Deserializer::new(body);
    value
        .fill(&mut deserializer)
        .and_then(|()| deserializer.end())
        .ok()
        .map(|()| format!("{value:?}"))
}

fn reference<'a, T: Fill<'a> + Default + std::fmt::Debug>(body: &'a str) -> Option<String> {
    let mut value = T::default();
    let mut deserializer = serde_json::Deserializer::from_str(body);
    value
        .fill(&mut deserializer)
        .and_then(|()| deserializer.end())
        .ok()
        .map(|()| format!("{value:?}"))
}

/// The property: the fast path never accepts what serde_json rejects, and never reads a
/// value differently. Returns whether the fast path accepted.
fn agrees(body: &str) -> bool {
    let fast_request = fast::<BidRequest>(body);
    if let Some(fast_request) = &fast_request {
        assert_eq!(
            Some(fast_request),
            reference::<BidRequest>(body).as_ref(),
            "bid request {body}"
        );
    }
    if let Some(fast_native) = fast::<NativeRequest>(body) {
        assert_eq!(
            Some(fast_native),
            reference::<NativeRequest>(body),
            "native request {body}"
        );
    }
    fast_request.is_some()
}

/// Names a corpus laid out like `../shared/corpus`; `scripts/acceptance` sets it, so that
/// the differential check also runs over every corpus file. The README's test command
/// runs without it, over the project's own fixtures: a fresh clone has nothing beside it.
const CORPUS_DIR_VAR: &str = "ADSHARD_CORPUS_DIR";

/// The corpus named by [`CORPUS_DIR_VAR`]; set to something that is not a directory is a
/// failure, so that a typo cannot turn the corpus check into no check.
fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os(CORPUS_DIR_VAR)?);
    assert!(
        dir.is_dir(),
        "{CORPUS_DIR_VAR} is {}, which is not a directory",
        dir.display()
    );
    Some(dir)
}

/// The project's request and response fixtures (written for these tests), the example
/// requests, and the corpus when [`corpus_dir`] names one.
fn bodies() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("tests/fixtures");
    let mut dirs = vec![
        fixtures.join("openrtb"),
        fixtures.join("bid-requests"),
        fixtures.join("bid-responses"),
        fixtures.join("native"),
        root.join("../examples/requests"),
    ];
    dirs.extend(corpus_dir());
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    files.push((path, text));
                }
            }
        }
    }
    files.sort();
    files
}

/// Prebid's test cases wrap the request: `{"mockBidRequest": {...}, ...}`.
fn requests_in(text: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return vec![text.to_owned()];
    };
    let mut found = vec![text.to_owned()];
    for key in ["mockBidRequest", "request", "bidRequest"] {
        if let Some(inner) = value.get(key) {
            found.push(inner.to_string());
        }
    }
    found
}

#[test]
fn every_corpus_body_agrees_and_valid_ones_take_the_fast_path() {
    let mut accepted = 0;
    let mut reference_accepted = 0;
    let mut off_path = Vec::new();
    for (path, text) in bodies() {
        for body in requests_in(&text) {
            let took_fast_path = agrees(&body);
            accepted += usize::from(took_fast_path);
            if reference::<BidRequest>(&body).is_some() {
                reference_accepted += 1;
                if !took_fast_path {
                    off_path.push(path.display().to_string());
                }
            }
        }
    }
    eprintln!(
        "fast path: {accepted} of {reference_accepted} bodies serde_json accepts; off it: {off_path:?}"
    );
    if corpus_dir().is_some() {
        assert!(reference_accepted > 100, "the corpus was found and read");
    } else {
        // Every request fixture and example is a valid bid request.
        let n_requests = [
            "tests/fixtures/openrtb",
            "tests/fixtures/bid-requests/2.5",
            "tests/fixtures/bid-requests/2.6",
            "../examples/requests",
        ]
        .iter()
        .map(|dir| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            std::fs::read_dir(&dir).expect("readable directory").count()
        })
        .sum::<usize>();
        assert!(
            reference_accepted >= n_requests && n_requests >= 15,
            "{reference_accepted} bodies accepted, {n_requests} request fixtures"
        );
        eprintln!(
            "{CORPUS_DIR_VAR} is not set: checked the project's fixtures only \
             (scripts/acceptance checks the shared corpus)"
        );
    }
    // Exponents and long mantissas are the only reasons to leave the path, and the corpus
    // has few: at least 95% of the bodies serde_json accepts take the fast path.
    assert!(
        accepted * 100 >= reference_accepted * 95,
        "{accepted} of {reference_accepted} took the fast path; off it: {off_path:?}"
    );
}

fn wrap(value: &str) -> Vec<String> {
    vec![
        format!(r#"{{"id":"r","tmax":{value}}}"#),
        format!(r#"{{"id":"r","imp":[{{"id":"1","bidfloor":{value}}}]}}"#),
        format!(r#"{{"device":{{"geo":{{"lat":{value},"lon":1}}}}}}"#),
        format!(r#"{{"bcat":[{value}]}}"#),
        format!(r#"{{"cur":[{value},"USD"]}}"#),
        format!(r#"{{"id":{value}}}"#),
        format!(r#"{{"site":{value}}}"#),
        format!(r#"{{"imp":{value}}}"#),
        format!(r#"{{"ext":{{"a":[{value}],"b":{value}}}}}"#),
        format!(r#"{{"imp":[{{"id":"1","ext":{value}}}]}}"#),
        format!(r#"{{"assets":[{{"id":{value}}}],"native":{value}}}"#),
        format!(r#"{{"imp":[{{"id":"1","native":{{"request":{value}}}}}]}}"#),
        value.to_owned(),
    ]
}

const EDGE_VALUES: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "0.0",
    "0.1",
    "0.25",
    "1.5",
    "-1.5",
    "01",
    "-01",
    "1.",
    ".5",
    "-",
    "1e5",
    "1E-2",
    "1.0e3",
    "-1e400",
    "1e400",
    "123456789012345678901234",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "0.1234567890123456789",
    "3.141592653589793",
    "9007199254740993.5",
    "1.7976931348623157",
    "0.0000000000000000000001",
    "0.00000000000000000000001",
    "12345678901234.5",
    "123456789012345.6",
    "true",
    "false",
    "null",
    "nul",
    "tru",
    "\"\"",
    "\"a\"",
    r#""a\"b""#,
    r#""\u00e9t\u00e9""#,
    r#""\ud83d\ude00""#,
    r#""\ud83d""#,
    r#""\ude00x""#,
    r#""\x""#,
    r#""\u12""#,
    r#""\uZZZZ""#,
    "\"a\tb\"",
    "\"a\u{1}b\"",
    r#""\/\b\f\n\r\t""#,
    "\"é and 😀\"",
    "\"unterminated",
    "{}",
    "[]",
    "[1,]",
    "[,1]",
    "{\"a\":1,}",
    "{\"a\" 1}",
    "{\"a\":}",
    "{1:2}",
    "[1 2]",
    "{\"a\":1 \"b\":2}",
    "[{\"a\":[{}]}]",
    "[\"a\",[\"b\"]]",
    "{\"id\":\"x\",\"id\":\"y\"}",
    " \t\r\n1\t",
    "{} x",
    "1 2",
    "",
];

#[test]
fn edge_cases_agree() {
    for value in EDGE_VALUES {
        for body in wrap(value) {
            agrees(&body);
        }
    }
}

#[test]
fn ordinary_numbers_and_escapes_take_the_fast_path() {
    for body in [
        r#"{"id":"r","tmax":120,"imp":[{"id":"1","bidfloor":0.25}]}"#,
        r#"{"id":"r","imp":[{"id":"1","bidfloor":2}],"device":{"geo":{"lat":-37.77,"lon":0}}}"#,
        r#"{"id":"r\u00e9\"q","ext":{"a":[1e5,-2.5E-3,"\ud83d\ude00",null,true,{}]}}"#,
        r#"{"id":"r","test":0,"imp":[{"id":"1","bidfloor":-0.0}]}"#,
    ] {
        assert!(agrees(body), "{body}");
    }
}

#[test]
fn depth_past_the_limit_leaves_the_fast_path_without_harm() {
    for depth in [10, 60, 63, 64, 65, 100, 127, 128, 129, 10_000] {
        let skipped = format!(
            r#"{{"id":"r","ext":{}1{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let took = agrees(&skipped);
        if depth <= 60 {
            assert!(took, "depth {depth} is on the fast path");
        } else if depth > DEPTH_MAX as usize {
            assert!(!took, "depth {depth} is left to serde_json");
        }
        let objects = format!(
            r#"{{"id":"r","ext":{}1{}}}"#,
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        );
        agrees(&objects);
        let native = format!("{}{{}}{}", r#"{"native":"#.repeat(depth), "}".repeat(depth));
        agrees(&native);
    }
}

const FRAGMENTS: &[&str] = &[
    "\"",
    "\\",
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    "0",
    "-",
    ".",
    "e",
    "1.5",
    "null",
    "\\u00e9",
    "\\ud83d",
    " ",
    "\n",
    "\u{1}",
    "é",
    "\"x\":",
    ",\"id\":\"d\"",
    "[]",
    "{}",
    "-0",
    "1e9",
];

proptest! {
    // PROPTEST_CASES runs more (300 000 were run once by hand on this code).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000)
    ))]

    /// Random edits of real bodies: deletions, insertions of JSON fragments, byte swaps.
    #[test]
    fn mutated_corpus_bodies_agree(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), 0usize..3, any::<prop::sample::Index>()),
            1..4,
        ),
    ) {
        let files = BODIES.with(|bodies| bodies.clone());
        let mut body = pick.get(&files).clone().into_bytes();
        for (at, kind, fragment) in edits {
            if body.is_empty() {
                break;
            }
            let at = at.index(body.len());
            match kind {
                0 => {
                    let end = (at + 1 + fragment.index(8)).min(body.len());
                    body.drain(at..end);
                }
                1 => {
                    let text = fragment.get(FRAGMENTS).as_bytes();
                    body.splice(at..at, text.iter().copied());
                }
                _ => {
                    let other = fragment.index(body.len());
                    body.swap(at, other);
                }
            }
        }
        if let Ok(text) = std::str::from_utf8(&body) {
            agrees(text);
        }
    }
}

thread_local! {
    static BODIES: Vec<String> = bodies()
        .into_iter()
        .flat_map(|(_, text)| requests_in(&text))
        .collect();
}
