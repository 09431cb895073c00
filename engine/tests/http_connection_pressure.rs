//! A shard's connection table under pressure: idle connections make way for new ones, a
//! connection that never speaks is closed after the first-byte timeout, a connection with a
//! request in progress is never the one closed, and health checks and scrapes keep answering
//! when the table is full.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use adshard_testkit::server::{Client, TestServer};

/// Long enough that no connection of these tests idles out or times out on its own.
const PATIENT_MS: u64 = 60_000;

fn full_table_server(connections_max: usize) -> TestServer {
    TestServer::start(|config| {
        config.http.connections_per_shard_max = connections_max;
        config.http.first_byte_timeout_ms = 30_000;
        config.http.idle_timeout_ms = PATIENT_MS;
        config.http.header_timeout_ms = PATIENT_MS;
    })
}

/// The status of `GET path`, None when the server closed the connection without answering.
fn get(client: &mut Client, path: &str) -> Option<u16> {
    client.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    client.read_response().map(|r| r.status)
}

/// Waits until the server has read the first bytes of `n` requests (so they are in progress).
fn wait_busy(server: &TestServer, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.metric_sum("adshard_connections_busy", &[]) < n {
        assert!(Instant::now() < deadline, "{n} requests in progress");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// True when the connection still answers a request.
fn still_serves(client: &mut Client) -> bool {
    get(client, "/healthz") == Some(200)
}

#[test]
fn idle_connections_make_way_for_new_ones() {
    let server = full_table_server(4);
    let mut held: Vec<Client> = (0..4).map(|_| server.connect()).collect();
    for client in &mut held {
        assert_eq!(client.get("/healthz").status, 200);
    }
    // The first connection is used again: the one idle longest is now the second.
    assert_eq!(held[0].get("/healthz").status, 200);

    let mut newcomer = server.connect();
    assert_eq!(
        get(&mut newcomer, "/healthz"),
        Some(200),
        "the newcomer is served"
    );
    assert!(
        held[1].closed_within(Duration::from_secs(5)),
        "the longest idle made way"
    );
    for idx in [0, 2, 3] {
        assert!(still_serves(&mut held[idx]), "connection {idx} stays");
    }
    assert_eq!(
        server.metric_sum("adshard_connections_evicted_total", &[]),
        1
    );
    assert_eq!(
        server.metric_sum("adshard_connections_rejected_total", &[]),
        0
    );
}

#[test]
fn requests_in_progress_are_never_evicted() {
    let server = full_table_server(3);
    // Two connections are half-way through a request; one is idle after a request.
    let mut idle = server.connect();
    assert_eq!(idle.get("/healthz").status, 200);
    let mut busy: Vec<Client> = (0..2).map(|_| server.connect()).collect();
    for client in &mut busy {
        client.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n");
    }
    wait_busy(&server, 2);

    // The first newcomer takes the idle connection's place.
    let mut first = server.connect();
    assert_eq!(get(&mut first, "/healthz"), Some(200));
    assert!(idle.closed_within(Duration::from_secs(5)));
    // The first newcomer is idle now, so the second takes its place in turn.
    let mut second = server.connect();
    assert_eq!(get(&mut second, "/healthz"), Some(200));
    assert!(first.closed_within(Duration::from_secs(5)));
    // Nothing is idle while the second newcomer's request is in progress: a third is told so.
    second.send(b"GET /healthz HTTP/1.1\r\n");
    wait_busy(&server, 3);
    let mut third = server.connect();
    third.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    let refused = third.read_response().expect("a 503, not a reset");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(third.closed_within(Duration::from_secs(5)));
    // The requests in progress were left alone and finish.
    for client in busy.iter_mut().chain([&mut second]) {
        client.send(b"\r\n");
        assert_eq!(client.read_response().map(|r| r.status), Some(200));
    }
    assert_eq!(
        server.metric_sum("adshard_connections_evicted_total", &[]),
        2
    );
    assert_eq!(
        server.metric_sum("adshard_connections_rejected_total", &[]),
        1
    );
}

#[test]
fn silent_connection_closed_after_first_byte_timeout() {
    let server = TestServer::start(|config| {
        config.http.first_byte_timeout_ms = 200;
        config.http.idle_timeout_ms = PATIENT_MS;
    });
    let started = Instant::now();
    let mut silent = server.connect();
    assert!(
        silent.closed_within(Duration::from_secs(5)),
        "silent connection closed"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200),
        "closed after {elapsed:?}"
    );
    // A connection that has spoken waits for the idle timeout, not the first-byte one.
    let mut spoken = server.connect();
    assert_eq!(spoken.get("/healthz").status, 200);
    assert!(!spoken.closed_within(Duration::from_millis(600)));
    assert!(still_serves(&mut spoken));
    assert_eq!(
        server.metric_sum("adshard_connection_first_byte_timeouts_total", &[]),
        1
    );
}

#[test]
fn health_check_answers_when_table_full() {
    let server = full_table_server(2);
    // Connections that never send a byte fill the table.
    let _silent: Vec<Client> = (0..2).map(|_| server.connect()).collect();
    assert_eq!(
        get(&mut server.connect(), "/healthz"),
        Some(200),
        "public /healthz"
    );
    assert_eq!(
        get(&mut server.connect(), "/readyz"),
        Some(200),
        "public /readyz"
    );

    // The admin port's table (64 at most; the public limit here) full of idle scrapers: a new
    // scrape still answers.
    let server = full_table_server(4096);
    let mut scrapers: Vec<Client> = (0..64).map(|_| Client::connect(server.admin)).collect();
    for scraper in &mut scrapers {
        assert_eq!(scraper.get("/healthz").status, 200);
    }
    let mut scrape = Client::connect(server.admin);
    assert_eq!(get(&mut scrape, "/metrics"), Some(200), "admin /metrics");
    let mut admin_health = Client::connect(server.admin);
    assert_eq!(
        get(&mut admin_health, "/healthz"),
        Some(200),
        "admin /healthz"
    );
}
