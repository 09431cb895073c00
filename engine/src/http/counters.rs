//! What the connection loop counts, and the trait through which it reports it.
//!
//! The transport knows nothing of the shard's statistics: it labels each answer with an
//! [`Endpoint`], bumps its own [`ConnectionStats`], and hands every answered request to a
//! [`Recorder`]. The shard's statistics implement `Recorder`; the loop is generic over it, so
//! the report is a static call the compiler inlines, not a `dyn` call on the request path.

use std::cell::Cell;
use std::time::Duration;

/// The endpoints requests are counted under. A closed set, so that statistics are fixed arrays
/// indexed by [`Endpoint::idx`]. The handler names the route a request matched; `Other` is any
/// path we do not serve (404/405) and `Invalid` a request that was not valid HTTP, so it has no
/// path: those two are the only ones the connection loop picks itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Auction,
    Win,
    Impression,
    Click,
    Loss,
    Healthz,
    Readyz,
    Metrics,
    Other,
    Invalid,
}

impl Endpoint {
    pub const ALL: [Endpoint; 10] = [
        Endpoint::Auction,
        Endpoint::Win,
        Endpoint::Impression,
        Endpoint::Click,
        Endpoint::Loss,
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
            Endpoint::Win => "/win",
            Endpoint::Impression => "/imp",
            Endpoint::Click => "/click",
            Endpoint::Loss => "/loss",
            Endpoint::Healthz => "/healthz",
            Endpoint::Readyz => "/readyz",
            Endpoint::Metrics => "/metrics",
            Endpoint::Other => "other",
            Endpoint::Invalid => "invalid",
        }
    }

    /// The position in [`Endpoint::ALL`].
    pub fn idx(self) -> usize {
        self as usize
    }
}

/// Connection-level events, counted per shard.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub accepted: Cell<u64>,
    /// Refused (503 and close) at `connections_per_shard_max` because every connection had a
    /// request in progress, so none could make way.
    pub rejected_at_limit: Cell<u64>,
    /// Idle connections closed at `connections_per_shard_max` to admit a new one.
    pub evicted: Cell<u64>,
    pub open: Cell<u64>,
    /// Open connections with a request in progress (partly read or being answered).
    pub busy: Cell<u64>,
    /// Closed because a client was too slow sending a head or body.
    pub read_timeouts: Cell<u64>,
    /// Closed because a new connection sent nothing within `first_byte_timeout_ms`.
    pub first_byte_timeouts: Cell<u64>,
    /// Closed because the peer reset or the socket failed mid-request.
    pub io_errors: Cell<u64>,
}

/// Where the connection loop reports what it served.
pub trait Recorder {
    /// The connection counters the loop bumps.
    fn connections(&self) -> &ConnectionStats;

    /// Counts one answered request and its service time (request fully read to response
    /// queued). Called once per response, on the request path.
    fn record(&self, endpoint: Endpoint, status: u16, elapsed: Duration);
}

pub(crate) fn bump(cell: &Cell<u64>) {
    cell.set(cell.get().wrapping_add(1));
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    #[test]
    fn endpoints_are_listed_in_index_order() {
        for (idx, endpoint) in Endpoint::ALL.into_iter().enumerate() {
            assert_eq!(endpoint.idx(), idx, "{endpoint:?}");
        }
    }
}
