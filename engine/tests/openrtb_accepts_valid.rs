//! What `openrtb` must accept: the realistic fixtures, and every leniency real exchanges rely on
//! (unknown fields, `ext` of any shape, nulls, integer floors, flexible formats, interstitials
//! without sizes, the Native object form and older Native versions, exchange-specific codes).

use adshard::openrtb::parse_bid_request;

use adshard::adrequest::AdRequest;
use adshard_testkit::openrtb::{banner_request, edited, fixture, native_request_with, FIXTURES};
use serde_json::{json, Value};

fn assert_accepted(name: &str, body: &[u8]) {
    let mut out = AdRequest::default();
    if let Err(error) = parse_bid_request(body, &mut out) {
        panic!(
            "{name}: rejected with {error}\n{}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(
        !out.id.is_empty() && !out.imps().is_empty(),
        "{name}: converted nothing"
    );
}

fn with(edits: &[(&str, Option<Value>)]) -> Vec<u8> {
    edited(&banner_request(), edits)
}

fn set(pointer: &str, value: Value) -> (&str, Option<Value>) {
    (pointer, Some(value))
}

fn remove(pointer: &str) -> (&str, Option<Value>) {
    (pointer, None)
}

#[test]
fn fixtures_are_accepted() {
    for name in FIXTURES {
        assert_accepted(name, &fixture(name));
    }
}

#[test]
fn unknown_fields_ext_and_nulls_are_ignored() {
    let rows: Vec<(&str, Vec<u8>)> = vec![
        (
            "unknown top-level field",
            with(&[set("/futurefield", json!({"a": [1, 2, {"b": null}]}))]),
        ),
        (
            "unknown imp field",
            with(&[set(
                "/imp/0/metric",
                json!([{"type": "viewability", "value": 0.7}]),
            )]),
        ),
        (
            "ext of any shape",
            with(&[
                set("/ext", json!([1, "two"])),
                set("/imp/0/ext", json!("x")),
                set("/site/ext", json!(5)),
            ]),
        ),
        (
            "deprecated banner wmax",
            with(&[set("/imp/0/banner/wmax", json!(-5))]),
        ),
        (
            "fields the engine does not read, of any type",
            with(&[
                set("/site/name", json!(5)),
                set("/imp/0/displaymanager", json!({"a": 1})),
                set("/imp/0/banner/btype", json!("4")),
                set("/source", json!([1])),
                set("/device", json!({"make": [], "sua": {"browsers": 7}})),
                set("/user", json!({"eids": "x", "data": [{"name": 3}]})),
            ]),
        ),
        (
            "null optional objects",
            with(&[
                set("/device", Value::Null),
                set("/user", Value::Null),
                set("/regs", Value::Null),
            ]),
        ),
        (
            "null lists",
            with(&[
                set("/bcat", Value::Null),
                set("/imp/0/banner/format", Value::Null),
            ]),
        ),
        (
            "null strings",
            with(&[
                set("/site/domain", Value::Null),
                set("/imp/0/tagid", Value::Null),
            ]),
        ),
        (
            "user eids without uids",
            with(&[set(
                "/user",
                json!({"eids": [{"source": "s"}, {"uids": []}, {"uids": [{"id": ""}]}]}),
            )]),
        ),
        (
            "user data segments without ids",
            with(&[set(
                "/user",
                json!({"data": [{"name": "x"}, {"segment": [{"value": "30-40"}]}]}),
            )]),
        ),
        (
            "geo lat out of range",
            with(&[set(
                "/device",
                json!({"geo": {"lat": 123.456, "lon": 678.9}}),
            )]),
        ),
        (
            "empty ifa",
            with(&[
                remove("/site"),
                set("/app", json!({"id": "a"})),
                set("/device", json!({"ifa": ""})),
            ]),
        ),
        (
            "escaped strings",
            with(&[
                set("/id", json!("req \"quoted\" \u{e9}\n")),
                set("/site/page", json!("https://example.com/a?b=\"c\"")),
            ]),
        ),
    ];
    for (name, body) in rows {
        assert_accepted(name, &body);
    }
}

#[test]
fn lenient_values_are_accepted() {
    let rows: Vec<(&str, Vec<u8>)> = vec![
        (
            "integer bidfloor",
            with(&[set("/imp/0/bidfloor", json!(2))]),
        ),
        ("zero bidfloor", with(&[set("/imp/0/bidfloor", json!(0.0))])),
        (
            "lower-case floor currency",
            with(&[set("/imp/0/bidfloorcur", json!("eur"))]),
        ),
        (
            "empty floor currency",
            with(&[set("/imp/0/bidfloorcur", json!(""))]),
        ),
        ("first price", with(&[set("/at", json!(1))])),
        ("exchange-specific auction", with(&[set("/at", json!(501))])),
        ("tmax zero", with(&[set("/tmax", json!(0))])),
        (
            "interstitial without sizes",
            with(&[
                set("/imp/0/instl", json!(1)),
                set("/imp/0/banner", json!({})),
            ]),
        ),
        (
            "interstitial with zero sizes",
            with(&[
                set("/imp/0/instl", json!(1)),
                set("/imp/0/banner", json!({"w": 0, "h": 0})),
            ]),
        ),
        (
            "format only",
            with(&[set(
                "/imp/0/banner",
                json!({"format": [{"w": 300, "h": 250}]}),
            )]),
        ),
        (
            "flexible format",
            with(&[set(
                "/imp/0/banner",
                json!({"format": [{"wmin": 300, "wratio": 16, "hratio": 9}]}),
            )]),
        ),
        (
            "video without site-level extras",
            with(&[
                remove("/imp/0/banner"),
                set("/imp/0/video", json!({"mimes": ["video/mp4"]})),
            ]),
        ),
        (
            "video startdelay and podseq negative",
            with(&[
                remove("/imp/0/banner"),
                set(
                    "/imp/0/video",
                    json!({"mimes": ["video/mp4"], "startdelay": -2, "podseq": -1, "slotinpod": -1, "maxextended": -1}),
                ),
            ]),
        ),
        (
            "audio",
            with(&[
                remove("/imp/0/banner"),
                set(
                    "/imp/0/audio",
                    json!({"mimes": ["audio/mp4"], "protocols": [2]}),
                ),
            ]),
        ),
        (
            "banner and video",
            with(&[set(
                "/imp/0/video",
                json!({"mimes": ["video/mp4"], "protocols": [2, 3]}),
            )]),
        ),
        (
            "app only",
            with(&[
                remove("/site"),
                set("/app", json!({"id": "app", "bundle": "com.example"})),
            ]),
        ),
        (
            "empty app",
            with(&[remove("/site"), set("/app", json!({}))]),
        ),
        (
            "dooh only",
            with(&[remove("/site"), set("/dooh", json!({"id": "12345"}))]),
        ),
        (
            "site with page only",
            with(&[set("/site", json!({"page": "https://example.com/"}))]),
        ),
        (
            "site with id only",
            with(&[set("/site", json!({"id": "s"}))]),
        ),
        (
            "gdpr 0",
            with(&[set("/regs", json!({"gdpr": 0, "gpp_sid": []}))]),
        ),
        (
            "gdpr 1",
            with(&[set("/regs", json!({"gdpr": 1, "us_privacy": "{invalid}"}))]),
        ),
        (
            "deals with ids",
            with(&[set(
                "/imp/0/pmp",
                json!({"private_auction": 1, "deals": [{"id": "a", "at": 1, "bidfloor": 2}]}),
            )]),
        ),
        (
            "device with everything",
            with(&[set(
                "/device",
                json!({"w": 0, "h": 0, "ppi": 0, "devicetype": 7, "sua": {"browsers": [{"brand": "MS"}]}, "geo": {"accuracy": 0}}),
            )]),
        ),
    ];
    for (name, body) in rows {
        assert_accepted(name, &body);
    }
}

#[test]
fn native_variants_are_accepted() {
    let native_object = |request: Value| {
        with(&[
            remove("/imp/0/banner"),
            set("/imp/0/native", json!({"request": request})),
        ])
    };
    let rows: Vec<(&str, Vec<u8>)> = vec![
        ("string form", native_request_with(&[])),
        (
            "assets without ids",
            native_request_with(&[set(
                "/assets",
                json!([{"title": {"len": 20}}, {"img": {"wmin": 50}}]),
            )]),
        ),
        (
            "asset ids counting from 0",
            native_request_with(&[set(
                "/assets",
                json!([{"id": 0, "title": {"len": 20}}, {"id": 1, "img": {"hmin": 50}}]),
            )]),
        ),
        (
            "no context, no plcmttype",
            native_request_with(&[remove("/context"), remove("/plcmttype")]),
        ),
        (
            "context 0 like absent",
            native_request_with(&[set("/context", json!(0)), set("/plcmttype", json!(0))]),
        ),
        (
            "subtype without context",
            native_request_with(&[remove("/context"), set("/contextsubtype", json!(21))]),
        ),
        (
            "compatible social subtype",
            native_request_with(&[set("/context", json!(2)), set("/contextsubtype", json!(21))]),
        ),
        (
            "compatible product subtype",
            native_request_with(&[set("/context", json!(3)), set("/contextsubtype", json!(31))]),
        ),
        (
            "exchange-specific codes",
            native_request_with(&[
                set("/context", json!(500)),
                set("/contextsubtype", json!(11)),
                set("/plcmttype", json!(501)),
                set(
                    "/eventtrackers",
                    json!([{"event": 500, "methods": [1, 501]}]),
                ),
            ]),
        ),
        (
            "video asset",
            native_request_with(&[set(
                "/assets",
                json!([{"video": {"mimes": ["video/mp4"], "minduration": 0, "maxduration": 10, "protocols": [1, 16, 500]}}]),
            )]),
        ),
        (
            "data asset types",
            native_request_with(&[set(
                "/assets",
                json!([{"id": 1, "data": {"type": 1}}, {"id": 2, "data": {"type": 12}}, {"id": 3, "data": {"type": 500}}]),
            )]),
        ),
        (
            "object form",
            native_object(json!({"assets": [{"title": {"len": 25}}]})),
        ),
        (
            "1.0 wrapper object",
            native_object(
                json!({"native": {"ver": "1.0", "assets": [{"id": 1, "title": {"len": 25}}]}}),
            ),
        ),
        (
            "1.0 wrapper string",
            native_object(json!(
                "{\"native\":{\"assets\":[{\"id\":1,\"title\":{\"len\":25}}]}}"
            )),
        ),
        (
            "legacy version not decoded",
            with(&[
                remove("/imp/0/banner"),
                set(
                    "/imp/0/native",
                    json!({"ver": "1.0", "request": "{\"native\":{\"ver\":\"1.0\",\"assets\":[ ... ]}}"}),
                ),
            ]),
        ),
        (
            "version 1.1 not decoded",
            with(&[
                remove("/imp/0/banner"),
                set("/imp/0/native", json!({"ver": "1.1", "request": "{}"})),
            ]),
        ),
    ];
    for (name, body) in rows {
        assert_accepted(name, &body);
    }
}

#[test]
fn deep_nesting_is_rejected_not_overflowing_the_stack() {
    let depth = 100_000;
    let arrays = format!(
        "{{\"id\":\"r\",\"ext\":{}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let objects = format!(
        "{{\"id\":\"r\",\"ext\":{}1{}}}",
        "{\"a\":".repeat(depth),
        "}".repeat(depth)
    );
    let native_wrappers = format!("{}{{}}{}", "{\"native\":".repeat(depth), "}".repeat(depth));
    let native = json!({"id": "r", "site": {"id": "s"}, "imp": [{"id": "1", "native": {"request": native_wrappers}}]});
    for body in [
        arrays.into_bytes(),
        objects.into_bytes(),
        native.to_string().into_bytes(),
    ] {
        let mut out = AdRequest::default();
        assert!(parse_bid_request(&body, &mut out).is_err());
    }

    // Just under serde_json's recursion limit of 128, the one recursive wire type (the Native 1.0
    // wrapper) must parse and be rejected without exhausting a test thread's 2 MiB stack.
    let depth = 120;
    let wrappers = format!("{}{{}}{}", "{\"native\":".repeat(depth), "}".repeat(depth));
    let as_string = json!({"id": "r", "site": {"id": "s"}, "imp": [{"id": "1", "native": {"request": wrappers}}]});
    let as_object = format!(
        "{{\"id\":\"r\",\"site\":{{\"id\":\"s\"}},\"imp\":[{{\"id\":\"1\",\"native\":{{\"request\":{wrappers}}}}}]}}"
    );
    for body in [as_string.to_string().into_bytes(), as_object.into_bytes()] {
        let mut out = AdRequest::default();
        let error = parse_bid_request(&body, &mut out).expect_err("nested wrappers rejected");
        assert_eq!(error.field, "imp[0].native.request.native.native");
    }
}
