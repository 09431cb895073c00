//! OpenRTB at the edge: borrowed wire types, validation with field paths, and conversion into
//! the engine's own compact [`AdRequest`] (module `adrequest`). Only this module knows the JSON
//! shape of a bid request; the decision code sees `AdRequest` alone.
//!
//! The life of a body in [`parse_bid_request`]:
//! 1. `wire`: the JSON fast path (`fastjson`'s reader behind serde's `Deserializer`) fills a [`wire::BidRequest`] in place, borrowing strings from the body. It
//!    accepts a strict subset of what serde_json accepts and reads it into the same values;
//!    anything else (an exponent, a long mantissa, deep nesting, any error) is read again by
//!    serde_json, the reference. Only if serde_json fails too is the body parsed a third time
//!    with serde_path_to_error, to name the field.
//! 2. `validate`: one pass over the wire types checks what serde cannot (required fields, ranges,
//!    cross-field rules, the Native request inside `imp.native.request`). The field path of an
//!    error is assembled only when a check fails.
//! 3. `fill`: the wire types are copied into the reused [`AdRequest`].
//!
//! What still allocates per request, after a shard's `AdRequest` has warmed up:
//! - the fast path's scratch buffer, which grows by doubling whenever it unescapes a string the
//!   engine reads: the Native request string, which is always escaped (its quotes), costs about
//!   one allocation per doubling up to its length (8 for 1 KB). Skipped values cost nothing
//!   (serde_json's skipping grows its buffer for any value nested two deep, such as
//!   `ext.prebid`, which was one allocation for most requests).
//! - an owned `String` for every JSON string that contains escape sequences, since the body is
//!   immutable and cannot be unescaped in place.
//! - a body off the fast path pays serde_json's allocations, as above.
//! - a `Vec` for every list longer than the entries a [`wire::List`] holds inline (a second
//!   impression, a ninth `bcat` entry...).
//! - on the error path only: the serde_path_to_error re-parse and the `RequestError` strings.
//!
//! The conversion into `AdRequest` itself allocates nothing once its buffers have grown to the
//! shard's largest request (tested with a counting allocator in
//! `engine/tests/openrtb_alloc_after_warmup.rs`).
//!
//! Strictness: unknown fields, every `ext` and every field the engine does not use are ignored,
//! never rejected, whatever their type; numbers the spec defines as floats accept integers; a field
//! the engine uses with the wrong JSON type is a 400 naming the field. Validation follows the rules
//! of Prebid Server's request validation where they agree with the spec (see `validate` for the
//! cases where we differ and why).
//!
//! Why serde_json and not a SIMD parser: `bench/benches/json_parse.rs` deserialized the same wire
//! types (then derived, with every spec field) with sonic-rs 16-22% faster and with simd-json (on a
//! copy of the body) 28-44% faster. But neither bounds the nesting depth of the values it skips
//! (unknown fields, `ext`): a body of 100,000 nested brackets in `ext` overflows the stack and
//! aborts the process, where serde_json stops at its recursion limit of 128. A depth pre-scan in
//! front of sonic-rs costs more than sonic-rs saves (measured: ~30k instructions for a 1.6 KB body
//! against a ~23k saving), and sonic-rs does not validate skipped values either. So serde_json it
//! is: bounded, validating, mature.
//!
//! Why a fast path of our own in front of it (2026-11-23): on the `compare-nginx` banner against
//! 10k campaigns, parsing was over half of the request's instructions (37.3k of 69.2k under
//! callgrind), most of it serde_json's general machinery rather than work. The fast path reads
//! the same wire types through the same serde visitors, bounds depth, skips values in one loop
//! and validates what it skips as serde_json does; it brought the parse to 29.6k instructions and
//! the request to 61.5k. Everything it does not do exactly as serde_json does, it hands back, so
//! serde_json still decides every body the fast path cannot, and words every error. Later the
//! same day it found string ends sixteen bytes at a time (`json::scan`). A third fill path
//! without serde's visitors (`direct`) saved about 1% of a request's instructions (0.6k of
//! 68.0k on the traffic file, 0.6k of 52.5k on the banner) and was folded away in the round-two
//! restructure: one fill path fewer to keep equal to serde_json was worth more than 1%.

pub(crate) mod fastjson;
mod fill;
pub mod native;
mod validate;
pub mod wire;

use std::fmt;

use crate::adrequest::AdRequest;
pub use fill::{fill_ad_request, micros_from_f64};
pub use validate::validate;

/// Assets per Native request: a native ad has fewer than ten. Bounds the quadratic duplicate
/// asset-id check.
pub const NATIVE_ASSETS_MAX: usize = 64;

/// Largest body `parse_bid_request` accepts: `AdRequest` addresses its text arena with `u32`
/// offsets, and unescaped strings never outgrow the body they came from. The HTTP layer's own
/// body limit is far smaller.
pub const BODY_BYTES_MAX: usize = u32::MAX as usize;

/// Why a bid request was rejected: the offending field as a path (`imp[0].banner.w`) and a
/// sentence a client can act on. Built only on the error path, so it may allocate.
///
/// `field` is `"body"` when the body as a whole is at fault (not JSON, not an object, too large).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub field: String,
    pub reason: String,
}

impl RequestError {
    fn body(reason: impl Into<String>) -> Self {
        RequestError {
            field: "body".to_owned(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for RequestError {}

/// Parses and validates an OpenRTB 2.5/2.6 bid request body into `out` (cleared first).
///
/// On error `out` is left cleared. Never panics, whatever the body.
pub fn parse_bid_request(body: &[u8], out: &mut AdRequest) -> Result<(), RequestError> {
    out.clear();
    let mut request = wire::BidRequest::default();
    fill_wire(body, &mut request)?;
    validate(&request)?;
    fill_ad_request(&request, out);
    Ok(())
}

/// Step 1 of [`parse_bid_request`] alone: deserializes `body` into the borrowed wire types,
/// without validating them.
pub fn parse_wire(body: &[u8]) -> Result<wire::BidRequest<'_>, RequestError> {
    let mut request = wire::BidRequest::default();
    fill_wire(body, &mut request)?;
    Ok(request)
}

/// Fills `request` in place, which spares moving it out of a return value.
fn fill_wire<'a>(body: &'a [u8], request: &mut wire::BidRequest<'a>) -> Result<(), RequestError> {
    if body.len() > BODY_BYTES_MAX {
        return Err(RequestError::body(format!(
            "is larger than {BODY_BYTES_MAX} bytes"
        )));
    }
    wire::fill_from_slice(body, request).map_err(|error| {
        if error.path.is_empty() {
            RequestError::body(format!(
                "is not a JSON bid request object: {}",
                error.message
            ))
        } else {
            RequestError {
                field: error.path,
                reason: error.message,
            }
        }
    })
}
