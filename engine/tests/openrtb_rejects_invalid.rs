//! Every validation rule of `openrtb`, as a table: a body (a small valid request with one edit,
//! or raw bytes) and the field the 400 must name. One row per rule, so a rule that stops
//! firing, or starts naming another field, shows up by name.

use adshard::openrtb::parse_bid_request;

use adshard::adrequest::{AdRequest, IMPS_MAX};
use adshard_testkit::openrtb::{banner_request, edited, native_request_with};
use serde_json::{json, Value};

/// Parses `body` and returns the field of its error, or panics if it was accepted.
fn rejected_field(body: &[u8]) -> String {
    let mut out = AdRequest::default();
    match parse_bid_request(body, &mut out) {
        Ok(()) => panic!("accepted: {}", String::from_utf8_lossy(body)),
        Err(error) => {
            assert!(!error.reason.is_empty(), "empty reason for {}", error.field);
            assert!(
                out.imps().is_empty() && out.id.is_empty(),
                "output not cleared on error"
            );
            error.field
        }
    }
}

fn check_table(rows: &[(&str, Vec<u8>, &str)]) {
    let mut failures = Vec::new();
    for (name, body, expected_field) in rows {
        let field = rejected_field(body);
        if field != *expected_field {
            failures.push(format!(
                "{name}: expected field {expected_field:?}, got {field:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The banner request with the JSON-pointer edits applied (`None` removes the field).
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
fn bodies_that_are_not_a_json_object_name_the_body() {
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed", b"malformed".to_vec(), "body"),
        ("empty", b"".to_vec(), "body"),
        ("null", b"null".to_vec(), "body"),
        ("array", b"[]".to_vec(), "body"),
        ("number", b"42".to_vec(), "body"),
        ("string", b"\"id\"".to_vec(), "body"),
        (
            "trailing characters",
            [banner_request().to_string().as_bytes(), b" x"].concat(),
            "body",
        ),
        ("invalid utf-8", b"{\"id\":\"\xff\"}".to_vec(), "id"),
    ];
    check_table(&rows);
}

#[test]
fn wrong_json_types_name_their_field() {
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        ("id number", with(&[set("/id", json!(5))]), "id"),
        (
            "imp object",
            with(&[set("/imp", json!({"id": "1"}))]),
            "imp",
        ),
        (
            "banner w string",
            with(&[set("/imp/0/banner/w", json!("300"))]),
            "imp[0].banner.w",
        ),
        (
            "banner w float",
            with(&[set("/imp/0/banner/w", json!(300.5))]),
            "imp[0].banner.w",
        ),
        (
            "format h bool",
            with(&[set("/imp/0/banner/format", json!([{"w": 1, "h": true}]))]),
            "imp[0].banner.format[0].h",
        ),
        (
            "bidfloor string",
            with(&[set("/imp/0/bidfloor", json!("0.5"))]),
            "imp[0].bidfloor",
        ),
        ("tmax huge", with(&[set("/tmax", json!(1e30))]), "tmax"),
        (
            "devicetype string",
            with(&[set("/device", json!({"devicetype": "1"}))]),
            "device.devicetype",
        ),
        (
            "geo lat string",
            with(&[set("/device", json!({"geo": {"lat": "1.5"}}))]),
            "device.geo.lat",
        ),
        (
            "bcat entry number",
            with(&[set("/bcat", json!(["IAB1", 7]))]),
            "bcat[1]",
        ),
        (
            "user data segment id number",
            with(&[set("/user", json!({"data": [{"segment": [{"id": 1}]}]}))]),
            "user.data[0].segment[0].id",
        ),
        (
            "native request number",
            with(&[
                remove("/imp/0/banner"),
                set("/imp/0/native", json!({"request": 5})),
            ]),
            "imp[0].native.request",
        ),
        (
            "banner sent as an array",
            with(&[set("/imp/0/banner", json!([300, 250]))]),
            "imp[0].banner",
        ),
        (
            "key sent twice",
            br#"{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":50,"w":320}}],"site":{"id":"s"}}"#
                .to_vec(),
            "imp[0].banner",
        ),
        (
            "key sent twice, the first null",
            br#"{"id":"r","imp":[{"id":"1","banner":{"w":1,"h":1}}],"site":null,"site":{}}"#
                .to_vec(),
            "body",
        ),
        (
            "sua not an object",
            with(&[set("/device", json!({"sua": "Chrome"}))]),
            "device.sua",
        ),
        (
            "syntax error inside imp",
            br#"{"id":"r","imp":[{"id":"1","banner":{"w":300,}}]}"#.to_vec(),
            "imp[0].banner",
        ),
    ];
    check_table(&rows);
}

#[test]
fn request_level_rules() {
    let too_many_imps: Vec<Value> = (0..=IMPS_MAX)
        .map(|i| json!({"id": i.to_string(), "banner": {"w": 1, "h": 1}}))
        .collect();
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty object", b"{}".to_vec(), "id"),
        ("id missing", with(&[remove("/id")]), "id"),
        ("id empty", with(&[set("/id", json!(""))]), "id"),
        ("id null", with(&[set("/id", Value::Null)]), "id"),
        (
            "tmax negative, no imp",
            br#"{"id":"r","tmax":-2}"#.to_vec(),
            "tmax",
        ),
        ("auction type 0", with(&[set("/at", json!(0))]), "at"),
        ("auction type 3", with(&[set("/at", json!(3))]), "at"),
        ("imp missing", with(&[remove("/imp")]), "imp"),
        ("imp empty", with(&[set("/imp", json!([]))]), "imp"),
        (
            "too many imps",
            with(&[set("/imp", Value::Array(too_many_imps))]),
            "imp",
        ),
        (
            "cur not a code",
            with(&[set("/cur", json!(["USD", "US"]))]),
            "cur[1]",
        ),
        (
            "bcat too long",
            with(&[set("/bcat", json!(vec!["IAB1"; 4097]))]),
            "bcat",
        ),
        (
            "badv too long",
            with(&[set("/badv", json!(vec!["a.example"; 4097]))]),
            "badv",
        ),
        (
            "bapp too long",
            with(&[set("/bapp", json!(vec!["com.a"; 4097]))]),
            "bapp",
        ),
        (
            "gdpr 2",
            with(&[set("/regs", json!({"gdpr": 2}))]),
            "regs.gdpr",
        ),
        (
            "gdpr -1",
            with(&[set("/regs", json!({"gdpr": -1}))]),
            "regs.gdpr",
        ),
    ];
    check_table(&rows);
}

#[test]
fn context_rules() {
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        ("no site, app or dooh", with(&[remove("/site")]), "site"),
        ("site and app", with(&[set("/app", json!({}))]), "app"),
        ("site and dooh", with(&[set("/dooh", json!({}))]), "dooh"),
        (
            "app and dooh",
            with(&[
                remove("/site"),
                set("/app", json!({"id": "a"})),
                set("/dooh", json!({})),
            ]),
            "dooh",
        ),
        ("site empty", with(&[set("/site", json!({}))]), "site"),
        (
            "site id and page empty",
            with(&[set(
                "/site",
                json!({"id": "", "page": "", "domain": "x.example"}),
            )]),
            "site",
        ),
        (
            "site cat too long",
            with(&[set("/site/cat", json!(vec!["IAB1"; 1025]))]),
            "site.cat",
        ),
    ];
    check_table(&rows);
}

#[test]
fn impression_rules() {
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        ("imp id missing", with(&[remove("/imp/0/id")]), "imp[0].id"),
        (
            "imp id empty",
            with(&[set("/imp/0/id", json!(""))]),
            "imp[0].id",
        ),
        (
            "imp empty object",
            with(&[set("/imp/0", json!({}))]),
            "imp[0].id",
        ),
        ("no media kind", with(&[remove("/imp/0/banner")]), "imp[0]"),
        (
            "duplicate imp ids",
            with(&[
                set("/imp/1", json!({"id": "2", "banner": {"w": 1, "h": 1}})),
                set("/imp/2", json!({"id": "1", "banner": {"w": 1, "h": 1}})),
            ]),
            "imp[2].id",
        ),
        (
            "bidfloor negative",
            with(&[set("/imp/0/bidfloor", json!(-0.01))]),
            "imp[0].bidfloor",
        ),
        (
            "bidfloor too large",
            with(&[set("/imp/0/bidfloor", json!(1e7))]),
            "imp[0].bidfloor",
        ),
        (
            "bidfloorcur two letters",
            with(&[set("/imp/0/bidfloorcur", json!("US"))]),
            "imp[0].bidfloorcur",
        ),
        (
            "bidfloorcur not letters",
            with(&[set("/imp/0/bidfloorcur", json!("U$D"))]),
            "imp[0].bidfloorcur",
        ),
        (
            "exp negative",
            with(&[set("/imp/0/exp", json!(-1))]),
            "imp[0].exp",
        ),
        (
            "deal id missing",
            with(&[set("/imp/0/pmp", json!({"deals": [{"bidfloor": 1.0}]}))]),
            "imp[0].pmp.deals[0].id",
        ),
        (
            "deal id empty",
            with(&[set(
                "/imp/0/pmp",
                json!({"deals": [{"id": "d"}, {"id": ""}]}),
            )]),
            "imp[0].pmp.deals[1].id",
        ),
        (
            "deal floor negative",
            with(&[set(
                "/imp/0/pmp",
                json!({"deals": [{"id": "d", "bidfloor": -1}]}),
            )]),
            "imp[0].pmp.deals[0].bidfloor",
        ),
    ];
    check_table(&rows);
}

