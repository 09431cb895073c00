//! How does a targeting lookup's cost grow with the number of campaigns? The goal (design §5):
//! a lookup that stops after the first matches costs at most twice as much with 100k campaigns
//! as with 1k, because `targeting::TargetingIndex` yields matches in bid order and the auction
//! needs only the top two above the floor.
//!
//! Campaigns (1k, 10k, 100k) and requests are generated here from a fixed seed with a spread
//! meant to look like a real catalog: 60% of campaigns target 1-3 countries from a Zipf-like
//! pool of 50, 30% device types, 20% OS, 5% regions, 10% include 1-5 of 10k domains (Zipf),
//! 20% exclude 1-10 of them, 5% include or exclude app bundles, 15% include IAB categories
//! (10% exclude some), 10% include user segments of 1000, 10% dayparts; 1-3 creatives each of
//! common IAB sizes (300x250 the most common), 10% with a video. Requests are 256 different
//! 1-imp 300x250 site banners (country, device, OS, a subdomain of a Zipf-drawn domain, 1-2
//! categories, 0-5 segments, an hour of the week), cycled so the caches see a mix.
//!
//! Two lookups per size:
//! - `early_stop`: the auction's: stops after the first 2 matches, among campaigns bidding at
//!   least the floor (the median bid: `rank_end` is the first campaign under it);
//! - `all_matches`: enumerates every match (the worst case, no early stop).
//!
//! Criterion's time per iteration is the time per lookup (request groups + one impression's
//! sweep). Before the criterion runs, the bench prints per size: memory per campaign, build
//! time, average matches, and the tail (p50 ... p99.9 of single lookups timed with `Instant`,
//! which adds its own overhead, printed alongside).
//!
//! Run: `cargo bench -p adshard-bench --bench targeting -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use adshard::adrequest::{AdRequest, CountryCode};
use adshard::campaign::{
    Campaign, CampaignBuilder, CampaignStatus, Creative, CreativeBuilder, CreativeFormat, Daypart,
    IncludeExclude, Pacing, Targeting,
};
use adshard::openrtb::parse_bid_request;
use adshard::targeting::{HourOfWeek, IndexScratch, TargetingIndex};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;

const CAMPAIGN_COUNTS: [usize; 3] = [1_000, 10_000, 100_000];
const SEED: u64 = 0x7a29_e71c_0de5_eed5;
const N_REQUESTS: usize = 256;
/// The auction's need: the winner and the runner-up.
const MATCHES_WANTED: usize = 2;
const N_DOMAINS: usize = 10_000;
const N_BUNDLES: usize = 5_000;
const N_SEGMENTS: usize = 1_000;
/// Single lookups timed for the tail report, within `TAIL_TIME` per lookup kind and size.
const TAIL_SAMPLES: usize = 200_000;
const TAIL_TIME: Duration = Duration::from_secs(1);

const COUNTRIES: [&str; 50] = [
    "USA", "GBR", "DEU", "FRA", "CAN", "AUS", "JPN", "BRA", "IND", "MEX", "ITA", "ESP", "NLD",
    "SWE", "POL", "TUR", "KOR", "IDN", "RUS", "ARG", "ZAF", "NGA", "EGY", "SAU", "ARE", "CHE",
    "AUT", "BEL", "NOR", "DNK", "FIN", "IRL", "PRT", "GRC", "CZE", "ROU", "HUN", "ISR", "SGP",
    "MYS", "THA", "VNM", "PHL", "NZL", "CHL", "COL", "PER", "UKR", "PAK", "BGD",
];
const REGIONS: [&str; 8] = ["CA", "NY", "TX", "FL", "ON", "BY", "IDF", "ENG"];
const OS: [&str; 5] = ["ios", "android", "windows", "macos", "linux"];
/// Common IAB sizes, the most used first (300x250 is about 40% of creatives).
const BANNER_SIZES: [(u32, u32, u32); 7] = [
    (300, 250, 40),
    (728, 90, 20),
    (320, 50, 15),
    (160, 600, 8),
    (300, 600, 7),
    (970, 250, 5),
    (336, 280, 5),
];

