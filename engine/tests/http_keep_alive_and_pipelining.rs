//! Keep-alive, pipelining and connection close on a real server over loopback.

use adshard_testkit::server::{post_bytes, TestServer, BANNER_REQUEST};

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = TestServer::start(|_| {});
    let mut client = server.connect();
    for _ in 0..50 {
        let response = client.get("/healthz");
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), None);
        let response = client.post("/openrtb2/auction", BANNER_REQUEST.as_bytes());
        assert_eq!(
            response.status,
            204,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(|_| {});
    let mut client = server.connect();
    let mut burst = Vec::new();
    burst.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    burst.extend_from_slice(&post_bytes("/openrtb2/auction", b"{\"id\":\"x\"}"));
    burst.extend_from_slice(b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
    burst.extend_from_slice(&post_bytes("/openrtb2/auction", BANNER_REQUEST.as_bytes()));
    burst.extend_from_slice(b"DELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    client.send(&burst);
    let statuses: Vec<u16> = (0..5)
        .map(|_| client.read_response().expect("response").status)
        .collect();
    assert_eq!(statuses, [200, 400, 404, 204, 405]);
}

#[test]
fn pipelined_burst_split_at_every_byte_boundary() {
    let server = TestServer::start(|_| {});
    let mut burst = Vec::new();
    burst.extend_from_slice(&post_bytes("/openrtb2/auction", BANNER_REQUEST.as_bytes()));
    burst.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    for split in [1, 17, 40, 100, burst.len() / 2, burst.len() - 1] {
        let mut client = server.connect();
        client.send(&burst[..split]);
        std::thread::yield_now();
        client.send(&burst[split..]);
        assert_eq!(
            client.read_response().unwrap().status,
            204,
            "split at {split}"
        );
        assert_eq!(
            client.read_response().unwrap().status,
            200,
            "split at {split}"
        );
    }
}

#[test]
fn connection_close_is_honoured() {
    let server = TestServer::start(|_| {});
    let mut client = server.connect();
    client.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let response = client.read_response().expect("response");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(client.closed_within(std::time::Duration::from_secs(2)));
}

#[test]
fn http10_without_keep_alive_closes() {
    let server = TestServer::start(|_| {});
    let mut client = server.connect();
    client.send(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(client.read_response().unwrap().status, 200);
    assert!(client.closed_within(std::time::Duration::from_secs(2)));
}

#[test]
fn expect_100_continue_gets_interim_response() {
    let server = TestServer::start(|_| {});
    let mut client = server.connect();
    let body = BANNER_REQUEST.as_bytes();
    client.send(
        format!("POST /openrtb2/auction HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len())
            .as_bytes(),
    );
    assert_eq!(client.read_response().unwrap().status, 100);
    client.send(body);
    assert_eq!(client.read_response().unwrap().status, 204);
}

#[test]
fn routes_and_methods() {
    let server = TestServer::start(|_| {});
    let mut client = server.connect();
    assert_eq!(client.get("/readyz").status, 200);
    let response = client.get("/openrtb2/auction");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));
    assert_eq!(client.post("/healthz", b"").status, 405);
    assert_eq!(client.get("/").status, 404);
    client.send(b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_head_response().unwrap();
    assert_eq!(head.header("content-length"), Some("3"));
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}
