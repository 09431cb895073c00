//! The per-shard bidder connection pool against scripted bidders: keep-alive reuse, the
//! deadline bounding every exchange, and every way a connection must be closed instead of
//! returned (timeout, reset, garbage, oversized body, `Connection: close`, half-read).
//!
//! Each scripted bidder is a std thread on 127.0.0.1:0 that plays a fixed script per accepted
//! connection; where timing matters the script waits on a channel the test signals, so nothing
//! depends on sleeping. The pool runs on a glommio `LocalExecutor` on the test thread.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use adshard::bidders::client::{BidderEndpoint, BidderError, BidderPool, PoolSettings};

/// How late past its deadline a timed-out request may return: glommio timers fire on the
/// reactor's next turn, and this machine is shared with builds; a few ms is the expectation,
/// this is the bound that still proves "not much past the deadline".
const DEADLINE_SLACK: Duration = Duration::from_millis(25);
/// Long enough never to expire in a test that expects an answer.
const GENEROUS: Duration = Duration::from_secs(5);
const BODY: &[u8] = br#"{"id":"req-1","imp":[{"id":"1"}]}"#;
const ANSWER: &[u8] = br#"{"id":"req-1","seatbid":[]}"#;

fn run<T>(test: impl std::future::Future<Output = T> + 'static) -> T {
    glommio::LocalExecutorBuilder::default()
        .io_memory(128 * 1024)
        .make()
        .expect("executor")
        .run(test)
}

fn settings(connections_max: usize) -> PoolSettings {
    PoolSettings {
        connections_max,
        connections_warm: 0,
        response_bytes_max: 1000,
        connect_timeout: Duration::from_secs(1),
    }
}

fn pool(addr: SocketAddr, settings: PoolSettings) -> BidderPool {
    let endpoint = BidderEndpoint::parse(&format!("http://{addr}/openrtb2")).expect("endpoint");
    BidderPool::new(endpoint, settings)
}

fn within(duration: Duration) -> Instant {
    Instant::now() + duration
}

/// A scripted bidder: accepts connections and runs `script(connection_idx, stream)` for each on
/// its own thread. Accepts until the test ends (the listener thread is detached).
fn bidder(script: impl Fn(usize, TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let script = Arc::new(script);
    thread::spawn(move || {
        for (idx, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { return };
            let script = script.clone();
            thread::spawn(move || script(idx, stream));
        }
    });
    addr
}

/// Reads one request (head and Content-Length body); `None` when the client closed first.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map(|value| value.trim().parse().expect("length"))
                .unwrap_or(0);
            if request.len() >= head_end + 4 + length {
                return Some(request);
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
}

fn ok_answer(body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

/// Waits until the client closes the connection; true when it did (EOF or reset).
fn client_closes(stream: &mut TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(GENEROUS));
    let mut sink = [0u8; 1024];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) => return error.kind() == ErrorKind::ConnectionReset,
        }
    }
}

/// A channel the scripts share: the test signals it, one script waits on it.
fn gate() -> (Sender<()>, Arc<Mutex<Receiver<()>>>) {
    let (sender, receiver) = channel();
    (sender, Arc::new(Mutex::new(receiver)))
}

#[test]
fn keep_alive_reuses_one_connection() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let addr = bidder(move |_, mut stream| {
        while let Some(request) = read_request(&mut stream) {
            seen.lock().unwrap().push(request);
            stream.write_all(&ok_answer(ANSWER)).unwrap();
        }
    });
    run(async move {
        let pool = pool(addr, settings(4));
        let mut answer = Vec::new();
        for _ in 0..5 {
            let status = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
            assert_eq!(status, Ok(200));
            assert_eq!(answer, ANSWER);
        }
        let counters = pool.counters();
        assert_eq!(counters.connects, 1);
        assert_eq!(counters.reused, 4);
        assert_eq!((pool.open(), pool.idle()), (1, 1));
        assert_eq!(
            counters.closed_after_error + counters.closed_not_reusable,
            0
        );
    });
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 5);
    let request = String::from_utf8_lossy(&requests[0]).into_owned();
    assert!(
        request.starts_with("POST /openrtb2 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nHost: {addr}\r\n")),
        "{request}"
    );
    assert!(request.contains("\r\nContent-Type: application/json\r\n"));
    assert!(request.contains("\r\nx-openrtb-version: 2.6\r\n"));
    assert!(request.contains(&format!("\r\nContent-Length: {}\r\n", BODY.len())));
    assert!(requests[0].ends_with(BODY));
}