/// SplitMix64: small, seeded, good enough to spread test data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    /// Zipf-like over `0..n`: P(k) ~ 1/(k+1), so a few values are very common.
    fn zipf(&mut self, n: usize) -> usize {
        let k = ((n as f64 + 1.0).powf(self.unit()) - 1.0) as usize;
        k.min(n - 1)
    }

    fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }
}

fn domain(idx: usize) -> String {
    format!("site{idx}.example")
}

fn category(rng: &mut Rng, with_subcategory: bool) -> String {
    let parent = 1 + rng.zipf(26);
    if with_subcategory {
        format!("IAB{parent}-{}", 1 + rng.below(10))
    } else {
        format!("IAB{parent}")
    }
}

fn banner(rng: &mut Rng) -> Creative {
    let mut roll = rng.below(100) as u32;
    let (w, h) = BANNER_SIZES
        .iter()
        .find(|(_, _, percent)| {
            let hit = roll < *percent;
            roll = roll.saturating_sub(*percent);
            hit
        })
        .map_or((300, 250), |&(w, h, _)| (w, h));
    // No markup or landing page: the index never reads them, and a catalog of 100k campaigns
    // is built per size.
    CreativeBuilder::banner(&format!("{w}x{h}"), w, h)
        .markup("")
        .landing_page("")
        .secure(true)
        .build()
}

fn random_campaign(rng: &mut Rng, campaign_idx: usize) -> Campaign {
    let mut targeting = Targeting::default();
    if rng.percent(60) {
        targeting.countries = (0..rng.between(1, 3))
            .filter_map(|_| CountryCode::parse(COUNTRIES[rng.zipf(COUNTRIES.len())]))
            .collect();
    }
    if rng.percent(5) {
        targeting.regions = vec![REGIONS[rng.below(REGIONS.len())].to_owned()];
    }
    if rng.percent(30) {
        targeting.device_types = (0..rng.between(1, 2))
            .map(|_| 1 + rng.below(7) as u8)
            .collect();
    }
    if rng.percent(20) {
        targeting.os = vec![OS[rng.zipf(OS.len())].to_owned()];
    }
    let mut domains = IncludeExclude::default();
    if rng.percent(10) {
        domains.include = (0..rng.between(1, 5))
            .map(|_| domain(rng.zipf(N_DOMAINS)))
            .collect();
    }
    if rng.percent(20) {
        domains.exclude = (0..rng.between(1, 10))
            .map(|_| domain(rng.zipf(N_DOMAINS)))
            .collect();
    }
    targeting.domains = domains;
    if rng.percent(5) {
        targeting.bundles.include = vec![format!("com.app{}", rng.zipf(N_BUNDLES))];
    }
    if rng.percent(5) {
        targeting.bundles.exclude = vec![format!("com.app{}", rng.zipf(N_BUNDLES))];
    }
    if rng.percent(15) {
        targeting.categories.include = (0..rng.between(1, 3))
            .map(|_| {
                let with_subcategory = rng.percent(30);
                category(rng, with_subcategory).to_ascii_lowercase()
            })
            .collect();
    }
    if rng.percent(10) {
        targeting.categories.exclude = vec![category(rng, false).to_ascii_lowercase()];
    }
    if rng.percent(10) {
        targeting.segments.include = (0..rng.between(1, 3))
            .map(|_| format!("seg{}", rng.zipf(N_SEGMENTS)))
            .collect();
    }
    if rng.percent(10) {
        let start_hour = rng.below(20) as u8;
        targeting.dayparts = vec![Daypart {
            days: if rng.percent(50) { 0x1f } else { 0x7f },
            start_hour,
            end_hour: start_hour + 4,
        }];
    }
    let mut creatives: Vec<Creative> = (0..rng.between(1, 3)).map(|_| banner(rng)).collect();
    if rng.percent(10) {
        creatives.push(Creative {
            id: "video".to_owned(),
            format: CreativeFormat::Video,
            w: 640,
            h: 360,
            mimes: vec!["video/mp4".to_owned()],
            duration_s: 15,
            ..banner(rng)
        });
    }
    // Drawn in this order (status, then bid), as before the builder, so the seed gives the
    // same catalog.
    let status = if rng.percent(3) {
        CampaignStatus::Paused
    } else {
        CampaignStatus::Active
    };
    // Log-uniform from 0.10 to 20.00 CPM.
    let bid_cpm_micros = (100_000.0 * 200f64.powf(rng.unit())) as i64;
    CampaignBuilder::new(&format!("c{campaign_idx}"))
        .advertiser_id(&format!("adv{}", campaign_idx % 500))
        .adomain("advertiser.example")
        .status(status)
        .bid_cpm_micros(bid_cpm_micros)
        .pacing(Pacing::Even)
        .targeting(targeting)
        .creatives(creatives)
        .build()
}

