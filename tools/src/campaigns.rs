//! `adshard-gen campaigns`: a data file of N campaigns with a realistic spread of bids,
//! budgets, targeting and creatives, for load tests and index benchmarks.
//!
//! The shares follow what a mid-size ad server sees: most campaigns target a few countries,
//! fewer target devices, OS, sites, categories, audiences or hours, and the targeted values
//! are Zipf-distributed over the same pools as `traffic`, so popular values are targeted (and
//! requested) most. Files are written with one advertiser or campaign per line, so the loader's
//! line numbers point at a campaign and a diff of two seeds reads line by line.
//!
//! Built from the engine's own file-format types (`adshard::campaign::data::format`), so a
//! generated file is in the format the server loads by construction; a test loads one.

use std::io::Write;

use adshard::campaign::data::format::{
    AdvertiserJson, BudgetJson, CampaignJson, CreativeFormatJson, CreativeJson, DaypartJson,
    FlightJson, FrequencyCapJson, IncludeExcludeJson, PacingJson, SpendOnJson, StatusJson,
    TargetingJson,
};
use adshard::campaign::data::{rfc3339, CAMPAIGNS_PER_LOAD_MAX, MICROS_PER_UNIT};
use anyhow::{ensure, Context};

use crate::pools;
use crate::rng::Rng;
use crate::zipf::Zipf;

/// Campaigns per advertiser on average: brands run several at once.
const CAMPAIGNS_PER_ADVERTISER: usize = 10;

/// The share of campaigns with each kind of targeting (per the brief for the generator).
const SHARE_COUNTRIES: f64 = 0.60;
const SHARE_REGIONS_OF_US: f64 = 0.10;
const SHARE_DEVICE_TYPES: f64 = 0.30;
const SHARE_OS: f64 = 0.20;
const SHARE_DOMAIN_INCLUDE: f64 = 0.10;
const SHARE_DOMAIN_EXCLUDE: f64 = 0.20;
const SHARE_BUNDLE_EXCLUDE: f64 = 0.10;
const SHARE_CATEGORIES: f64 = 0.15;
const SHARE_SEGMENTS: f64 = 0.10;
const SHARE_DAYPARTS: f64 = 0.10;
const SHARE_VIDEO: f64 = 0.15;

/// Median bid: 2 USD CPM, spread so that most bids fall within 1 to 4 USD.
const BID_MEDIAN_MICROS: f64 = 2.0 * MICROS_PER_UNIT as f64;
const BID_SIGMA: f64 = 0.45;
/// Bids are rounded to a cent and kept within 0.05 to 50 USD: what real line items use.
const BID_STEP_MICROS: i64 = MICROS_PER_UNIT / 100;
const BID_MIN_MICROS: i64 = 50_000;
const BID_MAX_MICROS: i64 = 50 * MICROS_PER_UNIT;

/// 2025-01-01T00:00:00Z: flights start within the following year.
const FLIGHT_EPOCH_UNIX_S: i64 = 1_735_689_600;

pub struct CampaignsOptions {
    pub count: usize,
    pub seed: u64,
}

/// Writes a data file of `options.count` campaigns to `out`.
pub fn write_campaigns(options: &CampaignsOptions, out: &mut impl Write) -> anyhow::Result<()> {
    ensure!(
        options.count <= CAMPAIGNS_PER_LOAD_MAX,
        "--count {} is above the {CAMPAIGNS_PER_LOAD_MAX} campaigns one load accepts",
        options.count
    );
    let mut rng = Rng::new(options.seed);
    let n_advertisers = options.count.div_ceil(CAMPAIGNS_PER_ADVERTISER).max(1);
    let pools = Pools::new();

    out.write_all(b"{\n\"advertisers\": [\n")?;
    for advertiser_idx in 0..n_advertisers {
        let advertiser = AdvertiserJson {
            id: advertiser_id(advertiser_idx),
            name: brand_name(advertiser_idx),
        };
        if advertiser_idx > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *out, &advertiser)?;
    }
    out.write_all(b"\n],\n\"campaigns\": [\n")?;
    for campaign_idx in 0..options.count {
        let advertiser_idx = rng.below(n_advertisers as u64) as usize;
        let campaign = campaign(&mut rng, &pools, campaign_idx, advertiser_idx)?;
        if campaign_idx > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *out, &campaign)?;
    }
    out.write_all(b"\n]\n}\n")?;
    out.flush().context("writing the campaigns")?;
    Ok(())
}

