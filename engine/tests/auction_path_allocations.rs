//! Heap allocations per request on the auction path (parse, convert, decide, frame the
//! response), counted with a counting global allocator after warm-up.
//!
//! The figure is printed (`cargo test --test auction_path_allocations -- --nocapture`) and
//! bounded so a regression fails the build. What remains is documented in ARCHITECTURE.md.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use adshard::campaign::data::demo;
use adshard::config::Config;
use adshard::http::conn::write_response;
use adshard::http::{Handler, Method, Request, Response};
use adshard_testkit::alloc::{allocations, lone_shard, LoneShard};

#[global_allocator]
static GLOBAL: adshard_testkit::alloc::CountingAllocator =
    adshard_testkit::alloc::CountingAllocator;

const BANNER_REQUEST: &[u8] = br#"{"id":"req-banner-1","at":1,"tmax":120,"cur":["USD"],
"imp":[{"id":"1","tagid":"leaderboard-top","bidfloor":0.25,"bidfloorcur":"USD","secure":1,
"banner":{"w":300,"h":250,"pos":1,"format":[{"w":300,"h":250},{"w":320,"h":50}]}}],
"site":{"id":"site-77","domain":"news.example.com","page":"https://news.example.com/world/article-1",
"cat":["IAB12"],"publisher":{"id":"pub-9","name":"Example News"}},
"device":{"ua":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)","ip":"203.0.113.7",
"devicetype":4,"os":"iOS","geo":{"country":"USA","region":"CA"}},
"user":{"id":"user-abc-123"},"bcat":["IAB25","IAB26"],"badv":["blocked.example"]}"#;

/// The same request for a size no demo campaign has: parsed and validated, no bid.
const NO_BID_REQUEST: &[u8] =
    br#"{"id":"req-banner-2","imp":[{"id":"1","banner":{"w":333,"h":111}}],
"site":{"id":"site-77","domain":"news.example.com"},"user":{"id":"user-abc-123"}}"#;

/// Requests measured after warm-up.
const MEASURED_REQUESTS: u64 = 1000;
/// The regression bound: after warm-up the whole auction path (parse, validate, target,
/// auction, sign, write the response) allocates nothing; any allocation is a regression.
const ALLOCATIONS_PER_REQUEST_MAX: u64 = 0;

fn measure(body: &'static [u8], expected_status: u16) -> f64 {
    let executor = glommio::LocalExecutorBuilder::default()
        .io_memory(128 * 1024)
        .make()
        .expect("executor");
    executor.run(async move {
        let config = Config::default();
        let LoneShard {
            context,
            handler,
            _receivers,
        } = lone_shard(&config, &demo()).await;
        let mut response = Response::default();
        let mut output = Vec::new();
        let request = Request {
            method: Method::Post,
            path: "/openrtb2/auction",
            query: "",
            body,
            received: Instant::now(),
        };
        for _ in 0..100 {
            response.reset();
            let request = Request {
                received: Instant::now(),
                ..request
            };
            handler.handle(request, &mut response).await;
            output.clear();
            write_response(&mut output, &response, true, false);
            context.stats.record(
                response.endpoint,
                response.status,
                Duration::from_micros(10),
            );
        }
        assert_eq!(
            response.status,
            expected_status,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        let before = allocations();
        for _ in 0..MEASURED_REQUESTS {
            response.reset();
            let request = Request {
                received: Instant::now(),
                ..request
            };
            handler.handle(request, &mut response).await;
            output.clear();
            write_response(&mut output, &response, true, false);
            context.stats.record(
                response.endpoint,
                response.status,
                Duration::from_micros(10),
            );
        }
        let allocations = allocations() - before;
        allocations as f64 / MEASURED_REQUESTS as f64
    })
}

#[test]
fn auction_path_allocations_per_request() {
    let no_bid = measure(NO_BID_REQUEST, 204);
    let bid = measure(BANNER_REQUEST, 200);
    println!("auction path: {no_bid:.2} heap allocations per no-bid request, {bid:.2} per request with a bid");
    for per_request in [no_bid, bid] {
        assert!(
            per_request <= ALLOCATIONS_PER_REQUEST_MAX as f64,
            "{per_request} allocations per request, bound {ALLOCATIONS_PER_REQUEST_MAX}"
        );
    }
}
