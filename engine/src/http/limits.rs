//! The HTTP server's limits (`[http]` in the config file): what one client can make a shard
//! hold, and the ceilings on those limits.
//!
//! They live with the transport they bound, so that `http` needs nothing from the modules above
//! it; `config` only gathers this section with the others and checks it against the ceilings.

use std::time::Duration;

use serde::Deserialize;

/// Limits of the HTTP/1.1 server. Each one bounds what a single client can make a shard hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Bytes of request line plus headers. Bid requests carry a handful of short headers;
    /// 8 KiB is what nginx allows by default for one header buffer.
    pub header_bytes_max: usize,
    /// Number of headers. Exchanges send fewer than 20; 64 leaves room and caps parse work.
    pub headers_count_max: usize,
    /// Body bytes. OpenRTB requests are 1-10 KiB; 64 KiB admits very large multi-imp requests.
    pub body_bytes_max: usize,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout_ms: u64,
    /// How long a new connection may stay silent before its first byte. Exchanges and load
    /// balancers write as soon as they connect; a connection that sends nothing holds a slot
    /// for nothing, so it gets seconds, not the idle timeout.
    pub first_byte_timeout_ms: u64,
    /// How long a client has, from its first byte, to send the whole request head; a slow
    /// client is closed rather than holding a connection slot forever.
    pub header_timeout_ms: u64,
    /// How long a client has to send the body once the head is in.
    pub body_timeout_ms: u64,
    /// How long a response write may block before the connection is dropped.
    pub write_timeout_ms: u64,
    /// Open connections per shard; beyond it new connections are closed at once and counted.
    pub connections_per_shard_max: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_bytes_max: 8 * 1024,
            headers_count_max: 64,
            body_bytes_max: 64 * 1024,
            idle_timeout_ms: 60_000,
            first_byte_timeout_ms: 3_000,
            header_timeout_ms: 5_000,
            body_timeout_ms: 5_000,
            write_timeout_ms: 5_000,
            connections_per_shard_max: 4096,
        }
    }
}

/// Ceilings on the limits themselves, so a config cannot ask a shard for absurd buffers.
pub const HEADER_BYTES_CEILING: usize = 1024 * 1024;
/// Also the size of the header array `parse_head` keeps on the stack.
pub const HEADERS_COUNT_CEILING: usize = 1024;
pub const BODY_BYTES_CEILING: usize = 16 * 1024 * 1024;
pub const CONNECTIONS_PER_SHARD_CEILING: usize = 1_000_000;
/// Longer, and a silent connection holds its slot about as long as an idle keep-alive one.
pub const FIRST_BYTE_TIMEOUT_MS_CEILING: u64 = 30_000;

impl HttpLimits {
    /// What is wrong with the limits that only `http` knows how to judge, as (field, reason).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !(1..=FIRST_BYTE_TIMEOUT_MS_CEILING).contains(&self.first_byte_timeout_ms) {
            problems.push((
                "http.first_byte_timeout_ms",
                format!("must be between 1 and {FIRST_BYTE_TIMEOUT_MS_CEILING}"),
            ));
        }
        problems
    }
}

impl HttpLimits {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn first_byte_timeout(&self) -> Duration {
        Duration::from_millis(self.first_byte_timeout_ms)
    }
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_timeout_is_checked_against_its_ceiling() {
        let cases: &[(u64, bool)] = &[
            (0, false),
            (1, true),
            (3_000, true),
            (FIRST_BYTE_TIMEOUT_MS_CEILING, true),
            (FIRST_BYTE_TIMEOUT_MS_CEILING + 1, false),
        ];
        for (first_byte_timeout_ms, valid) in cases {
            let limits = HttpLimits {
                first_byte_timeout_ms: *first_byte_timeout_ms,
                ..HttpLimits::default()
            };
            let problems = limits.problems();
            assert_eq!(
                problems.is_empty(),
                *valid,
                "{first_byte_timeout_ms}: {problems:?}"
            );
            if !valid {
                assert_eq!(problems[0].0, "http.first_byte_timeout_ms");
            }
        }
    }
}
