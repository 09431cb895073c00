//! After a shard's `AdRequest` has warmed up, converting a request into it allocates nothing, and
//! validation adds no allocation to what serde needs for the wire types (except decoding the
//! Native request string). A counting global allocator measures this thread's allocations.
//!
//! This file holds a single test so that no other test thread allocates during a measurement
//! (the counter is per thread anyway).

mod openrtb_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use adshard::openrtb::{fill_ad_request, parse_bid_request, parse_wire, validate, AdRequest};
use openrtb_common::{fixture, FIXTURES};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialized thread-local without destructor, so touching it never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

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
    }
}
