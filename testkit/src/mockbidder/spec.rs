//! What a mock bidder is asked to do: the latency and price distributions and fault shares of
//! the command line (`fixed:20ms`, `uniform:0.5:3.0`, `timeout:0.01`), the canned responses of
//! `--responses`, and [`MockBidderConfig`], which gathers them and checks what the parsers
//! alone cannot. Everything here is plain data, parsed or refused with a sentence saying why
//! before a socket is bound.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use adshard_tools::rng::Rng;
use serde_json::Value;

use super::faults::{FaultKind, FaultShare};

/// Most concurrent connections (one thread each): enough for any benchmark against one mock
/// bidder, and small enough that a runaway client cannot exhaust the machine's threads.
pub const CONNECTIONS_MAX: usize = 1024;

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

/// A spec or configuration that cannot be used, with a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    message: String,
}

impl SpecError {
    pub(super) fn new(message: impl Into<String>) -> SpecError {
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

pub(super) fn round_price(price: f64) -> f64 {
    (price * 10_000.0).round() / 10_000.0
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

    pub(super) fn get(&self, turn: usize) -> Option<&Value> {
        self.responses.get(turn % self.responses.len().max(1))
    }
}

/// Everything a mock bidder does; [`MockBidderConfig::default`] binds an ephemeral loopback
/// port and bids 1.0 CPM on every imp at once, without faults.
#[derive(Debug, Clone)]
pub struct MockBidderConfig {
    /// Where to listen; port 0 picks a free port (see
    /// [`MockBidderHandle::addr`](super::MockBidderHandle::addr)).
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
    /// Send bid responses (200s with a bid) with `Transfer-Encoding: chunked` instead of a
    /// Content-Length, as many real DSPs' HTTP servers do when they stream their JSON.
    pub chunked: bool,
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
            chunked: false,
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
