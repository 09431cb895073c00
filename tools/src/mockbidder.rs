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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::rng::{mix64, Rng};

/// Most concurrent connections (one thread each): enough for any benchmark against one mock
/// bidder, and small enough that a runaway client cannot exhaust the machine's threads.
pub const CONNECTIONS_MAX: usize = 1024;
/// Largest request head (request line and headers); OpenRTB clients send a few hundred bytes,
/// so anything larger is answered 431 and closed.
pub const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Most headers in one request head (httparse needs a fixed array); more is answered 431.
pub const REQUEST_HEADERS_MAX: usize = 64;
/// Largest request body; bid requests are kilobytes, a larger one is answered 413 unread.
pub const REQUEST_BODY_BYTES_MAX: usize = 1024 * 1024;
/// Most imps bid on per request (the first ones); real requests carry a handful, and the cap
/// keeps a small request full of tiny imps from producing a response of tens of megabytes.
pub const IMPS_MAX: usize = 100;
/// Longest simulated latency (a sample of a long-tailed distribution is clamped to it, a spec
/// above it is refused): anything longer is a `timeout` fault, not a latency.
pub const LATENCY_MAX: Duration = Duration::from_secs(60);
/// Largest log-space standard deviation of a log-normal spec; at 4 the tail already reaches
/// e^24 times the median, beyond which samples are all clamped anyway.
pub const SIGMA_MAX: f64 = 4.0;
/// Highest CPM price a spec may name or a sample may reach.
pub const PRICE_MAX: f64 = 100_000.0;
/// Most files of a `--responses` directory.
pub const RESPONSE_FILES_MAX: usize = 10_000;
/// Largest file of a `--responses` directory.
pub const RESPONSE_FILE_BYTES_MAX: u64 = 1024 * 1024;
/// Longest a `timeout` fault holds its connection when the peer neither closes it nor the
/// server stops (e.g. the peer pipelined more bytes, which hide its close from `peek`).
pub const TIMEOUT_HOLD_MAX: Duration = Duration::from_secs(600);
/// Longest one write may stall on a peer that stopped reading (e.g. half-way through an
/// oversized body) before the connection is dropped.
pub const WRITE_STALL_MAX: Duration = Duration::from_secs(10);
/// Longest a closing connection waits for the peer's close while discarding what it still
/// sends: closing with unread bytes makes the kernel send an RST, which can destroy the error
/// response (413, 400) before the peer has read it.
pub const LINGER_CLOSE_MAX: Duration = Duration::from_millis(500);
/// Most bytes discarded during that lingering close.
pub const LINGER_DRAIN_BYTES_MAX: usize = 8 * 1024 * 1024;

/// How long a `trickle` body takes from its first byte to its last.
pub const TRICKLE_DURATION: Duration = Duration::from_millis(200);
/// In how many pieces a `trickle` body is sent (5 ms apart, a few bytes each for a usual bid).
pub const TRICKLE_STEPS: u32 = 40;
/// Size of an `oversized` body: four times the body cap usual on both sides of OpenRTB.
pub const OVERSIZED_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Read chunk: one usual request fits in one read.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Pause after a failed `accept` (e.g. out of descriptors), so that the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// How long `drop` waits to connect to its own listener to wake the accept loop.
const WAKE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause between `peek`s while a held connection has unread bytes pending.
const HOLD_POLL: Duration = Duration::from_millis(50);

/// Win notice URL of generated bids; `${AUCTION_PRICE}` is the macro the exchange substitutes.
const NURL: &str = "http://127.0.0.1/mock/win?price=${AUCTION_PRICE}";
/// `adm` of a bid on a native imp: the smallest native 1.2 response object.
const NATIVE_MARKUP: &str = concat!(
    r#"{"native":{"ver":"1.2","link":{"url":"http://mock-advertiser.example"},"#,
    r#""assets":[]}}"#
);
/// Body of a `garbage` fault: looks like a truncated object, is not JSON.
const GARBAGE_BODY: &[u8] = b"<html><body>mock garbage {\"id\": \"not JSON</body></html>\n";

/// A spec or configuration that cannot be used, with a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    message: String,
}

