//! `adshard-replay` sends every logged request, with its body byte for byte, at the logged
//! pace scaled by `--speed` (or at `--rate` for untimestamped lines), survives a server that
//! closes keep-alive connections, and refuses any host that is not loopback. The server is a
//! small std-thread HTTP/1.1 server on an ephemeral loopback port that records what it got.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adshard_tools::replay::{parse_log, parse_target, replay, schedule, Pace, ReplayOptions};

/// What the test server received: (method, path, body) per request.
type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// Every this many requests on a connection the server answers with `Connection: close`, so
/// the replayer's reconnect path runs in every test.
const CLOSE_EVERY: usize = 7;

/// Starts the recording server; returns its port and what it saw. Requests whose body contains
/// `"nobid"` get 204, the rest 200 with a small JSON body.
fn start_server() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local addr").port();
    let seen: Seen = Arc::default();
    let seen_by_server = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let seen = Arc::clone(&seen_by_server);
            std::thread::spawn(move || serve_connection(stream, &seen));
        }
    });
    (port, seen)
}

fn serve_connection(mut stream: TcpStream, seen: &Seen) {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 8192];
    let mut n_requests = 0;
    loop {
        // Parse one request head from what has arrived, reading more until it is complete.
        let (head_len, method, path, content_length) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(head_len)) = request.parse(&buffer) {
                let content_length = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |h| {
                        std::str::from_utf8(h.value)
                            .unwrap()
                            .parse::<usize>()
                            .unwrap()
                    });
                break (
                    head_len,
                    request.method.unwrap().to_owned(),
                    request.path.unwrap().to_owned(),
                    content_length,
                );
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        while buffer.len() < head_len + content_length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buffer[head_len..head_len + content_length].to_vec();
        buffer.drain(..head_len + content_length);
        n_requests += 1;
        let close = n_requests % CLOSE_EVERY == 0;
        let no_bid = body.windows(7).any(|w| w == b"\"nobid\"");
        seen.lock().unwrap().push((method, path, body));
        let connection = if close { "Connection: close\r\n" } else { "" };
        let response = if no_bid {
            format!("HTTP/1.1 204 No Content\r\n{connection}\r\n")
        } else {
            format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{connection}\r\n{{}}")
        };
        if stream.write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// 200 lines with timestamps 5 ms apart (a 0.995 s capture), one in ten a no-bid, plus a GET.
fn timestamped_log() -> String {
    let mut log = String::new();
    for idx in 0..200_u64 {
        // Epoch-based timestamps: only differences matter.
        let ts_us = 1_700_000_000_000_000 + idx * 5_000;
        let kind = if idx % 10 == 0 { "nobid" } else { "bid" };
        log.push_str(&format!(
            "{{\"ts_us\":{ts_us},\"body\":{{\"id\":\"r{idx}\",\"ext\":\"{kind}\",\"imp\":[{{\"id\":\"1\",\"bidfloor\":0.50}}]}}}}\n"
        ));
    }
    log
}