struct Lookup {
    request: AdRequest,
    hour: HourOfWeek,
}

fn random_lookup(rng: &mut Rng) -> Lookup {
    let subdomain = ["www", "news", "m", "sport"][rng.below(4)];
    let categories: Vec<String> = (0..rng.between(1, 2))
        .map(|_| category(rng, true))
        .collect();
    let segments: Vec<_> = (0..rng.below(6))
        .map(|_| json!({"id": format!("seg{}", rng.zipf(N_SEGMENTS))}))
        .collect();
    let device_type = [2, 4, 4, 5][rng.below(4)];
    let os = ["iOS", "Android", "Windows", "macOS"][rng.below(4)];
    let body = json!({
        "id": "bench",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 1.0}],
        "site": {
            "id": "site",
            "domain": format!("{subdomain}.{}", domain(rng.zipf(N_DOMAINS))),
            "cat": categories
        },
        "device": {
            "devicetype": device_type,
            "os": os,
            "geo": {"country": COUNTRIES[rng.zipf(COUNTRIES.len())], "region": REGIONS[rng.below(REGIONS.len())]}
        },
        "user": {"id": "u", "data": [{"id": "dp", "segment": segments}]}
    });
    let mut request = AdRequest::default();
    if let Err(error) = parse_bid_request(body.to_string().as_bytes(), &mut request) {
        panic!("generated request rejected: {error}");
    }
    Lookup {
        request,
        hour: HourOfWeek::from_unix_s(rng.next_u64() as i64 % 1_000_000_000),
    }
}

struct Fixture {
    index: TargetingIndex,
    lookups: Vec<Lookup>,
    /// Campaigns at or above the floor (the median bid): the sweep's rank bound.
    rank_end: usize,
}

impl Fixture {
    fn new(n_campaigns: usize) -> Fixture {
        let mut rng = Rng(SEED ^ n_campaigns as u64);
        let mut campaigns: Vec<Campaign> = (0..n_campaigns)
            .map(|idx| random_campaign(&mut rng, idx))
            .collect();
        // The catalog's order: highest bid first.
        campaigns.sort_by_key(|c| std::cmp::Reverse(c.bid_cpm_micros));
        let floor_micros = campaigns[n_campaigns / 2].bid_cpm_micros;
        let rank_end = campaigns.partition_point(|c| c.bid_cpm_micros >= floor_micros);
        let started = Instant::now();
        let index = TargetingIndex::build(&campaigns);
        let build_time = started.elapsed();
        let mut rng = Rng(SEED);
        let lookups = (0..N_REQUESTS).map(|_| random_lookup(&mut rng)).collect();
        let fixture = Fixture {
            index,
            lookups,
            rank_end,
        };
        let mut scratch = IndexScratch::new();
        let n_matches: usize = (0..N_REQUESTS)
            .map(|i| fixture.all_matches(i, &mut scratch))
            .sum();
        let n_early: usize = (0..N_REQUESTS)
            .map(|i| fixture.early_stop(i, &mut scratch))
            .sum();
        println!(
            "{n_campaigns} campaigns: {} bytes per campaign, built in {:.1} ms, {:.1} matches per \
             request ({:.2} found by the early stop)",
            fixture.index.memory_bytes() / n_campaigns,
            build_time.as_secs_f64() * 1e3,
            n_matches as f64 / N_REQUESTS as f64,
            n_early as f64 / N_REQUESTS as f64,
        );
        fixture
    }

