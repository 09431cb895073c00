//! The ways a mock bidder misbehaves, as real bidders do: silence, resets, garbage, 500s,
//! trickled or oversized bodies, bids on unknown imps, in a currency not allowed, under the
//! floor. This module names them (`--fault KIND:SHARE`), draws at most one per request, and
//! carries out the ones that are about the connection rather than the bid (holding it,
//! trickling, padding); the bid-shaping ones are edits of the response in `bids`.

use std::fmt;
use std::io::{self, Write};
use std::net::TcpStream;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::http::{response_head, After};
use super::server::Shared;
use super::spec::SpecError;

/// Longest a `timeout` fault holds its connection when the peer neither closes it nor the
/// server stops (e.g. the peer pipelined more bytes, which hide its close from `peek`).
pub const TIMEOUT_HOLD_MAX: Duration = Duration::from_secs(600);

/// How long a `trickle` body takes from its first byte to its last.
pub const TRICKLE_DURATION: Duration = Duration::from_millis(200);

/// In how many pieces a `trickle` body is sent (5 ms apart, a few bytes each for a usual bid).
pub const TRICKLE_STEPS: u32 = 40;

/// Size of an `oversized` body: four times the body cap usual on both sides of OpenRTB.
pub const OVERSIZED_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Pause between `peek`s while a held connection has unread bytes pending.
const HOLD_POLL: Duration = Duration::from_millis(50);

/// Body of a `garbage` fault: looks like a truncated object, is not JSON.
pub(super) const GARBAGE_BODY: &[u8] =
    b"<html><body>mock garbage {\"id\": \"not JSON</body></html>\n";

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

    pub(super) fn index(self) -> usize {
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

/// Keeps a connection open without reading from it (a `timeout` fault) until the peer closes
/// it, the bidder stops (its socket is shut down, which ends the `peek`) or
/// [`TIMEOUT_HOLD_MAX`] passes. `peek` sees the close without consuming anything.
pub(super) fn hold(stream: &TcpStream, shared: &Shared) {
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

/// `response` serialized and padded to [`OVERSIZED_BODY_BYTES`] with a string in `ext`, so it
/// stays valid JSON that only its size makes wrong.
pub(super) fn oversized_body(mut response: Value) -> Vec<u8> {
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
pub(super) fn write_trickled(
    stream: &mut TcpStream,
    shared: &Shared,
    body: &[u8],
    close: bool,
) -> After {
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

/// The fault a request gets for a uniform draw `unit` in [0, 1): the shares are laid end to end
/// in their configured order, and a draw past their sum gets none.
pub(super) fn draw(faults: &[FaultShare], unit: f64) -> Option<FaultKind> {
    let mut cumulative = 0.0;
    for fault in faults {
        cumulative += fault.share;
        if unit < cumulative {
            return Some(fault.kind);
        }
    }
    None
}
