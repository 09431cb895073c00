//! Per-shard counters and latency histograms, and their Prometheus rendering.
//!
//! Each shard owns one `ShardStats` and bumps plain `Cell`s on the request path: no atomics,
//! no locks, nothing shared. The admin listener asks every shard for a `StatsSnapshot` over a
//! channel when it is scraped and renders them side by side with a `shard` label.

use std::cell::Cell;
use std::fmt::Write as _;
use std::time::Duration;

/// The endpoints requests are counted under. `Other` is any path we do not serve (404/405);
/// `Invalid` is a request that was not valid HTTP, so it has no path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Auction,
    Healthz,
    Readyz,
    Metrics,
    Other,
    Invalid,
}

impl Endpoint {
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Auction,
        Endpoint::Healthz,
        Endpoint::Readyz,
        Endpoint::Metrics,
        Endpoint::Other,
        Endpoint::Invalid,
    ];
    pub const COUNT: usize = Endpoint::ALL.len();

    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Auction => "/openrtb2/auction",
            Endpoint::Healthz => "/healthz",
            Endpoint::Readyz => "/readyz",
            Endpoint::Metrics => "/metrics",
            Endpoint::Other => "other",
            Endpoint::Invalid => "invalid",
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

/// Status codes the server can answer; a code not listed is counted as `STATUS_OTHER_IDX`.
pub const STATUSES: [u16; 14] = [
    200, 204, 302, 400, 403, 404, 405, 408, 411, 413, 417, 431, 500, 503,
];
const STATUS_OTHER_IDX: usize = STATUSES.len();
const STATUS_SLOTS: usize = STATUSES.len() + 1;

fn status_idx(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(STATUS_OTHER_IDX)
}

/// Upper bounds of the latency histogram buckets, in microseconds. The decision budget is
/// well under a millisecond, so resolution is finest there; the top buckets catch stalls.
pub const LATENCY_BUCKETS_US: [u64; 16] = [
    25, 50, 100, 200, 300, 500, 750, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    1_000_000,
];
const LATENCY_SLOTS: usize = LATENCY_BUCKETS_US.len() + 1;

/// Connection-level events, counted per shard.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub accepted: Cell<u64>,
    /// Closed at once because the shard was at `connections_per_shard_max`.
    pub rejected_at_limit: Cell<u64>,
    pub open: Cell<u64>,
    /// Closed because a client was too slow sending a head or body.
    pub read_timeouts: Cell<u64>,
    /// Closed because the peer reset or the socket failed mid-request.
    pub io_errors: Cell<u64>,
}

/// One shard's statistics. Lives in the shard; never crosses a thread.
#[derive(Debug)]
pub struct ShardStats {
    shard_idx: usize,
    requests: [[Cell<u64>; STATUS_SLOTS]; Endpoint::COUNT],
    latency_buckets: [[Cell<u64>; LATENCY_SLOTS]; Endpoint::COUNT],
    latency_sum_us: [Cell<u64>; Endpoint::COUNT],
    pub connections: ConnectionStats,
}

impl ShardStats {
    pub fn new(shard_idx: usize) -> ShardStats {
        ShardStats {
            shard_idx,
            requests: Default::default(),
            latency_buckets: Default::default(),
            latency_sum_us: Default::default(),
            connections: ConnectionStats::default(),
        }
    }

    /// Counts one answered request and its service time (request fully read to response
    /// queued). Called once per response; a handful of `Cell` bumps.
    pub fn record(&self, endpoint: Endpoint, status: u16, elapsed: Duration) {
        let endpoint_idx = endpoint.idx();
        bump(&self.requests[endpoint_idx][status_idx(status)]);
        let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket_idx = LATENCY_BUCKETS_US.partition_point(|upper| *upper < elapsed_us);
        bump(&self.latency_buckets[endpoint_idx][bucket_idx]);
        let sum = &self.latency_sum_us[endpoint_idx];
        sum.set(sum.get().saturating_add(elapsed_us));
    }

    /// A plain-data copy that can be sent to the admin thread.
    pub fn snapshot(&self) -> StatsSnapshot {
        let copy = |cells: &[Cell<u64>]| cells.iter().map(Cell::get).collect::<Vec<_>>();
        StatsSnapshot {
            shard_idx: self.shard_idx,
            requests: self.requests.iter().map(|row| copy(row)).collect(),
            latency_buckets: self.latency_buckets.iter().map(|row| copy(row)).collect(),
            latency_sum_us: copy(&self.latency_sum_us),
            connections_accepted: self.connections.accepted.get(),
            connections_rejected_at_limit: self.connections.rejected_at_limit.get(),
            connections_open: self.connections.open.get(),
            connection_read_timeouts: self.connections.read_timeouts.get(),
            connection_io_errors: self.connections.io_errors.get(),
        }
    }
}

pub(crate) fn bump(cell: &Cell<u64>) {
    cell.set(cell.get().wrapping_add(1));
}