impl SpecError {
    fn new(message: impl Into<String>) -> SpecError {
        SpecError {
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpecError {}

/// Parses a duration with a unit, `us`, `ms` or `s` (`250us`, `20ms`, `1.5s`), at most
/// [`LATENCY_MAX`]. A bare number is refused: `20` could mean any unit.
pub fn parse_duration(text: &str) -> Result<Duration, SpecError> {
    let text = text.trim();
    let (number, nanos_per_unit) = if let Some(number) = text.strip_suffix("us") {
        (number, 1e3)
    } else if let Some(number) = text.strip_suffix("ms") {
        (number, 1e6)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1e9)
    } else {
        return Err(SpecError::new(format!(
            "duration `{text}` needs a unit: us, ms or s (e.g. 20ms)"
        )));
    };
    let value: f64 = number
        .parse()
        .map_err(|_| SpecError::new(format!("duration `{text}` is not a number with a unit")))?;
    if !value.is_finite() || value < 0.0 {
        return Err(SpecError::new(format!(
            "duration `{text}` must be a finite non-negative number"
        )));
    }
    let nanos = (value * nanos_per_unit).round();
    if nanos > LATENCY_MAX.as_nanos() as f64 {
        return Err(SpecError::new(format!(
            "duration `{text}` is above the {}s limit",
            LATENCY_MAX.as_secs()
        )));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Writes a duration so that [`parse_duration`] reads it back exactly.
fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos % 1_000_000_000 == 0 && nanos > 0 {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos % 1_000_000 == 0 {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

/// Splits `KIND:A[:B]` into its kind and exactly `arity` arguments.
fn spec_parts<'a>(
    text: &'a str,
    what: &str,
    forms: &str,
) -> Result<(&'a str, Vec<&'a str>), SpecError> {
    let mut parts = text.trim().split(':');
    let kind = parts.next().unwrap_or_default();
    let args: Vec<&str> = parts.collect();
    let arity = match kind {
        "fixed" => 1,
        "uniform" | "lognormal" => 2,
        _ => {
            return Err(SpecError::new(format!(
                "{what} spec `{text}`: unknown kind `{kind}`, expected {forms}"
            )))
        }
    };
    if args.len() != arity {
        return Err(SpecError::new(format!(
            "{what} spec `{text}`: `{kind}` takes {arity} argument(s), expected {forms}"
        )));
    }
    Ok((kind, args))
}

fn parse_sigma(text: &str, spec: &str, what: &str) -> Result<f64, SpecError> {
    match text.trim().parse::<f64>() {
        Ok(sigma) if (0.0..=SIGMA_MAX).contains(&sigma) => Ok(sigma),
        _ => Err(SpecError::new(format!(
            "{what} spec `{spec}`: sigma `{text}` must be a number in [0, {SIGMA_MAX}]"
        ))),
    }
}

/// How long the mock bidder waits before answering a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencySpec {
    /// `fixed:20ms`
    Fixed(Duration),
    /// `uniform:10ms:30ms`, both ends included.
    Uniform { low: Duration, high: Duration },
    /// `lognormal:20ms:0.5`: median 20 ms, log-space standard deviation 0.5 (a long tail).
    /// The normal draw is `Rng::normal`'s Irwin-Hall sum, bounded at 6 sigma: the tail ends at
    /// e^(6 sigma) times the median (20x for sigma 0.5), which no test of a timeout misses.
    LogNormal { median: Duration, sigma: f64 },
}

const LATENCY_FORMS: &str = "fixed:DURATION, uniform:LOW:HIGH or lognormal:MEDIAN:SIGMA";

impl Default for LatencySpec {
    fn default() -> LatencySpec {
        LatencySpec::Fixed(Duration::ZERO)
    }
}

impl LatencySpec {
    /// One latency, at most [`LATENCY_MAX`].
    pub fn sample(&self, rng: &mut Rng) -> Duration {
        match *self {
            LatencySpec::Fixed(latency) => latency,
            LatencySpec::Uniform { low, high } => {
                // Both ends are at most LATENCY_MAX (60 s), far inside u64 nanoseconds.
                let low = low.as_nanos() as u64;
                let high = high.as_nanos() as u64;
                Duration::from_nanos(rng.between(low, high))
            }
            LatencySpec::LogNormal { median, sigma } => {
                let secs = rng.log_normal(median.as_secs_f64(), sigma);
                Duration::try_from_secs_f64(secs)
                    .unwrap_or(LATENCY_MAX)
                    .min(LATENCY_MAX)
            }
        }
    }
}

impl FromStr for LatencySpec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<LatencySpec, SpecError> {
        let in_spec = |error: SpecError| SpecError::new(format!("latency spec `{text}`: {error}"));
        let (kind, args) = spec_parts(text, "latency", LATENCY_FORMS)?;
        match (kind, args.as_slice()) {
            ("fixed", [latency]) => Ok(LatencySpec::Fixed(
                parse_duration(latency).map_err(in_spec)?,
            )),
            ("uniform", [low, high]) => {
                let low = parse_duration(low).map_err(in_spec)?;
                let high = parse_duration(high).map_err(in_spec)?;
                if low > high {
                    return Err(SpecError::new(format!(
                        "latency spec `{text}`: LOW must not be above HIGH"
                    )));
                }
                Ok(LatencySpec::Uniform { low, high })
            }
            ("lognormal", [median, sigma]) => {
                let median = parse_duration(median).map_err(in_spec)?;
                if median.is_zero() {
                    return Err(SpecError::new(format!(
                        "latency spec `{text}`: MEDIAN must be positive (use fixed:0ms for none)"
                    )));
                }
                let sigma = parse_sigma(sigma, text, "latency")?;
                Ok(LatencySpec::LogNormal { median, sigma })
            }
            _ => Err(SpecError::new(format!(
                "latency spec `{text}`: expected {LATENCY_FORMS}"
            ))),
        }
    }
}

impl fmt::Display for LatencySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LatencySpec::Fixed(latency) => write!(f, "fixed:{}", format_duration(latency)),
            LatencySpec::Uniform { low, high } => write!(
                f,
                "uniform:{}:{}",
                format_duration(low),
                format_duration(high)
            ),
            LatencySpec::LogNormal { median, sigma } => {
                write!(f, "lognormal:{}:{sigma}", format_duration(median))
            }
        }
    }
}

/// The CPM price of a generated bid, in the response's currency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PriceSpec {
    /// `fixed:1.5`
    Fixed(f64),
    /// `uniform:0.5:3.0`
    Uniform { low: f64, high: f64 },
    /// `lognormal:2.0:0.4`: median 2.0, log-space standard deviation 0.4.
    LogNormal { median: f64, sigma: f64 },
}

const PRICE_FORMS: &str = "fixed:CPM, uniform:LOW:HIGH or lognormal:MEDIAN:SIGMA";

impl Default for PriceSpec {
    fn default() -> PriceSpec {
        PriceSpec::Fixed(1.0)
    }
}

impl PriceSpec {
    /// One price in [0, [`PRICE_MAX`]], rounded to 1/10 000 so responses read cleanly.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let price = match *self {
            PriceSpec::Fixed(price) => price,
            PriceSpec::Uniform { low, high } => low + (high - low) * rng.unit(),
            PriceSpec::LogNormal { median, sigma } => rng.log_normal(median, sigma),
        };
        round_price(price.clamp(0.0, PRICE_MAX))
    }
}

fn parse_price(text: &str, spec: &str) -> Result<f64, SpecError> {
    match text.trim().parse::<f64>() {
        Ok(price) if (0.0..=PRICE_MAX).contains(&price) => Ok(price),
        _ => Err(SpecError::new(format!(
            "price spec `{spec}`: `{text}` must be a CPM in [0, {PRICE_MAX}]"
        ))),
    }
}

impl FromStr for PriceSpec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<PriceSpec, SpecError> {
        let (kind, args) = spec_parts(text, "price", PRICE_FORMS)?;
        match (kind, args.as_slice()) {
            ("fixed", [price]) => Ok(PriceSpec::Fixed(parse_price(price, text)?)),
            ("uniform", [low, high]) => {
                let low = parse_price(low, text)?;
                let high = parse_price(high, text)?;
                if low > high {
                    return Err(SpecError::new(format!(
                        "price spec `{text}`: LOW must not be above HIGH"
                    )));
                }
                Ok(PriceSpec::Uniform { low, high })
            }
            ("lognormal", [median, sigma]) => {
                let median = parse_price(median, text)?;
                if median <= 0.0 {
                    return Err(SpecError::new(format!(
                        "price spec `{text}`: MEDIAN must be positive"
                    )));
                }
                let sigma = parse_sigma(sigma, text, "price")?;
                Ok(PriceSpec::LogNormal { median, sigma })
            }
            _ => Err(SpecError::new(format!(
                "price spec `{text}`: expected {PRICE_FORMS}"
            ))),
        }
    }
}

