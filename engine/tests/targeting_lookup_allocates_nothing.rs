//! After a shard's `IndexScratch` has served its largest request, a targeting lookup (the
//! request's groups and every impression's sweep) allocates nothing. A counting global
//! allocator measures this thread's allocations.
//!
//! This file holds a single test so that no other test thread allocates during a measurement
//! (the counter is per thread anyway).

use std::ops::ControlFlow;

use adshard::adrequest::{AdRequest, CountryCode};
use adshard::campaign::{Campaign, CreativeFormat};
use adshard::targeting::{HourOfWeek, IndexScratch, TargetingIndex};
use adshard_testkit::alloc::allocations_during;
use adshard_testkit::targeting::{
    banner, base_request, campaign, edit, native, native_request_string, parse, strings, timed,
};
use serde_json::json;

#[global_allocator]
static GLOBAL: adshard_testkit::alloc::CountingAllocator =
    adshard_testkit::alloc::CountingAllocator;

/// Campaigns that make every kind of list: dense and sparse, includes and excludes, dayparts,
/// every creative format.
fn campaigns() -> Vec<Campaign> {
    let usa = CountryCode::parse("USA").unwrap();
    (0..2000)
        .map(|i| {
            let mut c = campaign(&format!("c{i}"));
            let t = &mut c.targeting;
            if i % 3 == 0 {
                t.countries = vec![usa];
            }
            if i % 5 == 0 {
                t.domains.include = strings(&["example.com", &format!("site{i}.example")]);
            }
            if i % 7 == 0 {
                t.domains.exclude = strings(&["news.example.com"]);
            }
            if i % 11 == 0 {
                t.categories.include = strings(&["iab3"]);
            }
            if i % 13 == 0 {
                t.segments.include = strings(&["seg-a", &format!("seg-{i}")]);
            }
            if i % 17 == 0 {
                t.dayparts = vec![adshard::campaign::Daypart {
                    days: 0x1f,
                    start_hour: 8,
                    end_hour: 20,
                }];
            }
            c.creatives = match i % 4 {
                0 => vec![banner(300, 250), banner(728, 90)],
                1 => vec![timed(CreativeFormat::Video, &["video/mp4"], 15)],
                2 => vec![native(), banner(600, 500)],
                _ => vec![timed(CreativeFormat::Audio, &["audio/mpeg"], 30)],
            };
            c
        })
        .collect()
}

fn requests() -> Vec<AdRequest> {
    let base = base_request();
    let many_segments: Vec<_> = (0..300)
        .map(|i| json!({"id": format!("seg-{i}")}))
        .collect();
    [
        base.clone(),
        edit(
            &base,
            &[(
                "/imp",
                Some(json!([
                    {"id": "1", "banner": {"w": 300, "h": 250, "format": [{"w": 728, "h": 90}, {"wmin": 300, "wratio": 6, "hratio": 5}]}},
                    {"id": "2", "video": {"mimes": ["video/mp4", "video/webm"], "maxduration": 30}},
                    {"id": "3", "audio": {"mimes": ["audio/mpeg"]}},
                    {"id": "4", "native": {"request": native_request_string()}}
                ])),
            )],
        ),
        edit(
            &base,
            &[
                ("/site/domain", Some(json!("a.b.c.news.example.com"))),
                ("/site/cat", Some(json!(["IAB3-1", "IAB3-2", "IAB1-1", "IAB12"]))),
                ("/user/data", Some(json!([{"id": "dp", "segment": many_segments}]))),
            ],
        ),
        edit(&base, &[("/device", None), ("/user", None), ("/site/cat", None)]),
    ]
    .iter()
    .map(parse)
    .collect()
}

fn lookup_all(
    index: &TargetingIndex,
    request: &AdRequest,
    hour: HourOfWeek,
    scratch: &mut IndexScratch,
) -> usize {
    let mut n_matches = 0;
    let mut lookup = index.lookup(request, hour, scratch);
    for imp in request.imps() {
        let _ = lookup.visit_matches(imp, usize::MAX, |_| {
            n_matches += 1;
            ControlFlow::<()>::Continue(())
        });
    }
    n_matches
}

#[test]
fn lookup_allocates_nothing_after_warm_up() {
    let campaigns = campaigns();
    let index = TargetingIndex::build(&campaigns);
    let requests = requests();
    let hour = HourOfWeek::new(1, 10).unwrap();
    let mut scratch = IndexScratch::new();
    for request in &requests {
        lookup_all(&index, request, hour, &mut scratch);
    }

    for (request_idx, request) in requests.iter().enumerate() {
        let mut n_matches = 0;
        let allocations = allocations_during(|| {
            n_matches = lookup_all(&index, request, hour, &mut scratch);
            index.for_each_match(
                request,
                &request.imps()[0],
                1_704_189_599,
                &mut scratch,
                |_| ControlFlow::<()>::Continue(()),
            );
        });
        println!("request {request_idx}: {n_matches} matches, {allocations} allocations");
        assert!(
            n_matches > 0,
            "request {request_idx} matched nothing: a vacuous measurement"
        );
        assert_eq!(
            allocations, 0,
            "request {request_idx} allocated after warm-up"
        );
    }
    println!("scratch holds {} bytes", scratch.capacity_bytes());
}
