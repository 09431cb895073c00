//! The targeting index returns exactly what a scan of every campaign with a plain predicate
//! returns, in the same order, also when the visitor stops after `k` matches and when the
//! sweep is cut at a rank. Campaigns and requests are random, drawn from small pools (with
//! random letter case) so that values collide, lists overlap and every dimension is both
//! targeted and not. The predicate below is the reference: written from the semantics on
//! `campaign::Targeting` and the `targeting` module doc, sharing no code with the index.
//!
//! The seed is printed; rerun a failure with `ADSHARD_SEED=<seed>`. `ADSHARD_TARGETING_CASES`
//! sets the number of cases (default 400).

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::ops::ControlFlow;

use adshard::adrequest::{AdRequest, CountryCode, Imp, MediaKinds};
use adshard::campaign::{Campaign, CampaignStatus, Creative, CreativeFormat, Daypart};
use adshard::targeting::{creative_fits, HourOfWeek, IndexScratch, TargetingIndex};
use adshard_testkit::targeting::{
    banner, campaign, native, native_request_string, parse, timed, Rng,
};
use serde_json::{json, Map, Value};

const COUNTRIES: [&str; 4] = ["USA", "CAN", "GBR", "DEU"];
const REGIONS: [&str; 3] = ["CA", "NY", "ON"];
const OS: [&str; 3] = ["ios", "android", "windows"];
const DOMAINS: [&str; 7] = [
    "example.com",
    "news.example.com",
    "a.news.example.com",
    "com",
    "other.org",
    "shop.other.org",
    "ample.com",
];
const BUNDLES: [&str; 3] = ["com.a", "com.b", "com.a.lite"];
const CATEGORIES: [&str; 6] = ["IAB1", "IAB1-2", "IAB3", "IAB3-1", "IAB3-2", "IAB25-3"];
const SEGMENTS: [&str; 6] = ["s1", "s2", "s3", "s4", "s5", "s6"];
const SIZES: [(u32, u32); 5] = [(300, 250), (728, 90), (320, 50), (600, 500), (160, 600)];
const FLEX: [(u32, u32, u32); 3] = [(300, 6, 5), (320, 32, 5), (100, 1, 1)];
const MIMES: [&str; 3] = ["video/mp4", "video/webm", "audio/mpeg"];
const DURATIONS_S: [u32; 5] = [0, 5, 15, 30, 60];