impl fmt::Display for PriceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PriceSpec::Fixed(price) => write!(f, "fixed:{price}"),
            PriceSpec::Uniform { low, high } => write!(f, "uniform:{low}:{high}"),
            PriceSpec::LogNormal { median, sigma } => write!(f, "lognormal:{median}:{sigma}"),
        }
    }
}

fn round_price(price: f64) -> f64 {
    (price * 10_000.0).round() / 10_000.0
}

/// A way a bidder misbehaves; each request draws at most one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Never answer: hold the connection open, reading nothing more, until the peer closes it.
    Timeout,
    /// Close the connection with an RST (SO_LINGER 0) without answering.
    Reset,
    /// 200 with a body that is not JSON.
    Garbage,
    /// HTTP 500.
    #[serde(rename = "500")]
    ServerError,
    /// A valid bid response whose body arrives a few bytes at a time over [`TRICKLE_DURATION`].
    Trickle,
    /// A 200 valid bid response padded to [`OVERSIZED_BODY_BYTES`].
    Oversized,
    /// The first bid's `impid` names no imp of the request.
    UnknownImp,
    /// The response's `cur` is a currency the request did not allow.
    WrongCurrency,
    /// Bids on imps with a floor are priced below it (half of it); other imps bid normally.
    BelowFloor,
}

impl FaultKind {
    /// Every kind, in the order of the stats.
    pub const ALL: [FaultKind; 9] = [
        FaultKind::Timeout,
        FaultKind::Reset,
        FaultKind::Garbage,
        FaultKind::ServerError,
        FaultKind::Trickle,
        FaultKind::Oversized,
        FaultKind::UnknownImp,
        FaultKind::WrongCurrency,
        FaultKind::BelowFloor,
    ];

    /// The name used in `--fault KIND:SHARE` and in the stats.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Timeout => "timeout",
            FaultKind::Reset => "reset",
            FaultKind::Garbage => "garbage",
            FaultKind::ServerError => "500",
            FaultKind::Trickle => "trickle",
            FaultKind::Oversized => "oversized",
            FaultKind::UnknownImp => "unknown-imp",
            FaultKind::WrongCurrency => "wrong-currency",
            FaultKind::BelowFloor => "below-floor",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for FaultKind {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<FaultKind, SpecError> {
        FaultKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|kind| kind.name()).collect();
                SpecError::new(format!(
                    "unknown fault `{text}`, expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `KIND:SHARE`: the fault `kind` for a `share` (in [0, 1]) of bid requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultShare {
    pub kind: FaultKind,
    pub share: f64,
}

impl FromStr for FaultShare {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<FaultShare, SpecError> {
        let Some((kind, share)) = text.trim().rsplit_once(':') else {
            return Err(SpecError::new(format!(
                "fault spec `{text}`: expected KIND:SHARE, e.g. timeout:0.01"
            )));
        };
        let kind = kind
            .parse()
            .map_err(|error| SpecError::new(format!("fault spec `{text}`: {error}")))?;
        match share.trim().parse::<f64>() {
            Ok(share) if (0.0..=1.0).contains(&share) => Ok(FaultShare { kind, share }),
            _ => Err(SpecError::new(format!(
                "fault spec `{text}`: SHARE `{share}` must be a number in [0, 1]"
            ))),
        }
    }
}

impl fmt::Display for FaultShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.share)
    }
}

/// Canned bid responses answered in turn instead of generated ones (`--responses DIR`).
#[derive(Debug, Clone)]
pub struct ResponseCorpus {
    responses: Vec<Value>,
}

impl ResponseCorpus {
    /// Every `*.json` file of `dir`, in file name order; each must hold a JSON object.
    pub fn load(dir: &Path) -> Result<ResponseCorpus, SpecError> {
        let unreadable =
            |error: io::Error| SpecError::new(format!("cannot read {}: {error}", dir.display()));
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
                if paths.len() == RESPONSE_FILES_MAX {
                    return Err(SpecError::new(format!(
                        "{} holds more than {RESPONSE_FILES_MAX} .json files",
                        dir.display()
                    )));
                }
                paths.push(path);
            }
        }
        paths.sort();
        let mut responses = Vec::with_capacity(paths.len());
        for path in &paths {
            let unreadable = |error: String| {
                SpecError::new(format!("response file {}: {error}", path.display()))
            };
            let size = std::fs::metadata(path)
                .map_err(|error| unreadable(error.to_string()))?
                .len();
            if size > RESPONSE_FILE_BYTES_MAX {
                return Err(unreadable(format!(
                    "{size} bytes, above the {RESPONSE_FILE_BYTES_MAX}-byte limit"
                )));
            }
            let text = std::fs::read(path).map_err(|error| unreadable(error.to_string()))?;
            let response: Value =
                serde_json::from_slice(&text).map_err(|error| unreadable(error.to_string()))?;
            responses.push(response);
        }
        ResponseCorpus::from_responses(responses).map_err(|error| {
            SpecError::new(format!("response directory {}: {error}", dir.display()))
        })
    }

    /// Responses given in memory; there must be at least one, and each must be an object.
    pub fn from_responses(responses: Vec<Value>) -> Result<ResponseCorpus, SpecError> {
        if responses.is_empty() {
            return Err(SpecError::new("no responses (no .json file)"));
        }
        if let Some(position) = responses.iter().position(|response| !response.is_object()) {
            return Err(SpecError::new(format!(
                "response {position} is not a JSON object"
            )));
        }
        Ok(ResponseCorpus { responses })
    }

    pub fn len(&self) -> usize {
        self.responses.len()
    }

    /// Always false: a corpus is never empty; here because `len` is.
    pub fn is_empty(&self) -> bool {
        self.responses.is_empty()
    }

    fn get(&self, turn: usize) -> Option<&Value> {
        self.responses.get(turn % self.responses.len().max(1))
    }
}

