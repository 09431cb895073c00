//! Campaigns: the validated model (`model`), the JSON data files it is loaded from (`data`),
//! and the embedded demo set that `adshard serve` uses without a config.

pub mod data;
pub mod model;

pub use model::{
    Advertiser, Budget, Campaign, CampaignData, CampaignStatus, Creative, CreativeFormat, Daypart,
    FrequencyCap, IncludeExclude, Pacing, SpendOn, Targeting,
};
