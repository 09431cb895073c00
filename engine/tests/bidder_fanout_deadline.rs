//! The fan-out keeps the request's deadline whatever its bidders do: of three mock bidders
//! answering after 5, 20 and 80 ms, a request with `tmax` 50 gets the better of the two fast
//! bids, the slow bid is dropped and counted as a timeout, and every answer reaches the client
//! before `tmax` (plus a stated margin) from the moment its last byte was sent. A request
//! without `tmax` (or with a larger one) gets `fanout.tmax_max_ms`. External bids compete with
//! our own campaigns: a higher external bid takes the impression, a lower one only raises what
//! the campaign pays under second price.
//!
//! Prices are fixed and distinct, so the winner is known from the price under first price;
//! latencies are fixed and at least 18 ms away from every server deadline they meet (48, 58
//! and 98 ms).

use std::time::Duration;

use adshard::auction::PricingRule;
use adshard::campaign::CampaignData;
use adshard_testkit::bidders::{
    banner_request, bidder, campaign_data, mock, price_micros, serial, DEADLINE_MARGIN,
};
use adshard_testkit::mockbidder::{LatencySpec, MockBidderConfig, MockBidderHandle, PriceSpec};
use adshard_testkit::server::{HttpResponse, Metrics, TestServer};

/// Requests per measured series: enough that a deadline kept by luck would show.
const REQUESTS: usize = 30;

fn mock_at(latency_ms: u64, price: f64) -> MockBidderHandle {
    mock(MockBidderConfig {
        latency: LatencySpec::Fixed(Duration::from_millis(latency_ms)),
        price: PriceSpec::Fixed(price),
        ..MockBidderConfig::default()
    })
}

/// fast (5 ms, 1.10), mid (20 ms, 1.60), slow (80 ms, 3.00).
struct ThreeBidders {
    fast: MockBidderHandle,
    mid: MockBidderHandle,
    slow: MockBidderHandle,
}

impl ThreeBidders {
    fn start() -> ThreeBidders {
        ThreeBidders {
            fast: mock_at(5, 1.10),
            mid: mock_at(20, 1.60),
            slow: mock_at(80, 3.00),
        }
    }

    fn server(&self, configure: impl FnOnce(&mut adshard::config::Config)) -> TestServer {
        TestServer::with_bidders(
            vec![
                bidder("fast", &self.fast.url()),
                bidder("mid", &self.mid.url()),
                bidder("slow", &self.slow.url()),
            ],
            PricingRule::FirstPrice,
            CampaignData::default(),
            configure,
        )
    }
}

/// Sends `REQUESTS` requests built by `body` on one keep-alive connection; every answer must
/// be mid's bid (1.60 under first price) and arrive within `budget` + [`DEADLINE_MARGIN`].
fn all_won_by_mid_within(server: &TestServer, budget: Duration, body: impl Fn(usize) -> String) {
    let mut client = server.connect();
    let mut elapsed: Vec<Duration> = Vec::with_capacity(REQUESTS);
    for request_idx in 0..REQUESTS {
        let answer: HttpResponse = client.auction(&body(request_idx));
        let bid = answer.only_bid();
        assert_eq!(
            price_micros(&bid),
            1_600_000,
            "request {request_idx}: mid's 1.60 beats fast's 1.10 (slow's 3.00 is late): {bid}"
        );
        assert_eq!(bid["impid"], "imp-1");
        elapsed.push(answer.elapsed);
    }
    elapsed.sort();
    println!(
        "answer times over {REQUESTS}: min {:?} p50 {:?} max {:?} (budget {budget:?} + margin {DEADLINE_MARGIN:?})",
        elapsed[0],
        elapsed[REQUESTS / 2],
        elapsed[REQUESTS - 1]
    );
    for (rank, time) in elapsed.iter().enumerate() {
        assert!(
            *time < budget + DEADLINE_MARGIN,
            "answer {rank} (sorted) took {time:?}, past {budget:?} + {DEADLINE_MARGIN:?}: {elapsed:?}"
        );
    }
    // Typically the answer beats `tmax` itself, by about the response reserve.
    assert!(
        elapsed[REQUESTS / 2] < budget,
        "median {:?} is past {budget:?}",
        elapsed[REQUESTS / 2]
    );
    // Mid's bid was waited for, so no answer came before it could have.
    assert!(elapsed[0] >= Duration::from_millis(20), "{elapsed:?}");
}

fn assert_slow_dropped(metrics: &Metrics, requests: u64) {
    let lines = metrics.bidder_lines("slow");
    // Every request either asked the slow bidder and timed out, or (once its timeouts had
    // lowered its health share) did not ask it at all.
    let timeouts = metrics.bidder("adshard_bidder_timeouts_total", "slow");
    let throttled = metrics.bidder("adshard_bidder_skipped_health_total", "slow");
    assert!(timeouts >= 1, "{lines}");
    assert_eq!(timeouts + throttled, requests, "{lines}");
    assert_eq!(metrics.bidder_error("slow", "timeout"), timeouts, "{lines}");
    assert_eq!(
        metrics.bidder("adshard_bidder_bids_total", "slow"),
        0,
        "{lines}"
    );
    assert_eq!(
        metrics.bidder("adshard_bidder_requests_total", "slow"),
        timeouts,
        "{lines}"
    );
    for name in ["fast", "mid"] {
        let lines = metrics.bidder_lines(name);
        assert_eq!(
            metrics.bidder("adshard_bidder_bids_total", name),
            requests,
            "{lines}"
        );
        assert_eq!(
            metrics.bidder("adshard_bidder_timeouts_total", name),
            0,
            "{lines}"
        );
    }
    assert_eq!(metrics.bidder("adshard_bidder_wins_total", "mid"), requests);
    assert_eq!(metrics.bidder("adshard_bidder_wins_total", "fast"), 0);
    assert_eq!(metrics.bidder("adshard_bidder_wins_total", "slow"), 0);
}