/// Everything a mock bidder does; [`MockBidderConfig::default`] binds an ephemeral loopback
/// port and bids 1.0 CPM on every imp at once, without faults.
#[derive(Debug, Clone)]
pub struct MockBidderConfig {
    /// Where to listen; port 0 picks a free port (see [`MockBidderHandle::addr`]).
    pub listen: SocketAddr,
    pub latency: LatencySpec,
    /// Probability in [0, 1] that a request without a fault gets a bid (otherwise 204).
    pub bid_rate: f64,
    pub price: PriceSpec,
    /// Drawn in this order; shares must sum to at most 1, one entry per kind.
    pub faults: Vec<FaultShare>,
    /// Answer these in turn instead of generated bids.
    pub responses: Option<ResponseCorpus>,
    pub seed: u64,
    /// Most concurrent connections (one thread each), 1..=[`CONNECTIONS_MAX`].
    pub threads: usize,
}

impl Default for MockBidderConfig {
    fn default() -> MockBidderConfig {
        MockBidderConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            latency: LatencySpec::default(),
            bid_rate: 1.0,
            price: PriceSpec::default(),
            faults: Vec::new(),
            responses: None,
            seed: 1,
            threads: CONNECTIONS_MAX,
        }
    }
}

impl MockBidderConfig {
    /// Adds `kind` for `share` of requests (a shorthand for tests).
    pub fn with_fault(mut self, kind: FaultKind, share: f64) -> MockBidderConfig {
        self.faults.push(FaultShare { kind, share });
        self
    }

    /// Checks what the spec parsers cannot: ranges of plain numbers and the faults together.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !(0.0..=1.0).contains(&self.bid_rate) {
            return Err(SpecError::new(format!(
                "bid rate {} must be in [0, 1]",
                self.bid_rate
            )));
        }
        if !(1..=CONNECTIONS_MAX).contains(&self.threads) {
            return Err(SpecError::new(format!(
                "threads {} must be in 1..={CONNECTIONS_MAX}",
                self.threads
            )));
        }
        let mut total = 0.0;
        for (position, fault) in self.faults.iter().enumerate() {
            if !(0.0..=1.0).contains(&fault.share) {
                return Err(SpecError::new(format!(
                    "fault {fault}: share must be in [0, 1]"
                )));
            }
            if self.faults[..position].iter().any(|f| f.kind == fault.kind) {
                return Err(SpecError::new(format!(
                    "fault {} is given twice; give each kind once",
                    fault.kind
                )));
            }
            total += fault.share;
        }
        // A little slack, so that shares such as 0.1 x 10 that sum to 1.0000000000000002 in
        // floating point are accepted.
        if total > 1.0 + 1e-9 {
            return Err(SpecError::new(format!(
                "fault shares sum to {total}, above 1: a request draws at most one fault"
            )));
        }
        Ok(())
    }
}

/// What a mock bidder has done so far (`GET /stats` serves the same as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockBidderStats {
    /// Connections accepted and served.
    pub connections: u64,
    /// Connections refused with 503 because `threads` were busy.
    pub connections_rejected: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Bid requests (POSTs): the sum of the four counts below, faults included.
    pub requests: u64,
    /// Clean bid responses.
    pub bids: u64,
    /// 204 answers (bid rate, or no imp with an id).
    pub no_bids: u64,
    /// Answered 400: body not a JSON object, or no string `id`.
    pub bad_requests: u64,
    /// Requests by the fault drawn for them, every kind present.
    pub faults: BTreeMap<FaultKind, u64>,
}

impl MockBidderStats {
    /// Requests that drew `kind`.
    pub fn fault(&self, kind: FaultKind) -> u64 {
        self.faults.get(&kind).copied().unwrap_or(0)
    }
}

/// A running mock bidder; dropping it stops the bidder and joins its threads.
#[must_use = "dropping the handle stops the mock bidder at once"]
pub struct MockBidderHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl MockBidderHandle {
    /// The bound address (the actual port when the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, to append a path to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> MockBidderStats {
        self.shared.stats()
    }

    /// Stops the bidder, waits for every connection thread and returns the final counts.
    pub fn shutdown(mut self) -> MockBidderStats {
        self.stop();
        self.shared.stats()
    }

    fn stop(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        self.shared.request_stop();
        // The accept loop is blocked in `accept`; a connection of our own wakes it to see the
        // stop flag. If even that fails, the thread is left detached rather than hanging the
        // caller: it ends with the next connection or the process.
        if TcpStream::connect_timeout(&wake_addr(self.addr), WAKE_CONNECT_TIMEOUT).is_ok() {
            let _ = accept_thread.join();
        }
    }
}

impl Drop for MockBidderHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where to connect to reach a listener bound to `addr` (an unspecified address is reachable
/// on loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// Binds `config.listen` and serves on background threads until the handle is dropped.
/// An invalid config is an `InvalidInput` error.
pub fn spawn(config: MockBidderConfig) -> io::Result<MockBidderHandle> {
    config
        .validate()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let listener = TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        seat: format!("mock-{}", addr.port()),
        config,
        counters: Counters::default(),
        stopping: AtomicBool::new(false),
        stop_lock: Mutex::new(false),
        stop_signal: Condvar::new(),
        open: Mutex::new(HashMap::new()),
        active: AtomicUsize::new(0),
        next_response: AtomicUsize::new(0),
    });
    let accept_shared = Arc::clone(&shared);
    let accept_thread = thread::Builder::new()
        .name("mockbidder-accept".into())
        .spawn(move || accept_loop(&listener, &accept_shared))?;
    Ok(MockBidderHandle {
        addr,
        shared,
        accept_thread: Some(accept_thread),
    })
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    connections_rejected: AtomicU64,
    requests: AtomicU64,
    bids: AtomicU64,
    no_bids: AtomicU64,
    bad_requests: AtomicU64,
    faults: [AtomicU64; FaultKind::ALL.len()],
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// State shared by the accept thread, the connection threads and the handle.
struct Shared {
    config: MockBidderConfig,
    /// `seat` of generated bids: `mock-PORT`, so that a test with several bidders can tell
    /// whose bid won.
    seat: String,
    counters: Counters,
    /// Cheap to read on every request; `stop_lock` is the same flag for the condvar.
    stopping: AtomicBool,
    stop_lock: Mutex<bool>,
    /// Wakes simulated sleeps at stop.
    stop_signal: Condvar,
    /// A clone of every open connection's socket by accept index, to shut them down at stop.
    open: Mutex<HashMap<u64, TcpStream>>,
    /// Connection threads running, against `config.threads`.
    active: AtomicUsize,
    /// Next canned response of `config.responses`, shared so that files go round in turn.
    next_response: AtomicUsize,
}

