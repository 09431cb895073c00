//! Step 3 of `parse_bid_request`: the validated wire types are copied into the reused
//! [`AdRequest`], the engine's own vocabulary (`adrequest`). The wire's choices are made here,
//! once (which field a domain comes from, which of three ids keys the user, how a float floor
//! becomes micro-units), so that no decision code has to know them.

use std::fmt;
use std::net::IpAddr;

use super::wire::{self, BidRequest, Str};
use crate::adrequest::{
    AdRequest, AuctionType, AudioSpec, Buffers, Context, ContextKind, CountryCode, Device,
    FlexSize, Imp, ListRef, MediaKinds, Size, TextRef, User, UserKey, UserKeySource, VideoSpec,
};
use crate::currency::Currency;

/// Copies a bid request into `out`, which should be cleared first (it is appended to).
///
/// Expects a request that passed [`validate`](super::validate): values validation would reject
/// (negative sizes, out-of-range codes) are clamped or skipped here rather than trusted.
pub fn fill_ad_request(request: &BidRequest<'_>, out: &mut AdRequest) {
    out.id.push_str(wire::text(&request.id));
    out.tmax_ms = request.tmax.filter(|&ms| ms > 0).map(saturating_u32);
    out.auction_type = match request.at {
        None | Some(2) => AuctionType::SecondPrice,
        Some(1) => AuctionType::FirstPrice,
        Some(code) => AuctionType::ExchangeSpecific(saturating_u32(code)),
    };
    out.test = request.test.unwrap_or(0) != 0;
    out.extend_currencies(request.cur.iter().filter_map(|code| Currency::parse(code)));

    for imp in request.imp.iter() {
        let converted = convert_imp(imp, out.buffers_mut());
        out.push_imp(converted);
    }
    out.context = convert_context(request, out.buffers_mut());
    out.device = convert_device(request, out.buffers_mut());
    out.user = convert_user(request, out.buffers_mut());
    out.bcat = out
        .buffers_mut()
        .push_texts(request.bcat.iter().map(Str::as_str));
    out.badv = out
        .buffers_mut()
        .push_texts(request.badv.iter().map(Str::as_str));
    out.bapp = out
        .buffers_mut()
        .push_texts(request.bapp.iter().map(Str::as_str));
    if let Some(regs) = &request.regs {
        out.coppa = regs.coppa.unwrap_or(0) != 0;
        out.gdpr = regs.gdpr.unwrap_or(0) != 0;
    }
    out.user_key = user_key(out);
}

fn convert_imp(imp: &wire::Imp<'_>, buffers: &mut Buffers) -> Imp {
    let mut media = MediaKinds::default();
    let mut converted = Imp {
        id: buffers.push_text(wire::text(&imp.id)),
        bidfloor_micros: imp.bidfloor.and_then(micros_from_f64).unwrap_or(0).max(0),
        bidfloor_currency: Currency::parse(wire::text(&imp.bidfloorcur)).unwrap_or_default(),
        secure: imp.secure.unwrap_or(0) != 0,
        interstitial: imp.instl.unwrap_or(0) != 0,
        tagid: buffers.push_text(wire::text(&imp.tagid)),
        ..Imp::default()
    };

    if let Some(banner) = &imp.banner {
        media.insert(MediaKinds::BANNER);
        let (sizes, flex_sizes) = convert_sizes(banner, buffers);
        converted.sizes = sizes;
        converted.flex_sizes = flex_sizes;
    }
    if let Some(video) = &imp.video {
        media.insert(MediaKinds::VIDEO);
        let mimes = buffers.push_texts(video.mimes.iter().map(Str::as_str));
        let protocols = match &video.protocols {
            Some(protocols) => buffers.push_codes(protocols.iter().copied()),
            None => buffers.push_codes(video.protocol),
        };
        converted.video = Some(VideoSpec {
            mimes,
            protocols,
            minduration_s: video.minduration.map_or(0, saturating_u32),
            maxduration_s: video.maxduration.map_or(0, saturating_u32),
            w: video.w.map_or(0, saturating_u32),
            h: video.h.map_or(0, saturating_u32),
        });
    }
    if let Some(audio) = &imp.audio {
        media.insert(MediaKinds::AUDIO);
        let mimes = buffers.push_texts(audio.mimes.iter().map(Str::as_str));
        let protocols = buffers.push_codes(wire::list(&audio.protocols).iter().copied());
        converted.audio = Some(AudioSpec {
            mimes,
            protocols,
            minduration_s: audio.minduration.map_or(0, saturating_u32),
            maxduration_s: audio.maxduration.map_or(0, saturating_u32),
        });
    }
    if imp.native.is_some() {
        media.insert(MediaKinds::NATIVE);
    }
    converted.media = media;

    let battr_lists = [
        imp.banner.as_ref().map(|banner| &banner.battr),
        imp.video.as_ref().map(|video| &video.battr),
        imp.audio.as_ref().map(|audio| &audio.battr),
        imp.native.as_ref().map(|native| &native.battr),
    ];
    let battr = battr_lists
        .into_iter()
        .flatten()
        .flat_map(|list| list.iter().copied());
    converted.battr = buffers.push_code_set(battr);

    if let Some(pmp) = &imp.pmp {
        converted.private_auction = pmp.private_auction.unwrap_or(0) != 0;
        let deal_ids = pmp
            .deals
            .iter()
            .filter_map(|deal| deal.id.as_ref().map(Str::as_str));
        converted.deal_ids = buffers.push_texts(deal_ids);
    }
    converted
}

