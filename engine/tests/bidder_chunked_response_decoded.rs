//! A bidder answering with `Transfer-Encoding: chunked` (as many DSPs' HTTP servers do when
//! they stream their JSON) is read like one answering with a Content-Length, end to end: the
//! mock bidder (`MockBidderConfig::chunked`) frames its answers in chunks of 1 to 171 bytes,
//! hex in both cases, with extensions and a trailer, sent in two writes. Its bids win, its
//! pooled connections are reused for the next request (the mock accepts no connection beyond
//! the warm ones), and a chunked answer whose decoded body is over
//! `fanout.response_bytes_max` is dropped as `too_large` like a long Content-Length one.
//! Before chunked decoding, every such answer was a `bad_response`.

use std::time::Duration;

use adshard::auction::PricingRule;
use adshard::campaign::CampaignData;
use adshard_testkit::bidders::{banner_request, bidder, mock, price_micros, serial};
use adshard_testkit::mockbidder::{MockBidderConfig, MockBidderHandle, PriceSpec, ResponseCorpus};
use adshard_testkit::server::TestServer;
use serde_json::json;

/// Long enough for a debug-built mock bidder on a busy machine: this is about framing.
const TMAX_MS: u32 = 500;
/// Sequential requests: each must reuse a warm connection.
const REQUESTS: usize = 6;
/// `connections_warm` of `adshard_testkit::bidders::bidder`.
const CONNECTIONS_WARM: u64 = 2;
/// Markup of the large canned answer: many reads of the pool's 8 KiB buffer, and hundreds of
/// chunk boundaries falling anywhere in them.
const LARGE_MARKUP_BYTES: usize = 40 * 1024;

fn chunked(config: MockBidderConfig) -> MockBidderHandle {
    mock(MockBidderConfig {
        chunked: true,
        ..config
    })
}

/// One 2.00 bid whose `adm` is `markup_bytes` long; the mock sets `id` and `impid`.
fn large_answer(markup_bytes: usize) -> MockBidderHandle {
    let response = json!({
        "id": "replaced-by-the-mock",
        "cur": "USD",
        "seatbid": [{"seat": "large", "bid": [{
            "id": "bid-large",
            "impid": "replaced-by-the-mock",
            "price": 2.0,
            "adomain": ["large.example"],
            "crid": "cr-large",
            "w": 300, "h": 250, "mtype": 1,
            "nurl": "http://large.example/win",
            "adm": format!("<div>{}</div>", "x".repeat(markup_bytes)),
        }]}],
    });
    chunked(MockBidderConfig {
        responses: Some(ResponseCorpus::from_responses(vec![response]).expect("corpus")),
        ..MockBidderConfig::default()
    })
}

fn auction(server: &TestServer, request_id: &str) -> adshard_testkit::server::HttpResponse {
    let mut client = server.connect();
    let answer = client.auction(&banner_request(request_id, Some(TMAX_MS), 0.5));
    assert!(answer.elapsed < Duration::from_millis(u64::from(TMAX_MS) * 2));
    answer
}

#[test]
fn bidder_chunked_response_decoded() {
    let _serial = serial();
    let small = chunked(MockBidderConfig {
        price: PriceSpec::Fixed(1.5),
        ..MockBidderConfig::default()
    });
    let server = TestServer::with_bidders(
        vec![bidder("small", &small.url())],
        PricingRule::FirstPrice,
        CampaignData::default(),
        |_| {},
    );
    for request_idx in 0..REQUESTS {
        let answer = auction(&server, &format!("chunked-{request_idx}"));
        assert_eq!(answer.status, 200, "request {request_idx}");
        let bid = answer.only_bid();
        assert_eq!(price_micros(&bid), 1_500_000, "{bid}");
        assert_eq!(bid["adm"], "<div>mock ad 1.5</div>", "{bid}");
    }
    let metrics = server.metrics();
    assert_eq!(
        metrics.bidder("adshard_bidder_bids_total", "small"),
        REQUESTS as u64,
        "{}",
        metrics.bidder_lines("small")
    );
    assert_eq!(metrics.bidder("adshard_bidder_errors_total", "small"), 0);
    assert_eq!(
        metrics.bidder("adshard_bidder_chunked_responses_total", "small"),
        REQUESTS as u64
    );
    assert_eq!(small.stats().bids, REQUESTS as u64);
    assert_eq!(
        small.stats().connections,
        CONNECTIONS_WARM,
        "every request reused a warm connection"
    );
}

#[test]
fn bidder_chunked_response_decoded_across_reads_and_bounded() {
    let _serial = serial();
    let large = large_answer(LARGE_MARKUP_BYTES);
    let server = TestServer::with_bidders(
        vec![bidder("large", &large.url())],
        PricingRule::FirstPrice,
        CampaignData::default(),
        |_| {},
    );
    for request_idx in 0..2 {
        let bid = auction(&server, &format!("large-{request_idx}")).only_bid();
        assert_eq!(price_micros(&bid), 2_000_000);
        assert_eq!(
            bid["adm"].as_str().map(str::len),
            Some(LARGE_MARKUP_BYTES + "<div></div>".len())
        );
    }
    assert_eq!(large.stats().connections, CONNECTIONS_WARM);
    drop(server);

    // The same answer, decoded, is over a 16 KiB limit: dropped and counted, no bid.
    let server = TestServer::with_bidders(
        vec![bidder("large", &large.url())],
        PricingRule::FirstPrice,
        CampaignData::default(),
        |config| config.fanout.response_bytes_max = 16 * 1024,
    );
    let answer = auction(&server, "large-capped");
    assert_eq!(answer.status, 204);
    let metrics = server.metrics();
    assert_eq!(
        metrics.bidder_error("large", "too_large"),
        1,
        "{}",
        metrics.bidder_lines("large")
    );
}