/// A poisoned lock only means another connection thread panicked; the data (a flag, a map of
/// sockets) is still consistent, so carry on.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn request_stop(&self) {
        self.stopping.store(true, Ordering::Release);
        *lock(&self.stop_lock) = true;
        self.stop_signal.notify_all();
    }

    /// Sleeps for `duration` unless the bidder stops first; true if it is still running.
    fn pause(&self, duration: Duration) -> bool {
        if duration.is_zero() {
            return !self.is_stopping();
        }
        let deadline = Instant::now() + duration;
        let mut stopped = lock(&self.stop_lock);
        loop {
            if *stopped {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            stopped = match self.stop_signal.wait_timeout(stopped, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn draw_fault(&self, unit: f64) -> Option<FaultKind> {
        let mut cumulative = 0.0;
        for fault in &self.config.faults {
            cumulative += fault.share;
            if unit < cumulative {
                return Some(fault.kind);
            }
        }
        None
    }

    fn stats(&self) -> MockBidderStats {
        let counters = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MockBidderStats {
            connections: load(&counters.connections),
            connections_rejected: load(&counters.connections_rejected),
            connections_open: self.active.load(Ordering::Relaxed) as u64,
            requests: load(&counters.requests),
            bids: load(&counters.bids),
            no_bids: load(&counters.no_bids),
            bad_requests: load(&counters.bad_requests),
            faults: FaultKind::ALL
                .into_iter()
                .map(|kind| (kind, load(&counters.faults[kind.index()])))
                .collect(),
        }
    }
}

/// Releases a connection's slot and its socket clone when its thread ends, however it ends.
struct ConnectionGuard {
    shared: Arc<Shared>,
    index: u64,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        lock(&self.shared.open).remove(&self.index);
        self.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut next_index: u64 = 0;
    for incoming in listener.incoming() {
        if shared.is_stopping() {
            break;
        }
        let stream = match incoming {
            Ok(stream) => stream,
            Err(_) => {
                shared.pause(ACCEPT_ERROR_BACKOFF);
                continue;
            }
        };
        // Forget finished threads, so the list stays as long as the open connections.
        workers.retain(|worker| !worker.is_finished());
        if shared.active.load(Ordering::Acquire) >= shared.config.threads {
            bump(&shared.counters.connections_rejected);
            reject_connection(stream);
            continue;
        }
        let index = next_index;
        next_index += 1;
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.open).insert(index, clone);
        }
        shared.active.fetch_add(1, Ordering::AcqRel);
        bump(&shared.counters.connections);
        let guard = ConnectionGuard {
            shared: Arc::clone(shared),
            index,
        };
        let spawned = thread::Builder::new()
            .name(format!("mockbidder-conn-{index}"))
            .spawn(move || {
                serve_connection(stream, index, &guard.shared);
                drop(guard);
            });
        // If the thread could not start, the closure (stream and guard) was dropped with the
        // error: the connection is closed and its slot released.
        if let Ok(worker) = spawned {
            workers.push(worker);
        }
    }
    // No connection is registered after the loop, so this reaches every open one: shutting a
    // socket down wakes a thread blocked reading it, writing to it or holding it.
    for (_, stream) in lock(&shared.open).drain() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    for worker in workers {
        let _ = worker.join();
    }
}

/// Answers a connection over the cap without a thread: 503 and close. Any request it had
/// already sent is unread, so the close may be an RST; the client sees an error either way.
fn reject_connection(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(WRITE_STALL_MAX));
    let _ = write_response(
        &mut stream,
        503,
        "text/plain",
        b"mock bidder: too many connections\n",
        true,
    );
    let _ = stream.shutdown(Shutdown::Write);
}

/// What to do with the connection after a request.
enum After {
    KeepOpen,
    /// Close after a lingering drain (the peer asked for it, or the request was malformed).
    Close,
    /// Close at once (write failed, or the bidder is stopping).
    Drop,
    /// Close with an RST.
    Reset,
    /// Answer nothing; keep the connection until the peer closes it.
    Hold,
}

/// A parsed request head; strings are copied out so the buffer can be read into again.
struct RequestHead {
    method: String,
    path: String,
    head_len: usize,
    content_length: usize,
    keep_alive: bool,
    expect_continue: bool,
}

enum HeadOutcome {
    Ready(RequestHead),
    /// The peer closed (or the read failed) before a complete head.
    Closed,
    /// Answer this status and close.
    Reject(u16, &'static str),
}

fn serve_connection(mut stream: TcpStream, index: u64, shared: &Shared) {
    // Answers go out in one or a few writes each; Nagle would only delay trickled pieces.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_STALL_MAX));
    let mut rng = Rng::new(shared.config.seed ^ mix64(index));
    let mut buffer: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut request_index: u64 = 0;
    loop {
        if shared.is_stopping() {
            return;
        }
        let head = match read_head(&mut stream, &mut buffer) {
            HeadOutcome::Ready(head) => head,
            HeadOutcome::Closed => return,
            HeadOutcome::Reject(status, message) => {
                if write_response(&mut stream, status, "text/plain", message.as_bytes(), true)
                    .is_ok()
                {
                    linger_close(&mut stream);
                }
                return;
            }
        };
        let total = head.head_len + head.content_length;
        if head.expect_continue
            && buffer.len() < total
            && stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return;
        }
        if !read_at_least(&mut stream, &mut buffer, total) {
            return;
        }
        let body = buffer.get(head.head_len..total).unwrap_or_default();
        let route = head.path.split('?').next().unwrap_or_default();
        let close = !head.keep_alive;
        let after = match (head.method.as_str(), route) {
            ("GET", "/healthz") => respond(&mut stream, 200, "text/plain", b"ok\n", close),
            ("GET", "/stats") => {
                let stats = serde_json::to_vec(&shared.stats()).unwrap_or_default();
                respond(&mut stream, 200, "application/json", &stats, close)
            }
            ("POST", _) => {
                let context = RequestContext {
                    shared,
                    connection: index,
                    request: request_index,
                    close,
                };
                request_index += 1;
                handle_bid_request(&mut stream, &context, &mut rng, body)
            }
            ("GET", _) => respond(&mut stream, 404, "text/plain", b"not found\n", close),
            _ => respond(
                &mut stream,
                405,
                "text/plain",
                b"POST a bid request, or GET /healthz or /stats\n",
                close,
            ),
        };
        match after {
            After::KeepOpen => {}
            After::Close => {
                linger_close(&mut stream);
                return;
            }
            After::Drop => return,
            After::Reset => {
                // SO_LINGER 0 makes the last close of the socket (this thread's, or the guard
                // dropping the clone, whichever comes second) send an RST instead of a FIN.
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                return;
            }
            After::Hold => {
                hold(&stream, shared);
                return;
            }
        }
        buffer.drain(..total);
    }
}

