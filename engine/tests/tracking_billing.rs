//! Who may set the price of an event, on a real server: only the exchange's notices (`nurl`,
//! `burl`) carry a clearing price, each URL's token works only for its own kind of event, and
//! an impression reported by both the pixel and the billing notice is counted once and charged
//! once, by the billing notice.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use adshard::campaign::{Budget, CampaignBuilder, SpendOn};
use adshard_testkit::delivery::{data, from_path};
use adshard_testkit::server::TestServer;

/// The campaign's bid: 2.00 CPM. With a floor of 1.00 and no competitor, a second-price
/// auction prices the bid at the floor plus 0.01: 1.01 CPM, so one event is worth 1_010 micros.
const BID_CPM_MICROS: i64 = 2_000_000;
const FLOOR: &str = "1.0";
const SIGNED_EVENT_MICROS: u64 = 1_010;
/// What the exchange reports it cleared at: lower than our price, as a second-price exchange
/// does.
const CLEARING_PRICE: &str = "0.8";
const CLEARING_EVENT_MICROS: u64 = 800;

fn server(spend_on: SpendOn, shards: usize) -> TestServer {
    let campaign = CampaignBuilder::new("cmp")
        .bid_cpm_micros(BID_CPM_MICROS)
        .budget(Budget {
            total_micros: Some(1_000_000_000),
            daily_micros: None,
            spend_on,
        })
        .build();
    TestServer::start_with_campaigns(
        |config| {
            config.server.shards = shards;
            config.auction.pricing = adshard::auction::PricingRule::SecondPrice;
        },
        data(vec![campaign]),
    )
}

/// The tracking URLs of one bid, as paths with their queries.
struct Urls {
    win: String,
    billing: String,
    pixel: String,
    click: String,
}

/// The value of `attribute="..."` in `markup`.
fn attribute<'m>(markup: &'m str, attribute: &str) -> &'m str {
    let open = format!("{attribute}=\"");
    let start = markup
        .find(&open)
        .unwrap_or_else(|| panic!("{attribute} in {markup}"))
        + open.len();
    let len = markup[start..].find('"').expect("closing quote");
    &markup[start..start + len]
}

fn auction(server: &TestServer, request_id: &str) -> Urls {
    let body = format!(
        r#"{{"id":"{request_id}","imp":[{{"id":"1","bidfloor":{FLOOR},"banner":{{"w":300,"h":250}}}}],"site":{{"id":"s1","domain":"news.example.com"}},"user":{{"id":"{request_id}"}}}}"#
    );
    let response = server.connect().post("/openrtb2/auction", body.as_bytes());
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let json = response.json();
    let bid = &json["seatbid"][0]["bid"][0];
    assert_eq!(bid["price"].as_f64(), Some(1.01), "{bid}");
    let adm = bid["adm"].as_str().expect("adm");
    Urls {
        win: from_path(bid["nurl"].as_str().expect("nurl"), "/win?"),
        billing: from_path(bid["burl"].as_str().expect("burl"), "/imp?"),
        pixel: from_path(attribute(adm, "<img src"), "/imp?"),
        click: from_path(attribute(adm, "<a href"), "/click?"),
    }
}

/// What the exchange does with a notice URL: substitutes the clearing price for the macro.
fn with_price(url: &str, price: &str) -> String {
    assert!(url.contains("${AUCTION_PRICE}"), "{url}");
    url.replace("${AUCTION_PRICE}", price)
}