struct Pools {
    countries: Zipf,
    domains: Zipf,
    bundles: Zipf,
    categories: Zipf,
    segments: Zipf,
}

impl Pools {
    fn new() -> Pools {
        Pools {
            countries: Zipf::new(pools::COUNTRIES.len()),
            domains: Zipf::new(pools::DOMAINS),
            bundles: Zipf::new(pools::BUNDLES),
            categories: Zipf::new(pools::CATEGORIES),
            segments: Zipf::new(pools::SEGMENTS),
        }
    }
}

pub fn advertiser_id(advertiser_idx: usize) -> String {
    format!("adv-{advertiser_idx:06}")
}

fn brand_name(advertiser_idx: usize) -> String {
    let domain = pools::brand_domain(advertiser_idx);
    let stem = domain.trim_end_matches(".example");
    stem.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn campaign(
    rng: &mut Rng,
    pools: &Pools,
    campaign_idx: usize,
    advertiser_idx: usize,
) -> anyhow::Result<CampaignJson> {
    let id = format!("cmp-{campaign_idx:07}");
    let adomain = pools::brand_domain(advertiser_idx);
    let is_video = rng.chance(SHARE_VIDEO);
    // Video clears at several times display prices.
    let bid_cpm_micros = if is_video {
        (bid_micros(rng) * 4).min(BID_MAX_MICROS)
    } else {
        bid_micros(rng)
    };
    let currency = match rng.weighted(&[90, 7, 3]) {
        0 => "USD",
        1 => "EUR",
        _ => "GBP",
    };
    let status = if rng.chance(0.95) {
        StatusJson::Active
    } else {
        StatusJson::Paused
    };
    let pacing = if rng.chance(0.75) {
        PacingJson::Even
    } else {
        PacingJson::Asap
    };
    let budget = budget(rng, bid_cpm_micros);
    let flight = flight(rng)?;
    let frequency_caps = frequency_caps(rng);
    let targeting = targeting(rng, pools);
    let creatives = creatives(rng, &id, &adomain, is_video);
    Ok(CampaignJson {
        id,
        advertiser: advertiser_id(advertiser_idx),
        adomain,
        status,
        bid_cpm_micros,
        currency: currency.to_owned(),
        budget,
        flight,
        pacing,
        frequency_caps,
        targeting,
        creatives,
    })
}

/// A log-normal CPM in micro-units, rounded to a cent. Floats only generate the number; the
/// file carries the integer.
fn bid_micros(rng: &mut Rng) -> i64 {
    let micros = rng.log_normal(BID_MEDIAN_MICROS, BID_SIGMA) as i64;
    (micros / BID_STEP_MICROS * BID_STEP_MICROS).clamp(BID_MIN_MICROS, BID_MAX_MICROS)
}

fn budget(rng: &mut Rng, bid_cpm_micros: i64) -> Option<BudgetJson> {
    if rng.chance(0.05) {
        return None;
    }
    // Daily impressions between ~20k and ~2M, so the daily budget follows the bid.
    let impressions_per_day = rng.log_normal(200_000.0, 1.0).clamp(20_000.0, 2_000_000.0) as i64;
    let daily_micros =
        (bid_cpm_micros.saturating_mul(impressions_per_day) / 1000 / MICROS_PER_UNIT).max(1)
            * MICROS_PER_UNIT;
    let days = rng.between(14, 120) as i64;
    // At least one of the two limits; 10% run on a daily budget alone, 10% on a total alone.
    let (total_micros, daily_micros) = match rng.weighted(&[80, 10, 10]) {
        0 => (Some(daily_micros.saturating_mul(days)), Some(daily_micros)),
        1 => (None, Some(daily_micros)),
        _ => (Some(daily_micros.saturating_mul(days)), None),
    };
    Some(BudgetJson {
        total_micros,
        daily_micros,
        spend_on: if rng.chance(0.8) {
            SpendOnJson::Impression
        } else {
            SpendOnJson::Win
        },
    })
}

fn flight(rng: &mut Rng) -> anyhow::Result<Option<FlightJson>> {
    if !rng.chance(0.3) {
        return Ok(None);
    }
    let start_unix_s = FLIGHT_EPOCH_UNIX_S + rng.below(365) as i64 * 86_400;
    let end_unix_s = start_unix_s + rng.between(90, 1_500) as i64 * 86_400;
    let format = |unix_s| rfc3339::format_unix_s(unix_s).context("flight date out of range");
    Ok(Some(FlightJson {
        start: Some(format(start_unix_s)?),
        end: rng.chance(0.7).then(|| format(end_unix_s)).transpose()?,
    }))
}

fn frequency_caps(rng: &mut Rng) -> Vec<FrequencyCapJson> {
    const WINDOWS_S: [i64; 3] = [3_600, 86_400, 604_800];
    let n_caps = match rng.weighted(&[50, 35, 15]) {
        0 => 0,
        1 => 1,
        _ => 2,
    };
    (0..n_caps)
        .map(|cap_idx| FrequencyCapJson {
            // Longer windows allow more impressions.
            max: rng.between(1, 5) as i64 * (cap_idx as i64 + 1),
            window_s: WINDOWS_S[(cap_idx + rng.below(2) as usize).min(WINDOWS_S.len() - 1)],
        })
        .collect()
}

fn targeting(rng: &mut Rng, pools: &Pools) -> TargetingJson {
    let mut targeting = TargetingJson::default();
    if rng.chance(SHARE_COUNTRIES) {
        let n = rng.between(1, 5) as usize;
        targeting.countries = pools
            .countries
            .sample_distinct(rng, n)
            .into_iter()
            .filter_map(|rank| pools::COUNTRIES.get(rank).map(|code| code.to_string()))
            .collect();
        if targeting.countries == ["USA"] && rng.chance(SHARE_REGIONS_OF_US) {
            let n = rng.between(1, 3) as usize;
            targeting.regions = (0..n)
                .filter_map(|_| rng.pick(&pools::US_REGIONS).map(|r| r.to_string()))
                .collect();
        }
    }
    if rng.chance(SHARE_DEVICE_TYPES) {
        // Phones and tablets (4, 5) or desktop (2), as buyers split them.
        targeting.device_types = match rng.weighted(&[50, 30, 20]) {
            0 => vec![4, 5],
            1 => vec![2],
            _ => vec![1, 4],
        };
    }
    if rng.chance(SHARE_OS) {
        targeting.os = match rng.weighted(&[45, 45, 10]) {
            0 => vec!["ios".to_owned()],
            1 => vec!["android".to_owned()],
            _ => vec!["windows".to_owned(), "macos".to_owned()],
        };
    }
    let mut domains = IncludeExcludeJson::default();
    if rng.chance(SHARE_DOMAIN_INCLUDE) {
        let n = rng.log_normal(10.0, 1.0).clamp(1.0, 500.0) as usize;
        domains.include = names(pools.domains.sample_distinct(rng, n), pools::domain);
    }
    if rng.chance(SHARE_DOMAIN_EXCLUDE) {
        let n = rng.log_normal(30.0, 1.0).clamp(1.0, 2_000.0) as usize;
        let include = domains.include.clone();
        domains.exclude = names(pools.domains.sample_distinct(rng, n), pools::domain)
            .into_iter()
            .filter(|domain| !include.contains(domain))
            .collect();
    }
    targeting.domains = domains;
    if rng.chance(SHARE_BUNDLE_EXCLUDE) {
        let n = rng.between(1, 50) as usize;
        targeting.bundles.exclude = names(pools.bundles.sample_distinct(rng, n), pools::bundle);
    }
    if rng.chance(SHARE_CATEGORIES) {
        let n = rng.between(1, 3) as usize;
        let categories = names(pools.categories.sample_distinct(rng, n), pools::category);
        // Most category targeting is contextual inclusion; some is brand-safety exclusion.
        if rng.chance(0.7) {
            targeting.categories.include = categories;
        } else {
            targeting.categories.exclude = categories;
        }
    }
    if rng.chance(SHARE_SEGMENTS) {
        let n = rng.between(1, 5) as usize;
        targeting.segments.include = names(pools.segments.sample_distinct(rng, n), pools::segment);
    }
    if rng.chance(SHARE_DAYPARTS) {
        targeting.dayparts = dayparts(rng);
    }
    targeting
}

fn names(ranks: Vec<usize>, name: fn(usize) -> String) -> Vec<String> {
    ranks.into_iter().map(name).collect()
}

fn dayparts(rng: &mut Rng) -> Vec<DaypartJson> {
    const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];
    const WEEKEND: [&str; 2] = ["sat", "sun"];
    let days = |names: &[&str]| names.iter().map(|day| day.to_string()).collect();
    let start_hour = rng.between(0, 12) as i64;
    let end_hour = (start_hour + rng.between(4, 12) as i64).min(24);
    let mut parts = vec![DaypartJson {
        days: days(&WEEKDAYS),
        start_hour,
        end_hour,
    }];
    if rng.chance(0.5) {
        parts.push(DaypartJson {
            days: days(&WEEKEND),
            start_hour: rng.between(6, 12) as i64,
            end_hour: 24,
        });
    }
    parts
}

