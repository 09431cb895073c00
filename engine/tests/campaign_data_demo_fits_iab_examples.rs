//! The embedded demo set is valid, and a new user's first requests get a bid: each of three
//! requests shaped like the IAB's OpenRTB 2.6 examples (a site banner, a site video, an app
//! banner with block lists) has a campaign with a creative that fits it, bids over its floor
//! and is not blocked by it.
//!
//! The requests are written here (not copied from the IAB corpus) and parsed with the
//! engine's own `parse_bid_request`. The fit check is a small reference reading of the
//! model's targeting semantics, deliberately simple so that it can be trusted over the demo;
//! it is not the engine's index.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

use adshard::adrequest::{AdRequest, Imp, MediaKinds};
use adshard::campaign::data::{demo, parse_str, DEMO_FILE_NAME, DEMO_JSON};
use adshard::campaign::{
    Campaign, CampaignData, CampaignStatus, Creative, CreativeFormat, IncludeExclude, Targeting,
};
use adshard::openrtb::parse_bid_request;

/// A site's 300x250 banner with a 0.03 USD floor and no device or geo (like the IAB's
/// simple-banner example).
const SITE_BANNER: &str = r#"{
  "id": "demo-site-banner", "at": 1, "cur": ["USD"],
  "imp": [{"id": "1", "bidfloor": 0.03, "banner": {"w": 300, "h": 250, "pos": 0}}],
  "site": {"id": "s-1", "domain": "www.recipes-daily.example", "cat": ["IAB8-5"],
           "page": "https://www.recipes-daily.example/soups.html",
           "publisher": {"id": "p-1", "domain": "recipes-daily.example"}},
  "user": {"id": "4f1c0c2b8e7d4a6b9f00d1e2a3b4c5d6"}
}"#;

/// A site's 640x480 linear video slot: MP4 among other types, 5 to 30 seconds, attributes 13
/// and 14 blocked (like the IAB's video example).
const SITE_VIDEO: &str = r#"{
  "id": "demo-site-video", "at": 2, "tmax": 120,
  "imp": [{"id": "1", "bidfloor": 0.03, "video": {
    "w": 640, "h": 480, "minduration": 5, "maxduration": 30, "protocols": [2, 3],
    "mimes": ["video/x-flv", "video/mp4", "application/javascript"],
    "linearity": 1, "battr": [13, 14]}}],
  "site": {"id": "s-2", "domain": "motoring-weekly.example", "cat": ["IAB2-1", "IAB2-2"],
           "page": "http://motoring-weekly.example/reviews.htm"},
  "device": {"ua": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", "os": "OS X"},
  "user": {"id": "9a8b7c6d5e4f", "data": [{"id": "6", "segment": [{"id": "auto-intenders"}]}]}
}"#;

/// An iPhone app's 728x90 banner with a 0.50 USD floor, blocked categories, advertisers and
/// attribute 14 (like the IAB's mobile example).
const APP_BANNER: &str = r#"{
  "id": "demo-app-banner", "at": 2,
  "bcat": ["IAB25", "IAB7-39", "IAB8-18", "IAB8-5", "IAB9-9"],
  "badv": ["apple.com", "go-text.me", "heywire.com"],
  "imp": [{"id": "1", "bidfloor": 0.5, "tagid": "weather-top",
           "banner": {"w": 728, "h": 90, "pos": 1, "btype": [4], "battr": [14], "api": [3]}}],
  "app": {"id": "a-1", "name": "Weather Now", "bundle": "12345", "cat": ["IAB15", "IAB15-10"],
          "publisher": {"id": "p-2", "domain": "www.weather-now.example"}},
  "device": {"ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "ifa": "AA000DFE-7416-8477-C70D-291F574D3447",
             "make": "Apple", "model": "iPhone", "os": "iOS", "osv": "17.0", "devicetype": 1, "connectiontype": 3},
  "user": {"id": "ffffffd5135596709273b3a1a07e466e"}
}"#;

