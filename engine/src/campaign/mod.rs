//! Campaigns: the validated model (`model`), the JSON data files it is loaded from (`data`),
//! and the embedded demo set that `adshard serve` uses without a config; `builder` writes
//! campaigns in code for tests, benchmarks and tools.

pub mod builder;
pub mod data;
pub mod model;

pub use builder::{CampaignBuilder, CreativeBuilder};

pub use model::{
    Advertiser, Budget, Campaign, CampaignData, CampaignStatus, Creative, CreativeFormat, Daypart,
    FrequencyCap, IncludeExclude, Pacing, SpendOn, Targeting,
};
