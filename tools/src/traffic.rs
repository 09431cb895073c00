//! `adshard-gen traffic`: OpenRTB 2.6 bid requests as JSON lines, for load tests and replays.
//!
//! A mix like an exchange's: 70% sites and 30% apps; site impressions mostly banners with
//! some video, app impressions banners with some rewarded video; one impression usually, two
//! sometimes. Users, domains, bundles, countries and categories are Zipf-distributed over the
//! same pools as `campaigns`, so a few users come back often (frequency caps bite) and a few
//! sites carry most traffic (as they do). Every request passes the engine's validation; a test
//! parses them with `adshard::openrtb::parse_bid_request`.

use std::io::Write;

use anyhow::{ensure, Context};
use serde_json::{json, Value};

use crate::pools;
use crate::rng::{mix64, Rng};
use crate::zipf::{Zipf, RANKS_MAX};

/// Default number of distinct users: enough that caps matter for the popular ones and not
/// for the tail.
pub const USERS_DEFAULT: usize = 100_000;

/// Share of requests from apps (the rest from sites).
const SHARE_APP: f64 = 0.30;
/// Share of site impressions that are video (app: rewarded video).
const SHARE_SITE_VIDEO: f64 = 0.20;
const SHARE_APP_VIDEO: f64 = 0.10;
/// Share of requests with a second impression (a second slot on the page).
const SHARE_TWO_IMPS: f64 = 0.10;
/// Share of requests with a floor; the rest leave it to the bidders.
const SHARE_FLOOR: f64 = 0.60;
const SHARE_BCAT: f64 = 0.30;
const SHARE_BADV: f64 = 0.10;
const SHARE_SEGMENTS: f64 = 0.30;
/// Share of requests without a user id (only a device id, or nothing), which shard routing
/// and caps must handle.
const SHARE_NO_USER_ID: f64 = 0.10;
/// Banner sizes of app inventory.
const APP_BANNER_SIZES: [(u32, u32); 3] = [(320, 50), (300, 250), (728, 90)];
/// Brands that appear in `badv`: the most-blocked advertisers.
const BADV_BRANDS: usize = 200;

pub struct TrafficOptions {
    pub count: usize,
    pub seed: u64,
    pub users: usize,
}

struct Pools {
    users: Zipf,
    countries: Zipf,
    domains: Zipf,
    bundles: Zipf,
    categories: Zipf,
    segments: Zipf,
    brands: Zipf,
}

/// Writes `options.count` bid requests to `out`, one JSON object per line.
pub fn write_traffic(options: &TrafficOptions, out: &mut impl Write) -> anyhow::Result<()> {
    ensure!(
        (1..=RANKS_MAX).contains(&options.users),
        "--users must be 1..={RANKS_MAX}"
    );
    let mut rng = Rng::new(options.seed);
    let pools = Pools {
        users: Zipf::new(options.users),
        countries: Zipf::new(pools::COUNTRIES.len()),
        domains: Zipf::new(pools::DOMAINS),
        bundles: Zipf::new(pools::BUNDLES),
        categories: Zipf::new(pools::CATEGORIES),
        segments: Zipf::new(pools::SEGMENTS),
        brands: Zipf::new(BADV_BRANDS),
    };
    for request_idx in 0..options.count {
        let request = request(&mut rng, &pools, options.seed, request_idx);
        serde_json::to_writer(&mut *out, &request)?;
        out.write_all(b"\n")?;
    }
    out.flush().context("writing the traffic")?;
    Ok(())
}

/// A floor in currency units per thousand, rounded to a cent: the wire format is a decimal.
fn floor(rng: &mut Rng, median: f64) -> Value {
    let cents = (rng.log_normal(median * 100.0, 0.6) as i64).clamp(1, 5_000);
    json!(cents as f64 / 100.0)
}

fn banner_imp(rng: &mut Rng, imp_id: usize, with_floor: bool, is_app: bool) -> Value {
    // Apps show the mobile sizes (and the leaderboard on tablets); sites show all of them.
    let (w, h) = if is_app {
        *rng.pick(&APP_BANNER_SIZES).unwrap_or(&(320, 50))
    } else {
        pools::BANNER_SIZES[rng.weighted(&pools::BANNER_SIZE_WEIGHTS)]
    };
    let mut imp = json!({
        "id": imp_id.to_string(),
        "banner": {"w": w, "h": h, "pos": rng.below(4)},
        "secure": u8::from(rng.chance(0.8)),
    });
    // A multi-size slot offers the 300x600 half page too.
    if (w, h) == (300, 250) && rng.chance(0.3) {
        imp["banner"]["format"] = json!([{"w": 300, "h": 250}, {"w": 300, "h": 600}]);
    }
    if with_floor {
        imp["bidfloor"] = floor(rng, 0.5);
        imp["bidfloorcur"] = json!("USD");
    }
    imp
}

fn video_imp(rng: &mut Rng, imp_id: usize, with_floor: bool, rewarded: bool) -> Value {
    let (w, h) = *rng.pick(&pools::VIDEO_SIZES).unwrap_or(&(640, 480));
    let maxduration = *rng.pick(&[15u32, 30, 60]).unwrap_or(&30);
    let mut imp = json!({
        "id": imp_id.to_string(),
        "video": {
            "mimes": ["video/mp4", "video/webm", "application/javascript"],
            "minduration": 5,
            "maxduration": maxduration,
            "protocols": [2, 3, 5, 6, 7, 8],
            "w": w,
            "h": h,
            "startdelay": 0,
            "plcmt": if rewarded { 4 } else { 1 },
            "linearity": 1,
            "battr": [13, 14],
        },
        "secure": 1,
    });
    if rewarded {
        imp["rwdd"] = json!(1);
    }
    if with_floor {
        imp["bidfloor"] = floor(rng, 3.0);
        imp["bidfloorcur"] = json!("USD");
    }
    imp
}