#[test]
fn warm_opens_connections_and_counts_failures() {
    let (accepted, accepts) = channel();
    let addr = bidder(move |idx, mut stream| {
        accepted.send(idx).unwrap();
        while let Some(_request) = read_request(&mut stream) {
            stream.write_all(&ok_answer(ANSWER)).unwrap();
        }
    });
    // A port nobody listens on: bind, learn it, close.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    run(async move {
        let pool = pool(
            addr,
            PoolSettings {
                connections_warm: 2,
                ..settings(4)
            },
        );
        pool.warm().await;
        assert_eq!((pool.open(), pool.idle()), (2, 2));
        assert_eq!(pool.counters().connects, 2);
        let mut answer = Vec::new();
        assert_eq!(
            pool.post(BODY, "2.5", within(GENEROUS), &mut answer).await,
            Ok(200)
        );
        // The request took a warmed connection: no connect on the request path.
        assert_eq!((pool.counters().connects, pool.counters().reused), (2, 1));

        let down = pool_for_dead(dead);
        down.warm().await;
        assert_eq!(down.open(), 0);
        assert_eq!(down.counters().connect_errors, 1);
        let error = down
            .post(BODY, "2.6", within(GENEROUS), &mut answer)
            .await
            .unwrap_err();
        assert!(matches!(error, BidderError::Connect { .. }), "{error:?}");
        assert_eq!(error.label(), "connect");
        assert_eq!(down.open(), 0);
    });
    for _ in 0..2 {
        accepts
            .recv_timeout(GENEROUS)
            .expect("two warm connections accepted");
    }
    assert!(accepts.try_recv().is_err(), "no third connection");
}

fn pool_for_dead(dead: SocketAddr) -> BidderPool {
    pool(
        dead,
        PoolSettings {
            connections_warm: 3,
            ..settings(4)
        },
    )
}

#[test]
fn slow_bidder_times_out_within_the_deadline_and_its_connection_is_closed() {
    let (release, released) = gate();
    let (closed, was_closed) = channel();
    let addr = bidder(move |idx, mut stream| {
        let request = read_request(&mut stream);
        if idx == 0 {
            // Answer only once the client has given up, then check it closed the connection.
            released.lock().unwrap().recv().unwrap();
            let _ = stream.write_all(&ok_answer(ANSWER));
            closed.send(client_closes(&mut stream)).unwrap();
        } else if request.is_some() {
            stream.write_all(&ok_answer(ANSWER)).unwrap();
            while let Some(_request) = read_request(&mut stream) {
                stream.write_all(&ok_answer(ANSWER)).unwrap();
            }
        }
    });
    run(async move {
        let pool = pool(addr, settings(2));
        let mut answer = b"stale bytes".to_vec();
        let deadline_after = Duration::from_millis(40);
        let started = Instant::now();
        let error = pool
            .post(BODY, "2.6", started + deadline_after, &mut answer)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(error, BidderError::Timeout { .. }), "{error:?}");
        assert_eq!(error.label(), "timeout");
        assert!(elapsed >= deadline_after, "{elapsed:?}");
        assert!(elapsed < deadline_after + DEADLINE_SLACK, "{elapsed:?}");
        assert!(answer.is_empty());
        assert_eq!((pool.open(), pool.idle()), (0, 0));
        let counters = pool.counters();
        assert_eq!((counters.timeouts, counters.closed_after_error), (1, 1));
        release.send(()).unwrap();
        assert!(
            was_closed.recv().unwrap(),
            "the timed-out connection was closed"
        );

        // The pool recovers: the next request connects afresh and its connection stays.
        let status = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
        assert_eq!(status, Ok(200));
        assert_eq!((pool.open(), pool.idle()), (1, 1));
        assert_eq!(pool.counters().connects, 2);
    });
}

