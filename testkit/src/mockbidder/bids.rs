//! The bid responses a mock bidder answers: one generated bid per imp (its media, size,
//! price, markup with `${AUCTION_PRICE}`), or the next canned response with its ids rewritten;
//! then floors applied and the bid-shaping faults (`unknown-imp`, `wrong-currency`,
//! `below-floor`) edited in. Requests and responses are `serde_json::Value`: a mock bidder must
//! read whatever a client sends, valid or not, and its cost does not matter.

use std::sync::atomic::Ordering;

use adshard_tools::rng::Rng;
use serde_json::{json, Map, Value};

use super::faults::FaultKind;
use super::server::RequestContext;
use super::spec::round_price;

/// Most imps bid on per request (the first ones); real requests carry a handful, and the cap
/// keeps a small request full of tiny imps from producing a response of tens of megabytes.
pub const IMPS_MAX: usize = 100;

/// Win notice URL of generated bids; `${AUCTION_PRICE}` is the macro the exchange substitutes.
const NURL: &str = "http://127.0.0.1/mock/win?price=${AUCTION_PRICE}";

/// `adm` of a bid on a native imp: the smallest native 1.2 response object.
const NATIVE_MARKUP: &str = concat!(
    r#"{"native":{"ver":"1.2","link":{"url":"http://mock-advertiser.example"},"#,
    r#""assets":[]}}"#
);

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
pub(super) fn build_response(
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
