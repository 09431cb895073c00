//! A small HTTP/1.1 server for the load generator's tests: std threads on loopback, port 0,
//! one thread per connection, keep-alive, a fixed `{}` answer. It can add a delay to every
//! request and stall the whole server once, which is what the generator must make visible. It
//! stays here rather than in testkit: it stands in for a server under load, which only the
//! load generator's tests need.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Request heads larger than this close the connection: the generator sends small ones.
const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Request lines the server keeps for a test to read; later ones are not kept.
pub const REQUEST_LINES_KEPT_MAX: usize = 100_000;

#[derive(Clone, Copy, Debug, Default)]
pub struct Behaviour {
    /// Added to every response.
    pub delay: Duration,
    /// Stall every connection for this long once, when the server reaches request number
    /// `stall_at` (counted across connections from 1).
    pub stall: Option<(u64, Duration)>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
    /// The request lines received (`GET /path HTTP/1.1`), the first
    /// [`REQUEST_LINES_KEPT_MAX`] of them.
    pub request_lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    pub fn start(behaviour: Behaviour) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let request_lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        // Readers answer requests; the stall takes the write side, so every connection waits.
        let gate = Arc::new(RwLock::new(()));
        {
            let requests = requests.clone();
            let request_lines = request_lines.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let requests = requests.clone();
                    let request_lines = request_lines.clone();
                    let gate = gate.clone();
                    std::thread::spawn(move || {
                        serve(stream, behaviour, &requests, &request_lines, &gate)
                    });
                }
            });
        }
        TestServer {
            addr,
            requests,
            request_lines,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/openrtb2/auction", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    mut stream: TcpStream,
    behaviour: Behaviour,
    requests: &AtomicU64,
    request_lines: &Mutex<Vec<String>>,
    gate: &RwLock<()>,
) {
    let _ = stream.set_nodelay(true);
    let mut buffer = vec![0u8; REQUEST_HEAD_BYTES_MAX];
    let mut filled = 0;
    loop {
        // Read one request head.
        let head_len = loop {
            if let Some(idx) = buffer[..filled]
                .windows(4)
                .position(|window| window == b"\r\n\r\n")
            {
                break idx + 4;
            }
            if filled == buffer.len() {
                return;
            }
            match stream.read(&mut buffer[filled..]) {
                Ok(0) | Err(_) => return,
                Ok(n) => filled += n,
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_len]);
        if let Some(line) = head.lines().next() {
            let mut lines = request_lines.lock().unwrap();
            if lines.len() < REQUEST_LINES_KEPT_MAX {
                lines.push(line.to_string());
            }
        }
        let head = head.to_ascii_lowercase();
        let content_length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        // Skip the body.
        let mut remaining = content_length;
        let buffered = (filled - head_len).min(remaining);
        remaining -= buffered;
        buffer.copy_within(head_len + buffered..filled, 0);
        filled -= head_len + buffered;
        while remaining > 0 {
            let chunk = remaining.min(buffer.len());
            match stream.read(&mut buffer[..chunk]) {
                Ok(0) | Err(_) => return,
                Ok(n) => remaining -= n,
            }
        }
        let request_number = requests.fetch_add(1, Ordering::Relaxed) + 1;
        match behaviour.stall {
            Some((stall_at, stall)) if request_number == stall_at => {
                let _held = gate.write().unwrap();
                std::thread::sleep(stall);
            }
            _ => drop(gate.read().unwrap()),
        }
        if !behaviour.delay.is_zero() {
            std::thread::sleep(behaviour.delay);
        }
        let response =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if stream.write_all(response).is_err() {
            return;
        }
    }
}
