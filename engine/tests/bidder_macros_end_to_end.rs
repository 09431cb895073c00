//! The OpenRTB macros of an external winner are filled in by the server, end to end: two mock
//! bidders bid 2.00 and 1.50 on a request with a 0.50 floor; under first price the winner's
//! `price` and `${AUCTION_PRICE}` are 2, under second price 1.51 (the runner-up plus 0.01).
//! With the mock bidder's own templates (`nurl` and `adm` carry `${AUCTION_PRICE}` only) and
//! with canned responses (`MockBidderConfig::responses`) whose `nurl`, `burl` and `adm` carry
//! every macro the server knows, in both spellings, next to one it does not (left alone).
//! A bid in another currency gets `${AUCTION_PRICE}` in its own currency, and that currency as
//! `${AUCTION_CURRENCY}`, while `price` stays in the response's currency.

use std::time::Duration;

use adshard::auction::PricingRule;
use adshard::campaign::CampaignData;
use adshard_testkit::bidders::{bidder, mock, price_micros, serial, DEADLINE_MARGIN};
use adshard_testkit::mockbidder::{MockBidderConfig, MockBidderHandle, PriceSpec, ResponseCorpus};
use adshard_testkit::server::TestServer;
use serde_json::{json, Value};

const REQUEST_ID: &str = "macro-req-7";
const TMAX_MS: u64 = 50;

/// A one-imp banner request with a 0.50 USD floor, allowing `currencies`.
fn request(currencies: &[&str]) -> String {
    json!({
        "id": REQUEST_ID,
        "tmax": TMAX_MS,
        "cur": currencies,
        "imp": [{"id": "imp-1", "bidfloor": 0.5, "bidfloorcur": "USD",
                 "banner": {"w": 300, "h": 250}}],
        "site": {"id": "s1", "domain": "news.example.com"},
        "user": {"id": "u-macro"},
    })
    .to_string()
}

/// Runs one auction against `bidders` (name, mock) and returns the only bid of the answer.
fn winning_bid(
    bidders: &[(&str, &MockBidderHandle)],
    pricing: PricingRule,
    currencies: &[&str],
) -> Value {
    let server = TestServer::with_bidders(
        bidders
            .iter()
            .map(|(name, handle)| bidder(name, &handle.url()))
            .collect(),
        pricing,
        CampaignData::default(),
        |_| {},
    );
    let mut client = server.connect();
    let answer = client.auction(&request(currencies));
    assert!(
        answer.elapsed < Duration::from_millis(TMAX_MS) + DEADLINE_MARGIN,
        "{:?}",
        answer.elapsed
    );
    let json = answer.json();
    assert_eq!(json["id"], REQUEST_ID);
    assert_eq!(json["cur"], "USD", "{json}");
    answer.only_bid()
}

fn generated(price: f64) -> MockBidderHandle {
    mock(MockBidderConfig {
        price: PriceSpec::Fixed(price),
        ..MockBidderConfig::default()
    })
}

#[test]
fn mock_templates_get_the_clearing_price() {
    let _serial = serial();
    let high = generated(2.00);
    let low = generated(1.50);
    for (pricing, price_micros_expected, price_text) in [
        (PricingRule::FirstPrice, 2_000_000, "2"),
        (PricingRule::SecondPrice, 1_510_000, "1.51"),
    ] {
        let bid = winning_bid(&[("low", &low), ("high", &high)], pricing, &["USD"]);
        assert_eq!(
            price_micros(&bid),
            price_micros_expected,
            "{pricing:?}: {bid}"
        );
        assert_eq!(
            bid["nurl"],
            format!("http://127.0.0.1/mock/win?price={price_text}"),
            "{pricing:?}"
        );
        assert_eq!(
            bid["adm"],
            format!("<div>mock ad {price_text}</div>"),
            "{pricing:?}"
        );
        assert_eq!(bid["impid"], "imp-1");
        assert_eq!(bid["crid"], "mock-creative-1");
        assert_eq!(bid["adid"], "mock-ad-1");
    }
}

/// Every macro the server substitutes, in `${...}` and URL-encoded spelling, and one it must
/// leave alone.
const EVERY_MACRO: &str = "p=${AUCTION_PRICE}&id=${AUCTION_ID}&imp=${AUCTION_IMP_ID}\
&seat=${AUCTION_SEAT_ID}&cur=${AUCTION_CURRENCY}&bid=${AUCTION_BID_ID}&ad=${AUCTION_AD_ID}\
&enc=%24%7BAUCTION_PRICE%7D&enc_lower=%24%7bAUCTION_ID%7d&loss=${AUCTION_LOSS}";

