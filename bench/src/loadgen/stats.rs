//! What one generator thread observed for one target, merged across threads at the end of a
//! run. Each thread owns its own [`TargetStats`] (no sharing on the send path); only the
//! small [`Progress`] counters are atomics, read once a second by the thread that prints
//! progress.

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// Latencies above this are recorded as this (microseconds): a minute is far past any
/// timeout the generator allows, so nothing real is clipped.
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// Three significant digits: 0.1% resolution at every scale, as wrk2 and glommio's benches use.
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;
/// Status codes are counted in a flat table indexed by code; anything else is "other".
pub const STATUS_CODE_MAX: usize = 599;

/// Why an exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TCP connection could not be opened.
    Connect,
    /// Reset, broken pipe or the server closing the connection mid-response.
    Io,
    /// The response was not HTTP/1.1 we understand (including chunked bodies).
    Parse,
    /// No complete response within `--timeout`.
    Timeout,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErrorCounts {
    pub connect: u64,
    pub io: u64,
    pub parse: u64,
    pub timeout: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.connect + self.io + self.parse + self.timeout
    }
}

/// One target's results from one thread (or, after [`TargetStats::merge`], from all).
#[derive(Clone, Debug)]
pub struct TargetStats {
    /// Latency from the intended send time to the end of the response, microseconds.
    pub latency_us: Histogram<u64>,
    /// Service time from the actual send to the end of the response, microseconds: what a
    /// closed-loop tool such as wrk reports. Latency minus service time is time spent
    /// waiting for a busy connection or a late generator.
    pub service_us: Histogram<u64>,
    /// Requests written to a connection.
    pub sent: u64,
    /// Complete responses of any status.
    pub responses: u64,
    /// Responses by status code; index 0 counts codes outside 100..=599.
    pub status_counts: Vec<u64>,
    pub errors: ErrorCounts,
    /// Requests due but not sent within the lateness bound: the generator (or a stalled
    /// connection) fell too far behind. Counted, never silently dropped.
    pub not_sent_on_time: u64,
    /// Wall offset from the run start of the last response, nanoseconds.
    pub last_response_offset_ns: u64,
}

impl Default for TargetStats {
    fn default() -> Self {
        TargetStats::new()
    }
}

impl TargetStats {
    pub fn new() -> TargetStats {
        TargetStats {
            latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid"),
            service_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid"),
            sent: 0,
            responses: 0,
            status_counts: vec![0; STATUS_CODE_MAX + 1],
            errors: ErrorCounts::default(),
            not_sent_on_time: 0,
            last_response_offset_ns: 0,
        }
    }

    pub fn record_response(
        &mut self,
        status: u16,
        latency_us: u64,
        service_us: u64,
        offset_ns: u64,
    ) {
        self.responses += 1;
        let idx = usize::from(status);
        let idx = if (100..=STATUS_CODE_MAX).contains(&idx) {
            idx
        } else {
            0
        };
        self.status_counts[idx] += 1;
        self.latency_us.saturating_record(latency_us.max(1));
        self.service_us.saturating_record(service_us.max(1));
        self.last_response_offset_ns = self.last_response_offset_ns.max(offset_ns);
    }

    pub fn record_error(&mut self, kind: ErrorKind) {
        match kind {
            ErrorKind::Connect => self.errors.connect += 1,
            ErrorKind::Io => self.errors.io += 1,
            ErrorKind::Parse => self.errors.parse += 1,
            ErrorKind::Timeout => self.errors.timeout += 1,
        }
    }

    pub fn merge(&mut self, other: &TargetStats) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms share bounds");
        self.service_us
            .add(&other.service_us)
            .expect("histograms share bounds");
        self.sent += other.sent;
        self.responses += other.responses;
        for (mine, theirs) in self.status_counts.iter_mut().zip(&other.status_counts) {
            *mine += theirs;
        }
        self.errors.connect += other.errors.connect;
        self.errors.io += other.errors.io;
        self.errors.parse += other.errors.parse;
        self.errors.timeout += other.errors.timeout;
        self.not_sent_on_time += other.not_sent_on_time;
        self.last_response_offset_ns = self
            .last_response_offset_ns
            .max(other.last_response_offset_ns);
    }

    /// Responses whose status is not 2xx or 3xx (the status itself was received fine).
    pub fn non_success(&self) -> u64 {
        self.status_counts
            .iter()
            .enumerate()
            .filter(|&(code, _)| !(200..400).contains(&code))
            .map(|(_, count)| count)
            .sum()
    }
}

/// Running totals for the once-a-second progress line, written by one generator thread.
#[derive(Debug, Default)]
pub struct Progress {
    pub responses: AtomicU64,
    pub failures: AtomicU64,
    pub not_sent_on_time: AtomicU64,
}

impl Progress {
    pub fn add(counter: &AtomicU64, n: u64) {
        // Only the owning thread writes; a plain load and store avoids a locked instruction.
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}