    /// The auction's lookup: the first `MATCHES_WANTED` above the floor.
    fn early_stop(&self, lookup_idx: usize, scratch: &mut IndexScratch) -> usize {
        let Lookup { request, hour } = &self.lookups[lookup_idx % N_REQUESTS];
        let mut lookup = self.index.lookup(request, *hour, scratch);
        let mut found = 0;
        let _ = lookup.visit_matches(&request.imps()[0], self.rank_end, |_| {
            found += 1;
            if found == MATCHES_WANTED {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        found
    }

    fn all_matches(&self, lookup_idx: usize, scratch: &mut IndexScratch) -> usize {
        let Lookup { request, hour } = &self.lookups[lookup_idx % N_REQUESTS];
        let mut lookup = self.index.lookup(request, *hour, scratch);
        let mut found = 0;
        let _ = lookup.visit_matches(&request.imps()[0], usize::MAX, |_| {
            found += 1;
            ControlFlow::<()>::Continue(())
        });
        found
    }
}

/// Percentiles of single lookups: criterion reports means, and a shard's latency is its tail.
fn print_tail(name: &str, n_campaigns: usize, mut lookup: impl FnMut(usize) -> usize) {
    let mut samples_ns: Vec<u64> = Vec::with_capacity(TAIL_SAMPLES);
    let mut timer_ns: Vec<u64> = Vec::with_capacity(TAIL_SAMPLES);
    let tail_started = Instant::now();
    for i in 0..TAIL_SAMPLES {
        if tail_started.elapsed() > TAIL_TIME {
            break;
        }
        let started = Instant::now();
        black_box(lookup(i));
        samples_ns.push(started.elapsed().as_nanos() as u64);
        let started = Instant::now();
        timer_ns.push(black_box(started).elapsed().as_nanos() as u64);
    }
    samples_ns.sort_unstable();
    timer_ns.sort_unstable();
    let at =
        |sorted: &[u64], quantile: f64| sorted[((sorted.len() - 1) as f64 * quantile) as usize];
    println!(
        "{name}/{n_campaigns}: p50 {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns, max {} ns \
         ({} lookups; timer alone: p50 {} ns)",
        at(&samples_ns, 0.5),
        at(&samples_ns, 0.9),
        at(&samples_ns, 0.99),
        at(&samples_ns, 0.999),
        samples_ns[samples_ns.len() - 1],
        samples_ns.len(),
        at(&timer_ns, 0.5),
    );
}

fn targeting(c: &mut Criterion) {
    let fixtures: Vec<(usize, Fixture)> = CAMPAIGN_COUNTS
        .iter()
        .map(|&n| (n, Fixture::new(n)))
        .collect();
    // A profiling run (`--profile-time`) wants only the profiled lookup in its profile.
    let profiling = std::env::args().any(|arg| arg == "--profile-time");
    for (n_campaigns, fixture) in fixtures.iter().filter(|_| !profiling) {
        let mut scratch = IndexScratch::new();
        print_tail("early_stop", *n_campaigns, |i| {
            fixture.early_stop(i, &mut scratch)
        });
        print_tail("all_matches", *n_campaigns, |i| {
            fixture.all_matches(i, &mut scratch)
        });
    }

    let mut group = c.benchmark_group("targeting");
    group.measurement_time(Duration::from_secs(3));
    for (n_campaigns, fixture) in &fixtures {
        let mut scratch = IndexScratch::new();
        group.bench_with_input(
            BenchmarkId::new("early_stop", n_campaigns),
            fixture,
            |b, fixture| {
                let mut i = 0;
                b.iter(|| {
                    i += 1;
                    fixture.early_stop(i, &mut scratch)
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("all_matches", n_campaigns),
            fixture,
            |b, fixture| {
                let mut i = 0;
                b.iter(|| {
                    i += 1;
                    fixture.all_matches(i, &mut scratch)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, targeting);
criterion_main!(benches);
