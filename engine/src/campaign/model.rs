//! The validated campaign model: what the decision code reads. Built once per load from the
//! JSON data files (`campaign::data`), immutable afterwards, and shared read-only with the
//! shards only long enough for each to build its own `Catalog`.
//!
//! Money is integer micro-units of the campaign's currency; times are Unix seconds (UTC);
//! text that is matched against requests is normalised when loaded: domains, bundles, OS,
//! segments and MIME types lower-cased, regions and IAB categories upper-cased as OpenRTB
//! writes them. The index and the auction still compare ASCII case-insensitively.

use crate::adrequest::CountryCode;
use crate::currency::Currency;

/// Everything loaded from the data files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignData {
    pub advertisers: Vec<Advertiser>,
    pub campaigns: Vec<Campaign>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Advertiser {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignStatus {
    Active,
    Paused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Spread the daily budget over the day following the traffic curve.
    Even,
    /// Spend as fast as the budget allows.
    Asap,
}

/// When spend is counted against the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendOn {
    Impression,
    Win,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub total_micros: Option<i64>,
    pub daily_micros: Option<i64>,
    pub spend_on: SpendOn,
}

/// At most `max` impressions per user in any `window_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyCap {
    pub max: u32,
    pub window_s: u32,
}

/// A list of values a campaign requires (include) or refuses (exclude). Empty include means
/// "any value, including none".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncludeExclude {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// Hours of the week a campaign runs, in UTC: `days` is a bit set (bit 0 = Monday ... bit 6 =
/// Sunday), and the campaign runs from `start_hour` (inclusive) to `end_hour` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Daypart {
    pub days: u8,
    pub start_hour: u8,
    pub end_hour: u8,
}

/// Targeting. Semantics (the index and its reference scan both follow them):
/// - an empty include list matches every request, whether or not it carries the field;
/// - a non-empty include list matches only a request whose value is in the list; a request
///   without the field does not match (we prefer to miss a delivery than deliver off target);
/// - an exclude list refuses a request whose value is in it; a request without the field is not
///   refused by it;
/// - `categories` match a context category or its parent (`IAB3` matches `IAB3-1`);
/// - `domains` match the context domain or any parent domain (`example.com` matches
///   `news.example.com`); `bundles` match the app bundle exactly;
/// - `segments` match any of the user's segment ids;
/// - `dayparts` empty means always; otherwise the request's UTC hour of the week must fall in
///   one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targeting {
    pub countries: Vec<CountryCode>,
    /// Region codes as exchanges send `geo.region` (ISO-3166-2 subdivision, e.g. "CA"),
    /// upper-cased.
    pub regions: Vec<String>,
    /// AdCOM device types (1..=8).
    pub device_types: Vec<u8>,
    /// Lower-cased OS names ("ios", "android").
    pub os: Vec<String>,
    pub domains: IncludeExclude,
    pub bundles: IncludeExclude,
    pub categories: IncludeExclude,
    pub segments: IncludeExclude,
    pub dayparts: Vec<Daypart>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreativeFormat {
    Banner,
    Video,
    Audio,
    Native,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creative {
    pub id: String,
    pub format: CreativeFormat,
    /// Size in pixels (banner, and the video frame); 0 for native and audio.
    pub w: u32,
    pub h: u32,
    /// The ad markup (HTML, VAST XML, or native JSON) without our tracking, which the response
    /// adds.
    pub markup: String,
    /// Lower-cased MIME types of a video or audio creative.
    pub mimes: Vec<String>,
    /// Duration of a video or audio creative.
    pub duration_s: u32,
    /// IAB content categories of the creative (upper-case as in OpenRTB, e.g. "IAB3-1").
    pub categories: Vec<String>,
    /// AdCOM creative attributes (matched against `battr`).
    pub attributes: Vec<u16>,
    pub landing_page: String,
    /// Whether the creative loads only secure (https) resources.
    pub secure: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: String,
    pub advertiser_id: String,
    /// The advertiser domain declared in bids (`adomain`) and matched against `badv`.
    pub adomain: String,
    pub status: CampaignStatus,
    /// What the campaign bids per thousand impressions, in micro-units of `currency`.
    pub bid_cpm_micros: i64,
    pub currency: Currency,
    pub budget: Budget,
    /// Flight window in Unix seconds (UTC); `None` is open-ended.
    pub start_unix_s: Option<i64>,
    pub end_unix_s: Option<i64>,
    pub pacing: Pacing,
    pub frequency_caps: Vec<FrequencyCap>,
    pub targeting: Targeting,
    pub creatives: Vec<Creative>,
}