#[test]
fn banner_rules() {
    let b = "/imp/0/banner";
    let banner = |value: Value| with(&[set(b, value)]);
    let format = |entry: Value| banner(json!({"format": [{"w": 300, "h": 250}, entry]}));
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "w negative",
            banner(json!({"w": -1, "h": 50})),
            "imp[0].banner.w",
        ),
        (
            "h negative",
            banner(json!({"w": 50, "h": -1})),
            "imp[0].banner.h",
        ),
        (
            "w too large",
            banner(json!({"w": 5_000_000_000_i64, "h": 50})),
            "imp[0].banner.w",
        ),
        ("no size at all", banner(json!({})), "imp[0].banner"),
        ("w only", banner(json!({"w": 300})), "imp[0].banner"),
        ("h only", banner(json!({"h": 250})), "imp[0].banner"),
        (
            "w and h zero",
            banner(json!({"w": 0, "h": 0})),
            "imp[0].banner",
        ),
        (
            "format empty",
            banner(json!({"format": []})),
            "imp[0].banner",
        ),
        (
            "format entry empty",
            format(json!({})),
            "imp[0].banner.format[1]",
        ),
        (
            "format h zero",
            format(json!({"w": 30, "h": 0})),
            "imp[0].banner.format[1].h",
        ),
        (
            "format w missing",
            format(json!({"h": 30})),
            "imp[0].banner.format[1].w",
        ),
        (
            "format w and wratio",
            format(json!({"w": 30, "wratio": 23})),
            "imp[0].banner.format[1]",
        ),
        (
            "format wratio only",
            format(json!({"wratio": 30})),
            "imp[0].banner.format[1].wmin",
        ),
        (
            "format hratio missing",
            format(json!({"wmin": 300, "wratio": 16})),
            "imp[0].banner.format[1].hratio",
        ),
        (
            "format w negative",
            format(json!({"w": -1, "h": 50})),
            "imp[0].banner.format[1].w",
        ),
        (
            "format h negative",
            format(json!({"w": 50, "h": -1})),
            "imp[0].banner.format[1].h",
        ),
        (
            "format wmin negative",
            format(json!({"w": 50, "h": 50, "wmin": -1})),
            "imp[0].banner.format[1].wmin",
        ),
        (
            "format wratio negative",
            format(json!({"w": 50, "h": 50, "wratio": -1})),
            "imp[0].banner.format[1].wratio",
        ),
        (
            "format hratio negative",
            format(json!({"w": 50, "h": 50, "hratio": -1})),
            "imp[0].banner.format[1].hratio",
        ),
        (
            "too many formats",
            banner(json!({"format": vec![json!({"w": 1, "h": 1}); 65]})),
            "imp[0].banner.format",
        ),
        (
            "battr negative",
            banner(json!({"w": 1, "h": 1, "battr": [1, -3]})),
            "imp[0].banner.battr[1]",
        ),
    ];
    check_table(&rows);
}

