//! A mock DSP for `adshard-mockbidder` and for in-process tests: it answers OpenRTB 2.5/2.6 bid
//! requests over keep-alive HTTP/1.1 with a configurable latency, bid rate and price, and
//! injects the faults real bidders show (silence, resets, garbage, 500s, trickled or oversized
//! bodies, bids on unknown imps, in a currency not allowed, under the floor). The engine's
//! bidder client is only trustworthy once it has met each of them; the engine's integration
//! tests start mock bidders through [`spawn`], and the binary is a thin command line around it.
//!
//! Design: one std thread per connection, blocking `std::net` I/O. Latency is simulated by
//! sleeping and a `timeout` fault holds its connection indefinitely, so every in-flight
//! request needs a thread of its own anyway; a pool would add a queue in which simulated
//! latencies pile up and distort what the client measures. Connections are capped (`threads`,
//! at most [`CONNECTIONS_MAX`]); one over the cap is answered 503 and closed, so an overload is
//! visible and counted rather than hidden in the accept backlog.
//!
//! A bid request (any POST) is answered in this order: draw the fault (at most one, by the
//! configured shares), wait the sampled latency (every answer waits, a reset or a 500 too;
//! only `timeout`, which never answers, does not), then answer. Without a fault the request
//! gets a bid with probability `bid_rate`, else 204; faults that shape a bid (`trickle`,
//! `oversized`, `unknown-imp`, `wrong-currency`, `below-floor`) always bid, so that a share of
//! 1 tests them without a bid rate in the way. `GET /healthz` and `GET /stats` answer at once.
//!
//! Determinism: each connection draws from its own generator, seeded from the configured seed
//! and the connection's accept index, and each request draws in a fixed order (fault, latency,
//! bid or not, one price per imp). The same seed therefore gives the same answers to the same
//! requests on the same connection, whatever other connections do.
//!
//! Counting: every bid request (a POST) is counted once, under exactly one of `bids`,
//! `no_bids`, `bad_requests` or the fault drawn, before its answer is written, so a client that
//! has seen an answer can assert on [`MockBidderHandle::stats`] (or `GET /stats`) at once.
//!
//! Shutdown: dropping the handle stops the accept loop, shuts every open socket down (waking
//! threads blocked reading or holding a `timeout`), cuts simulated sleeps short and joins
//! every thread, so a test that drops its mock bidder leaks nothing into the next test.
//!
//! The code is split by concern: `spec` (what the command line and [`MockBidderConfig`] ask
//! for), `faults` (the fault kinds, their draw and the connection-level ones), `bids` (the
//! responses), `http` (the mock's own HTTP/1.1 framing) and `server` (threads, counts, the
//! flow of one request). Everything public is re-exported here.

mod bids;
mod faults;
mod http;
mod server;
mod spec;

pub use bids::IMPS_MAX;
pub use faults::{
    FaultKind, FaultShare, OVERSIZED_BODY_BYTES, TIMEOUT_HOLD_MAX, TRICKLE_DURATION, TRICKLE_STEPS,
};
pub use http::{
    LINGER_CLOSE_MAX, LINGER_DRAIN_BYTES_MAX, REQUEST_BODY_BYTES_MAX, REQUEST_HEADERS_MAX,
    REQUEST_HEAD_BYTES_MAX, WRITE_STALL_MAX,
};
pub use server::{spawn, MockBidderHandle, MockBidderStats};
pub use spec::{
    parse_duration, LatencySpec, MockBidderConfig, PriceSpec, ResponseCorpus, SpecError,
    CONNECTIONS_MAX, LATENCY_MAX, PRICE_MAX, RESPONSE_FILES_MAX, RESPONSE_FILE_BYTES_MAX,
    SIGMA_MAX,
};