fn parse(body: &str) -> AdRequest {
    let mut request = AdRequest::default();
    if let Err(error) = parse_bid_request(body.as_bytes(), &mut request) {
        panic!("test request does not parse: {error}");
    }
    request
}

/// `value` is `entry` or a sub-category / subdomain of it.
fn category_matches(entry: &str, value: &str) -> bool {
    value.eq_ignore_ascii_case(entry)
        || (value
            .get(..entry.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(entry))
            && value.as_bytes().get(entry.len()) == Some(&b'-'))
}

fn domain_matches(entry: &str, value: &str) -> bool {
    value == entry || value.ends_with(&format!(".{entry}"))
}

/// The model's include/exclude semantics over a request's values.
fn list_matches<'r>(
    list: &IncludeExclude,
    values: impl Iterator<Item = &'r str>,
    matches: fn(&str, &str) -> bool,
) -> bool {
    let values: Vec<&str> = values.collect();
    let hit = |entry: &String| values.iter().any(|value| matches(entry, value));
    (list.include.is_empty() || list.include.iter().any(hit)) && !list.exclude.iter().any(hit)
}

fn targeting_matches(targeting: &Targeting, request: &AdRequest) -> bool {
    let context = &request.context;
    let device = &request.device;
    let os = request.text(device.os).to_lowercase();
    let domain = request.text(context.domain).to_lowercase();
    let bundle = request.text(context.bundle).to_lowercase();
    let exact = |entry: &str, value: &str| entry == value;
    (targeting.countries.is_empty()
        || device.country.is_some_and(|country| targeting.countries.contains(&country)))
        && (targeting.regions.is_empty()
            || targeting
                .regions
                .iter()
                .any(|region| region.eq_ignore_ascii_case(request.text(device.region))))
        && (targeting.device_types.is_empty()
            || device
                .device_type
                .is_some_and(|device_type| targeting.device_types.contains(&device_type)))
        && (targeting.os.is_empty() || targeting.os.contains(&os))
        && list_matches(
            &targeting.domains,
            std::iter::once(domain.as_str()).filter(|d| !d.is_empty()),
            domain_matches,
        )
        && list_matches(
            &targeting.bundles,
            std::iter::once(bundle.as_str()).filter(|b| !b.is_empty()),
            exact,
        )
        && list_matches(
            &targeting.categories,
            request.texts(context.categories),
            category_matches,
        )
        && list_matches(
            &targeting.segments,
            request.texts(request.user.segment_ids),
            |entry, value| entry.eq_ignore_ascii_case(value),
        )
        // The test does not pick a time of day: a dayparted campaign is not counted on.
        && targeting.dayparts.is_empty()
}

fn creative_fits(creative: &Creative, imp: &Imp, request: &AdRequest) -> bool {
    if imp.secure && !creative.secure {
        return false;
    }
    if request
        .codes(imp.battr)
        .iter()
        .any(|attribute| creative.attributes.contains(attribute))
    {
        return false;
    }
    if request.texts(request.bcat).any(|blocked| {
        creative
            .categories
            .iter()
            .any(|category| category_matches(blocked, category))
    }) {
        return false;
    }
    match creative.format {
        CreativeFormat::Banner => {
            imp.media.contains(MediaKinds::BANNER)
                && request
                    .sizes(imp.sizes)
                    .iter()
                    .any(|size| (size.w, size.h) == (creative.w, creative.h))
        }
        CreativeFormat::Video => imp.video.is_some_and(|video| {
            let mimes_fit = request.texts(video.mimes).any(|mime| {
                creative
                    .mimes
                    .iter()
                    .any(|ours| ours.eq_ignore_ascii_case(mime))
            });
            let duration_fits = creative.duration_s >= video.minduration_s
                && (video.maxduration_s == 0 || creative.duration_s <= video.maxduration_s);
            let size_fits =
                video.w == 0 || video.h == 0 || (video.w, video.h) == (creative.w, creative.h);
            mimes_fit && duration_fits && size_fits
        }),
        CreativeFormat::Audio | CreativeFormat::Native => false,
    }
}