fn creatives(rng: &mut Rng, campaign_id: &str, adomain: &str, is_video: bool) -> Vec<CreativeJson> {
    let landing_page = format!("https://www.{adomain}/?utm_campaign={campaign_id}");
    let categories = vec![pools::category(rng.below(26) as usize)];
    let attributes = if rng.chance(0.05) {
        vec![rng.between(1, 17) as i64]
    } else {
        Vec::new()
    };
    let secure = rng.chance(0.95);
    let mut creatives = Vec::new();
    if is_video {
        let n = rng.between(1, 2);
        for creative_idx in 0..n {
            let (w, h) = *rng.pick(&pools::VIDEO_SIZES).unwrap_or(&(640, 480));
            let duration_s = *rng.pick(&pools::VIDEO_DURATIONS_S).unwrap_or(&15);
            let id = format!("{campaign_id}-v{creative_idx}");
            creatives.push(CreativeJson {
                markup: vast(&id, adomain, w, h, duration_s, &landing_page),
                id,
                format: CreativeFormatJson::Video,
                w: i64::from(w),
                h: i64::from(h),
                mimes: vec!["video/mp4".to_owned(), "video/webm".to_owned()],
                duration_s: i64::from(duration_s),
                categories: categories.clone(),
                attributes: attributes.clone(),
                landing_page: landing_page.clone(),
                secure,
            });
        }
    } else {
        let n = rng.between(1, 3) as usize;
        let mut sizes: Vec<(u32, u32)> = Vec::with_capacity(n);
        for _ in 0..n {
            let size = pools::BANNER_SIZES[rng.weighted(&pools::BANNER_SIZE_WEIGHTS)];
            if !sizes.contains(&size) {
                sizes.push(size);
            }
        }
        for (w, h) in sizes {
            let id = format!("{campaign_id}-{w}x{h}");
            creatives.push(CreativeJson {
                markup: format!(
                    "<a href=\"{landing_page}\" target=\"_blank\"><img src=\"https://cdn.{adomain}/{id}.jpg\" width=\"{w}\" height=\"{h}\" alt=\"\"></a>"
                ),
                id,
                format: CreativeFormatJson::Banner,
                w: i64::from(w),
                h: i64::from(h),
                mimes: Vec::new(),
                duration_s: 0,
                categories: categories.clone(),
                attributes: attributes.clone(),
                landing_page: landing_page.clone(),
                secure,
            });
        }
    }
    creatives
}

