//! `adshard-replay`: sends a captured request log to a server on loopback at the pace it was
//! captured, or scaled, so that profiles are taken under real traffic shapes (bursts, lulls,
//! the real mix of request sizes) instead of the flat rate of `adshard-bench`.
//!
//! The log is JSON lines (format in `tools/README.md`): an envelope
//! `{"ts_us": .., "path": .., "body": {..}}` or a bare OpenRTB request as `adshard-gen traffic`
//! writes it. Each line gets an intended send time; connection threads take the next line when
//! they are free, wait for its time and send it. Latency is measured from the intended time,
//! not from the actual send, so a stall in the server (or in the replayer) shows as latency
//! and lag instead of silently slowing the replay down (no coordinated omission).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use hdrhistogram::Histogram;
use serde_json::value::RawValue;

use crate::replay_http::Connection;

/// Path of a line that names none and of a URL without a path: where bid requests go.
pub const PATH_DEFAULT: &str = "/openrtb2/auction";
/// Connections (one thread each). More than the server's shards times a few only measures the
/// replayer's own scheduling.
pub const CONNECTIONS_MAX: usize = 1024;
/// Requests in one replay (lines times loops); the schedule is held in memory, 16 bytes each.
pub const SCHEDULE_LEN_MAX: usize = 100_000_000;
/// Error messages kept for the report; the rest are only counted.
pub const ERROR_SAMPLES_MAX: usize = 5;
/// Highest latency the histogram tracks; slower responses are recorded as this value. The
/// per-connection timeout is far below it.
const LATENCY_US_MAX: u64 = 600_000_000;
/// Significant digits of the latency histogram: 0.1% resolution at every magnitude.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// One logged request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Capture time in microseconds (since capture start or the Unix epoch: only differences
    /// matter). `None`: the line is paced by `--rate`.
    pub ts_us: Option<u64>,
    pub path: String,
    /// The body, byte for byte as logged. `None`: a GET (tracking pixels, health checks).
    pub body: Option<Vec<u8>>,
}

/// Reads a log: one JSON object per line, blank lines skipped. Errors name the line.
pub fn parse_log(reader: impl BufRead) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (line_idx, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", line_idx + 1))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let entry = parse_line(line).with_context(|| format!("line {}", line_idx + 1))?;
        entries.push(entry);
    }
    Ok(entries)
}

fn parse_line(line: &str) -> anyhow::Result<Entry> {
    // Raw values keep the body's bytes as captured: re-serializing would reorder nothing but
    // could change number formatting, and a replay must send what the server once received.
    let fields: HashMap<String, Box<RawValue>> =
        serde_json::from_str(line).context("not a JSON object")?;
    let is_envelope = ["ts_us", "path", "body"]
        .iter()
        .any(|key| fields.contains_key(*key));
    if !is_envelope {
        // A bare OpenRTB request (no top-level ts_us, path or body in the spec): the
        // `adshard-gen traffic` format.
        return Ok(Entry {
            ts_us: None,
            path: PATH_DEFAULT.to_owned(),
            body: Some(line.as_bytes().to_vec()),
        });
    }
    let ts_us = match fields.get("ts_us") {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => Some(
            serde_json::from_str::<u64>(raw.get())
                .context("ts_us must be a non-negative integer (microseconds)")?,
        ),
    };
    let path = match fields.get("path") {
        None => PATH_DEFAULT.to_owned(),
        Some(raw) => {
            let path: String = serde_json::from_str(raw.get()).context("path must be a string")?;
            ensure!(
                path.starts_with('/') && !path.bytes().any(|b| b.is_ascii_whitespace()),
                "path must start with / and contain no whitespace: {path:?}"
            );
            path
        }
    };
    let body = match fields.get("body") {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        // A string body is sent as its text, so a log can carry bodies that are not JSON
        // (malformed requests that once produced a 400).
        Some(raw) if raw.get().starts_with('"') => Some(
            serde_json::from_str::<String>(raw.get())
                .context("body string")?
                .into_bytes(),
        ),
        Some(raw) => Some(raw.get().as_bytes().to_vec()),
    };
    Ok(Entry { ts_us, path, body })
}

