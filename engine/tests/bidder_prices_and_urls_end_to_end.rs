//! A bidder's absurd price or hostile URL never reaches the auction, end to end: mock bidders
//! on loopback answer a server whose honest bidder bids 1.20; a bid above the bidder's price
//! cap (`fanout.price_cpm_max` by default, 1000 CPM, or the bidder's own `price_cpm_max`) or
//! with a `nurl`/`burl`/`lurl` that is not an absolute `http`/`https` URL is dropped and
//! counted under its reason (`adshard_bidder_bids_rejected_total{reason="price_above_max"}`,
//! `{reason="url_not_http"}`), and the honest bid wins. Before the checks existed, the 5000 CPM
//! bid and the `javascript:` win notice both won.

use std::time::Duration;

use adshard::auction::PricingRule;
use adshard::campaign::CampaignData;
use adshard_testkit::bidders::{banner_request, bidder, mock, price_micros, serial};
use adshard_testkit::mockbidder::{MockBidderConfig, MockBidderHandle, PriceSpec, ResponseCorpus};
use adshard_testkit::server::TestServer;
use serde_json::json;

/// Long enough that a debug-built mock bidder always answers in time on a busy machine: these
/// tests are about what is accepted, not about deadlines.
const TMAX_MS: u32 = 500;
const HONEST_PRICE: f64 = 1.20;

fn generated(price: f64) -> MockBidderHandle {
    mock(MockBidderConfig {
        price: PriceSpec::Fixed(price),
        ..MockBidderConfig::default()
    })
}

/// Runs one first-price auction and returns the winning bid (external winners go out under
/// our seat: the price tells whose bid it is).
fn only_winner(server: &TestServer, request_id: &str) -> serde_json::Value {
    let mut client = server.connect();
    let answer = client.auction(&banner_request(request_id, Some(TMAX_MS), 0.5));
    assert!(answer.elapsed < Duration::from_millis(u64::from(TMAX_MS) * 2));
    answer.only_bid()
}

#[test]
fn bidder_price_above_max_rejected() {
    let _serial = serial();
    let greedy = generated(5000.0);
    let capped = generated(3.0);
    let honest = generated(HONEST_PRICE);
    let server = TestServer::with_bidders(
        vec![
            bidder("greedy", &greedy.url()),
            {
                let mut capped_bidder = bidder("capped", &capped.url());
                capped_bidder.price_cpm_max = Some(2.0);
                capped_bidder
            },
            bidder("honest", &honest.url()),
        ],
        PricingRule::FirstPrice,
        CampaignData::default(),
        |config| assert_eq!(config.fanout.price_cpm_max, 1000.0, "the default cap"),
    );
    let bid = only_winner(&server, "price-cap-1");
    assert_eq!(price_micros(&bid), 1_200_000, "{bid}");

    let metrics = server.metrics();
    for name in ["greedy", "capped"] {
        assert_eq!(
            metrics.bidder_rejected(name, "price_above_max"),
            1,
            "{name}:\n{}",
            metrics.bidder_lines(name)
        );
        assert_eq!(metrics.bidder("adshard_bidder_bids_total", name), 0);
    }
    assert_eq!(metrics.bidder_rejected("honest", "price_above_max"), 0);
    assert_eq!(metrics.bidder("adshard_bidder_bids_total", "honest"), 1);
    assert_eq!(greedy.stats().bids, 1, "the greedy mock did bid");
}

/// A canned response of one 5.00 bid whose `field` is `url`; the mock sets `id` and `impid`.
fn canned_with_url(field: &str, url: &str) -> MockBidderHandle {
    let mut bid = json!({
        "id": "bid-hostile",
        "impid": "replaced-by-the-mock",
        "price": 5.0,
        "adomain": ["hostile.example"],
        "crid": "cr-hostile",
        "w": 300, "h": 250, "mtype": 1,
        "adm": "<div>hostile</div>",
    });
    bid[field] = json!(url);
    let response = json!({
        "id": "replaced-by-the-mock",
        "cur": "USD",
        "seatbid": [{"seat": "hostile", "bid": [bid]}],
    });
    mock(MockBidderConfig {
        responses: Some(ResponseCorpus::from_responses(vec![response]).expect("corpus")),
        ..MockBidderConfig::default()
    })
}

#[test]
fn bidder_javascript_nurl_rejected() {
    let _serial = serial();
    let javascript = canned_with_url("nurl", "javascript:alert(document.cookie)");
    let data = canned_with_url("burl", "data:text/html,<script>alert(1)</script>");
    let relative = canned_with_url("lurl", "/loss?r=${AUCTION_LOSS}");
    let honest = generated(HONEST_PRICE);
    let server = TestServer::with_bidders(
        vec![
            bidder("javascript", &javascript.url()),
            bidder("data", &data.url()),
            bidder("relative", &relative.url()),
            bidder("honest", &honest.url()),
        ],
        PricingRule::FirstPrice,
        CampaignData::default(),
        |_| {},
    );
    let bid = only_winner(&server, "hostile-url-1");
    assert_eq!(price_micros(&bid), 1_200_000, "{bid}");
    assert!(
        bid["nurl"]
            .as_str()
            .is_some_and(|nurl| nurl.starts_with("http://")),
        "{bid}"
    );

    let metrics = server.metrics();
    for name in ["javascript", "data", "relative"] {
        assert_eq!(
            metrics.bidder_rejected(name, "url_not_http"),
            1,
            "{name}:\n{}",
            metrics.bidder_lines(name)
        );
    }
    assert_eq!(metrics.bidder("adshard_bidder_bids_total", "honest"), 1);
}