/// Reads until `buffer` holds a complete request head and parses it.
fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> HeadOutcome {
    loop {
        if !buffer.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; REQUEST_HEADERS_MAX];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(buffer) {
                Ok(httparse::Status::Complete(head_len)) => {
                    if head_len > REQUEST_HEAD_BYTES_MAX {
                        return HeadOutcome::Reject(431, "request head too large\n");
                    }
                    return interpret_head(&request, head_len);
                }
                Ok(httparse::Status::Partial) => {
                    if buffer.len() >= REQUEST_HEAD_BYTES_MAX {
                        return HeadOutcome::Reject(431, "request head too large\n");
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return HeadOutcome::Reject(431, "too many request headers\n");
                }
                Err(_) => return HeadOutcome::Reject(400, "malformed request head\n"),
            }
        }
        if !read_more(stream, buffer) {
            return HeadOutcome::Closed;
        }
    }
}

fn interpret_head(request: &httparse::Request<'_, '_>, head_len: usize) -> HeadOutcome {
    // HTTP/1.1 keeps connections alive unless told otherwise; HTTP/1.0 only when told.
    let mut keep_alive = request.version == Some(1);
    let mut content_length: Option<usize> = None;
    let mut expect_continue = false;
    for header in request.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        let value = value.trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
                return HeadOutcome::Reject(400, "invalid Content-Length\n");
            }
            // All digits, so a parse error can only be an overflow: far above the cap.
            let length = value.parse::<usize>().unwrap_or(usize::MAX);
            if content_length.is_some_and(|previous| previous != length) {
                return HeadOutcome::Reject(400, "conflicting Content-Length headers\n");
            }
            content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return HeadOutcome::Reject(501, "Transfer-Encoding is not supported\n");
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',') {
                if token.trim().eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.trim().eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if header.name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > REQUEST_BODY_BYTES_MAX {
        return HeadOutcome::Reject(413, "request body too large\n");
    }
    HeadOutcome::Ready(RequestHead {
        method: request.method.unwrap_or_default().to_owned(),
        path: request.path.unwrap_or_default().to_owned(),
        head_len,
        content_length,
        keep_alive,
        expect_continue,
    })
}

/// One read appended to `buffer`; false when the peer closed or the read failed.
fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0_u8; READ_CHUNK_BYTES];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn read_at_least(stream: &mut TcpStream, buffer: &mut Vec<u8>, len: usize) -> bool {
    while buffer.len() < len {
        if !read_more(stream, buffer) {
            return false;
        }
    }
    true
}