#[test]
fn replay_at_double_speed_takes_half_the_capture_and_sends_every_body() {
    let (port, seen) = start_server();
    let log = timestamped_log();
    let entries = parse_log(log.as_bytes()).expect("log parses");
    assert_eq!(entries.len(), 200);
    let target = parse_target(&format!("http://127.0.0.1:{port}")).expect("loopback URL");
    let pace = Pace {
        speed: 2.0,
        rate: None,
    };
    let schedule = schedule(&entries, pace, 1).expect("schedule");
    // 199 gaps of 5 ms at double speed.
    assert_eq!(schedule.last().unwrap().at_us, 497_500);

    let started = Instant::now();
    let report = replay(
        &target,
        &entries,
        &schedule,
        &ReplayOptions {
            connections: 4,
            timeout: Duration::from_secs(5),
        },
    )
    .expect("replay runs");
    let wall = started.elapsed();
    // The capture spans ~1 s; at speed 2 the replay takes ~0.5 s. Generous bounds: the point
    // is that the schedule is followed, neither sent at once nor at captured speed.
    assert!(
        wall >= Duration::from_millis(400) && wall <= Duration::from_millis(1500),
        "replay took {wall:?}\n{}",
        report.render()
    );
    assert_eq!(report.sent, 200, "{}", report.render());
    assert_eq!(report.errors, 0, "{}", report.render());
    assert_eq!(report.status_counts.get(&200), Some(&180));
    assert_eq!(report.status_counts.get(&204), Some(&20));
    assert_eq!(report.latency_us.len(), 200);

    // Every logged body arrived, byte for byte (the float keeps its trailing zero, which a
    // re-serialization would drop), each exactly once, on the default path.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 200);
    let mut bodies: Vec<Vec<u8>> = seen
        .iter()
        .map(|(method, path, body)| {
            assert_eq!(method, "POST");
            assert_eq!(path, "/openrtb2/auction");
            body.clone()
        })
        .collect();
    bodies.sort();
    let mut expected: Vec<Vec<u8>> = entries
        .iter()
        .map(|entry| entry.body.clone().unwrap())
        .collect();
    expected.sort();
    assert_eq!(bodies, expected);
    assert!(String::from_utf8_lossy(&expected[0]).contains("\"bidfloor\":0.50"));
}

#[test]
fn replay_binary_paces_untimestamped_lines_by_rate_and_honours_paths() {
    let (port, seen) = start_server();
    let dir = std::env::temp_dir().join(format!("adshard-replay-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("traffic.jsonl");
    // Bare OpenRTB requests (the `adshard-gen traffic` format), then an envelope with a GET.
    let mut log = String::new();
    for idx in 0..49 {
        log.push_str(&format!(
            "{{\"id\":\"g{idx}\",\"imp\":[{{\"id\":\"1\"}}]}}\n"
        ));
    }
    log.push_str("{\"path\":\"/healthz\"}\n");
    std::fs::write(&file, log).unwrap();

    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_adshard-replay"))
        .args(["--url", &format!("http://localhost:{port}")])
        .args(["--rate", "500", "--connections", "2", "--loop", "2"])
        .arg(&file)
        .output()
        .expect("run adshard-replay");
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // 100 requests at 500/s: ~0.2 s of schedule.
    assert!(
        wall >= Duration::from_millis(150) && wall <= Duration::from_millis(3000),
        "took {wall:?}\n{stdout}"
    );
    assert!(stdout.contains("sent        100 "), "{stdout}");
    assert!(stdout.contains("statuses    200: 100"), "{stdout}");
    assert!(stdout.contains("errors      0"), "{stdout}");
    assert!(stdout.contains("latency     p50 "), "{stdout}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 100);
    let gets: Vec<_> = seen.iter().filter(|(method, ..)| method == "GET").collect();
    assert_eq!(gets.len(), 2);
    assert!(gets
        .iter()
        .all(|(_, path, body)| path == "/healthz" && body.is_empty()));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn replay_refuses_hosts_that_are_not_loopback() {
    for url in [
        "http://10.1.2.3:8080",
        "http://192.168.0.1",
        "http://example.com:8080",
        "http://[2001:db8::1]:8080",
        "http://0.0.0.0:8080",
    ] {
        let error = parse_target(url).expect_err(url).to_string();
        assert!(error.contains("loopback"), "{url}: {error}");
    }
    for url in [
        "http://127.0.0.1:8080",
        "http://127.9.9.9:1/bid",
        "http://[::1]:8080",
    ] {
        parse_target(url).unwrap_or_else(|error| panic!("{url}: {error}"));
    }
    assert_eq!(
        parse_target("http://127.9.9.9:1/bid").unwrap().default_path,
        "/bid"
    );
    assert!(parse_target("https://127.0.0.1:8443").is_err());

    // The binary refuses before reading the log (which does not exist) or connecting.
    let output = Command::new(env!("CARGO_BIN_EXE_adshard-replay"))
        .args(["--url", "http://10.1.2.3:8080", "/nonexistent.jsonl"])
        .output()
        .expect("run adshard-replay");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to replay against"), "{stderr}");
    assert!(output.stdout.is_empty());
}
