//! What the targeting tests share: a campaign with no targeting to edit, requests parsed from
//! JSON through the real OpenRTB path, and the matches of an index as campaign ids, so that
//! each test states only what differs.

use std::ops::ControlFlow;

use adshard::adrequest::AdRequest;
use adshard::campaign::{
    Campaign, CampaignBuilder, Creative, CreativeBuilder, CreativeFormat, Pacing, Targeting,
};
use adshard::openrtb::parse_bid_request;
use adshard::targeting::{HourOfWeek, IndexScratch, TargetingIndex};
use serde_json::{json, Value};

/// The markup, landing page and `secure` every creative of these tests shares.
fn finished(creative: CreativeBuilder) -> Creative {
    creative
        .markup("<div>ad</div>")
        .landing_page("https://advertiser.example/")
        .secure(true)
        .build()
}

pub fn banner(w: u32, h: u32) -> Creative {
    finished(CreativeBuilder::banner(&format!("banner-{w}x{h}"), w, h))
}

/// A video or audio creative.
pub fn timed(format: CreativeFormat, mimes: &[&str], duration_s: u32) -> Creative {
    let (w, h) = if format == CreativeFormat::Video {
        (640, 360)
    } else {
        (0, 0)
    };
    finished(
        CreativeBuilder::banner(&format!("{format:?}-{duration_s}s"), w, h)
            .format(format)
            .mimes(mimes)
            .duration_s(duration_s),
    )
}

pub fn native() -> Creative {
    finished(CreativeBuilder::banner("native", 0, 0).format(CreativeFormat::Native))
}

/// An active campaign with no targeting and one 300x250 banner.
pub fn campaign(id: &str) -> Campaign {
    CampaignBuilder::new(id)
        .advertiser_id("adv-1")
        .adomain("advertiser.example")
        .bid_cpm_micros(2_000_000)
        .pacing(Pacing::Even)
        .creatives(vec![banner(300, 250)])
        .build()
}

/// `campaign(id)` with its targeting edited.
pub fn targeted(id: &str, edit: impl FnOnce(&mut Targeting)) -> Campaign {
    let mut campaign = campaign(id);
    edit(&mut campaign.targeting);
    campaign
}

pub fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

/// A valid Native 1.2 request string for `imp.native.request`.
pub fn native_request_string() -> String {
    json!({
        "ver": "1.2",
        "assets": [{"id": 1, "required": 1, "title": {"len": 90}}]
    })
    .to_string()
}

/// Parses a bid request through `openrtb::parse_bid_request`, as a shard does.
pub fn parse(body: &Value) -> AdRequest {
    let mut request = AdRequest::default();
    parse_bid_request(body.to_string().as_bytes(), &mut request)
        .unwrap_or_else(|error| panic!("invalid test request {body}: {error}"));
    request
}

/// The ids of the campaigns matching impression `imp_idx`, in the order the index yields them.
pub fn matching_ids(
    index: &TargetingIndex,
    campaigns: &[Campaign],
    request: &AdRequest,
    imp_idx: usize,
    hour: HourOfWeek,
) -> Vec<String> {
    let mut scratch = IndexScratch::new();
    let mut lookup = index.lookup(request, hour, &mut scratch);
    let mut ids = Vec::new();
    let imp = request.imps()[imp_idx];
    let _ = lookup.visit_matches(&imp, usize::MAX, |campaign_idx| {
        ids.push(campaigns[campaign_idx as usize].id.clone());
        ControlFlow::<()>::Continue(())
    });
    ids
}

/// A small deterministic generator (SplitMix64) for randomized tests and benchmarks, so a
/// failure reproduces from its printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Up to `n_max` items of `items`, possibly repeated.
    pub fn some<T: Clone>(&mut self, items: &[T], n_max: usize) -> Vec<T> {
        let n = self.below(n_max + 1);
        (0..n).map(|_| self.pick(items).clone()).collect()
    }
}

/// A site request for one 300x250 banner, from a user with a segment, on an iOS phone in
/// California; the rows of a table test edit it.
pub fn base_request() -> Value {
    json!({
        "id": "req-1",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"id": "site-1", "domain": "news.example.com", "cat": ["IAB3-1"]},
        "device": {"devicetype": 4, "os": "iOS", "geo": {"country": "USA", "region": "CA"}},
        "user": {"id": "user-1", "data": [{"id": "dp", "segment": [{"id": "seg-a"}]}]}
    })
}

/// `base` with JSON-pointer edits applied: `Some` sets the value (creating objects on the
/// way), `None` removes it. Array elements are addressed by index.
pub fn edit(base: &Value, edits: &[(&str, Option<Value>)]) -> Value {
    let mut value = base.clone();
    for (pointer, new) in edits {
        let (parent_pointer, key) = pointer.rsplit_once('/').expect("pointer starts with /");
        let mut parent = &mut value;
        for segment in parent_pointer.split('/').skip(1) {
            parent = match parent {
                Value::Array(items) => &mut items[segment.parse::<usize>().expect("index")],
                Value::Object(fields) => fields.entry(segment).or_insert_with(|| json!({})),
                other => panic!("cannot descend into {other}"),
            };
        }
        match (parent, new) {
            (Value::Object(fields), Some(new)) => {
                fields.insert(key.to_owned(), new.clone());
            }
            (Value::Object(fields), None) => {
                fields.remove(key);
            }
            (Value::Array(items), Some(new)) => {
                items[key.parse::<usize>().expect("index")] = new.clone();
            }
            (other, _) => panic!("cannot edit {pointer} in {other}"),
        }
    }
    value
}
