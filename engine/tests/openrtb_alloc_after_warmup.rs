//! After a shard's `AdRequest` has warmed up, converting a request into it allocates nothing,
//! validation adds no allocation to what serde needs for the wire types (except decoding the
//! Native request string), and deserializing a one-impression request without escaped strings
//! allocates nothing either. A counting global allocator measures this thread's allocations.
//!
//! This file holds a single test so that no other test thread allocates during a measurement
//! (the counter is per thread anyway).

use adshard::openrtb::{fill_ad_request, parse_bid_request, parse_wire, validate};

use adshard::adrequest::AdRequest;
use adshard_testkit::alloc::allocations_during;
use adshard_testkit::openrtb::{fixture, FIXTURES};

#[global_allocator]
static GLOBAL: adshard_testkit::alloc::CountingAllocator =
    adshard_testkit::alloc::CountingAllocator;

#[test]
fn conversion_allocates_nothing_after_warm_up() {
    let bodies: Vec<Vec<u8>> = FIXTURES.iter().map(|name| fixture(name)).collect();
    let mut out = AdRequest::default();
    for body in &bodies {
        parse_bid_request(body, &mut out).expect("fixture accepted");
    }

    for (name, body) in FIXTURES.iter().zip(&bodies) {
        let wire = parse_wire(body).expect("parses");
        validate(&wire).expect("valid");
        let conversion = allocations_during(|| {
            out.clear();
            fill_ad_request(&wire, &mut out);
        });
        assert_eq!(conversion, 0, "{name}: conversion allocated after warm-up");

        let wire_only = allocations_during(|| drop(parse_wire(body)));
        let validation = allocations_during(|| validate(&wire).expect("valid"));
        let whole = allocations_during(|| parse_bid_request(body, &mut out).expect("accepted"));
        println!("{name}: {wire_only} allocations to deserialize, {validation} to validate, {whole} in all");
        if *name != "native-site.json" {
            assert_eq!(validation, 0, "{name}: validation allocated");
            assert_eq!(whole, wire_only, "{name}: more than serde's allocations");
        }
        // The JSON fast path skips values without a buffer and borrows every string without
        // escapes: a single-impression request with no escaped string allocates nothing.
        if matches!(*name, "banner-site.json" | "video-app.json") {
            assert_eq!(wire_only, 0, "{name}: deserializing allocated");
        }
    }
}