fn convert_sizes(
    banner: &wire::Banner,
    buffers: &mut Buffers,
) -> (ListRef<Size>, ListRef<FlexSize>) {
    let size = |w: Option<i64>, h: Option<i64>| Size {
        w: w.map_or(0, saturating_u32),
        h: h.map_or(0, saturating_u32),
    };
    let mut sizes = buffers.banner_sizes();
    sizes.push_size(size(banner.w, banner.h));
    for format in banner.format.iter() {
        if format.w.unwrap_or(0) > 0 || format.h.unwrap_or(0) > 0 {
            sizes.push_size(size(format.w, format.h));
        } else {
            sizes.push_flex_size(FlexSize {
                wmin: format.wmin.map_or(0, saturating_u32),
                wratio: format.wratio.map_or(0, saturating_u32),
                hratio: format.hratio.map_or(0, saturating_u32),
            });
        }
    }
    sizes.finish()
}

fn convert_context(request: &BidRequest<'_>, buffers: &mut Buffers) -> Context {
    let publisher_id = |buffers: &mut Buffers, publisher: &Option<wire::Publisher<'_>>| {
        buffers.push_text(publisher.as_ref().map_or("", |p| wire::text(&p.id)))
    };
    let categories = |buffers: &mut Buffers, lists: [&[Str<'_>]; 3]| {
        buffers.push_texts(lists.into_iter().flatten().map(Str::as_str))
    };

    if let Some(site) = &request.site {
        let page = buffers.push_text(wire::text(&site.page));
        let domain = match wire::text(&site.domain) {
            "" => {
                let host = host_of(buffers.text(page));
                buffers.sub_text(page, host)
            }
            domain => buffers.push_text(domain),
        };
        return Context {
            kind: ContextKind::Site,
            id: buffers.push_text(wire::text(&site.id)),
            domain,
            page,
            bundle: TextRef::default(),
            publisher_id: publisher_id(buffers, &site.publisher),
            categories: categories(buffers, [&site.cat, &site.sectioncat, &site.pagecat]),
        };
    }
    if let Some(app) = &request.app {
        return Context {
            kind: ContextKind::App,
            id: buffers.push_text(wire::text(&app.id)),
            domain: buffers.push_text(wire::text(&app.domain)),
            page: TextRef::default(),
            bundle: buffers.push_text(wire::text(&app.bundle)),
            publisher_id: publisher_id(buffers, &app.publisher),
            categories: categories(buffers, [&app.cat, &app.sectioncat, &app.pagecat]),
        };
    }
    if let Some(dooh) = &request.dooh {
        return Context {
            kind: ContextKind::Dooh,
            id: buffers.push_text(wire::text(&dooh.id)),
            domain: buffers.push_text(wire::text(&dooh.domain)),
            publisher_id: publisher_id(buffers, &dooh.publisher),
            ..Context::default()
        };
    }
    Context::default()
}