/// How log lines turn into send times.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Timestamps are divided by this: 2.0 replays twice as fast as captured.
    pub speed: f64,
    /// Lines per second for lines without a timestamp.
    pub rate: Option<f64>,
}

/// One request of the replay: when to send it (from the replay's start) and which entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheduled {
    pub at_us: u64,
    pub entry_idx: usize,
}

/// The intended send times of `loops` passes over `entries`. A timestamped line is due at
/// (its ts - the first ts) / speed; a line without one is due 1/rate after the line before.
/// Times never go backwards: a line logged out of order (captures merged from several
/// shards) goes right after its predecessor. Each pass starts one mean gap after the last.
pub fn schedule(entries: &[Entry], pace: Pace, loops: u32) -> anyhow::Result<Vec<Scheduled>> {
    ensure!(
        pace.speed.is_finite() && pace.speed > 0.0,
        "--speed must be a positive number"
    );
    if let Some(rate) = pace.rate {
        ensure!(
            rate.is_finite() && rate > 0.0,
            "--rate must be a positive number"
        );
    }
    ensure!(loops >= 1, "--loop must be at least 1");
    ensure!(!entries.is_empty(), "the log has no requests");
    let total = entries
        .len()
        .checked_mul(loops as usize)
        .filter(|total| *total <= SCHEDULE_LEN_MAX)
        .with_context(|| format!("lines times --loop is over {SCHEDULE_LEN_MAX}"))?;

    let ts_first = entries.iter().find_map(|entry| entry.ts_us);
    let mut offsets_us = Vec::with_capacity(entries.len());
    let mut previous_us = 0.0_f64;
    for (entry_idx, entry) in entries.iter().enumerate() {
        let own_us = match (entry.ts_us, ts_first) {
            (Some(ts_us), Some(ts_first)) => ts_us.saturating_sub(ts_first) as f64 / pace.speed,
            _ => {
                let Some(rate) = pace.rate else {
                    bail!(
                        "line {} of the log has no ts_us; pass --rate R to send such lines R \
                         per second",
                        entry_idx + 1
                    )
                };
                if entry_idx == 0 {
                    0.0
                } else {
                    previous_us + 1e6 / rate
                }
            }
        };
        let at_us = own_us.max(previous_us);
        offsets_us.push(at_us);
        previous_us = at_us;
    }
    let last_us = previous_us;
    let period_us = if entries.len() > 1 {
        last_us + last_us / (entries.len() - 1) as f64
    } else {
        pace.rate.map_or(0.0, |rate| 1e6 / rate)
    };

    let mut scheduled = Vec::with_capacity(total);
    for loop_idx in 0..loops {
        let base_us = period_us * f64::from(loop_idx);
        for (entry_idx, offset_us) in offsets_us.iter().enumerate() {
            scheduled.push(Scheduled {
                at_us: (base_us + offset_us).round() as u64,
                entry_idx,
            });
        }
    }
    debug_assert!(scheduled.windows(2).all(|w| w[0].at_us <= w[1].at_us));
    Ok(scheduled)
}

/// Where the replay goes.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// The Host header: the authority as given in the URL.
    pub host_header: String,
    /// Path of lines that name none: the URL's path, or [`PATH_DEFAULT`].
    pub default_path: String,
}

/// Parses `http://HOST[:PORT][/PATH]` and refuses any host that is not loopback: a replay
/// sends a production-shaped load, and pointing it at a shared or production server by a
/// typo must not be possible.
pub fn parse_target(url: &str) -> anyhow::Result<Target> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--url must start with http:// (the replayer speaks plain HTTP/1.1 to loopback)");
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .context("--url: unterminated [ in the host")?;
        match after.strip_prefix(':') {
            Some(port) => (host, port),
            None if after.is_empty() => (host, "80"),
            None => bail!("--url: unexpected {after:?} after the host"),
        }
    } else {
        authority.rsplit_once(':').unwrap_or((authority, "80"))
    };
    ensure!(!host.is_empty(), "--url has no host");
    let port: u16 = port
        .parse()
        .with_context(|| format!("--url: bad port {port:?}"))?;
    let refuse = || {
        anyhow::anyhow!(
            "refusing to replay against {host:?}: adshard-replay only sends to loopback \
             (127.0.0.0/8, ::1 or localhost), so that a profiling run cannot load a shared or \
             production server by mistake"
        )
    };
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => ip,
        Ok(_) => return Err(refuse()),
        Err(_) if host.eq_ignore_ascii_case("localhost") => (host, port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host}"))?
            .map(|addr| addr.ip())
            .find(IpAddr::is_loopback)
            .ok_or_else(refuse)?,
        // Other names are not resolved at all: what they point to can change under us.
        Err(_) => return Err(refuse()),
    };
    let default_path = if path.is_empty() || path == "/" {
        PATH_DEFAULT.to_owned()
    } else {
        path.to_owned()
    };
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host_header: authority.to_owned(),
        default_path,
    })
}

