//! Heap allocations per request on the auction path (parse, convert, decide, frame the
//! response), counted with a counting global allocator after warm-up.
//!
//! The figure is printed (`cargo test --test auction_path_allocations -- --nocapture`) and
//! bounded so a regression fails the build. What remains is documented in ARCHITECTURE.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use adshard::config::HttpLimits;
use adshard::http::conn::write_response;
use adshard::http::{ConnectionContext, Handler, Method, Request, Response};
use adshard::shard::ShardHandler;
use adshard::stats::ShardStats;

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const BANNER_REQUEST: &[u8] = br#"{"id":"req-banner-1","at":1,"tmax":120,"cur":["USD"],
"imp":[{"id":"1","tagid":"leaderboard-top","bidfloor":0.25,"bidfloorcur":"USD","secure":1,
"banner":{"w":300,"h":250,"pos":1,"format":[{"w":300,"h":250},{"w":320,"h":50}]}}],
"site":{"id":"site-77","domain":"news.example.com","page":"https://news.example.com/world/article-1",
"cat":["IAB12"],"publisher":{"id":"pub-9","name":"Example News"}},
"device":{"ua":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)","ip":"203.0.113.7",
"devicetype":4,"os":"iOS","geo":{"country":"USA","region":"CA"}},
"user":{"id":"user-abc-123"},"bcat":["IAB25","IAB26"],"badv":["blocked.example"]}"#;

/// Requests measured after warm-up.
const MEASURED_REQUESTS: u64 = 1000;
/// The regression bound: the measured figure (see ARCHITECTURE.md) plus nothing. Lower it
/// when the path allocates less.
const ALLOCATIONS_PER_REQUEST_MAX: u64 = 16;

#[test]
fn auction_path_allocations_per_request() {
    let context = Rc::new(ConnectionContext::new(
        HttpLimits::default(),
        Rc::new(ShardStats::new(0)),
    ));
    let handler = ShardHandler::new(context.clone());
    let mut response = Response::default();
    let mut output = Vec::new();
    let request = Request {
        method: Method::Post,
        path: "/openrtb2/auction",
        query: "",
        body: BANNER_REQUEST,
    };
    let serve = |response: &mut Response, output: &mut Vec<u8>| {
        response.reset();
        futures_lite::future::block_on(handler.handle(request, response));
        output.clear();
        write_response(output, response, true, false);
        context.stats.record(
            response.endpoint,
            response.status,
            Duration::from_micros(10),
        );
    };
    for _ in 0..100 {
        serve(&mut response, &mut output);
    }
    assert_eq!(
        response.status,
        204,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..MEASURED_REQUESTS {
        serve(&mut response, &mut output);
    }
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    let per_request = allocations as f64 / MEASURED_REQUESTS as f64;
    println!("auction path: {per_request:.2} heap allocations per request ({allocations} over {MEASURED_REQUESTS})");
    assert!(
        allocations <= ALLOCATIONS_PER_REQUEST_MAX * MEASURED_REQUESTS,
        "{per_request} allocations per request, bound {ALLOCATIONS_PER_REQUEST_MAX}"
    );
}