#[test]
fn video_and_audio_rules() {
    let video = |value: Value| with(&[remove("/imp/0/banner"), set("/imp/0/video", value)]);
    let audio = |value: Value| with(&[remove("/imp/0/banner"), set("/imp/0/audio", value)]);
    let mut rows: Vec<(&str, Vec<u8>, &str)> = vec![
        ("video empty", video(json!({})), "imp[0].video.mimes"),
        (
            "video mimes empty",
            video(json!({"mimes": []})),
            "imp[0].video.mimes",
        ),
        (
            "video protocol negative",
            video(json!({"mimes": ["video/mp4"], "protocols": [2, -1]})),
            "imp[0].video.protocols[1]",
        ),
        (
            "video protocol too large",
            video(json!({"mimes": ["video/mp4"], "protocols": [70000]})),
            "imp[0].video.protocols[0]",
        ),
        (
            "video deprecated protocol negative",
            video(json!({"mimes": ["video/mp4"], "protocol": -2})),
            "imp[0].video.protocol",
        ),
        ("audio empty", audio(json!({})), "imp[0].audio.mimes"),
        (
            "audio mimes empty",
            audio(json!({"mimes": []})),
            "imp[0].audio.mimes",
        ),
    ];
    let video_negatives = [
        ("video w negative", "w", "imp[0].video.w"),
        ("video h negative", "h", "imp[0].video.h"),
        (
            "video minduration negative",
            "minduration",
            "imp[0].video.minduration",
        ),
        (
            "video maxduration negative",
            "maxduration",
            "imp[0].video.maxduration",
        ),
        (
            "video minbitrate negative",
            "minbitrate",
            "imp[0].video.minbitrate",
        ),
        (
            "video maxbitrate negative",
            "maxbitrate",
            "imp[0].video.maxbitrate",
        ),
        (
            "video sequence negative",
            "sequence",
            "imp[0].video.sequence",
        ),
        ("video maxseq negative", "maxseq", "imp[0].video.maxseq"),
        ("video poddur negative", "poddur", "imp[0].video.poddur"),
    ];
    for (name, key, field) in video_negatives {
        rows.push((name, video(json!({"mimes": ["video/mp4"], key: -1})), field));
    }
    let audio_negatives = [
        (
            "audio minbitrate negative",
            "minbitrate",
            "imp[0].audio.minbitrate",
        ),
        (
            "audio maxbitrate negative",
            "maxbitrate",
            "imp[0].audio.maxbitrate",
        ),
        (
            "audio sequence negative",
            "sequence",
            "imp[0].audio.sequence",
        ),
        ("audio maxseq negative", "maxseq", "imp[0].audio.maxseq"),
        (
            "audio minduration negative",
            "minduration",
            "imp[0].audio.minduration",
        ),
    ];
    for (name, key, field) in audio_negatives {
        rows.push((name, audio(json!({"mimes": ["audio/mp4"], key: -1})), field));
    }
    check_table(&rows);
}