/// The host of a URL, or of a bare `host/path` as some sites send: what lies between the scheme
/// and the first `/`, `?`, `#` or `:`; user info is dropped.
fn host_of(url: &str) -> &str {
    let url = url.trim();
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host_port.split(':').next().unwrap_or("")
}

fn convert_device(request: &BidRequest<'_>, buffers: &mut Buffers) -> Device {
    let geo = request
        .device
        .as_ref()
        .and_then(|device| device.geo.as_ref())
        .or_else(|| request.user.as_ref().and_then(|user| user.geo.as_ref()));
    let mut converted = Device {
        country: geo.and_then(|geo| CountryCode::parse(wire::text(&geo.country))),
        region: buffers.push_text(geo.map_or("", |geo| wire::text(&geo.region))),
        ..Device::default()
    };
    let Some(device) = &request.device else {
        return converted;
    };
    converted.device_type = device
        .devicetype
        .and_then(|code| u8::try_from(code).ok())
        .filter(|&code| code != 0);
    converted.os = buffers.push_text(wire::text(&device.os));
    converted.has_user_agent = !wire::text(&device.ua).is_empty() || device.sua.is_some();
    converted.ifa = buffers.push_text(wire::text(&device.ifa));
    converted.ip = [&device.ip, &device.ipv6]
        .into_iter()
        .find_map(|ip| wire::text(ip).trim().parse::<IpAddr>().ok());
    converted.limit_ad_tracking = device.lmt.unwrap_or(0) != 0;
    converted.do_not_track = device.dnt.unwrap_or(0) != 0;
    converted
}

fn convert_user(request: &BidRequest<'_>, buffers: &mut Buffers) -> User {
    let Some(user) = &request.user else {
        return User::default();
    };
    let segment_ids = user
        .data
        .iter()
        .flat_map(|data| data.segment.iter())
        .filter_map(|segment| segment.id.as_ref().map(Str::as_str));
    User {
        id: buffers.push_text(wire::text(&user.id)),
        buyeruid: buffers.push_text(wire::text(&user.buyeruid)),
        segment_ids: buffers.push_texts(segment_ids),
    }
}

/// user.id, else user.buyeruid, else device.ifa. An IFA of only zeros is what iOS and Android
/// send when the user limits tracking; using it would route every such user to one shard and
/// make them share one frequency cap, so it counts as no key.
fn user_key(request: &AdRequest) -> Option<UserKey> {
    let candidates = [
        (UserKeySource::UserId, request.user.id),
        (UserKeySource::BuyerUid, request.user.buyeruid),
        (UserKeySource::Ifa, request.device.ifa),
    ];
    candidates.into_iter().find_map(|(source, text)| {
        let value = request.text(text).trim();
        let zeroed = source == UserKeySource::Ifa && value.bytes().all(|b| b == b'0' || b == b'-');
        (!value.is_empty() && !zeroed).then_some(UserKey { source, text })
    })
}

fn saturating_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// Converts an amount in currency units into integer micro-units, rounding half away from zero
/// on the decimal the client wrote; `None` when it is not finite or does not fit an `i64`.
///
/// Multiplying the `f64` by 1e6 would round the binary value: `1.0000005` is stored as
/// 1.00000049999999998..., so the client's half-micro would round down. Instead the shortest
/// decimal that round-trips to the same `f64` (what Rust's `Display` prints, which is what the
/// client sent for any amount of up to 15 significant digits) is rounded digit by digit, on the
/// stack.
///
/// Most amounts have at most six decimals (`0.25`, `1.5`, `2`), and for those a multiplication
/// gives the same result far cheaper, so it is tried first: see `MICROS_FAST_PATH_MAX`.
pub fn micros_from_f64(amount: f64) -> Option<i64> {
    if !amount.is_finite() || amount.abs() >= 9.0e12 {
        return None;
    }
    // Below a tenth of a micro-unit the result is 0, and Display would print hundreds of zeros.
    if amount.abs() < 1e-7 {
        return Some(0);
    }
    if amount.abs() < MICROS_FAST_PATH_MAX {
        let micros = (amount * 1e6).round();
        // `micros / 1e6` is the double nearest to the decimal `micros` millionths, so equality
        // means that this six-decimal number is what the client sent, or rounds the same way:
        // below the limit a double is closer than 2.4e-7 to the decimal it was written as, so
        // no other decimal can land on the same side of a half-micro.
        if micros / 1e6 == amount {
            return Some(micros as i64);
        }
    }
    micros_from_decimal_text(amount)
}