/// The token (the `t` parameter) of `url`.
fn token(url: &str) -> &str {
    url.split("t=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("a token")
}

fn get(server: &TestServer, url: &str) -> u16 {
    server.connect().get(url).status
}

/// Waits until every tracking call fired has been judged on its owner shard.
fn wait_judged(server: &TestServer, event: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let label = format!("event=\"{event}\"");
    loop {
        let judged = server.metric_sum("adshard_tracking_requests_total", &[&label]);
        if judged >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{event}: {judged} judged, want {want}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

const SPEND: &str = "adshard_campaign_spend_micros_total";
const CAMPAIGN: &str = "campaign=\"cmp\"";

#[test]
fn tracking_price_cannot_be_lowered_by_the_pixel() {
    let server = server(SpendOn::Impression, 1);
    let urls = auction(&server, "req-1");
    // A browser (or a bot reading the markup) fires the pixel first, with a price of its own.
    assert_eq!(get(&server, &format!("{}&p=0", urls.pixel)), 200);
    assert_eq!(get(&server, &format!("{}&p=0.000001", urls.pixel)), 200);
    // Then the exchange's billing notice, with the price it cleared at.
    assert_eq!(
        get(&server, &with_price(&urls.billing, CLEARING_PRICE)),
        200
    );
    wait_judged(&server, "imp", 2);
    wait_judged(&server, "bill", 1);
    server.wait_metric(SPEND, &[CAMPAIGN], CLEARING_EVENT_MICROS);
    server.wait_metric(
        "adshard_campaign_events_total",
        &[CAMPAIGN, "event=\"impression\""],
        1,
    );
}

#[test]
fn pixel_and_click_tokens_refused_on_win() {
    let server = server(SpendOn::Win, 2);
    let urls = auction(&server, "req-1");
    for (name, url) in [
        ("pixel", &urls.pixel),
        ("click", &urls.click),
        ("billing", &urls.billing),
    ] {
        let forged_win = format!("/win?t={}&p=0.01", token(url));
        assert_eq!(get(&server, &forged_win), 403, "the {name} token on /win");
    }
    // Nor may the win notice's token stand for an impression or a click.
    assert_eq!(get(&server, &format!("/imp?t={}", token(&urls.win))), 403);
    assert_eq!(get(&server, &format!("/click?t={}", token(&urls.win))), 403);
    assert!(
        server.metric_sum(
            "adshard_tracking_requests_total",
            &["event=\"win\"", "outcome=\"wrong_kind\""]
        ) == 3
    );
    assert_eq!(server.metric_sum(SPEND, &[CAMPAIGN]), 0);
    // The real win notice still counts, and sets the price.
    assert_eq!(get(&server, &with_price(&urls.win, CLEARING_PRICE)), 204);
    server.wait_metric(
        "adshard_campaign_events_total",
        &[CAMPAIGN, "event=\"win\""],
        1,
    );
    server.wait_metric(SPEND, &[CAMPAIGN], CLEARING_EVENT_MICROS);
}

#[test]
fn impression_by_pixel_and_billing_counted_once_and_charged_once() {
    let server = server(SpendOn::Impression, 2);
    let first = auction(&server, "req-1");
    let second = auction(&server, "req-2");
    // Either order, each fired three times on fresh connections (spread over both shards).
    for _ in 0..3 {
        assert_eq!(get(&server, &first.pixel), 200);
    }
    for _ in 0..3 {
        assert_eq!(
            get(&server, &with_price(&first.billing, CLEARING_PRICE)),
            200
        );
        assert_eq!(
            get(&server, &with_price(&second.billing, CLEARING_PRICE)),
            200
        );
    }
    for _ in 0..3 {
        assert_eq!(get(&server, &second.pixel), 200);
    }
    wait_judged(&server, "imp", 6);
    wait_judged(&server, "bill", 6);
    server.wait_metric(
        "adshard_campaign_events_total",
        &[CAMPAIGN, "event=\"impression\""],
        2,
    );
    server.wait_metric(SPEND, &[CAMPAIGN], 2 * CLEARING_EVENT_MICROS);
    // A win notice does not charge a campaign that spends on impressions.
    assert_eq!(get(&server, &with_price(&first.win, CLEARING_PRICE)), 204);
    wait_judged(&server, "win", 1);
    server.wait_metric(SPEND, &[CAMPAIGN], 2 * CLEARING_EVENT_MICROS);
}

#[test]
fn win_spending_campaign_is_charged_by_the_win_notice_only() {
    let server = server(SpendOn::Win, 1);
    let urls = auction(&server, "req-1");
    assert_eq!(
        get(&server, &with_price(&urls.billing, CLEARING_PRICE)),
        200
    );
    assert_eq!(get(&server, &urls.pixel), 200);
    wait_judged(&server, "bill", 1);
    wait_judged(&server, "imp", 1);
    assert_eq!(server.metric_sum(SPEND, &[CAMPAIGN]), 0);
    assert_eq!(get(&server, &with_price(&urls.win, "0.5")), 204);
    server.wait_metric(SPEND, &[CAMPAIGN], 500);
}

#[test]
fn refused_price_is_counted_and_charges_the_signed_price() {
    let server = server(SpendOn::Impression, 1);
    let cases = [
        ("zero", "0"),
        ("above_signed", "1.010001"),
        ("unparseable", "-1"),
        ("unparseable", "${AUCTION_PRICE}"),
    ];
    for (n, (_, price)) in cases.iter().enumerate() {
        let urls = auction(&server, &format!("req-{n}"));
        assert_eq!(
            get(&server, &with_price(&urls.billing, price)),
            200,
            "{price}"
        );
    }
    // A billing notice without any price.
    let urls = auction(&server, "req-absent");
    let absent = urls.billing.replace("&p=${AUCTION_PRICE}", "");
    assert_eq!(get(&server, &absent), 200);
    wait_judged(&server, "bill", 5);
    for (reason, want) in [
        ("zero", 1),
        ("above_signed", 1),
        ("unparseable", 2),
        ("absent", 1),
    ] {
        assert_eq!(
            server.metric_sum(
                "adshard_tracking_prices_refused_total",
                &["event=\"bill\"", &format!("reason=\"{reason}\"")]
            ),
            want,
            "{reason}"
        );
    }
    // Every one of them is an impression, charged at the price we signed.
    server.wait_metric(SPEND, &[CAMPAIGN], 5 * SIGNED_EVENT_MICROS);
}