/// Randomly upper-cases letters: matching must not care.
fn any_case(rng: &mut Rng, text: &str) -> String {
    text.chars()
        .map(|c| {
            if rng.percent(30) {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn some_texts(rng: &mut Rng, pool: &[&str], n_max: usize) -> Vec<String> {
    let picked = rng.some(pool, n_max);
    picked.into_iter().map(|text| any_case(rng, text)).collect()
}

/// How campaigns are drawn. Small sets (most cases) target often, so lists overlap and
/// matches are common. Large sets target rarely and use one banner size for nearly all
/// creatives, so that many posting lists are sparse (below one campaign in 32): the sweep then
/// gallops over gaps and skips words, which small sets never need.
#[derive(Clone, Copy)]
struct Shape {
    untargeted_percent: u32,
    no_exclude_percent: u32,
    /// Banners of 300x250; the rest spread over the other sizes.
    common_size_percent: u32,
}

const SMALL: Shape = Shape {
    untargeted_percent: 75,
    no_exclude_percent: 80,
    common_size_percent: 20,
};

const LARGE: Shape = Shape {
    untargeted_percent: 98,
    no_exclude_percent: 99,
    common_size_percent: 97,
};

/// An include list: empty three times in four for small sets, so that campaigns targeting a
/// dozen dimensions still match often enough.
fn include(rng: &mut Rng, shape: Shape, pool: &[&str]) -> Vec<String> {
    if rng.percent(shape.untargeted_percent) {
        Vec::new()
    } else {
        let mut list = some_texts(rng, pool, 3);
        if list.is_empty() {
            list.push(pick_any_case(rng, pool));
        }
        list
    }
}

/// One value of `pool`, in random case.
fn pick_any_case(rng: &mut Rng, pool: &[&str]) -> String {
    let value = pool[rng.below(pool.len())];
    any_case(rng, value)
}

fn exclude(rng: &mut Rng, shape: Shape, pool: &[&str]) -> Vec<String> {
    if rng.percent(shape.no_exclude_percent) {
        Vec::new()
    } else {
        some_texts(rng, pool, 2)
    }
}

fn random_creative(rng: &mut Rng, shape: Shape) -> Creative {
    match rng.below(4) {
        0 | 1 => {
            let (w, h) = if rng.percent(shape.common_size_percent) {
                SIZES[0]
            } else {
                *rng.pick(&SIZES[1..])
            };
            banner(w, h)
        }
        2 => {
            let format = if rng.percent(70) {
                CreativeFormat::Video
            } else {
                CreativeFormat::Audio
            };
            let mimes = rng.some(&MIMES, 2);
            let duration_s = *rng.pick(&DURATIONS_S);
            let mut creative = timed(format, &mimes, duration_s);
            creative.mimes = creative.mimes.iter().map(|m| any_case(rng, m)).collect();
            creative
        }
        _ => native(),
    }
}

fn random_campaign(rng: &mut Rng, shape: Shape, campaign_idx: usize) -> Campaign {
    let mut campaign = campaign(&format!("c{campaign_idx}"));
    if rng.percent(10) {
        campaign.status = CampaignStatus::Paused;
    }
    let t = &mut campaign.targeting;
    t.countries = include(rng, shape, &COUNTRIES)
        .iter()
        .map(|code| CountryCode::parse(code).unwrap())
        .collect();
    t.regions = include(rng, shape, &REGIONS);
    if rng.percent(100 - shape.untargeted_percent) {
        t.device_types = (0..1 + rng.below(2))
            .map(|_| 1 + rng.below(7) as u8)
            .collect();
    }
    t.os = include(rng, shape, &OS);
    t.domains.include = include(rng, shape, &DOMAINS);
    t.domains.exclude = exclude(rng, shape, &DOMAINS);
    t.bundles.include = include(rng, shape, &BUNDLES);
    t.bundles.exclude = exclude(rng, shape, &BUNDLES);
    t.categories.include = include(rng, shape, &CATEGORIES);
    t.categories.exclude = exclude(rng, shape, &CATEGORIES);
    t.segments.include = include(rng, shape, &SEGMENTS);
    t.segments.exclude = exclude(rng, shape, &SEGMENTS);
    if rng.percent((100 - shape.untargeted_percent).max(2)) {
        t.dayparts = (0..1 + rng.below(2))
            .map(|_| {
                let start_hour = rng.below(25) as u8;
                Daypart {
                    days: rng.below(128) as u8,
                    start_hour,
                    end_hour: start_hour.saturating_add(rng.below(12) as u8),
                }
            })
            .collect();
    }
    campaign.creatives = (0..rng.below(5))
        .map(|_| random_creative(rng, shape))
        .collect();
    campaign
}

fn random_imp(rng: &mut Rng, imp_idx: usize) -> Value {
    let mut imp = Map::new();
    imp.insert("id".into(), json!(imp_idx.to_string()));
    let media = 1 + rng.below(15); // a non-empty subset of banner, video, audio, native
    if media & 1 != 0 {
        let mut formats: Vec<Value> = rng
            .some(&SIZES, 2)
            .into_iter()
            .map(|(w, h)| json!({"w": w, "h": h}))
            .collect();
        if rng.percent(30) {
            let (wmin, wratio, hratio) = *rng.pick(&FLEX);
            formats.push(json!({"wmin": wmin, "wratio": wratio, "hratio": hratio}));
        }
        let mut banner = Map::new();
        if formats.is_empty() || rng.percent(50) {
            let (w, h) = *rng.pick(&SIZES);
            banner.insert("w".into(), json!(w));
            banner.insert("h".into(), json!(h));
        }
        if !formats.is_empty() {
            banner.insert("format".into(), json!(formats));
        }
        imp.insert("banner".into(), Value::Object(banner));
    }
    for (bit, key) in [(2, "video"), (4, "audio")] {
        if media & bit != 0 {
            let mut mimes: Vec<String> = some_texts(rng, &MIMES, 2);
            if mimes.is_empty() {
                mimes.push("video/mp4".into());
            }
            let minduration = *rng.pick(&DURATIONS_S);
            let maxduration = *rng.pick(&DURATIONS_S);
            imp.insert(
                key.into(),
                json!({"mimes": mimes, "minduration": minduration, "maxduration": maxduration}),
            );
        }
    }
    if media & 8 != 0 {
        imp.insert("native".into(), json!({"request": native_request_string()}));
    }
    Value::Object(imp)
}

fn random_request(rng: &mut Rng) -> Value {
    let n_imps = 1 + rng.below(3);
    let imps: Vec<Value> = (0..n_imps)
        .map(|imp_idx| random_imp(rng, imp_idx))
        .collect();
    let mut request = json!({"id": "r", "imp": imps});
    let categories = some_texts(rng, &CATEGORIES, 3);
    let domain = rng.percent(80).then(|| pick_any_case(rng, &DOMAINS));
    if rng.percent(60) {
        let mut site = json!({"id": "s", "cat": categories});
        if let Some(domain) = domain {
            site["domain"] = json!(domain);
        }
        request["site"] = site;
    } else {
        let mut app = json!({"id": "a", "pagecat": categories});
        if rng.percent(80) {
            app["bundle"] = json!(pick_any_case(rng, &BUNDLES));
        }
        if let Some(domain) = domain.filter(|_| rng.percent(30)) {
            app["domain"] = json!(domain);
        }
        request["app"] = app;
    }
    let mut device = json!({});
    if rng.percent(80) {
        device["devicetype"] = json!(1 + rng.below(7));
    }
    if rng.percent(80) {
        device["os"] = json!(pick_any_case(rng, &OS));
    }
    let mut geo = json!({});
    if rng.percent(80) {
        geo["country"] = json!(pick_any_case(rng, &COUNTRIES));
    }
    if rng.percent(70) {
        geo["region"] = json!(pick_any_case(rng, &REGIONS));
    }
    device["geo"] = geo;
    request["device"] = device;
    if rng.percent(80) {
        let segments: Vec<Value> = some_texts(rng, &SEGMENTS, 4)
            .into_iter()
            .map(|id| json!({"id": id}))
            .collect();
        request["user"] = json!({"data": [{"id": "dp", "segment": segments}]});
    }
    request
}

// The reference predicate.

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn includes(list: &[String], values: &[String]) -> bool {
    list.is_empty()
        || values
            .iter()
            .any(|v| !v.is_empty() && list.iter().any(|l| same(l, v)))
}

fn excludes(list: &[String], values: &[String]) -> bool {
    values
        .iter()
        .any(|v| !v.is_empty() && list.iter().any(|l| same(l, v)))
}

fn runs_at(dayparts: &[Daypart], hour: HourOfWeek) -> bool {
    dayparts.is_empty()
        || dayparts.iter().any(|d| {
            d.days & (1 << hour.weekday_idx()) != 0
                && d.start_hour <= hour.hour()
                && hour.hour() < d.end_hour.min(24)
        })
}

fn reference_fits(creative: &Creative, request: &AdRequest, imp: &Imp) -> bool {
    let duration_ok = |min_s: u32, max_s: u32| {
        (min_s == 0 || creative.duration_s >= min_s) && (max_s == 0 || creative.duration_s <= max_s)
    };
    let mime_ok = |mimes| {
        request
            .texts(mimes)
            .any(|m| creative.mimes.iter().any(|c| same(c, m)))
    };
    match creative.format {
        CreativeFormat::Banner => {
            let (w, h) = (u64::from(creative.w), u64::from(creative.h));
            imp.media.contains(MediaKinds::BANNER)
                && w > 0
                && h > 0
                && (request
                    .sizes(imp.sizes)
                    .iter()
                    .any(|s| u64::from(s.w) == w && u64::from(s.h) == h)
                    || request.flex_sizes(imp.flex_sizes).iter().any(|f| {
                        f.wratio > 0
                            && f.hratio > 0
                            && w >= u64::from(f.wmin)
                            && w * u64::from(f.hratio) == h * u64::from(f.wratio)
                    }))
        }
        CreativeFormat::Video => imp
            .video
            .is_some_and(|v| duration_ok(v.minduration_s, v.maxduration_s) && mime_ok(v.mimes)),
        CreativeFormat::Audio => imp
            .audio
            .is_some_and(|a| duration_ok(a.minduration_s, a.maxduration_s) && mime_ok(a.mimes)),
        CreativeFormat::Native => imp.media.contains(MediaKinds::NATIVE),
    }
}

fn reference_matches(
    campaign: &Campaign,
    request: &AdRequest,
    imp: &Imp,
    hour: HourOfWeek,
) -> bool {
    let t = &campaign.targeting;
    let text = |r| vec![request.text(r).to_owned()];
    let country: Vec<String> = request
        .device
        .country
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    let countries: Vec<String> = t.countries.iter().map(|c| c.as_str().to_owned()).collect();
    let domain = request.text(request.context.domain);
    let labels: Vec<&str> = domain.split('.').collect();
    let domains: Vec<String> = (0..labels.len()).map(|i| labels[i..].join(".")).collect();
    let mut categories = Vec::new();
    for category in request.texts(request.context.categories) {
        categories.push(category.to_owned());
        if let Some((parent, _)) = category.split_once('-') {
            categories.push(parent.to_owned());
        }
    }
    let segments: Vec<String> = request
        .texts(request.user.segment_ids)
        .map(str::to_owned)
        .collect();
    let device_ok = t.device_types.is_empty()
        || request
            .device
            .device_type
            .is_some_and(|d| t.device_types.contains(&d));
    campaign.status == CampaignStatus::Active
        && includes(&countries, &country)
        && includes(&t.regions, &text(request.device.region))
        && device_ok
        && includes(&t.os, &text(request.device.os))
        && includes(&t.domains.include, &domains)
        && !excludes(&t.domains.exclude, &domains)
        && includes(&t.bundles.include, &text(request.context.bundle))
        && !excludes(&t.bundles.exclude, &text(request.context.bundle))
        && includes(&t.categories.include, &categories)
        && !excludes(&t.categories.exclude, &categories)
        && includes(&t.segments.include, &segments)
        && !excludes(&t.segments.exclude, &segments)
        && runs_at(&t.dayparts, hour)
        && campaign
            .creatives
            .iter()
            .any(|c| reference_fits(c, request, imp))
}

fn index_matches(
    index: &TargetingIndex,
    request: &AdRequest,
    hour: HourOfWeek,
    scratch: &mut IndexScratch,
    imp: &Imp,
    rank_end: usize,
    stop_after: usize,
) -> Vec<usize> {
    let mut lookup = index.lookup(request, hour, scratch);
    let mut found = Vec::new();
    let _ = lookup.visit_matches(imp, rank_end, |campaign_idx| {
        found.push(campaign_idx as usize);
        if found.len() >= stop_after {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

fn seed() -> u64 {
    std::env::var("ADSHARD_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos() as u64)
        })
}

#[test]
fn index_returns_what_a_scan_returns() {
    let seed = seed();
    println!("seed {seed} (rerun with ADSHARD_SEED={seed})");
    let n_cases: usize = std::env::var("ADSHARD_TARGETING_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let mut rng = Rng::new(seed);
    let mut scratch = IndexScratch::new();
    let mut n_matches = 0usize;
    let mut n_lookups = 0usize;
    for case_idx in 0..n_cases {
        let (shape, n_campaigns) = if case_idx % 40 == 39 {
            (LARGE, 2000 + rng.below(6000))
        } else {
            (SMALL, rng.below(301))
        };
        let mut campaigns: Vec<Campaign> = (0..n_campaigns)
            .map(|idx| random_campaign(&mut rng, shape, idx))
            .collect();
        let mut index = TargetingIndex::build(&campaigns);
        // Pause and resume some after the build, as the admin API does.
        for _ in 0..rng.below(4) {
            if n_campaigns == 0 {
                break;
            }
            let campaign_idx = rng.below(n_campaigns);
            let paused = rng.percent(50);
            assert!(index.set_paused(campaign_idx as u32, paused));
            campaigns[campaign_idx].status = if paused {
                CampaignStatus::Paused
            } else {
                CampaignStatus::Active
            };
        }
        for _ in 0..8 {
            let body = random_request(&mut rng);
            let request = parse(&body);
            let hour = HourOfWeek::from_unix_s(rng.next_u64() as i64 % 10_000_000_000);
            for imp in request.imps() {
                n_lookups += 1;
                let expected: Vec<usize> = campaigns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| reference_matches(c, &request, imp, hour))
                    .map(|(idx, _)| idx)
                    .collect();
                n_matches += expected.len();
                let context =
                    || format!("seed {seed}, case {case_idx}, hour {hour:?}, request {body}");
                let found = index_matches(
                    &index,
                    &request,
                    hour,
                    &mut scratch,
                    imp,
                    usize::MAX,
                    usize::MAX,
                );
                assert_eq!(found, expected, "all matches; {}", context());

                let stop_after = 1 + rng.below(5);
                let found = index_matches(
                    &index,
                    &request,
                    hour,
                    &mut scratch,
                    imp,
                    usize::MAX,
                    stop_after,
                );
                let prefix = &expected[..expected.len().min(stop_after)];
                assert_eq!(found, prefix, "first {stop_after}; {}", context());

                let rank_end = rng.below(n_campaigns + 2);
                let found = index_matches(
                    &index,
                    &request,
                    hour,
                    &mut scratch,
                    imp,
                    rank_end,
                    usize::MAX,
                );
                let below: Vec<usize> = expected
                    .iter()
                    .copied()
                    .filter(|&idx| idx < rank_end)
                    .collect();
                assert_eq!(found, below, "below rank {rank_end}; {}", context());

                for campaign in &campaigns {
                    for creative in &campaign.creatives {
                        assert_eq!(
                            creative_fits(creative, &request, imp),
                            reference_fits(creative, &request, imp),
                            "creative_fits of {creative:?}; {}",
                            context()
                        );
                    }
                }
            }
        }
    }
    println!("{n_lookups} lookups, {n_matches} matches");
    // The pools are small enough that matches are common: the comparison is not vacuous.
    assert!(
        n_matches > n_lookups,
        "{n_matches} matches in {n_lookups} lookups"
    );
}
