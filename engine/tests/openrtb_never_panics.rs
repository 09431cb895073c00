//! `parse_bid_request` must answer every body with `Ok` or a `RequestError`, never a panic:
//! arbitrary bytes, JSON-ish text, byte mutations of valid requests, and structural mutations
//! that put an arbitrary JSON value at any place of a valid request (including inside the Native
//! request string). proptest prints the seed and the minimal failing input on failure.

use adshard::openrtb::parse_bid_request;

use adshard::adrequest::AdRequest;
use adshard_testkit::openrtb::{fixture, native_request, FIXTURES};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Parses twice into the same `AdRequest`, as a shard would, and checks the result is stable.
fn parse_never_panics(body: &[u8]) {
    let mut out = AdRequest::default();
    let first = parse_bid_request(body, &mut out).map(|()| format!("{out:?}"));
    let second = parse_bid_request(body, &mut out).map(|()| format!("{out:?}"));
    assert_eq!(first, second, "reparse into a used AdRequest differs");
    if let Err(error) = first {
        assert!(
            !error.field.is_empty() && !error.reason.is_empty(),
            "{error:?}"
        );
    }
}

fn valid_bodies() -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = FIXTURES.iter().map(|name| fixture(name)).collect();
    let native_object = json!({
        "id": "r", "site": {"id": "s"},
        "imp": [{"id": "1", "native": {"request": native_request()}}]
    });
    bodies.push(native_object.to_string().into_bytes());
    bodies
}

/// Every JSON pointer into `value`, descending into the Native request string as if it were
/// an object (marked by a `native_string` flag so the mutation re-encodes it).
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                pointers(child, format!("{prefix}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{prefix}/{index}"), out);
            }
        }
        _ => {}
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just(-1i64),
            Just(0),
            Just(1),
            Just(500),
            Just(u32::MAX as i64 + 1)
        ]
        .prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-zA-Z0-9 ./:\"\\\\-]{0,12}".prop_map(Value::String),
        Just(json!("{\"assets\":[{\"title\":{\"len\":5}}]}")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("id"),
                        Just("w"),
                        Just("h"),
                        Just("assets"),
                        Just("mimes"),
                        Just("format"),
                        Just("x")
                    ],
                    inner
                ),
                0..4
            )
            .prop_map(|fields| Value::Object(
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// Replaces the node at `pointer` with `replacement`. Inside a `native.request` string the
/// pointer continues into the decoded Native request, which is re-encoded afterwards.
fn replace_at(root: &mut Value, pointer: &str, replacement: Value) {
    if pointer.is_empty() {
        *root = replacement;
        return;
    }
    if let Some(node) = root.pointer_mut(pointer) {
        *node = replacement;
    }
}

fn mutate_native_string(root: &mut Value, pick: usize, replacement: Value) -> bool {
    let Some(imps) = root.get_mut("imp").and_then(Value::as_array_mut) else {
        return false;
    };
    for imp in imps {
        let Some(request) = imp.pointer_mut("/native/request") else {
            continue;
        };
        let Some(text) = request.as_str() else {
            continue;
        };
        let Ok(mut native) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let mut inner = Vec::new();
        pointers(&native, String::new(), &mut inner);
        let pointer = inner[pick % inner.len()].clone();
        replace_at(&mut native, &pointer, replacement);
        *request = Value::String(native.to_string());
        return true;
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        parse_never_panics(&body);
    }

    #[test]
    fn json_ish_text(body in "[\\[\\]{}\",:0-9a-z\\-+.eE \\\\]{0,512}") {
        parse_never_panics(body.as_bytes());
    }

    #[test]
    fn byte_mutations_of_valid_requests(
        which in 0usize..5,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..8),
    ) {
        let bodies = valid_bodies();
        let mut body = bodies[which % bodies.len()].clone();
        for (position, kind, byte) in edits {
            if body.is_empty() {
                break;
            }
            let at = position.index(body.len());
            match kind {
                0 => body[at] = byte,
                1 => body.insert(at, byte),
                2 => { body.remove(at); }
                _ => body.truncate(at),
            }
        }
        parse_never_panics(&body);
    }

    #[test]
    fn structural_mutations_of_valid_requests(
        which in 0usize..5,
        pick in any::<prop::sample::Index>(),
        into_native in any::<bool>(),
        replacement in arbitrary_json(),
    ) {
        let bodies = valid_bodies();
        let mut root: Value = serde_json::from_slice(&bodies[which % bodies.len()]).unwrap();
        if !(into_native && mutate_native_string(&mut root, pick.index(usize::MAX), replacement.clone())) {
            let mut all = Vec::new();
            pointers(&root, String::new(), &mut all);
            let pointer = all[pick.index(all.len())].clone();
            replace_at(&mut root, &pointer, replacement);
        }
        parse_never_panics(root.to_string().as_bytes());
    }
}
