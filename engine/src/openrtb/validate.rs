//! Checks a parsed bid request against the rules that serde's types cannot express, in one pass
//! over the wire types, and names the offending field when one fails.
//!
//! The success path builds no path and allocates nothing (except for decoding the Native request
//! string, see `native`): each check returns `Err(Invalid)` holding only its own field name, and
//! every level on the way up adds its segment (`.at("banner")`, `.at_index("imp", 0)`). So the
//! path `imp[0].banner.format[1].w` is assembled only for the one request that needs it.
//!
//! The rules follow the OpenRTB 2.6 and Native 1.2 specifications and, where those leave room,
//! Prebid Server's request validation, so that a request Prebid accepts we accept too. We differ
//! on purpose in a few places:
//! - Native asset ids: Prebid treats an id of 0 as absent; we treat a present `id` as present,
//!   because Native 1.2 says ids are "typically a counter for the array", which starts at 0.
//!   Either every asset has an id, unique in the request, or none has.
//! - Native requests that declare a version before 1.2 (`imp.native.ver` "1.0" or "1.1") are
//!   not decoded or checked beyond being present: their shape differs, and the decision code
//!   only targets 1.2 requests. The IAB's own 2.5 native example is such a request.
//! - A site, app or dooh object is required (Prebid's rule; the spec only recommends one), since
//!   every targeting and block-list decision needs the context.
//! - Beyond Prebid: negative durations, floors and counts, out-of-range auction types and
//!   currency codes that are not three letters are rejected, and lists have limits
//!   ([`IMPS_MAX`] and the others, the limits of an `AdRequest`), since the engine copies them.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::fill::micros_from_f64;
use super::native::{self, Asset, EventTracker, NativeRequest, NativeRequestField, NativeVideo};
use super::wire::{
    self, Audio, Banner, BidRequest, Device, Format, Geo, Imp, Native, Pmp, Regs, Str, User, Video,
};
use super::{RequestError, NATIVE_ASSETS_MAX};
use crate::adrequest::{
    BIDFLOOR_MAX, BLOCK_LIST_ENTRIES_MAX, FORMATS_PER_BANNER_MAX, IMPS_MAX, LIST_ENTRIES_MAX,
    USER_SEGMENTS_MAX,
};
use crate::currency::Currency;

/// Codes from 500 up are exchange-specific in every OpenRTB and Native enumeration.
const EXCHANGE_SPECIFIC_MIN: i64 = 500;

/// Checks `request`, returning the first problem found with its field path.
pub fn validate(request: &BidRequest<'_>) -> Result<(), RequestError> {
    check_request(request).map_err(Invalid::into_request_error)
}

/// One segment of a field path, innermost first while the error travels up.
#[derive(Debug)]
enum Segment {
    Key(&'static str),
    Index(usize),
    /// A path found by serde_path_to_error inside the Native request string.
    Path(String),
}

/// A failed check on its way up to [`validate`], collecting its field path as it goes.
#[derive(Debug)]
struct Invalid {
    path_reversed: Vec<Segment>,
    reason: Cow<'static, str>,
}

impl Invalid {
    /// A problem with the object being checked as a whole.
    fn here(reason: impl Into<Cow<'static, str>>) -> Self {
        Invalid {
            path_reversed: Vec::new(),
            reason: reason.into(),
        }
    }

    /// A problem with field `key` of the object being checked.
    fn field(key: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::here(reason).at(key)
    }

    fn at(mut self, key: &'static str) -> Self {
        self.path_reversed.push(Segment::Key(key));
        self
    }

    fn at_index(mut self, key: &'static str, index: usize) -> Self {
        self.path_reversed.push(Segment::Index(index));
        self.path_reversed.push(Segment::Key(key));
        self
    }

    fn at_path(mut self, path: String) -> Self {
        if !path.is_empty() {
            self.path_reversed.push(Segment::Path(path));
        }
        self
    }