#[test]
fn device_user_rules() {
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "device w negative",
            with(&[set("/device", json!({"w": -1, "h": 50}))]),
            "device.w",
        ),
        (
            "device h negative",
            with(&[set("/device", json!({"w": 50, "h": -1}))]),
            "device.h",
        ),
        (
            "device ppi negative",
            with(&[set("/device", json!({"ppi": -1}))]),
            "device.ppi",
        ),
        (
            "device type out of range",
            with(&[set("/device", json!({"devicetype": 256}))]),
            "device.devicetype",
        ),
        (
            "device geo accuracy negative",
            with(&[set("/device", json!({"geo": {"accuracy": -1}}))]),
            "device.geo.accuracy",
        ),
        (
            "user geo accuracy negative",
            with(&[set("/user", json!({"geo": {"accuracy": -1}}))]),
            "user.geo.accuracy",
        ),
        (
            "too many user segments",
            with(&[set(
                "/user",
                json!({"data": [{"segment": vec![json!({"id": "s"}); 1025]}]}),
            )]),
            "user.data",
        ),
    ];
    check_table(&rows);
}

/// Native rules: each row edits the Native request (sent as a JSON string, the spec's form) and
/// names the field below `imp[0].native.request`.
#[test]
fn native_rules() {
    let native = |edits: &[(&str, Option<Value>)]| native_request_with(edits);
    let asset = |value: Value| native(&[set("/assets", json!([value]))]);
    let video = |value: Value| asset(json!({"video": value}));
    let video_ok =
        json!({"mimes": ["video/mp4"], "minduration": 5, "maxduration": 30, "protocols": [2]});
    let video_without = |key: &str| {
        let mut value = video_ok.clone();
        value.as_object_mut().map(|object| object.remove(key));
        video(value)
    };
    let video_with = |key: &str, field: Value| {
        let mut value = video_ok.clone();
        value
            .as_object_mut()
            .map(|object| object.insert(key.to_owned(), field));
        video(value)
    };
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "request missing",
            with(&[
                remove("/imp/0/banner"),
                set("/imp/0/native", json!({"ver": "1.2"})),
            ]),
            "imp[0].native.request",
        ),
        (
            "request empty string",
            with(&[
                remove("/imp/0/banner"),
                set("/imp/0/native", json!({"request": ""})),
            ]),
            "imp[0].native.request",
        ),
        (
            "request not json",
            with(&[
                remove("/imp/0/banner"),
                set("/imp/0/native", json!({"request": "{assets"})),
            ]),
            "imp[0].native.request",
        ),
        (
            "request wrong type inside",
            native(&[set("/assets/0/img/w", json!("20"))]),
            "imp[0].native.request.assets[0].img.w",
        ),
        (
            "request empty object",
            native(&[remove("/assets")]),
            "imp[0].native.request.assets",
        ),
        (
            "assets empty",
            native(&[set("/assets", json!([]))]),
            "imp[0].native.request.assets",
        ),
        (
            "too many assets",
            native(&[set(
                "/assets",
                json!(vec![json!({"title": {"len": 1}}); 65]),
            )]),
            "imp[0].native.request.assets",
        ),
        (
            "asset empty",
            asset(json!({})),
            "imp[0].native.request.assets[0]",
        ),
        (
            "asset mixed",
            asset(json!({"title": {"len": 1}, "img": {"w": 1}})),
            "imp[0].native.request.assets[0]",
        ),
        (
            "title len missing",
            asset(json!({"title": {}})),
            "imp[0].native.request.assets[0].title.len",
        ),
        (
            "title len zero",
            asset(json!({"title": {"len": 0}})),
            "imp[0].native.request.assets[0].title.len",
        ),
        (
            "img w negative",
            asset(json!({"img": {"w": -20, "h": 30}})),
            "imp[0].native.request.assets[0].img.w",
        ),
        (
            "img h negative",
            asset(json!({"img": {"w": 20, "h": -30}})),
            "imp[0].native.request.assets[0].img.h",
        ),
        (
            "img wmin negative",
            asset(json!({"img": {"wmin": -20}})),
            "imp[0].native.request.assets[0].img.wmin",
        ),
        (
            "img hmin negative",
            asset(json!({"img": {"hmin": -30}})),
            "imp[0].native.request.assets[0].img.hmin",
        ),
        (
            "video mimes missing",
            video_without("mimes"),
            "imp[0].native.request.assets[0].video.mimes",
        ),
        (
            "video mimes empty",
            video_with("mimes", json!([])),
            "imp[0].native.request.assets[0].video.mimes",
        ),
        (
            "video minduration missing",
            video_without("minduration"),
            "imp[0].native.request.assets[0].video.minduration",
        ),
        (
            "video maxduration missing",
            video_without("maxduration"),
            "imp[0].native.request.assets[0].video.maxduration",
        ),
        (
            "video maxduration zero",
            video_with("maxduration", json!(0)),
            "imp[0].native.request.assets[0].video.maxduration",
        ),
        (
            "video protocols missing",
            video_without("protocols"),
            "imp[0].native.request.assets[0].video.protocols",
        ),
        (
            "video protocols empty",
            video_with("protocols", json!([])),
            "imp[0].native.request.assets[0].video.protocols",
        ),
        (
            "video protocol 97",
            video_with("protocols", json!([2, 97])),
            "imp[0].native.request.assets[0].video.protocols[1]",
        ),
        (
            "data type missing",
            asset(json!({"data": {}})),
            "imp[0].native.request.assets[0].data.type",
        ),
        (
            "data type 13",
            asset(json!({"data": {"type": 13}})),
            "imp[0].native.request.assets[0].data.type",
        ),
        (
            "data type 364",
            asset(json!({"data": {"type": 364}})),
            "imp[0].native.request.assets[0].data.type",
        ),
        (
            "duplicate asset ids",
            native(&[set(
                "/assets",
                json!([{"id": 1, "img": {"wmin": 30}}, {"id": 1, "title": {"len": 20}}]),
            )]),
            "imp[0].native.request.assets[1].id",
        ),
        (
            "some asset ids missing",
            native(&[set(
                "/assets",
                json!([{"id": 1, "img": {"wmin": 30}}, {"title": {"len": 20}}]),
            )]),
            "imp[0].native.request.assets[1].id",
        ),
        (
            "first asset id missing",
            native(&[set(
                "/assets",
                json!([{"img": {"wmin": 30}}, {"id": 0, "title": {"len": 20}}]),
            )]),
            "imp[0].native.request.assets[0].id",
        ),
        (
            "context 4",
            native(&[set("/context", json!(4))]),
            "imp[0].native.request.context",
        ),
        (
            "context 376",
            native(&[set("/context", json!(376))]),
            "imp[0].native.request.context",
        ),
        (
            "context negative",
            native(&[set("/context", json!(-1))]),
            "imp[0].native.request.context",
        ),
        (
            "contextsubtype negative",
            native(&[set("/contextsubtype", json!(-1))]),
            "imp[0].native.request.contextsubtype",
        ),
        (
            "contextsubtype 16",
            native(&[set("/contextsubtype", json!(16))]),
            "imp[0].native.request.contextsubtype",
        ),
        (
            "contextsubtype 41",
            native(&[set("/contextsubtype", json!(41))]),
            "imp[0].native.request.contextsubtype",
        ),
        (
            "content with social subtype",
            native(&[set("/context", json!(1)), set("/contextsubtype", json!(21))]),
            "imp[0].native.request.contextsubtype",
        ),
        (
            "product with content subtype",
            native(&[set("/context", json!(3)), set("/contextsubtype", json!(11))]),
            "imp[0].native.request.contextsubtype",
        ),
        (
            "social with product subtype",
            native(&[set("/context", json!(2)), set("/contextsubtype", json!(31))]),
            "imp[0].native.request.contextsubtype",
        ),
        (
            "plcmttype 5",
            native(&[set("/plcmttype", json!(5))]),
            "imp[0].native.request.plcmttype",
        ),
        (
            "plcmttype 423",
            native(&[set("/plcmttype", json!(423))]),
            "imp[0].native.request.plcmttype",
        ),
        (
            "plcmtcnt negative",
            native(&[set("/plcmtcnt", json!(-1))]),
            "imp[0].native.request.plcmtcnt",
        ),
        (
            "event tracker empty",
            native(&[set("/eventtrackers", json!([{}]))]),
            "imp[0].native.request.eventtrackers[0].event",
        ),
        (
            "event 5",
            native(&[set("/eventtrackers", json!([{"event": 5, "methods": [1]}]))]),
            "imp[0].native.request.eventtrackers[0].event",
        ),
        (
            "methods missing",
            native(&[set("/eventtrackers", json!([{"event": 1}]))]),
            "imp[0].native.request.eventtrackers[0].methods",
        ),
        (
            "methods empty",
            native(&[set("/eventtrackers", json!([{"event": 1, "methods": []}]))]),
            "imp[0].native.request.eventtrackers[0].methods",
        ),
        (
            "method 3",
            native(&[set(
                "/eventtrackers",
                json!([{"event": 1, "methods": [1, 3]}]),
            )]),
            "imp[0].native.request.eventtrackers[0].methods[1]",
        ),
    ];
    check_table(&rows);
}