fn request(rng: &mut Rng, pools: &Pools, seed: u64, request_idx: usize) -> Value {
    let is_app = rng.chance(SHARE_APP);
    let with_floor = rng.chance(SHARE_FLOOR);
    let n_imps = if rng.chance(SHARE_TWO_IMPS) { 2 } else { 1 };
    let video_share = if is_app {
        SHARE_APP_VIDEO
    } else {
        SHARE_SITE_VIDEO
    };
    let imps: Vec<Value> = (1..=n_imps)
        .map(|imp_id| {
            if imp_id == 1 && rng.chance(video_share) {
                video_imp(rng, imp_id, with_floor, is_app)
            } else {
                banner_imp(rng, imp_id, with_floor, is_app)
            }
        })
        .collect();

    let n_categories = rng.between(1, 2) as usize;
    let categories: Vec<String> = pools
        .categories
        .sample_distinct(rng, n_categories)
        .into_iter()
        .map(pools::category)
        .collect();
    let publisher_rank = pools.domains.sample(rng);

    // Device and OS: desktop sites, phones and tablets for apps and mobile web.
    let (device_type, os) = if is_app {
        match rng.weighted(&[55, 35, 10]) {
            0 => (4, "Android"),
            1 => (4, "iOS"),
            _ => (5, "iOS"),
        }
    } else {
        match rng.weighted(&[35, 15, 25, 20, 5]) {
            0 => (2, "Windows"),
            1 => (2, "macOS"),
            2 => (4, "Android"),
            3 => (4, "iOS"),
            _ => (2, "Linux"),
        }
    };
    let country_rank = pools.countries.sample(rng);
    let country = pools::COUNTRIES.get(country_rank).copied().unwrap_or("USA");
    let mut geo = json!({"country": country, "type": 2});
    if country == "USA" && rng.chance(0.8) {
        geo["region"] = json!(rng.pick(&pools::US_REGIONS).copied().unwrap_or("CA"));
    }
    let ifa = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        rng.next_u64() as u32,
        rng.next_u64() as u16,
        rng.next_u64() as u16 & 0xfff,
        rng.next_u64() as u16 & 0xfff,
        rng.next_u64() & 0xffff_ffff_ffff
    );
    let mut device = json!({
        "ua": user_agent(os),
        "ip": format!("203.0.113.{}", rng.between(1, 254)),
        "devicetype": device_type,
        "os": os,
        "geo": geo,
        "language": "en",
    });
    if is_app {
        device["ifa"] = json!(ifa);
    }

    let mut request = json!({
        "id": format!("{seed:x}-{request_idx:09}"),
        "at": if rng.chance(0.8) { 2 } else { 1 },
        "tmax": *rng.pick(&[100u32, 120, 200, 300]).unwrap_or(&120),
        "cur": ["USD"],
        "imp": imps,
        "device": device,
    });
    if is_app {
        let bundle_rank = pools.bundles.sample(rng);
        request["app"] = json!({
            "id": format!("app-{bundle_rank}"),
            "bundle": pools::bundle(bundle_rank),
            "cat": categories,
            "publisher": {"id": format!("pub-{publisher_rank}"), "domain": pools::domain(publisher_rank)},
        });
    } else {
        let domain = pools::domain(publisher_rank);
        request["site"] = json!({
            "id": format!("site-{publisher_rank}"),
            "domain": domain,
            "page": format!("https://{domain}/article/{}", rng.below(100_000)),
            "cat": categories,
            "publisher": {"id": format!("pub-{publisher_rank}"), "domain": domain},
        });
    }

    // The user key: a stable id per Zipf rank, unrelated to the seed, so the same popular
    // users recur across generated files.
    if !rng.chance(SHARE_NO_USER_ID) {
        let user_rank = pools.users.sample(rng);
        let mut user = json!({"id": format!("{:016x}", mix64(user_rank as u64))});
        if rng.chance(SHARE_SEGMENTS) {
            let n = rng.between(1, 4) as usize;
            let segments: Vec<Value> = pools
                .segments
                .sample_distinct(rng, n)
                .into_iter()
                .map(|rank| json!({"id": pools::segment(rank)}))
                .collect();
            user["data"] = json!([{"id": "adshard-gen", "segment": segments}]);
        }
        request["user"] = user;
    }
    if rng.chance(SHARE_BCAT) {
        let n = rng.between(2, 6) as usize;
        let bcat: Vec<String> = pools
            .categories
            .sample_distinct(rng, n)
            .into_iter()
            .map(pools::category)
            .collect();
        request["bcat"] = json!(bcat);
    }
    if rng.chance(SHARE_BADV) {
        let n = rng.between(1, 3) as usize;
        let badv: Vec<String> = pools
            .brands
            .sample_distinct(rng, n)
            .into_iter()
            .map(pools::brand_domain)
            .collect();
        request["badv"] = json!(badv);
    }
    request
}

fn user_agent(os: &str) -> &'static str {
    match os {
        "Android" => "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
        "iOS" => "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "macOS" => "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        "Linux" => "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        _ => "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    }
}