/// Below 2^30 the spacing of doubles is at most 2^-22 (2.4e-7), under half a micro-unit, which
/// is what makes the fast path of [`micros_from_f64`] exact. Far above any floor.
const MICROS_FAST_PATH_MAX: f64 = 1e9;

const _: () = assert!(MICROS_FAST_PATH_MAX < (1u64 << 30) as f64);
const _: () = assert!(crate::adrequest::BIDFLOOR_MAX < MICROS_FAST_PATH_MAX);

/// The general case of [`micros_from_f64`], for a finite `amount` below 9e12: rounds the
/// shortest decimal that round-trips to `amount`.
fn micros_from_decimal_text(amount: f64) -> Option<i64> {
    let mut digits = StackText::default();
    if fmt::write(&mut digits, format_args!("{amount}")).is_err() {
        // Cannot happen within the bounds above (at most 13 + 1 + 23 characters); the binary
        // rounding is the fallback rather than a panic.
        return Some((amount * 1e6).round() as i64);
    }
    let text = digits.as_str();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let mut micros: i64 = 0;
    for digit in whole.bytes() {
        micros = micros
            .checked_mul(10)?
            .checked_add(i64::from(digit.checked_sub(b'0')?))?;
    }
    let mut fraction_digits = fraction.bytes();
    for _ in 0..6 {
        let digit = fraction_digits
            .next()
            .map_or(Some(0), |d| d.checked_sub(b'0'))?;
        micros = micros.checked_mul(10)?.checked_add(i64::from(digit))?;
    }
    // Half away from zero: the seventh decimal alone decides, since 5 followed by anything is
    // at least half.
    if fraction_digits.next().is_some_and(|digit| digit >= b'5') {
        micros = micros.checked_add(1)?;
    }
    Some(if negative { -micros } else { micros })
}

/// A fixed-capacity text buffer for formatting numbers without allocating.
struct StackText {
    bytes: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        self.bytes
            .get(..self.len)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
        let target = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        target.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{micros_from_decimal_text, micros_from_f64};

    /// The fast path must agree with rounding the decimal text wherever it answers.
    fn check(amount: f64) -> Result<(), TestCaseError> {
        let expected = if !amount.is_finite() || amount.abs() >= 9.0e12 {
            None
        } else if amount.abs() < 1e-7 {
            Some(0)
        } else {
            micros_from_decimal_text(amount)
        };
        prop_assert_eq!(micros_from_f64(amount), expected, "amount {}", amount);
        Ok(())
    }

    proptest! {
        #[test]
        fn fast_path_matches_decimal_text_on_short_decimals(
            micros in -2_000_000_000_000_000i64..2_000_000_000_000_000,
            decimals in 0u32..=9,
        ) {
            // A decimal with up to nine fractional digits, as a client may write it.
            let text = format!("{}e-{decimals}", micros);
            check(text.parse::<f64>().unwrap())?;
        }

        #[test]
        fn fast_path_matches_decimal_text_on_any_double(bits in any::<u64>()) {
            check(f64::from_bits(bits))?;
        }

        #[test]
        fn fast_path_matches_decimal_text_near_half_micros(
            micros in -1_000_000_000_000i64..1_000_000_000_000,
            ulps in -4i64..=4,
        ) {
            let half = (micros as f64 + 0.5) / 1e6;
            check(f64::from_bits((half.to_bits() as i64 + ulps) as u64))?;
        }
    }
}