#[test]
fn native_object_form_and_wrapper_are_validated_too() {
    let object = |request: Value| {
        with(&[
            remove("/imp/0/banner"),
            set("/imp/0/native", json!({"request": request})),
        ])
    };
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "object without assets",
            object(json!({"context": 1})),
            "imp[0].native.request.assets",
        ),
        (
            "object img w negative",
            object(json!({"assets": [{"img": {"w": -1}}]})),
            "imp[0].native.request.assets[0].img.w",
        ),
        (
            "object wrong type",
            object(json!({"assets": [{"img": {"w": "1"}}]})),
            "imp[0].native.request.assets[0].img.w",
        ),
        (
            "1.0 wrapper without assets",
            object(json!({"native": {"assets": []}})),
            "imp[0].native.request.native.assets",
        ),
        (
            "1.0 wrapper twice",
            object(json!({"native": {"native": {"assets": []}}})),
            "imp[0].native.request.native.native",
        ),
        (
            "1.0 wrapper in a string",
            with(&[
                remove("/imp/0/banner"),
                set(
                    "/imp/0/native",
                    json!({"request": "{\"native\":{\"assets\":[{}]}}"}),
                ),
            ]),
            "imp[0].native.request.native.assets[0]",
        ),
    ];
    check_table(&rows);
}
