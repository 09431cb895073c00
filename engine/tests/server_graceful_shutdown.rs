//! SIGTERM and SIGINT stop the real binary gracefully: it stops accepting, finishes the request
//! in flight, and exits 0. SIGHUP (reload, once it exists) is logged and ignored.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::io::BufRead;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adshard_testkit::server::{Client, BANNER_REQUEST};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the server has logged so far (its stderr), gathered by a thread as it comes.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<String>>);

impl Log {
    fn gather(mut child: Child) -> (Child, Log) {
        let log = Log::default();
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut text = lines.0.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        (child, log)
    }

    /// Waits up to 10 s for a line containing every one of `parts`.
    fn wait_for(&self, parts: &[&str]) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self
                .0
                .lock()
                .unwrap()
                .lines()
                .any(|line| parts.iter().all(|part| line.contains(part)))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

fn spawn_server() -> (Child, std::net::SocketAddr) {
    let (child, addr, _) = spawn_server_logged();
    (child, addr)
}

fn spawn_server_logged() -> (Child, std::net::SocketAddr, Log) {
    let port = free_port();
    let admin = free_port();
    // Each server its own event-log directory: the tests run at once, and a directory has
    // one writer.
    let events_dir = std::env::temp_dir().join(format!("adshard-shutdown-events-{port}"));
    let child = Command::new(env!("CARGO_BIN_EXE_adshard"))
        .args(["serve", "--shards", "1", "--events-dir"])
        .arg(&events_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--admin-listen")
        .arg(format!("127.0.0.1:{admin}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn adshard");
    let (child, log) = Log::gather(child);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    // Ready when a shard answers, not merely when the port accepts connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut reply = [0u8; 12];
            if stream
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .is_ok()
                && stream.read_exact(&mut reply).is_ok()
                && reply.starts_with(b"HTTP/1.1 200")
            {
                break;
            }
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, addr, log)
}

fn signal(child: &Child, signal: i32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    let (mut child, addr) = spawn_server();
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/healthz").status, 200);
    // Half a request is in flight when the signal arrives.
    let body = BANNER_REQUEST.as_bytes();
    client.send(
        format!(
            "POST /openrtb2/auction HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    client.send(&body[..10]);
    signal(&child, 15);
    std::thread::sleep(Duration::from_millis(100));
    // New connections are refused once the listener is closed.
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "stopped accepting"
    );
    client.send(&body[10..]);
    let response = client.read_response().expect("in-flight request answered");
    // The demo campaigns may bid (200) or not (204); either is a complete answer.
    assert!(
        matches!(response.status, 200 | 204),
        "status {}",
        response.status
    );
    assert_eq!(response.header("connection"), Some("close"));
    assert!(wait_exit(&mut child).success());
}

#[test]
fn sigint_with_idle_connections_exits_zero() {
    let (mut child, addr) = spawn_server();
    let mut idle = Client::connect(addr);
    assert_eq!(idle.get("/healthz").status, 200);
    signal(&child, 2);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn sighup_is_ignored_and_logged() {
    let (mut child, addr, log) = spawn_server_logged();
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/healthz").status, 200);
    signal(&child, 1);
    assert!(
        log.wait_for(&["SIGHUP", "ignored"]),
        "the log says SIGHUP is ignored (server: {:?}):\n{}",
        child.try_wait().unwrap(),
        log.text()
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running after SIGHUP"
    );
    // The connection open before the signal and a new one both keep being served.
    assert_eq!(client.get("/healthz").status, 200);
    assert_eq!(Client::connect(addr).get("/readyz").status, 200);
    signal(&child, 15);
    let status = wait_exit(&mut child);
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}