#[test]
fn half_read_answer_times_out_and_is_closed() {
    let (release, released) = gate();
    let (closed, was_closed) = channel();
    let addr = bidder(move |_, mut stream| {
        read_request(&mut stream).unwrap();
        // The head promises 100 bytes; 10 arrive, then the bidder stalls.
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":\"x\"")
            .unwrap();
        released.lock().unwrap().recv().unwrap();
        let _ = stream.write_all(&[b' '; 90]);
        closed.send(client_closes(&mut stream)).unwrap();
    });
    run(async move {
        let pool = pool(addr, settings(2));
        let mut answer = Vec::new();
        let started = Instant::now();
        let deadline_after = Duration::from_millis(40);
        let error = pool
            .post(BODY, "2.6", started + deadline_after, &mut answer)
            .await
            .unwrap_err();
        assert!(matches!(error, BidderError::Timeout { .. }), "{error:?}");
        assert!(started.elapsed() < deadline_after + DEADLINE_SLACK);
        assert!(answer.is_empty(), "a half-read body is not handed out");
        assert_eq!((pool.open(), pool.idle()), (0, 0));
        release.send(()).unwrap();
        assert!(
            was_closed.recv().unwrap(),
            "the half-read connection was closed"
        );
    });
}

#[test]
fn reset_by_bidder_is_an_error_and_closes() {
    let addr = bidder(move |_, mut stream| {
        read_request(&mut stream).unwrap();
        // Linger zero: close sends RST instead of FIN.
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    });
    run(async move {
        let pool = pool(addr, settings(2));
        let mut answer = Vec::new();
        let error = pool
            .post(BODY, "2.6", within(GENEROUS), &mut answer)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                BidderError::Io {
                    kind: ErrorKind::ConnectionReset
                } | BidderError::Closed
            ),
            "{error:?}"
        );
        assert_eq!((pool.open(), pool.idle()), (0, 0));
        assert_eq!(pool.counters().closed_after_error, 1);
    });
}

/// Answers that cannot be framed or are refused, each on its own connection; every one is an
/// error and closes its connection.
#[test]
fn unusable_answers_are_errors_and_close() {
    let too_large_head = {
        // Few headers, but one of them long: the head never ends within the bound.
        let mut head = b"HTTP/1.1 200 OK\r\nX-Padding: ".to_vec();
        head.resize(9000, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        head
    };
    let mut oversized = b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n".to_vec();
    oversized.extend_from_slice(&[b'x'; 2000]);
    let cases: Vec<(Vec<u8>, BidderError)> = vec![
        (
            b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
            BidderError::BadResponse {
                reason: "malformed head",
            },
        ),
        (
            b"\x00\xff\x13garbage".to_vec(),
            BidderError::BadResponse {
                reason: "malformed head",
            },
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            BidderError::BadResponse {
                reason: "transfer-encoding",
            },
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}".to_vec(),
            BidderError::BadResponse {
                reason: "no content-length",
            },
        ),
        (
            too_large_head,
            BidderError::BadResponse {
                reason: "head too large",
            },
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
            BidderError::BadResponse {
                reason: "informational status",
            },
        ),
        (oversized, BidderError::TooLarge { bytes_max: 1000 }),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"short\":1}".to_vec(),
            BidderError::Closed,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            BidderError::BadResponse {
                reason: "content-length with transfer-encoding",
            },
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            BidderError::BadResponse {
                reason: "bad chunk size",
            },
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n".to_vec(),
            BidderError::BadResponse {
                reason: "chunk missing crlf",
            },
        ),
        // Over `response_bytes_max` (1000) decoded, refused at the size line.
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n".to_vec(),
            BidderError::TooLarge { bytes_max: 1000 },
        ),
    ];
    let answers: Vec<Vec<u8>> = cases.iter().map(|(answer, _)| answer.clone()).collect();
    let (closed, was_closed) = channel();
    let closed = Mutex::new(closed);
    let addr = bidder(move |idx, mut stream| {
        read_request(&mut stream).unwrap();
        let _ = stream.write_all(&answers[idx]);
        if idx == 7 {
            // The short body: the bidder closes before the promised length.
            return;
        }
        let verdict = client_closes(&mut stream);
        closed.lock().unwrap().send((idx, verdict)).unwrap();
    });
    run(async move {
        // One connection at a time, so connection idx matches case idx.
        let pool = pool(addr, settings(1));
        let mut answer = Vec::new();
        for (idx, (_, expected)) in cases.iter().enumerate() {
            let result = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
            assert_eq!(result.as_ref(), Err(expected), "case {idx}");
            assert!(answer.is_empty(), "case {idx}");
            assert_eq!((pool.open(), pool.idle()), (0, 0), "case {idx}");
            if idx != 7 {
                assert_eq!(was_closed.recv().unwrap(), (idx, true), "case {idx}");
            }
        }
        let counters = pool.counters();
        assert_eq!(counters.connects, cases.len() as u64);
        assert_eq!(counters.closed_after_error, cases.len() as u64);
        assert_eq!(counters.reused, 0);
    });
}

