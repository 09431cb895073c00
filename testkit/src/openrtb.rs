//! OpenRTB requests for tests: the engine's realistic request fixtures, a small valid request
//! to edit, and JSON-pointer edits, so that each test row states only what differs from a
//! valid request.

use serde_json::{json, Value};

/// The realistic request bodies under `engine/tests/fixtures/openrtb/`, all valid.
pub const FIXTURES: [&str; 4] = [
    "banner-site.json",
    "video-app.json",
    "native-site.json",
    "multi-imp-site.json",
];

pub fn fixture(name: &str) -> Vec<u8> {
    crate::fixtures::read(&format!("openrtb/{name}"))
}

/// The smallest request every rule accepts: one 300x250 banner on a site.
pub fn banner_request() -> Value {
    json!({
        "id": "req-1",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"id": "site-1", "page": "https://example.com/"}
    })
}

/// A valid Native 1.2 request.
pub fn native_request() -> Value {
    json!({
        "ver": "1.2",
        "context": 1,
        "plcmttype": 1,
        "assets": [
            {"id": 1, "required": 1, "title": {"len": 90}},
            {"id": 2, "img": {"type": 3, "wmin": 300, "hmin": 250}}
        ],
        "eventtrackers": [{"event": 1, "methods": [1]}]
    })
}

/// The banner request turned native, its Native request edited and sent as a JSON string.
pub fn native_request_with(edits: &[(&str, Option<Value>)]) -> Vec<u8> {
    let mut native = native_request();
    apply(&mut native, edits);
    let mut request = banner_request();
    apply(
        &mut request,
        &[
            ("/imp/0/banner", None),
            (
                "/imp/0/native",
                Some(json!({"request": native.to_string()})),
            ),
        ],
    );
    request.to_string().into_bytes()
}

/// `base` with the edits applied, serialized.
pub fn edited(base: &Value, edits: &[(&str, Option<Value>)]) -> Vec<u8> {
    let mut value = base.clone();
    apply(&mut value, edits);
    value.to_string().into_bytes()
}

/// Applies JSON-pointer edits: `Some` sets the value (creating missing objects on the way, and
/// appending when the index is one past the end of an array), `None` removes it.
pub fn apply(value: &mut Value, edits: &[(&str, Option<Value>)]) {
    for (pointer, edit) in edits {
        let (parent_pointer, key) = pointer.rsplit_once('/').expect("pointer starts with /");
        let mut parent = &mut *value;
        for segment in parent_pointer.split('/').skip(1) {
            parent = match parent {
                Value::Array(items) => {
                    let index: usize = segment.parse().expect("array index");
                    &mut items[index]
                }
                other => {
                    if !other.is_object() {
                        *other = json!({});
                    }
                    other
                        .as_object_mut()
                        .unwrap()
                        .entry(segment)
                        .or_insert_with(|| json!({}))
                }
            };
        }
        match (parent, edit) {
            (Value::Array(items), Some(new)) => {
                let index: usize = key.parse().expect("array index");
                if index == items.len() {
                    items.push(new.clone());
                } else {
                    items[index] = new.clone();
                }
            }
            (Value::Array(items), None) => {
                items.remove(key.parse().expect("array index"));
            }
            (Value::Object(fields), Some(new)) => {
                fields.insert(key.to_owned(), new.clone());
            }
            (Value::Object(fields), None) => {
                fields.remove(key);
            }
            (other, _) => panic!("cannot edit {pointer} in {other}"),
        }
    }
}