/// Closes the write side, then discards what the peer still sends until it closes, for at
/// most [`LINGER_CLOSE_MAX`] and [`LINGER_DRAIN_BYTES_MAX`], so the answer is not lost to an
/// RST caused by unread bytes.
fn linger_close(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_CLOSE_MAX;
    let mut chunk = [0_u8; READ_CHUNK_BYTES];
    let mut drained = 0;
    while drained < LINGER_DRAIN_BYTES_MAX {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => drained += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Keeps a connection open without reading from it (a `timeout` fault) until the peer closes
/// it, the bidder stops (its socket is shut down, which ends the `peek`) or
/// [`TIMEOUT_HOLD_MAX`] passes. `peek` sees the close without consuming anything.
fn hold(stream: &TcpStream, shared: &Shared) {
    let start = Instant::now();
    let mut probe = [0_u8; 1];
    loop {
        let left = TIMEOUT_HOLD_MAX.saturating_sub(start.elapsed());
        if shared.is_stopping() || left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.peek(&mut probe) {
            Ok(0) => return,
            // The peer sent more; it stays unread, and hides a later close from `peek`, so
            // poll until the hold ends some other way.
            Ok(_) => {
                if !shared.pause(HOLD_POLL) {
                    return;
                }
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn response_head(status: u16, content_type: &str, body_len: usize, close: bool) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    // A 204 carries neither a body nor a Content-Length (RFC 9110 8.6).
    if status != 204 {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {body_len}\r\n"
        ));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn write_response(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    let mut response = response_head(status, content_type, body.len(), close);
    response.extend_from_slice(body);
    stream.write_all(&response)
}

/// Writes a response and says what follows: keep-alive, close, or drop after a failed write.
fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
) -> After {
    match write_response(stream, status, content_type, body, close) {
        Ok(()) if close => After::Close,
        Ok(()) => After::KeepOpen,
        Err(_) => After::Drop,
    }
}

/// Who is answering: for bid ids, the seat, and whether to close afterwards.
struct RequestContext<'a> {
    shared: &'a Shared,
    connection: u64,
    request: u64,
    close: bool,
}

fn handle_bid_request(
    stream: &mut TcpStream,
    context: &RequestContext<'_>,
    rng: &mut Rng,
    body: &[u8],
) -> After {
    let shared = context.shared;
    let counters = &shared.counters;
    bump(&counters.requests);
    let request: Value = match serde_json::from_slice(body) {
        Ok(request @ Value::Object(_)) => request,
        _ => {
            bump(&counters.bad_requests);
            return respond(
                stream,
                400,
                "text/plain",
                b"body is not a JSON object\n",
                true,
            );
        }
    };
    let Some(request_id) = request.get("id").and_then(Value::as_str) else {
        bump(&counters.bad_requests);
        return respond(
            stream,
            400,
            "text/plain",
            b"bid request has no string id\n",
            true,
        );
    };
    // Always the same draws in the same order, whatever they decide, so that a seed replays.
    let fault = shared.draw_fault(rng.unit());
    let latency = shared.config.latency.sample(rng);
    let wants_bid = rng.chance(shared.config.bid_rate);
    if let Some(fault) = fault {
        bump(&counters.faults[fault.index()]);
    }
    if fault == Some(FaultKind::Timeout) {
        return After::Hold;
    }
    if !shared.pause(latency) {
        return After::Drop;
    }
    let close = context.close;
    match fault {
        Some(FaultKind::Reset) => return After::Reset,
        Some(FaultKind::Garbage) => {
            return respond(stream, 200, "application/json", GARBAGE_BODY, close)
        }
        Some(FaultKind::ServerError) => {
            return respond(
                stream,
                500,
                "text/plain",
                b"mock internal server error\n",
                close,
            )
        }
        _ => {}
    }
    // Faults that shape a bid always bid; a request without a fault bids at the bid rate.
    let response = if fault.is_none() && !wants_bid {
        None
    } else {
        build_response(context, &request, request_id, rng, fault)
    };
    let Some(response) = response else {
        if fault.is_none() {
            bump(&counters.no_bids);
        }
        return respond(stream, 204, "", b"", close);
    };
    if fault.is_none() {
        bump(&counters.bids);
    }
    match fault {
        Some(FaultKind::Trickle) => {
            let body = serde_json::to_vec(&response).unwrap_or_default();
            write_trickled(stream, shared, &body, close)
        }
        Some(FaultKind::Oversized) => {
            let body = oversized_body(response);
            respond(stream, 200, "application/json", &body, close)
        }
        _ => {
            let body = serde_json::to_vec(&response).unwrap_or_default();
            respond(stream, 200, "application/json", &body, close)
        }
    }
}

/// The imps bid on: the first [`IMPS_MAX`] of the request.
fn imps(request: &Value) -> &[Value] {
    let imps = request
        .get("imp")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    imps.get(..IMPS_MAX).unwrap_or(imps)
}

fn imp_floor(request: &Value, imp_id: &str) -> f64 {
    imps(request)
        .iter()
        .find(|imp| imp.get("id").and_then(Value::as_str) == Some(imp_id))
        .and_then(|imp| imp.get("bidfloor"))
        .and_then(Value::as_f64)
        .filter(|floor| floor.is_finite() && *floor > 0.0)
        .unwrap_or(0.0)
}

/// The currencies the request allows: its `cur`, or USD (OpenRTB's default) without one.
fn allowed_currencies(request: &Value) -> Vec<&str> {
    let listed: Vec<&str> = request
        .get("cur")
        .and_then(Value::as_array)
        .map(|cur| cur.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if listed.is_empty() {
        vec!["USD"]
    } else {
        listed
    }
}

/// A bid response for `request` (generated, or the next canned one), with the fault's changes
/// made; `None` when there is nothing to bid on.
fn build_response(
    context: &RequestContext<'_>,
    request: &Value,
    request_id: &str,
    rng: &mut Rng,
    fault: Option<FaultKind>,
) -> Option<Value> {
    let shared = context.shared;
    let mut response = match &shared.config.responses {
        Some(corpus) => {
            let first_imp = imps(request)
                .first()
                .and_then(|imp| imp.get("id"))
                .and_then(Value::as_str)?;
            let turn = shared.next_response.fetch_add(1, Ordering::Relaxed);
            let mut response = corpus.get(turn)?.clone();
            set_field(&mut response, "id", Value::from(request_id));
            for_each_bid(&mut response, |bid| {
                bid.insert("impid".into(), Value::from(first_imp));
            });
            response
        }
        None => generated_response(context, request, request_id, rng)?,
    };
    // Floors, checked after either source: raise a price under its imp's floor to just above
    // it, or for `below-floor` put it at half the floor, truncated so it stays strictly below.
    for_each_bid(&mut response, |bid| {
        let impid = bid.get("impid").and_then(Value::as_str).unwrap_or_default();
        let floor = imp_floor(request, impid);
        let price = bid.get("price").and_then(Value::as_f64).unwrap_or(0.0);
        if fault == Some(FaultKind::BelowFloor) && floor > 0.0 {
            let below = (floor * 0.5 * 10_000.0).floor() / 10_000.0;
            bid.insert("price".into(), Value::from(below));
        } else if price < floor {
            bid.insert("price".into(), Value::from(round_price(floor + 0.01)));
        }
    });
    match fault {
        Some(FaultKind::UnknownImp) => {
            let known: Vec<&str> = imps(request)
                .iter()
                .filter_map(|imp| imp.get("id").and_then(Value::as_str))
                .collect();
            let mut unknown = String::from("mock-unknown-imp");
            while known.contains(&unknown.as_str()) {
                unknown.push_str("-x");
            }
            let mut first = true;
            for_each_bid(&mut response, |bid| {
                if std::mem::take(&mut first) {
                    bid.insert("impid".into(), Value::from(unknown.as_str()));
                }
            });
        }
        Some(FaultKind::WrongCurrency) => {
            let allowed = allowed_currencies(request);
            let wrong = ["JPY", "XXX", "ZZZ"]
                .into_iter()
                .find(|cur| !allowed.contains(cur))
                .unwrap_or("ZZZ");
            set_field(&mut response, "cur", Value::from(wrong));
        }
        _ => {}
    }
    Some(response)
}

/// Sets a top-level field; responses are objects (generated, or checked at load), and
/// anything else is left alone rather than indexed into a panic.
fn set_field(response: &mut Value, name: &str, value: Value) {
    if let Some(fields) = response.as_object_mut() {
        fields.insert(name.to_owned(), value);
    }
}

/// Calls `apply` on every bid object of `response.seatbid[].bid[]`.
fn for_each_bid(response: &mut Value, mut apply: impl FnMut(&mut Map<String, Value>)) {
    let Some(seatbids) = response.get_mut("seatbid").and_then(Value::as_array_mut) else {
        return;
    };
    for seatbid in seatbids {
        let Some(bids) = seatbid.get_mut("bid").and_then(Value::as_array_mut) else {
            continue;
        };
        for bid in bids.iter_mut().filter_map(Value::as_object_mut) {
            apply(bid);
        }
    }
}

/// The media of an imp, for its markup, size and 2.6 `mtype`. Banner first, as a
/// multi-format imp accepting a banner is most often a banner slot.
enum Media {
    Banner,
    Video,
    Audio,
    Native,
}

impl Media {
    fn of(imp: &Value) -> Media {
        if imp.get("banner").is_some_and(Value::is_object) {
            Media::Banner
        } else if imp.get("video").is_some_and(Value::is_object) {
            Media::Video
        } else if imp.get("audio").is_some_and(Value::is_object) {
            Media::Audio
        } else if imp.get("native").is_some_and(Value::is_object) {
            Media::Native
        } else {
            Media::Banner
        }
    }

    fn mtype(&self) -> u64 {
        match self {
            Media::Banner => 1,
            Media::Video => 2,
            Media::Audio => 3,
            Media::Native => 4,
        }
    }
}

fn size_of(value: Option<&Value>) -> Option<(u64, u64)> {
    let value = value?;
    let w = value.get("w").and_then(Value::as_u64)?;
    let h = value.get("h").and_then(Value::as_u64)?;
    Some((w, h))
}

/// The creative size: the banner's w/h or its first format, or the video's w/h.
fn imp_size(imp: &Value, media: &Media) -> Option<(u64, u64)> {
    match media {
        Media::Banner => {
            let banner = imp.get("banner");
            size_of(banner).or_else(|| {
                size_of(
                    banner
                        .and_then(|banner| banner.get("format"))
                        .and_then(Value::as_array)
                        .and_then(|formats| formats.first()),
                )
            })
        }
        Media::Video => size_of(imp.get("video")),
        Media::Audio | Media::Native => None,
    }
}

fn markup(media: &Media, size: Option<(u64, u64)>) -> String {
    match media {
        Media::Banner => "<div>mock ad ${AUCTION_PRICE}</div>".to_owned(),
        Media::Video | Media::Audio => {
            let (w, h) = size.unwrap_or((640, 480));
            let (media_type, dimensions) = match media {
                Media::Audio => ("audio/mpeg", String::new()),
                _ => ("video/mp4", format!(" width=\"{w}\" height=\"{h}\"")),
            };
            format!(
                "<VAST version=\"4.0\"><Ad id=\"mock\"><InLine><AdSystem>mock</AdSystem>\
                 <AdTitle>mock</AdTitle>\
                 <Impression><![CDATA[http://127.0.0.1/mock/imp?price=${{AUCTION_PRICE}}]]></Impression>\
                 <Creatives><Creative><Linear><Duration>00:00:15</Duration><MediaFiles>\
                 <MediaFile delivery=\"progressive\" type=\"{media_type}\"{dimensions}>\
                 <![CDATA[http://127.0.0.1/mock/creative]]></MediaFile></MediaFiles></Linear>\
                 </Creative></Creatives></InLine></Ad></VAST>"
            )
        }
        Media::Native => NATIVE_MARKUP.to_owned(),
    }
}

/// One bid per imp with an id (up to [`IMPS_MAX`]); `None` when there is none.
fn generated_response(
    context: &RequestContext<'_>,
    request: &Value,
    request_id: &str,
    rng: &mut Rng,
) -> Option<Value> {
    let shared = context.shared;
    let mut bids = Vec::new();
    for (position, imp) in imps(request).iter().enumerate() {
        let Some(imp_id) = imp.get("id").and_then(Value::as_str) else {
            continue;
        };
        let media = Media::of(imp);
        let size = imp_size(imp, &media);
        let mut bid = json!({
            "id": format!("mock-{}-{}-{position}", context.connection, context.request),
            "impid": imp_id,
            "price": shared.config.price.sample(rng),
            "adid": "mock-ad-1",
            "crid": "mock-creative-1",
            "adomain": ["mock-advertiser.example"],
            "cat": ["IAB1"],
            "mtype": media.mtype(),
            "nurl": NURL,
            "adm": markup(&media, size),
        });
        if let (Some((w, h)), Some(fields)) = (size, bid.as_object_mut()) {
            fields.insert("w".into(), Value::from(w));
            fields.insert("h".into(), Value::from(h));
        }
        bids.push(bid);
    }
    if bids.is_empty() {
        return None;
    }
    let cur = allowed_currencies(request)
        .first()
        .copied()
        .unwrap_or("USD");
    Some(json!({
        "id": request_id,
        "cur": cur,
        "seatbid": [{"seat": shared.seat, "bid": bids}],
    }))
}

/// `response` serialized and padded to [`OVERSIZED_BODY_BYTES`] with a string in `ext`, so it
/// stays valid JSON that only its size makes wrong.
fn oversized_body(mut response: Value) -> Vec<u8> {
    let Some(fields) = response.as_object_mut() else {
        return Vec::new();
    };
    let ext = fields
        .entry("ext")
        .or_insert_with(|| Value::Object(Map::new()));
    if !ext.is_object() {
        *ext = Value::Object(Map::new());
    }
    let unpadded = serde_json::to_vec(&response).map_or(0, |body| body.len());
    let padding = "x".repeat(OVERSIZED_BODY_BYTES.saturating_sub(unpadded));
    if let Some(ext) = response.get_mut("ext").and_then(Value::as_object_mut) {
        ext.insert("mock_padding".into(), Value::from(padding));
    }
    serde_json::to_vec(&response).unwrap_or_default()
}

/// Sends the head at once, then the body in [`TRICKLE_STEPS`] pieces spread over
/// [`TRICKLE_DURATION`]: a client that times only the first byte is fooled, one that times
/// the whole response is not.
fn write_trickled(stream: &mut TcpStream, shared: &Shared, body: &[u8], close: bool) -> After {
    let head = response_head(200, "application/json", body.len(), close);
    if stream.write_all(&head).is_err() {
        return After::Drop;
    }
    let piece = body.len().div_ceil(TRICKLE_STEPS as usize).max(1);
    let interval = TRICKLE_DURATION / TRICKLE_STEPS;
    for (position, chunk) in body.chunks(piece).enumerate() {
        if position > 0 && !shared.pause(interval) {
            return After::Drop;
        }
        if stream.write_all(chunk).is_err() {
            return After::Drop;
        }
    }
    if close {
        After::Close
    } else {
        After::KeepOpen
    }
}