#[test]
fn connection_close_answer_is_not_reused() {
    let addr = bidder(move |_, mut stream| {
        read_request(&mut stream).unwrap();
        let mut answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n".to_vec();
        answer.extend_from_slice(format!("Content-Length: {}\r\n\r\n", ANSWER.len()).as_bytes());
        answer.extend_from_slice(ANSWER);
        stream.write_all(&answer).unwrap();
        // Keep the socket open: the client must close it because it was told to, not
        // because it saw EOF.
        client_closes(&mut stream);
    });
    run(async move {
        let pool = pool(addr, settings(2));
        let mut answer = Vec::new();
        for _ in 0..2 {
            let status = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
            assert_eq!(status, Ok(200));
            assert_eq!(answer, ANSWER);
            assert_eq!((pool.open(), pool.idle()), (0, 0));
        }
        let counters = pool.counters();
        assert_eq!((counters.connects, counters.reused), (2, 0));
        assert_eq!(counters.closed_not_reusable, 2);
    });
}

#[test]
fn no_bid_204_keeps_the_connection() {
    let addr = bidder(move |_, mut stream| {
        while let Some(_request) = read_request(&mut stream) {
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\nX-Bidder: demo\r\n\r\n")
                .unwrap();
        }
    });
    run(async move {
        let pool = pool(addr, settings(2));
        let mut answer = b"left over".to_vec();
        for _ in 0..3 {
            let status = pool.post(BODY, "2.5", within(GENEROUS), &mut answer).await;
            assert_eq!(status, Ok(204));
            assert!(answer.is_empty());
        }
        assert_eq!((pool.counters().connects, pool.counters().reused), (1, 2));
        assert_eq!((pool.open(), pool.idle()), (1, 1));
    });
}

#[test]
fn error_status_is_an_error_but_a_framed_one_keeps_the_connection() {
    let addr = bidder(move |_, mut stream| {
        while let Some(_request) = read_request(&mut stream) {
            stream
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
                .unwrap();
        }
    });
    run(async move {
        let pool = pool(addr, settings(2));
        let mut answer = Vec::new();
        for _ in 0..2 {
            let status = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
            assert_eq!(status, Err(BidderError::Status { status: 503 }));
            assert_eq!(answer, b"busy");
        }
        assert_eq!((pool.counters().connects, pool.counters().reused), (1, 1));
        assert_eq!((pool.open(), pool.idle()), (1, 1));
    });
}

#[test]
fn busy_pool_gives_up_at_the_deadline() {
    let (release, released) = gate();
    let addr = bidder(move |_, mut stream| {
        read_request(&mut stream).unwrap();
        released.lock().unwrap().recv().unwrap();
        stream.write_all(&ok_answer(ANSWER)).unwrap();
        while let Some(_request) = read_request(&mut stream) {
            stream.write_all(&ok_answer(ANSWER)).unwrap();
        }
    });
    run(async move {
        let pool = pool(addr, settings(1));
        let (mut first_answer, mut second_answer) = (Vec::new(), Vec::new());
        let first = pool.post(BODY, "2.6", within(GENEROUS), &mut first_answer);
        let second = async {
            let started = Instant::now();
            let deadline_after = Duration::from_millis(30);
            let result = pool
                .post(BODY, "2.6", started + deadline_after, &mut second_answer)
                .await;
            let elapsed = started.elapsed();
            // It waited for the busy connection, but not past its deadline.
            assert!(elapsed >= deadline_after, "{elapsed:?}");
            assert!(elapsed < deadline_after + DEADLINE_SLACK, "{elapsed:?}");
            release.send(()).unwrap();
            result
        };
        let (first, second) = futures_lite::future::zip(first, second).await;
        assert_eq!(first, Ok(200));
        assert_eq!(second, Err(BidderError::PoolExhausted));
        assert_eq!(second.unwrap_err().label(), "pool_exhausted");
        let counters = pool.counters();
        assert_eq!((counters.pool_exhausted, counters.timeouts), (1, 0));
        assert_eq!((counters.connects, pool.open(), pool.idle()), (1, 1, 1));
    });
}

