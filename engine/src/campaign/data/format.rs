//! The JSON shape of a campaign data file, as an operator writes it and as `adshard-gen`
//! generates it.
//!
//! These types are the file format and nothing more: they mirror the JSON one to one
//! (unknown keys are rejected, so a typo such as `"daly_micros"` is an error rather than a
//! silently missing budget), and `check` turns them into the validated model. Integers that
//! have a valid range (sizes, durations, codes, hours) are read as `i64` and range-checked
//! there, so an out-of-range value is reported with its limit next to every other problem of
//! the campaign instead of as a type error that hides them. Money is an integer of
//! micro-units: a JSON number with a fraction or exponent is a type error, never rounded.
//!
//! A file:
//! ```json
//! {
//!   "advertisers": [{"id": "adv-acme", "name": "Acme Outdoor"}],
//!   "campaigns": [{
//!     "id": "cmp-1", "advertiser": "adv-acme", "adomain": "acme-outdoor.example",
//!     "status": "active", "bid_cpm_micros": 2500000, "currency": "USD",
//!     "budget": {"total_micros": 1000000000, "daily_micros": 50000000, "spend_on": "impression"},
//!     "flight": {"start": "2026-01-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
//!     "pacing": "even",
//!     "frequency_caps": [{"max": 3, "window_s": 86400}],
//!     "targeting": {"countries": ["USA"], "domains": {"exclude": ["tabloid.example"]}},
//!     "creatives": [{"id": "cr-1", "format": "banner", "w": 300, "h": 250,
//!                    "markup": "<a href=\"...\"><img src=\"...\"></a>",
//!                    "landing_page": "https://acme-outdoor.example/spring", "secure": true}]
//!   }]
//! }
//! ```

use serde::{Deserialize, Serialize};

/// One data file: advertisers and campaigns. Several files are merged at load; a campaign may
/// name an advertiser defined in another file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFileJson {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advertisers: Vec<AdvertiserJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<CampaignJson>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvertiserJson {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignJson {
    pub id: String,
    /// The id of an advertiser in any of the loaded files.
    pub advertiser: String,
    /// The advertiser's domain as declared in bids and matched against `badv`.
    pub adomain: String,
    /// Absent: active.
    #[serde(default)]
    pub status: StatusJson,
    pub bid_cpm_micros: i64,
    /// ISO-4217; absent: USD, the OpenRTB default.
    #[serde(default = "currency_default")]
    pub currency: String,
    /// Absent: no budget limit (the campaign still needs a bid and a flight to run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetJson>,
    /// Absent: always on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight: Option<FlightJson>,
    /// Absent: even, the safer choice for a daily budget.
    #[serde(default)]
    pub pacing: PacingJson,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frequency_caps: Vec<FrequencyCapJson>,
    /// Absent: every request.
    #[serde(default, skip_serializing_if = "TargetingJson::is_empty")]
    pub targeting: TargetingJson,
    pub creatives: Vec<CreativeJson>,
}

fn currency_default() -> String {
    "USD".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusJson {
    #[default]
    Active,
    Paused,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PacingJson {
    #[default]
    Even,
    Asap,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpendOnJson {
    #[default]
    Impression,
    Win,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_micros: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_micros: Option<i64>,
    /// Absent: impression.
    #[serde(default)]
    pub spend_on: SpendOnJson,
}

/// RFC 3339 date-times; either end may be open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlightJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCapJson {
    pub max: i64,
    pub window_s: i64,
}

/// Every key optional; see `model::Targeting` for what an empty list means.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetingJson {
    /// ISO-3166-1 alpha-3, as OpenRTB 2.x `geo.country`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// AdCOM device types 1..=8.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_types: Vec<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub os: Vec<String>,
    #[serde(skip_serializing_if = "IncludeExcludeJson::is_empty")]
    pub domains: IncludeExcludeJson,
    #[serde(skip_serializing_if = "IncludeExcludeJson::is_empty")]
    pub bundles: IncludeExcludeJson,
    #[serde(skip_serializing_if = "IncludeExcludeJson::is_empty")]
    pub categories: IncludeExcludeJson,
    #[serde(skip_serializing_if = "IncludeExcludeJson::is_empty")]
    pub segments: IncludeExcludeJson,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dayparts: Vec<DaypartJson>,
}

impl TargetingJson {
    pub fn is_empty(&self) -> bool {
        *self == TargetingJson::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncludeExcludeJson {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl IncludeExcludeJson {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// UTC hours on some days of the week: `start_hour` inclusive, `end_hour` exclusive (0..=24).
/// A window across midnight is two dayparts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaypartJson {
    /// "mon", "tue", "wed", "thu", "fri", "sat", "sun".
    pub days: Vec<String>,
    pub start_hour: i64,
    pub end_hour: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CreativeFormatJson {
    #[default]
    Banner,
    Video,
    Audio,
    Native,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreativeJson {
    pub id: String,
    pub format: CreativeFormatJson,
    /// Pixels; required for banners, optional (the frame) for video, absent otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub w: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub h: i64,
    /// HTML for banners, VAST XML for video and audio, a Native response JSON for native.
    pub markup: String,
    /// Required for video and audio.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mimes: Vec<String>,
    /// Required for video and audio.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duration_s: i64,
    /// IAB content categories, matched against `bcat`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// AdCOM creative attributes 1..=17, matched against `battr`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<i64>,
    pub landing_page: String,
    /// Whether every resource the markup loads is https. Absent: false, so the creative is
    /// never offered to a secure impression it might break.
    #[serde(default)]
    pub secure: bool,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}
