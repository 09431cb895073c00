//! Repeats on a real server are counted once even when the shard's dedupe window is full: a
//! shard that has signed as many bids as its window can judge stops bidding (counted) instead
//! of forgetting, every replay of every bid it signed is still a duplicate, and a validly
//! signed token this run never issued is refused as out of reach, not counted. The window's
//! own rules (sliding, wrap-around, reach) are tested next to it, in `tracking::dedupe`.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::time::{SystemTime, UNIX_EPOCH};

use adshard::currency::Currency;
use adshard::server::DEMO_TRACKING_SECRET;
use adshard::tracking::{BidTokens, BuyerKind, EventKind, TokenSigner, TrackingClaims};
use adshard_testkit::delivery::{auction, campaign, data, impression, request};
use adshard_testkit::server::TestServer;

/// A bid a second for a minute's TTL (a hold of two minutes with the skew): the window holds
/// 121 bids, rounded up to 128.
const WINDOW_BIDS: usize = 128;

#[test]
fn dedupe_never_counts_twice_when_full() {
    let server = TestServer::start_with_campaigns(
        |config| {
            config.server.shards = 1;
            config.tracking.token_ttl_s = 60;
            config.tracking.bids_per_shard_per_s_max = 1;
        },
        data(vec![campaign("cmp", 1_000_000)]),
    );
    // More auctions than the window holds, all within a second or two: the shard bids until
    // its window is full, then refuses.
    let bids: Vec<_> = (0..WINDOW_BIDS + 5)
        .filter_map(|n| {
            auction(
                &mut server.connect(),
                &request(&format!("r-{n}"), Some("u")),
            )
        })
        .collect();
    assert_eq!(
        bids.len(),
        WINDOW_BIDS,
        "bids made while the window had room"
    );
    server.wait_metric("adshard_tracking_bids_refused_total", &[], 5);
    // Each pixel, then every one of them again: the window is full, and forgets nothing.
    for round in 0..2 {
        for bid in &bids {
            impression(&mut server.connect(), bid);
        }
        let judged = ((round + 1) * WINDOW_BIDS) as u64;
        server.wait_metric(
            "adshard_tracking_requests_total",
            &["event=\"imp\""],
            judged,
        );
    }
    server.wait_metric(
        "adshard_tracking_requests_total",
        &["event=\"imp\"", "outcome=\"duplicate\""],
        WINDOW_BIDS as u64,
    );
    server.wait_metric(
        "adshard_campaign_events_total",
        &["campaign=\"cmp\"", "event=\"impression\""],
        WINDOW_BIDS as u64,
    );
}

#[test]
fn token_of_another_run_is_out_of_reach_and_not_counted() {
    let server = TestServer::start_with_campaigns(
        |config| config.server.shards = 1,
        data(vec![campaign("cmp", 1_000_000)]),
    );
    // This run's bid is counted.
    let bid = auction(&mut server.connect(), &request("r-1", Some("u"))).expect("a bid");
    impression(&mut server.connect(), &bid);
    server.wait_metric(
        "adshard_tracking_requests_total",
        &["event=\"imp\"", "outcome=\"counted\""],
        1,
    );
    // A token signed with the same secret by another run (or server): its sequence means
    // nothing to this window. It is answered, but counted only as out of reach.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = TrackingClaims {
        request_id: "r-other",
        imp_id: "1",
        buyer_kind: BuyerKind::Campaign,
        buyer_id: "cmp",
        creative_id: "cmp-cr",
        price_micros: 1_000_000,
        currency: Currency::USD,
        issued_unix_s: now,
        shard_idx: 0,
        user_key: 0,
        sequence: 12_345,
    };
    let mut tokens = BidTokens::new();
    TokenSigner::new(DEMO_TRACKING_SECRET.as_bytes())
        .unwrap()
        .sign(&claims, &mut tokens)
        .unwrap();
    let mut pixel = String::from("/imp?t=");
    tokens.push(EventKind::Impression, &mut pixel);
    for _ in 0..3 {
        assert_eq!(server.connect().get(&pixel).status, 200);
    }
    server.wait_metric(
        "adshard_tracking_requests_total",
        &["event=\"imp\"", "outcome=\"out_of_reach\""],
        3,
    );
    assert_eq!(
        server.metric_sum(
            "adshard_campaign_events_total",
            &["campaign=\"cmp\"", "event=\"impression\""]
        ),
        1
    );
}