#[test]
fn busy_pool_serves_a_waiting_request_on_the_freed_connection() {
    let addr = bidder(move |_, mut stream| {
        while let Some(_request) = read_request(&mut stream) {
            stream.write_all(&ok_answer(ANSWER)).unwrap();
        }
    });
    run(async move {
        let pool = pool(addr, settings(1));
        let (mut first_answer, mut second_answer) = (Vec::new(), Vec::new());
        let (first, second) = futures_lite::future::zip(
            pool.post(BODY, "2.6", within(GENEROUS), &mut first_answer),
            pool.post(BODY, "2.6", within(GENEROUS), &mut second_answer),
        )
        .await;
        assert_eq!((first, second), (Ok(200), Ok(200)));
        assert_eq!(second_answer, ANSWER);
        let counters = pool.counters();
        assert_eq!((counters.connects, counters.reused), (1, 1));
        assert_eq!((pool.open(), pool.idle()), (1, 1));
    });
}

#[test]
fn stale_idle_connection_is_replaced_transparently() {
    let (closed, was_closed) = channel();
    let closed = Mutex::new(closed);
    let addr = bidder(move |idx, mut stream| {
        if idx == 0 {
            // Serve one request, then close as a bidder's idle timeout would.
            read_request(&mut stream).unwrap();
            stream.write_all(&ok_answer(ANSWER)).unwrap();
            stream.shutdown(std::net::Shutdown::Both).unwrap();
            drop(stream);
            closed.lock().unwrap().send(()).unwrap();
        } else {
            while let Some(_request) = read_request(&mut stream) {
                stream.write_all(&ok_answer(ANSWER)).unwrap();
            }
        }
    });
    run(async move {
        let pool = pool(addr, settings(2));
        let mut answer = Vec::new();
        let status = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
        assert_eq!(status, Ok(200));
        assert_eq!(pool.idle(), 1);
        was_closed.recv().unwrap();

        let status = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
        assert_eq!(status, Ok(200));
        assert_eq!(answer, ANSWER);
        let counters = pool.counters();
        assert_eq!((counters.stale_retries, counters.connects), (1, 2));
        assert_eq!(counters.closed_after_error, 0);
        assert_eq!((pool.open(), pool.idle()), (1, 1));
    });
}