    fn into_request_error(self) -> RequestError {
        let mut field = String::new();
        for segment in self.path_reversed.iter().rev() {
            match segment {
                Segment::Key(key) => {
                    if !field.is_empty() {
                        field.push('.');
                    }
                    field.push_str(key);
                }
                Segment::Index(index) => {
                    let _ = write!(field, "[{index}]");
                }
                Segment::Path(path) => {
                    if !field.is_empty() && !path.starts_with('[') {
                        field.push('.');
                    }
                    field.push_str(path);
                }
            }
        }
        RequestError {
            field,
            reason: self.reason.into_owned(),
        }
    }
}

type Check = Result<(), Invalid>;

/// Adds the enclosing field to the path of a failed check.
trait Within {
    fn at(self, key: &'static str) -> Self;
    fn at_index(self, key: &'static str, index: usize) -> Self;
}

impl Within for Check {
    fn at(self, key: &'static str) -> Self {
        self.map_err(|invalid| invalid.at(key))
    }

    fn at_index(self, key: &'static str, index: usize) -> Self {
        self.map_err(|invalid| invalid.at_index(key, index))
    }
}

fn check_request(request: &BidRequest<'_>) -> Check {
    required_text(&request.id, "id")?;
    count(request.tmax, "tmax")?;
    if let Some(auction_type) = request.at {
        if auction_type != 1 && auction_type != 2 && !exchange_specific(auction_type) {
            return Err(Invalid::field(
                "at",
                "must be 1 (first price), 2 (second price) or an exchange-specific value of 500 or more",
            ));
        }
    }

    let imps = request.imp.as_slice();
    if imps.is_empty() {
        return Err(Invalid::field(
            "imp",
            "must contain at least one impression",
        ));
    }
    max_len(&request.imp, IMPS_MAX, "imp")?;
    for (imp_idx, imp) in imps.iter().enumerate() {
        check_imp(imp).at_index("imp", imp_idx)?;
        let id = wire::text(&imp.id);
        if let Some(first_idx) = imps
            .iter()
            .take(imp_idx)
            .position(|other| wire::text(&other.id) == id)
        {
            let reason =
                format!("duplicates imp[{first_idx}].id \"{id}\": impression ids must be unique");
            return Err(Invalid::field("id", reason).at_index("imp", imp_idx));
        }
    }

    check_context(request)?;
    if let Some(device) = &request.device {
        check_device(device).at("device")?;
    }
    if let Some(user) = &request.user {
        check_user(user).at("user")?;
    }
    if let Some(regs) = &request.regs {
        check_regs(regs).at("regs")?;
    }

    max_len(&request.cur, LIST_ENTRIES_MAX, "cur")?;
    for (cur_idx, code) in request.cur.iter().enumerate() {
        if Currency::parse(code).is_none() {
            return Err(
                Invalid::here("must be a 3-letter ISO-4217 currency code").at_index("cur", cur_idx)
            );
        }
    }
    max_len(&request.bcat, BLOCK_LIST_ENTRIES_MAX, "bcat")?;
    max_len(&request.badv, BLOCK_LIST_ENTRIES_MAX, "badv")?;
    max_len(&request.bapp, BLOCK_LIST_ENTRIES_MAX, "bapp")?;
    Ok(())
}

fn check_context(request: &BidRequest<'_>) -> Check {
    let present = [
        ("site", request.site.is_some()),
        ("app", request.app.is_some()),
        ("dooh", request.dooh.is_some()),
    ];
    let mut keys = present
        .iter()
        .filter(|(_, is_present)| *is_present)
        .map(|(key, _)| *key);
    match (keys.next(), keys.next()) {
        (None, _) => {
            return Err(Invalid::field(
                "site",
                "one of site, app or dooh is required",
            ))
        }
        (Some(_), Some(second)) => {
            return Err(Invalid::field(
                second,
                "only one of site, app or dooh may be present",
            ))
        }
        (Some(_), None) => {}
    }

    if let Some(site) = &request.site {
        if wire::text(&site.id).is_empty() && wire::text(&site.page).is_empty() {
            return Err(Invalid::field(
                "site",
                "must include a non-empty id or page",
            ));
        }
        categories(&site.cat, &site.sectioncat, &site.pagecat).at("site")?;
    }
    if let Some(app) = &request.app {
        categories(&app.cat, &app.sectioncat, &app.pagecat).at("app")?;
    }
    Ok(())
}

fn categories(cat: &[Str<'_>], sectioncat: &[Str<'_>], pagecat: &[Str<'_>]) -> Check {
    max_len(cat, LIST_ENTRIES_MAX, "cat")?;
    max_len(sectioncat, LIST_ENTRIES_MAX, "sectioncat")?;
    max_len(pagecat, LIST_ENTRIES_MAX, "pagecat")
}

fn check_imp(imp: &Imp<'_>) -> Check {
    required_text(&imp.id, "id")?;
    if imp.banner.is_none() && imp.video.is_none() && imp.audio.is_none() && imp.native.is_none() {
        return Err(Invalid::here(
            "must contain at least one of banner, video, audio or native",
        ));
    }
    // An interstitial fills the screen, so the device size stands in for banner sizes.
    let interstitial = imp.instl == Some(1);
    if let Some(banner) = &imp.banner {
        check_banner(banner, interstitial).at("banner")?;
    }
    if let Some(video) = &imp.video {
        check_video(video).at("video")?;
    }
    if let Some(audio) = &imp.audio {
        check_audio(audio).at("audio")?;
    }
    if let Some(native) = &imp.native {
        check_native(native).at("native")?;
    }
    if let Some(pmp) = &imp.pmp {
        check_pmp(pmp).at("pmp")?;
    }
    floor(imp.bidfloor, "bidfloor")?;
    currency(&imp.bidfloorcur, "bidfloorcur")?;
    count(imp.exp, "exp")
}

fn check_banner(banner: &Banner, interstitial: bool) -> Check {
    count(banner.w, "w")?;
    count(banner.h, "h")?;
    max_len(&banner.format, FORMATS_PER_BANNER_MAX, "format")?;
    let formats = banner.format.as_slice();
    let has_root_size = banner.w.unwrap_or(0) > 0 && banner.h.unwrap_or(0) > 0;
    if !has_root_size && formats.is_empty() && !interstitial {
        return Err(Invalid::here(
            "has no sizes: define w and h, or at least one format",
        ));
    }
    for (format_idx, format) in formats.iter().enumerate() {
        check_format(format).at_index("format", format_idx)?;
    }
    codes(&banner.battr, "battr")
}

fn check_format(format: &Format) -> Check {
    count(format.w, "w")?;
    count(format.h, "h")?;
    count(format.wratio, "wratio")?;
    count(format.hratio, "hratio")?;
    count(format.wmin, "wmin")?;
    let [w, h, wratio, hratio, wmin] = [
        format.w,
        format.h,
        format.wratio,
        format.hratio,
        format.wmin,
    ]
    .map(|v| v.unwrap_or(0));
    let fixed = w != 0 || h != 0;
    let flexible = wmin != 0 || wratio != 0 || hratio != 0;
    match (fixed, flexible) {
        (true, true) => Err(Invalid::here(
            "must define either {w, h} or {wmin, wratio, hratio}, not both: send two formats to allow both",
        )),
        (false, false) => Err(Invalid::here(
            "must define either a non-zero {w, h} or a non-zero {wmin, wratio, hratio}",
        )),
        (true, false) if w == 0 => Err(Invalid::field("w", "must be non-zero when h is set")),
        (true, false) if h == 0 => Err(Invalid::field("h", "must be non-zero when w is set")),
        (false, true) if wmin == 0 => Err(Invalid::field("wmin", "must be non-zero in a flexible format")),
        (false, true) if wratio == 0 => Err(Invalid::field("wratio", "must be non-zero in a flexible format")),
        (false, true) if hratio == 0 => Err(Invalid::field("hratio", "must be non-zero in a flexible format")),
        _ => Ok(()),
    }
}

fn check_video(video: &Video<'_>) -> Check {
    mimes(&video.mimes)?;
    for (value, key) in [
        (video.w, "w"),
        (video.h, "h"),
        (video.minduration, "minduration"),
        (video.maxduration, "maxduration"),
        (video.minbitrate, "minbitrate"),
        (video.maxbitrate, "maxbitrate"),
        (video.sequence, "sequence"),
        (video.maxseq, "maxseq"),
        (video.poddur, "poddur"),
        (video.skipmin, "skipmin"),
        (video.skipafter, "skipafter"),
    ] {
        count(value, key)?;
    }
    codes(wire::list(&video.protocols), "protocols")?;
    code(video.protocol, "protocol")?;
    codes(&video.battr, "battr")
}

fn check_audio(audio: &Audio<'_>) -> Check {
    mimes(&audio.mimes)?;
    for (value, key) in [
        (audio.minduration, "minduration"),
        (audio.maxduration, "maxduration"),
        (audio.minbitrate, "minbitrate"),
        (audio.maxbitrate, "maxbitrate"),
        (audio.sequence, "sequence"),
        (audio.maxseq, "maxseq"),
        (audio.poddur, "poddur"),
    ] {
        count(value, key)?;
    }
    codes(wire::list(&audio.protocols), "protocols")?;
    codes(&audio.battr, "battr")
}

fn check_pmp(pmp: &Pmp<'_>) -> Check {
    max_len(&pmp.deals, LIST_ENTRIES_MAX, "deals")?;
    for (deal_idx, deal) in pmp.deals.iter().enumerate() {
        let check = required_text(&deal.id, "id")
            .and_then(|()| floor(deal.bidfloor, "bidfloor"))
            .and_then(|()| currency(&deal.bidfloorcur, "bidfloorcur"));
        check.at_index("deals", deal_idx)?;
    }
    Ok(())
}

fn check_native(native: &Native<'_>) -> Check {
    codes(&native.battr, "battr")?;
    let version = wire::text(&native.ver).trim();
    let legacy = version.starts_with("1.0") || version.starts_with("1.1");
    match &native.request {
        None => Err(Invalid::field("request", "is required")),
        Some(NativeRequestField::Json(json)) if json.trim().is_empty() => {
            Err(Invalid::field("request", "is required"))
        }
        Some(_) if legacy => Ok(()),
        Some(NativeRequestField::Json(json)) => {
            let request = native::decode(json).map_err(|error| {
                let reason = format!("is not a valid Native 1.2 request: {}", error.message);
                Invalid::here(reason).at_path(error.path).at("request")
            })?;
            check_native_request(&request).at("request")
        }
        Some(NativeRequestField::Object(request)) => check_native_request(request).at("request"),
    }
}

fn check_native_request(request: &NativeRequest<'_>) -> Check {
    match &request.native {
        None => check_native_body(request),
        Some(inner) if inner.native.is_some() => {
            Err(Invalid::field("native", "must not wrap another native object").at("native"))
        }
        Some(inner) => check_native_body(inner).at("native"),
    }
}

fn check_native_body(request: &NativeRequest<'_>) -> Check {
    // 0 is Go's zero value, which Prebid treats as absent; so do we, for compatibility.
    let context = request.context.filter(|&context| context != 0);
    if let Some(context) = context {
        if !(1..=3).contains(&context) && !exchange_specific(context) {
            return Err(Invalid::field(
                "context",
                "must be 1 (content), 2 (social), 3 (product) or 500 or more",
            ));
        }
    }
    if let Some(subtype) = request.contextsubtype.filter(|&subtype| subtype != 0) {
        let group = match subtype {
            10..=15 => Some(1),
            20..=22 => Some(2),
            30..=32 => Some(3),
            _ if exchange_specific(subtype) => None,
            _ if subtype < 0 => {
                return Err(Invalid::field("contextsubtype", "must not be negative"))
            }
            _ => {
                return Err(Invalid::field(
                    "contextsubtype",
                    "must be 10-15 (content), 20-22 (social), 30-32 (product) or 500 or more",
                ))
            }
        };
        if let (Some(group), Some(context)) = (group, context) {
            if (1..=3).contains(&context) && group != context {
                let reason = format!("{subtype} is not compatible with context {context}");
                return Err(Invalid::field("contextsubtype", reason));
            }
        }
    }
    if let Some(placement) = request.plcmttype.filter(|&placement| placement != 0) {
        if !(1..=4).contains(&placement) && !exchange_specific(placement) {
            return Err(Invalid::field("plcmttype", "must be 1-4 or 500 or more"));
        }
    }
    count(request.plcmtcnt, "plcmtcnt")?;
    count(request.seq, "seq")?;

    let assets = request.assets.as_slice();
    if assets.is_empty() {
        return Err(Invalid::field("assets", "must contain at least one asset"));
    }
    max_len(&request.assets, NATIVE_ASSETS_MAX, "assets")?;
    let with_id = assets.iter().any(|asset| asset.id.is_some());
    for (asset_idx, asset) in assets.iter().enumerate() {
        check_asset(asset).at_index("assets", asset_idx)?;
        match asset.id {
            None if with_id => {
                return Err(
                    Invalid::field("id", "is required when another asset has an id")
                        .at_index("assets", asset_idx),
                )
            }
            None => {}
            Some(id) => {
                if let Some(first_idx) = assets
                    .iter()
                    .take(asset_idx)
                    .position(|other| other.id == Some(id))
                {
                    let reason =
                        format!("duplicates assets[{first_idx}].id {id}: asset ids must be unique");
                    return Err(Invalid::field("id", reason).at_index("assets", asset_idx));
                }
            }
        }
    }

    max_len(&request.eventtrackers, LIST_ENTRIES_MAX, "eventtrackers")?;
    for (tracker_idx, tracker) in request.eventtrackers.iter().enumerate() {
        check_event_tracker(tracker).at_index("eventtrackers", tracker_idx)?;
    }
    Ok(())
}

fn check_asset(asset: &Asset<'_>) -> Check {
    let kinds = [
        asset.title.is_some(),
        asset.img.is_some(),
        asset.video.is_some(),
        asset.data.is_some(),
    ];
    if kinds.iter().filter(|&&present| present).count() != 1 {
        return Err(Invalid::here(
            "must define exactly one of title, img, video or data",
        ));
    }
    if let Some(title) = &asset.title {
        if title.len.unwrap_or(0) <= 0 {
            return Err(Invalid::field("len", "must be a positive number").at("title"));
        }
    }
    if let Some(img) = &asset.img {
        let check = count(img.w, "w")
            .and_then(|()| count(img.wmin, "wmin"))
            .and_then(|()| count(img.h, "h"))
            .and_then(|()| count(img.hmin, "hmin"));
        check.at("img")?;
    }
    if let Some(video) = &asset.video {
        check_native_video(video).at("video")?;
    }
    if let Some(data) = &asset.data {
        let kind = data.kind.unwrap_or(0);
        if !(1..=12).contains(&kind) && !exchange_specific(kind) {
            return Err(
                Invalid::field("type", "must be a data asset type: 1-12 or 500 or more").at("data"),
            );
        }
        count(data.len, "len").at("data")?;
    }
    Ok(())
}

fn check_native_video(video: &NativeVideo<'_>) -> Check {
    mimes(&video.mimes)?;
    match video.minduration {
        None => return Err(Invalid::field("minduration", "is required")),
        Some(seconds) => count(Some(seconds), "minduration")?,
    }
    match video.maxduration {
        None => return Err(Invalid::field("maxduration", "is required")),
        Some(seconds) if seconds < 1 => {
            return Err(Invalid::field("maxduration", "must be a positive number"))
        }
        Some(seconds) => count(Some(seconds), "maxduration")?,
    }
    let protocols = video.protocols.as_slice();
    if protocols.is_empty() {
        return Err(Invalid::field(
            "protocols",
            "must contain at least one protocol",
        ));
    }
    max_len(&video.protocols, LIST_ENTRIES_MAX, "protocols")?;
    for (protocol_idx, &protocol) in protocols.iter().enumerate() {
        // AdCOM creative subtypes: VAST 1.0 (1) to VAST 4.3 Wrapper (16).
        if !(1..=16).contains(&protocol) && !exchange_specific(protocol) {
            return Err(
                Invalid::here("must be a video protocol: 1-16 or 500 or more")
                    .at_index("protocols", protocol_idx),
            );
        }
    }
    Ok(())
}

fn check_event_tracker(tracker: &EventTracker) -> Check {
    let event = tracker.event.unwrap_or(0);
    if !(1..=4).contains(&event) && !exchange_specific(event) {
        return Err(Invalid::field(
            "event",
            "must be an event type: 1-4 or 500 or more",
        ));
    }
    let methods = tracker.methods.as_slice();
    if methods.is_empty() {
        return Err(Invalid::field(
            "methods",
            "must contain at least one method",
        ));
    }
    max_len(&tracker.methods, LIST_ENTRIES_MAX, "methods")?;
    for (method_idx, &method) in methods.iter().enumerate() {
        if !(1..=2).contains(&method) && !exchange_specific(method) {
            return Err(
                Invalid::here("must be a tracking method: 1 (img), 2 (js) or 500 or more")
                    .at_index("methods", method_idx),
            );
        }
    }
    Ok(())
}

fn check_device(device: &Device<'_>) -> Check {
    count(device.w, "w")?;
    count(device.h, "h")?;
    count(device.ppi, "ppi")?;
    if let Some(device_type) = device.devicetype {
        if u8::try_from(device_type).is_err() {
            return Err(Invalid::field(
                "devicetype",
                "must be a device type between 0 and 255",
            ));
        }
    }
    if let Some(geo) = &device.geo {
        check_geo(geo).at("geo")?;
    }
    Ok(())
}

fn check_geo(geo: &Geo<'_>) -> Check {
    count(geo.accuracy, "accuracy")
}

fn check_user(user: &User<'_>) -> Check {
    if let Some(geo) = &user.geo {
        check_geo(geo).at("geo")?;
    }
    max_len(&user.data, LIST_ENTRIES_MAX, "data")?;
    let segments: usize = user.data.iter().map(|data| data.segment.len()).sum();
    if segments > USER_SEGMENTS_MAX {
        let reason = format!("must not hold more than {USER_SEGMENTS_MAX} segments in all");
        return Err(Invalid::field("data", reason));
    }
    Ok(())
}

fn check_regs(regs: &Regs) -> Check {
    match regs.gdpr {
        None | Some(0) | Some(1) => Ok(()),
        Some(_) => Err(Invalid::field("gdpr", "must be either 0 or 1")),
    }
}

fn exchange_specific(code: i64) -> bool {
    code >= EXCHANGE_SPECIFIC_MIN
}

/// A string field that must be present and non-empty.
fn required_text(value: &Option<Str<'_>>, key: &'static str) -> Check {
    match value {
        None => Err(Invalid::field(key, "is required")),
        Some(text) if text.is_empty() => Err(Invalid::field(key, "must not be empty")),
        Some(_) => Ok(()),
    }
}

/// A size, duration or other count: absent, or between 0 and `u32::MAX` so that conversion can
/// store it in a `u32`.
fn count(value: Option<i64>, key: &'static str) -> Check {
    match value {
        Some(v) if v < 0 => Err(Invalid::field(key, "must not be negative")),
        Some(v) if u32::try_from(v).is_err() => Err(Invalid::field(key, "is too large")),
        _ => Ok(()),
    }
}

/// An enumerated code (protocol, creative attribute) stored as a `u16`.
fn code(value: Option<i64>, key: &'static str) -> Check {
    match value {
        Some(v) if u16::try_from(v).is_err() => {
            Err(Invalid::field(key, "must be a code between 0 and 65535"))
        }
        _ => Ok(()),
    }
}

fn codes(list: &[i64], key: &'static str) -> Check {
    max_len(list, LIST_ENTRIES_MAX, key)?;
    for (code_idx, &value) in list.iter().enumerate() {
        if u16::try_from(value).is_err() {
            return Err(Invalid::here("must be a code between 0 and 65535").at_index(key, code_idx));
        }
    }
    Ok(())
}

fn mimes(list: &[Str<'_>]) -> Check {
    if list.is_empty() {
        return Err(Invalid::field(
            "mimes",
            "must contain at least one MIME type",
        ));
    }
    max_len(list, LIST_ENTRIES_MAX, "mimes")
}

fn max_len<T>(list: &[T], max: usize, key: &'static str) -> Check {
    if list.len() > max {
        return Err(Invalid::field(
            key,
            format!("must not contain more than {max} entries"),
        ));
    }
    Ok(())
}

/// A floor in currency units per thousand impressions.
fn floor(value: Option<f64>, key: &'static str) -> Check {
    match value {
        None => Ok(()),
        Some(amount) if amount.is_nan() || amount < 0.0 => {
            Err(Invalid::field(key, "must not be negative"))
        }
        Some(amount) if amount > BIDFLOOR_MAX => Err(Invalid::field(
            key,
            format!("must not be larger than {BIDFLOOR_MAX}"),
        )),
        Some(amount) if micros_from_f64(amount).is_none() => {
            Err(Invalid::field(key, "is not a valid amount"))
        }
        Some(_) => Ok(()),
    }
}

/// A currency code; an empty string counts as absent (the default, USD), as some exchanges send
/// one.
fn currency(value: &Option<Str<'_>>, key: &'static str) -> Check {
    let code = wire::text(value);
    if code.is_empty() || Currency::parse(code).is_some() {
        return Ok(());
    }
    Err(Invalid::field(
        key,
        "must be a 3-letter ISO-4217 currency code",
    ))
}