/// Ids of the campaigns that would bid on some impression of `request` (without budgets,
/// pacing, caps or time, which the demo leaves open or generous).
fn fitting_campaigns<'d>(data: &'d CampaignData, request: &AdRequest) -> Vec<&'d str> {
    let fits = |campaign: &Campaign| {
        campaign.status == CampaignStatus::Active
            && campaign.end_unix_s.is_none()
            && !request
                .texts(request.badv)
                .any(|blocked| domain_matches(&blocked.to_lowercase(), &campaign.adomain))
            && targeting_matches(&campaign.targeting, request)
            && request.imps().iter().any(|imp| {
                imp.bidfloor_currency == campaign.currency
                    && campaign.bid_cpm_micros >= imp.bidfloor_micros
                    && campaign
                        .creatives
                        .iter()
                        .any(|creative| creative_fits(creative, imp, request))
            })
    };
    data.campaigns
        .iter()
        .filter(|campaign| fits(campaign))
        .map(|campaign| campaign.id.as_str())
        .collect()
}

#[test]
fn demo_is_valid_and_small() {
    let data = match parse_str(DEMO_JSON, Path::new(DEMO_FILE_NAME)) {
        Ok(data) => data,
        Err(error) => panic!("demo.json is invalid:\n{error}"),
    };
    assert_eq!(demo(), data);
    assert!((4..=8).contains(&data.campaigns.len()));
    assert!((2..=3).contains(&data.advertisers.len()));
    // Started flights only: a demo that waits for a date would not bid for a new user.
    let now_unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    for campaign in data
        .campaigns
        .iter()
        .filter(|campaign| campaign.status == CampaignStatus::Active)
    {
        assert!(
            !matches!(campaign.start_unix_s, Some(start) if start > now_unix_s),
            "{} has not started",
            campaign.id
        );
    }
}

#[test]
fn site_banner_gets_the_broad_display_campaign() {
    let request = parse(SITE_BANNER);
    assert_eq!(fitting_campaigns(&demo(), &request), ["cmp-acme-always-on"]);
}

#[test]
fn site_video_gets_the_preroll_campaign() {
    let request = parse(SITE_VIDEO);
    assert_eq!(
        fitting_campaigns(&demo(), &request),
        ["cmp-northwind-preroll"]
    );
}

#[test]
fn app_banner_with_block_lists_gets_two_campaigns() {
    let request = parse(APP_BANNER);
    assert_eq!(
        fitting_campaigns(&demo(), &request),
        ["cmp-acme-always-on", "cmp-bluebird-mobile-app"]
    );
}

#[test]
fn block_lists_and_floors_are_honoured_by_the_check() {
    // The check itself must be able to say no, or the tests above prove nothing.
    let data = demo();
    let blocked_category = APP_BANNER.replace("\"IAB25\"", "\"IAB17\", \"IAB20\"");
    assert!(fitting_campaigns(&data, &parse(&blocked_category)).is_empty());
    let blocked_advertisers = APP_BANNER.replace(
        "\"apple.com\"",
        "\"acme-outdoor.example\", \"bluebird-travel.example\"",
    );
    assert!(fitting_campaigns(&data, &parse(&blocked_advertisers)).is_empty());
    let high_floor = SITE_VIDEO.replace("\"bidfloor\": 0.03", "\"bidfloor\": 50.0");
    assert!(fitting_campaigns(&data, &parse(&high_floor)).is_empty());
    let long_only = SITE_VIDEO
        .replace(
            "\"minduration\": 5",
            "\"minduration\": 31, \"maxduration\": 60",
        )
        .replace("\"maxduration\": 30, ", "");
    assert!(fitting_campaigns(&data, &parse(&long_only)).is_empty());
}