#[test]
fn answer_read_after_the_deadline_is_a_timeout() {
    // A shard that runs late (here: its thread blocked past the deadline) finds the bidder's
    // whole answer and the deadline due in the same turn. The deadline wins: the answer was
    // not read by then, so it is dropped, as a slower answer would be.
    let (got_request, request_seen) = channel();
    let (release, released) = gate();
    let addr = bidder(move |_, mut stream| {
        while let Some(_request) = read_request(&mut stream) {
            got_request.send(()).unwrap();
            released.lock().unwrap().recv().unwrap();
            stream.write_all(&ok_answer(ANSWER)).unwrap();
        }
    });
    run(async move {
        let pool = std::rc::Rc::new(pool(addr, settings(1)));
        let deadline_after = Duration::from_millis(40);
        let started = Instant::now();
        let exchange = glommio::spawn_local({
            let pool = pool.clone();
            async move {
                let mut answer = Vec::new();
                let result = pool
                    .post(BODY, "2.6", started + deadline_after, &mut answer)
                    .await;
                (result, answer)
            }
        })
        .detach();
        // Let the request go out and the pool wait for the answer.
        while request_seen.try_recv().is_err() {
            assert!(
                started.elapsed() < deadline_after,
                "the request never arrived"
            );
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        release.send(()).unwrap();
        // The shard stalls: the answer lands, then the deadline passes, before it runs again.
        thread::sleep(
            (started + deadline_after + Duration::from_millis(20))
                .saturating_duration_since(Instant::now()),
        );
        let (result, answer) = exchange.await.expect("the exchange task");
        assert!(
            matches!(result, Err(BidderError::Timeout { .. })),
            "{result:?}"
        );
        assert!(answer.is_empty());
        assert_eq!(pool.counters().timeouts, 1);
    });
}

#[test]
fn past_deadline_is_a_timeout_without_io() {
    run(async move {
        // Nothing listens here; a past deadline must not even try to connect.
        let pool = pool("127.0.0.1:9".parse().unwrap(), settings(1));
        let mut answer = Vec::new();
        let result = pool.post(BODY, "2.6", Instant::now(), &mut answer).await;
        assert_eq!(result, Err(BidderError::Timeout { elapsed_us: 0 }));
        assert_eq!(pool.counters().connects + pool.counters().connect_errors, 0);
    });
}

#[test]
fn waiters_beyond_the_bound_give_up_at_once_and_the_rest_are_served_in_turn() {
    let (release, released) = gate();
    let addr = bidder(move |idx, mut stream| {
        if idx == 0 {
            read_request(&mut stream).unwrap();
            released.lock().unwrap().recv().unwrap();
            stream.write_all(&ok_answer(ANSWER)).unwrap();
        }
        while let Some(_request) = read_request(&mut stream) {
            stream.write_all(&ok_answer(ANSWER)).unwrap();
        }
    });
    run(async move {
        // One connection: four waiters may queue for it (WAITERS_PER_CONNECTION_MAX).
        let pool = pool(addr, settings(1));
        let [mut a, mut b, mut c, mut d, mut e, mut f] = std::array::from_fn(|_| Vec::new());
        let overflow = async {
            let started = Instant::now();
            let result = pool.post(BODY, "2.6", within(GENEROUS), &mut f).await;
            assert!(started.elapsed() < DEADLINE_SLACK, "gave up at once");
            release.send(()).unwrap();
            result
        };
        let (first, (waiting, last)) = futures_lite::future::zip(
            pool.post(BODY, "2.6", within(GENEROUS), &mut a),
            futures_lite::future::zip(
                futures_lite::future::zip(
                    futures_lite::future::zip(
                        pool.post(BODY, "2.6", within(GENEROUS), &mut b),
                        pool.post(BODY, "2.6", within(GENEROUS), &mut c),
                    ),
                    futures_lite::future::zip(
                        pool.post(BODY, "2.6", within(GENEROUS), &mut d),
                        pool.post(BODY, "2.6", within(GENEROUS), &mut e),
                    ),
                ),
                overflow,
            ),
        )
        .await;
        assert_eq!(first, Ok(200));
        assert_eq!(waiting, ((Ok(200), Ok(200)), (Ok(200), Ok(200))));
        assert_eq!(last, Err(BidderError::PoolExhausted));
        let counters = pool.counters();
        assert_eq!((counters.connects, counters.reused), (1, 4));
        assert_eq!(counters.pool_exhausted, 1);
        assert_eq!((pool.open(), pool.idle()), (1, 1));
    });
}

#[test]
fn a_waiter_that_gives_up_does_not_hold_up_the_next() {
    let (release, released) = gate();
    let addr = bidder(move |idx, mut stream| {
        if idx == 0 {
            read_request(&mut stream).unwrap();
            released.lock().unwrap().recv().unwrap();
            stream.write_all(&ok_answer(ANSWER)).unwrap();
        }
        while let Some(_request) = read_request(&mut stream) {
            stream.write_all(&ok_answer(ANSWER)).unwrap();
        }
    });
    run(async move {
        let pool = pool(addr, settings(1));
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        let impatient = async {
            let result = pool
                .post(BODY, "2.6", within(Duration::from_millis(20)), &mut b)
                .await;
            release.send(()).unwrap();
            result
        };
        let (first, (second, third)) = futures_lite::future::zip(
            pool.post(BODY, "2.6", within(GENEROUS), &mut a),
            futures_lite::future::zip(impatient, pool.post(BODY, "2.6", within(GENEROUS), &mut c)),
        )
        .await;
        assert_eq!(first, Ok(200));
        assert_eq!(second, Err(BidderError::PoolExhausted));
        assert_eq!(third, Ok(200));
        assert_eq!(c, ANSWER);
        assert_eq!(pool.counters().connects, 1);
    });
}

/// `body` chunked in pieces of `chunk_bytes`, with an extension and a trailer.
fn chunked_answer(body: &[u8], chunk_bytes: usize) -> Vec<u8> {
    let mut answer =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for chunk in body.chunks(chunk_bytes) {
        answer.extend_from_slice(format!("{:X};n=1\r\n", chunk.len()).as_bytes());
        answer.extend_from_slice(chunk);
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
    answer
}

#[test]
fn chunked_answer_is_decoded_and_keeps_the_connection() {
    // A body several times the connection's 8 KiB read buffer, in odd-sized chunks, written
    // in pieces of 1000 bytes with a flush between: chunk boundaries fall anywhere in a read.
    let large: Vec<u8> = (0..40_000).map(|i| b'a' + (i % 26) as u8).collect();
    let answers = [chunked_answer(ANSWER, 5), chunked_answer(&large, 777)];
    let addr = bidder(move |_, mut stream| {
        let mut turn = 0;
        while let Some(_request) = read_request(&mut stream) {
            for piece in answers[turn % 2].chunks(1000) {
                stream.write_all(piece).unwrap();
                stream.flush().unwrap();
            }
            turn += 1;
        }
    });
    run(async move {
        let pool = pool(
            addr,
            PoolSettings {
                response_bytes_max: 64 * 1024,
                ..settings(2)
            },
        );
        let mut answer = Vec::new();
        for turn in 0..4 {
            let status = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
            assert_eq!(status, Ok(200), "turn {turn}");
            let expected: &[u8] = if turn % 2 == 0 { ANSWER } else { &large };
            assert!(answer == expected, "turn {turn}: {} bytes", answer.len());
        }
        let counters = pool.counters();
        assert_eq!((counters.connects, counters.reused), (1, 3));
        assert_eq!(counters.chunked_responses, 4);
        assert_eq!((pool.open(), pool.idle()), (1, 1));
    });
}

#[test]
fn chunked_answer_with_bytes_after_it_is_not_reused() {
    let addr = bidder(move |_, mut stream| {
        while let Some(_request) = read_request(&mut stream) {
            let mut answer = chunked_answer(ANSWER, 8);
            answer.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            stream.write_all(&answer).unwrap();
        }
    });
    run(async move {
        let pool = pool(addr, settings(2));
        let mut answer = Vec::new();
        let status = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
        assert_eq!(status, Ok(200));
        assert_eq!(answer, ANSWER);
        assert_eq!((pool.open(), pool.idle()), (0, 0));
        assert_eq!(pool.counters().closed_not_reusable, 1);
    });
}

#[test]
fn trickled_chunked_answer_times_out_at_the_deadline() {
    let (release, released) = gate();
    let addr = bidder(move |_, mut stream| {
        read_request(&mut stream).unwrap();
        let answer = chunked_answer(ANSWER, 4);
        // Head and the first chunks at once, the rest only after the client gave up.
        stream.write_all(&answer[..answer.len() / 2]).unwrap();
        released.lock().unwrap().recv().unwrap();
        let _ = stream.write_all(&answer[answer.len() / 2..]);
    });
    run(async move {
        let pool = pool(addr, settings(1));
        let mut answer = Vec::new();
        let deadline_after = Duration::from_millis(40);
        let started = Instant::now();
        let error = pool
            .post(BODY, "2.6", started + deadline_after, &mut answer)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(error, BidderError::Timeout { .. }), "{error:?}");
        assert!(elapsed < deadline_after + DEADLINE_SLACK, "{elapsed:?}");
        assert!(answer.is_empty());
        assert_eq!((pool.open(), pool.counters().closed_after_error), (0, 1));
        release.send(()).unwrap();
    });
}

#[test]
fn chunked_error_status_is_an_error_and_closes() {
    let addr = bidder(move |_, mut stream| {
        read_request(&mut stream).unwrap();
        let answer = chunked_answer(b"busy", 4);
        let answer = String::from_utf8(answer)
            .unwrap()
            .replace("200 OK", "503 Service Unavailable");
        stream.write_all(answer.as_bytes()).unwrap();
        client_closes(&mut stream);
    });
    run(async move {
        let pool = pool(addr, settings(1));
        let mut answer = Vec::new();
        let status = pool.post(BODY, "2.6", within(GENEROUS), &mut answer).await;
        assert_eq!(status, Err(BidderError::Status { status: 503 }));
        assert_eq!((pool.open(), pool.counters().closed_not_reusable), (0, 1));
    });
}