/// A minimal valid VAST 4 inline ad.
fn vast(id: &str, adomain: &str, w: u32, h: u32, duration_s: u32, landing_page: &str) -> String {
    format!(
        concat!(
            "<VAST version=\"4.2\"><Ad id=\"{id}\"><InLine><AdSystem>adshard-gen</AdSystem>",
            "<Impression><![CDATA[https://ads.{adomain}/imp?ad={id}]]></Impression>",
            "<AdServingId>{id}</AdServingId><AdTitle>{id}</AdTitle><Creatives><Creative id=\"{id}\">",
            "<UniversalAdId idRegistry=\"unknown\">{id}</UniversalAdId><Linear>",
            "<Duration>00:00:{duration_s:02}</Duration>",
            "<VideoClicks><ClickThrough><![CDATA[{landing_page}]]></ClickThrough></VideoClicks>",
            "<MediaFiles><MediaFile delivery=\"progressive\" type=\"video/mp4\" width=\"{w}\" height=\"{h}\">",
            "<![CDATA[https://cdn.{adomain}/{id}.mp4]]></MediaFile></MediaFiles>",
            "</Linear></Creative></Creatives></InLine></Ad></VAST>"
        ),
        id = id,
        adomain = adomain,
        w = w,
        h = h,
        duration_s = duration_s,
        landing_page = landing_page
    )
}