/// A canned response: one bid of `price` in `currency` from seat `name`, every template
/// carrying every macro. The mock sets `id` and `impid` to the request's.
fn canned(name: &str, price: f64, currency: &str) -> MockBidderHandle {
    let response = json!({
        "id": "replaced-by-the-mock",
        "bidid": format!("response-{name}"),
        "cur": currency,
        "seatbid": [{
            "seat": format!("seat-{name}"),
            "bid": [{
                "id": format!("bid-{name}"),
                "impid": "replaced-by-the-mock",
                "price": price,
                "adid": format!("ad-{name}"),
                "crid": format!("cr-{name}"),
                "adomain": [format!("{name}.example")],
                "w": 300, "h": 250, "mtype": 1,
                "nurl": format!("http://{name}.example/win?{EVERY_MACRO}"),
                "burl": format!("http://{name}.example/bill?{EVERY_MACRO}"),
                "adm": format!("<div data-q=\"{EVERY_MACRO}\">{name}</div>"),
            }],
        }],
    });
    mock(MockBidderConfig {
        responses: Some(ResponseCorpus::from_responses(vec![response]).expect("corpus")),
        ..MockBidderConfig::default()
    })
}

/// `EVERY_MACRO` as the server must fill it for bidder `name`'s bid.
fn every_macro_filled(name: &str, price_text: &str, currency: &str) -> String {
    format!(
        "p={price_text}&id={REQUEST_ID}&imp=imp-1&seat=seat-{name}&cur={currency}\
&bid=response-{name}&ad=ad-{name}&enc={price_text}&enc_lower={REQUEST_ID}&loss=${{AUCTION_LOSS}}"
    )
}

#[test]
fn every_macro_is_substituted_in_nurl_burl_and_adm() {
    let _serial = serial();
    let a = canned("a", 2.00, "USD");
    let b = canned("b", 1.50, "USD");
    for (pricing, price_micros_expected, price_text) in [
        (PricingRule::FirstPrice, 2_000_000, "2"),
        (PricingRule::SecondPrice, 1_510_000, "1.51"),
    ] {
        let bid = winning_bid(&[("b", &b), ("a", &a)], pricing, &["USD"]);
        assert_eq!(
            price_micros(&bid),
            price_micros_expected,
            "{pricing:?}: {bid}"
        );
        let filled = every_macro_filled("a", price_text, "USD");
        assert_eq!(bid["nurl"], format!("http://a.example/win?{filled}"));
        assert_eq!(bid["burl"], format!("http://a.example/bill?{filled}"));
        assert_eq!(bid["adm"], format!("<div data-q=\"{filled}\">a</div>"));
        assert_eq!(bid["id"], "bid-a");
        assert_eq!(bid["impid"], "imp-1");
        assert_eq!(bid["adid"], "ad-a");
        assert_eq!(bid["crid"], "cr-a");
        assert_eq!(bid["adomain"], json!(["a.example"]));
    }
}

#[test]
fn foreign_currency_winner_gets_its_own_currency_in_macros() {
    let _serial = serial();
    // 2.00 EUR is 2.173913 USD at the default rate (0.92 EUR per USD): it beats 1.50 USD.
    let a = canned("a", 2.00, "EUR");
    let b = canned("b", 1.50, "USD");
    for (pricing, price_micros_expected, price_text_eur) in [
        // First price: the bid itself, which is 2 in the bidder's currency.
        (PricingRule::FirstPrice, 2_173_913, "2"),
        // Second price: 1.51 USD, which is 1.3892 EUR.
        (PricingRule::SecondPrice, 1_510_000, "1.3892"),
    ] {
        let bid = winning_bid(&[("b", &b), ("a", &a)], pricing, &["USD", "EUR"]);
        assert_eq!(
            price_micros(&bid),
            price_micros_expected,
            "{pricing:?}: {bid}"
        );
        let filled = every_macro_filled("a", price_text_eur, "EUR");
        assert_eq!(bid["nurl"], format!("http://a.example/win?{filled}"));
        assert_eq!(bid["adm"], format!("<div data-q=\"{filled}\">a</div>"));
    }
}