#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    pub connections: usize,
    /// Connect, write and read timeout of each exchange.
    pub timeout: Duration,
}

/// What a replay did.
#[derive(Debug)]
pub struct ReplayReport {
    pub target: SocketAddr,
    pub connections: usize,
    /// Requests written to a socket.
    pub sent: u64,
    /// Responses by status code.
    pub status_counts: BTreeMap<u16, u64>,
    /// Exchanges that got no complete response (connect, write, read, protocol, timeout).
    pub errors: u64,
    pub error_samples: Vec<String>,
    /// Longest delay between a request's intended and actual send: how far behind schedule
    /// the replay fell (the server, or this tool, could not keep up).
    pub lag_max: Duration,
    /// Microseconds from each answered request's intended send time to its complete response.
    pub latency_us: Histogram<u64>,
    /// From the replay's start to the last response.
    pub elapsed: Duration,
    /// Intended time of the last request.
    pub schedule_span: Duration,
}

impl ReplayReport {
    /// The human-readable summary `adshard-replay` prints.
    pub fn render(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let seconds = self.elapsed.as_secs_f64();
        let statuses = if self.status_counts.is_empty() {
            "none".to_owned()
        } else {
            self.status_counts
                .iter()
                .map(|(status, count)| format!("{status}: {count}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let mut out = format!(
            "target      {} over {} connection(s)\n\
             sent        {} in {:.3} s ({:.1}/s); schedule spans {:.3} s\n\
             statuses    {}\n\
             errors      {}\n",
            self.target,
            self.connections,
            self.sent,
            seconds,
            if seconds > 0.0 {
                self.sent as f64 / seconds
            } else {
                0.0
            },
            self.schedule_span.as_secs_f64(),
            statuses,
            self.errors,
        );
        for sample in &self.error_samples {
            out.push_str(&format!("  error     {sample}\n"));
        }
        out.push_str(&format!(
            "lag max     {:.3} ms behind schedule\n",
            self.lag_max.as_secs_f64() * 1000.0
        ));
        let h = &self.latency_us;
        if h.is_empty() {
            out.push_str("latency     no responses\n");
        } else {
            out.push_str(&format!(
                "latency     p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms \
                 (from each request's scheduled time)\n",
                ms(h.value_at_quantile(0.50)),
                ms(h.value_at_quantile(0.90)),
                ms(h.value_at_quantile(0.99)),
                ms(h.value_at_quantile(0.999)),
                ms(h.max()),
            ));
        }
        out
    }
}

/// Per-thread tallies, merged when the threads end (no shared counters while sending).
struct Tally {
    sent: u64,
    status_counts: BTreeMap<u16, u64>,
    errors: u64,
    error_samples: Vec<String>,
    lag_max: Duration,
    latency_us: Histogram<u64>,
    last_done: Option<Instant>,
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// The request bytes of one entry, built once before the replay so that the sending threads
/// only copy bytes to sockets.
fn request_bytes(target: &Target, entry: &Entry) -> Vec<u8> {
    let path = if entry.path == PATH_DEFAULT {
        &target.default_path
    } else {
        &entry.path
    };
    match &entry.body {
        Some(body) => {
            let mut bytes = format!(
                "POST {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: adshard-replay\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                target.host_header,
                body.len()
            )
            .into_bytes();
            bytes.extend_from_slice(body);
            bytes
        }
        None => format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: adshard-replay\r\n\r\n",
            target.host_header
        )
        .into_bytes(),
    }
}

/// Replays `schedule` over `options.connections` keep-alive connections and reports. Fails
/// only if the connections cannot be opened; errors during the replay are counted.
pub fn replay(
    target: &Target,
    entries: &[Entry],
    schedule: &[Scheduled],
    options: &ReplayOptions,
) -> anyhow::Result<ReplayReport> {
    ensure!(
        (1..=CONNECTIONS_MAX).contains(&options.connections),
        "--connections must be 1..={CONNECTIONS_MAX}"
    );
    let requests: Vec<Vec<u8>> = entries
        .iter()
        .map(|entry| request_bytes(target, entry))
        .collect();
    let mut connections = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        connections.push(
            Connection::connect(target.addr, options.timeout)
                .with_context(|| format!("cannot connect to {}", target.addr))?,
        );
    }

    let next = AtomicUsize::new(0);
    // Every thread starts from the same instant, taken after all are running, so thread
    // start-up does not count as lag.
    let ready = Barrier::new(options.connections + 1);
    let start_cell = OnceLock::<Instant>::new();
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = connections
            .into_iter()
            .map(|mut connection| {
                let (next, ready, start_cell, requests) = (&next, &ready, &start_cell, &requests);
                scope.spawn(move || {
                    ready.wait();
                    let start = *start_cell.get().expect("set before the barrier");
                    let mut tally = Tally {
                        sent: 0,
                        status_counts: BTreeMap::new(),
                        errors: 0,
                        error_samples: Vec::new(),
                        lag_max: Duration::ZERO,
                        latency_us: latency_histogram(),
                        last_done: None,
                    };
                    loop {
                        // Relaxed is enough: the counter only hands out distinct indexes.
                        let idx = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = schedule.get(idx) else { break };
                        let due = start + Duration::from_micros(item.at_us);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        let sent_at = Instant::now();
                        tally.lag_max = tally.lag_max.max(sent_at.saturating_duration_since(due));
                        tally.sent += 1;
                        let result = connection.exchange(&requests[item.entry_idx]);
                        let done = Instant::now();
                        tally.last_done = Some(done);
                        match result {
                            Ok(status) => {
                                *tally.status_counts.entry(status).or_default() += 1;
                                let latency_us = done.saturating_duration_since(due).as_micros();
                                tally.latency_us.saturating_record(
                                    u64::try_from(latency_us).unwrap_or(u64::MAX),
                                );
                            }
                            Err(error) => {
                                tally.errors += 1;
                                if tally.error_samples.len() < ERROR_SAMPLES_MAX {
                                    tally.error_samples.push(error.message);
                                }
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        // Set before the barrier releases the threads: the barrier orders it before their reads.
        start_cell
            .set(Instant::now())
            .expect("the start is set once");
        ready.wait();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a replay thread panicked"))
            .collect()
    });
    let start = *start_cell.get().expect("set above");

    let mut report = ReplayReport {
        target: target.addr,
        connections: options.connections,
        sent: 0,
        status_counts: BTreeMap::new(),
        errors: 0,
        error_samples: Vec::new(),
        lag_max: Duration::ZERO,
        latency_us: latency_histogram(),
        elapsed: Duration::ZERO,
        schedule_span: Duration::from_micros(schedule.last().map_or(0, |item| item.at_us)),
    };
    for tally in tallies {
        report.sent += tally.sent;
        for (status, count) in tally.status_counts {
            *report.status_counts.entry(status).or_default() += count;
        }
        report.errors += tally.errors;
        for sample in tally.error_samples {
            if report.error_samples.len() < ERROR_SAMPLES_MAX {
                report.error_samples.push(sample);
            }
        }
        report.lag_max = report.lag_max.max(tally.lag_max);
        report
            .latency_us
            .add(&tally.latency_us)
            .expect("histograms with the same bounds merge");
        if let Some(done) = tally.last_done {
            report.elapsed = report.elapsed.max(done.saturating_duration_since(start));
        }
    }
    debug_assert_eq!(report.sent, schedule.len() as u64);
    Ok(report)
}
