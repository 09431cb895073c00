//! Request targets and methods a server must take as well as the usual ones: the absolute form
//! a proxy-style client sends (`POST http://host/path`, RFC 9112 §3.2.2), and `HEAD` on every
//! `GET` route (RFC 9110 §9.3.2), which answers like `GET` without the body. A target in
//! neither origin nor absolute form is a 400; a `HEAD` on a tracking URL stays a 405 so that a
//! prefetcher cannot count an event.

use adshard::campaign::data::demo;
use adshard_testkit::server::{Client, HttpResponse, TestServer, BANNER_REQUEST};

/// A 300x250 banner request the demo's always-on campaign bids on.
const DEMO_BANNER: &str = r#"{"id":"form-1","imp":[{"id":"1","bidfloor":0.03,"banner":{"w":300,"h":250}}],
"site":{"id":"s1","domain":"www.foobar.com","page":"http://www.foobar.com/1234.html"},"user":{"id":"u1"}}"#;

fn request(client: &mut Client, method: &str, target: &str, body: &str) -> HttpResponse {
    client.send(
        format!(
            "{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    if method == "HEAD" {
        client.read_head_response()
    } else {
        client.read_response()
    }
    .unwrap_or_else(|| panic!("{method} {target}: closed without an answer"))
}

#[test]
fn absolute_form_target_accepted() {
    let server = TestServer::start_with_campaigns(|_| {}, demo());
    let mut client = server.connect();
    for target in [
        "http://ads.example/openrtb2/auction",
        "https://ads.example:8443/openrtb2/auction",
        "HTTP://ads.example/openrtb2/auction?exchange=x",
    ] {
        let response = request(&mut client, "POST", target, DEMO_BANNER);
        assert_eq!(
            response.status,
            200,
            "POST {target}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.json()["id"], "form-1", "POST {target}");
    }
    for target in [
        "http://ads.example/healthz",
        "http://127.0.0.1:8080/readyz?probe=1",
    ] {
        assert_eq!(
            request(&mut client, "GET", target, "").status,
            200,
            "{target}"
        );
    }
    // A path we do not serve is still a 404 in absolute form, the empty path included.
    for target in [
        "http://ads.example/nowhere",
        "http://ads.example",
        "http://ads.example?x=1",
    ] {
        assert_eq!(
            request(&mut client, "GET", target, "").status,
            404,
            "{target}"
        );
    }
    // Neither origin nor absolute form: 400 and close, whatever follows.
    for target in [
        "ads.example:443",
        "openrtb2/auction",
        "*",
        "ftp://ads.example/openrtb2/auction",
        "http:///openrtb2/auction",
        "http://user@ads.example/openrtb2/auction",
    ] {
        let mut client = server.connect();
        let response = request(&mut client, "POST", target, BANNER_REQUEST);
        assert_eq!(response.status, 400, "POST {target}");
        assert_eq!(response.header("connection"), Some("close"), "{target}");
    }
}

/// `GET` then `HEAD` on `target` over one connection: the same status and headers, no body.
fn assert_head_like_get(client: &mut Client, target: &str, status: u16, same_length: bool) {
    let get = request(client, "GET", target, "");
    assert_eq!(get.status, status, "GET {target}");
    let head = request(client, "HEAD", target, "");
    assert_eq!(head.status, get.status, "HEAD {target}");
    assert_eq!(
        head.header("content-type"),
        get.header("content-type"),
        "HEAD {target}"
    );
    let head_length: usize = head
        .header("content-length")
        .unwrap_or_else(|| panic!("HEAD {target} has a Content-Length"))
        .parse()
        .unwrap();
    if same_length {
        assert_eq!(head_length, get.body.len(), "HEAD {target}");
    } else {
        assert!(head_length > 0, "HEAD {target}");
    }
    assert!(head.body.is_empty());
    // No body bytes followed the HEAD answer: the next answer on the connection parses.
    assert_eq!(
        request(client, "GET", target, "").status,
        get.status,
        "after HEAD {target}"
    );
}

#[test]
fn head_answers_like_get() {
    let server = TestServer::start_with_campaigns(|_| {}, demo());
    let mut public = server.connect();
    for (target, status) in [
        ("/healthz", 200),
        ("/readyz", 200),
        ("/nowhere", 404),
        ("http://ads.example/healthz", 200),
        ("https://ads.example/readyz?probe=1", 200),
    ] {
        assert_head_like_get(&mut public, target, status, true);
    }
    let mut admin = Client::connect(server.admin);
    assert_head_like_get(&mut admin, "/healthz", 200, true);
    // The metrics change between two scrapes; their length is only roughly the same.
    assert_head_like_get(&mut admin, "/metrics", 200, false);

    // HEAD must not count an event: a tracking URL keeps refusing it.
    for target in [
        "/win?t=x",
        "/imp?t=x",
        "/click?t=x",
        "http://ads.example/imp?t=x",
    ] {
        let head = request(&mut public, "HEAD", target, "");
        assert_eq!(head.status, 405, "HEAD {target}");
        assert_eq!(head.header("allow"), Some("GET"), "HEAD {target}");
    }
    // HEAD on the POST-only auction is a 405 naming POST.
    let head = request(&mut public, "HEAD", "/openrtb2/auction", "");
    assert_eq!(head.status, 405);
    assert_eq!(head.header("allow"), Some("POST"));
    assert_eq!(request(&mut public, "GET", "/healthz", "").status, 200);
    // Not one tracking call reached the tracking flow (which counts every one it sees).
    assert_eq!(server.metric_sum("adshard_tracking_requests_total", &[]), 0);
}
