//! Clients that misbehave: oversized bodies, header floods, garbage, slow-loris, truncated
//! bodies and resets. Each gets a clear 4xx (or a close), and the server keeps serving others.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::time::{Duration, Instant};

use adshard_testkit::server::{Client, TestServer, BANNER_REQUEST};

fn assert_still_serving(server: &TestServer) {
    let mut other = server.connect();
    assert_eq!(
        other
            .post("/openrtb2/auction", BANNER_REQUEST.as_bytes())
            .status,
        204
    );
}

#[test]
fn body_over_limit_gets_413_without_reading_it() {
    let server = TestServer::start(|config| config.http.body_bytes_max = 4096);
    let mut client = server.connect();
    client.send(b"POST /openrtb2/auction HTTP/1.1\r\nHost: t\r\nContent-Length: 4097\r\n\r\n");
    let response = client.read_response().expect("413");
    assert_eq!(response.status, 413);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(response.json()["error"]
        .as_str()
        .unwrap()
        .contains("too large"));
    assert!(client.closed_within(Duration::from_secs(2)));
    assert_still_serving(&server);
}

#[test]
fn body_at_limit_is_read() {
    let server = TestServer::start(|config| config.http.body_bytes_max = 4096);
    let mut body = BANNER_REQUEST.as_bytes().to_vec();
    body.resize(4096, b' ');
    let mut client = server.connect();
    assert_eq!(client.post("/openrtb2/auction", &body).status, 204);
}

#[test]
fn header_flood_gets_431() {
    let server = TestServer::start(|_| {});
    let mut many = b"GET /healthz HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        many.extend_from_slice(format!("X-Flood-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let mut client = server.connect();
    client.send(&many);
    assert_eq!(client.read_response().expect("431").status, 431);

    let mut huge = b"GET /healthz HTTP/1.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 20_000));
    let mut client = server.connect();
    // The server may answer and close before it has read everything; a failed write is fine.
    let _ = client.stream.write_all(&huge);
    assert_eq!(client.read_response().expect("431").status, 431);
    assert_still_serving(&server);
}

#[test]
fn garbage_bytes_get_400_then_close() {
    let server = TestServer::start(|_| {});
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
        b"HELLO WORLD\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\0\0\0\0\r\n\r\n",
    ] {
        let mut client = server.connect();
        client.send(garbage);
        let response = client.read_response().expect("400");
        assert_eq!(response.status, 400, "{garbage:?}");
        assert_eq!(response.header("connection"), Some("close"));
        assert!(client.closed_within(Duration::from_secs(2)));
    }
    assert_still_serving(&server);
}

#[test]
fn chunked_bodies_get_411() {
    let server = TestServer::start(|_| {});
    let mut client = server.connect();
    client.send(b"POST /openrtb2/auction HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(client.read_response().expect("411").status, 411);
    assert!(client.closed_within(Duration::from_secs(2)));
}

#[test]
fn slow_loris_is_closed_after_the_header_timeout() {
    let server = TestServer::start(|config| config.http.header_timeout_ms = 300);
    let mut slow = server.connect();
    let started = Instant::now();
    // One byte every 50 ms: each read resets nothing, the deadline runs from the first byte.
    let head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut answered = None;
    for byte in head.iter() {
        if slow.stream.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        // The server serves others while the slow client trickles.
        if answered.is_none() {
            let mut other = server.connect();
            answered = Some(other.get("/healthz").status);
        }
        if started.elapsed() > Duration::from_millis(600) {
            break;
        }
    }
    assert_eq!(answered, Some(200));
    let response = slow.read_response();
    assert_eq!(response.map(|r| r.status), Some(408));
    assert!(slow.closed_within(Duration::from_secs(2)));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300),
        "closed after {elapsed:?}"
    );
    assert!(server.metric_sum("adshard_connection_read_timeouts_total", &[]) >= 1);
}

#[test]
fn truncated_body_then_close_changes_nothing() {
    let server = TestServer::start(|_| {});
    let mut client = server.connect();
    client.send(b"POST /openrtb2/auction HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"id\":\"trunc");
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(client.read_response().is_none());
    assert_still_serving(&server);
    // The truncated request is not counted as answered.
    assert_eq!(
        server.metric_sum(
            "adshard_http_requests_total",
            &["endpoint=\"/openrtb2/auction\""]
        ),
        1
    );
}

#[test]
fn truncated_body_times_out_with_408() {
    let server = TestServer::start(|config| config.http.body_timeout_ms = 200);
    let mut client = server.connect();
    client.send(
        b"POST /openrtb2/auction HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"id\":",
    );
    assert_eq!(client.read_response().map(|r| r.status), Some(408));
    assert_still_serving(&server);
}

#[test]
fn reset_mid_request_is_counted_and_harmless() {
    let server = TestServer::start(|_| {});
    for _ in 0..20 {
        let client = Client::connect(server.addr);
        let socket = socket2::SockRef::from(&client.stream);
        socket.set_linger(Some(Duration::ZERO)).unwrap();
        let mut stream = &client.stream;
        stream
            .write_all(
                b"POST /openrtb2/auction HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n{\"id\"",
            )
            .unwrap();
        drop(client); // RST, not FIN
    }
    assert_still_serving(&server);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.metric_sum("adshard_connection_io_errors_total", &[]) < 20 {
        assert!(Instant::now() < deadline, "resets are counted");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn idle_connection_is_closed_after_idle_timeout() {
    let server = TestServer::start(|config| config.http.idle_timeout_ms = 200);
    let mut client = server.connect();
    assert_eq!(client.get("/healthz").status, 200);
    assert!(client.closed_within(Duration::from_secs(3)));
}

#[test]
fn connections_over_the_shard_limit_get_503_and_are_counted() {
    let server = TestServer::start(|config| config.http.connections_per_shard_max = 4);
    // Every connection has a request in progress, so none can make way (an idle one would:
    // see http_connection_pressure).
    let mut held: Vec<Client> = (0..4).map(|_| server.connect()).collect();
    for client in &mut held {
        assert_eq!(client.get("/healthz").status, 200);
        client.send(b"GET /healthz HTTP/1.1\r\n");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.metric_sum("adshard_connections_busy", &[]) < 4 {
        assert!(Instant::now() < deadline, "four requests in progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut extra = server.connect();
    let refused = extra.read_response().expect("a 503, not a silent close");
    assert_eq!(refused.status, 503);
    assert!(extra.closed_within(Duration::from_secs(2)));
    assert_eq!(
        server.metric_sum("adshard_connections_rejected_total", &[]),
        1
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = server.connect();
        again.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        if again.read_response().map(|r| r.status) == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slots free up after clients leave"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