/// A shard's statistics at one instant, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub shard_idx: usize,
    /// `[endpoint][status slot]`, slots in `STATUSES` order then "other".
    pub requests: Vec<Vec<u64>>,
    /// `[endpoint][bucket]`, buckets in `LATENCY_BUCKETS_US` order then +Inf (not cumulative).
    pub latency_buckets: Vec<Vec<u64>>,
    pub latency_sum_us: Vec<u64>,
    pub connections_accepted: u64,
    pub connections_rejected_at_limit: u64,
    pub connections_open: u64,
    pub connection_read_timeouts: u64,
    pub connection_io_errors: u64,
}

impl StatsSnapshot {
    /// Requests answered on `endpoint` with `status` on this shard.
    pub fn requests_with(&self, endpoint: Endpoint, status: u16) -> u64 {
        self.requests
            .get(endpoint.idx())
            .and_then(|row| row.get(status_idx(status)))
            .copied()
            .unwrap_or(0)
    }

    pub fn requests_total(&self) -> u64 {
        self.requests.iter().flatten().sum()
    }
}

/// Renders snapshots of every shard in the Prometheus text exposition format (version 0.0.4).
pub fn render_prometheus(snapshots: &[StatsSnapshot], out: &mut String) {
    out.push_str(
        "# HELP adshard_http_requests_total HTTP requests answered, by endpoint and status.\n",
    );
    out.push_str("# TYPE adshard_http_requests_total counter\n");
    for snapshot in snapshots {
        for endpoint in Endpoint::ALL {
            for (slot_idx, count) in snapshot.requests[endpoint.idx()].iter().enumerate() {
                if *count == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(slot_idx)
                    .map_or_else(|| "other".to_string(), u16::to_string);
                let _ = writeln!(
                    out,
                    "adshard_http_requests_total{{shard=\"{}\",endpoint=\"{}\",status=\"{}\"}} {}",
                    snapshot.shard_idx,
                    endpoint.label(),
                    status,
                    count
                );
            }
        }
    }
    out.push_str(
        "# HELP adshard_http_request_duration_seconds Time from a request fully read to its response queued.\n",
    );
    out.push_str("# TYPE adshard_http_request_duration_seconds histogram\n");
    for snapshot in snapshots {
        for endpoint in Endpoint::ALL {
            let buckets = &snapshot.latency_buckets[endpoint.idx()];
            let total: u64 = buckets.iter().sum();
            if total == 0 {
                continue;
            }
            let labels = format!(
                "shard=\"{}\",endpoint=\"{}\"",
                snapshot.shard_idx,
                endpoint.label()
            );
            let mut cumulative = 0;
            for (bucket_idx, count) in buckets.iter().enumerate() {
                cumulative += count;
                let le = LATENCY_BUCKETS_US
                    .get(bucket_idx)
                    .map_or_else(|| "+Inf".to_string(), |us| format!("{}", *us as f64 / 1e6));
                let _ = writeln!(
                    out,
                    "adshard_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "adshard_http_request_duration_seconds_sum{{{labels}}} {}",
                snapshot.latency_sum_us[endpoint.idx()] as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "adshard_http_request_duration_seconds_count{{{labels}}} {total}"
            );
        }
    }
    type Sample = fn(&StatsSnapshot) -> u64;
    let gauges: [(&str, &str, &str, Sample); 5] = [
        (
            "adshard_connections_accepted_total",
            "counter",
            "Connections accepted.",
            |s| s.connections_accepted,
        ),
        (
            "adshard_connections_rejected_total",
            "counter",
            "Connections closed at once because the shard was at its connection limit.",
            |s| s.connections_rejected_at_limit,
        ),
        (
            "adshard_connections_open",
            "gauge",
            "Connections open now.",
            |s| s.connections_open,
        ),
        (
            "adshard_connection_read_timeouts_total",
            "counter",
            "Connections closed because the client was too slow sending a request.",
            |s| s.connection_read_timeouts,
        ),
        (
            "adshard_connection_io_errors_total",
            "counter",
            "Connections that failed mid-request (reset, broken pipe).",
            |s| s.connection_io_errors,
        ),
    ];
    for (name, kind, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for snapshot in snapshots {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\"}} {}",
                snapshot.shard_idx,
                value(snapshot)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_render() {
        let stats = ShardStats::new(3);
        stats.record(Endpoint::Auction, 204, Duration::from_micros(80));
        stats.record(Endpoint::Auction, 400, Duration::from_micros(2_500));
        stats.record(Endpoint::Other, 404, Duration::from_secs(5));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.requests_with(Endpoint::Auction, 204), 1);
        assert_eq!(snapshot.requests_total(), 3);
        let mut text = String::new();
        render_prometheus(&[snapshot], &mut text);
        assert!(text.contains("adshard_http_requests_total{shard=\"3\",endpoint=\"/openrtb2/auction\",status=\"204\"} 1"));
        assert!(text.contains(
            "adshard_http_request_duration_seconds_bucket{shard=\"3\",endpoint=\"/openrtb2/auction\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains(
            "adshard_http_request_duration_seconds_bucket{shard=\"3\",endpoint=\"/openrtb2/auction\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains(
            "adshard_http_request_duration_seconds_count{shard=\"3\",endpoint=\"other\"} 1"
        ));
    }
}