#[test]
fn fast_bids_compete_slow_bid_is_dropped_and_every_answer_beats_tmax() {
    let _serial = serial();
    let bidders = ThreeBidders::start();
    let server = bidders.server(|_| {});
    all_won_by_mid_within(&server, Duration::from_millis(50), |request_idx| {
        banner_request(&format!("deadline-{request_idx}"), Some(50), 0.5)
    });
    assert_slow_dropped(&server.metrics(), REQUESTS as u64);
    // The slow bidder did answer every request it got, only too late: its bids were dropped
    // by us (it got fewer than all once health throttling noticed its timeouts).
    let metrics = server.metrics();
    assert_eq!(
        bidders.slow.stats().requests,
        metrics.bidder("adshard_bidder_requests_total", "slow")
    );
}

#[test]
fn request_without_tmax_gets_the_configured_max() {
    let _serial = serial();
    let bidders = ThreeBidders::start();
    // A cap of 60 ms: without tmax (and with a larger one) the budget is 60 ms, so the slow
    // bidder's 80 ms answer is late, and every answer arrives within 60 ms.
    let server = bidders.server(|config| config.fanout.tmax_max_ms = 60);
    all_won_by_mid_within(&server, Duration::from_millis(60), |request_idx| {
        let tmax = if request_idx % 2 == 0 {
            None
        } else {
            Some(1_000)
        };
        banner_request(&format!("no-tmax-{request_idx}"), tmax, 0.5)
    });
    assert_slow_dropped(&server.metrics(), REQUESTS as u64);
    drop(server);

    // The default cap, 100 ms, leaves 98 ms: now the slow bidder is in time, and its 3.00 wins.
    let server = bidders.server(|_| {});
    let mut client = server.connect();
    for request_idx in 0..5 {
        let answer = client.auction(&banner_request(&format!("max-{request_idx}"), None, 0.5));
        let bid = answer.only_bid();
        assert_eq!(price_micros(&bid), 3_000_000, "{bid}");
        assert!(
            answer.elapsed >= Duration::from_millis(80)
                && answer.elapsed < Duration::from_millis(100) + DEADLINE_MARGIN,
            "{:?}",
            answer.elapsed
        );
    }
    let metrics = server.metrics();
    assert_eq!(metrics.bidder("adshard_bidder_timeouts_total", "slow"), 0);
    assert_eq!(metrics.bidder("adshard_bidder_wins_total", "slow"), 5);
}

/// One external bidder against one campaign of ours bidding 1.75 on the same banner.
fn against_campaign(external_price: f64, pricing: PricingRule) -> (serde_json::Value, Metrics) {
    let external = mock_at(0, external_price);
    let server = TestServer::with_bidders(
        vec![bidder("dsp", &external.url())],
        pricing,
        campaign_data("ours", 1_750_000),
        |_| {},
    );
    let mut client = server.connect();
    let answer = client.auction(&banner_request("mixed-1", Some(50), 0.5));
    assert!(answer.elapsed < Duration::from_millis(50) + DEADLINE_MARGIN);
    let bid = answer.only_bid();
    let metrics = server.metrics();
    (bid, metrics)
}

#[test]
fn external_bid_competes_with_our_campaign() {
    let _serial = serial();
    // Higher external bid: it wins; under first price it pays its bid, under second price
    // our campaign's 1.75 plus the increment.
    for (pricing, expected_micros) in [
        (PricingRule::FirstPrice, 2_000_000),
        (PricingRule::SecondPrice, 1_760_000),
    ] {
        let (bid, metrics) = against_campaign(2.00, pricing);
        assert!(bid.get("cid").is_none(), "external bid expected: {bid}");
        assert_eq!(price_micros(&bid), expected_micros, "{pricing:?}: {bid}");
        assert_eq!(
            bid["nurl"],
            format!(
                "http://127.0.0.1/mock/win?price={}",
                if expected_micros == 2_000_000 {
                    "2"
                } else {
                    "1.76"
                }
            )
        );
        assert_eq!(metrics.bidder("adshard_bidder_wins_total", "dsp"), 1);
    }
    // Lower external bid: our campaign keeps the impression; under second price the external
    // bid is its runner-up (1.50 + 0.01), above the floor's 0.51.
    for (pricing, expected_micros) in [
        (PricingRule::FirstPrice, 1_750_000),
        (PricingRule::SecondPrice, 1_510_000),
    ] {
        let (bid, metrics) = against_campaign(1.50, pricing);
        assert_eq!(bid["cid"], "ours", "{pricing:?}: {bid}");
        assert_eq!(price_micros(&bid), expected_micros, "{pricing:?}: {bid}");
        assert_eq!(metrics.bidder("adshard_bidder_wins_total", "dsp"), 0);
        assert_eq!(metrics.bidder("adshard_bidder_bids_total", "dsp"), 1);
    }
}
