//! `/win`, `/imp` and `/click` on a real server: tokens from a real auction are counted once
//! however often and wherever (which shard) they come back; forged, altered and expired tokens
//! get 403 and are counted; a click redirects to the landing page.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use adshard::campaign::data::demo;
use adshard::currency::Currency;
use adshard::server::DEMO_TRACKING_SECRET;
use adshard::tracking::{BidTokens, BuyerKind, EventKind, TokenSigner, TrackingClaims};
use adshard_testkit::delivery::from_path;
use adshard_testkit::server::{Client, TestServer};

/// A 300x250 banner request the demo's always-on campaign bids on.
const BANNER: &str = r#"{"id":"track-1","imp":[{"id":"1","bidfloor":0.03,"banner":{"w":300,"h":250}}],
"site":{"id":"s1","domain":"www.foobar.com","page":"http://www.foobar.com/1234.html"},"user":{"id":"u1"}}"#;

struct Bid {
    /// The win notice's token.
    token: String,
    campaign: String,
    price_micros: i64,
    price: String,
    /// The billing notice (`burl`) and the pixel and click of the markup, from their paths on.
    billing: String,
    pixel: String,
    click: String,
}

fn auction(server: &TestServer) -> Bid {
    let mut client = server.connect();
    let response = client.post("/openrtb2/auction", BANNER.as_bytes());
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let json = response.json();
    assert_eq!(json["id"], "track-1");
    assert_eq!(json["cur"], "USD");
    let bid = &json["seatbid"][0]["bid"][0];
    assert_eq!(bid["impid"], "1");
    let nurl = bid["nurl"].as_str().unwrap();
    assert!(nurl.ends_with("&p=${AUCTION_PRICE}"), "{nurl}");
    let token = nurl
        .split("t=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let price = bid["price"].as_f64().unwrap();
    let adm = bid["adm"].as_str().unwrap().to_string();
    Bid {
        token,
        campaign: bid["cid"].as_str().unwrap().to_string(),
        price_micros: (price * 1e6).round() as i64,
        price: bid["price"].to_string(),
        billing: from_path(bid["burl"].as_str().unwrap(), "/imp?"),
        pixel: from_path(&adm, "/imp?"),
        click: from_path(&adm, "/click?"),
    }
}

#[test]
fn impression_counted_once_across_connections_and_shards() {
    let server = TestServer::start_with_campaigns(|config| config.server.shards = 2, demo());
    let bid = auction(&server);
    let billing = bid.billing.replace("${AUCTION_PRICE}", &bid.price);
    // The pixel (the browser's) and the billing notice (the exchange's) of one bid, each fired
    // many times on fresh connections, which the kernel spreads over both shards.
    for url in [&bid.pixel, &billing, &bid.pixel] {
        for _ in 0..8 {
            let mut client = server.connect();
            let response = client.get(url);
            assert_eq!(response.status, 200, "{url}");
            assert_eq!(response.header("content-type"), Some("image/gif"));
        }
    }
    let campaign = format!("campaign=\"{}\"", bid.campaign);
    server.wait_metric(
        "adshard_tracking_requests_total",
        &["event=\"imp\"", "outcome=\"duplicate\""],
        15,
    );
    server.wait_metric(
        "adshard_tracking_requests_total",
        &["event=\"bill\"", "outcome=\"duplicate\""],
        7,
    );
    server.wait_metric(
        "adshard_campaign_events_total",
        &[&campaign, "event=\"impression\""],
        1,
    );
    server.wait_metric(
        "adshard_campaign_events_total",
        &[&campaign, "event=\"bid\""],
        1,
    );
    // Spend: one impression at a CPM price costs a thousandth of it, charged once.
    server.wait_metric(
        "adshard_campaign_spend_micros_total",
        &[&campaign],
        (bid.price_micros / 1000) as u64,
    );
}

#[test]
fn win_notice_counted_once() {
    let server = TestServer::start_with_campaigns(|_| {}, demo());
    let bid = auction(&server);
    let mut client = server.connect();
    assert_eq!(
        client.get(&format!("/win?t={}&p=0.035", bid.token)).status,
        204
    );
    assert_eq!(
        client.get(&format!("/win?t={}&p=0.035", bid.token)).status,
        204
    );
    let campaign = format!("campaign=\"{}\"", bid.campaign);
    server.wait_metric(
        "adshard_campaign_events_total",
        &[&campaign, "event=\"win\""],
        1,
    );
    server.wait_metric(
        "adshard_tracking_requests_total",
        &["event=\"win\"", "outcome=\"duplicate\""],
        1,
    );
}

#[test]
fn click_redirects_to_the_landing_page() {
    let server = TestServer::start_with_campaigns(|_| {}, demo());
    let bid = auction(&server);
    let mut client = server.connect();
    let response = client.get(&bid.click);
    assert_eq!(response.status, 302);
    let landing = response.header("location").expect("Location").to_string();
    let data = demo();
    let campaign = data
        .campaigns
        .iter()
        .find(|c| c.id == bid.campaign)
        .unwrap();
    assert!(
        campaign.creatives.iter().any(|c| c.landing_page == landing),
        "{landing}"
    );
    let campaign_label = format!("campaign=\"{}\"", bid.campaign);
    server.wait_metric(
        "adshard_campaign_events_total",
        &[&campaign_label, "event=\"click\""],
        1,
    );
}

#[test]
fn forged_altered_and_missing_tokens_get_403_and_change_nothing() {
    let server = TestServer::start_with_campaigns(|_| {}, demo());
    let bid = auction(&server);
    let mut client = server.connect();
    let mut altered = bid.token.clone().into_bytes();
    let last = altered.len() - 5;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let other_secret = TokenSigner::new(&[7u8; 32]).unwrap();
    let forged = token(
        &other_secret,
        &claims(&bid.campaign, now()),
        EventKind::Impression,
    );
    for (query, outcome) in [
        (format!("t={altered}"), "forged"),
        (format!("t={forged}"), "forged"),
        ("t=garbage!!".to_string(), "malformed"),
        (String::new(), "malformed"),
    ] {
        for path in ["/imp", "/win", "/click"] {
            let response = client.get(&format!("{path}?{query}"));
            assert_eq!(response.status, 403, "{path}?{query}");
            assert!(response.json()["error"].as_str().is_some());
        }
        assert!(
            server.metric_sum(
                "adshard_tracking_requests_total",
                &[&format!("outcome=\"{outcome}\"")]
            ) >= 3
        );
    }
    // A HEAD (a link prefetcher) on a valid tracking URL is refused and counts nothing.
    client.send(format!("HEAD /imp?t={} HTTP/1.1\r\nHost: t\r\n\r\n", bid.token).as_bytes());
    assert_eq!(client.read_head_response().unwrap().status, 405);
    let campaign = format!("campaign=\"{}\"", bid.campaign);
    assert_eq!(
        server.metric_sum(
            "adshard_campaign_events_total",
            &[&campaign, "event=\"impression\""]
        ),
        0
    );
    assert_eq!(
        server.metric_sum("adshard_campaign_spend_micros_total", &[&campaign]),
        0
    );
}

#[test]
fn expired_token_gets_403() {
    let server =
        TestServer::start_with_campaigns(|config| config.tracking.token_ttl_s = 60, demo());
    let bid = auction(&server);
    let signer = TokenSigner::new(DEMO_TRACKING_SECRET.as_bytes()).unwrap();
    let expired = token(
        &signer,
        &claims(&bid.campaign, now() - 3600),
        EventKind::Impression,
    );
    let mut client = Client::connect(server.addr);
    assert_eq!(client.get(&format!("/imp?t={expired}")).status, 403);
    assert_eq!(
        server.metric_sum("adshard_tracking_requests_total", &["outcome=\"expired\""]),
        1
    );
    // The same claims signed now are accepted: only the age made the difference.
    let fresh = token(
        &signer,
        &claims(&bid.campaign, now()),
        EventKind::Impression,
    );
    assert_eq!(client.get(&format!("/imp?t={fresh}")).status, 200);
}

/// The token of `kind` for `claims`, signed by `signer`.
fn token(signer: &TokenSigner, claims: &TrackingClaims<'_>, kind: EventKind) -> String {
    let mut tokens = BidTokens::new();
    signer.sign(claims, &mut tokens).unwrap();
    let mut token = String::new();
    tokens.push(kind, &mut token);
    token
}

fn claims(campaign: &str, issued_unix_s: i64) -> TrackingClaims<'_> {
    TrackingClaims {
        request_id: "track-1",
        imp_id: "1",
        buyer_kind: BuyerKind::Campaign,
        buyer_id: campaign,
        creative_id: "acme-spring-300x250",
        price_micros: 40_000,
        currency: Currency::USD,
        issued_unix_s,
        shard_idx: 0,
        user_key: 0,
        sequence: 0,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn late_click_still_redirects() {
    let server =
        TestServer::start_with_campaigns(|config| config.tracking.token_ttl_s = 60, demo());
    let bid = auction(&server);
    let signer = TokenSigner::new(DEMO_TRACKING_SECRET.as_bytes()).unwrap();
    let late_claims = claims(&bid.campaign, now() - 3600);
    let late = token(&signer, &late_claims, EventKind::Click);
    let late_pixel = token(&signer, &late_claims, EventKind::Impression);
    let mut client = Client::connect(server.addr);
    // The user clicked an ad we served, an hour ago: the advertiser's page, not an error.
    let response = client.get(&format!("/click?t={late}"));
    assert_eq!(
        response.status,
        302,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let data = demo();
    let creative = data
        .campaigns
        .iter()
        .find(|c| c.id == bid.campaign)
        .and_then(|c| c.creatives.iter().find(|cr| cr.id == "acme-spring-300x250"))
        .expect("the demo creative the claims name");
    assert_eq!(
        response.header("location"),
        Some(creative.landing_page.as_str())
    );
    server.wait_metric(
        "adshard_tracking_requests_total",
        &["event=\"click\"", "outcome=\"late\""],
        1,
    );
    // Counted as late, not as a click, and billed nothing.
    let campaign = format!("campaign=\"{}\"", bid.campaign);
    assert_eq!(
        server.metric_sum(
            "adshard_campaign_events_total",
            &[&campaign, "event=\"click\""]
        ),
        0
    );
    assert_eq!(
        server.metric_sum("adshard_campaign_spend_micros_total", &[&campaign]),
        0
    );
    // Only clicks are let through late: an expired pixel is still refused.
    assert_eq!(client.get(&format!("/imp?t={late_pixel}")).status, 403);
}

#[test]
fn forged_token_body_says_nothing() {
    let server =
        TestServer::start_with_campaigns(|config| config.tracking.token_ttl_s = 60, demo());
    let bid = auction(&server);
    let mut altered = bid.token.clone().into_bytes();
    let last = altered.len() - 5;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let demo_signer = TokenSigner::new(DEMO_TRACKING_SECRET.as_bytes()).unwrap();
    let other_signer = TokenSigner::new(&[7u8; 32]).unwrap();
    let expired_claims = claims(&bid.campaign, now() - 3600);
    let unknown_claims = claims("no-such-campaign", now());
    let mut client = server.connect();
    let mut bodies = Vec::new();
    for kind in [EventKind::Win, EventKind::Impression, EventKind::Click] {
        let path = kind.path();
        let forged = token(&other_signer, &claims(&bid.campaign, now()), kind);
        let expired = token(&demo_signer, &expired_claims, kind);
        let unknown_campaign = token(&demo_signer, &unknown_claims, kind);
        let mut queries = vec![
            format!("t={altered}"),
            format!("t={forged}"),
            format!("t={unknown_campaign}"),
            "t=garbage!!".to_string(),
            String::new(),
        ];
        // A late click redirects (late_click_still_redirects); other late events are refused.
        if kind != EventKind::Click {
            queries.push(format!("t={expired}"));
        }
        // The win notice's token where it does not belong.
        if kind != EventKind::Win {
            queries.push(format!("t={}", bid.token));
        }
        for query in queries {
            let response = client.get(&format!("{path}?{query}"));
            assert_eq!(response.status, 403, "{path}?{query}");
            bodies.push((format!("{path}?{query}"), response.body));
        }
    }
    // One body for every refusal: which check failed is for our counters, not for a forger.
    let (_, first) = &bodies[0];
    for (url, body) in &bodies {
        assert_eq!(
            String::from_utf8_lossy(body),
            String::from_utf8_lossy(first),
            "{url}"
        );
    }
}
